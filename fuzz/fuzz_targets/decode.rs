//! cargo-fuzz target: arbitrary bytes through the AMI decoders must never panic, and every
//! decoded message must survive an encode/decode round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ami_client::codec::fuzz_decode(data);
});
