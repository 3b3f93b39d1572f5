//! The actuator task: runs takeover and release sequences one at a time, off the event loop, and reports their outcomes.

use tokio::sync::mpsc;

use crate::actuate::{SequenceOutcome, SequenceRunner};

/// What the decision core asked the actuators to do.
#[derive(Debug, Clone)]
pub enum ActuatorJob {
    Takeover { term: u64, reason: String },
    Release { term: u64, reason: String },
}

/// A finished sequence, for the core (`TakeoverDone`, …) and for `astha status`.
#[derive(Debug, Clone)]
pub struct ActuatorResult {
    pub term: u64,
    pub reason: String,
    pub outcome: SequenceOutcome,
}

/// Starts the actuator task. The core never issues a second sequence before the first is
/// answered, so one task running jobs in order is all the concurrency needed.
pub fn spawn(
    runner: SequenceRunner,
) -> (mpsc::Sender<ActuatorJob>, mpsc::Receiver<ActuatorResult>) {
    let (jobs_tx, mut jobs_rx) = mpsc::channel::<ActuatorJob>(4);
    let (results_tx, results_rx) = mpsc::channel::<ActuatorResult>(4);
    tokio::spawn(async move {
        while let Some(job) = jobs_rx.recv().await {
            let result = match job {
                ActuatorJob::Takeover { term, reason } => {
                    let outcome = runner.takeover(&reason, term).await;
                    ActuatorResult {
                        term,
                        reason,
                        outcome,
                    }
                }
                ActuatorJob::Release { term, reason } => {
                    let outcome = runner.release(&reason, term).await;
                    ActuatorResult {
                        term,
                        reason,
                        outcome,
                    }
                }
            };
            if results_tx.send(result).await.is_err() {
                return;
            }
        }
    });
    (jobs_tx, results_rx)
}
