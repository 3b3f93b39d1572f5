//! The CLI side of the control socket: one request, one reply, with a deadline.

use super::protocol::{ControlReply, Request, RequestBody};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

#[derive(Debug, thiserror::Error)]
pub enum ControlClientError {
    /// No daemon listens on the socket (missing file or connection refused).
    #[error("the astha daemon is not running (no control socket at {path})")]
    NotRunning { path: PathBuf },
    #[error(
        "permission denied on {path}: run as root or as a member of the control socket's group"
    )]
    PermissionDenied { path: PathBuf },
    #[error("control socket {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the daemon did not answer within {0:?}")]
    Timeout(Duration),
    #[error("the daemon sent an unreadable reply: {0}")]
    BadReply(String),
}

#[derive(Debug, Clone)]
pub struct ControlClient {
    path: PathBuf,
    timeout: Duration,
}

impl ControlClient {
    pub fn new(path: &Path) -> ControlClient {
        ControlClient {
            path: path.to_path_buf(),
            timeout: Duration::from_secs(10),
        }
    }

    pub fn with_timeout(mut self, timeout: Duration) -> ControlClient {
        self.timeout = timeout;
        self
    }

    pub async fn call(&self, body: RequestBody) -> Result<ControlReply, ControlClientError> {
        tokio::time::timeout(self.timeout, self.call_inner(body))
            .await
            .map_err(|_| ControlClientError::Timeout(self.timeout))?
    }

    async fn call_inner(&self, body: RequestBody) -> Result<ControlReply, ControlClientError> {
        let path = || self.path.clone();
        let mut stream = UnixStream::connect(&self.path)
            .await
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => {
                    ControlClientError::NotRunning { path: path() }
                }
                std::io::ErrorKind::PermissionDenied => {
                    ControlClientError::PermissionDenied { path: path() }
                }
                _ => ControlClientError::Io {
                    path: path(),
                    source: e,
                },
            })?;
        let mut line = serde_json::to_vec(&Request::new(body))
            .map_err(|e| ControlClientError::BadReply(e.to_string()))?;
        line.push(b'\n');
        let io = |source| ControlClientError::Io {
            path: path(),
            source,
        };
        stream.write_all(&line).await.map_err(io)?;
        let mut reader = BufReader::new(stream);
        let mut answer = Vec::new();
        reader.read_until(b'\n', &mut answer).await.map_err(io)?;
        serde_json::from_slice(&answer).map_err(|e| ControlClientError::BadReply(e.to_string()))
    }
}
