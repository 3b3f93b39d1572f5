//! The CLI commands the emulator understands (AMI `Command` action and the control channel).

use std::time::Instant;

use super::core::Core;

/// Version line of the captured system (`core show version`).
pub const VERSION_LINE: &str =
    "Asterisk 22.10.1 built by root @ vm on a x86_64 running Linux on 2026-11-26 04:08:49 UTC";

/// What a CLI command produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CliOutput {
    /// `false` for an unknown command (`Response: Error`, still with output).
    pub success: bool,
    /// Output lines (each becomes one `Output:` header).
    pub lines: Vec<String>,
    /// A lifecycle action the command asks for after answering.
    pub then: Option<CliEffect>,
}

/// Lifecycle effects of `core stop` / `core restart`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CliEffect {
    /// `core stop now|gracefully|when convenient`.
    Stop,
    /// `core restart now|gracefully|when convenient`.
    Restart,
}

fn ess(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn ess64(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// The command words the emulator knows, used for the "No such command" hint.
const KNOWN: &[&[&str]] = &[
    &["core", "show", "version"],
    &["core", "show", "uptime"],
    &["core", "show", "channels"],
    &["core", "show", "calls"],
    &["core", "stop", "now"],
    &["core", "stop", "gracefully"],
    &["core", "stop", "when", "convenient"],
    &["core", "restart", "now"],
    &["core", "restart", "gracefully"],
    &["core", "restart", "when", "convenient"],
];

/// Asterisk's `find_best`: the command words up to the first one that matches nothing (at least
/// two words, which reproduces the hint of fixture 08 for a first word that prefix-matches some
/// command of a full Asterisk).
fn best_prefix(words: &[&str]) -> String {
    let mut n = 0;
    while n < words.len() {
        let matches = KNOWN.iter().any(|cmd| {
            cmd.len() > n
                && cmd[..n] == words[..n]
                && cmd[n].starts_with(&words[n].to_ascii_lowercase())
        });
        n += 1;
        if !matches {
            break;
        }
    }
    words[..n.max(2).min(words.len())].join(" ")
}

fn pad(text: &str, width: usize) -> String {
    let truncated: String = text.chars().take(width).collect();
    format!("{truncated:<width$}")
}

/// Runs one CLI command against the core.
pub fn run(core: &Core, command: &str) -> CliOutput {
    let words: Vec<&str> = command.split_whitespace().collect();
    let lower: Vec<String> = words.iter().map(|w| w.to_ascii_lowercase()).collect();
    let lower: Vec<&str> = lower.iter().map(String::as_str).collect();
    let ok = |lines: Vec<String>| CliOutput {
        success: true,
        lines,
        then: None,
    };
    match lower.as_slice() {
        ["core", "show", "version"] => ok(vec![VERSION_LINE.to_owned()]),
        ["core", "show", "uptime", rest @ ..] => {
            let up = core.uptime();
            let since_reload = up.reloaded.elapsed().map(|d| d.as_secs()).unwrap_or(0);
            if rest.first() == Some(&"seconds") {
                ok(vec![
                    format!("System uptime: {}", up.seconds),
                    format!("Last reload: {since_reload}"),
                ])
            } else {
                ok(vec![
                    format!("System uptime: {} seconds", up.seconds),
                    format!("Last reload: {since_reload} seconds"),
                ])
            }
        }
        ["core", "show", "channels", rest @ ..] => {
            let counts = core.counts();
            let mut lines = Vec::new();
            let now = Instant::now();
            match rest.first() {
                Some(&"concise") => {
                    for c in core.channels() {
                        lines.push(format!(
                            "{}!{}!{}!{}!{}!{}!{}!{}!!!3!{}!!{}",
                            c.name,
                            c.context,
                            c.exten,
                            c.priority,
                            c.state.desc(),
                            c.application,
                            c.app_data,
                            c.concise_caller_num(),
                            c.age(now).as_secs(),
                            c.uniqueid
                        ));
                    }
                    return ok(lines);
                }
                Some(&"count") => {}
                _ => {
                    lines.push(format!(
                        "{} {} {} {}",
                        pad("Channel", 64),
                        pad("Location", 32),
                        pad("State", 7),
                        pad("Application(Data)", 30)
                    ));
                    for c in core.channels() {
                        lines.push(format!(
                            "{} {} {} {}",
                            pad(&c.name, 64),
                            pad(&format!("{}@{}:{}", c.exten, c.context, c.priority), 32),
                            pad(c.state.desc(), 7),
                            pad(&format!("{}({})", c.application, c.app_data), 30)
                        ));
                    }
                }
            }
            lines.push(format!(
                "{} active channel{}",
                counts.channels,
                ess(counts.channels)
            ));
            lines.push(format!("{} active call{}", counts.calls, ess(counts.calls)));
            lines.push(format!(
                "{} call{} processed",
                counts.processed,
                ess64(counts.processed)
            ));
            ok(lines)
        }
        ["core", "show", "calls", ..] => {
            let counts = core.counts();
            ok(vec![
                format!("{} active call{}", counts.calls, ess(counts.calls)),
                format!(
                    "{} call{} processed",
                    counts.processed,
                    ess64(counts.processed)
                ),
            ])
        }
        ["core", "stop", "now" | "gracefully"] | ["core", "stop", "when", "convenient"] => {
            CliOutput {
                success: true,
                lines: Vec::new(),
                then: Some(CliEffect::Stop),
            }
        }
        ["core", "restart", "now" | "gracefully"] | ["core", "restart", "when", "convenient"] => {
            CliOutput {
                success: true,
                lines: Vec::new(),
                then: Some(CliEffect::Restart),
            }
        }
        _ => CliOutput {
            success: false,
            lines: vec![format!(
                "No such command '{}' (type 'core show help {}' for other possible commands)",
                command.trim(),
                best_prefix(&words)
            )],
            then: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake_asterisk::config::FakeConfig;

    #[test]
    fn unknown_command_hint_matches_fixture_08() {
        let core = Core::new(FakeConfig::instance_a());
        let out = run(&core, "no such cli command");
        assert!(!out.success);
        assert_eq!(
            out.lines,
            ["No such command 'no such cli command' (type 'core show help no such' for other possible commands)"]
        );
        assert_eq!(best_prefix(&["core", "shw", "x"]), "core shw");
    }

    #[test]
    fn idle_channel_listing_matches_fixture_08() {
        let mut config = FakeConfig::instance_a();
        config.initial_processed_calls = 65;
        let core = Core::new(config);
        let out = run(&core, "core show channels");
        assert_eq!(out.lines[0], "Channel                                                          Location                         State   Application(Data)             ");
        assert_eq!(
            &out.lines[1..],
            ["0 active channels", "0 active calls", "65 calls processed"]
        );
    }
}
