//! Relay device simulators for tests: serial relays on pseudo-terminal pairs and the berofos (HTTP interface, kick datagrams, watchdog).
//!
//! Each serial simulator owns both ends of a pty pair and serves the master end on a
//! thread; the driver under test opens the slave path like a real `/dev/ttyACM0`. The
//! simulators can misbehave on request (garbage replies, silence) and can be unplugged
//! (both pty ends closed), which is what a pulled USB cable looks like to the driver.

mod berofos;
mod berofos_gbl4;
mod lcus;
mod line;
mod numato;
mod pty;

pub use berofos::{BerofosSim, BerofosState, SIM_MAC};
pub use lcus::LcusProtocol;
pub use line::LineProtocol;
pub use numato::NumatoProtocol;
pub use pty::{PtyRelaySim, SerialProtocol};

/// How a simulated device answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Behaviour {
    /// As the real device does.
    #[default]
    Normal,
    /// Bytes that are not the protocol.
    Garbage,
    /// Reads commands, never answers.
    Silent,
}

/// What a simulated relay is doing, shared between the simulator thread and the test.
#[derive(Debug, Clone, Default)]
pub struct SimState {
    /// Coil state per channel (index = channel number as the device numbers it).
    pub coils: [bool; 32],
    pub behaviour: Behaviour,
    /// Every command the device understood, in order.
    pub commands: Vec<String>,
    /// Input the device did not understand.
    pub rejected: Vec<String>,
    pub watchdog_kicks: u32,
}
