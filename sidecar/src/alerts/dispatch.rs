//! Delivers events to every sink off the event loop: one task and one bounded queue per sink, retries with backoff, the oldest events dropped (and counted) when a sink stays down.
//!
//! [`Dispatcher::dispatch`] only queues (a mutex held for a push), so a hanging webhook or a
//! slow command can never delay a takeover or any other decision. Each sink gets the events
//! in order; a sink that is down delays only its own later events.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

use super::config::DeliveryConfig;
use super::event::AlertEvent;
use super::sink::Sink;

/// What happened to one sink's events since the daemon started.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SinkCounts {
    pub name: String,
    pub delivered: u64,
    /// Events given up after `max_attempts`.
    pub failed: u64,
    /// Attempts that failed and were retried.
    pub retried: u64,
    /// Events dropped from a full queue.
    pub dropped: u64,
}

#[derive(Debug, Default)]
struct Counters {
    delivered: AtomicU64,
    failed: AtomicU64,
    retried: AtomicU64,
    dropped: AtomicU64,
}

/// One sink's queue and counters, shared by the dispatcher and the sink's task.
#[derive(Debug)]
struct Lane {
    sink: Sink,
    queue: Mutex<Waiting>,
    wake: Notify,
    counters: Counters,
    /// Set when the configuration replaced this sink: its task ends once the queue is empty.
    closed: AtomicBool,
}

#[derive(Debug, Default)]
struct Waiting {
    events: VecDeque<AlertEvent>,
    /// Dropped since the sink last got an event: told to it in that event's `dropped`.
    dropped_unannounced: u64,
}

impl Lane {
    fn waiting(&self) -> MutexGuard<'_, Waiting> {
        // A panicking holder cannot leave the queue inconsistent (pushes and pops only).
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Hands events to the sinks. Cheap to clone; dropping every clone stops nothing (the tasks
/// end with the runtime).
#[derive(Debug, Clone)]
pub struct Dispatcher {
    lanes: Arc<Vec<Arc<Lane>>>,
    delivery: DeliveryConfig,
}

impl Dispatcher {
    /// Starts one delivery task per sink on the current runtime.
    pub fn start(sinks: Vec<Sink>, delivery: DeliveryConfig) -> Dispatcher {
        let lanes: Vec<Arc<Lane>> = sinks
            .into_iter()
            .map(|sink| {
                Arc::new(Lane {
                    sink,
                    queue: Mutex::new(Waiting::default()),
                    wake: Notify::new(),
                    counters: Counters::default(),
                    closed: AtomicBool::new(false),
                })
            })
            .collect();
        for lane in &lanes {
            tokio::spawn(deliver_forever(Arc::clone(lane), delivery.clone()));
        }
        Dispatcher {
            lanes: Arc::new(lanes),
            delivery,
        }
    }

    /// A dispatcher without sinks: events go nowhere.
    pub fn none() -> Dispatcher {
        Dispatcher {
            lanes: Arc::new(Vec::new()),
            delivery: DeliveryConfig::default(),
        }
    }

    /// Queues `event` for every sink that wants its kind; never waits.
    pub fn dispatch(&self, event: &AlertEvent) {
        for lane in self.lanes.iter().filter(|l| l.sink.wants(event.event)) {
            let mut waiting = lane.waiting();
            if waiting.events.len() >= self.delivery.queue {
                if let Some(oldest) = waiting.events.pop_front() {
                    waiting.dropped_unannounced += 1;
                    lane.counters.dropped.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        sink = %lane.sink.describe(),
                        dropped = %oldest.event,
                        queue = self.delivery.queue,
                        "alert sink queue full: oldest event dropped"
                    );
                }
            }
            waiting.events.push_back(event.clone());
            drop(waiting);
            lane.wake.notify_one();
        }
    }

    /// Stops taking events; each sink's task delivers what is queued, then ends.
    pub fn close(&self) {
        for lane in self.lanes.iter() {
            lane.closed.store(true, Ordering::Relaxed);
            lane.wake.notify_one();
        }
    }

    /// Each sink's counts, in configuration order.
    pub fn counts(&self) -> Vec<SinkCounts> {
        self.lanes
            .iter()
            .map(|l| SinkCounts {
                name: l.sink.name().to_string(),
                delivered: l.counters.delivered.load(Ordering::Relaxed),
                failed: l.counters.failed.load(Ordering::Relaxed),
                retried: l.counters.retried.load(Ordering::Relaxed),
                dropped: l.counters.dropped.load(Ordering::Relaxed),
            })
            .collect()
    }
}

/// One sink's task: takes the oldest waiting event, tries it up to `max_attempts` times with
/// backoff, then the next.
async fn deliver_forever(lane: Arc<Lane>, delivery: DeliveryConfig) {
    loop {
        let next = {
            let mut waiting = lane.waiting();
            waiting.events.pop_front().map(|mut event| {
                event.dropped = std::mem::take(&mut waiting.dropped_unannounced);
                event
            })
        };
        let Some(event) = next else {
            if lane.closed.load(Ordering::Relaxed) {
                return;
            }
            lane.wake.notified().await;
            continue;
        };
        deliver_with_retries(&lane, &event, &delivery).await;
    }
}

async fn deliver_with_retries(lane: &Lane, event: &AlertEvent, delivery: &DeliveryConfig) {
    let sink = lane.sink.describe();
    for attempt in 1..=delivery.max_attempts {
        match lane.sink.deliver(event).await {
            Ok(done) => {
                lane.counters.delivered.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(%sink, event = %event.event, attempt, detail = %done.detail, ms = done.elapsed.as_millis() as u64, "alert event delivered");
                return;
            }
            Err(e) if attempt < delivery.max_attempts => {
                lane.counters.retried.fetch_add(1, Ordering::Relaxed);
                let wait = delivery.backoff(attempt);
                tracing::info!(%sink, event = %event.event, attempt, error = %e, retry_in_ms = wait.as_millis() as u64, "alert event not delivered; retrying");
                tokio::time::sleep(wait).await;
            }
            Err(e) => {
                lane.counters.failed.fetch_add(1, Ordering::Relaxed);
                tracing::error!(%sink, event = %event.event, attempts = attempt, error = %e, "alert event given up");
            }
        }
    }
}
