//! Test and benchmark support for the actuators: a throw-away LAN of network namespaces (two servers, a client, a bridge).
//!
//! Namespaces are named with a tag and the process id so parallel tests never clash, and are
//! deleted on drop, also when the test fails.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Why namespace tests cannot run here, if they cannot.
pub fn netns_unavailable() -> Option<String> {
    if !is_root() {
        return Some("not root (network namespaces need CAP_SYS_ADMIN)".into());
    }
    match Command::new("ip").arg("-V").output() {
        Ok(o) if o.status.success() => None,
        _ => Some("`ip` (iproute2) is not installed".into()),
    }
}

/// Three hosts on one bridge: `a` (10.77.0.1), `b` (10.77.0.2), `client` (10.77.0.10), each with `eth0`.
pub struct Lan {
    prefix: String,
    pub a: String,
    pub b: String,
    pub client: String,
    sw: String,
}

pub const VIP: &str = "10.77.0.100";
pub const VIP_CIDR: &str = "10.77.0.100/24";
pub const VIP6: &str = "fd77::100";
pub const VIP6_CIDR: &str = "fd77::100/64";

fn run(args: &[&str]) -> Output {
    match Command::new(args[0]).args(&args[1..]).output() {
        Ok(o) => o,
        Err(e) => panic!("cannot run {args:?}: {e}"),
    }
}

fn must(args: &[&str]) {
    let o = run(args);
    assert!(
        o.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

impl Lan {
    pub fn new(tag: &str) -> Lan {
        let prefix = format!("ast-{tag}-{}", std::process::id());
        let lan = Lan {
            a: format!("{prefix}-a"),
            b: format!("{prefix}-b"),
            client: format!("{prefix}-c"),
            sw: format!("{prefix}-sw"),
            prefix,
        };
        for ns in [&lan.sw, &lan.a, &lan.b, &lan.client] {
            must(&["ip", "netns", "add", ns]);
            must(&["ip", "-n", ns, "link", "set", "lo", "up"]);
        }
        must(&["ip", "-n", &lan.sw, "link", "add", "br0", "type", "bridge"]);
        must(&["ip", "-n", &lan.sw, "link", "set", "br0", "up"]);
        for (port, ns, addr, addr6) in [
            ("p-a", &lan.a, "10.77.0.1/24", "fd77::1/64"),
            ("p-b", &lan.b, "10.77.0.2/24", "fd77::2/64"),
            ("p-c", &lan.client, "10.77.0.10/24", "fd77::10/64"),
        ] {
            must(&[
                "ip", "-n", &lan.sw, "link", "add", port, "type", "veth", "peer", "name", "eth0",
                "netns", ns,
            ]);
            must(&[
                "ip", "-n", &lan.sw, "link", "set", port, "master", "br0", "up",
            ]);
            must(&["ip", "-n", ns, "link", "set", "eth0", "up"]);
            must(&["ip", "-n", ns, "addr", "add", addr, "dev", "eth0"]);
            must(&["ip", "-n", ns, "addr", "add", addr6, "dev", "eth0", "nodad"]);
        }
        lan
    }

    pub fn netns_path(ns: &str) -> PathBuf {
        PathBuf::from(format!("/var/run/netns/{ns}"))
    }

    pub fn mac(&self, ns: &str) -> String {
        let o = run(&["ip", "-n", ns, "-o", "link", "show", "eth0"]);
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        let words: Vec<&str> = text.split_whitespace().collect();
        let i = words
            .iter()
            .position(|w| *w == "link/ether")
            .expect("eth0 has no link/ether");
        words[i + 1].to_owned()
    }

    /// The link-layer address the client's neighbour table holds for `ip`, if any.
    pub fn client_neighbour(&self, ip: &str) -> Option<String> {
        let o = run(&["ip", "-n", &self.client, "neigh", "show", ip]);
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        let words: Vec<&str> = text.split_whitespace().collect();
        words
            .iter()
            .position(|w| *w == "lladdr")
            .and_then(|i| words.get(i + 1))
            .map(|s| s.to_string())
    }

    /// One ping from the client; true when answered.
    pub fn client_ping(&self, ip: &str) -> bool {
        run(&[
            "ip",
            "netns",
            "exec",
            &self.client,
            "ping",
            "-c",
            "1",
            "-W",
            "1",
            ip,
        ])
        .status
        .success()
    }

    /// Poll `cond` every millisecond until it holds or `limit` passes; returns the time it took.
    pub fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> Option<Duration> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if cond() {
                return Some(start.elapsed());
            }
            std::thread::park_timeout(Duration::from_millis(1));
        }
        None
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        for ns in [&self.client, &self.a, &self.b, &self.sw] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}
