//! Client for the ami-stream benchmark (`bench/ami-stream`): logs in through the
//! normal `Client` API, subscribes, sends a Ping, counts events until `UserEvent: BenchEnd`.
//!
//! Usage: `stream_bench PORT` (env `AMI_BENCH_RT=multi` for a multi-thread runtime; the default
//! is a current-thread runtime). Prints
//! `ours events=N seconds=S events_per_s=R lagged=L bad=B` where `lagged` counts events the
//! client dropped for this subscriber and `bad` counts events without a `Privilege` header
//! (which would mean broken framing).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use ami_client::{Action, Client, ClientConfig, RecvError};

fn main() -> ExitCode {
    let Some(port) = std::env::args().nth(1).and_then(|p| p.parse::<u16>().ok()) else {
        eprintln!("usage: stream_bench PORT");
        return ExitCode::from(2);
    };
    let multi = std::env::var("AMI_BENCH_RT").is_ok_and(|v| v == "multi");
    let runtime = if multi {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    };
    let result = match runtime {
        Ok(runtime) => runtime.block_on(run(port)),
        Err(e) => Err(format!("cannot start the tokio runtime: {e}")),
    };
    match result {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("stream_bench: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(port: u16) -> Result<String, String> {
    let mut config = ClientConfig::new(format!("127.0.0.1:{port}"), "bench", "bench");
    config.server_name = "bench".into();
    let client = Client::connect(config);
    let mut events = client.subscribe();
    client
        .wait_logged_in(Duration::from_secs(10))
        .await
        .map_err(|e| e.to_string())?;
    let start = Instant::now();
    client
        .send(Action::ping())
        .await
        .map_err(|e| e.to_string())?;
    let (mut count, mut lagged, mut bad) = (0u64, 0u64, 0u64);
    loop {
        match events.recv().await {
            Ok(event) => {
                if event.name() == "UserEvent" && event.get("UserEvent") == Some("BenchEnd") {
                    break;
                }
                if event.get("Privilege").is_none() {
                    bad += 1;
                }
                count += 1;
            }
            Err(RecvError::Lagged { missed }) => lagged += missed,
            Err(RecvError::Closed) => return Err(format!("stream closed after {count} events")),
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    client.close().await;
    Ok(format!(
        "ours events={count} seconds={seconds:.3} events_per_s={:.0} lagged={lagged} bad={bad}",
        count as f64 / seconds
    ))
}
