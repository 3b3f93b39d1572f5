//! A relay whose line-oriented serial protocol is described entirely by the configuration (e.g. a Digium R-Series switch).
//!
//! Each command is a string plus a line ending; replies are lines matched exactly or by
//! regex. A reply line that matches neither the expected reply, the error reply nor the
//! command's echo is garbage and fails the command at once.

use std::time::Duration;

use regex_lite::Regex;

use super::serial_link::SerialLink;
use super::{DeviceWatchdog, Relay, RelayCapabilities, RelayError};
use crate::actuate::config::{LineCommand, LineProfileConfig, ReplyMatch};
use crate::side::Side;

/// A compiled [`ReplyMatch`].
#[derive(Debug, Clone)]
enum Matcher {
    Exact(String),
    Regex(Regex),
}

impl Matcher {
    fn compile(m: &ReplyMatch) -> Result<Self, RelayError> {
        Ok(match m {
            ReplyMatch::Exact(s) => Matcher::Exact(s.clone()),
            ReplyMatch::Regex(r) => {
                Matcher::Regex(Regex::new(r).map_err(|e| {
                    RelayError::Config(format!("line profile: bad regex {r:?}: {e}"))
                })?)
            }
        })
    }

    fn matches(&self, line: &str) -> bool {
        match self {
            Matcher::Exact(s) => line == s,
            Matcher::Regex(r) => r.is_match(line),
        }
    }
}

/// A [`LineCommand`] with its expected reply compiled.
#[derive(Debug)]
struct CompiledCommand {
    send: String,
    expect: Option<Matcher>,
}

impl CompiledCommand {
    fn compile(c: &LineCommand) -> Result<Self, RelayError> {
        Ok(CompiledCommand {
            send: c.send.clone(),
            expect: c.expect.as_ref().map(Matcher::compile).transpose()?,
        })
    }
}

#[derive(Debug)]
struct ReadBack {
    send: String,
    side_a: Matcher,
    side_b: Matcher,
}

#[derive(Debug)]
pub struct LineProfileRelay {
    link: SerialLink,
    line_ending: String,
    echo: bool,
    select_a: CompiledCommand,
    select_b: CompiledCommand,
    read_back: Option<ReadBack>,
    kick: Option<CompiledCommand>,
    watchdog: Option<DeviceWatchdog>,
    identify: Option<CompiledCommand>,
    error_reply: Option<Matcher>,
}

impl LineProfileRelay {
    /// Compiles every pattern up front, so a bad regex is a configuration error, not a
    /// failure in the middle of a takeover.
    pub fn new(cfg: LineProfileConfig) -> Result<Self, RelayError> {
        let read_back = match &cfg.read_back {
            Some(r) => Some(ReadBack {
                send: r.send.clone(),
                side_a: Matcher::compile(&r.side_a)?,
                side_b: Matcher::compile(&r.side_b)?,
            }),
            None => None,
        };
        Ok(LineProfileRelay {
            link: SerialLink::new(
                cfg.path.clone(),
                cfg.baud,
                Duration::from_millis(cfg.timeout_ms),
            ),
            line_ending: cfg.line_ending.clone(),
            echo: cfg.echo,
            select_a: CompiledCommand::compile(&cfg.select_a)?,
            select_b: CompiledCommand::compile(&cfg.select_b)?,
            read_back,
            kick: cfg
                .kick_watchdog
                .as_ref()
                .map(|w| CompiledCommand::compile(&w.kick))
                .transpose()?,
            watchdog: cfg.kick_watchdog.as_ref().map(|w| DeviceWatchdog {
                falls_back_to: w.falls_back_to,
                kick_every: Duration::from_millis(w.kick_every_ms),
            }),
            identify: cfg
                .identify
                .as_ref()
                .map(CompiledCommand::compile)
                .transpose()?,
            error_reply: cfg.error_reply.as_ref().map(Matcher::compile).transpose()?,
        })
    }

    /// Send `send` and wait for the first meaningful reply line that one of `accept`
    /// recognises; returns the index of the matcher that accepted it.
    fn exchange(&mut self, send: &str, accept: &[&Matcher]) -> Result<usize, RelayError> {
        let bytes = format!("{send}{}", self.line_ending);
        self.link.send(send, bytes.as_bytes())?;
        if accept.is_empty() {
            return Ok(0);
        }
        // Bytes received but not yet split into lines (a reply may arrive in pieces).
        let mut pending: Vec<u8> = Vec::new();
        loop {
            let Some(newline) = pending.iter().position(|&b| b == b'\n') else {
                let more = self.link.read_reply(send, |b| b.contains(&b'\n'))?;
                pending.extend_from_slice(&more);
                continue;
            };
            let raw_line: Vec<u8> = pending.drain(..=newline).collect();
            let text = String::from_utf8_lossy(&raw_line);
            let line = text.trim_matches(['\r', '\n', ' ', '\t']);
            if line.is_empty() || (self.echo && line == send) {
                continue;
            }
            if let Some(i) = accept.iter().position(|m| m.matches(line)) {
                return Ok(i);
            }
            if self.error_reply.as_ref().is_some_and(|m| m.matches(line)) {
                return Err(RelayError::DeviceError {
                    command: send.to_owned(),
                    reply: line.to_owned(),
                });
            }
            return Err(RelayError::UnexpectedReply {
                command: send.to_owned(),
                reply: line.to_owned(),
            });
        }
    }

    fn run(&mut self, which: Which) -> Result<(), RelayError> {
        let command = match which {
            Which::SelectA => &self.select_a,
            Which::SelectB => &self.select_b,
            Which::Kick => match &self.kick {
                Some(c) => c,
                None => return Ok(()),
            },
        };
        let send = command.send.clone();
        let expect = command.expect.clone();
        match expect {
            Some(m) => self.exchange(&send, &[&m]).map(|_| ()),
            None => self.exchange(&send, &[]).map(|_| ()),
        }
    }
}

enum Which {
    SelectA,
    SelectB,
    Kick,
}

impl Relay for LineProfileRelay {
    fn describe(&self) -> String {
        format!("line-profile relay on {}", self.link.path().display())
    }

    fn capabilities(&self) -> RelayCapabilities {
        RelayCapabilities {
            read_back: self.read_back.is_some(),
            watchdog: self.watchdog,
        }
    }

    fn select(&mut self, side: Side) -> Result<(), RelayError> {
        self.run(match side {
            Side::A => Which::SelectA,
            Side::B => Which::SelectB,
        })?;
        if self.read_back.is_some() {
            let got = self.read_side()?;
            if got != Some(side) {
                return Err(RelayError::VerifyFailed { wanted: side, got });
            }
        }
        Ok(())
    }

    fn read_side(&mut self) -> Result<Option<Side>, RelayError> {
        let Some(rb) = &self.read_back else {
            return Ok(None);
        };
        let (send, a, b) = (rb.send.clone(), rb.side_a.clone(), rb.side_b.clone());
        let which = self.exchange(&send, &[&a, &b])?;
        Ok(Some(if which == 0 { Side::A } else { Side::B }))
    }

    fn kick_watchdog(&mut self) -> Result<(), RelayError> {
        self.run(Which::Kick)
    }

    fn identify(&mut self) -> Result<String, RelayError> {
        let Some(id) = &self.identify else {
            return Ok(format!(
                "line-profile relay at {} (no identify command)",
                self.link.path().display()
            ));
        };
        let (send, expect) = (id.send.clone(), id.expect.clone());
        let any = Matcher::Regex(Regex::new(".").map_err(|e| RelayError::Internal(e.to_string()))?);
        let accept = expect.unwrap_or(any);
        self.exchange(&send, &[&accept])?;
        Ok(format!(
            "line-profile relay at {} answered `{send}`",
            self.link.path().display()
        ))
    }
}
