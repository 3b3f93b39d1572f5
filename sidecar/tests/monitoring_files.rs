//! The Prometheus rules astha ships (`contrib/prometheus/astha-rules.yml`) pass `promtool check rules` and their unit tests (`tests/prometheus/astha-rules.test.yml`).
//!
//! promtool comes from Debian's `prometheus` package (`scripts/setup.sh` installs it). That the
//! rules and the Grafana dashboard use only metrics astha exports is checked next to the
//! metrics themselves (`metrics.rs`).

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .to_path_buf()
}

fn promtool(args: &[&str]) -> (bool, String) {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(repo())
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run promtool ({e}): run scripts/setup.sh, which installs it")
        });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn the_rules_pass_promtool_check() {
    let (ok, text) = promtool(&["check", "rules", "contrib/prometheus/astha-rules.yml"]);
    assert!(ok, "{text}");
    assert!(text.contains("SUCCESS"), "{text}");
}

#[test]
fn every_rule_fires_on_its_situation_and_only_then() {
    let (ok, text) = promtool(&["test", "rules", "tests/prometheus/astha-rules.test.yml"]);
    assert!(ok, "{text}");
    // Every alerting rule is exercised by the unit tests.
    let rules = std::fs::read_to_string(repo().join("contrib/prometheus/astha-rules.yml"))
        .expect("rules file");
    let tests = std::fs::read_to_string(repo().join("tests/prometheus/astha-rules.test.yml"))
        .expect("rule tests");
    for line in rules.lines() {
        if let Some(name) = line.trim().strip_prefix("- alert: ") {
            assert!(
                tests.contains(&format!("alertname: {name}\n")),
                "rule {name} has no promtool test"
            );
        }
    }
}

#[test]
fn a_broken_rule_is_caught() {
    // The check can fail: a rule file with a bad expression is refused.
    let dir = std::env::temp_dir().join(format!("astha-promtool-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let bad = dir.join("bad.yml");
    std::fs::write(
        &bad,
        "groups:\n  - name: x\n    rules:\n      - alert: Broken\n        expr: sum by (pair (astha_role)\n",
    )
    .expect("write");
    let (ok, text) = promtool(&["check", "rules", bad.to_str().expect("utf-8")]);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!ok, "promtool accepted a broken rule: {text}");
}
