//! Processes started inside a namespace, each in its own process group, killed (group and all) on drop.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

use super::HarnessError;

/// A running process; its whole process group is killed when this is dropped.
#[derive(Debug)]
pub struct Proc {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Option<Receiver<String>>,
    log: PathBuf,
}

/// How the process's stdio is wired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stdio2 {
    /// stdout and stderr both to the log file.
    Log,
    /// stdin piped, stdout read line by line ([`Proc::read_line`]), stderr to the log file.
    Pipe,
}

impl Proc {
    /// Starts `program args` in namespace `netns` (`None`: the current one), logging to
    /// `log_dir/<name>.log`.
    pub fn spawn(
        name: &str,
        netns: Option<&str>,
        program: &Path,
        args: &[String],
        log_dir: &Path,
        stdio: Stdio2,
    ) -> Result<Proc, HarnessError> {
        let log = log_dir.join(format!("{name}.log"));
        let log_file = File::create(&log).map_err(|source| HarnessError::Io {
            what: format!("create {}", log.display()),
            source,
        })?;
        let mut command = match netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(program);
                c
            }
            None => Command::new(program),
        };
        command.args(args).process_group(0);
        let err_file = log_file.try_clone().map_err(|source| HarnessError::Io {
            what: "duplicate log file".into(),
            source,
        })?;
        match stdio {
            Stdio2::Log => {
                command
                    .stdin(Stdio::null())
                    .stdout(log_file)
                    .stderr(err_file);
            }
            Stdio2::Pipe => {
                command
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(err_file);
            }
        }
        let mut child = command.spawn().map_err(|source| HarnessError::Spawn {
            program: program.display().to_string(),
            source,
        })?;
        let stdin = child.stdin.take();
        let lines = child.stdout.take().map(|out| {
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
            rx
        });
        Ok(Proc {
            name: name.to_owned(),
            child,
            stdin,
            lines,
            log,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The next stdout line (only for [`Stdio2::Pipe`]), waiting at most `timeout`.
    pub fn read_line(&mut self, timeout: Duration) -> Result<String, HarnessError> {
        let rx = self.lines.as_ref().ok_or_else(|| HarnessError::Protocol {
            what: self.name.clone(),
            detail: "stdout is not piped".into(),
        })?;
        match rx.recv_timeout(timeout) {
            Ok(line) => Ok(line),
            Err(RecvTimeoutError::Timeout) => Err(HarnessError::Timeout {
                what: format!("a line from {}", self.name),
                waited: timeout,
            }),
            Err(RecvTimeoutError::Disconnected) => Err(HarnessError::Exited {
                name: self.name.clone(),
                log: self.log.clone(),
                tail: std::fs::read_to_string(&self.log).unwrap_or_default(),
            }),
        }
    }

    /// Hands the stdout lines to the caller (only for [`Stdio2::Pipe`]).
    pub fn take_lines(&mut self) -> Option<Receiver<String>> {
        self.lines.take()
    }

    /// Writes one line to stdin and returns the reply line.
    pub fn request(&mut self, line: &str, timeout: Duration) -> Result<String, HarnessError> {
        let stdin = self.stdin.as_mut().ok_or_else(|| HarnessError::Protocol {
            what: self.name.clone(),
            detail: "stdin is not piped".into(),
        })?;
        writeln!(stdin, "{line}").map_err(|source| HarnessError::Io {
            what: format!("write to {}", self.name),
            source,
        })?;
        self.read_line(timeout)
    }

    /// Whether the process has exited.
    pub fn has_exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends `signal` to the whole process group.
    pub fn signal(&self, signal: Signal) -> Result<(), HarnessError> {
        let pgid = Pid::from_raw(i32::try_from(self.child.id()).unwrap_or(i32::MAX));
        killpg(pgid, signal).map_err(|e| HarnessError::Io {
            what: format!("signal {signal} to {}", self.name),
            source: std::io::Error::from(e),
        })
    }

    /// Kills the process group and reaps the process.
    pub fn kill(&mut self) {
        let _ = self.signal(Signal::SIGKILL);
        let _ = self.child.wait();
    }

    /// Asks politely (SIGTERM), then kills whatever is left after `grace`.
    pub fn stop(&mut self, grace: Duration) {
        let _ = self.signal(Signal::SIGTERM);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if self.has_exited() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}
