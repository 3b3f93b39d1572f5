//! SIP `OPTIONS` probe over UDP: one request with fresh Call-ID/branch, answer matched by Call-ID, branch and CSeq.

use std::net::SocketAddr;

use tokio::net::UdpSocket;

use crate::config::SipEndpoint;

use super::unique::unique_token;
use super::ProbeError;

/// The SIP status line of the matched answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipAnswer {
    pub code: u16,
    pub reason: String,
}

/// Sends `OPTIONS` to one Asterisk and judges the final answer by the accepted status codes.
#[derive(Debug, Clone)]
pub struct SipOptionsProbe {
    endpoint: SipEndpoint,
    accepted: Vec<u16>,
}

/// Largest datagram we read; SIP over UDP must stay under the path MTU anyway.
const MAX_DATAGRAM: usize = 65_535;

impl SipOptionsProbe {
    pub fn new(endpoint: SipEndpoint, accepted: Vec<u16>) -> Self {
        SipOptionsProbe { endpoint, accepted }
    }

    /// One round trip. Has no timeout of its own: the caller bounds it.
    pub async fn run(&self) -> Result<SipAnswer, ProbeError> {
        let remote = resolve(&self.endpoint).await?;
        let bind: SocketAddr = if remote.is_ipv6() {
            "[::]:0"
        } else {
            "0.0.0.0:0"
        }
        .parse()
        .map_err(|_| ProbeError::Io("bad bind address".into()))?;
        let socket = UdpSocket::bind(bind)
            .await
            .map_err(|e| ProbeError::Io(format!("bind: {e}")))?;
        // Connecting makes the kernel deliver ICMP port-unreachable as an error: a dead SIP
        // stack on a live host is then reported at once instead of at the timeout.
        socket
            .connect(remote)
            .await
            .map_err(|e| ProbeError::Connect(e.to_string()))?;
        let local = socket
            .local_addr()
            .map_err(|e| ProbeError::Io(e.to_string()))?;
        let request = OptionsRequest::new(&self.endpoint, local);
        socket
            .send(request.text.as_bytes())
            .await
            .map_err(|e| ProbeError::Connect(format!("send: {e}")))?;
        let mut buf = vec![0u8; MAX_DATAGRAM];
        loop {
            let n = socket
                .recv(&mut buf)
                .await
                .map_err(|e| ProbeError::Connect(format!("{remote}: {e}")))?;
            let Some(answer) = buf
                .get(..n)
                .and_then(|b| std::str::from_utf8(b).ok())
                .and_then(parse_response)
            else {
                continue; // not a SIP response: ignore rather than fail on stray traffic
            };
            if !request.matches(&answer) || answer.code < 200 {
                continue; // someone else's answer, or a provisional 1xx
            }
            let result = SipAnswer {
                code: answer.code,
                reason: answer.reason,
            };
            return if self.accepted.contains(&result.code) {
                Ok(result)
            } else {
                Err(ProbeError::Status {
                    code: result.code,
                    reason: result.reason,
                })
            };
        }
    }
}

async fn resolve(endpoint: &SipEndpoint) -> Result<SocketAddr, ProbeError> {
    let target = (endpoint.address.host.as_str(), endpoint.address.port);
    tokio::net::lookup_host(target)
        .await
        .map_err(|e| ProbeError::Connect(format!("resolving {}: {e}", endpoint.address)))?
        .next()
        .ok_or_else(|| ProbeError::Connect(format!("{} has no address", endpoint.address)))
}

/// An OPTIONS request and the identifiers its answer must carry.
#[derive(Debug, Clone)]
pub struct OptionsRequest {
    pub text: String,
    pub call_id: String,
    pub branch: String,
}

impl OptionsRequest {
    pub fn new(endpoint: &SipEndpoint, local: SocketAddr) -> Self {
        let token = unique_token();
        let branch = format!("z9hG4bK-astha-{token}");
        let tag = format!("astha{}", &token[..8.min(token.len())]);
        let local_host = host_of(local);
        let call_id = format!("astha-options-{token}@{local_host}");
        let uri = match &endpoint.user {
            Some(user) => format!("sip:{user}@{}", endpoint.address),
            None => format!("sip:{}", endpoint.address),
        };
        let text = format!(
            "OPTIONS {uri} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {local_host}:{port};branch={branch};rport\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:astha@{local_host}>;tag={tag}\r\n\
             To: <{uri}>\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: 1 OPTIONS\r\n\
             Contact: <sip:astha@{local_host}:{port}>\r\n\
             User-Agent: astha/{version}\r\n\
             Accept: application/sdp\r\n\
             Content-Length: 0\r\n\r\n",
            port = local.port(),
            version = env!("CARGO_PKG_VERSION"),
        );
        OptionsRequest {
            text,
            call_id,
            branch,
        }
    }

    /// RFC 3261 17.1.3: the answer belongs to our transaction if the top Via branch and the
    /// CSeq method match; the Call-ID is checked too, as Kamailio and pjsip do.
    pub fn matches(&self, answer: &SipResponse) -> bool {
        answer.call_id.as_deref() == Some(self.call_id.as_str())
            && answer.branch.as_deref() == Some(self.branch.as_str())
            && answer
                .cseq_method
                .as_deref()
                .is_some_and(|m| m.eq_ignore_ascii_case("OPTIONS"))
    }
}

fn host_of(addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V4(a) => a.ip().to_string(),
        SocketAddr::V6(a) => format!("[{}]", a.ip()),
    }
}

/// The parts of a SIP response the probe looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipResponse {
    pub code: u16,
    pub reason: String,
    pub call_id: Option<String>,
    pub branch: Option<String>,
    pub cseq_method: Option<String>,
}

/// Parses a SIP response (status line and headers; compact header names understood).
pub fn parse_response(text: &str) -> Option<SipResponse> {
    let mut lines = text.split("\r\n").flat_map(|l| l.split('\n'));
    let status = lines.next()?;
    let rest = status.strip_prefix("SIP/2.0 ")?;
    let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
    let code: u16 = code.parse().ok().filter(|c| (100..700).contains(c))?;
    let mut response = SipResponse {
        code,
        reason: reason.trim().to_string(),
        call_id: None,
        branch: None,
        cseq_method: None,
    };
    for line in lines {
        if line.is_empty() {
            break;
        }
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "call-id" | "i" if response.call_id.is_none() => {
                response.call_id = Some(value.to_string())
            }
            "via" | "v" if response.branch.is_none() => {
                // Only the top-most Via identifies our transaction.
                let top = value.split(',').next().unwrap_or(value);
                response.branch = top
                    .split(';')
                    .skip(1)
                    .filter_map(|p| p.trim().split_once('='))
                    .find(|(k, _)| k.eq_ignore_ascii_case("branch"))
                    .map(|(_, v)| v.to_string());
            }
            "cseq" if response.cseq_method.is_none() => {
                response.cseq_method = value.split_whitespace().nth(1).map(str::to_string);
            }
            _ => {}
        }
    }
    Some(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURES: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/asterisk-22/sip"
    );

    #[test]
    fn parses_captured_answers() {
        for (file, code, branch) in [
            (
                "01-options-endpoint-exten-200.response.txt",
                200,
                "z9hG4bKhasidecar0000",
            ),
            (
                "03-options-unknown-exten-404.response.txt",
                404,
                "z9hG4bKhasidecar0002",
            ),
        ] {
            let text = std::fs::read_to_string(format!("{FIXTURES}/{file}"))
                .unwrap_or_else(|e| panic!("{file}: {e}"));
            let r = parse_response(&text).unwrap_or_else(|| panic!("{file} did not parse"));
            assert_eq!(r.code, code);
            assert_eq!(r.branch.as_deref(), Some(branch));
            assert_eq!(r.cseq_method.as_deref(), Some("OPTIONS"));
            assert!(r
                .call_id
                .is_some_and(|c| c.starts_with("ha-sidecar-options-")));
        }
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse_response("").is_none());
        assert!(parse_response("OPTIONS sip:x SIP/2.0\r\n\r\n").is_none());
        assert!(parse_response("SIP/2.0 99 Odd\r\n\r\n").is_none());
        assert!(parse_response("SIP/2.0 abc Odd\r\n\r\n").is_none());
    }
}
