//! Helpers shared by the integration tests: locating and reading the Asterisk fixtures.
#![allow(dead_code)]

use std::path::PathBuf;

/// The directory of the real Asterisk AMI captures.
pub fn ami_fixture_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/asterisk-22/ami"
    ))
}

/// Every `*.server.txt` fixture as (file name, bytes), sorted by name.
pub fn server_fixtures() -> Vec<(String, Vec<u8>)> {
    let dir = ami_fixture_dir();
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("read {dir:?}: {e}")) {
        let path = entry.expect("dir entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        if name.ends_with(".server.txt") {
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("read {path:?}: {e}"));
            out.push((name, bytes));
        }
    }
    out.sort();
    assert!(out.len() >= 20, "expected the AMI fixtures in {dir:?}");
    out
}

/// One fixture's server bytes by file-name prefix, e.g. `"16-event-burst"`.
pub fn server_fixture(prefix: &str) -> Vec<u8> {
    server_fixtures()
        .into_iter()
        .find(|(name, _)| name.starts_with(prefix))
        .unwrap_or_else(|| panic!("no fixture {prefix}"))
        .1
}

/// The messages of a server fixture (banner removed), each with its final blank line.
pub fn fixture_blocks(prefix: &str) -> Vec<String> {
    let bytes = server_fixture(prefix);
    let text = String::from_utf8(bytes).expect("fixtures are UTF-8");
    let (_banner, rest) = text.split_once("\r\n").expect("banner line");
    rest.split_inclusive("\r\n\r\n")
        .filter(|b| !b.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

/// The first block of a fixture whose lines include `needle` (e.g. `"Event: Shutdown"`).
pub fn fixture_block(prefix: &str, needle: &str) -> String {
    fixture_blocks(prefix)
        .into_iter()
        .find(|b| b.split("\r\n").any(|line| line == needle))
        .unwrap_or_else(|| panic!("no block with {needle:?} in fixture {prefix}"))
}

/// `block` with the value of its `ActionID` line replaced (as if our client had sent it).
pub fn with_action_id(block: &str, action_id: &str) -> String {
    block
        .split_inclusive("\r\n")
        .map(|line| {
            if line.starts_with("ActionID: ") {
                format!("ActionID: {action_id}\r\n")
            } else {
                line.to_owned()
            }
        })
        .collect()
}
