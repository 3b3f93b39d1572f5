//! The kinds of probe astha runs against an Asterisk, with their stable names (config keys, JSON, logs).

use std::fmt;

/// One kind of health probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProbeKind {
    /// AMI connected and logged in, `Ping` round trip.
    Ping,
    /// A core-touching AMI action (`CoreStatus` or `Command core show channels count`).
    Core,
    /// Async `Originate` of a Local channel into the probe context, judged by `OriginateResponse` and hangup.
    Call,
    /// SIP `OPTIONS` over UDP.
    Sip,
    /// ARI `GET /ari/asterisk/ping`.
    Ari,
    /// DAHDI span alarms (events plus `DAHDIShowStatus` polls).
    Spans,
}

impl ProbeKind {
    pub const ALL: [ProbeKind; 6] = [
        ProbeKind::Ping,
        ProbeKind::Core,
        ProbeKind::Call,
        ProbeKind::Sip,
        ProbeKind::Ari,
        ProbeKind::Spans,
    ];

    /// Position in [`ProbeKind::ALL`].
    pub fn index(self) -> usize {
        match self {
            ProbeKind::Ping => 0,
            ProbeKind::Core => 1,
            ProbeKind::Call => 2,
            ProbeKind::Sip => 3,
            ProbeKind::Ari => 4,
            ProbeKind::Spans => 5,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ProbeKind::Ping => "ping",
            ProbeKind::Core => "core",
            ProbeKind::Call => "call",
            ProbeKind::Sip => "sip",
            ProbeKind::Ari => "ari",
            ProbeKind::Spans => "spans",
        }
    }

    /// Whether the probe sends AMI actions (and so counts toward the AMI load budget and
    /// fails together with the AMI connection).
    pub fn uses_ami(self) -> bool {
        matches!(
            self,
            ProbeKind::Ping | ProbeKind::Core | ProbeKind::Call | ProbeKind::Spans
        )
    }
}

impl fmt::Display for ProbeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ProbeKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ProbeKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                format!("unknown probe `{s}`: expected one of ping, core, call, sip, ari, spans")
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_matches_all_and_names_round_trip() {
        for (i, kind) in ProbeKind::ALL.into_iter().enumerate() {
            assert_eq!(kind.index(), i);
            assert_eq!(kind.as_str().parse::<ProbeKind>(), Ok(kind));
        }
        assert!("telepathy".parse::<ProbeKind>().is_err());
    }
}
