//! astha-tests: tools for end-to-end tests (Asterisk emulator, relay simulators, namespace harness).

pub mod asterisk;
pub mod fake_asterisk;
pub mod harness;
pub mod relay_sim;
pub mod sip;
