//! What is installed around the daemon: the systemd unit (enabled, running this configuration), the state directory (writable, its term file readable) and the control socket (not world-writable).

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;
use std::time::Duration;

use crate::actuate::command;
use crate::config::Config;
use crate::decide::term_store::TermStore;

use super::Check;

/// The unit the shipped contrib/systemd/astha.service installs.
const UNIT: &str = "astha.service";
const SYSTEMCTL_DEADLINE: Duration = Duration::from_secs(3);

pub async fn check(config: &Config, config_path: &Path) -> Vec<Check> {
    let mut checks = unit(config_path).await;
    checks.extend(state_dir(config));
    checks.push(control_socket(config));
    checks
}

/// The unit is enabled and starts the daemon with the configuration being checked.
async fn unit(config_path: &Path) -> Vec<Check> {
    const NAME: &str = "systemd unit";
    // sd_booted(3): systemd runs this host when this directory exists.
    if !Path::new("/run/systemd/system").is_dir() {
        return vec![Check::skip(
            NAME,
            "systemd does not run this host: the unit is not checked",
        )];
    }
    let systemctl = |args: &[&str]| {
        let argv: Vec<String> = std::iter::once("systemctl")
            .chain(args.iter().copied())
            .map(str::to_owned)
            .collect();
        async move { command::run(&argv, SYSTEMCTL_DEADLINE).await }
    };
    let enabled = match systemctl(&["is-enabled", UNIT]).await {
        Ok(out) if out.stdout.trim() == "enabled" => Check::ok(NAME, format!("{UNIT} is enabled")),
        Ok(out) => Check::fail(
            NAME,
            format!("{UNIT} is {}", non_empty(out.stdout.trim(), "not installed")),
            "install contrib/systemd/astha.service in /etc/systemd/system/, then `systemctl enable --now astha`",
        ),
        Err(e) => Check::warn(NAME, e.to_string(), "run `systemctl is-enabled astha` by hand"),
    };
    let mut checks = vec![enabled];
    if let Ok(out) = systemctl(&["show", "--property=ExecStart", "--value", UNIT]).await {
        let unit_config = unit_config_path(&out.stdout);
        let same = unit_config
            .as_deref()
            .is_some_and(|p| same_file(Path::new(p), config_path));
        if let (Some(unit_config), false) = (unit_config, same) {
            checks.push(Check::warn(
                "systemd unit configuration",
                format!(
                    "{UNIT} runs with --config {unit_config}, not {}",
                    config_path.display()
                ),
                "check the file the daemon really runs with (`astha doctor --config` it), or fix ExecStart",
            ));
        }
    }
    checks
}

/// `--config PATH` of the daemon's command line in `systemctl show -p ExecStart` output
/// (`{ path=/usr/bin/astha ; argv[]=/usr/bin/astha run --config /etc/astha/astha.toml ; ... }`).
fn unit_config_path(exec_start: &str) -> Option<String> {
    let argv = exec_start.split("argv[]=").nth(1)?.split(" ;").next()?;
    let mut words = argv.split_whitespace();
    while let Some(word) = words.next() {
        if word == "--config" || word == "-c" {
            return words.next().map(str::to_owned);
        }
        if let Some(path) = word.strip_prefix("--config=") {
            return Some(path.to_owned());
        }
    }
    // Without --config the daemon reads the default path.
    Some(crate::config::DEFAULT_PATH.to_owned())
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

fn non_empty<'a>(text: &'a str, otherwise: &'a str) -> &'a str {
    if text.is_empty() {
        otherwise
    } else {
        text
    }
}

/// The state directory exists and is writable (the unit runs the daemon as root), and the
/// term file in it is readable.
fn state_dir(config: &Config) -> Vec<Check> {
    const NAME: &str = "state directory";
    let dir = &config.daemon.state.dir;
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return vec![Check::fail(
                NAME,
                format!("{} is not a directory", dir.display()),
                "point [state] dir at a directory on a local disk",
            )]
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return vec![Check::warn(
                NAME,
                format!("{} does not exist yet", dir.display()),
                format!(
                    "start the daemon once (it creates it), or `mkdir -p {}`",
                    dir.display()
                ),
            )]
        }
        Err(e) => {
            return vec![Check::fail(
                NAME,
                format!("{}: {e}", dir.display()),
                "run `astha doctor` as root",
            )]
        }
    }
    // A real write, as the daemon writes its term (a read-only mount, a full disk).
    let probe = dir.join(format!(".astha-doctor-{}", std::process::id()));
    let writable = std::fs::write(&probe, b"doctor\n").and_then(|()| std::fs::remove_file(&probe));
    let mut checks = vec![match writable {
        Ok(()) => Check::ok(NAME, format!("{} is writable", dir.display())),
        Err(e) => Check::fail(
            NAME,
            format!("cannot write in {}: {e}", dir.display()),
            "the daemon runs as root: check the mount (read-only?) and free space",
        ),
    }];
    let store = TermStore::new(dir.join("term"));
    checks.push(match store.load() {
        Ok(state) if state.missing => Check::ok(
            "term file",
            format!(
                "{} not written yet (the first decision writes it)",
                store.path().display()
            ),
        ),
        Ok(state) => Check::ok(
            "term file",
            format!("{}: term {}", store.path().display(), state.term),
        ),
        Err(e) => Check::fail(
            "term file",
            e.to_string(),
            format!(
                "stop astha, move {} away and start it again (it then adopts the peer's term before acting)",
                store.path().display()
            ),
        ),
    });
    checks
}

/// Whoever can write to the control socket can fail the pair over.
fn control_socket(config: &Config) -> Check {
    const NAME: &str = "control socket";
    let path = &config.daemon.control.socket;
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Check::skip(
            NAME,
            format!(
                "{} is not there (the daemon is not running)",
                path.display()
            ),
        ),
        Err(e) => Check::fail(
            NAME,
            format!("{}: {e}", path.display()),
            "run `astha doctor` as root",
        ),
        Ok(m) if !m.file_type().is_socket() => Check::fail(
            NAME,
            format!("{} is not a socket", path.display()),
            "remove it and restart the daemon, or fix [control] socket",
        ),
        Ok(m) if m.permissions().mode() & 0o002 != 0 => Check::fail(
            NAME,
            format!(
                "{} is world-writable (mode {:o}): anyone on this host can fail the pair over",
                path.display(),
                m.permissions().mode() & 0o777
            ),
            format!(
                "`chmod o-w {}`; restart the daemon (it creates the socket 0660)",
                path.display()
            ),
        ),
        Ok(m) => Check::ok(
            NAME,
            format!(
                "{} mode {:o}, not world-writable",
                path.display(),
                m.permissions().mode() & 0o777
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_units_config_path_is_read_from_systemctl_show() {
        let shown = "{ path=/usr/bin/astha ; argv[]=/usr/bin/astha run --config /etc/astha/astha.toml ; ignore_errors=no ; start_time=[n/a] }";
        assert_eq!(
            unit_config_path(shown).as_deref(),
            Some("/etc/astha/astha.toml")
        );
        let default = "{ path=/usr/bin/astha ; argv[]=/usr/bin/astha run ; ignore_errors=no }";
        assert_eq!(
            unit_config_path(default).as_deref(),
            Some(crate::config::DEFAULT_PATH)
        );
        assert_eq!(unit_config_path(""), None);
    }
}
