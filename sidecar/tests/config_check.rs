//! Configuration loading: the example file is valid, every problem is reported with key and line, secrets stay hidden.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use astha::config::{
    self, Config, CoreMethod, Problem, ProblemSeverity, SecretResolver, TargetRole,
};
use astha::probe::ProbeKind;
use astha::side::Side;

/// Files and environment served from memory.
struct FakeSecrets {
    files: HashMap<String, String>,
    env: HashMap<String, String>,
}

impl FakeSecrets {
    fn new() -> Self {
        FakeSecrets {
            files: HashMap::new(),
            env: HashMap::new(),
        }
    }
    fn file(mut self, path: &str, content: &str) -> Self {
        self.files.insert(path.into(), content.into());
        self
    }
    fn env(mut self, name: &str, value: &str) -> Self {
        self.env.insert(name.into(), value.into());
        self
    }
}

impl SecretResolver for FakeSecrets {
    fn env(&self, name: &str) -> Option<String> {
        self.env.get(name).cloned()
    }
    fn read_file(&self, path: &Path) -> std::io::Result<String> {
        self.files
            .get(&path.to_string_lossy().to_string())
            .cloned()
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"))
    }
}

fn example_secrets() -> FakeSecrets {
    FakeSecrets::new()
        .file("/etc/astha/ami-a.secret", "s3cret-a\n")
        .file("/etc/astha/ami-b.secret", "s3cret-b\n")
        .file("/etc/astha/ari-a.secret", "ari-a")
        .file("/etc/astha/ari-b.secret", "ari-b")
}

fn example_text() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../contrib/astha.example.toml");
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

fn parse(text: &str, secrets: &FakeSecrets) -> Result<(Config, Vec<Problem>), Vec<Problem>> {
    config::parse_with(text, Path::new("/etc/astha"), secrets)
}

fn find<'a>(problems: &'a [Problem], key: &str) -> &'a Problem {
    problems.iter().find(|p| p.key == key).unwrap_or_else(|| {
        panic!(
            "no problem reported for `{key}`; got:\n{}",
            render(problems)
        )
    })
}

fn render(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn example_file_is_valid_and_matches_defaults() {
    let (config, warnings) =
        parse(&example_text(), &example_secrets()).unwrap_or_else(|p| panic!("{}", render(&p)));
    assert!(
        warnings.is_empty(),
        "unexpected warnings:\n{}",
        render(&warnings)
    );
    assert_eq!(config.node.side, Side::A);
    assert_eq!(config.node.name, "pbx-a");
    assert_eq!(config.node.peer_name, "pbx-b");
    assert_eq!(
        config.target(TargetRole::Local).ami.address.to_string(),
        "192.0.2.10:5038"
    );
    assert_eq!(
        config.target(TargetRole::Peer).ami.address.to_string(),
        "192.0.2.11:5038"
    );
    assert_eq!(
        config.asterisk_b.ami.secret.expose(),
        "s3cret-b",
        "trailing newline stripped"
    );
    assert_eq!(
        config.asterisk_a.ari.as_ref().map(|a| a.url.address.port),
        Some(8088)
    );
    // The example documents the defaults: parsing it must give exactly the built-in defaults.
    assert_eq!(config.probes, config::ProbesConfig::default());
    assert_eq!(
        config.probes.timing(ProbeKind::Ping).timeout,
        Duration::from_millis(1000)
    );
    assert_eq!(config.probes.core_method, CoreMethod::CoreStatus);
    assert_eq!(config.probes.sip_accepted, vec![200]);
    assert!(config.probes.ami_actions_per_second() <= config::AMI_BUDGET_PER_SECOND);
}

#[test]
fn minimal_file_uses_defaults_and_env_secrets() {
    let text = r#"
[node]
side = "b"
[asterisk.a.ami]
address = "127.0.0.2"
username = "u"
secret_env = "AMI_A"
[asterisk.b.ami]
address = "[::1]:5039"
username = "u"
secret_file = "b.secret"
"#;
    let secrets = FakeSecrets::new()
        .env("AMI_A", "from-env")
        .file("/etc/astha/b.secret", "from-file");
    let (config, _) = parse(text, &secrets).unwrap_or_else(|p| panic!("{}", render(&p)));
    assert_eq!(config.node.name, "astha-b");
    assert_eq!(config.node.peer_name, "astha-a");
    assert_eq!(config.target(TargetRole::Local).side, Side::B);
    assert_eq!(config.asterisk_a.ami.address.port, 5038, "default AMI port");
    assert_eq!(config.asterisk_a.ami.secret.expose(), "from-env");
    assert_eq!(
        config.asterisk_b.ami.secret.expose(),
        "from-file",
        "relative to the config directory"
    );
    assert!(config.asterisk_a.sip.is_none() && config.asterisk_a.ari.is_none());
}

#[test]
fn every_problem_is_reported_with_key_and_line() {
    let text = r#"[node]
side = "c"
colour = "blue"

[asterisk.a.ami]
address = "pbx:99999"
username = "u"
secret = "inline!"
secret_file = "/missing"

[asterisk.b.ami]
username = 42
secret_env = "NOT_SET"

[asterisk.b.sip]
address = "pbx-b"

[probes.ping]
interval_ms = 1000
timeout_ms = 0

[probes.call]
interval_ms = "ten"

[probes.sip]
accepted = [200, 408]

[probes.core]
method = "telepathy"
"#;
    let problems = parse(text, &FakeSecrets::new())
        .err()
        .unwrap_or_else(|| panic!("config with errors was accepted"));
    let expect = [
        ("node.side", 2, ProblemSeverity::Error),
        ("node.colour", 3, ProblemSeverity::Error),
        ("asterisk.a.ami.address", 6, ProblemSeverity::Error),
        ("asterisk.a.ami.secret", 8, ProblemSeverity::Error),
        ("asterisk.a.ami.secret_file", 9, ProblemSeverity::Error),
        ("asterisk.b.ami.address", 11, ProblemSeverity::Error),
        ("asterisk.b.ami.username", 12, ProblemSeverity::Error),
        ("asterisk.b.ami.secret_env", 13, ProblemSeverity::Error),
        ("probes.ping.timeout_ms", 20, ProblemSeverity::Error),
        ("probes.call.interval_ms", 23, ProblemSeverity::Error),
        ("probes.sip.accepted", 26, ProblemSeverity::Warning),
        ("probes.core.method", 29, ProblemSeverity::Error),
    ];
    for (key, line, severity) in expect {
        let p = find(&problems, key);
        assert_eq!((p.line, p.severity), (line, severity), "{key}: {p}");
    }
    // The missing secret file is named; the inline secret's value is not echoed.
    assert!(find(&problems, "asterisk.a.ami.secret_file")
        .message
        .contains("/missing"));
    assert!(
        !render(&problems).contains("inline!"),
        "{}",
        render(&problems)
    );
    // The SIP section without a port is fine (default 5060): no problem for it.
    assert!(problems.iter().all(|p| p.key != "asterisk.b.sip.address"));
}

#[test]
fn syntax_errors_and_missing_sections_are_reported_together() {
    let text = "[node]\nside = \"a\"\nbroken = \n[probes.ping]\nfail_after = 0\n";
    let problems = parse(text, &FakeSecrets::new())
        .err()
        .unwrap_or_else(|| panic!("accepted"));
    assert!(
        problems
            .iter()
            .any(|p| p.line == 3 && p.message.starts_with("TOML syntax")),
        "{}",
        render(&problems)
    );
    find(&problems, "asterisk.a");
    find(&problems, "asterisk.b");
    assert_eq!(find(&problems, "probes.ping.fail_after").line, 5);
}

#[test]
fn a_liveness_window_a_loaded_asterisk_cannot_meet_is_warned_about() {
    let text = example_text().replacen(
        "interval_ms = 250\ntimeout_ms = 1000\n",
        "interval_ms = 1000\ntimeout_ms = 500\n",
        1,
    );
    let (_, warnings) =
        parse(&text, &example_secrets()).unwrap_or_else(|p| panic!("{}", render(&p)));
    let window = warnings
        .iter()
        .find(|w| w.key == "probes.ping.timeout_ms")
        .unwrap_or_else(|| panic!("no warning: {}", render(&warnings)));
    assert!(window.message.contains("625 ms"), "{window}");
    let cadence = warnings
        .iter()
        .find(|w| w.key == "probes.ping.interval_ms")
        .unwrap_or_else(|| panic!("no warning: {}", render(&warnings)));
    assert!(cadence.message.contains("1500 ms"), "{cadence}");
    // The example itself has neither.
    let (_, warnings) =
        parse(&example_text(), &example_secrets()).unwrap_or_else(|p| panic!("{}", render(&p)));
    assert!(
        !warnings.iter().any(|w| w.key.starts_with("probes.ping")),
        "{}",
        render(&warnings)
    );
}

#[test]
fn load_budget_warnings() {
    let mut text = example_text();
    text = text.replace(
        "[probes.core]\n",
        "[probes.core]\ninterval_ms = 400\ntimeout_ms = 300\n",
    );
    let text = text.replacen(
        "method = \"core-status\"\ninterval_ms = 2000\ntimeout_ms = 1000\n",
        "method = \"core-status\"\n",
        1,
    );
    let text = text.replace(
        "context = \"ha-probe\"\nexten = \"probe\"\ninterval_ms = 10000",
        "context = \"ha-probe\"\nexten = \"probe\"\ninterval_ms = 6000",
    );
    let (_, warnings) =
        parse(&text, &example_secrets()).unwrap_or_else(|p| panic!("{}", render(&p)));
    assert!(
        warnings
            .iter()
            .any(|w| w.message.contains("AMI actions per second")),
        "{}",
        render(&warnings)
    );
    assert!(
        warnings.iter().any(|w| w.key == "probes.call.interval_ms"),
        "{}",
        render(&warnings)
    );
}

#[test]
fn secrets_never_appear_in_debug_output() {
    let (config, _) =
        parse(&example_text(), &example_secrets()).unwrap_or_else(|p| panic!("{}", render(&p)));
    let debug = format!("{config:?} {config:#?}");
    for secret in ["s3cret-a", "s3cret-b", "ari-a\"", "ari-b\""] {
        assert!(
            !debug.contains(secret),
            "secret {secret} leaked in Debug output"
        );
    }
    assert!(debug.contains("<redacted>"));
    assert!(
        debug.contains("/etc/astha/ami-a.secret"),
        "the source is fine to show"
    );
}

#[test]
fn example_daemon_sections_are_read() {
    let (config, _) =
        parse(&example_text(), &example_secrets()).unwrap_or_else(|p| panic!("{}", render(&p)));
    let d = &config.daemon;
    let link = d.peer_link.as_ref().expect("[peer_link]");
    assert_eq!(link.links.len(), 2);
    assert_eq!((link.interval_ms, link.dead_after_ms), (200, 600));
    assert_eq!(d.decide.preferred, Side::A);
    assert!(!d.decide.failback);
    assert!(
        d.actuate.relay.is_some() && d.actuate.floating_ip.is_some() && d.actuate.drbd.is_none()
    );
    assert_eq!(d.control.socket, Path::new("/run/astha/control.sock"));
    assert!(d.metrics.listen.is_none(), "metrics are off by default");
}

/// The example's `[service_network]` block, uncommented.
fn example_with_service_network() -> String {
    let text = example_text();
    let start = text.find("# [service_network]").expect("documented");
    let end = start + text[start..].find("\n\n").expect("block ends");
    let block: String = text[start..end]
        .lines()
        .map(|l| format!("{}\n", l.trim_start_matches("# ")))
        .collect();
    format!("{}{block}{}", &text[..start], &text[end..])
}

#[test]
fn the_example_reachability_targets_read_as_documented() {
    let (config, _) = parse(&example_with_service_network(), &example_secrets())
        .unwrap_or_else(|p| panic!("{}", render(&p)));
    let net = &config.daemon.service_network;
    let targets: Vec<String> = net.targets.iter().map(|t| t.to_string()).collect();
    assert_eq!(
        targets,
        ["192.0.2.1 (ICMP echo)", "192.0.2.5:5060 (TCP connect)"]
    );
    assert_eq!(
        (net.interval_ms, net.timeout_ms, net.down_after),
        (1000, 500, 3)
    );
    // Commented out, as shipped: no targets, the carrier alone decides.
    let (config, _) = parse(&example_text(), &example_secrets()).unwrap();
    assert!(config.daemon.service_network.targets.is_empty());
}

#[test]
fn reachability_target_mistakes_are_reported() {
    let text = example_with_service_network()
        .replace("\"192.0.2.5:5060\"]", "\"gateway\", \"192.0.2.1\"]")
        .replace("timeout_ms = 500", "timeout_ms = 1500")
        .replace("down_after = 3", "down_after = 0");
    let problems = parse(&text, &example_secrets()).expect_err("mistakes");
    let all = render(&problems);
    assert!(
        find(&problems, "service_network.targets")
            .message
            .contains("`gateway`: expected an IP address"),
        "{all}"
    );
    let p = find(&problems, "service_network.timeout_ms");
    assert!(p.message.contains("shorter than interval_ms"), "{p}");
    let p = find(&problems, "service_network.down_after");
    assert!(p.message.contains("at least 1"), "{p}");
    // A target listed twice (the wrong one aside) is a mistake too.
    let text = example_with_service_network().replace("\"192.0.2.5:5060\"]", "\"192.0.2.1\"]");
    let problems = parse(&text, &example_secrets()).expect_err("duplicate");
    let p = find(&problems, "service_network.targets");
    assert!(p.message.contains("listed twice"), "{p}");
}

#[test]
fn daemon_section_mistakes_are_reported_with_their_line() {
    let text = example_text().replace(
        "interval_ms = 200\n",
        "interval_ms = 200\nintervall_ms = 5\n",
    );
    let line = text
        .lines()
        .position(|l| l.starts_with("intervall_ms"))
        .unwrap()
        + 1;
    let problems = parse(&text, &example_secrets()).expect_err("a typo is an error");
    let typo = find(&problems, "peer_link.intervall_ms");
    assert_eq!(typo.line, line, "{typo}");
    assert!(
        typo.message.contains("did you mean `interval_ms`"),
        "{typo}"
    );

    let text = example_text().replace("dead_after_ms = 600", "dead_after_ms = 250");
    let problems = parse(&text, &example_secrets()).expect_err("too short a dead time");
    let p = find(&problems, "peer_link.dead_after_ms");
    assert!(p.message.contains("twice interval_ms"), "{p}");
}

#[test]
fn mistakes_in_every_section_are_reported_together() {
    // The daemon's sections are read by the same reader as the rest: a mistake there is listed
    // along with one in [node] and one in the actuators, each with its key and line.
    let text = example_text()
        .replace("side = \"a\"", "side = \"c\"")
        .replace("hold_down_ms = 10000", "hold_down_ms = \"ten seconds\"")
        .replace("mode = \"warm\"", "mode = \"tepid\"")
        .replace("remote = \"192.0.2.11:7390\"", "remote = \"192.0.2.11\"");
    let problems = parse(&text, &example_secrets()).expect_err("four mistakes");
    let line_of = |needle: &str| text.lines().position(|l| l.contains(needle)).map(|i| i + 1);
    for (key, needle) in [
        ("node.side", "side = \"c\""),
        ("decide.hold_down_ms", "ten seconds"),
        ("actuate.asterisk.mode", "tepid"),
        ("peer_link.links[0].remote", "remote = \"192.0.2.11\""),
    ] {
        let p = find(&problems, key);
        assert_eq!(Some(p.line), line_of(needle), "{p}");
        assert_eq!(p.severity, ProblemSeverity::Error, "{p}");
    }
    assert!(
        find(&problems, "actuate.asterisk.mode")
            .message
            .contains("\"cold\", \"warm\""),
        "the accepted values are named"
    );
}

#[test]
fn the_old_peer_section_still_works_with_a_warning_saying_what_to_write() {
    let text = example_text().replace("peer_name = \"pbx-b\"\n", "\n[peer]\nname = \"old-b\"\n");
    let (config, warnings) =
        parse(&text, &example_secrets()).unwrap_or_else(|p| panic!("{}", render(&p)));
    assert_eq!(config.node.peer_name, "old-b");
    let w = find(&warnings, "peer.name");
    assert_eq!(w.severity, ProblemSeverity::Warning);
    assert!(
        w.message.contains("peer_name = \"old-b\"") && w.message.contains("[node]"),
        "{w}"
    );

    // Both spellings at once: which one wins would be a guess, so it is an error.
    let both = example_text().replace(
        "peer_name = \"pbx-b\"\n",
        "peer_name = \"pbx-b\"\n\n[peer]\nname = \"old-b\"\n",
    );
    let problems = parse(&both, &example_secrets()).expect_err("set twice");
    assert_eq!(
        find(&problems, "peer.name").severity,
        ProblemSeverity::Error
    );
}

#[test]
fn the_astdb_user_in_its_old_place_still_works_with_a_warning_saying_what_to_write() {
    let example = example_text();
    assert_eq!(
        parse(&example, &example_secrets())
            .unwrap()
            .0
            .daemon
            .astdb
            .ami_user,
        "astha-contacts"
    );
    let text = example
        .replace("[astdb]\n", "")
        .replace("ami_user = \"astha-contacts\"\n", "")
        .replace(
            "mirror = true\n",
            "mirror = true\nami_user = \"old-writer\"\n",
        );
    let (config, warnings) =
        parse(&text, &example_secrets()).unwrap_or_else(|p| panic!("{}", render(&p)));
    assert_eq!(config.daemon.astdb.ami_user, "old-writer");
    assert!(config.daemon.contacts.mirror);
    let w = find(&warnings, "contacts.ami_user");
    assert_eq!(w.severity, ProblemSeverity::Warning);
    assert!(
        w.message.contains("ami_user = \"old-writer\"") && w.message.contains("[astdb]"),
        "{w}"
    );

    // Both places at once: an error.
    let both = example.replace(
        "mirror = true\n",
        "mirror = true\nami_user = \"old-writer\"\n",
    );
    let problems = parse(&both, &example_secrets()).expect_err("set twice");
    assert_eq!(
        find(&problems, "contacts.ami_user").severity,
        ProblemSeverity::Error
    );
}

/// The example's relay alternatives (the commented `# [actuate.relay]` blocks), each put in
/// place of the berofos section as an administrator would uncomment it.
fn example_with_relay_alternative(number: usize) -> String {
    let text = example_text();
    let lines: Vec<&str> = text.lines().collect();
    let starts: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.trim() == "# [actuate.relay]")
        .map(|(i, _)| i)
        .collect();
    let start = starts[number - 2];
    let block: Vec<&str> = lines[start..]
        .iter()
        .take_while(|l| l.trim() != "#")
        .map(|l| l.strip_prefix("# ").unwrap_or(l))
        .collect();
    let active = lines
        .iter()
        .position(|l| *l == "[actuate.relay]")
        .unwrap_or_else(|| panic!("no active [actuate.relay] in the example"));
    let end = active
        + lines[active..]
            .iter()
            .position(|l| l.starts_with("timeout_ms"))
            .unwrap_or_else(|| panic!("the berofos section ends with timeout_ms"));
    let mut out: Vec<&str> = lines[..active].to_vec();
    out.extend(block);
    out.extend(&lines[end + 1..]);
    out.join("\n")
}

#[test]
fn the_example_relay_topologies_all_leave_a_switchable_relay() {
    for alternative in [2, 3] {
        let text = example_with_relay_alternative(alternative);
        let (config, warnings) = parse(&text, &example_secrets())
            .unwrap_or_else(|p| panic!("alternative {alternative}: {}", render(&p)));
        assert!(
            warnings.is_empty(),
            "alternative {alternative}:\n{}",
            render(&warnings)
        );
        assert!(config.daemon.actuate.relay.is_some());
    }
    // The same USB relay on the server it does not fail safe for is what check-config warns about.
    let wrong_side = example_with_relay_alternative(2)
        .replace("energized_side = \"a\"", "energized_side = \"b\"");
    let (_, warnings) =
        parse(&wrong_side, &example_secrets()).unwrap_or_else(|p| panic!("{}", render(&p)));
    assert!(
        find(&warnings, "actuate.relay.path")
            .message
            .contains("side b cannot switch it"),
        "{}",
        render(&warnings)
    );
}

/// The example's `[alerts]` block with its commented-out sinks switched on.
fn example_with_alert_sinks() -> String {
    let text = example_text();
    let start = text.find("\n[alerts]\n").expect("the example has [alerts]");
    let (before, block) = text.split_at(start);
    let block: Vec<String> = block
        .lines()
        .map(|line| match line.strip_prefix("# ") {
            Some(rest)
                if rest.starts_with("[[alerts.")
                    || rest.split_once(" = ").is_some_and(|(k, _)| {
                        !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                    }) =>
            {
                rest.to_string()
            }
            _ => line.to_string(),
        })
        .collect();
    format!("{before}{}\n", block.join("\n"))
}

#[test]
fn the_example_alert_sinks_read_as_documented() {
    let (config, _) =
        parse(&example_text(), &example_secrets()).unwrap_or_else(|p| panic!("{}", render(&p)));
    // As shipped: the documented defaults, no sink.
    assert_eq!(
        config.alerts.delivery,
        astha::alerts::DeliveryConfig::default()
    );
    assert!(!config.alerts.has_sinks());

    let secrets = example_secrets()
        .file(
            "/etc/astha/ops-chat.url",
            "https://hooks.example.com/services/T0/B0/XYZ\n",
        )
        .file("/etc/astha/ops-chat.token", "tok\n");
    let (config, warnings) =
        parse(&example_with_alert_sinks(), &secrets).unwrap_or_else(|p| panic!("{}", render(&p)));
    assert!(warnings.is_empty(), "{}", render(&warnings));
    let alerts = &config.alerts;
    assert_eq!((alerts.webhooks.len(), alerts.commands.len()), (1, 1));
    let hook = &alerts.webhooks[0];
    assert_eq!(hook.name, "ops-chat");
    assert_eq!(
        hook.url.expose(),
        "https://hooks.example.com/services/T0/B0/XYZ"
    );
    assert_eq!(hook.shown_url, "https://hooks.example.com:443");
    assert_eq!(hook.token.as_ref().map(|t| t.expose()), Some("tok"));
    assert_eq!(hook.token_header.as_deref(), Some("X-Api-Key"));
    assert_eq!(hook.timeout, Duration::from_secs(5));
    assert_eq!(hook.events, astha::alerts::EventKind::SUBSCRIBABLE.to_vec());
    let command = &alerts.commands[0];
    assert_eq!(command.name, "mail");
    assert_eq!(
        command.command,
        ["/usr/local/bin/astha-mail", "oncall@example.com"]
    );
    assert_eq!(
        command.events,
        [
            astha::alerts::EventKind::Takeover,
            astha::alerts::EventKind::AlertRaised
        ]
    );
    // The secret URL and the token stay out of Debug output.
    let shown = format!("{alerts:?}");
    assert!(
        !shown.contains("XYZ") && !shown.contains("tok\""),
        "{shown}"
    );
}

#[test]
fn alert_sink_mistakes_are_reported_by_key_without_the_secrets() {
    let text = format!(
        "{}\n{}",
        example_text(),
        r#"
[[alerts.webhook]]
url = "https://hooks.example.com/SECRETPATH"
url_file = "hook.url"

[[alerts.webhook]]
name = "second"
url = "gopher://example.com/SECRETPATH"
token = "SECRETINLINE"
token_header = "Bad Header"
events = ["takeover", "lunch"]

[[alerts.webhook]]
name = "third"
token_file = "missing.token"

[[alerts.command]]
name = "second"
command = []
timeout_ms = 0
colour = "red"
"#
    );
    let secrets = example_secrets().file("/etc/astha/hook.url", "https://example.com/x");
    let problems = parse(&text, &secrets).expect_err("mistakes are errors");
    let all = render(&problems);
    assert!(
        find(&problems, "alerts.webhook[0].url")
            .message
            .contains("only one of url, url_file and url_env"),
        "{all}"
    );
    assert!(
        find(&problems, "alerts.webhook[1].url")
            .message
            .contains("scheme `gopher` is not supported"),
        "{all}"
    );
    assert!(
        find(&problems, "alerts.webhook[1].token")
            .message
            .contains("use token_file or token_env"),
        "{all}"
    );
    assert!(
        find(&problems, "alerts.webhook[1].token_header")
            .message
            .contains("not a valid HTTP header name"),
        "{all}"
    );
    assert!(
        find(&problems, "alerts.webhook[1].events")
            .message
            .contains("unknown event \"lunch\""),
        "{all}"
    );
    assert!(
        find(&problems, "alerts.webhook[2].url")
            .message
            .contains("required key is missing"),
        "{all}"
    );
    assert!(
        find(&problems, "alerts.webhook[2].token_file")
            .message
            .contains("missing.token"),
        "{all}"
    );
    assert!(
        find(&problems, "alerts.command[0].command")
            .message
            .contains("must name a program"),
        "{all}"
    );
    assert!(
        find(&problems, "alerts.command[0].timeout_ms")
            .message
            .contains("must be above 0"),
        "{all}"
    );
    assert!(
        find(&problems, "alerts.command[0].colour")
            .message
            .contains("unknown key"),
        "{all}"
    );
    assert!(all.contains("two sinks are named \"second\""), "{all}");
    assert!(!all.contains("SECRET"), "{all}");
}
