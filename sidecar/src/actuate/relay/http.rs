//! A minimal blocking HTTP/1.1 GET client with timeouts and Basic auth, enough for an embedded device's CGI.
//!
//! One request per connection (`Connection: close`), the body read to end of stream or to
//! `Content-Length`, a size cap, and a deadline on connect, write and every read.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use crate::http::{basic_authorization, truncate, HttpResponse};

/// Device pages are tiny; anything larger is not the device we expect.
const MAX_RESPONSE: usize = 256 * 1024;

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
            "Authorization: {}\r\n",
            basic_authorization(user, password)
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
            Ok(0) => {
                return match HttpResponse::parse(&raw, true, MAX_RESPONSE)? {
                    Some(response) => Ok(response),
                    None if raw.is_empty() => Err("connection closed without a response".into()),
                    None => Err(format!(
                        "connection closed before a full response: {:?}",
                        truncate(&String::from_utf8_lossy(&raw), 80)
                    )),
                };
            }
            Ok(n) => {
                raw.extend_from_slice(&buf[..n]);
                if raw.len() > MAX_RESPONSE {
                    return Err(format!("response larger than {MAX_RESPONSE} bytes"));
                }
                if let Some(response) = HttpResponse::parse(&raw, false, MAX_RESPONSE)? {
                    return Ok(response);
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
}

fn remaining(deadline: Instant) -> Result<Duration, String> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        Err("deadline passed".into())
    } else {
        Ok(left)
    }
}
