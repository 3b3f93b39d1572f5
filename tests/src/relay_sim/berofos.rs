//! A berofos failover switch: its HTTP interface (`GET /?cmd=<group>&<key>=<value>` sets, `GET /config.txt` lists `<group>_<key>=<value>`) and its watchdog.
//!
//! The watchdog behaves as beroNet's tools and integration guides describe it: `wdog` (group 6
//! `wen`) switched on arms it for `wdogitime` seconds (group 2 `wintv`); each kick (the `bnfos
//! --kick` datagram, served by `berofos_gbl4`) starts the interval again; when an interval
//! passes without a kick the device falls back on its own: the relays go to `mode` 0 (A--D),
//! the watchdog state (`wdogstate`, group 6 `wstate`) becomes 2 ("failure") and the watchdog
//! stays off until it is switched on again (which is why beroNet's example scripts set
//! `wdog=1` again before kicking). `0_wretv` is the remaining time, as `wdogrtime` shows it.
//! The clock is checked on every access, so an observer always sees the device's state as of now.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::berofos_gbl4;
use base64::prelude::{Engine as _, BASE64_STANDARD};

use super::Behaviour;

/// The MAC address the simulated device answers to (a beroNet prefix, 00:19:32).
pub const SIM_MAC: [u8; 6] = [0x00, 0x19, 0x32, 0x00, 0x12, 0x1d];

/// What the simulated berofos holds.
#[derive(Debug, Clone)]
pub struct BerofosState {
    /// `"<group>_<key>"` → value, as `/config.txt` lists them.
    pub values: BTreeMap<String, String>,
    pub behaviour: Behaviour,
    /// Every request path received, in order.
    pub requests: Vec<String>,
    /// Kick datagrams accepted (right MAC address).
    pub watchdog_kicks: u32,
    /// Times the watchdog was switched on over HTTP.
    pub watchdog_arms: u32,
    /// Times the watchdog expired and moved the relays by itself.
    pub watchdog_expiries: u32,
    /// When the running watchdog expires (`None`: not running).
    pub watchdog_deadline: Option<Instant>,
    pub unauthorized: u32,
}

impl Default for BerofosState {
    fn default() -> Self {
        let values = [
            ("1_sz", "0"),
            ("1_rm", "1"),
            ("1_p0", "1"),
            ("1_p1", "1"),
            ("2_wen", "0"),
            ("2_wintv", "60"),
            ("2_as", "0"),
            ("2_men", "0"),
            ("3_dhcp", "0"),
            ("4_mode", "1"),
            ("6_wen", "0"),
            ("6_wstate", "0"),
            ("0_wretv", "0"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        BerofosState {
            values,
            behaviour: Behaviour::Normal,
            requests: Vec::new(),
            watchdog_kicks: 0,
            watchdog_arms: 0,
            watchdog_expiries: 0,
            watchdog_deadline: None,
            unauthorized: 0,
        }
    }
}

impl BerofosState {
    /// Brings the watchdog up to `now`: an interval that passed without a kick moves the relays.
    pub fn settle(&mut self, now: Instant) {
        let Some(deadline) = self.watchdog_deadline else {
            self.values.insert("0_wretv".into(), "0".into());
            return;
        };
        if now >= deadline {
            self.watchdog_deadline = None;
            self.watchdog_expiries += 1;
            for (key, value) in [
                ("4_mode", "0"),
                ("6_wen", "0"),
                ("6_wstate", "2"),
                ("0_wretv", "0"),
            ] {
                self.values.insert(key.into(), value.into());
            }
        } else {
            let left = deadline.duration_since(now).as_secs_f64().ceil();
            self.values.insert("0_wretv".into(), format!("{left}"));
        }
    }

    /// The watchdog interval (`wdogitime`), at least one second.
    fn watchdog_interval(&self) -> Duration {
        let secs = self
            .values
            .get("2_wintv")
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(60);
        Duration::from_secs(secs.max(1))
    }

    /// `wdog` switched on (again): the interval starts now.
    fn arm_watchdog(&mut self, now: Instant) {
        self.watchdog_arms += 1;
        self.watchdog_deadline = Some(now + self.watchdog_interval());
        self.values.insert("6_wen".into(), "1".into());
        self.values.insert("6_wstate".into(), "1".into());
    }

    fn disarm_watchdog(&mut self) {
        self.watchdog_deadline = None;
        self.values.insert("6_wen".into(), "0".into());
        self.values.insert("6_wstate".into(), "0".into());
    }

    /// A kick datagram for this device: a running watchdog starts its interval again (a kick
    /// to a watchdog that is off or has expired changes nothing).
    pub fn kick_watchdog(&mut self, now: Instant) {
        self.settle(now);
        self.watchdog_kicks += 1;
        if self.watchdog_deadline.is_some() {
            self.watchdog_deadline = Some(now + self.watchdog_interval());
        }
    }

    /// The watchdog state as `wdogstate` shows it: 0 off, 1 running, 2 expired.
    pub fn watchdog_state(&self) -> &str {
        self.values.get("6_wstate").map_or("0", String::as_str)
    }
}

/// The simulator: an HTTP server on 127.0.0.1 with an ephemeral port.
#[derive(Debug)]
pub struct BerofosSim {
    addr: SocketAddr,
    kick_addr: SocketAddr,
    state: Arc<Mutex<BerofosState>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl BerofosSim {
    /// Start serving on 127.0.0.1 (ephemeral HTTP and kick ports); with `credentials`,
    /// requests must carry that Basic auth.
    pub fn start(credentials: Option<(&str, &str)>) -> std::io::Result<Self> {
        Self::start_on("127.0.0.1:0", "127.0.0.1:0", credentials)
    }

    /// Start serving HTTP on `bind` and the kick datagrams (UDP) on `kick_bind` (a real device
    /// listens on port 50123).
    pub fn start_on(
        bind: &str,
        kick_bind: &str,
        credentials: Option<(&str, &str)>,
    ) -> std::io::Result<Self> {
        let kick_socket = UdpSocket::bind(kick_bind)?;
        let kick_addr = kick_socket.local_addr()?;
        let listener = TcpListener::bind(bind)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let expected_auth = credentials
            .map(|(u, p)| format!("Basic {}", BASE64_STANDARD.encode(format!("{u}:{p}"))));
        let state = Arc::new(Mutex::new(BerofosState::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let kicks = berofos_gbl4::serve(kick_socket, addr, Arc::clone(&state), Arc::clone(&stop))?;
        let http = {
            let state = Arc::clone(&state);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let state = Arc::clone(&state);
                            let auth = expected_auth.clone();
                            std::thread::spawn(move || serve(stream, &state, auth.as_deref()));
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            // Accept poll interval: this is the simulator's loop, not a test wait.
                            std::thread::sleep(Duration::from_millis(2));
                        }
                        Err(_) => break,
                    }
                }
            })
        };
        Ok(BerofosSim {
            addr,
            kick_addr,
            state,
            stop,
            threads: vec![http, kicks],
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where the device takes kick datagrams.
    pub fn kick_addr(&self) -> SocketAddr {
        self.kick_addr
    }

    /// The device's state as of now (an expired watchdog has already moved the relays).
    pub fn state(&self) -> MutexGuard<'_, BerofosState> {
        lock_settled(&self.state)
    }

    pub fn set_behaviour(&self, behaviour: Behaviour) {
        self.state().behaviour = behaviour;
    }

    /// The current `mode` (1 = A--B, 0 = A--D).
    pub fn mode(&self) -> Option<String> {
        self.state().values.get("4_mode").cloned()
    }
}

impl Drop for BerofosSim {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn serve(mut stream: TcpStream, state: &Mutex<BerofosState>, auth: Option<&str>) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut raw = Vec::new();
    let mut buf = [0u8; 1024];
    while !raw.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
        }
        if raw.len() > 16 * 1024 {
            return;
        }
    }
    let head = String::from_utf8_lossy(&raw).into_owned();
    let behaviour = state.lock().unwrap_or_else(|p| p.into_inner()).behaviour;
    match behaviour {
        Behaviour::Silent => {
            // Hold the connection open without answering until the client gives up.
            let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
            let _ = stream.read(&mut buf);
            return;
        }
        Behaviour::Garbage => {
            let _ = stream.write_all(b"\x00\x01 this is not http\r\n\r\n");
            return;
        }
        Behaviour::Normal => {}
    }
    let path = head
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("/")
        .to_owned();
    let authorized = match auth {
        None => true,
        Some(expected) => head.lines().any(|l| {
            l.split_once(':').is_some_and(|(k, v)| {
                k.trim().eq_ignore_ascii_case("authorization") && v.trim() == expected
            })
        }),
    };
    let (status, body) = {
        let mut st = lock_settled(state);
        st.requests.push(path.clone());
        if !authorized {
            st.unauthorized += 1;
            ("401 Unauthorized", "unauthorized".to_owned())
        } else if path == "/config.txt" {
            let mut body = String::from("berofos configuration\n");
            for (k, v) in &st.values {
                body.push_str(&format!("{k}={v}\n"));
            }
            ("200 OK", body)
        } else if let Some(query) = path.strip_prefix("/?") {
            apply(&mut st, query)
        } else {
            ("404 Not Found", "not found".to_owned())
        }
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes());
}

fn apply(st: &mut BerofosState, query: &str) -> (&'static str, String) {
    let pairs: Vec<(&str, &str)> = query.split('&').filter_map(|p| p.split_once('=')).collect();
    let Some(group) = pairs.iter().find(|(k, _)| *k == "cmd").map(|(_, v)| *v) else {
        return ("400 Bad Request", "missing cmd".to_owned());
    };
    for (k, v) in pairs.iter().filter(|(k, _)| *k != "cmd") {
        let key = format!("{group}_{k}");
        if !st.values.contains_key(&key) {
            return ("400 Bad Request", format!("unknown parameter {key}"));
        }
        st.values.insert(key, (*v).to_owned());
    }
    if group == "6" {
        match pairs.iter().find(|(k, _)| *k == "wen").map(|(_, v)| *v) {
            Some("1") => st.arm_watchdog(Instant::now()),
            Some("0") => st.disarm_watchdog(),
            _ => {}
        }
    }
    ("200 OK", "<html>ok</html>".to_owned())
}

/// Locks the state and brings its watchdog up to now.
pub(super) fn lock_settled(state: &Mutex<BerofosState>) -> MutexGuard<'_, BerofosState> {
    let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
    st.settle(Instant::now());
    st
}
