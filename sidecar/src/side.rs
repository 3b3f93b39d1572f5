//! The two servers of the pair ([`Side`] a and b), as the relay, the peer link and the configuration name them.

use std::fmt;

/// One of the two servers of the pair. The PSTN relay switches its circuits to exactly one side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Side {
    A,
    B,
}

impl Side {
    /// The other server of the pair.
    pub fn other(self) -> Side {
        match self {
            Side::A => Side::B,
            Side::B => Side::A,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Side::A => "a",
            Side::B => "b",
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Side {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "a" => Ok(Side::A),
            "b" => Ok(Side::B),
            other => Err(format!("unknown side `{other}`: expected `a` or `b`")),
        }
    }
}
