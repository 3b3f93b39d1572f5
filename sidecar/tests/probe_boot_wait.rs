//! The one boot wait (`probe::boot::wait_fully_booted`) on the daemon's own AMI connection against the emulator: booted already, a login during boot, a restart, a refused login, no boot in time.

mod common;

use std::time::Duration;

use ami_client::{Client, ConnectionState};
use astha::config::{ProbesConfig, Secret};
use astha::probe::boot::{wait_fully_booted, BootWaitError};
use astha::probe::TargetProbes;
use astha_tests::fake_asterisk::{BootMode, FakeAsterisk};
use common::*;
use tokio::time::Instant;

/// Generous: only a broken wait takes this long.
const SETTLE: Duration = Duration::from_secs(10);

/// The probes' AMI connection to `asterisk`, configured exactly as the daemon's.
fn daemon_connection(asterisk: &FakeAsterisk) -> TargetProbes {
    TargetProbes::new("local", &target_of(asterisk), &ProbesConfig::default())
}

async fn emulator_booting(boot: BootMode) -> FakeAsterisk {
    let mut config = fast_config();
    config.boot = boot;
    emulator(config).await
}

async fn wait_state(client: &Client, wanted: ConnectionState) {
    let mut state = client.state();
    tokio::time::timeout(SETTLE, state.wait_for(|s| *s == wanted))
        .await
        .unwrap_or_else(|_| panic!("no {wanted} within {SETTLE:?}"))
        .unwrap_or_else(|e| panic!("state watch: {e}"));
}

#[tokio::test]
async fn a_booted_asterisk_is_booted_at_its_login() {
    let asterisk = emulator_booting(BootMode::Immediate).await;
    let probes = daemon_connection(&asterisk);
    let started = Instant::now();
    wait_fully_booted(probes.ami().client(), SETTLE)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    println!(
        "booted after {} ms (per-session FullyBooted)",
        started.elapsed().as_millis()
    );
    // Asked again later (a takeover long after the login): answered at once.
    tokio::time::timeout(
        Duration::from_secs(1),
        wait_fully_booted(probes.ami().client(), SETTLE),
    )
    .await
    .unwrap_or_else(|_| panic!("the session's earlier FullyBooted was forgotten"))
    .unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn a_login_during_boot_waits_for_the_broadcast() {
    let asterisk = emulator_booting(BootMode::Manual).await;
    let probes = daemon_connection(&asterisk);
    let client = probes.ami().client().clone();
    wait_state(&client, ConnectionState::LoggedIn).await;
    let waiting = tokio::spawn(async move { wait_fully_booted(&client, SETTLE).await });
    // Logged in, but Asterisk has not finished booting (fixture 22): no answer yet.
    let early = tokio::time::timeout(Duration::from_millis(300), async {
        while !waiting.is_finished() {
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(early.is_err(), "a login alone was taken for booted");
    asterisk.finish_boot();
    let result = tokio::time::timeout(SETTLE, waiting)
        .await
        .unwrap_or_else(|_| panic!("the boot broadcast did not end the wait"))
        .unwrap_or_else(|e| panic!("join: {e}"));
    assert_eq!(result, Ok(()));
}

#[tokio::test]
async fn a_restarted_asterisk_must_boot_again() {
    let asterisk = emulator_booting(BootMode::Manual).await;
    asterisk.finish_boot();
    let probes = daemon_connection(&asterisk);
    let client = probes.ami().client();
    wait_fully_booted(client, SETTLE)
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    // The new process boots as configured: manually, so it stays booting until told.
    asterisk.restart(Duration::from_millis(100)).await;
    let mut booted = client.fully_booted();
    tokio::time::timeout(SETTLE, booted.wait_for(|b| !*b))
        .await
        .unwrap_or_else(|_| panic!("still booted after the restart"))
        .unwrap_or_else(|e| panic!("watch: {e}"));
    wait_state(client, ConnectionState::LoggedIn).await;
    assert_eq!(
        wait_fully_booted(client, Duration::from_millis(300)).await,
        Err(BootWaitError::NotInTime {
            after: Duration::from_millis(300),
            state: "logged in".into()
        }),
        "the FullyBooted of the session before the restart counted"
    );
    asterisk.finish_boot();
    wait_fully_booted(client, SETTLE)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn a_refused_login_ends_the_wait_at_once() {
    let asterisk = emulator_booting(BootMode::Immediate).await;
    let mut target = target_of(&asterisk);
    target.ami.secret = Secret::new("wrong");
    let probes = TargetProbes::new("local", &target, &ProbesConfig::default());
    let started = Instant::now();
    let result = wait_fully_booted(probes.ami().client(), SETTLE * 3).await;
    assert!(
        matches!(&result, Err(BootWaitError::LoginRefused(m)) if m.contains("Authentication failed")),
        "{result:?}"
    );
    assert!(started.elapsed() < SETTLE, "waited for the deadline");
}

#[tokio::test]
async fn no_boot_in_time_says_what_the_connection_was_doing() {
    let asterisk = emulator_booting(BootMode::Manual).await;
    let probes = daemon_connection(&asterisk);
    wait_state(probes.ami().client(), ConnectionState::LoggedIn).await;
    let error = wait_fully_booted(probes.ami().client(), Duration::from_millis(200))
        .await
        .expect_err("never booted");
    assert_eq!(
        error.to_string(),
        "no FullyBooted within 200 ms (AMI connection: logged in)"
    );
}
