//! A real Asterisk 22 for the tests: find an install, give each instance its own configuration (the shipped astha files installed as an admin would), run it in a namespace, inject real faults.
//!
//! ```no_run
//! use astha_tests::asterisk::{AsteriskFault, Install, Instance, InstanceConfig, PairAddresses};
//! # fn demo(config: InstanceConfig) -> Result<(), astha_tests::harness::HarnessError> {
//! let Some(install) = Install::for_test("demo") else { return Ok(()) }; // skips with one line
//! let dir = std::env::temp_dir().join("asterisk-demo");
//! let asterisk = Instance::create("asterisk-a", &install, &config, &dir, Some("my-netns"))?;
//! let boot = asterisk.start()?; // about 1 s: a lean module list
//! println!("{}", asterisk.cli("core show uptime")?);
//! asterisk.inject(AsteriskFault::Hang)?; // SIGSTOP
//! asterisk.heal(AsteriskFault::Hang)?; // SIGCONT
//! # let _ = boot; Ok(()) }
//! ```

pub mod config;
pub mod fault;
pub mod freeze;
pub mod group_stop;
pub mod install;
pub mod instance;
pub mod recorded_session;
pub mod shipped;

pub use config::{InstanceConfig, InstanceDir, AMI_USER, MODULES};
pub use fault::AsteriskFault;
pub use install::{Install, InstallError};
pub use instance::Instance;
pub use recorded_session::RecordedSession;
pub use shipped::PairAddresses;
