//! The body of the decoder fuzz target (`fuzz/`), kept in the library so plain tests run it.

use bytes::BytesMut;
use tokio_util::codec::Decoder;

use crate::codec::{encode_message, AmiCodec, Frame};
use crate::message::Message;

/// The body of the decoder fuzz target (`fuzz/`), public so that ordinary tests run it too.
///
/// Feeds `data` to the client and the server decoder in chunks whose sizes come from the data
/// itself, with a small frame limit so the skip-and-resync path is exercised, and checks that
/// every decoded message encodes and decodes back to itself. Panics only on a bug.
#[doc(hidden)]
pub fn fuzz_decode(data: &[u8]) {
    let chunk = usize::from(data.first().copied().unwrap_or(1)).max(1);
    for codec in [
        AmiCodec::client().with_max_frame_len(512),
        AmiCodec::server().with_max_frame_len(512),
        AmiCodec::server(),
    ] {
        for message in fuzz_messages(codec, data, chunk) {
            let mut wire = BytesMut::new();
            if encode_message(&message, &mut wire).is_err() {
                // e.g. an empty header name: decodable, but refused by the encoder.
                continue;
            }
            let mut again = AmiCodec::server();
            match again.decode(&mut wire) {
                Ok(Some(Frame::Message(back))) => {
                    assert_eq!(back, message, "re-encoded message decodes differently")
                }
                other => panic!("re-encoded message did not decode: {other:?}"),
            }
        }
    }
}

/// Every message `codec` decodes from `data` fed in `chunk`-sized pieces.
fn fuzz_messages(mut codec: AmiCodec, data: &[u8], chunk: usize) -> Vec<Message> {
    let mut buf = BytesMut::new();
    let mut messages = Vec::new();
    for piece in data.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(Frame::Message(m))) => messages.push(m),
                Ok(Some(_)) => {}
                Ok(None) => break,
                // Fatal errors (bad banner) end the stream, as they end a connection.
                Err(_) => return messages,
            }
        }
    }
    while let Ok(Some(frame)) = codec.decode_eof(&mut buf) {
        if let Frame::Message(m) = frame {
            messages.push(m);
        }
    }
    messages
}
