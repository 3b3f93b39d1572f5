//! HTTP/ARI: a minimal HTTP/1.1 server answering `GET /ari/asterisk/ping`, `/ari/asterisk/info`
//! and `/ari/channels` with Basic auth (or `api_key=`), shaped like the captured responses.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use base64::prelude::{Engine as _, BASE64_STANDARD};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use super::clock;
use super::core::Core;

/// Longest request head (request line + headers) accepted.
const MAX_HEAD: usize = 16 * 1024;
/// Longest request body read (and ignored).
const MAX_BODY: usize = 1024 * 1024;

/// Build facts of the captured system (`/ari/asterisk/info` `build`).
const BUILD_JSON: &str = r#"{"os":"Linux","kernel":"6.18.44-fc-v769","machine":"x86_64","options":"OPTIONAL_API","date":"2026-11-26 04:08:49 UTC","user":"root"}"#;

/// One HTTP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Reason phrase.
    pub reason: &'static str,
    /// JSON body (empty for 204).
    pub body: String,
    /// Whether to add the `WWW-Authenticate` challenge.
    pub challenge: bool,
}

impl HttpResponse {
    fn json(status: u16, reason: &'static str, body: String) -> HttpResponse {
        HttpResponse {
            status,
            reason,
            body,
            challenge: false,
        }
    }

    /// The bytes on the wire, headers in the captured order.
    pub fn to_wire(&self, now: SystemTime) -> String {
        let mut out = format!(
            "HTTP/1.1 {} {}\r\nServer: Asterisk/22.10.1\r\nDate: {}\r\nCache-Control: no-cache, no-store\r\n",
            self.status,
            self.reason,
            clock::http_date(now)
        );
        if self.challenge {
            out.push_str("WWW-Authenticate: Basic realm=\"Asterisk REST Interface\"\r\n");
        }
        out.push_str(&format!(
            "Content-type: application/json\r\nContent-Length: {}\r\n\r\n",
            self.body.len()
        ));
        out.push_str(&self.body);
        out
    }
}

/// JSON string literal.
fn js(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// ARI prints an unset caller ID as an empty string, AMI as `<unknown>`.
fn known(text: &str) -> &str {
    if text == super::channel::UNKNOWN {
        ""
    } else {
        text
    }
}

/// `%3A` -> `:` (query parameters).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((hi * 16 + lo) as u8);
                i += 3;
                continue;
            }
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Answers one request (method, target with query, Authorization header value).
pub fn route(core: &Core, method: &str, target: &str, authorization: Option<&str>) -> HttpResponse {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let credentials = authorization
        .and_then(|a| a.strip_prefix("Basic "))
        .and_then(|encoded| BASE64_STANDARD.decode(encoded.trim()).ok())
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .or_else(|| query_param(query, "api_key").map(percent_decode));
    let authorized = credentials.is_some_and(|c| {
        c.split_once(':').is_some_and(|(user, pass)| {
            core.config
                .ari_users
                .iter()
                .any(|u| u.name == user && u.password == pass)
        })
    });
    if !path.starts_with("/ari/") && path != "/ari" {
        return HttpResponse::json(
            404,
            "Not Found",
            r#"{"message":"Resource not found"}"#.into(),
        );
    }
    if !authorized {
        return HttpResponse {
            challenge: true,
            ..HttpResponse::json(
                401,
                "Unauthorized",
                r#"{"message":"Authentication required"}"#.into(),
            )
        };
    }
    let not_found = || {
        HttpResponse::json(
            404,
            "Not Found",
            r#"{"message":"Resource not found"}"#.into(),
        )
    };
    match (method, path.trim_end_matches('/')) {
        ("GET", "/ari/asterisk/ping") => HttpResponse::json(
            200,
            "OK",
            format!(
                r#"{{"ping":"pong","timestamp":{},"asterisk_id":{}}}"#,
                js(&clock::iso_millis(SystemTime::now())),
                js(&core.config.entity_id)
            ),
        ),
        ("GET", "/ari/asterisk/info") => {
            let only = query_param(query, "only").map(percent_decode);
            let wanted = |section: &str| {
                only.as_ref()
                    .is_none_or(|o| o.split(',').any(|s| s.trim() == section))
            };
            let up = core.uptime();
            let mut parts = Vec::new();
            if wanted("build") {
                parts.push(format!(r#""build":{BUILD_JSON}"#));
            }
            if wanted("system") {
                parts.push(format!(
                    r#""system":{{"version":"22.10.1","entity_id":{}}}"#,
                    js(&core.config.entity_id)
                ));
            }
            if wanted("config") {
                parts.push(format!(
                    r#""config":{{"name":{},"default_language":"en","setid":{{"user":"","group":""}}}}"#,
                    js(&core.config.system_name)
                ));
            }
            if wanted("status") {
                parts.push(format!(
                    r#""status":{{"startup_time":{},"last_reload_time":{}}}"#,
                    js(&clock::iso_millis(up.started)),
                    js(&clock::iso_millis(up.reloaded))
                ));
            }
            HttpResponse::json(200, "OK", format!("{{{}}}", parts.join(",")))
        }
        ("GET", "/ari/channels") => {
            let now = Instant::now();
            let wall = SystemTime::now();
            let items: Vec<String> = core
                .channels()
                .iter()
                .map(|c| {
                    let created = wall
                        .checked_sub(c.age(now))
                        .unwrap_or(wall);
                    format!(
                        r#"{{"id":{},"name":{},"state":{},"protocol_id":"","caller":{{"name":{},"number":{}}},"connected":{{"name":{},"number":{}}},"accountcode":"","dialplan":{{"context":{},"exten":{},"priority":{},"app_name":{},"app_data":{}}},"creationtime":{},"language":"en"}}"#,
                        js(&c.uniqueid),
                        js(&c.name),
                        js(c.state.desc()),
                        js(known(&c.caller_name)),
                        js(known(&c.caller_num)),
                        js(known(&c.connected_name)),
                        js(known(&c.connected_num)),
                        js(&c.context),
                        js(&c.exten),
                        c.priority,
                        js(&c.application),
                        js(&c.app_data),
                        js(&clock::iso_millis(created)),
                    )
                })
                .collect();
            HttpResponse::json(200, "OK", format!("[{}]", items.join(",")))
        }
        _ => not_found(),
    }
}

/// Starts the HTTP accept loop on a bound listener; it ends when `stop` changes.
pub fn spawn_listener(
    core: Arc<Core>,
    listener: TcpListener,
    mut stop: watch::Receiver<u64>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        stop.mark_unchanged();
        loop {
            tokio::select! {
                _ = stop.changed() => {
                    debug!("HTTP listener stops");
                    return;
                }
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        let core = Arc::clone(&core);
                        tokio::spawn(async move { serve_connection(core, stream, peer).await });
                    }
                    Err(e) => {
                        warn!("HTTP accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                },
            }
        }
    })
}

async fn serve_connection(core: Arc<Core>, mut stream: TcpStream, peer: SocketAddr) {
    let mut kill = core.kill_signal();
    kill.mark_unchanged();
    let mut buf: Vec<u8> = Vec::new();
    loop {
        // Read one request head.
        let head_end = loop {
            if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break pos + 4;
            }
            if buf.len() > MAX_HEAD {
                warn!(%peer, "HTTP request head larger than {MAX_HEAD} bytes; closing");
                return;
            }
            let mut chunk = [0u8; 4096];
            let n = tokio::select! {
                _ = kill.changed() => return,
                r = stream.read(&mut chunk) => match r {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                },
            };
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        buf.drain(..head_end);
        let mut lines = head.split("\r\n");
        let request_line = lines.next().unwrap_or("");
        let mut parts = request_line.split(' ');
        let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
            warn!(%peer, request_line, "malformed HTTP request line; closing");
            return;
        };
        let mut authorization = None;
        let mut content_length = 0usize;
        let mut close = false;
        for line in lines {
            if let Some((name, value)) = line.split_once(':') {
                let value = value.trim();
                if name.eq_ignore_ascii_case("authorization") {
                    authorization = Some(value.to_owned());
                } else if name.eq_ignore_ascii_case("content-length") {
                    content_length = value.parse().unwrap_or(0);
                } else if name.eq_ignore_ascii_case("connection") {
                    close = value.eq_ignore_ascii_case("close");
                }
            }
        }
        if content_length > MAX_BODY {
            warn!(%peer, content_length, "HTTP body too large; closing");
            return;
        }
        while buf.len() < content_length {
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        buf.drain(..content_length);
        // A hung Asterisk never answers; the connection just stays open.
        tokio::select! {
            _ = kill.changed() => return,
            _ = core.wait_not_hung() => {}
        }
        if let Some(delay) = core.fault_set().slow {
            tokio::time::sleep(delay).await;
        }
        let response = route(&core, method, target, authorization.as_deref());
        debug!(%peer, method, target, status = response.status, "ARI request");
        if stream
            .write_all(response.to_wire(SystemTime::now()).as_bytes())
            .await
            .is_err()
            || close
        {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_api_keys_and_quotes_json() {
        assert_eq!(percent_decode("hasidecar%3Awrong"), "hasidecar:wrong");
        assert_eq!(js("a\"b"), "\"a\\\"b\"");
    }
}
