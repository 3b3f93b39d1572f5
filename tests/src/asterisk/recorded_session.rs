//! A recorded AMI session with a real Asterisk: every chunk both ways in order, with its time, in the format of the fixtures' `*.flow.txt` (read back by the conformance tests).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use super::AMI_USER;
use crate::harness::client::spawn_in_netns;
use crate::harness::HarnessError;

/// `(name, value)` with an owned value, as [`RecordedSession::send`] takes headers.
pub fn owned<'a>((k, v): (&'a str, &str)) -> (&'a str, String) {
    (k, v.to_owned())
}

/// A recorded AMI connection: every chunk both ways, in order, with its time.
#[derive(Debug)]
pub struct RecordedSession {
    stream: TcpStream,
    started: Instant,
    flow: Vec<u8>,
    server: Vec<u8>,
    client: Vec<u8>,
    eof: bool,
}

impl RecordedSession {
    /// Connects to `ami` from inside the network namespace `ns` and reads the banner.
    pub fn connect(ns: &Path, ami: SocketAddr) -> Result<RecordedSession, HarnessError> {
        let (tx, rx) = std::sync::mpsc::channel();
        // A socket created in the namespace stays in it, whichever thread uses it later.
        spawn_in_netns(ns, move || {
            let _ = tx.send(TcpStream::connect(ami));
        })?;
        let stream = rx
            .recv()
            .map_err(|_| HarnessError::Protocol {
                what: "AMI".into(),
                detail: "the netns thread ended".into(),
            })?
            .map_err(|source| HarnessError::Io {
                what: "connect to AMI".into(),
                source,
            })?;
        stream
            .set_read_timeout(Some(Duration::from_millis(50)))
            .map_err(|source| HarnessError::Io {
                what: "AMI socket".into(),
                source,
            })?;
        let mut s = RecordedSession {
            stream,
            started: Instant::now(),
            flow: Vec::new(),
            server: Vec::new(),
            client: Vec::new(),
            eof: false,
        };
        s.read_until(|t| t.contains("Asterisk Call Manager/"))?;
        Ok(s)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.server).into_owned()
    }

    fn marker(&mut self, what: &str) {
        let t = self.started.elapsed().as_secs_f64();
        self.flow
            .extend_from_slice(format!("=== {what} @{t:.3}s ===\n").as_bytes());
    }

    pub fn send(&mut self, headers: &[(&str, String)]) -> Result<(), HarnessError> {
        let mut bytes = Vec::new();
        for (k, v) in headers {
            bytes.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
        }
        bytes.extend_from_slice(b"\r\n");
        self.marker(&format!("C->S {} bytes", bytes.len()));
        self.flow.extend_from_slice(&bytes);
        self.client.extend_from_slice(&bytes);
        self.stream
            .write_all(&bytes)
            .map_err(|source| HarnessError::Io {
                what: "write to AMI".into(),
                source,
            })
    }

    /// Reads until `done(all server text so far)` holds, or EOF, within 10 s.
    pub fn read_until(&mut self, done: impl Fn(&str) -> bool) -> Result<(), HarnessError> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut buf = [0u8; 65_536];
        while !done(&self.text()) {
            if self.eof || Instant::now() > deadline {
                return Err(HarnessError::Timeout {
                    what: "the awaited AMI answer".into(),
                    waited: Duration::from_secs(10),
                });
            }
            match self.stream.read(&mut buf) {
                Ok(0) => {
                    self.marker("S->C EOF (server closed the connection)");
                    self.eof = true;
                }
                Ok(n) => {
                    self.marker(&format!("S->C {n} bytes"));
                    self.flow.extend_from_slice(&buf[..n]);
                    self.server.extend_from_slice(&buf[..n]);
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(source) => {
                    return Err(HarnessError::Io {
                        what: "read from AMI".into(),
                        source,
                    })
                }
            }
        }
        Ok(())
    }

    /// `Login` as the shipped user with `secret`; `events`: the `Events:` header, if any.
    pub fn login(&mut self, secret: &str, events: Option<&str>) -> Result<(), HarnessError> {
        let mut headers = vec![
            ("Action", "Login".to_owned()),
            ("ActionID", "login-ok".to_owned()),
            ("Username", AMI_USER.to_owned()),
            ("Secret", secret.to_owned()),
        ];
        if let Some(e) = events {
            headers.push(("Events", e.to_owned()));
        }
        self.send(&headers)?;
        self.read_until(|t| t.contains("ActionID: login-ok"))
    }

    pub fn logoff(&mut self) -> Result<(), HarnessError> {
        self.send(&[("Action", "Logoff"), ("ActionID", "bye")].map(owned))?;
        self.read_until(|_| false)
            .or_else(|e| if self.eof { Ok(()) } else { Err(e) })
    }

    pub fn save(&self, dir: &Path, name: &str) -> Result<(), HarnessError> {
        write(&dir.join(format!("{name}.server.txt")), &self.server)?;
        write(&dir.join(format!("{name}.client.txt")), &self.client)?;
        write(&dir.join(format!("{name}.flow.txt")), &self.flow)
    }

    /// What the server sent, what the client sent, and both interleaved with markers.
    pub fn recorded(&self) -> (&[u8], &[u8], &[u8]) {
        (&self.server, &self.client, &self.flow)
    }
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), HarnessError> {
    std::fs::write(path, bytes).map_err(|source| HarnessError::Io {
        what: format!("write {}", path.display()),
        source,
    })
}
