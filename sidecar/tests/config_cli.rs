//! `astha check-config` as a process: exit codes and the problem listing with file, line and key.

mod common;

use common::Scratch;

use std::path::{Path, PathBuf};
use std::process::Command;

fn astha(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_astha"))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("spawn: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// The example config with its secret files pointed into `dir`.
fn example_in(dir: &Scratch) -> PathBuf {
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../contrib/astha.example.toml"
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    for name in ["ami-a", "ami-b", "ari-a", "ari-b"] {
        dir.write(&format!("{name}.secret"), "top-secret-value\n");
    }
    dir.write("astha.toml", &example.replace("/etc/astha/", ""))
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap_or_else(|| panic!("non-UTF-8 temp path"))
}

#[test]
fn example_config_checks_ok() {
    let dir = Scratch::new("ok");
    let config = example_in(&dir);
    let (code, out) = astha(&["check-config", "--config", path_str(&config)]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("OK: node a (pbx-a), peer pbx-b"), "{out}");
    assert!(!out.contains("top-secret-value"), "{out}");
}

#[test]
fn broken_config_lists_every_problem_and_exits_3() {
    let dir = Scratch::new("broken");
    let config = example_in(&dir);
    let text = std::fs::read_to_string(&config).unwrap_or_default();
    let text = text
        .replacen("side = \"a\"", "side = \"x\"", 1)
        .replacen(
            "address = \"192.0.2.11:5038\"",
            "address = \"192.0.2.11:port\"",
            1,
        )
        // [probes.core]: a deadline longer than its interval.
        .replacen(
            "interval_ms = 2000\ntimeout_ms = 1000",
            "interval_ms = 2000\ntimeout_ms = 5000",
            1,
        );
    let config = dir.write("astha.toml", &text);
    let (code, out) = astha(&["check-config", "--config", path_str(&config)]);
    assert_eq!(code, 3, "{out}");
    let line_of = |needle: &str| {
        text.lines()
            .position(|l| l.contains(needle))
            .map(|i| i + 1)
            .unwrap_or(0)
    };
    for (key, needle) in [
        ("node.side", "side = \"x\""),
        ("asterisk.b.ami.address", "192.0.2.11:port"),
        ("probes.core.timeout_ms", "timeout_ms = 5000"),
    ] {
        let expected = format!("{}:{}:", path_str(&config), line_of(needle));
        assert!(
            out.lines()
                .any(|l| l.starts_with(&expected) && l.contains(key)),
            "no line starting with {expected} naming {key} in:\n{out}"
        );
    }
    assert!(out.contains("3 error(s)"), "{out}");
}

#[test]
fn missing_file_and_usage_errors_exit_3() {
    let (code, out) = astha(&["check-config", "--config", "/nonexistent/astha.toml"]);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("cannot read"), "{out}");
    let (code, _) = astha(&["no-such-command"]);
    assert_eq!(code, 3);
    let (code, _) = astha(&["probe", "--ami", "127.0.0.1:5038"]);
    assert_eq!(
        code, 3,
        "--ami without --username/--secret-file is a usage error"
    );
    let (code, out) = astha(&["--version"]);
    assert_eq!(code, 0, "{out}");
}
