//! `[peer]`: the other server of the pair (its link settings arrive with the peer-link section).

use super::problem::Problems;
use super::reader::Section;

/// The other server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerConfig {
    /// Human name used in logs and status (default `astha-<other side>`).
    pub name: String,
}

pub(crate) fn read(
    section: &mut Section<'_, '_>,
    problems: &mut Problems,
    peer_side: crate::side::Side,
) -> PeerConfig {
    let name = section
        .string(problems, "name")
        .map(|s| s.into_inner())
        .unwrap_or_else(|| format!("astha-{peer_side}"));
    PeerConfig { name }
}
