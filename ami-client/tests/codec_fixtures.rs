//! Every real Asterisk capture decodes without error into the right number of messages.

mod common;

use ami_client::codec::{AmiCodec, Frame};
use bytes::BytesMut;
use tokio_util::codec::Decoder;

/// Counts derived from the raw bytes alone: blocks terminated by a blank line, by first header.
fn count_blocks(bytes: &[u8]) -> (usize, usize) {
    let text = std::str::from_utf8(bytes).expect("fixtures are UTF-8");
    let (_banner, rest) = text.split_once("\r\n").expect("banner line");
    let mut responses = 0;
    let mut events = 0;
    let blocks: Vec<&str> = rest.split("\r\n\r\n").collect();
    // The last piece is whatever follows the final terminator (must be empty).
    let (last, complete) = blocks.split_last().expect("at least one piece");
    assert!(last.is_empty(), "fixture ends mid-frame: {last:?}");
    for block in complete {
        if block.starts_with("Response:") {
            responses += 1;
        } else if block.starts_with("Event:") {
            events += 1;
        } else {
            panic!("unexpected block {block:?}");
        }
    }
    (responses, events)
}

fn decode(bytes: &[u8]) -> (String, usize, usize) {
    let mut codec = AmiCodec::client();
    let mut buf = BytesMut::from(bytes);
    let mut banner = String::new();
    let (mut responses, mut events) = (0, 0);
    loop {
        let frame = codec.decode_eof(&mut buf).expect("no fatal error");
        match frame {
            None => break,
            Some(Frame::Banner(b)) => banner = b,
            Some(Frame::Message(m)) => match m.first() {
                Some(("Response", _)) => responses += 1,
                Some(("Event", _)) => events += 1,
                other => panic!("unexpected first header {other:?}"),
            },
            Some(Frame::Invalid(e)) => panic!("invalid frame: {e}"),
        }
    }
    (banner, responses, events)
}

#[test]
fn every_server_fixture_decodes_into_the_counted_messages() {
    let mut total_events = 0;
    for (name, bytes) in common::server_fixtures() {
        let (expected_responses, expected_events) = count_blocks(&bytes);
        let (banner, responses, events) = decode(&bytes);
        assert_eq!(banner, "Asterisk Call Manager/11.0.0", "{name}");
        assert_eq!(
            (responses, events),
            (expected_responses, expected_events),
            "{name}: (responses, events)"
        );
        total_events += events;
    }
    assert!(total_events > 1302, "the burst alone has 1302 events");
}

#[test]
fn burst_fixture_has_the_documented_event_mix() {
    let bytes = common::server_fixture("16-event-burst-50-calls");
    let mut codec = AmiCodec::client();
    let mut buf = BytesMut::from(&bytes[..]);
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    while let Some(frame) = codec.decode(&mut buf).expect("decode") {
        if let Frame::Message(m) = frame {
            if let Some(event) = m.get("Event") {
                *counts.entry(event.to_owned()).or_default() += 1;
            }
        }
    }
    assert!(buf.is_empty());
    assert_eq!(counts.values().sum::<usize>(), 1302);
    assert_eq!(counts["Newexten"], 250);
    assert_eq!(counts["DeviceStateChange"], 200);
    assert_eq!(counts["OriginateResponse"], 50);
    assert_eq!(counts["LocalBridge"], 50);
}

#[test]
fn command_output_lines_are_kept_in_order() {
    let bytes = common::server_fixture("08-command-core-show-version");
    let mut codec = AmiCodec::client();
    let mut buf = BytesMut::from(&bytes[..]);
    let mut outputs = Vec::new();
    while let Some(frame) = codec.decode(&mut buf).expect("decode") {
        if let Frame::Message(m) = frame {
            let lines: Vec<String> = m.get_all("Output").map(str::to_owned).collect();
            if !lines.is_empty() {
                outputs.push(lines);
            }
        }
    }
    assert_eq!(outputs.len(), 4, "four Command actions in the capture");
    assert!(
        outputs[0][0].starts_with("Asterisk 22.10.1 built by"),
        "{outputs:?}"
    );
}
