//! `astha alert test` as a process: one line per sink, exit codes for scripts (0 all delivered, 2 one failed, 3 no sink or a bad configuration), secrets never printed.

mod common;

use std::process::Output;

use common::webhook::{Answer, WebhookServer};
use common::Scratch;

/// A valid node configuration followed by `alerts` (TOML).
fn write_config(scratch: &Scratch, alerts: &str) -> String {
    scratch.write("ami.secret", "hasecret\n");
    let text = format!(
        r#"[node]
side = "b"
name = "pbx-b"
peer_name = "pbx-a"
[asterisk.a.ami]
address = "127.0.0.2:5038"
username = "hasidecar"
secret_file = "ami.secret"
[asterisk.b.ami]
address = "127.0.0.3:5038"
username = "hasidecar"
secret_file = "ami.secret"
{alerts}"#
    );
    scratch
        .write("astha.toml", &text)
        .to_str()
        .expect("utf-8 path")
        .to_string()
}

/// Runs `astha alert test` off the runtime (the webhook server keeps serving meanwhile).
async fn alert_test(config: &str, json: bool) -> Output {
    let mut args = vec![
        "alert".to_string(),
        "test".to_string(),
        "--config".to_string(),
        config.to_string(),
    ];
    if json {
        args.push("--json".into());
    }
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_astha"))
            .args(&args)
            .output()
            .expect("run astha")
    })
    .await
    .expect("join")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sink_gets_a_test_event_and_reports_its_result() {
    let scratch = Scratch::new("alert-cli");
    let server = WebhookServer::start(&[]).await;
    let received = scratch.0.join("received.json");
    scratch.write(
        "hook.url",
        &format!("{}\n", server.url("/hooks/SECRETPATH")),
    );
    scratch.write("hook.token", "SECRETTOKEN\n");
    let alerts = format!(
        r#"
[[alerts.webhook]]
name = "ops-chat"
url_file = "hook.url"
token_file = "hook.token"

[[alerts.command]]
name = "log"
command = ["sh", "-c", "cat > '{}'"]
"#,
        received.display()
    );
    let config = write_config(&scratch, &alerts);
    let out = alert_test(&config, false).await;
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].starts_with("ok      webhook ops-chat (http://127.0.0.1:")
            && lines[0].contains("HTTP 200"),
        "{text}"
    );
    assert!(
        lines[1].starts_with("ok      command log (sh): exit status 0"),
        "{text}"
    );
    assert!(!text.contains("SECRET"), "{text}");
    // What both sinks got.
    let posted = server.wait_for(1, std::time::Duration::from_secs(5)).await;
    assert!(posted[0]
        .head
        .starts_with("POST /hooks/SECRETPATH HTTP/1.1"));
    assert_eq!(
        posted[0].header("Authorization"),
        Some("Bearer SECRETTOKEN")
    );
    let event = posted[0].json();
    assert_eq!(event["event"], "test");
    assert_eq!(event["node"], "pbx-b");
    let from_command: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&received).expect("command ran"))
            .expect("JSON on stdin");
    assert_eq!(from_command["event"], "test");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_failing_sink_makes_it_exit_2_and_says_why() {
    let scratch = Scratch::new("alert-cli-fail");
    let refusing = WebhookServer::start(&[Answer::Status(401)]).await;
    let alerts = format!(
        r#"
[[alerts.webhook]]
name = "pager"
url = "{}"

[[alerts.command]]
name = "broken"
command = ["sh", "-c", "echo 'mail: command not found' >&2; exit 127"]
"#,
        refusing.url("/hook")
    );
    let config = write_config(&scratch, &alerts);
    let out = alert_test(&config, false).await;
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains("FAILED  webhook pager (http://127.0.0.1:")
            && text.contains("answered HTTP 401"),
        "{text}"
    );
    assert!(
        text.contains(
            "FAILED  command broken (sh): exited with status 127: mail: command not found"
        ),
        "{text}"
    );
    // --json: one object per sink.
    let out = alert_test(&config, true).await;
    let results: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(results.len(), 2);
    // The webhook answered 200 this time (the server's script had one 401).
    assert_eq!(results[0]["ok"], true, "{results:?}");
    assert_eq!(results[1]["ok"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_sink_or_a_bad_section_is_a_usage_error() {
    let scratch = Scratch::new("alert-cli-none");
    let config = write_config(&scratch, "");
    let out = alert_test(&config, false).await;
    assert_eq!(out.status.code(), Some(3));
    assert!(stdout(&out).contains("no [[alerts.webhook]] or [[alerts.command]] configured"));

    let config = write_config(
        &scratch,
        "\n[[alerts.webhook]]\nurl = \"ftp://example.com/SECRETPATH\"\ntoken = \"inline\"\n",
    );
    let out = alert_test(&config, false).await;
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(text.contains("alerts.webhook[0].url"), "{text}");
    assert!(text.contains("scheme `ftp` is not supported"), "{text}");
    assert!(
        text.contains("alerts.webhook[0].token") && text.contains("use token_file or token_env"),
        "{text}"
    );
    assert!(!text.contains("SECRETPATH"), "{text}");
}
