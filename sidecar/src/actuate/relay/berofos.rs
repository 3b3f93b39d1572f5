//! The beroNet berofos failover switch, driven through its HTTP CGI interface.
//!
//! Parameters as the berofos tools (`bnfos`) name them and as the device's web interface
//! takes them: a setting is `GET /?cmd=<group>&<key>=<value>`, and `/config.txt` lists the
//! state as `<group>_<key>=<value>` lines. The groups used here:
//!
//! | bnfos name | group | key | meaning |
//! |---|---|---|---|
//! | `mode` | 4 | `mode` | relay position: 1 = A--B (and C--D), 0 = A--D |
//! | `scenario`, `modedef` | 1 | `sz`, `rm` (with `p0`, `p1`) | scenario; position after power-up |
//! | `wdog` | 6 | `wen` | watchdog on (1) or off (0) |
//! | `wdogstate` | 6 | `wstate` (read only) | 0 off, 1 running, 2 expired ("failure") |
//! | `wdogitime`, `wdogdef` | 2 | `wintv`, `wen` (with `as`, `men`) | watchdog interval in seconds; on after power-up |
//! | `wdogrtime` | 0 | `wretv` (read only) | seconds left before the watchdog expires |
//!
//! Group 1 and group 2 settings are written as a whole group (the device resets the keys a
//! request leaves out), so the driver reads `/config.txt` first and sends every key of the
//! group back with only the intended change.
//!
//! The watchdog (when `watchdog_interval_s` is set) guards the side of `mode` 1: when nobody
//! kicks it for the interval, the device puts the relays in `mode` 0 by itself, shows
//! `wdogstate` 2 and leaves the watchdog off until it is switched on again. So the driver
//! switches it on every time it moves the circuits to the guarded side, and off when it moves
//! them to the other side deliberately (an expired watchdog is left as it is: that state is
//! the evidence that the guarded side stopped kicking). Kicks are datagrams, not HTTP
//! (`berofos_kick`).

use std::collections::BTreeMap;
use std::time::Duration;

use super::berofos_kick::Kicker;
use super::{DeviceWatchdog, Relay, RelayCapabilities, RelayError, WatchdogState};
use crate::actuate::config::BerofosConfig;
use crate::side::Side;

/// Device pages are tiny; anything larger is not the device we expect.
const MAX_RESPONSE: u64 = 256 * 1024;

#[derive(Debug)]
pub struct BerofosRelay {
    cfg: BerofosConfig,
    timeout: Duration,
    /// Whether the watchdog interval and scenario were pushed to the device already.
    configured: bool,
    kicker: Kicker,
    /// Built on first use, on the blocking thread the driver runs on: reqwest's blocking client
    /// runs a runtime of its own, which must not be started from async code.
    client: Option<reqwest::blocking::Client>,
}

impl BerofosRelay {
    pub fn new(cfg: BerofosConfig) -> Result<Self, RelayError> {
        if cfg.side_a_mode > 1 {
            return Err(RelayError::Config(format!(
                "berofos: side_a_mode must be 0 or 1, not {}",
                cfg.side_a_mode
            )));
        }
        if cfg.scenario.is_some_and(|s| s > 1) {
            return Err(RelayError::Config(
                "berofos: scenario must be 0 (fallback) or 1 (bypass)".into(),
            ));
        }
        if cfg.watchdog_interval_s == Some(0) {
            return Err(RelayError::Config(
                "berofos: watchdog_interval_s must be at least 1".into(),
            ));
        }
        let timeout = Duration::from_millis(cfg.timeout_ms);
        let kicker = Kicker::new(&cfg.host, cfg.kick_port, timeout, cfg.mac);
        Ok(BerofosRelay {
            cfg,
            timeout,
            configured: false,
            kicker,
            client: None,
        })
    }

    /// The device's own watchdog, when configured: it falls back to the side of `mode` 0.
    fn watchdog(&self) -> Option<DeviceWatchdog> {
        let interval_ms = u64::from(self.cfg.watchdog_interval_s?) * 1000;
        Some(DeviceWatchdog {
            falls_back_to: self.side_for_mode(0),
            // Three kicks per interval: one lost datagram never lets it expire.
            kick_every: Duration::from_millis(interval_ms / 3),
        })
    }

    fn side_for_mode(&self, mode: u8) -> Side {
        if mode == self.cfg.side_a_mode {
            Side::A
        } else {
            Side::B
        }
    }

    /// After a switch to `side`: the watchdog on when `side` is the one it guards, off when the
    /// circuits were moved away from it deliberately (unless it expired: that stays visible).
    fn set_watchdog_for(&mut self, side: Side) -> Result<(), RelayError> {
        let Some(watchdog) = self.watchdog() else {
            return Ok(());
        };
        if side == watchdog.guards() {
            return self.get("/?cmd=6&wen=1").map(|_| ());
        }
        if self.read_watchdog()? == Some(WatchdogState::Expired) {
            return Ok(());
        }
        self.get("/?cmd=6&wen=0").map(|_| ())
    }

    /// The HTTP client: one request per connection (the device's CGI server closes after each
    /// answer), no proxy (the device is on the LAN), header names in the usual case (embedded
    /// servers may read them case-sensitively), the device timeout on the whole exchange.
    fn client(&mut self, request: &str) -> Result<reqwest::blocking::Client, RelayError> {
        if let Some(client) = &self.client {
            return Ok(client.clone());
        }
        let client = reqwest::blocking::Client::builder()
            .pool_max_idle_per_host(0)
            .no_proxy()
            .http1_title_case_headers()
            .user_agent(concat!("astha/", env!("CARGO_PKG_VERSION")))
            .timeout(self.timeout)
            .connect_timeout(self.timeout)
            .build()
            .map_err(|e| http_error(request, crate::http::error_text(e)))?;
        self.client = Some(client.clone());
        Ok(client)
    }

    fn get(&mut self, path: &str) -> Result<String, RelayError> {
        let url = format!("http://{}{path}", self.address());
        let mut request = self.client(path)?.get(url);
        if let Some(user) = &self.cfg.username {
            request = request.basic_auth(user, Some(self.cfg.password.as_deref().unwrap_or("")));
        }
        let response = request.send().map_err(|e| self.request_error(path, e))?;
        let status = response.status().as_u16();
        if response.content_length().is_some_and(|n| n > MAX_RESPONSE) {
            return Err(http_error(
                path,
                format!("response larger than {MAX_RESPONSE} bytes"),
            ));
        }
        match status {
            200 => response.text().map_err(|e| self.request_error(path, e)),
            401 => Err(http_error(
                path,
                "401 unauthorized: check username/password",
            )),
            other => Err(http_error(path, format!("HTTP status {other}"))),
        }
    }

    /// `host:port`, IPv6 hosts in brackets.
    fn address(&self) -> String {
        if self.cfg.host.contains(':') {
            format!("[{}]:{}", self.cfg.host, self.cfg.port)
        } else {
            format!("{}:{}", self.cfg.host, self.cfg.port)
        }
    }

    /// A request that got no usable answer: say which, in the device's terms.
    fn request_error(&self, path: &str, e: reqwest::Error) -> RelayError {
        let detail = if e.is_timeout() {
            format!(
                "no complete response within {} ms",
                self.timeout.as_millis()
            )
        } else if e.is_connect() {
            format!(
                "cannot connect to {}: {}",
                self.address(),
                crate::http::error_text(e)
            )
        } else {
            crate::http::error_text(e)
        };
        http_error(path, detail)
    }

    /// The device state from `/config.txt`, keyed `"<group>_<key>"`.
    fn config(&mut self) -> Result<BTreeMap<String, String>, RelayError> {
        let body = self.get("/config.txt")?;
        let state: BTreeMap<String, String> = body
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with(|c: char| c.is_ascii_digit()))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect();
        if state.is_empty() {
            return Err(RelayError::UnexpectedReply {
                command: "GET /config.txt".into(),
                reply: body.chars().take(80).collect(),
            });
        }
        Ok(state)
    }

    fn mode_for(&self, side: Side) -> u8 {
        match side {
            Side::A => self.cfg.side_a_mode,
            Side::B => 1 - self.cfg.side_a_mode,
        }
    }

    /// Write a whole settings group, taking the keys not being changed from `state`.
    fn write_group(
        &mut self,
        state: &BTreeMap<String, String>,
        group: u8,
        keys: &[&str],
        changes: &[(&str, String)],
    ) -> Result<(), RelayError> {
        let mut query = format!("/?cmd={group}");
        for key in keys {
            let value = changes
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
                .or_else(|| state.get(&format!("{group}_{key}")).cloned())
                .ok_or_else(|| RelayError::UnexpectedReply {
                    command: "GET /config.txt".into(),
                    reply: format!("no value for {group}_{key}"),
                })?;
            query.push_str(&format!("&{key}={}", value_token(&value)));
        }
        self.get(&query).map(|_| ())
    }

    /// Push scenario and watchdog interval once, when configured.
    fn ensure_configured(&mut self) -> Result<(), RelayError> {
        if self.configured
            || (self.cfg.scenario.is_none() && self.cfg.watchdog_interval_s.is_none())
        {
            self.configured = true;
            return Ok(());
        }
        let state = self.config()?;
        if let Some(scenario) = self.cfg.scenario {
            if state.get("1_sz").map(String::as_str) != Some(&scenario.to_string()) {
                self.write_group(
                    &state,
                    1,
                    &["sz", "rm", "p0", "p1"],
                    &[("sz", scenario.to_string())],
                )?;
            }
        }
        if let Some(interval) = self.cfg.watchdog_interval_s {
            self.write_group(
                &state,
                2,
                &["wen", "wintv", "as", "men"],
                &[("wen", "1".into()), ("wintv", interval.to_string())],
            )?;
        }
        self.configured = true;
        Ok(())
    }
}

fn http_error(request: &str, detail: impl Into<String>) -> RelayError {
    RelayError::Http {
        request: request.to_owned(),
        detail: detail.into(),
    }
}

/// `config.txt` shows booleans as `checked`/empty in some firmware versions.
fn value_token(v: &str) -> &str {
    match v {
        "checked" | "on" => "1",
        "" | "off" => "0",
        other => other,
    }
}

impl Relay for BerofosRelay {
    fn describe(&self) -> String {
        format!("berofos at {}:{}", self.cfg.host, self.cfg.port)
    }

    fn capabilities(&self) -> RelayCapabilities {
        RelayCapabilities {
            read_back: true,
            watchdog: self.watchdog(),
        }
    }

    fn select(&mut self, side: Side) -> Result<(), RelayError> {
        self.ensure_configured()?;
        let mode = self.mode_for(side);
        self.get(&format!("/?cmd=4&mode={mode}"))?;
        if self.cfg.set_default_mode {
            let state = self.config()?;
            self.write_group(
                &state,
                1,
                &["sz", "rm", "p0", "p1"],
                &[("rm", mode.to_string())],
            )?;
        }
        self.set_watchdog_for(side)?;
        let got = self.read_side()?;
        if got != Some(side) {
            return Err(RelayError::VerifyFailed { wanted: side, got });
        }
        Ok(())
    }

    fn read_side(&mut self) -> Result<Option<Side>, RelayError> {
        let state = self.config()?;
        match state.get("4_mode").map(|v| value_token(v)) {
            Some("0") => Ok(Some(self.side_for_mode(0))),
            Some("1") => Ok(Some(self.side_for_mode(1))),
            other => Err(RelayError::UnexpectedReply {
                command: "GET /config.txt".into(),
                reply: format!("4_mode = {other:?}"),
            }),
        }
    }

    fn kick_watchdog(&mut self) -> Result<(), RelayError> {
        if self.cfg.watchdog_interval_s.is_none() {
            return Ok(());
        }
        self.kicker.kick()
    }

    fn read_watchdog(&mut self) -> Result<Option<WatchdogState>, RelayError> {
        if self.cfg.watchdog_interval_s.is_none() {
            return Ok(None);
        }
        let state = self.config()?;
        let remaining_s = state.get("0_wretv").and_then(|v| v.parse().ok());
        match state.get("6_wstate").map(|v| value_token(v)) {
            Some("0") => Ok(Some(WatchdogState::Off)),
            Some("1") => Ok(Some(WatchdogState::Running { remaining_s })),
            Some("2") => Ok(Some(WatchdogState::Expired)),
            other => Err(RelayError::UnexpectedReply {
                command: "GET /config.txt".into(),
                reply: format!("6_wstate = {other:?}"),
            }),
        }
    }

    fn identify(&mut self) -> Result<String, RelayError> {
        let state = self.config()?;
        Ok(format!(
            "berofos at {}:{} ({} settings)",
            self.cfg.host,
            self.cfg.port,
            state.len()
        ))
    }
}
