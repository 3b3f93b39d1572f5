//! ARI probe: `GET /ari/asterisk/ping` with Basic auth, on a fresh connection every run (reqwest).

use crate::config::{HttpUrl, Secret};
use crate::http::error_text;

use super::ProbeError;

/// Largest response accepted; the ping answer is under 100 bytes.
const MAX_RESPONSE: usize = 64 * 1024;

/// Pings one Asterisk's ARI.
#[derive(Debug, Clone)]
pub struct AriPingProbe {
    url: String,
    address: String,
    username: String,
    secret: Secret,
    client: reqwest::Client,
}

impl AriPingProbe {
    pub fn new(url: HttpUrl, username: String, secret: Secret) -> Self {
        // A new connection every run: a refused or exhausted HTTP listener must show up here
        // (an idle pooled connection would hide it). No proxy: ARI is on the PBX's own LAN.
        // Header names in the usual case: some embedded HTTP servers read them case-sensitively.
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .no_proxy()
            .http1_title_case_headers()
            .user_agent(concat!("astha/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        AriPingProbe {
            url: format!("{url}/ari/asterisk/ping"),
            address: url.address.to_string(),
            username,
            secret,
            client,
        }
    }

    /// One request. Has no timeout of its own: the caller bounds it.
    pub async fn run(&self) -> Result<(), ProbeError> {
        let mut response = self
            .client
            .get(&self.url)
            .basic_auth(&self.username, Some(self.secret.expose()))
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| self.request_error(e))?;
        if response
            .content_length()
            .is_some_and(|n| n > MAX_RESPONSE as u64)
        {
            return Err(ProbeError::Malformed(format!(
                "response larger than {MAX_RESPONSE} bytes"
            )));
        }
        let status = response.status();
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| ProbeError::Io(error_text(e)))?
        {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_RESPONSE {
                return Err(ProbeError::Malformed(format!(
                    "response larger than {MAX_RESPONSE} bytes"
                )));
            }
        }
        if status != reqwest::StatusCode::OK {
            let reason = status.canonical_reason().unwrap_or("").to_string();
            let reason = match message_of(&body) {
                Some(m) => format!("{reason} ({m})"),
                None => reason,
            };
            return Err(ProbeError::Status {
                code: status.as_u16(),
                reason,
            });
        }
        let body = String::from_utf8_lossy(&body);
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

    /// A failed request: no connection at all, or a broken or garbled exchange.
    fn request_error(&self, e: reqwest::Error) -> ProbeError {
        if e.is_connect() {
            ProbeError::Connect(format!("{}: {}", self.address, error_text(e)))
        } else {
            ProbeError::Io(error_text(e))
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

/// At most `max` characters of `s`, with `...` when cut.
fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        format!("{}...", s.chars().take(max).collect::<String>())
    }
}
