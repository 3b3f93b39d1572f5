//! `[node]`: which side of the pair this server is, and what the two servers are called.
//!
//! The peer's name used to live alone in a `[peer]` section, next to the unrelated
//! `[peer_link]`; it is now `[node] peer_name`. The old spelling is still read for one release,
//! with a warning that says what to write instead.

use crate::side::Side;

use super::problem::{ProblemSeverity, Problems};
use super::reader::Section;

/// This server and the name of the other one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeConfig {
    pub side: Side,
    /// Human name used in logs and status (default `astha-<side>`).
    pub name: String,
    /// The other server's name in logs and status (default `astha-<other side>`).
    pub peer_name: String,
}

/// Reads `[node]` (required) and the deprecated `[peer]` from the top level of the file.
pub(crate) fn read(root: &mut Section<'_, '_>, problems: &mut Problems) -> NodeConfig {
    let mut node = root.section(problems, "node");
    if !node.present() {
        node.missing_self(problems);
    }
    let side = node.required(problems, "side").unwrap_or(Side::A);
    let name = node
        .get(problems, "name")
        .unwrap_or_else(|| format!("astha-{side}"));
    let peer_name: Option<String> = node.get(problems, "peer_name");
    let legacy = legacy_peer_name(root, problems, peer_name.is_some());
    node.finish(problems);
    let peer_name = peer_name
        .or(legacy)
        .unwrap_or_else(|| format!("astha-{}", side.other()));
    NodeConfig {
        side,
        name,
        peer_name,
    }
}

/// `[peer] name = "..."`, the spelling before `[node] peer_name`: still honoured, with a
/// warning; an error when both are set (which one would win is anyone's guess).
fn legacy_peer_name(
    root: &mut Section<'_, '_>,
    problems: &mut Problems,
    peer_name_set: bool,
) -> Option<String> {
    let mut peer = root.section(problems, "peer");
    if !peer.present() {
        return None;
    }
    let name: Option<String> = peer.get(problems, "name");
    match &name {
        Some(_) if peer_name_set => peer.problem_at(
            problems,
            ProblemSeverity::Error,
            "name",
            "the peer's name is set twice: keep `peer_name` in [node] and remove the [peer] section",
        ),
        Some(n) => peer.problem_at(
            problems,
            ProblemSeverity::Warning,
            "name",
            format!(
                "[peer] is deprecated and will be removed in the next release: \
                 write `peer_name = \"{n}\"` in [node] and remove the [peer] section"
            ),
        ),
        None => problems.warning(
            "peer",
            peer.span(),
            "[peer] is deprecated and will be removed in the next release: \
             the peer's name is `peer_name` in [node]; remove the empty [peer] section",
        ),
    }
    peer.finish(problems);
    name.filter(|_| !peer_name_set)
}
