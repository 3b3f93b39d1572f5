//! Real faults of a real Asterisk, injected the way they happen on a server, and healed.

use std::time::Duration;

use nix::sys::signal::Signal;

use super::group_stop::GroupStop;
use super::instance::{Instance, BOOT_TIMEOUT};
use crate::harness::HarnessError;

/// The name of PJSIP's thread that reads every SIP socket (res_pjsip's monitor thread).
const PJSIP_THREAD: &str = "SIP";

/// How long the threads of a SIGSTOPped Asterisk may take to stop, all of them: on a saturated
/// 2-CPU host with 200 calls up the last one stopped up to 427 ms after the signal (100 hangs).
const HANG_COMPLETE_WITHIN: Duration = Duration::from_secs(10);

/// A fault of a real Asterisk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AsteriskFault {
    /// The process dies (SIGKILL): every socket closes. Healed by starting it again.
    Crash,
    /// The process hangs (SIGSTOP): connections are accepted by the kernel, nothing answers.
    /// Healed by SIGCONT.
    Hang,
    /// `core restart now`: Asterisk shuts down (refusing actions, `Shutdown` event) and boots
    /// again by itself. Healing waits for the boot.
    Restart,
    /// The call path broken while AMI still answers: the probe's media application unloaded
    /// (`module unload app_playback.so`). Healed by loading it again.
    PlaybackUnloaded,
    /// The call path broken by a configuration mistake: the probe extension removed
    /// (`dialplan remove extension probe@ha-probe`). Healed by `dialplan reload`.
    ProbeExtensionRemoved,
    /// The SIP stack hung while AMI works: PJSIP's `SIP` thread, which reads every SIP socket,
    /// is stopped (ptrace, one thread only); SIP requests go unanswered, without an ICMP error,
    /// as with a deadlocked PJSIP. Healed by letting the thread run on. (Unloading PJSIP is no
    /// substitute: only a forced unload removes it, and with calls up that crashes Asterisk.)
    SipStackGone,
    /// Asterisk stopped cleanly (`core stop now`). Healed by starting it.
    Stopped,
}

impl AsteriskFault {
    pub fn name(self) -> &'static str {
        match self {
            AsteriskFault::Crash => "crash",
            AsteriskFault::Hang => "hang",
            AsteriskFault::Restart => "restart",
            AsteriskFault::PlaybackUnloaded => "playback-unloaded",
            AsteriskFault::ProbeExtensionRemoved => "probe-extension-removed",
            AsteriskFault::SipStackGone => "sip-stack-gone",
            AsteriskFault::Stopped => "stopped",
        }
    }
}

impl Instance {
    /// Injects `fault`; returns once it has taken effect.
    pub fn inject(&self, fault: AsteriskFault) -> Result<(), HarnessError> {
        match fault {
            AsteriskFault::Crash => self.kill(),
            AsteriskFault::Hang => self.hang().map(|_| ()),
            AsteriskFault::Restart => self.restart_now(),
            AsteriskFault::PlaybackUnloaded => {
                self.cli("module unload app_playback.so").map(|_| ())
            }
            AsteriskFault::ProbeExtensionRemoved => self
                .cli("dialplan remove extension probe@ha-probe")
                .map(|_| ()),
            AsteriskFault::SipStackGone => self.freeze_thread(PJSIP_THREAD),
            AsteriskFault::Stopped => self.stop(),
        }
    }

    /// Undoes `fault`; returns once the instance is fully booted and whole again.
    pub fn heal(&self, fault: AsteriskFault) -> Result<(), HarnessError> {
        match fault {
            AsteriskFault::Crash | AsteriskFault::Stopped => self.start().map(|_| ()),
            AsteriskFault::Hang => self.signal(Signal::SIGCONT),
            AsteriskFault::Restart => self.wait_restarted(),
            AsteriskFault::PlaybackUnloaded => self.cli("module load app_playback.so").map(|_| ()),
            AsteriskFault::ProbeExtensionRemoved => self.cli("dialplan reload").map(|_| ()),
            AsteriskFault::SipStackGone => {
                self.thaw_threads();
                Ok(())
            }
        }
    }

    /// [`AsteriskFault::Hang`], timed: when the SIGSTOP was sent and when every thread had
    /// stopped (see [`super::group_stop`]).
    pub fn hang(&self) -> Result<GroupStop, HarnessError> {
        let pid = self.pid().ok_or_else(|| HarnessError::Protocol {
            what: self.name().to_owned(),
            detail: "not running, cannot send SIGSTOP".into(),
        })?;
        super::group_stop::stop_all_threads(pid, HANG_COMPLETE_WITHIN)
    }

    /// `core restart now`: the console answers, then the process re-executes itself (same pid).
    fn restart_now(&self) -> Result<(), HarnessError> {
        self.note_restart();
        self.cli("core restart now").map(|_| ())
    }

    /// After `core restart now`: waits for the new boot, i.e. an uptime younger than the request.
    fn wait_restarted(&self) -> Result<(), HarnessError> {
        let asked = self.last_restart().ok_or_else(|| HarnessError::Protocol {
            what: self.name().to_owned(),
            detail: "no restart was requested".into(),
        })?;
        crate::harness::poll(
            &format!("{} to boot again", self.name()),
            BOOT_TIMEOUT,
            Duration::from_millis(50),
            || {
                let out = self
                    .cli_within("core show uptime seconds", Duration::from_secs(2))
                    .ok()?;
                let up: u64 = out
                    .lines()
                    .find_map(|l| l.strip_prefix("System uptime:"))?
                    .trim()
                    .parse()
                    .ok()?;
                // Whole seconds: allow one for the rounding.
                (Duration::from_secs(up) <= asked.elapsed() + Duration::from_secs(1)).then_some(())
            },
        )?;
        self.wait_fully_booted(BOOT_TIMEOUT)
    }
}
