//! The files admins copy into /etc/asterisk: the dialplan passes asterisklint, and the AMI user grants what the probes use.

use std::path::Path;
use std::process::Command;

const DIALPLAN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../dialplan");

/// asterisklint wants [general] and [globals] first; a snippet meant for `#include` has neither.
const SNIPPET_HINTS: &str = "H_DP_GENERAL_MISPLACED,H_DP_GLOBALS_MISPLACED";

fn asterisklint(file: &Path) -> Option<(bool, String)> {
    let dir = std::env::temp_dir().join(format!("astha-alint-{}", std::process::id()));
    std::fs::create_dir_all(&dir).ok()?;
    let conf = dir.join("extensions.conf");
    std::fs::copy(file, &conf).ok()?;
    let out = Command::new("asterisklint")
        .args(["dialplan-check", "extensions.conf"])
        .current_dir(&dir)
        .env("ALINT_IGNORE", SNIPPET_HINTS)
        .output();
    let _ = std::fs::remove_dir_all(&dir);
    let out = out.ok()?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some((out.status.success() && text.trim().is_empty(), text))
}

#[test]
fn extensions_pass_asterisklint() {
    let file = Path::new(DIALPLAN).join("extensions_astha.conf");
    match asterisklint(&file) {
        None => println!(
            "SKIP: asterisklint not installed (pip install asterisklint; scripts/setup.sh does)"
        ),
        Some((ok, text)) => assert!(ok, "asterisklint found problems:\n{text}"),
    }
}

#[test]
fn asterisklint_catches_a_broken_dialplan() {
    // Proves the check above can fail: a misspelt application is an error.
    let bad = std::env::temp_dir().join(format!("astha-bad-{}.conf", std::process::id()));
    std::fs::write(&bad, "[ha-probe]\nexten => probe,1,Answr()\n").unwrap();
    let result = asterisklint(&bad);
    let _ = std::fs::remove_file(&bad);
    match result {
        None => println!("SKIP: asterisklint not installed"),
        Some((ok, text)) => assert!(!ok && text.contains("Answr"), "{text}"),
    }
}

#[test]
fn dialplan_has_the_probe_target_and_the_pin_protected_failover() {
    let text = std::fs::read_to_string(Path::new(DIALPLAN).join("extensions_astha.conf")).unwrap();
    for needle in [
        "[ha-probe]",
        "exten => probe,1,",
        "Playback(silence/1)",
        // The marker the call probe requires, as the dialplan's last step before Hangup.
        "UserEvent(HAProbe,Probe: ${HA_PROBE_ID})",
        "[ha-admin]",
        "exten => *999,1",
        "Authenticate(",
        "UserEvent(HAFailover",
        "DB_DELETE(astha-failover/${UNIQUEID})",
    ] {
        assert!(text.contains(needle), "missing {needle:?}");
    }
    // The caller hears the count and confirms before the failover event, never after it.
    let at = |needle: &str| {
        text.find(needle)
            .unwrap_or_else(|| panic!("missing {needle:?}"))
    };
    assert!(at("Authenticate(") < at("UserEvent(HAFailoverAsk)"));
    assert!(at("UserEvent(HAFailoverAsk)") < at("SayNumber(${HA_CALLS})"));
    assert!(at("SayNumber(${HA_CALLS})") < at("Read(HA_CONFIRM,"));
    assert!(at("Read(HA_CONFIRM,") < at("UserEvent(HAFailover,"));
    // The PIN never sits in the dialplan itself (it would show in `dialplan show`): it comes
    // from a file in Asterisk's configuration directory.
    let auth = text.lines().find(|l| l.contains("Authenticate(")).unwrap();
    assert!(
        auth.contains("Authenticate(${ASTETCDIR}/"),
        "the PIN must come from a file: {auth}"
    );
}

#[test]
fn manager_user_grants_exactly_what_the_probes_need() {
    let text = std::fs::read_to_string(Path::new(DIALPLAN).join("manager_astha.conf")).unwrap();
    let value = |key: &str| -> Vec<String> {
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with(key) && l.contains('='))
            .unwrap_or_else(|| panic!("no `{key}` in manager_astha.conf"));
        line.split('=')
            .nth(1)
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .split(',')
            .map(|s| s.trim().to_string())
            .collect()
    };
    let read = value("read");
    for class in ["system", "call", "user"] {
        assert!(
            read.contains(&class.to_string()),
            "read lacks {class}: the probes subscribe to it"
        );
    }
    let write = value("write");
    assert!(
        write.contains(&"originate".to_string()),
        "the test call needs originate"
    );
    for dangerous in ["command", "system", "all", "config"] {
        assert!(
            !write.contains(&dangerous.to_string()),
            "write must not grant {dangerous}"
        );
    }
}

#[test]
fn the_contact_mirror_user_writes_the_astdb_and_cannot_originate() {
    let text = std::fs::read_to_string(Path::new(DIALPLAN).join("manager_astha.conf")).unwrap();
    let section: Vec<&str> = text
        .lines()
        .skip_while(|l| l.trim() != "[astha-contacts]")
        .skip(1)
        .take_while(|l| !l.trim_start().starts_with('['))
        .collect();
    let value = |key: &str| -> String {
        section
            .iter()
            .find(|l| l.trim_start().starts_with(key) && l.contains('='))
            .and_then(|l| l.split('=').nth(1))
            .map(|v| v.split(';').next().unwrap_or("").trim().to_owned())
            .unwrap_or_else(|| panic!("no `{key}` in [astha-contacts]"))
    };
    // DBGetTree, DBPut and DBDel need `system`; with `originate` it could run shell commands.
    assert_eq!(value("write"), "system");
    assert_eq!(value("read"), "system", "ContactStatus events");
    assert_eq!(value("eventfilter"), "Event: ContactStatus");
}

#[test]
fn pjsip_snippet_answers_from_the_floating_ip_and_lets_both_servers_probes_in() {
    let text = std::fs::read_to_string(Path::new(DIALPLAN).join("pjsip_astha.conf")).unwrap();
    let settings: Vec<&str> = text
        .lines()
        .map(|l| l.split(';').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .collect();
    // A transport on the floating IP (example address of contrib/astha.example.toml) and one
    // on the server's own address; none on all addresses (it would answer from the wrong one).
    assert!(settings.contains(&"bind = 192.0.2.100:5060"), "{text}");
    assert!(settings.contains(&"bind = 192.0.2.10:5060"), "{text}");
    assert!(
        settings.iter().all(|l| !l.contains("0.0.0.0")),
        "no wildcard bind: {text}"
    );
    // astha's OPTIONS from either server are identified, not challenged.
    for server in ["match = 192.0.2.10", "match = 192.0.2.11"] {
        assert!(settings.contains(&server), "missing {server:?}");
    }
}
