//! The service network: the floating-IP interface exists and has carrier (netlink, as the actuator reads it), Asterisk answers SIP on the floating IP where this node holds it, and the reachability targets answer (the witness checks the daemon runs).

use std::net::IpAddr;
use std::time::Duration;

use crate::actuate::config::StandbyMode;
use crate::actuate::floating_ip::{FloatingIp, IpError};
use crate::config::{Config, HostPort, SipEndpoint};
use crate::probe::sip::SipOptionsProbe;
use crate::probe::ProbeKind;

use super::Check;

/// The floating-IP lines, then one line per reachability target.
pub async fn check(config: &Config) -> Vec<Check> {
    let (mut checks, reachability) = tokio::join!(floating_ip(config), reachability(config));
    checks.extend(reachability);
    checks
}

async fn floating_ip(config: &Config) -> Vec<Check> {
    const NAME: &str = "floating-IP interface";
    let Some(cfg) = config.daemon.actuate.floating_ip.clone() else {
        return vec![Check::skip(NAME, "no [actuate.floating_ip] configured")];
    };
    let interface = cfg.interface.clone();
    let ip = match FloatingIp::open(cfg.clone()).await {
        Ok(ip) => ip,
        Err(IpError::NoSuchInterface(_)) => {
            return vec![Check::fail(
                NAME,
                format!("interface {interface} does not exist on this node"),
                "set [actuate.floating_ip] interface to the service-network interface (`ip link` lists them)",
            )]
        }
        Err(e) => {
            return vec![Check::fail(
                NAME,
                format!("cannot read interface {interface}: {e}"),
                "run `astha doctor` as root (the daemon needs CAP_NET_ADMIN and CAP_NET_RAW too)",
            )]
        }
    };
    let carrier = match ip.carrier().await {
        Ok(true) => Check::ok(NAME, format!("{interface} is up with carrier")),
        Ok(false) => Check::fail(
            NAME,
            format!(
                "{interface} is down or has no carrier: this node could not serve after a takeover"
            ),
            format!("plug the cable / check the switch port; `ip link set {interface} up`"),
        ),
        Err(e) => Check::fail(
            NAME,
            format!("cannot read the link state of {interface}: {e}"),
            "run `astha doctor` as root",
        ),
    };
    vec![carrier, sip_on_floating_ip(config, &ip).await]
}

/// SIP OPTIONS to the floating IP, on the local Asterisk's SIP port: the answer proves
/// Asterisk receives on the address phones and trunks use (a transport bound to the node's
/// own address would not).
async fn sip_on_floating_ip(config: &Config, ip: &FloatingIp) -> Check {
    const NAME: &str = "SIP on the floating IP";
    let local = config.target(crate::config::TargetRole::Local);
    let Some(sip) = &local.sip else {
        return Check::skip(NAME, "no SIP endpoint configured for the local Asterisk");
    };
    match ip.is_present().await {
        Ok(true) => {}
        Ok(false) if config.daemon.actuate.asterisk.mode == StandbyMode::Warm => {
            return bind_test(ip, sip.address.port)
        }
        Ok(false) => {
            return Check::skip(
                NAME,
                "this node does not hold the floating IP and its Asterisk runs only when active (cold standby): checked on the node that holds it",
            )
        }
        Err(e) => {
            return Check::fail(
                NAME,
                format!("cannot list the addresses of {}: {e}", ip.config().interface),
                "run `astha doctor` as root",
            )
        }
    }
    let timeout = config.probes.timing(ProbeKind::Sip).timeout;
    let mut answers = Vec::new();
    for address in &ip.config().addresses {
        let endpoint = SipEndpoint {
            address: HostPort {
                host: address.addr.to_string(),
                port: sip.address.port,
            },
            user: sip.user.clone(),
        };
        let target = endpoint.address.to_string();
        let probe = SipOptionsProbe::new(endpoint, config.probes.sip_accepted.clone());
        match tokio::time::timeout(timeout, probe.run()).await {
            Ok(Ok(answer)) => answers.push(format!("{target} answered {}", answer.code)),
            Ok(Err(e)) => return Check::fail(NAME, format!("{target}: {e}"), BIND_FIX),
            Err(_) => {
                return Check::fail(
                    NAME,
                    format!("{target}: no answer within {} ms", timeout.as_millis()),
                    format!(
                        "{BIND_FIX}; an answer from another address is dropped, as phones drop it"
                    ),
                )
            }
        }
    }
    Check::ok(NAME, answers.join(", "))
}

/// Where the fix for a floating IP Asterisk does not answer on lies.
const BIND_FIX: &str = "bind a PJSIP transport to the floating IP (`astha-floating` of dialplan/pjsip_astha.conf) and restart Asterisk (transports are not reloadable)";

/// A warm standby's Asterisk must listen on the floating IP before it holds it (a transport
/// is bound at start only, which takes `net.ipv4.ip_nonlocal_bind`): the kernel's socket table
/// of this network namespace tells whether something is bound to the floating address, or
/// only to all addresses (then it answers from this node's own address, which phones drop).
fn bind_test(ip: &FloatingIp, port: u16) -> Check {
    const NAME: &str = "SIP on the floating IP";
    let listeners = match udp_listeners(port) {
        Ok(l) => l,
        Err(e) => {
            return Check::warn(
                NAME,
                format!("cannot read the UDP socket table: {e}"),
                "run `astha doctor` on a Linux host with /proc mounted",
            )
        }
    };
    let mut bound = Vec::new();
    for address in &ip.config().addresses {
        let target = std::net::SocketAddr::new(address.addr, port);
        if listeners.contains(&address.addr) {
            bound.push(target.to_string());
        } else if listeners.iter().any(IpAddr::is_unspecified) {
            return Check::fail(
                NAME,
                format!("not held here; UDP port {port} is bound to all addresses but not to {target}: after a takeover Asterisk would answer from this node's own address, which phones and carriers drop"),
                BIND_FIX,
            );
        } else {
            return Check::fail(
                NAME,
                format!("not held here; nothing listens on {target}: after a takeover this node's Asterisk would not answer on the floating IP"),
                format!("{BIND_FIX}, with `net.ipv4.ip_nonlocal_bind = 1` so it can bind before holding the address"),
            );
        }
    }
    Check::ok(
        NAME,
        format!(
            "not held here; {} bound already (the standby's Asterisk waits on the floating IP)",
            bound.join(", ")
        ),
    )
}

/// The local addresses of the UDP sockets bound to `port` in this network namespace.
fn udp_listeners(port: u16) -> std::io::Result<Vec<IpAddr>> {
    let mut found = Vec::new();
    for table in ["/proc/net/udp", "/proc/net/udp6"] {
        match std::fs::read_to_string(table) {
            Ok(text) => found.extend(parse_udp_table(&text, port)),
            // No IPv6 in this kernel: the IPv4 table is the whole answer.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && table.ends_with('6') => {}
            Err(e) => return Err(e),
        }
    }
    Ok(found)
}

/// Local addresses bound to `port` in a `/proc/net/udp{,6}` table: `sl local rem ...`, the
/// local address as the kernel's in-memory words in hex (`0100007F:13C4` is 127.0.0.1:5060).
fn parse_udp_table(text: &str, port: u16) -> Vec<IpAddr> {
    text.lines()
        .skip(1)
        .filter_map(|line| line.split_whitespace().nth(1))
        .filter_map(|local| {
            let (addr, p) = local.split_once(':')?;
            if u16::from_str_radix(p, 16).ok()? != port {
                return None;
            }
            let words: Option<Vec<[u8; 4]>> = (0..addr.len() / 8)
                .map(|i| {
                    u32::from_str_radix(addr.get(i * 8..i * 8 + 8)?, 16)
                        .ok()
                        .map(u32::to_le_bytes)
                })
                .collect();
            let bytes: Vec<u8> = words?.concat();
            match bytes.len() {
                4 => Some(IpAddr::from(<[u8; 4]>::try_from(bytes).ok()?)),
                16 => Some(IpAddr::from(<[u8; 16]>::try_from(bytes).ok()?)),
                _ => None,
            }
        })
        .collect()
}

/// Each `[service_network] targets` entry checked once, as the daemon checks it.
async fn reachability(config: &Config) -> Vec<Check> {
    let section = &config.daemon.service_network;
    if section.targets.is_empty() {
        return vec![Check::skip(
            "reachability targets",
            "no [service_network] targets configured",
        )];
    }
    let timeout = Duration::from_millis(section.timeout_ms);
    let results =
        futures_util::future::join_all(section.targets.iter().map(|t| t.check(timeout))).await;
    let all_down = results.iter().all(Result::is_err);
    section
        .targets
        .iter()
        .zip(results)
        .map(|(target, result)| {
            let name = format!("reachability target {target}");
            match result {
                Ok(rtt) => Check::ok(name, format!("answered in {:.1} ms", rtt.as_secs_f64() * 1000.0)),
                // The service network is down only while every target is: one silent target
                // of several is worth a look, all of them is a node that cannot serve.
                Err(e) if all_down => Check::fail(
                    name,
                    format!("{e}: no target answers, the daemon would judge this node's service network down"),
                    "check the service network's uplink and the targets' addresses in [service_network] targets",
                ),
                Err(e) => Check::warn(
                    name,
                    e,
                    "check the target's address, or remove it from [service_network] targets",
                ),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_udp_table_gives_the_addresses_bound_to_a_port() {
        let v4 = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
                  \x20 1: 6400A8C0:13C4 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1 2 0000000000000000 0\n\
                  \x20 2: 00000000:13C4 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1 2 0000000000000000 0\n\
                  \x20 3: 0100007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1 2 0000000000000000 0\n";
        assert_eq!(
            parse_udp_table(v4, 5060),
            vec![
                "192.168.0.100".parse::<IpAddr>().unwrap(),
                "0.0.0.0".parse().unwrap()
            ]
        );
        let v6 = "  sl  local_address                         remote_address                        st\n\
                  \x20 0: 00000000000000000000000001000000:13C4 00000000000000000000000000000000:0000 07\n";
        assert_eq!(
            parse_udp_table(v6, 5060),
            vec!["::1".parse::<IpAddr>().unwrap()]
        );
        assert!(parse_udp_table(v4, 5061).is_empty());
    }
}
