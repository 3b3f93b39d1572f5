//! `[node]`: which side of the pair this server is, and its name.

use crate::side::Side;

use super::problem::Problems;
use super::reader::Section;

/// This server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeConfig {
    pub side: Side,
    /// Human name used in logs and status (default `astha-<side>`).
    pub name: String,
}

pub(crate) fn read(section: &mut Section<'_, '_>, problems: &mut Problems) -> NodeConfig {
    let side = match section.required_string(problems, "side") {
        Some(s) => match s.get_ref().parse::<Side>() {
            Ok(side) => side,
            Err(e) => {
                section.problem_at(problems, super::ProblemSeverity::Error, "side", e);
                Side::A
            }
        },
        None => Side::A,
    };
    let name = section
        .string(problems, "name")
        .map(|s| s.into_inner())
        .unwrap_or_else(|| format!("astha-{side}"));
    NodeConfig { side, name }
}
