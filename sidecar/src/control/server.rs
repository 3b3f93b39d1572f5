//! The daemon side of the control socket: accepts connections and hands each request to the daemon.

use super::protocol::{ControlReply, Request, MAX_REQUEST_BYTES};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot};

/// How long a client may take to send its request line.
const REQUEST_READ_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum ControlServerError {
    #[error("control socket {path}: another astha daemon is already listening there")]
    AlreadyRunning { path: PathBuf },
    #[error("control socket {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("control socket group `{group}` does not exist")]
    UnknownGroup { group: String },
}

/// A request waiting for the daemon's reply.
#[derive(Debug)]
pub struct IncomingRequest {
    pub request: Request,
    pub reply: oneshot::Sender<ControlReply>,
}

/// The bound control socket. Dropping it removes the socket file.
#[derive(Debug)]
pub struct ControlServer {
    path: PathBuf,
    listener: Option<UnixListener>,
}

impl ControlServer {
    /// Binds the socket with mode 0660 and, if given, the named group.
    ///
    /// A stale socket file left by a crashed daemon is replaced; a live one is an error, so two
    /// daemons never fight over one node.
    pub fn bind(path: &Path, group: Option<&str>) -> Result<ControlServer, ControlServerError> {
        let io_err = |source| ControlServerError::Io {
            path: path.to_path_buf(),
            source,
        };
        if path.exists() {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(ControlServerError::AlreadyRunning {
                    path: path.to_path_buf(),
                });
            }
            std::fs::remove_file(path).map_err(io_err)?;
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io_err)?;
        }
        let listener = UnixListener::bind(path).map_err(io_err)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660)).map_err(io_err)?;
        if let Some(group) = group {
            let gid = nix::unistd::Group::from_name(group)
                .ok()
                .flatten()
                .ok_or_else(|| ControlServerError::UnknownGroup {
                    group: group.to_string(),
                })?
                .gid;
            nix::unistd::chown(path, None, Some(gid))
                .map_err(|e| io_err(std::io::Error::from(e)))?;
        }
        Ok(ControlServer {
            path: path.to_path_buf(),
            listener: Some(listener),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Serves connections until the receiver side of `requests` is dropped.
    pub async fn serve(mut self, requests: mpsc::Sender<IncomingRequest>) {
        let Some(listener) = self.listener.take() else {
            return;
        };
        loop {
            tokio::select! {
                _ = requests.closed() => return,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        tokio::spawn(handle_connection(stream, requests.clone()));
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "control socket accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
            }
        }
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

async fn handle_connection(stream: UnixStream, requests: mpsc::Sender<IncomingRequest>) {
    let (read, mut write) = stream.into_split();
    let reply = match tokio::time::timeout(REQUEST_READ_TIMEOUT, read_request_line(read)).await {
        Err(_) => ControlReply::error("timed out waiting for the request line"),
        Ok(Err(message)) => ControlReply::error(message),
        Ok(Ok(line)) => match Request::parse(&line) {
            Err(message) => {
                tracing::info!(%message, "control request refused");
                ControlReply::error(message)
            }
            Ok(request) => {
                let (tx, rx) = oneshot::channel();
                if requests
                    .send(IncomingRequest { request, reply: tx })
                    .await
                    .is_err()
                {
                    ControlReply::error("the daemon is shutting down")
                } else {
                    rx.await
                        .unwrap_or_else(|_| ControlReply::error("the daemon dropped the request"))
                }
            }
        },
    };
    let mut bytes = serde_json::to_vec(&reply)
        .unwrap_or_else(|e| format!("{{\"v\":1,\"ok\":false,\"error\":\"{e}\"}}").into_bytes());
    bytes.push(b'\n');
    let _ = write.write_all(&bytes).await;
    let _ = write.shutdown().await;
}

async fn read_request_line(read: tokio::net::unix::OwnedReadHalf) -> Result<Vec<u8>, String> {
    let mut reader = BufReader::new(read.take(MAX_REQUEST_BYTES as u64 + 1));
    let mut line = Vec::new();
    reader
        .read_until(b'\n', &mut line)
        .await
        .map_err(|e| format!("reading request: {e}"))?;
    if line.len() > MAX_REQUEST_BYTES {
        return Err(format!("request longer than {MAX_REQUEST_BYTES} bytes"));
    }
    if line.last() == Some(&b'\n') {
        line.pop();
    }
    Ok(line)
}
