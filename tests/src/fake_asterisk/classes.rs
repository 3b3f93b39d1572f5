//! AMI permission classes (`read =` / `write =` in manager.conf, `Privilege:` in events).

use std::fmt;

/// One AMI class, as spelled in manager.conf and in the `Privilege:` header of events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventClass {
    /// `system`: FullyBooted, Shutdown, DAHDI alarms; CoreStatus and friends (write).
    System,
    /// `call`: channel events, OriginateResponse.
    Call,
    /// `log`.
    Log,
    /// `verbose`.
    Verbose,
    /// `command`: the `Command` action (write).
    Command,
    /// `agent`.
    Agent,
    /// `user`: UserEvent.
    User,
    /// `config`.
    Config,
    /// `dtmf`.
    Dtmf,
    /// `reporting`: CoreStatus, CoreShowChannels, DAHDIShowStatus (write).
    Reporting,
    /// `cdr`.
    Cdr,
    /// `dialplan`: Newexten, VarSet.
    Dialplan,
    /// `originate`: the `Originate` action (write).
    Originate,
    /// `agi`.
    Agi,
    /// `cc`.
    Cc,
    /// `aoc`.
    Aoc,
    /// `test`.
    Test,
    /// `security`: SuccessfulAuth, InvalidPassword.
    Security,
    /// `message`.
    Message,
}

const ALL_CLASSES: [EventClass; 19] = [
    EventClass::System,
    EventClass::Call,
    EventClass::Log,
    EventClass::Verbose,
    EventClass::Command,
    EventClass::Agent,
    EventClass::User,
    EventClass::Config,
    EventClass::Dtmf,
    EventClass::Reporting,
    EventClass::Cdr,
    EventClass::Dialplan,
    EventClass::Originate,
    EventClass::Agi,
    EventClass::Cc,
    EventClass::Aoc,
    EventClass::Test,
    EventClass::Security,
    EventClass::Message,
];

impl EventClass {
    /// The manager.conf spelling (`call`, `system`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            EventClass::System => "system",
            EventClass::Call => "call",
            EventClass::Log => "log",
            EventClass::Verbose => "verbose",
            EventClass::Command => "command",
            EventClass::Agent => "agent",
            EventClass::User => "user",
            EventClass::Config => "config",
            EventClass::Dtmf => "dtmf",
            EventClass::Reporting => "reporting",
            EventClass::Cdr => "cdr",
            EventClass::Dialplan => "dialplan",
            EventClass::Originate => "originate",
            EventClass::Agi => "agi",
            EventClass::Cc => "cc",
            EventClass::Aoc => "aoc",
            EventClass::Test => "test",
            EventClass::Security => "security",
            EventClass::Message => "message",
        }
    }

    /// Parses one class name (case-insensitive).
    pub fn parse(name: &str) -> Option<EventClass> {
        ALL_CLASSES
            .iter()
            .copied()
            .find(|c| c.as_str().eq_ignore_ascii_case(name.trim()))
    }

    fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

impl fmt::Display for EventClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of classes, parsed from manager.conf syntax (`system,call,user` or `all` or `none`).
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct ClassSet(u32);

impl ClassSet {
    /// Every class (`all`).
    pub fn all() -> ClassSet {
        ClassSet(ALL_CLASSES.iter().fold(0, |acc, c| acc | c.bit()))
    }

    /// No class (`none`, or an absent `write =`).
    pub fn none() -> ClassSet {
        ClassSet(0)
    }

    /// Parses `all`, `none`, or a comma-separated list; unknown names are ignored like Asterisk does.
    pub fn parse(spec: &str) -> ClassSet {
        let mut set = ClassSet::none();
        for part in spec.split(',') {
            let part = part.trim();
            if part.eq_ignore_ascii_case("all") {
                return ClassSet::all();
            }
            if let Some(class) = EventClass::parse(part) {
                set = set.with(class);
            }
        }
        set
    }

    /// This set plus one class.
    #[must_use]
    pub fn with(self, class: EventClass) -> ClassSet {
        ClassSet(self.0 | class.bit())
    }

    /// Whether the class is in the set.
    pub fn contains(self, class: EventClass) -> bool {
        self.0 & class.bit() != 0
    }

    /// Whether the two sets share a class (how Asterisk checks write permission for an action).
    pub fn intersects(self, other: ClassSet) -> bool {
        self.0 & other.0 != 0
    }

    /// The classes in both sets.
    #[must_use]
    pub fn intersection(self, other: ClassSet) -> ClassSet {
        ClassSet(self.0 & other.0)
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl fmt::Debug for ClassSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == ClassSet::all() {
            return f.write_str("all");
        }
        let names: Vec<&str> = ALL_CLASSES
            .iter()
            .filter(|c| self.contains(**c))
            .map(|c| c.as_str())
            .collect();
        if names.is_empty() {
            f.write_str("none")
        } else {
            f.write_str(&names.join(","))
        }
    }
}

impl FromIterator<EventClass> for ClassSet {
    fn from_iter<I: IntoIterator<Item = EventClass>>(iter: I) -> Self {
        iter.into_iter().fold(ClassSet::none(), ClassSet::with)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_manager_conf_lists() {
        let set = ClassSet::parse("system,call, user,reporting");
        assert!(set.contains(EventClass::System));
        assert!(set.contains(EventClass::Reporting));
        assert!(!set.contains(EventClass::Command));
        assert_eq!(ClassSet::parse("ALL"), ClassSet::all());
        assert!(ClassSet::parse("none").is_empty());
        assert!(ClassSet::parse("").is_empty());
        assert_eq!(
            format!("{:?}", ClassSet::parse("call,system")),
            "system,call"
        );
    }
}
