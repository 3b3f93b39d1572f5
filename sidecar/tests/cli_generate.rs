//! Shell completions and the man page come from the CLI definition, so they list every subcommand.

use std::process::Command;

const ASTHA: &str = env!("CARGO_BIN_EXE_astha");

fn run(args: &[&str]) -> (i32, String) {
    let out = Command::new(ASTHA).args(args).output().expect("run astha");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn completions_cover_every_subcommand() {
    for shell in ["bash", "zsh", "fish"] {
        let (code, text) = run(&["completions", shell]);
        assert_eq!(code, 0, "{shell}");
        for sub in [
            "run",
            "status",
            "failover",
            "maintenance",
            "probe",
            "check-config",
        ] {
            assert!(text.contains(sub), "{shell} completions miss `{sub}`");
        }
    }
}

#[test]
fn man_page_is_roff_with_the_subcommands() {
    let (code, page) = run(&["man"]);
    assert_eq!(code, 0);
    assert!(page.contains(".TH astha 1"), "{page}");
    assert!(page.contains("failover") && page.contains("maintenance"));
    let (code, sub) = run(&["man", "--subcommand", "status"]);
    assert_eq!(code, 0);
    assert!(
        sub.contains(".TH astha-status 1") && sub.contains("json"),
        "{sub}"
    );
    let (code, _) = run(&["man", "--subcommand", "nonsense"]);
    assert_eq!(code, 3);
}
