//! The fuzz target's body, run over the real captures and over random bytes in plain tests.

mod common;

use ami_client::codec::fuzz_decode;
use proptest::prelude::*;

#[test]
fn fuzz_body_over_every_fixture_in_many_chunkings() {
    let dir = common::ami_fixture_dir();
    let mut files = 0;
    for entry in std::fs::read_dir(&dir).expect("fixture dir") {
        let path = entry.expect("entry").path();
        let bytes = std::fs::read(&path).expect("fixture");
        for first in [1u8, 3, 7, 64, 255] {
            let mut data = bytes.clone();
            // The first byte picks the chunk size; also run the file unchanged.
            if let Some(b) = data.first_mut() {
                *b = first;
            }
            fuzz_decode(&data);
        }
        fuzz_decode(&bytes);
        files += 1;
    }
    assert!(files >= 60, "expected the AMI fixtures in {dir:?}");
}

#[test]
fn fuzz_body_over_mutated_fixture_bytes() {
    let burst = common::server_fixture("10-originate-async-echo-events");
    // Deterministic byte flips (xorshift), so a failure reproduces.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    for _ in 0..200 {
        let mut data = burst.clone();
        for _ in 0..20 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let index = (state % data.len() as u64) as usize;
            data[index] = (state >> 32) as u8;
        }
        fuzz_decode(&data);
    }
}

proptest! {
    #[test]
    fn fuzz_body_over_random_bytes(data in prop::collection::vec(any::<u8>(), 0..4096)) {
        fuzz_decode(&data);
    }

    #[test]
    fn fuzz_body_over_ami_like_text(
        lines in prop::collection::vec("[A-Za-z: \r\n-]{0,30}", 0..40)
    ) {
        fuzz_decode(lines.concat().as_bytes());
    }
}
