//! SIP over UDP: answers `OPTIONS` like res_pjsip of the captures (200, or 404 for an unknown
//! user part); every other request gets `501 Not Implemented`.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::UdpSocket;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use super::core::Core;

/// What res_pjsip advertises in `Accept`, `Allow` and `Supported`: it depends on which PJSIP
/// modules are loaded, so the emulator offers the two module sets it was compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SipCapabilities {
    /// The full install of fixtures `sip/01`-`03` (314 modules: pubsub, MWI, presence,
    /// messaging, refer, registrar).
    Full,
    /// The lean module set of fixture `sip/04` (captured before the tests' Asterisk loaded a
    /// registrar).
    Lean,
    /// The lean set with `res_pjsip_registrar` (phones register for astha's contact mirror):
    /// what the tests' real Asterisk loads now (`asterisk::MODULES`), compared with it live by
    /// `emulator_differential`.
    LeanWithRegistrar,
}

impl SipCapabilities {
    fn headers(self) -> (&'static str, &'static str, &'static str) {
        match self {
            SipCapabilities::Full => (
                "application/sdp, application/simple-message-summary, application/pidf+xml, application/xpidf+xml, application/cpim-pidf+xml, application/dialog-info+xml, application/simple-message-summary, application/pidf+xml, application/dialog-info+xml, message/sipfrag;version=2.0",
                "OPTIONS, REGISTER, SUBSCRIBE, NOTIFY, PUBLISH, INVITE, ACK, BYE, CANCEL, UPDATE, PRACK, MESSAGE, INFO, REFER",
                "100rel, timer, replaces, norefersub",
            ),
            SipCapabilities::Lean => (
                "application/sdp",
                "OPTIONS, SUBSCRIBE, NOTIFY, PUBLISH, INVITE, ACK, BYE, CANCEL, UPDATE, PRACK",
                "100rel, timer",
            ),
            SipCapabilities::LeanWithRegistrar => (
                "application/sdp",
                "OPTIONS, REGISTER, SUBSCRIBE, NOTIFY, PUBLISH, INVITE, ACK, BYE, CANCEL, UPDATE, PRACK",
                "100rel, timer",
            ),
        }
    }
}

/// A parsed SIP request: request line and headers (compact forms not expanded).
#[derive(Debug)]
struct Request<'a> {
    method: &'a str,
    uri: &'a str,
    headers: Vec<(&'a str, &'a str)>,
}

impl<'a> Request<'a> {
    fn parse(text: &'a str) -> Option<Request<'a>> {
        let mut lines = text.split("\r\n");
        let mut first = lines.next()?.split(' ');
        let method = first.next()?;
        let uri = first.next()?;
        if first.next() != Some("SIP/2.0") {
            return None;
        }
        let mut headers = Vec::new();
        for line in lines {
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':')?;
            headers.push((name.trim(), value.trim()));
        }
        Some(Request {
            method,
            uri,
            headers,
        })
    }

    fn header(&self, name: &str, compact: &str) -> Option<&'a str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name) || n.eq_ignore_ascii_case(compact))
            .map(|(_, v)| *v)
    }
}

/// The user part of a `sip:` URI (`sip:probe@host:port` -> `probe`), if any.
fn uri_user(uri: &str) -> Option<&str> {
    let rest = uri
        .strip_prefix("sip:")
        .or_else(|| uri.strip_prefix("sips:"))?;
    rest.split_once('@').map(|(user, _)| user)
}

/// `<sip:probe@127.0.0.2:5060>` -> `<sip:probe@127.0.0.2>` (pjsip prints the To URI without port).
fn strip_port(to: &str) -> String {
    let Some(start) = to.find('<') else {
        return to.to_owned();
    };
    let Some(end) = to[start..].find('>').map(|e| start + e) else {
        return to.to_owned();
    };
    let uri = &to[start + 1..end];
    let (main, uri_params) = uri.split_at(uri.find(';').unwrap_or(uri.len()));
    let host_start = main
        .rfind('@')
        .map(|i| i + 1)
        .unwrap_or_else(|| main.find(':').map_or(0, |i| i + 1));
    let (prefix, hostport) = main.split_at(host_start);
    let host = if hostport.starts_with('[') {
        hostport.find(']').map_or(hostport, |i| &hostport[..=i])
    } else {
        hostport.split(':').next().unwrap_or(hostport)
    };
    format!(
        "{}<{prefix}{host}{uri_params}>{}",
        &to[..start],
        &to[end + 1..]
    )
}

/// Builds the reply to one datagram, or `None` when it is not a SIP request worth answering.
pub fn reply(core: &Core, datagram: &[u8], from: SocketAddr) -> Option<String> {
    let text = std::str::from_utf8(datagram).ok()?;
    let request = Request::parse(text)?;
    if request.method == "ACK" {
        return None;
    }
    let via = request.header("Via", "v")?;
    let call_id = request.header("Call-ID", "i")?;
    let from_h = request.header("From", "f")?;
    let to = request.header("To", "t")?;
    let cseq = request.header("CSeq", "")?;
    let branch = via
        .split(';')
        .find_map(|p| p.trim().strip_prefix("branch="))
        .unwrap_or("z9hG4bKfake");
    // pjsip answers with rport/received filled in: `;rport=PORT;received=IP` before the branch.
    let sent_by = via.split(';').next().unwrap_or(via);
    let via_reply = format!(
        "{sent_by};rport={};received={};branch={branch}",
        from.port(),
        from.ip()
    );
    let (status, reason) = if request.method != "OPTIONS" {
        ("501", "Not Implemented")
    } else if core.fault_set().shutting_down {
        // res_pjsip/pjsip_options.c: "Not taking any new calls at this time" (sip/04).
        ("503", "Service Unavailable")
    } else {
        match uri_user(request.uri) {
            Some(user)
                if !core
                    .config
                    .dialplan
                    .has_exten(&core.config.sip_context, user) =>
            {
                ("404", "Not Found")
            }
            _ => ("200", "OK"),
        }
    };
    let to_reply = if to.contains(";tag=") {
        to.to_owned()
    } else {
        format!("{};tag={branch}", strip_port(to))
    };
    let (accept, allow, supported) = core.config.sip_capabilities.headers();
    Some(format!(
        "SIP/2.0 {status} {reason}\r\nVia: {via_reply}\r\nCall-ID: {call_id}\r\nFrom: {from_h}\r\nTo: {to_reply}\r\nCSeq: {cseq}\r\nAccept: {accept}\r\nAllow: {allow}\r\nSupported: {supported}\r\nAccept-Encoding: identity\r\nAccept-Language: en\r\nServer: Asterisk PBX 22.10.1\r\nContent-Length:  0\r\n\r\n"
    ))
}

/// Starts the SIP responder on a bound socket; it ends when `stop` changes.
pub fn spawn_responder(
    core: Arc<Core>,
    socket: UdpSocket,
    mut stop: watch::Receiver<u64>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        stop.mark_unchanged();
        let mut buf = vec![0u8; 65_536];
        loop {
            let received = tokio::select! {
                _ = stop.changed() => {
                    debug!("SIP responder stops");
                    return;
                }
                r = socket.recv_from(&mut buf) => r,
            };
            let (len, from) = match received {
                Ok(r) => r,
                Err(e) => {
                    // ICMP errors from earlier replies show up here on Linux; keep serving.
                    debug!("SIP receive error: {e}");
                    continue;
                }
            };
            let faults = core.fault_set();
            if faults.sip_down || faults.hung {
                debug!(%from, "SIP down: request dropped");
                continue;
            }
            let Some(answer) = reply(&core, &buf[..len], from) else {
                warn!(%from, len, "ignoring a datagram that is not a SIP request");
                continue;
            };
            if let Some(delay) = faults.slow {
                tokio::time::sleep(delay).await;
            }
            if let Err(e) = socket.send_to(answer.as_bytes(), from).await {
                debug!(%from, "SIP send failed: {e}");
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn to_uri_loses_its_port_like_pjsip() {
        assert_eq!(
            strip_port("<sip:probe@127.0.0.2:5060>"),
            "<sip:probe@127.0.0.2>"
        );
        assert_eq!(strip_port("<sip:127.0.0.2:5060>"), "<sip:127.0.0.2>");
        assert_eq!(strip_port("<sip:probe@127.0.0.2>"), "<sip:probe@127.0.0.2>");
    }
}
