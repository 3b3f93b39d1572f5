//! Criterion benchmark: decoding the real 50-call event burst.
fn main() {}
