//! Decodes the real 50-call burst fixture N times (default 300) and prints frames per second;
//! handy with `perf`, `valgrind --tool=callgrind` or `/usr/bin/time` when tuning the codec.
//!
//! Usage: `decode_loop [ITERATIONS]`

use std::time::Instant;

use ami_client::codec::{AmiCodec, Frame};
use bytes::BytesMut;
use tokio_util::codec::Decoder;

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/asterisk-22/ami/16-event-burst-50-calls.server.txt"
);

fn main() {
    let bytes = match std::fs::read(FIXTURE) {
        Ok(bytes) => bytes,
        Err(e) => {
            eprintln!("decode_loop: cannot read {FIXTURE}: {e}");
            std::process::exit(1);
        }
    };
    let iterations: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(300);
    let start = Instant::now();
    let (mut frames, mut events) = (0usize, 0usize);
    for _ in 0..iterations {
        let mut codec = AmiCodec::client();
        let mut buf = BytesMut::from(&bytes[..]);
        while let Ok(Some(frame)) = codec.decode(&mut buf) {
            frames += 1;
            if let Frame::Message(m) = frame {
                events += usize::from(m.get("Event").is_some());
            }
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "frames={frames} events={events} seconds={seconds:.3} frames_per_s={:.0} MB_per_s={:.0}",
        frames as f64 / seconds,
        (bytes.len() * iterations) as f64 / seconds / 1e6
    );
}
