//! The faults a scenario injects into one server, and how each Asterisk kind (emulated, real) produces them.

use crate::asterisk::AsteriskFault;

/// Which Asterisk the servers of a pair run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsteriskKind {
    /// `fake-asterisk`, the emulator: fast, and able to show faults a real Asterisk cannot.
    Emulated,
    /// A real Asterisk 22 configured with the shipped files.
    Real,
}

impl AsteriskKind {
    pub fn name(self) -> &'static str {
        match self {
            AsteriskKind::Emulated => "emulated",
            AsteriskKind::Real => "real",
        }
    }
}

/// A fault the harness can inject into one server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The Asterisk process dies (nothing listens any more).
    AsteriskCrash,
    /// Asterisk hangs: connections accepted, nothing answered (a real one is SIGSTOPped).
    AsteriskHang,
    /// Core deadlock: AMI Ping answered, core actions never (emulator only).
    CoreDeadlock,
    /// The call path broken while AMI answers: every Originate fails (emulator), or the probe's
    /// media application unloaded (real).
    CallPathBroken,
    /// The probe extension removed from the dialplan (real only).
    ProbeExtensionRemoved,
    /// The SIP stack gone while AMI answers: OPTIONS dropped (emulator), PJSIP's `SIP` thread
    /// stopped (real).
    SipStackGone,
    /// `core restart now`: Asterisk goes down and boots again by itself.
    AsteriskRestart,
    /// The server's LAN and crossover cables are pulled.
    NetworkLoss,
}

impl Fault {
    /// Every fault.
    pub const ALL: [Fault; 8] = [
        Fault::AsteriskCrash,
        Fault::AsteriskHang,
        Fault::CoreDeadlock,
        Fault::CallPathBroken,
        Fault::ProbeExtensionRemoved,
        Fault::SipStackGone,
        Fault::AsteriskRestart,
        Fault::NetworkLoss,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Fault::AsteriskCrash => "asterisk-crash",
            Fault::AsteriskHang => "asterisk-hang",
            Fault::CoreDeadlock => "core-deadlock",
            Fault::CallPathBroken => "call-path-broken",
            Fault::ProbeExtensionRemoved => "probe-extension-removed",
            Fault::SipStackGone => "sip-stack-gone",
            Fault::AsteriskRestart => "asterisk-restart",
            Fault::NetworkLoss => "node-network-loss",
        }
    }

    /// Whether `kind` can produce this fault.
    pub fn supported_by(self, kind: AsteriskKind) -> bool {
        match kind {
            AsteriskKind::Emulated => {
                self == Fault::NetworkLoss || self.emulator_command().is_some()
            }
            AsteriskKind::Real => self == Fault::NetworkLoss || self.real().is_some(),
        }
    }

    /// The emulator's control command producing it.
    pub fn emulator_command(self) -> Option<&'static str> {
        match self {
            Fault::AsteriskCrash => Some("fault crash"),
            Fault::AsteriskHang => Some("fault hang"),
            Fault::CoreDeadlock => Some("fault deadlock"),
            Fault::CallPathBroken => Some("fault originate-fail"),
            Fault::SipStackGone => Some("fault sip-down"),
            Fault::AsteriskRestart => Some("restart 1000"),
            Fault::ProbeExtensionRemoved | Fault::NetworkLoss => None,
        }
    }

    /// The real Asterisk fault producing it.
    pub fn real(self) -> Option<AsteriskFault> {
        match self {
            Fault::AsteriskCrash => Some(AsteriskFault::Crash),
            Fault::AsteriskHang => Some(AsteriskFault::Hang),
            Fault::CallPathBroken => Some(AsteriskFault::PlaybackUnloaded),
            Fault::ProbeExtensionRemoved => Some(AsteriskFault::ProbeExtensionRemoved),
            Fault::SipStackGone => Some(AsteriskFault::SipStackGone),
            Fault::AsteriskRestart => Some(AsteriskFault::Restart),
            Fault::CoreDeadlock | Fault::NetworkLoss => None,
        }
    }
}
