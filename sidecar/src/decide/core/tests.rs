//! The rule tables, their documentation in `decide/mod.rs` and their unit tests stay in step.

use super::active::STEP_DOWN_RULES;
use super::rule::Rule;
use super::standby::{
    DEAD_PEER_RULES, FAILBACK_RULES, HANDOVER_RULES, NO_ACTIVE_RULES, STANDBY_GATES,
};

const MODULE_DOCS: &str = include_str!("../mod.rs");
const RULE_TESTS: [&str; 2] = [
    include_str!("../tests/standby_rules.rs"),
    include_str!("../tests/active_rules.rs"),
];

fn names(rules: &[Rule]) -> Vec<&'static str> {
    rules.iter().map(|r| r.name).collect()
}

fn tables() -> Vec<(&'static str, Vec<&'static str>)> {
    vec![
        ("STANDBY_GATES", names(STANDBY_GATES)),
        ("HANDOVER_RULES", names(HANDOVER_RULES)),
        ("DEAD_PEER_RULES", names(DEAD_PEER_RULES)),
        ("NO_ACTIVE_RULES", names(NO_ACTIVE_RULES)),
        ("FAILBACK_RULES", names(FAILBACK_RULES)),
        (
            "STEP_DOWN_RULES",
            STEP_DOWN_RULES.iter().map(|r| r.name).collect(),
        ),
    ]
}

/// The names of the list that follows the doc line naming `table` (items "* `name`").
fn documented(table: &str) -> Vec<String> {
    let lines: Vec<&str> = MODULE_DOCS
        .lines()
        .filter_map(|l| l.strip_prefix("//!"))
        .map(str::trim)
        .collect();
    let marker = format!("(`{table}`)");
    let start = lines
        .iter()
        .position(|l| l.contains(&marker))
        .unwrap_or_else(|| panic!("decide/mod.rs does not introduce {marker}"));
    let mut listed = Vec::new();
    for line in &lines[start + 1..] {
        if let Some(item) = line.strip_prefix("* `") {
            listed.push(item.split('`').next().unwrap_or_default().to_string());
        } else if line.is_empty() || line.starts_with("* ") || line.starts_with('#') {
            break;
        }
    }
    listed
}

#[test]
fn the_module_docs_list_every_rule_in_table_order() {
    for (table, rules) in tables() {
        assert_eq!(
            documented(table),
            rules,
            "decide/mod.rs lists {table} differently from the code"
        );
    }
}

#[test]
fn every_rule_has_a_unit_test_named_after_it() {
    for (table, rules) in tables() {
        for name in rules {
            let test = format!("fn {name}() {{");
            assert!(
                RULE_TESTS.iter().any(|t| t.contains(&test)),
                "{table}: rule {name} has no test `{name}` in decide/tests/"
            );
        }
    }
}
