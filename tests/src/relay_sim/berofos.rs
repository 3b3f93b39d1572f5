//! A berofos failover switch's HTTP interface: `GET /?cmd=<group>&<key>=<value>` sets, `GET /config.txt` lists `<group>_<key>=<value>`.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use base64::prelude::{Engine as _, BASE64_STANDARD};

use super::Behaviour;

/// What the simulated berofos holds.
#[derive(Debug, Clone)]
pub struct BerofosState {
    /// `"<group>_<key>"` → value, as `/config.txt` lists them.
    pub values: BTreeMap<String, String>,
    pub behaviour: Behaviour,
    /// Every request path received, in order.
    pub requests: Vec<String>,
    pub watchdog_kicks: u32,
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
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        BerofosState {
            values,
            behaviour: Behaviour::Normal,
            requests: Vec::new(),
            watchdog_kicks: 0,
            unauthorized: 0,
        }
    }
}

/// The simulator: an HTTP server on 127.0.0.1 with an ephemeral port.
#[derive(Debug)]
pub struct BerofosSim {
    addr: SocketAddr,
    state: Arc<Mutex<BerofosState>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl BerofosSim {
    /// Start serving; with `credentials`, requests must carry that Basic auth.
    pub fn start(credentials: Option<(&str, &str)>) -> std::io::Result<Self> {
        Self::start_on("127.0.0.1:0", credentials)
    }

    pub fn start_on(bind: &str, credentials: Option<(&str, &str)>) -> std::io::Result<Self> {
        let listener = TcpListener::bind(bind)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let expected_auth = credentials
            .map(|(u, p)| format!("Basic {}", BASE64_STANDARD.encode(format!("{u}:{p}"))));
        let state = Arc::new(Mutex::new(BerofosState::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
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
            state,
            stop,
            thread: Some(thread),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn state(&self) -> MutexGuard<'_, BerofosState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
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
        if let Some(t) = self.thread.take() {
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
        let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
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
    if group == "6" && pairs.iter().any(|(k, v)| *k == "wen" && *v == "1") {
        st.watchdog_kicks += 1;
        st.values.insert("6_wstate".into(), "1".into());
    }
    ("200 OK", "<html>ok</html>".to_owned())
}
