//! Just enough HTTP/1.1 for the ARI probe and the berofos relay: response framing and Basic auth (no HTTP crate needed).
//!
//! Both talk to one embedded server with one request per connection (`Connection: close`), so
//! a response is complete at `Content-Length` or at the end of the stream. Chunked bodies are
//! refused: neither Asterisk's ping nor the relay's CGI sends them.

/// A parsed HTTP/1.1 response (status and body; headers only as far as framing needs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub reason: String,
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// Parses what was received so far: `Ok(None)` while more bytes are needed. At the end of
    /// the stream (`at_eof`) a response without `Content-Length` ends where the bytes end.
    /// `max_body` caps the `Content-Length` a server may announce.
    pub fn parse(
        buf: &[u8],
        at_eof: bool,
        max_body: usize,
    ) -> Result<Option<HttpResponse>, String> {
        let Some(head_end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            return Ok(None);
        };
        let head = std::str::from_utf8(buf.get(..head_end).unwrap_or_default())
            .map_err(|_| "response head is not UTF-8".to_string())?;
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or_default();
        if !version.starts_with("HTTP/1.") {
            return Err(format!(
                "not an HTTP response: {}",
                truncate(status_line, 60)
            ));
        }
        let status: u16 = parts
            .next()
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| format!("bad status line: {}", truncate(status_line, 60)))?;
        let reason = parts.next().unwrap_or_default().to_string();
        let mut content_length = None;
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let name = name.trim();
            if name.eq_ignore_ascii_case("content-length") {
                let len = value
                    .trim()
                    .parse::<usize>()
                    .map_err(|_| "bad Content-Length".to_string())?;
                content_length = Some(len);
            } else if name.eq_ignore_ascii_case("transfer-encoding")
                && !value.trim().eq_ignore_ascii_case("identity")
            {
                return Err("chunked responses are not supported".into());
            }
        }
        let body_start = head_end + 4;
        let available = buf.len() - body_start;
        let response = |body: &[u8]| HttpResponse {
            status,
            reason: reason.clone(),
            body: body.to_vec(),
        };
        match content_length {
            Some(len) if len > max_body => Err(format!("Content-Length {len} too large")),
            Some(len) if available >= len => Ok(Some(response(&buf[body_start..body_start + len]))),
            Some(_) => Ok(None),
            None if status == 204 || status == 304 => Ok(Some(response(&[]))),
            None if at_eof => Ok(Some(response(&buf[body_start..]))),
            None => Ok(None),
        }
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// The value of an `Authorization` header for Basic auth. Contains the password: never log it.
pub fn basic_authorization(user: &str, password: &str) -> String {
    format!("Basic {}", base64(format!("{user}:{password}").as_bytes()))
}

/// Standard base64 (RFC 4648) with padding: all Basic auth needs.
fn base64(input: &[u8]) -> String {
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
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// At most `max` characters of `s`, with `...` when cut.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        format!("{}...", s.chars().take(max).collect::<String>())
    }
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
        assert_eq!(
            basic_authorization("hasidecar", "hasecret"),
            "Basic aGFzaWRlY2FyOmhhc2VjcmV0"
        );
        assert_eq!(
            basic_authorization("admin", "berofos"),
            "Basic YWRtaW46YmVyb2Zvcw=="
        );
    }

    #[test]
    fn framing() {
        let parse = |b: &[u8]| HttpResponse::parse(b, false, 1024);
        let full = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}";
        assert_eq!(parse(&full[..20]), Ok(None));
        assert_eq!(parse(&full[..full.len() - 1]), Ok(None));
        assert_eq!(
            parse(full).map(|r| r.map(|r| (r.status, r.reason, r.body))),
            Ok(Some((200, "OK".to_string(), b"{}".to_vec())))
        );
        assert!(parse(b"SSH-2.0-OpenSSH\r\n\r\n").is_err());
        assert!(parse(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n").is_err());
        assert!(parse(b"HTTP/1.1 200 OK\r\nContent-Length: 2048\r\n\r\n").is_err());
        assert!(parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n").is_err());
        let no_len = b"HTTP/1.0 200 OK\r\n\r\nabc";
        assert_eq!(parse(no_len), Ok(None));
        assert_eq!(
            HttpResponse::parse(no_len, true, 1024).map(|r| r.map(|r| r.body_text())),
            Ok(Some("abc".to_string()))
        );
        // Bytes after Content-Length are not part of the body.
        assert_eq!(
            parse(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA")
                .map(|r| r.map(|r| r.body_text())),
            Ok(Some("hello".to_string()))
        );
    }
}
