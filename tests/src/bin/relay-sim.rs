//! `relay-sim`: run one relay simulator (numato, lcus, line, berofos) for a harness and print where it listens.
//!
//! Serial simulators print the pty path (and create `--link PATH` as a symlink to it when
//! given); the berofos simulator prints `http://ADDR`. It serves until killed.

use astha_tests::relay_sim::{BerofosSim, LcusProtocol, LineProtocol, NumatoProtocol, PtyRelaySim};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let kind = args.first().map(String::as_str).unwrap_or("");
    let link = args
        .iter()
        .position(|a| a == "--link")
        .and_then(|i| args.get(i + 1));
    let bind = args
        .iter()
        .position(|a| a == "--http")
        .and_then(|i| args.get(i + 1))
        .map_or("127.0.0.1:0", |s| s);
    let serial = |sim: std::io::Result<PtyRelaySim>| -> PtyRelaySim {
        let sim = sim.unwrap_or_else(|e| fail(&format!("cannot create pty: {e}")));
        if let Some(link) = link {
            let _ = std::fs::remove_file(link);
            if let Err(e) = std::os::unix::fs::symlink(sim.path(), link) {
                fail(&format!("cannot link {link}: {e}"));
            }
        }
        println!("{}", sim.path().display());
        sim
    };
    match kind {
        "numato" => hold(serial(PtyRelaySim::start(NumatoProtocol::default()))),
        "lcus" => hold(serial(PtyRelaySim::start(LcusProtocol::default()))),
        "line" => hold(serial(PtyRelaySim::start(LineProtocol::new(false)))),
        "berofos" => {
            let sim = BerofosSim::start_on(bind, None)
                .unwrap_or_else(|e| fail(&format!("cannot listen on {bind}: {e}")));
            println!("http://{}", sim.addr());
            hold(sim)
        }
        _ => fail("usage: relay-sim numato|lcus|line|berofos [--link PATH] [--http ADDR:PORT]"),
    }
}

fn hold<T>(sim: T) -> ! {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let _keep = sim;
    loop {
        std::thread::park();
    }
}

fn fail(msg: &str) -> ! {
    eprintln!("relay-sim: {msg}");
    std::process::exit(2);
}
