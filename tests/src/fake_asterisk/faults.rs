//! Fault injection: the ways a real Asterisk fails in production, switchable at run time.

use std::time::Duration;

/// One fault to switch on with `FakeAsterisk::set_fault`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The process died: every connection is closed without a word, nothing listens any more
    /// (AMI, HTTP and SIP). `clear_faults` brings it back like a fresh start (boot, FullyBooted).
    Crash,
    /// The whole process is stuck: connections stay open and new ones are accepted (the kernel
    /// does that), but nothing is answered, no banner, no event, no SIP or HTTP reply.
    Hang,
    /// The channel core is deadlocked while the manager thread lives: `Ping`, `Login`, `Logoff`,
    /// `Challenge`, `Events` and `UserEvent` are answered; `CoreStatus`, `CoreSettings`,
    /// `CoreShowChannels`, `Command`, `Originate`, `Hangup` and `DAHDIShowStatus` are never
    /// answered while the fault lasts (they are answered, in order, when it clears); calls freeze.
    CoreDeadlock,
    /// Like [`Fault::CoreDeadlock`], but as a real Asterisk session thread behaves: once a session
    /// has sent a core-touching action it is stuck behind it and answers nothing more (not even
    /// `Ping`) until the fault clears; sessions that sent no such action still answer `Ping`.
    CoreDeadlockStrict,
    /// Every AMI answer (banner, responses), SIP reply and HTTP reply is delayed by this much.
    Slow(Duration),
    /// The call path is broken while AMI works: every Originate fails as in fixture 11
    /// (async: queued, then `OriginateResponse` `Failure`; sync: `Originate failed`).
    OriginateFail,
    /// Only SIP is dead: OPTIONS requests are silently dropped.
    SipDown,
    /// New TCP connections (AMI and HTTP) are refused; established ones keep working.
    Refuse,
    /// A shutdown is pending (`core stop gracefully` waiting for calls to end): every AMI action,
    /// `Login` included, is answered `Asterisk is shutting down` (fixtures 27, 28) and SIP
    /// OPTIONS `503 Service Unavailable` (sip/04). Clearing it is `core abort shutdown`.
    ShuttingDown,
}

/// The set of faults in force (several can be on at once).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultSet {
    /// [`Fault::Crash`].
    pub crashed: bool,
    /// [`Fault::Hang`].
    pub hung: bool,
    /// [`Fault::CoreDeadlock`] (also set by [`Fault::CoreDeadlockStrict`]).
    pub core_deadlock: bool,
    /// [`Fault::CoreDeadlockStrict`].
    pub deadlock_blocks_session: bool,
    /// [`Fault::Slow`].
    pub slow: Option<Duration>,
    /// [`Fault::OriginateFail`].
    pub originate_fail: bool,
    /// [`Fault::SipDown`].
    pub sip_down: bool,
    /// [`Fault::Refuse`].
    pub refuse: bool,
    /// [`Fault::ShuttingDown`].
    pub shutting_down: bool,
}

impl FaultSet {
    /// Switches one fault on.
    pub fn set(&mut self, fault: Fault) {
        match fault {
            Fault::Crash => self.crashed = true,
            Fault::Hang => self.hung = true,
            Fault::CoreDeadlock => self.core_deadlock = true,
            Fault::CoreDeadlockStrict => {
                self.core_deadlock = true;
                self.deadlock_blocks_session = true;
            }
            Fault::Slow(d) => self.slow = Some(d),
            Fault::OriginateFail => self.originate_fail = true,
            Fault::SipDown => self.sip_down = true,
            Fault::Refuse => self.refuse = true,
            Fault::ShuttingDown => self.shutting_down = true,
        }
    }

    /// Whether no fault is on.
    pub fn is_clear(&self) -> bool {
        *self == FaultSet::default()
    }

    /// Calls and the core make no progress (hang or core deadlock).
    pub fn core_frozen(&self) -> bool {
        self.hung || self.core_deadlock
    }

    /// A short text for `status` (`none` or `hang,slow=300ms`).
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if self.crashed {
            parts.push("crash".to_owned());
        }
        if self.hung {
            parts.push("hang".to_owned());
        }
        if self.deadlock_blocks_session {
            parts.push("deadlock-strict".to_owned());
        } else if self.core_deadlock {
            parts.push("deadlock".to_owned());
        }
        if let Some(d) = self.slow {
            parts.push(format!("slow={}ms", d.as_millis()));
        }
        if self.originate_fail {
            parts.push("originate-fail".to_owned());
        }
        if self.sip_down {
            parts.push("sip-down".to_owned());
        }
        if self.refuse {
            parts.push("refuse".to_owned());
        }
        if self.shutting_down {
            parts.push("shutting-down".to_owned());
        }
        if parts.is_empty() {
            "none".to_owned()
        } else {
            parts.join(",")
        }
    }
}
