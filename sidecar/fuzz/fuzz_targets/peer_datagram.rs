//! Fuzz target: arbitrary bytes fed to the peer link's datagram check must never panic and never be accepted.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    astha::peer::fuzz_open(data);
});
