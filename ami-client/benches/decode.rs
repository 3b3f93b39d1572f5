//! Criterion benchmark: decoding the real 50-call event burst (`16-event-burst-50-calls`).

use ami_client::codec::{AmiCodec, Frame};
use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tokio_util::codec::Decoder;

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/asterisk-22/ami/16-event-burst-50-calls.server.txt"
);

fn decode_burst(c: &mut Criterion) {
    let Ok(bytes) = std::fs::read(FIXTURE) else {
        eprintln!("fixture {FIXTURE} not found; skipping the decode benchmark");
        return;
    };
    let mut group = c.benchmark_group("decode");
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("16-event-burst-50-calls", |b| {
        b.iter(|| {
            let mut codec = AmiCodec::client();
            let mut buf = BytesMut::from(&bytes[..]);
            let mut messages = 0usize;
            while let Ok(Some(frame)) = codec.decode(&mut buf) {
                if let Frame::Message(m) = frame {
                    messages += usize::from(m.get("Event").is_some());
                }
            }
            assert_eq!(messages, 1302);
            messages
        })
    });
    group.finish();
}

criterion_group!(benches, decode_burst);
criterion_main!(benches);
