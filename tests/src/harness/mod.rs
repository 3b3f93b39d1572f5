//! The two-server namespace harness: a real pair of astha daemons, emulated or real Asterisks, a shared relay and a measuring client.
//!
//! [`Pair::start`] builds the [`netns::Topology`], starts the berofos relay simulator on
//! the LAN, an Asterisk ([`pbx::ServerAsterisk`]: `fake-asterisk`, or a real Asterisk 22
//! configured with the shipped files) and an `astha run` daemon in each server namespace
//! (warm or cold standby), a [`client::ClientProbe`] that sends SIP OPTIONS and pings to the
//! floating IP and, with a real Asterisk, [`calls::CallClient`] placing sipp calls through it. A
//! [`sampler::Sampler`] records both daemons' roles and who holds the floating IP every
//! 50 ms, which is what "zero split brain" is judged on. Everything is torn down on drop.
//!
//! The harness needs root (namespaces); [`require_root`] says so in one line for a skip.

pub mod binaries;
pub mod calls;
pub mod client;
pub mod config;
pub mod control;
pub mod fault;
pub mod firewall;
pub mod netns;
pub mod pacemaker;
pub mod pair;
pub mod pbx;
pub mod phones;
pub mod process;
pub mod registrar;
pub mod sampler;
pub mod sched_trace;
pub mod stress;
pub mod thread_look;
pub mod unit_scheduling;

use std::path::PathBuf;
use std::time::{Duration, Instant};

pub use binaries::Binaries;
pub use calls::{CallClient, CallCounts, CallLoad};
pub use client::{ClientOutage, ClientProbe};
pub use config::{NodeSettings, Standby};
pub use control::{NodeView, TakeoverView};
pub use fault::{AsteriskKind, Fault};
pub use netns::{Cable, Host, Teardown, Topology};
pub use pair::{Pair, PairAsterisk, PairOptions, RelayState, Takeover};
pub use pbx::ServerAsterisk;
pub use phones::{PhoneCaller, Phones};
pub use registrar::Registrar;
pub use sampler::{Sample, Sampler};
pub use sched_trace::SchedTrace;
pub use stress::{HostLoad, LinkLoss, LoadSpec};
pub use unit_scheduling::UnitScheduling;

/// One of the two servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    A,
    B,
}

impl Side {
    pub fn other(self) -> Side {
        match self {
            Side::A => Side::B,
            Side::B => Side::A,
        }
    }

    /// `a` or `b`, as astha's configuration names the sides.
    pub fn letter(self) -> &'static str {
        match self {
            Side::A => "a",
            Side::B => "b",
        }
    }

    pub fn host(self) -> Host {
        match self {
            Side::A => Host::A,
            Side::B => Host::B,
        }
    }

    pub fn index(self) -> usize {
        match self {
            Side::A => 0,
            Side::B => 1,
        }
    }
}

/// Why the harness could not do something.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error("cannot start {program}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        command: String,
        status: String,
        stderr: String,
    },
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("timed out after {waited:?} waiting for {what}")]
    Timeout { what: String, waited: Duration },
    #[error("{name} exited (log: {}):\n{tail}", log.display())]
    Exited {
        name: String,
        log: PathBuf,
        tail: String,
    },
    #[error("{what}: {detail}")]
    Protocol { what: String, detail: String },
    #[error("{what} refused: {reply}")]
    Refused { what: String, reply: String },
    #[error("binary `{name}` not found in {searched:?}; build it first (cargo build -p astha -p astha-tests --bins) or set ASTHA_BIN_DIR")]
    MissingBinary { name: String, searched: Vec<String> },
    #[error("the namespace harness needs root (network namespaces, veth, bridges); run as root")]
    NotRoot,
}

/// The last `lines` lines of the file at `path` (empty if it cannot be read), for failure reports.
pub fn file_tail(path: &std::path::Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// `Err(NotRoot)` unless running as root.
pub fn require_root() -> Result<(), HarnessError> {
    if nix::unistd::Uid::effective().is_root() {
        Ok(())
    } else {
        Err(HarnessError::NotRoot)
    }
}

/// Polls `check` every `every` until it returns `Some`, or fails after `timeout`.
pub fn poll<T>(
    what: &str,
    timeout: Duration,
    every: Duration,
    mut check: impl FnMut() -> Option<T>,
) -> Result<T, HarnessError> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return Ok(v);
        }
        if Instant::now() >= deadline {
            return Err(HarnessError::Timeout {
                what: what.to_owned(),
                waited: timeout,
            });
        }
        std::thread::sleep(every);
    }
}
