//! ARI probe: `GET /ari/asterisk/ping` with Basic auth over a plain HTTP/1.1 connection (no HTTP crate needed).

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::config::{HttpUrl, Secret};
use crate::http::{basic_authorization, truncate, HttpResponse};

use super::ProbeError;

/// Largest response accepted; the ping answer is under 100 bytes.
const MAX_RESPONSE: usize = 64 * 1024;

/// Pings one Asterisk's ARI.
#[derive(Debug, Clone)]
pub struct AriPingProbe {
    url: HttpUrl,
    username: String,
    secret: Secret,
}

impl AriPingProbe {
    pub fn new(url: HttpUrl, username: String, secret: Secret) -> Self {
        AriPingProbe {
            url,
            username,
            secret,
        }
    }

    /// The request bytes (contains the credentials: never log it).
    fn request(&self) -> String {
        let authorization = basic_authorization(&self.username, self.secret.expose());
        format!(
            "GET {}/ari/asterisk/ping HTTP/1.1\r\nHost: {}\r\nAuthorization: {authorization}\r\n\
             User-Agent: astha/{}\r\nAccept: application/json\r\nConnection: close\r\n\r\n",
            self.url.prefix,
            self.url.address,
            env!("CARGO_PKG_VERSION")
        )
    }

    /// One request on a fresh connection. Has no timeout of its own: the caller bounds it.
    pub async fn run(&self) -> Result<(), ProbeError> {
        let addr = (self.url.address.host.as_str(), self.url.address.port);
        let mut stream = TcpStream::connect(addr)
            .await
            .map_err(|e| ProbeError::Connect(format!("{}: {e}", self.url.address)))?;
        stream
            .write_all(self.request().as_bytes())
            .await
            .map_err(|e| ProbeError::Io(e.to_string()))?;
        let mut buf = Vec::with_capacity(1024);
        let response = loop {
            if let Some(r) = HttpResponse::parse(&buf, false, MAX_RESPONSE).map_err(malformed)? {
                break r;
            }
            if buf.len() >= MAX_RESPONSE {
                return Err(ProbeError::Malformed(format!(
                    "response larger than {MAX_RESPONSE} bytes"
                )));
            }
            let mut chunk = [0u8; 4096];
            let n = stream
                .read(&mut chunk)
                .await
                .map_err(|e| ProbeError::Io(e.to_string()))?;
            if n == 0 {
                match HttpResponse::parse(&buf, true, MAX_RESPONSE).map_err(malformed)? {
                    Some(r) => break r,
                    None => {
                        return Err(ProbeError::Malformed(
                            "connection closed before a full response".into(),
                        ))
                    }
                }
            }
            buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
        };
        if response.status != 200 {
            let reason = match message_of(&response.body) {
                Some(m) => format!("{} ({m})", response.reason),
                None => response.reason,
            };
            return Err(ProbeError::Status {
                code: response.status,
                reason,
            });
        }
        let body = String::from_utf8_lossy(&response.body);
        let pong = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .is_some_and(|v| v.get("ping").and_then(|p| p.as_str()) == Some("pong"));
        if pong {
            Ok(())
        } else {
            Err(ProbeError::Malformed(format!(
                "expected {{\"ping\":\"pong\"}}, got {}",
                truncate(&body, 120)
            )))
        }
    }
}

/// ARI errors carry `{"message": ...}` (or `{"error": ...}` for some 500s).
fn message_of(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    v.get("message")
        .or_else(|| v.get("error"))
        .and_then(|m| m.as_str())
        .map(|s| truncate(s, 120))
}

fn malformed(detail: String) -> ProbeError {
    ProbeError::Malformed(detail)
}
