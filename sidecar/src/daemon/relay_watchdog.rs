//! Keeps the relay's own watchdog alive while this node holds the calls on the side it guards: the device then fences this node by itself when it dies, hangs or is cut off.
//!
//! A device watchdog (the berofos's, or a line-profile device's) moves the circuits to its
//! fallback side when nobody kicks it. Only the node on the other side kicks, and only while
//! the decision core has it holding the calls (active, or taking over: the takeover switches
//! the watchdog on, and a cold start of Asterisk may outlast its interval). The kick is decided
//! on the event loop, so a daemon whose loop is stuck stops kicking just like a dead one; each
//! kick runs off the loop with a deadline of one kick interval, one at a time.
//!
//! Whether the local Asterisk is healthy is the core's judgement, not the kicker's: the core
//! hands the calls over when the peer can do better, and stops claiming them when it cannot
//! hold them. A kicker that stopped on its own would let the device move the calls to a peer
//! the core judged worse.

use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::actuate::relay::{DeviceWatchdog, WatchdogState};
use crate::actuate::RelayHandle;
use crate::decide::{AlertKey, AlertSeverity, CoreStatus, Role};
use crate::side::Side;
use crate::status::RelayWatchdogStatus;

use super::devices::RelayReading;
use super::Daemon;

/// Readings in a row that must find the device's watchdog off before the alert: the first may
/// have been taken before the takeover switched it on.
const OFF_READINGS_BEFORE_ALERT: u32 = 2;

/// One finished kick.
#[derive(Debug)]
pub(super) struct KickResult {
    pub result: Result<(), String>,
}

/// The relay, its watchdog and how the kicks went.
#[derive(Debug)]
pub(super) struct WatchdogKicker {
    relay: RelayHandle,
    watchdog: DeviceWatchdog,
    me: Side,
    in_flight: bool,
    /// Whether the last tick found this node holding the guarded side.
    kicking: bool,
    results: mpsc::Sender<KickResult>,
    last_ok: Option<Instant>,
    last_error: Option<String>,
    kicks: u64,
    failures: u64,
    failures_in_a_row: u32,
    /// Readings in a row that found the watchdog off while this node was active on its side.
    off_while_active: u32,
}

impl WatchdogKicker {
    /// A kicker when the relay has a watchdog; results come back on the returned receiver.
    pub(super) fn new(
        relay: Option<&RelayHandle>,
        me: Side,
    ) -> Option<(WatchdogKicker, mpsc::Receiver<KickResult>)> {
        let relay = relay?;
        let watchdog = relay.capabilities().watchdog?;
        let (results, rx) = mpsc::channel(2);
        tracing::info!(
            device = relay.describe(),
            falls_back_to = %watchdog.falls_back_to,
            kick_every_ms = watchdog.kick_every.as_millis() as u64,
            "relay watchdog: kicked by side {} while it holds the calls",
            watchdog.guards()
        );
        let kicker = WatchdogKicker {
            relay: relay.clone(),
            watchdog,
            me,
            in_flight: false,
            kicking: false,
            results,
            last_ok: None,
            last_error: None,
            kicks: 0,
            failures: 0,
            failures_in_a_row: 0,
            off_while_active: 0,
        };
        Some((kicker, rx))
    }

    pub(super) fn kick_every(&self) -> Duration {
        self.watchdog.kick_every
    }

    /// Whether this node keeps the watchdog alive now: it is on the guarded side and the core
    /// has it holding (or taking) the calls.
    pub(super) fn should_kick(watchdog: &DeviceWatchdog, me: Side, core: &CoreStatus) -> bool {
        me == watchdog.guards() && core.role.claims_calls()
    }

    /// Kicks when this node should (and no kick is still under way).
    pub(super) fn on_tick(&mut self, core: &CoreStatus) {
        let should = Self::should_kick(&self.watchdog, self.me, core);
        if should != self.kicking {
            tracing::info!(
                role = %core.role,
                "relay watchdog: {} kicking",
                if should { "start" } else { "stop" }
            );
            self.kicking = should;
        }
        if !should || self.in_flight {
            return;
        }
        self.in_flight = true;
        let (relay, deadline, results) = (
            self.relay.clone(),
            self.watchdog.kick_every,
            self.results.clone(),
        );
        tokio::spawn(async move {
            let result = relay
                .kick_watchdog(deadline)
                .await
                .map_err(|e| e.to_string());
            let _ = results.send(KickResult { result }).await;
        });
    }

    /// Records a kick's result; returns an alert for the first failure in a row.
    pub(super) fn record(&mut self, kick: KickResult) -> Option<String> {
        self.in_flight = false;
        match kick.result {
            Ok(()) => {
                if self.failures_in_a_row > 0 {
                    tracing::info!(
                        failed = self.failures_in_a_row,
                        "relay watchdog kicks get through again"
                    );
                }
                self.kicks += 1;
                self.failures_in_a_row = 0;
                self.last_ok = Some(Instant::now());
                self.last_error = None;
                None
            }
            Err(e) => {
                self.failures += 1;
                self.failures_in_a_row += 1;
                tracing::warn!(error = %e, in_a_row = self.failures_in_a_row, "relay watchdog kick failed");
                self.last_error = Some(e.clone());
                (self.failures_in_a_row == 1).then(|| {
                    format!(
                        "relay watchdog kick failed ({e}): unless a kick gets through, the device \
                         moves the calls to side {} by itself",
                        self.watchdog.falls_back_to
                    )
                })
            }
        }
    }

    /// Looks at the relay as read back: a device watchdog that is off while this node is active
    /// on the side it guards fences nothing (the device was power-cycled without `wdogdef`, or
    /// someone switched it off); the kicks change nothing then. Returns an alert once, after
    /// [`OFF_READINGS_BEFORE_ALERT`] such readings in a row, and again after it was on meanwhile.
    pub(super) fn check_device(
        &mut self,
        core: &CoreStatus,
        reading: &RelayReading,
    ) -> Option<String> {
        let off = self.me == self.watchdog.guards()
            && core.role == Role::Active
            && reading.read_back
            && reading.position == Some(self.me)
            && reading.watchdog == Some(WatchdogState::Off);
        if !off {
            self.off_while_active = 0;
            return None;
        }
        self.off_while_active = self.off_while_active.saturating_add(1);
        (self.off_while_active == OFF_READINGS_BEFORE_ALERT).then(|| {
            format!(
                "the relay's watchdog is off although this node holds the calls on the side it \
                 guards: if this node dies the device will not move the calls to side {} by \
                 itself (power-cycled without wdogdef, or switched off by hand?); it is switched \
                 on again whenever astha moves the calls to this side",
                self.watchdog.falls_back_to
            )
        })
    }

    /// What `astha status` and the metrics show (the device's own state comes from the reading).
    pub(super) fn status(&self) -> RelayWatchdogStatus {
        RelayWatchdogStatus {
            state: None,
            remaining_s: None,
            falls_back_to: self.watchdog.falls_back_to.to_string(),
            kick_every_ms: self.watchdog.kick_every.as_millis() as u64,
            kicking: self.kicking,
            last_kick_age_ms: self.last_ok.map(|t| t.elapsed().as_millis() as u64),
            last_kick_error: self.last_error.clone(),
            kicks: self.kicks,
            kick_failures: self.failures,
        }
    }
}

impl Daemon {
    /// After a relay reading: alerts while the device's watchdog fences nothing (see
    /// [`WatchdogKicker::check_device`]), and ends the alert once it is back on.
    pub(super) fn check_relay_watchdog(&mut self) {
        let status = self.core.status();
        let Some(kicker) = self.relay_watchdog.as_mut() else {
            return;
        };
        let alert = kicker.check_device(&status, &self.report.relay);
        let back_on = kicker.off_while_active == 0;
        let stamp = self.stamp();
        match alert {
            Some(message) => self.alerts.raise(
                AlertKey::RelayWatchdogOff,
                AlertSeverity::Critical,
                message,
                stamp,
            ),
            None if back_on => self.alerts.clear(AlertKey::RelayWatchdogOff, stamp),
            None => {}
        }
    }

    /// A kick's outcome: the first failure in a row raises an alert, the next success ends it.
    pub(super) fn record_relay_kick(&mut self, kick: KickResult) {
        let Some(kicker) = self.relay_watchdog.as_mut() else {
            return;
        };
        let alert = kicker.record(kick);
        let through = kicker.failures_in_a_row == 0;
        let stamp = self.stamp();
        match alert {
            Some(message) => self.alerts.raise(
                AlertKey::RelayWatchdogKickFailing,
                AlertSeverity::Critical,
                message,
                stamp,
            ),
            None if through => self.alerts.clear(AlertKey::RelayWatchdogKickFailing, stamp),
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::{Core, DecideConfig, Millis, PersistedState, Role};

    fn status(me: Side, role: Role) -> CoreStatus {
        let core = Core::new(DecideConfig::new(me), PersistedState::default(), Millis(0));
        CoreStatus {
            role,
            ..core.status()
        }
    }

    /// A relay whose watchdog falls back to B; the tests below never touch the device.
    #[derive(Debug)]
    struct GuardsA;

    impl crate::actuate::relay::Relay for GuardsA {
        fn describe(&self) -> String {
            "test relay".into()
        }
        fn capabilities(&self) -> crate::actuate::relay::RelayCapabilities {
            crate::actuate::relay::RelayCapabilities {
                read_back: true,
                watchdog: Some(DeviceWatchdog {
                    falls_back_to: Side::B,
                    kick_every: Duration::from_millis(300),
                }),
            }
        }
        fn select(&mut self, _: Side) -> Result<(), crate::actuate::RelayError> {
            unreachable!("not switched in these tests")
        }
        fn read_side(&mut self) -> Result<Option<Side>, crate::actuate::RelayError> {
            unreachable!("not read in these tests")
        }
        fn kick_watchdog(&mut self) -> Result<(), crate::actuate::RelayError> {
            unreachable!("not kicked in these tests")
        }
        fn identify(&mut self) -> Result<String, crate::actuate::RelayError> {
            unreachable!("not identified in these tests")
        }
    }

    fn reading(position: Side, watchdog: WatchdogState) -> RelayReading {
        RelayReading {
            position: Some(position),
            read_back: true,
            watchdog: Some(watchdog),
            ..RelayReading::default()
        }
    }

    #[test]
    fn a_watchdog_found_off_under_the_active_guarded_side_is_an_alert_once() {
        let relay = RelayHandle::new(Box::new(GuardsA));
        let (mut kicker, _) = WatchdogKicker::new(Some(&relay), Side::A).expect("a watchdog");
        let active = status(Side::A, Role::Active);
        let off = reading(Side::A, WatchdogState::Off);
        let running = reading(Side::A, WatchdogState::Running { remaining_s: None });
        // One reading may predate the takeover switching the watchdog on.
        assert_eq!(kicker.check_device(&active, &off), None);
        let alert = kicker
            .check_device(&active, &off)
            .expect("the second one alerts");
        assert!(alert.contains("side b"), "{alert}");
        assert_eq!(kicker.check_device(&active, &off), None, "once");
        // Switched on again, then off again: a new alert.
        assert_eq!(kicker.check_device(&active, &running), None);
        assert_eq!(kicker.check_device(&active, &off), None);
        assert!(kicker.check_device(&active, &off).is_some());
        // Not this node's business: taking over (the relay step switches it on), standby, or
        // the calls on the other side.
        let mut quiet = WatchdogKicker::new(Some(&relay), Side::A)
            .expect("a watchdog")
            .0;
        for (role, position) in [
            (Role::TakingOver, Side::A),
            (Role::Standby, Side::A),
            (Role::Active, Side::B),
        ] {
            let core = status(Side::A, role);
            for _ in 0..3 {
                assert_eq!(
                    quiet.check_device(&core, &reading(position, WatchdogState::Off)),
                    None
                );
            }
        }
    }

    #[test]
    fn only_the_guarded_side_kicks_and_only_while_it_holds_the_calls() {
        let watchdog = DeviceWatchdog {
            falls_back_to: Side::B,
            kick_every: Duration::from_millis(300),
        };
        for (me, role, kicks) in [
            (Side::A, Role::Active, true),
            (Side::A, Role::TakingOver, true),
            (Side::A, Role::Standby, false),
            (Side::A, Role::Releasing, false),
            (Side::A, Role::Maintenance, false),
            (Side::A, Role::Faulted, false),
            // The fallback side's kicks would keep the guarded side's position alive after
            // that side died.
            (Side::B, Role::Active, false),
        ] {
            assert_eq!(
                WatchdogKicker::should_kick(&watchdog, me, &status(me, role)),
                kicks,
                "{me} {role}"
            );
        }
    }
}
