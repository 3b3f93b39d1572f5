//! One SIP `OPTIONS` request, built and sent the same way by every test tool: the harness's
//! client, the fixture capture and the emulator's differential check.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::Duration;

/// An `OPTIONS` from `from` to `to`. `name` marks the tool in the branch, tag and `Call-ID`
/// (`{name}-{seq}@{host}`), so a tool can tell its own answers apart.
pub fn options_request(name: &str, seq: u64, from: SocketAddr, to: SocketAddr) -> String {
    let host = from.ip();
    let port = from.port();
    format!(
        "OPTIONS sip:{to} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {host}:{port};branch=z9hG4bK-{name}-{seq};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:{name}@{host}>;tag={name}-{seq}\r\n\
         To: <sip:{to}>\r\n\
         Call-ID: {name}-{seq}@{host}\r\n\
         CSeq: {seq} OPTIONS\r\n\
         Accept: application/sdp\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

/// What one [`exchange_options`] sent and got back.
#[derive(Debug, Clone)]
pub struct OptionsExchange {
    pub request: String,
    pub answer: Vec<u8>,
    /// The port the request was sent from (an answer names it in `Via`).
    pub local_port: u16,
}

impl OptionsExchange {
    pub fn answer_text(&self) -> String {
        String::from_utf8_lossy(&self.answer).into_owned()
    }
}

/// Sends one `OPTIONS` from an ephemeral port on `from` to `to` and waits up to `timeout` for
/// the first answer.
pub fn exchange_options(
    name: &str,
    from: IpAddr,
    to: SocketAddr,
    timeout: Duration,
) -> std::io::Result<OptionsExchange> {
    let socket = UdpSocket::bind(SocketAddr::new(from, 0))?;
    socket.set_read_timeout(Some(timeout))?;
    let local = socket.local_addr()?;
    let request = options_request(name, 1, local, to);
    socket.send_to(request.as_bytes(), to)?;
    let mut buf = vec![0u8; 65_535];
    let (n, _) = socket.recv_from(&mut buf)?;
    buf.truncate(n);
    Ok(OptionsExchange {
        request,
        answer: buf,
        local_port: local.port(),
    })
}
