//! The witness: a third party both servers can reach, whose answer breaks the two-node tie when the peer falls silent.
//!
//! Two servers that stop hearing each other cannot tell a dead peer from a cut between them: a
//! standby cut off from everything would take over and, once the cables are back, find two
//! actives. A witness is an address on the network that carries the calls. A standby that
//! still reaches it is on the side of the cut that can serve; one that does not is the node
//! that is cut off, and does not take over (`[decide] witness`, the decision core's
//! `witness_reachable_if_configured`).
//!
//! Good witnesses are always on and on the service network: the LAN's router (ICMP echo), the
//! SIP trunk's proxy (a TCP connect to its SIP port, when it filters ICMP), or the berofos
//! itself (a TCP connect to its web port): a node that cannot reach the berofos could not
//! switch the PSTN either. A TCP connection refused counts as an answer: the host is there.
//!
//! The daemon checks the witness every `witness_interval_ms` and again at once whenever the
//! peer falls silent (with the urgent probe of the peer's Asterisk), each check bounded by
//! `witness_timeout_ms`; the core trusts only an answer that came after the silence began.

mod icmp;

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::time::{Duration, Instant};

/// What to check and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WitnessTarget {
    /// An ICMP echo request (ping) must be answered.
    IcmpEcho(IpAddr),
    /// A TCP connection must be accepted or refused (either way the host answered).
    TcpConnect(SocketAddr),
}

impl FromStr for WitnessTarget {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Ok(addr) = s.parse::<SocketAddr>() {
            return Ok(WitnessTarget::TcpConnect(addr));
        }
        s.parse::<IpAddr>()
            .map(WitnessTarget::IcmpEcho)
            .map_err(|_| {
                format!(
                "`{s}`: expected an IP address (checked by ICMP echo) or address:port (checked by \
                 a TCP connect), e.g. \"192.0.2.1\" or \"192.0.2.5:5060\""
            )
            })
    }
}

impl fmt::Display for WitnessTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WitnessTarget::IcmpEcho(ip) => write!(f, "{ip} (ICMP echo)"),
            WitnessTarget::TcpConnect(addr) => write!(f, "{addr} (TCP connect)"),
        }
    }
}

impl WitnessTarget {
    /// One check within `timeout`: the round trip when the witness answered, else why not.
    pub async fn check(self, timeout: Duration) -> Result<Duration, String> {
        let started = Instant::now();
        match self {
            WitnessTarget::IcmpEcho(ip) => {
                tokio::task::spawn_blocking(move || icmp::echo(ip, timeout))
                    .await
                    .map_err(|e| format!("ICMP echo task failed: {e}"))?
            }
            WitnessTarget::TcpConnect(addr) => {
                match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(addr)).await {
                    Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
                    Ok(Ok(_)) => Ok(started.elapsed()),
                    Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                        Ok(started.elapsed())
                    }
                    Ok(Err(e)) => Err(e.to_string()),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_pinged_and_an_address_with_port_is_connected_to() {
        assert_eq!(
            "192.0.2.1".parse::<WitnessTarget>(),
            Ok(WitnessTarget::IcmpEcho("192.0.2.1".parse().unwrap()))
        );
        assert_eq!(
            "[2001:db8::5]:5060".parse::<WitnessTarget>(),
            Ok(WitnessTarget::TcpConnect(
                "[2001:db8::5]:5060".parse().unwrap()
            ))
        );
        let err = "gateway".parse::<WitnessTarget>().unwrap_err();
        assert!(
            err.contains("ICMP echo") && err.contains("TCP connect"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_listening_or_refusing_host_answers() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let open = WitnessTarget::TcpConnect(listener.local_addr().unwrap());
        assert!(open.check(Duration::from_secs(2)).await.is_ok());
        // The same port once nothing listens: the host refuses, which is an answer.
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let refused = WitnessTarget::TcpConnect(addr);
        assert!(refused.check(Duration::from_secs(2)).await.is_ok());
        // (A witness that does not answer at all is the cut-off node of the two-node harness
        // scenario `a_witness_breaks_a_total_cut`.)
    }

    #[tokio::test]
    async fn loopback_answers_an_icmp_echo() {
        // Needs a ping socket (net.ipv4.ping_group_range) or CAP_NET_RAW, as astha.service grants.
        if !nix::unistd::Uid::effective().is_root() {
            eprintln!("skipped: ICMP needs root or a ping socket group");
            return;
        }
        let loopback = WitnessTarget::IcmpEcho("127.0.0.1".parse().unwrap());
        let rtt = loopback.check(Duration::from_secs(2)).await;
        assert!(rtt.is_ok(), "{rtt:?}");
    }
}
