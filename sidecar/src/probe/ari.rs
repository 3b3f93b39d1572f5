//! ARI probe: `GET /ari/asterisk/ping` with Basic auth over a plain HTTP/1.1 connection (no HTTP crate needed).

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::config::{HttpUrl, Secret};

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
        let credentials = base64(format!("{}:{}", self.username, self.secret.expose()).as_bytes());
        format!(
            "GET {}/ari/asterisk/ping HTTP/1.1\r\nHost: {}\r\nAuthorization: Basic {credentials}\r\n\
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
            if let Some(r) = HttpResponse::parse(&buf)? {
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
                match HttpResponse::parse_at_eof(&buf)? {
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

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        format!("{}...", s.chars().take(max).collect::<String>())
    }
}

/// A parsed HTTP/1.1 response (status and body; headers only as far as framing needs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub reason: String,
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// `Ok(None)` while more bytes are needed.
    pub fn parse(buf: &[u8]) -> Result<Option<HttpResponse>, ProbeError> {
        Self::parse_inner(buf, false)
    }

    /// At end of stream a response without Content-Length ends here.
    pub fn parse_at_eof(buf: &[u8]) -> Result<Option<HttpResponse>, ProbeError> {
        Self::parse_inner(buf, true)
    }

    fn parse_inner(buf: &[u8], eof: bool) -> Result<Option<HttpResponse>, ProbeError> {
        let Some(head_end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            return Ok(None);
        };
        let head = std::str::from_utf8(buf.get(..head_end).unwrap_or_default())
            .map_err(|_| ProbeError::Malformed("response head is not UTF-8".into()))?;
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or_default();
        if !version.starts_with("HTTP/1.") {
            return Err(ProbeError::Malformed(format!(
                "not an HTTP response: {}",
                truncate(status_line, 60)
            )));
        }
        let status: u16 = parts.next().and_then(|c| c.parse().ok()).ok_or_else(|| {
            ProbeError::Malformed(format!("bad status line: {}", truncate(status_line, 60)))
        })?;
        let reason = parts.next().unwrap_or_default().to_string();
        let mut content_length = None;
        for line in lines {
            if let Some((name, value)) = line.split_once(':') {
                let name = name.trim();
                if name.eq_ignore_ascii_case("content-length") {
                    content_length = Some(
                        value
                            .trim()
                            .parse::<usize>()
                            .map_err(|_| ProbeError::Malformed("bad Content-Length".into()))?,
                    );
                } else if name.eq_ignore_ascii_case("transfer-encoding")
                    && !value.trim().eq_ignore_ascii_case("identity")
                {
                    return Err(ProbeError::Malformed(
                        "chunked responses are not expected from ARI ping".into(),
                    ));
                }
            }
        }
        let body_start = head_end + 4;
        let available = buf.len() - body_start;
        match content_length {
            Some(len) if len > MAX_RESPONSE => Err(ProbeError::Malformed(format!(
                "Content-Length {len} too large"
            ))),
            Some(len) if available >= len => Ok(Some(HttpResponse {
                status,
                reason,
                body: buf[body_start..body_start + len].to_vec(),
            })),
            Some(_) => Ok(None),
            None if status == 204 || status == 304 => Ok(Some(HttpResponse {
                status,
                reason,
                body: Vec::new(),
            })),
            None if eof => Ok(Some(HttpResponse {
                status,
                reason,
                body: buf[body_start..].to_vec(),
            })),
            None => Ok(None),
        }
    }
}

/// Standard base64 (RFC 4648) with padding: all Basic auth needs.
pub fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_vectors() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
        assert_eq!(base64(b"hasidecar:hasecret"), "aGFzaWRlY2FyOmhhc2VjcmV0");
    }

    #[test]
    fn http_framing() {
        let full = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}";
        assert_eq!(HttpResponse::parse(&full[..20]), Ok(None));
        assert_eq!(HttpResponse::parse(&full[..full.len() - 1]), Ok(None));
        assert_eq!(
            HttpResponse::parse(full).map(|r| r.map(|r| r.body)),
            Ok(Some(b"{}".to_vec()))
        );
        assert!(HttpResponse::parse(b"SSH-2.0-OpenSSH\r\n\r\n").is_err());
        assert!(HttpResponse::parse(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n").is_err());
        let no_len = b"HTTP/1.0 200 OK\r\n\r\nabc";
        assert_eq!(HttpResponse::parse(no_len), Ok(None));
        assert_eq!(
            HttpResponse::parse_at_eof(no_len).map(|r| r.map(|r| r.body)),
            Ok(Some(b"abc".to_vec()))
        );
    }
}
