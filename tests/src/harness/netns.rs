//! The two-server network: namespaces for server A, server B, a client and a switch with a LAN and a crossover bridge.
//!
//! ```text
//!            switch netns (br-lan 10.77.0.250 + gateway .254, br-x)
//!   A eth0 ── pa ─┐ br-lan ┌─ pb ── eth0 B        client eth0 ── pc ── br-lan
//!   A eth1 ── xa ─┘ br-x   └─ xb ── eth1 B        (the relay simulator listens on 10.77.0.250)
//! ```
//! Names carry the process id and a counter, so parallel tests and sequential pairs never
//! clash; every namespace is deleted when the [`Topology`] is dropped, panics included.

use std::net::Ipv4Addr;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use super::HarnessError;

/// LAN addresses (a /24): servers, client, floating IP, relay.
pub const LAN_A: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
pub const LAN_B: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);
pub const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 10);
pub const FLOATING_IP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 100);
pub const RELAY: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 250);
/// The LAN's "router" (a second address of the switch): what a pair's reachability targets
/// (`[service_network] targets`) ping; [`Topology::set_route`] cuts one server's way to it.
pub const GATEWAY: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 254);
/// Extra LAN addresses the peer link uses, so it can be cut without touching calls or probes.
pub const PEER_LAN_A: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 11);
pub const PEER_LAN_B: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 12);
/// Crossover addresses (a /24 on the second bridge, A and B only).
pub const CROSS_A: Ipv4Addr = Ipv4Addr::new(10, 78, 0, 1);
pub const CROSS_B: Ipv4Addr = Ipv4Addr::new(10, 78, 0, 2);

static NEXT_ID: AtomicU32 = AtomicU32::new(0);

/// Which namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Host {
    A,
    B,
    Client,
    Switch,
}

/// A server's cable to one of the two bridges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cable {
    Lan,
    Crossover,
}

/// The namespaces and links; deleted on drop.
#[derive(Debug)]
pub struct Topology {
    prefix: String,
    created: Vec<String>,
}

impl Topology {
    /// Creates every namespace, bridge, veth pair and address.
    pub fn create() -> Result<Topology, HarnessError> {
        let id = NEXT_ID.fetch_add(1, Ordering::SeqCst);
        let mut topo = Topology {
            prefix: format!("ah{}x{id}", std::process::id()),
            created: Vec::new(),
        };
        topo.build()?;
        Ok(topo)
    }

    fn build(&mut self) -> Result<(), HarnessError> {
        for host in [Host::Switch, Host::A, Host::B, Host::Client] {
            let name = self.name(host);
            run("ip", &["netns", "add", &name])?;
            self.created.push(name.clone());
            run("ip", &["-n", &name, "link", "set", "lo", "up"])?;
        }
        let sw = self.name(Host::Switch);
        for bridge in ["br-lan", "br-x"] {
            run("ip", &["-n", &sw, "link", "add", bridge, "type", "bridge"])?;
            // No STP listening delay: ports forward at once.
            run(
                "ip",
                &[
                    "-n",
                    &sw,
                    "link",
                    "set",
                    bridge,
                    "type",
                    "bridge",
                    "forward_delay",
                    "0",
                ],
            )?;
            run("ip", &["-n", &sw, "link", "set", bridge, "up"])?;
        }
        for addr in [RELAY, GATEWAY] {
            run(
                "ip",
                &[
                    "-n",
                    &sw,
                    "addr",
                    "add",
                    &format!("{addr}/24"),
                    "dev",
                    "br-lan",
                ],
            )?;
        }
        let plugs = [
            (Host::A, "pa", "eth0", "br-lan", LAN_A),
            (Host::B, "pb", "eth0", "br-lan", LAN_B),
            (Host::Client, "pc", "eth0", "br-lan", CLIENT),
            (Host::A, "xa", "eth1", "br-x", CROSS_A),
            (Host::B, "xb", "eth1", "br-x", CROSS_B),
        ];
        for (host, port, ifname, bridge, addr) in plugs {
            let ns = self.name(host);
            run(
                "ip",
                &[
                    "-n", &sw, "link", "add", port, "type", "veth", "peer", "name", ifname,
                    "netns", &ns,
                ],
            )?;
            run(
                "ip",
                &["-n", &sw, "link", "set", port, "master", bridge, "up"],
            )?;
            run("ip", &["-n", &ns, "link", "set", ifname, "up"])?;
            run(
                "ip",
                &[
                    "-n",
                    &ns,
                    "addr",
                    "add",
                    &format!("{addr}/24"),
                    "dev",
                    ifname,
                ],
            )?;
        }
        for (host, addr) in [(Host::A, PEER_LAN_A), (Host::B, PEER_LAN_B)] {
            let ns = self.name(host);
            run(
                "ip",
                &[
                    "-n",
                    &ns,
                    "addr",
                    "add",
                    &format!("{addr}/24"),
                    "dev",
                    "eth0",
                ],
            )?;
        }
        Ok(())
    }

    /// Cuts (or restores) the peer link alone on both links, leaving the LAN otherwise intact:
    /// each server gets an `unreachable` route to the other's peer-link addresses (there is no
    /// packet filter on the test machines, so routing does the filtering).
    pub fn set_peer_link(&self, up: bool) -> Result<(), HarnessError> {
        for (host, targets) in [
            (Host::A, [PEER_LAN_B, CROSS_B]),
            (Host::B, [PEER_LAN_A, CROSS_A]),
        ] {
            for target in targets {
                self.set_route(host, target, up)?;
            }
        }
        Ok(())
    }

    /// Cuts (`up = false`, an `unreachable` route) or restores `host`'s way to one address,
    /// leaving its carrier and every other address alone.
    pub fn set_route(&self, host: Host, to: Ipv4Addr, up: bool) -> Result<(), HarnessError> {
        let action = if up { "del" } else { "add" };
        run(
            "ip",
            &[
                "-n",
                &self.name(host),
                "route",
                action,
                "unreachable",
                &format!("{to}/32"),
            ],
        )
    }

    /// The namespace name of `host` (for `ip netns exec`).
    pub fn name(&self, host: Host) -> String {
        let suffix = match host {
            Host::A => "a",
            Host::B => "b",
            Host::Client => "c",
            Host::Switch => "sw",
        };
        format!("{}-{suffix}", self.prefix)
    }

    /// `/var/run/netns/<name>`, for `setns`.
    pub fn path(&self, host: Host) -> std::path::PathBuf {
        std::path::PathBuf::from(format!("/var/run/netns/{}", self.name(host)))
    }

    fn port(server: Host, cable: Cable) -> &'static str {
        match (server, cable) {
            (Host::A, Cable::Lan) => "pa",
            (Host::A, Cable::Crossover) => "xa",
            (Host::B, Cable::Lan) => "pb",
            (Host::B, Cable::Crossover) => "xb",
            (Host::Client, _) => "pc",
            (Host::Switch, _) => "br-lan",
        }
    }

    /// Pulls (`up = false`) or plugs back a server's cable: the switch-side port goes down, so
    /// the server sees its link lose carrier, as with a pulled cable.
    pub fn set_cable(&self, server: Host, cable: Cable, up: bool) -> Result<(), HarnessError> {
        let sw = self.name(Host::Switch);
        let state = if up { "up" } else { "down" };
        run(
            "ip",
            &["-n", &sw, "link", "set", Self::port(server, cable), state],
        )
    }

    /// Whether `host` currently has the floating IP configured.
    pub fn holds_floating_ip(&self, host: Host) -> Result<bool, HarnessError> {
        let out = output("ip", &["-n", &self.name(host), "-o", "-4", "addr", "show"])?;
        Ok(out.contains(&format!(" {FLOATING_IP}/")))
    }
}

/// Tears a topology down from anywhere (e.g. a signal-handling thread), independently of the
/// [`Topology`] value: kills every process inside its namespaces, then deletes them.
#[derive(Debug, Clone)]
pub struct Teardown {
    names: Vec<String>,
}

impl Teardown {
    pub fn run(&self) {
        for name in &self.names {
            if let Ok(pids) = output("ip", &["netns", "pids", name]) {
                for pid in pids
                    .split_whitespace()
                    .filter_map(|p| p.parse::<i32>().ok())
                {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
            }
        }
        for name in self.names.iter().rev() {
            let _ = Command::new("ip")
                .args(["netns", "del", name])
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}

impl Topology {
    /// A [`Teardown`] for these namespaces.
    pub fn teardown(&self) -> Teardown {
        Teardown {
            names: self.created.clone(),
        }
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        // Deleting a namespace destroys its veth ends, and with them the peers in the switch.
        for name in self.created.iter().rev() {
            let _ = Command::new("ip")
                .args(["netns", "del", name])
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}

/// Runs a command to completion; a non-zero exit is an error carrying its stderr.
pub(crate) fn run(program: &str, args: &[&str]) -> Result<(), HarnessError> {
    output(program, args).map(|_| ())
}

/// Runs a command and returns its stdout.
pub(crate) fn output(program: &str, args: &[&str]) -> Result<String, HarnessError> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|source| HarnessError::Spawn {
            program: program.to_owned(),
            source,
        })?;
    if !out.status.success() {
        return Err(HarnessError::Command {
            command: format!("{program} {}", args.join(" ")),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
