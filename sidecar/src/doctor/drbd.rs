//! DRBD as astha expects it (contrib/drbd/asterisk.res): `drbdadm` present, the resource known for this host, fencing on, and the fence-peer/unfence-peer handlers calling astha.

use std::path::Path;
use std::time::Duration;

use crate::actuate::command::{self, CommandError};
use crate::config::Config;

use super::Check;

const NAME: &str = "DRBD";

/// What `drbdadm dump RES` says about the settings astha relies on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DumpedResource {
    /// `net { fencing ... }`.
    pub fencing: Option<String>,
    /// `handlers { fence-peer "..." }`, without the quotes.
    pub fence_peer: Option<String>,
    pub unfence_peer: Option<String>,
}

/// Reads the settings out of `drbdadm dump` (the resource file's own syntax, normalised).
pub fn parse_dump(text: &str) -> DumpedResource {
    let mut found = DumpedResource::default();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or_default().trim();
        let Some((key, value)) = line.split_once(char::is_whitespace) else {
            continue;
        };
        let value = value.trim().trim_end_matches(';').trim().trim_matches('"');
        let slot = match key {
            "fencing" => &mut found.fencing,
            "fence-peer" => &mut found.fence_peer,
            "unfence-peer" => &mut found.unfence_peer,
            _ => continue,
        };
        *slot = Some(value.to_owned());
    }
    found
}

/// Whether a handler line runs `astha SUBCOMMAND` (any path to the binary).
fn calls_astha(handler: Option<&str>, subcommand: &str) -> bool {
    let Some(handler) = handler else {
        return false;
    };
    let mut words = handler.split_whitespace();
    let program = words.next().unwrap_or_default();
    Path::new(program).file_name().is_some_and(|n| n == "astha") && words.next() == Some(subcommand)
}

pub async fn check(config: &Config) -> Vec<Check> {
    let Some(drbd) = &config.daemon.actuate.drbd else {
        return vec![Check::skip(NAME, "no [actuate.drbd] configured")];
    };
    let resource = &drbd.resource;
    let drbdadm = drbd.drbdadm.display().to_string();
    let argv = vec![drbdadm.clone(), "dump".to_owned(), resource.clone()];
    let output = match command::run(&argv, Duration::from_millis(drbd.command_timeout_ms)).await {
        Ok(output) => output,
        Err(CommandError::Spawn { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            return vec![Check::fail(
                NAME,
                format!("{drbdadm} not found"),
                "install drbd-utils (9.x), or set [actuate.drbd] drbdadm to its path",
            )]
        }
        Err(e) => {
            return vec![Check::fail(
                NAME,
                e.to_string(),
                format!("run `{drbdadm} dump {resource}` by hand and fix what it says"),
            )]
        }
    };
    if !output.success() {
        return vec![Check::fail(
            format!("DRBD resource {resource}"),
            format!(
                "`drbdadm dump {resource}` failed: {}",
                output.last_words()
            ),
            "install the resource file (contrib/drbd/asterisk.res) in /etc/drbd.d/ with an `on` section named as this host (`uname -n`), or fix [actuate.drbd] resource",
        )];
    }
    let dumped = parse_dump(&output.stdout);
    let mut checks = vec![Check::ok(
        format!("DRBD resource {resource}"),
        "known to drbdadm for this host",
    )];
    checks.push(match dumped.fencing.as_deref() {
        Some(f @ ("resource-and-stonith" | "resource-only")) => Check::ok(
            format!("DRBD {resource} fencing"),
            format!("fencing {f}: DRBD asks astha before promoting"),
        ),
        other => Check::fail(
            format!("DRBD {resource} fencing"),
            format!(
                "fencing is {}: DRBD would not ask astha whether the peer is out of the way",
                other.unwrap_or("not set")
            ),
            "set `fencing resource-and-stonith;` in the resource's net section (contrib/drbd/asterisk.res), then `drbdadm adjust`",
        ),
    });
    for (handler, value) in [
        ("fence-peer", dumped.fence_peer.as_deref()),
        ("unfence-peer", dumped.unfence_peer.as_deref()),
    ] {
        let name = format!("DRBD {resource} {handler} handler");
        let fix = format!(
            "set `{handler} \"/usr/bin/astha {handler}\";` in the resource's handlers section (contrib/drbd/asterisk.res), then `drbdadm adjust {resource}`"
        );
        if !calls_astha(value, handler) {
            checks.push(Check::fail(
                name,
                format!("is {}, not astha", value.unwrap_or("not set")),
                fix,
            ));
            continue;
        }
        let program = value
            .unwrap_or_default()
            .split_whitespace()
            .next()
            .unwrap_or_default();
        checks.push(if Path::new(program).is_file() {
            Check::ok(name, format!("runs {}", value.unwrap_or_default()))
        } else {
            Check::fail(
                name,
                format!("runs {program}, which does not exist"),
                format!("install astha at {program}, or point the handler at where it is"),
            )
        });
    }
    checks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_resource_file_has_the_handlers_and_fencing_astha_needs() {
        let dumped = parse_dump(include_str!("../../../contrib/drbd/asterisk.res"));
        assert_eq!(dumped.fencing.as_deref(), Some("resource-and-stonith"));
        assert!(calls_astha(dumped.fence_peer.as_deref(), "fence-peer"));
        assert!(calls_astha(dumped.unfence_peer.as_deref(), "unfence-peer"));
    }

    #[test]
    fn handlers_calling_something_else_or_absent_are_found() {
        let dumped = parse_dump(
            "resource r0 {\n    net {\n        fencing          dont-care;\n    }\n    handlers {\n        fence-peer       \"/usr/lib/drbd/crm-fence-peer.9.sh\";\n    }\n}\n",
        );
        assert_eq!(dumped.fencing.as_deref(), Some("dont-care"));
        assert!(!calls_astha(dumped.fence_peer.as_deref(), "fence-peer"));
        assert_eq!(dumped.unfence_peer, None);
        assert!(!calls_astha(
            Some("/usr/bin/astha unfence-peer"),
            "fence-peer"
        ));
    }
}
