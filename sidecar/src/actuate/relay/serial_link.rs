//! A lazily opened serial port with deadline-bounded reads, shared by the serial relay drivers.
//!
//! The port is opened on first use and dropped after any I/O error, so a USB relay that was
//! unplugged and plugged back in is picked up again by the next command.

use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serialport::{ClearBuffer, SerialPort};

use super::RelayError;

/// Replies longer than this are garbage, not a relay talking.
const MAX_REPLY: usize = 4096;

pub(crate) struct SerialLink {
    path: PathBuf,
    baud: u32,
    timeout: Duration,
    port: Option<Box<dyn SerialPort>>,
}

impl std::fmt::Debug for SerialLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SerialLink")
            .field("path", &self.path)
            .field("baud", &self.baud)
            .field("open", &self.port.is_some())
            .finish()
    }
}

impl SerialLink {
    pub(crate) fn new(path: PathBuf, baud: u32, timeout: Duration) -> Self {
        SerialLink {
            path,
            baud,
            timeout,
            port: None,
        }
    }

    pub(crate) fn path(&self) -> &std::path::Path {
        &self.path
    }

    fn port(&mut self) -> Result<&mut Box<dyn SerialPort>, RelayError> {
        if self.port.is_none() {
            let port = serialport::new(self.path.to_string_lossy(), self.baud)
                .timeout(self.timeout)
                .open()
                .map_err(|source| RelayError::Open {
                    path: self.path.clone(),
                    source,
                })?;
            self.port = Some(port);
        }
        match self.port.as_mut() {
            Some(port) => Ok(port),
            None => Err(RelayError::Internal(
                "serial port vanished after opening".into(),
            )),
        }
    }

    /// Forget the port so the next command reopens it.
    pub(crate) fn invalidate(&mut self) {
        self.port = None;
    }

    /// Drop stale input, then write `bytes` completely.
    pub(crate) fn send(&mut self, command: &str, bytes: &[u8]) -> Result<(), RelayError> {
        let result = (|| {
            let port = self.port()?;
            // Stale bytes (a late reply to an earlier command) would be taken for this reply.
            let _ = port.clear(ClearBuffer::Input);
            port.write_all(bytes).map_err(|e| io_error(command, e))?;
            port.flush().map_err(|e| io_error(command, e))
        })();
        if result.is_err() {
            self.invalidate();
        }
        result
    }

    /// Read until `complete` finds the end of a reply in the bytes received so far; returns
    /// all bytes received. Fails with `Timeout` when the device stays silent past the
    /// per-command timeout.
    pub(crate) fn read_reply(
        &mut self,
        command: &str,
        complete: impl Fn(&[u8]) -> bool,
    ) -> Result<Vec<u8>, RelayError> {
        let result = self.read_reply_inner(command, complete);
        if matches!(
            result,
            Err(RelayError::Unplugged { .. }) | Err(RelayError::Io { .. })
        ) {
            self.invalidate();
        }
        result
    }

    fn read_reply_inner(
        &mut self,
        command: &str,
        complete: impl Fn(&[u8]) -> bool,
    ) -> Result<Vec<u8>, RelayError> {
        let waited = self.timeout;
        let deadline = Instant::now() + waited;
        let mut reply = Vec::new();
        let mut buf = [0u8; 256];
        let port = self.port()?;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(timeout_or_garbage(command, &reply, waited));
            }
            port.set_timeout(remaining).map_err(|e| RelayError::Io {
                command: command.to_owned(),
                source: io::Error::other(e.to_string()),
            })?;
            match port.read(&mut buf) {
                Ok(0) => {
                    return Err(RelayError::Unplugged {
                        detail: format!("end of file while waiting for the reply to `{command}`"),
                    })
                }
                Ok(n) => {
                    reply.extend_from_slice(&buf[..n]);
                    if complete(&reply) {
                        return Ok(reply);
                    }
                    if reply.len() > MAX_REPLY {
                        return Err(RelayError::UnexpectedReply {
                            command: command.to_owned(),
                            reply: printable(&reply[..64]),
                        });
                    }
                }
                Err(e)
                    if e.kind() == io::ErrorKind::TimedOut
                        || e.kind() == io::ErrorKind::WouldBlock =>
                {
                    if Instant::now() >= deadline {
                        return Err(timeout_or_garbage(command, &reply, waited));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io_error(command, e)),
            }
        }
    }
}

/// Silence is a timeout; a partial reply that never completed is garbage.
fn timeout_or_garbage(command: &str, reply: &[u8], waited: Duration) -> RelayError {
    if reply.is_empty() {
        RelayError::Timeout {
            command: command.to_owned(),
            waited,
        }
    } else {
        RelayError::UnexpectedReply {
            command: command.to_owned(),
            reply: printable(reply),
        }
    }
}

/// A closed pty or an unplugged USB adapter shows up as one of these.
fn io_error(command: &str, e: io::Error) -> RelayError {
    let gone = matches!(
        e.kind(),
        io::ErrorKind::BrokenPipe | io::ErrorKind::NotConnected | io::ErrorKind::UnexpectedEof
    ) || e.raw_os_error() == Some(libc::EIO)
        || e.raw_os_error() == Some(libc::ENXIO)
        || e.raw_os_error() == Some(libc::ENODEV);
    if gone {
        RelayError::Unplugged {
            detail: format!("{e} during `{command}`"),
        }
    } else {
        RelayError::Io {
            command: command.to_owned(),
            source: e,
        }
    }
}

/// Bytes from a device, shown safely in an error message.
pub(crate) fn printable(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).chars().take(120).collect()
}
