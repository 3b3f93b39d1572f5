//! Property tests: messages survive encode+decode, and chunking never changes what decodes.

mod common;

use ami_client::codec::{AmiCodec, Frame};
use ami_client::Message;
use bytes::BytesMut;
use proptest::prelude::*;
use tokio_util::codec::{Decoder, Encoder};

fn header_name() -> impl Strategy<Value = String> {
    // Any text without CR, LF or ':' (what the encoder accepts), not empty.
    "[^\r\n:]{1,20}"
}

fn header_value() -> impl Strategy<Value = String> {
    "[^\r\n]{0,40}"
}

fn message() -> impl Strategy<Value = Message> {
    prop::collection::vec((header_name(), header_value()), 1..12)
        .prop_map(|headers| headers.into_iter().collect())
}

fn decode_all(codec: &mut AmiCodec, chunks: &[&[u8]]) -> Vec<Frame> {
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        while let Some(frame) = codec.decode(&mut buf).expect("no fatal error") {
            frames.push(frame);
        }
    }
    while let Some(frame) = codec.decode_eof(&mut buf).expect("no fatal error") {
        frames.push(frame);
    }
    frames
}

proptest! {
    #[test]
    fn any_message_encodes_and_decodes_back(messages in prop::collection::vec(message(), 1..5)) {
        let mut codec = AmiCodec::server();
        let mut wire = BytesMut::new();
        for m in &messages {
            codec.encode(m, &mut wire).expect("encodable");
        }
        let frames = decode_all(&mut AmiCodec::server(), &[&wire]);
        let decoded: Vec<Message> = frames
            .into_iter()
            .map(|f| match f {
                Frame::Message(m) => m,
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        prop_assert_eq!(decoded, messages);
    }

    #[test]
    fn any_chunking_of_a_real_stream_gives_the_same_frames(
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..40),
        fixture in 0usize..64,
    ) {
        let fixtures = common::server_fixtures();
        let (_, bytes) = &fixtures[fixture % fixtures.len()];
        let whole = decode_all(&mut AmiCodec::client(), &[bytes]);
        let mut points: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
        points.push(0);
        points.push(bytes.len());
        points.sort_unstable();
        let chunks: Vec<&[u8]> = points.windows(2).map(|w| &bytes[w[0]..w[1]]).collect();
        let chunked = decode_all(&mut AmiCodec::client(), &chunks);
        prop_assert!(whole.len() > 1);
        prop_assert_eq!(chunked, whole);
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2000)) {
        let mut codec = AmiCodec::server().with_max_frame_len(256);
        let _ = decode_all(&mut codec, &[&bytes]);
    }
}

#[test]
fn byte_by_byte_feeding_of_the_burst_matches_whole_decoding() {
    let bytes = common::server_fixture("16-event-burst-50-calls");
    let whole = decode_all(&mut AmiCodec::client(), &[&bytes]);
    let chunks: Vec<&[u8]> = bytes.chunks(1).collect();
    let one_by_one = decode_all(&mut AmiCodec::client(), &chunks);
    assert_eq!(
        whole.len(),
        1 + 1302 + 50 + 2,
        "banner, events, Originate responses, Login + Logoff"
    );
    assert_eq!(one_by_one, whole);
}
