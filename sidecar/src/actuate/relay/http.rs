//! A minimal blocking HTTP/1.1 GET client with timeouts and Basic auth, enough for an embedded device's CGI.
//!
//! One request per connection (`Connection: close`), the body read to end of stream or to
//! `Content-Length`, a size cap, and a deadline on connect, write and every read.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Device pages are tiny; anything larger is not the device we expect.
const MAX_RESPONSE: usize = 256 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HttpResponse {
    pub status: u16,
    pub body: String,
}

/// GET `path_and_query` from `host:port`. Errors are plain strings: the caller wraps them
/// with the request it was making.
pub(crate) fn get(
    host: &str,
    port: u16,
    path_and_query: &str,
    basic_auth: Option<(&str, &str)>,
    timeout: Duration,
) -> Result<HttpResponse, String> {
    let deadline = Instant::now() + timeout;
    let addrs: Vec<_> = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}:{port}: {e}"))?
        .collect();
    let addr = addrs
        .first()
        .ok_or_else(|| format!("{host}:{port} resolves to no address"))?;
    let mut stream = TcpStream::connect_timeout(addr, timeout)
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    let _ = stream.set_nodelay(true);

    let mut request = format!("GET {path_and_query} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\nUser-Agent: astha\r\n");
    if let Some((user, password)) = basic_auth {
        request.push_str(&format!(
            "Authorization: Basic {}\r\n",
            base64(format!("{user}:{password}").as_bytes())
        ));
    }
    request.push_str("\r\n");
    stream
        .set_write_timeout(Some(remaining(deadline)?))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("sending request: {e}"))?;

    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        stream
            .set_read_timeout(Some(remaining(deadline)?))
            .map_err(|e| e.to_string())?;
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                raw.extend_from_slice(&buf[..n]);
                if raw.len() > MAX_RESPONSE {
                    return Err(format!("response larger than {MAX_RESPONSE} bytes"));
                }
                if let Some(done) = complete_length(&raw) {
                    if raw.len() >= done {
                        break;
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(format!(
                    "no complete response within {} ms",
                    timeout.as_millis()
                ));
            }
            Err(e) => return Err(format!("reading response: {e}")),
        }
    }
    parse_response(&raw)
}

fn remaining(deadline: Instant) -> Result<Duration, String> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        Err("deadline passed".into())
    } else {
        Ok(left)
    }
}

/// Total length of the message when the headers are complete and carry Content-Length.
fn complete_length(raw: &[u8]) -> Option<usize> {
    let head_end = find(raw, b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&raw[..head_end]);
    head.lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .map(|len| head_end + len)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn parse_response(raw: &[u8]) -> Result<HttpResponse, String> {
    let head_end = find(raw, b"\r\n\r\n").ok_or_else(|| {
        if raw.is_empty() {
            "connection closed without a response".to_owned()
        } else {
            format!(
                "malformed response {:?}",
                String::from_utf8_lossy(&raw[..raw.len().min(80)])
            )
        }
    })?;
    let head = String::from_utf8_lossy(&raw[..head_end]);
    let status_line = head.lines().next().unwrap_or_default();
    let mut parts = status_line.split_whitespace();
    let status = match (parts.next(), parts.next()) {
        (Some(version), Some(code)) if version.starts_with("HTTP/1.") => code
            .parse::<u16>()
            .map_err(|_| format!("malformed status line {status_line:?}"))?,
        _ => return Err(format!("malformed status line {status_line:?}")),
    };
    let body = &raw[head_end + 4..];
    let body = match complete_length(raw) {
        Some(total) if total <= raw.len() => &raw[head_end + 4..total],
        _ => body,
    };
    Ok(HttpResponse {
        status,
        body: String::from_utf8_lossy(body).into_owned(),
    })
}

/// Standard base64 with padding (RFC 4648), for the Basic auth header.
fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
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
    fn base64_matches_rfc4648_vectors() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"admin:berofos"), "YWRtaW46YmVyb2Zvcw==");
    }

    #[test]
    fn parses_status_and_body_with_length() {
        let r = parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA").unwrap();
        assert_eq!(
            r,
            HttpResponse {
                status: 200,
                body: "hello".into()
            }
        );
        assert!(parse_response(b"garbage\r\n\r\n").is_err());
        assert!(parse_response(b"").is_err());
    }
}
