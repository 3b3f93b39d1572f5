//! A safety rule as a value: a named predicate over what the core knows, run in tables.
//!
//! A decision that needs several conditions (a takeover from a silent peer, a failback, ...) is
//! a table of [`Rule`]s, run in order by [`Core::rules_pass`]: the first rule that objects
//! decides (no step now, and its alert if it has one); the step happens only when every rule
//! passes. The order therefore only matters for *which* alert an operator sees when several
//! rules object at once. Adding a rule is adding one predicate, one row and one unit test named
//! after it (the test module also checks that `decide/mod.rs` lists every row in order).

use super::{AlertKey, Core};
use crate::decide::AlertSeverity;

/// What one rule says about the step under consideration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Check {
    /// The rule allows the step.
    Pass,
    /// Not now, and nothing to report: the situation is expected to resolve by itself.
    Wait,
    /// Not now, and an operator must know: the alert is raised once, until it ends.
    Refuse(AlertKey, AlertSeverity, String),
}

/// One named rule of a decision table.
#[derive(Debug, Clone, Copy)]
pub(super) struct Rule {
    /// The predicate's name: the same in the table, in `decide/mod.rs` and in its unit test.
    // Read by the test that keeps the documentation's lists in step with the tables.
    #[cfg_attr(not(test), allow(dead_code))]
    pub name: &'static str,
    pub check: fn(&Core) -> Check,
    /// The alert that ends when this rule passes (usually the one it raises).
    pub ends: Option<AlertKey>,
}

/// `rule!(predicate)` or `rule!(predicate, ends AlertKeyVariant)`: a table row whose name is
/// the predicate's (a `Core` method).
macro_rules! rule {
    ($check:ident) => {
        $crate::decide::core::rule::Rule {
            name: stringify!($check),
            check: Core::$check,
            ends: None,
        }
    };
    ($check:ident, ends $key:ident) => {
        $crate::decide::core::rule::Rule {
            name: stringify!($check),
            check: Core::$check,
            ends: Some(AlertKey::$key),
        }
    };
}
pub(super) use rule;

impl Core {
    /// Runs `rules` in order until one objects: raises its alert (if it refuses) and returns
    /// false. Every rule that passes on the way ends its alert. True when all passed.
    pub(super) fn rules_pass(
        &mut self,
        rules: &[Rule],
        out: &mut Vec<crate::decide::Command>,
    ) -> bool {
        for rule in rules {
            match (rule.check)(self) {
                Check::Pass => {
                    if let Some(key) = rule.ends {
                        self.clear(key);
                    }
                }
                Check::Wait => return false,
                Check::Refuse(key, severity, message) => {
                    self.raise(key, severity, message, out);
                    return false;
                }
            }
        }
        true
    }
}

/// `Check::Pass` when `ok`, else `Check::Wait`: for rules that object silently.
pub(super) fn pass_if(ok: bool) -> Check {
    if ok {
        Check::Pass
    } else {
        Check::Wait
    }
}
