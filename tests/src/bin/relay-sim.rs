//! `relay-sim`: run one relay simulator (numato, lcus, line, berofos) for a harness and print where it listens.
//!
//! Serial simulators print the pty path (and create `--link PATH` as a symlink to it when
//! given); the berofos simulator prints `http://ADDR`, and takes its watchdog kicks on UDP
//! `--kick ADDR:PORT` (default: the HTTP address's IP, port 50123 as on a real device). It
//! serves until killed.
//!
//! With `--stdin-control` it also reads commands on stdin, one reply line each on stdout:
//! `behaviour normal|silent|garbage` (how the device answers from now on) and `state`
//! (`ok mode=M requests=N wdog=S kicks=K arms=A expiries=E` for berofos, where `wdog` is the
//! `wdogstate` value and `requests` counts HTTP requests, `cmd4` the ones that set the mode;
//! `ok coils=0,1,... commands=N` for serial relays).

use std::io::BufRead;

use astha_tests::relay_sim::{
    Behaviour, BerofosSim, LcusProtocol, LineProtocol, NumatoProtocol, PtyRelaySim,
};

/// The UDP port a real berofos takes `bnfos --kick` datagrams on.
const GBL4_PORT: u16 = 50123;

/// A running simulator the control loop can steer.
enum Sim {
    Serial(PtyRelaySim),
    Berofos(BerofosSim),
}

impl Sim {
    fn set_behaviour(&self, behaviour: Behaviour) {
        match self {
            Sim::Serial(s) => s.set_behaviour(behaviour),
            Sim::Berofos(s) => s.set_behaviour(behaviour),
        }
    }

    fn state(&self) -> String {
        match self {
            Sim::Serial(s) => {
                let state = s.state();
                let on: Vec<String> = state
                    .coils
                    .iter()
                    .enumerate()
                    .filter(|(_, on)| **on)
                    .map(|(i, _)| i.to_string())
                    .collect();
                format!(
                    "ok coils={} commands={}",
                    on.join(","),
                    state.commands.len()
                )
            }
            Sim::Berofos(s) => {
                let st = s.state();
                format!(
                    "ok mode={} requests={} cmd4={} wdog={} kicks={} arms={} expiries={}",
                    st.values.get("4_mode").map_or("?", String::as_str),
                    st.requests.len(),
                    st.requests
                        .iter()
                        .filter(|r| r.starts_with("/?cmd=4&"))
                        .count(),
                    st.watchdog_state(),
                    st.watchdog_kicks,
                    st.watchdog_arms,
                    st.watchdog_expiries,
                )
            }
        }
    }
}

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
    let kick = args
        .iter()
        .position(|a| a == "--kick")
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| {
            let ip = bind.rsplit_once(':').map_or("127.0.0.1", |(ip, _)| ip);
            format!("{ip}:{GBL4_PORT}")
        });
    let control = args.iter().any(|a| a == "--stdin-control");
    let serial = |sim: std::io::Result<PtyRelaySim>| -> Sim {
        let sim = sim.unwrap_or_else(|e| fail(&format!("cannot create pty: {e}")));
        if let Some(link) = link {
            let _ = std::fs::remove_file(link);
            if let Err(e) = std::os::unix::fs::symlink(sim.path(), link) {
                fail(&format!("cannot link {link}: {e}"));
            }
        }
        println!("{}", sim.path().display());
        Sim::Serial(sim)
    };
    match kind {
        "numato" => hold(serial(PtyRelaySim::start(NumatoProtocol::default())), control),
        "lcus" => hold(serial(PtyRelaySim::start(LcusProtocol::default())), control),
        "line" => hold(serial(PtyRelaySim::start(LineProtocol::new(false))), control),
        "berofos" => {
            let sim = BerofosSim::start_on(bind, &kick, None)
                .unwrap_or_else(|e| fail(&format!("cannot listen on {bind} and {kick}: {e}")));
            println!("http://{}", sim.addr());
            hold(Sim::Berofos(sim), control)
        }
        _ => fail(
            "usage: relay-sim numato|lcus|line|berofos [--link PATH] [--http ADDR:PORT] [--kick ADDR:PORT] [--stdin-control]",
        ),
    }
}

fn hold(sim: Sim, control: bool) -> ! {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    if control {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            let reply = match line.split_whitespace().collect::<Vec<_>>().as_slice() {
                ["behaviour", "normal"] => behave(&sim, Behaviour::Normal),
                ["behaviour", "silent"] => behave(&sim, Behaviour::Silent),
                ["behaviour", "garbage"] => behave(&sim, Behaviour::Garbage),
                ["state"] => sim.state(),
                [] => continue,
                _ => format!(
                    "error: unknown command {line:?} (behaviour normal|silent|garbage, state)"
                ),
            };
            println!("{reply}");
            let _ = std::io::stdout().flush();
        }
    }
    let _keep = sim;
    loop {
        std::thread::park();
    }
}

fn behave(sim: &Sim, behaviour: Behaviour) -> String {
    sim.set_behaviour(behaviour);
    "ok".to_owned()
}

fn fail(msg: &str) -> ! {
    eprintln!("relay-sim: {msg}");
    std::process::exit(2);
}
