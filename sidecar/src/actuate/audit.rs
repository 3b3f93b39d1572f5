//! The audit journal: one JSON line per takeover or release (reason, term, step timings, outcome), appended and fsynced.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// One step as it went, for the audit record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditStep {
    pub step: &'static str,
    /// `engage` (takeover), `disengage` (release) or `rollback`.
    pub phase: &'static str,
    pub duration_ms: f64,
    pub attempts: u32,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What the step found or relied on (the DRBD step: why the promotion was safe).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// One takeover or release.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditRecord {
    /// `takeover` or `release`.
    pub kind: &'static str,
    pub node: String,
    pub reason: String,
    pub term: u64,
    pub started_unix_ms: u128,
    pub total_ms: f64,
    /// `done` or `failed`.
    pub outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_step: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub rolled_back: bool,
    pub steps: Vec<AuditStep>,
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("cannot append to audit journal {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot encode audit record: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("audit journal writer thread failed: {0}")]
    Thread(String),
}

/// An append-only JSON-lines file.
#[derive(Debug, Clone)]
pub struct AuditJournal {
    path: PathBuf,
}

impl AuditJournal {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        AuditJournal { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append `record` as one line and fsync before returning (on a blocking thread).
    pub async fn append(&self, record: &AuditRecord) -> Result<(), AuditError> {
        let mut line = serde_json::to_vec(record)?;
        line.push(b'\n');
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let write = || -> std::io::Result<()> {
                let mut file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)?;
                // One write call per record keeps concurrent appenders from interleaving lines.
                file.write_all(&line)?;
                file.sync_data()
            };
            write().map_err(|source| AuditError::Write {
                path: path.clone(),
                source,
            })
        })
        .await
        .map_err(|e| AuditError::Thread(e.to_string()))?
    }
}
