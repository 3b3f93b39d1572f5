//! One server's Asterisk in the harness, emulated or real: started, stopped, faulted and healed the same way, with the scripts astha's cold standby runs.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::binaries::Binaries;
use super::client::now_unix;
use super::control::asterisk_command;
use super::fault::{AsteriskKind, Fault};
use super::netns::{Topology, CLIENT, FLOATING_IP, LAN_A, LAN_B};
use super::process::{Proc, Stdio2};
use super::{poll, HarnessError, Side};
use crate::asterisk::group_stop::GroupStop;
use crate::asterisk::{Install, Instance, InstanceConfig, PairAddresses};

/// The failover PIN of the real instances' `[ha-admin]` (site configuration).
pub const PIN: &str = "4711";

/// How long the emulator's start-up may take on a loaded machine.
const START_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
const POLL: std::time::Duration = std::time::Duration::from_millis(20);

/// A server's Asterisk.
#[derive(Debug)]
pub struct ServerAsterisk {
    side: Side,
    dir: PathBuf,
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    /// The emulator process and its control socket. It runs all along: "stopped" is its
    /// crash fault (nothing listens), "started" clears it (a fresh boot).
    Emulated {
        _proc: Proc,
        control: PathBuf,
    },
    Real(Instance),
}

impl ServerAsterisk {
    /// Starts `fake-asterisk` in `side`'s namespace (running and booted when this returns).
    pub fn emulated(
        side: Side,
        bins: &Binaries,
        topo: &Topology,
        run_dir: &Path,
    ) -> Result<ServerAsterisk, HarnessError> {
        let control = run_dir.join(format!("asterisk-{}.ctl", side.letter()));
        let _ = std::fs::remove_file(&control);
        let mut args: Vec<String> = [
            "--ami",
            "0.0.0.0:5038",
            "--sip",
            "0.0.0.0:5060",
            "--http",
            "0.0.0.0:8088",
            "--log-level",
            "warn",
        ]
        .map(String::from)
        .into();
        args.extend([
            "--system-name".to_owned(),
            format!("ha-{}", side.letter()),
            "--entity-id".to_owned(),
            format!("02:00:00:00:00:0{}", side.letter()),
            "--control".to_owned(),
            control.display().to_string(),
        ]);
        let proc = Proc::spawn(
            &format!("fake-asterisk-{}", side.letter()),
            Some(&topo.name(side.host())),
            &bins.fake_asterisk,
            &args,
            run_dir,
            Stdio2::Log,
        )?;
        poll(
            &format!(
                "fake-asterisk {} to answer on its control socket",
                side.letter()
            ),
            START_TIMEOUT,
            POLL,
            || asterisk_command(&control, "status").ok(),
        )?;
        let dir = run_dir.join(format!("asterisk-{}", side.letter()));
        create_dir(&dir)?;
        let server = ServerAsterisk {
            side,
            dir,
            inner: Inner::Emulated {
                _proc: proc,
                control,
            },
        };
        server.write_emulator_scripts()?;
        Ok(server)
    }

    /// Writes a real instance's configuration for `side` (the shipped files, the secret, the
    /// pair's addresses, a PJSIP endpoint for the harness's client); starts nothing.
    pub fn real(
        side: Side,
        install: &Install,
        topo: &Topology,
        run_dir: &Path,
        ami_secret: &str,
        trunk_registrar: Option<std::net::SocketAddrV4>,
    ) -> Result<ServerAsterisk, HarnessError> {
        let dir = run_dir.join(format!("asterisk-{}", side.letter()));
        let instance = real_instance(side, install, topo, &dir, ami_secret, trunk_registrar)?;
        Ok(ServerAsterisk {
            side,
            dir,
            inner: Inner::Real(instance),
        })
    }

    pub fn kind(&self) -> AsteriskKind {
        match self.inner {
            Inner::Emulated { .. } => AsteriskKind::Emulated,
            Inner::Real(_) => AsteriskKind::Real,
        }
    }

    /// The real instance, if this is one.
    pub fn instance(&self) -> Option<&Instance> {
        match &self.inner {
            Inner::Real(instance) => Some(instance),
            Inner::Emulated { .. } => None,
        }
    }

    /// The `start`, `stop` and `status` commands (astha's `[actuate.asterisk]` in cold standby).
    pub fn commands(&self) -> [PathBuf; 3] {
        match &self.inner {
            Inner::Real(instance) => [
                instance.start_script(),
                instance.stop_script(),
                instance.status_script(),
            ],
            Inner::Emulated { .. } => {
                ["start.sh", "stop.sh", "status.sh"].map(|n| self.dir.join(n))
            }
        }
    }

    /// Starts Asterisk and waits until it is booted (the emulator: clears its stopped state).
    pub fn start(&self) -> Result<(), HarnessError> {
        match &self.inner {
            Inner::Real(instance) => instance.start().map(|_| ()),
            Inner::Emulated { .. } => self.emulator("clear").map(|_| ()),
        }
    }

    /// Stops Asterisk (the emulator: nothing listens any more).
    pub fn stop(&self) -> Result<(), HarnessError> {
        match &self.inner {
            Inner::Real(instance) => instance.stop(),
            Inner::Emulated { .. } => self.emulator("fault crash").map(|_| ()),
        }
    }

    /// Whether Asterisk runs (a hung one counts as running).
    pub fn is_running(&self) -> bool {
        match &self.inner {
            Inner::Real(instance) => instance.is_running(),
            Inner::Emulated { .. } => self
                .emulator("status")
                .is_ok_and(|s| !s.contains("state=crashed") && !s.contains("state=stopped")),
        }
    }

    /// The real Asterisk's own cgroup (the emulator has none).
    pub fn cgroup(&self) -> Option<&Path> {
        match &self.inner {
            Inner::Emulated { .. } => None,
            Inner::Real(instance) => instance.cgroup(),
        }
    }

    /// The Asterisk's process id on this host, while it runs.
    pub fn pid(&self) -> Option<u32> {
        match &self.inner {
            Inner::Emulated { _proc, .. } => Some(_proc.pid()),
            Inner::Real(instance) => instance.pid().and_then(|p| u32::try_from(p.as_raw()).ok()),
        }
    }

    /// Injects an Asterisk fault (not [`Fault::NetworkLoss`], which is the pair's business).
    pub fn inject(&self, fault: Fault) -> Result<(), HarnessError> {
        match &self.inner {
            Inner::Real(instance) => instance.inject(self.real_fault(fault)?),
            Inner::Emulated { .. } => {
                let command = fault
                    .emulator_command()
                    .ok_or_else(|| self.unsupported(fault))?;
                self.emulator(command).map(|_| ())
            }
        }
    }

    /// [`Fault::AsteriskHang`], timed: when it was asked for and when it took hold. A real
    /// Asterisk's threads stop one by one (see [`crate::asterisk::group_stop`]); the
    /// emulator's hang is one flag, whole at once.
    pub fn hang(&self) -> Result<GroupStop, HarnessError> {
        match &self.inner {
            Inner::Real(instance) => instance.hang(),
            Inner::Emulated { .. } => {
                let at = now_unix();
                self.inject(Fault::AsteriskHang)?;
                Ok(GroupStop {
                    signalled: at,
                    complete: at,
                })
            }
        }
    }

    /// Undoes an Asterisk fault; returns once Asterisk is whole again.
    pub fn heal(&self, fault: Fault) -> Result<(), HarnessError> {
        match &self.inner {
            Inner::Real(instance) => instance.heal(self.real_fault(fault)?),
            Inner::Emulated { .. } => {
                if fault == Fault::AsteriskRestart {
                    // The emulator boots again by itself after `restart MS`.
                    return poll(
                        "the emulator back from its restart",
                        START_TIMEOUT,
                        POLL,
                        || {
                            self.emulator("status")
                                .ok()
                                .filter(|s| s.contains("state=running") && s.contains("booted=yes"))
                        },
                    )
                    .map(|_| ());
                }
                self.emulator("clear").map(|_| ())
            }
        }
    }

    /// Sends a control command to the emulator; an error for a real Asterisk.
    pub fn emulator(&self, command: &str) -> Result<String, HarnessError> {
        match &self.inner {
            Inner::Emulated { control, .. } => asterisk_command(control, command),
            Inner::Real(_) => Err(HarnessError::Protocol {
                what: format!("asterisk {}", self.side.letter()),
                detail: format!(
                    "`{command}` is an emulator command; this server runs a real Asterisk"
                ),
            }),
        }
    }

    /// A console command (`asterisk -rx`) on a real Asterisk; an error for the emulator.
    pub fn cli(&self, command: &str) -> Result<String, HarnessError> {
        match &self.inner {
            Inner::Real(instance) => instance.cli(command),
            Inner::Emulated { .. } => Err(HarnessError::Protocol {
                what: format!("asterisk {}", self.side.letter()),
                detail: format!("`{command}` needs a real Asterisk; this server runs the emulator"),
            }),
        }
    }

    /// The last lines of Asterisk's log, for failure messages.
    pub fn log_tail(&self, lines: usize) -> String {
        match &self.inner {
            Inner::Real(instance) => instance.log_tail(lines),
            Inner::Emulated { .. } => String::new(),
        }
    }

    /// The SIP messages a real Asterisk refused as malformed (none for the emulator, which has
    /// no SIP parser).
    pub fn refused_sip(&self) -> Vec<String> {
        match &self.inner {
            Inner::Real(instance) => instance.refused_sip(),
            Inner::Emulated { .. } => Vec::new(),
        }
    }

    fn real_fault(&self, fault: Fault) -> Result<crate::asterisk::AsteriskFault, HarnessError> {
        fault.real().ok_or_else(|| self.unsupported(fault))
    }

    fn unsupported(&self, fault: Fault) -> HarnessError {
        HarnessError::Protocol {
            what: format!("asterisk {}", self.side.letter()),
            detail: format!(
                "{} cannot be injected into the {} Asterisk",
                fault.name(),
                self.kind().name()
            ),
        }
    }

    /// start/stop/status for astha's cold standby, through the emulator's control socket.
    fn write_emulator_scripts(&self) -> Result<(), HarnessError> {
        let Inner::Emulated { control, .. } = &self.inner else {
            return Ok(());
        };
        let send = |command: &str| {
            format!(
                "printf '%s\\n' '{command}' | socat -t 2 - UNIX-CONNECT:{}",
                control.display()
            )
        };
        let scripts = [
            ("start.sh", format!("#!/bin/sh\n# Starts the emulated Asterisk (clears its stopped state).\n{} | grep -q '^ok'\n", send("clear"))),
            ("stop.sh", format!("#!/bin/sh\n# Stops the emulated Asterisk (nothing listens any more).\n{} | grep -q '^ok'\n", send("fault crash"))),
            ("status.sh", format!("#!/bin/sh\n# Exit 0 while the emulated Asterisk runs, 3 otherwise.\n{} | grep -q 'state=running' || exit 3\n", send("status"))),
        ];
        for (name, text) in scripts {
            let path = self.dir.join(name);
            std::fs::write(&path, text)
                .and_then(|()| {
                    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
                })
                .map_err(|source| HarnessError::Io {
                    what: format!("write {}", path.display()),
                    source,
                })?;
        }
        Ok(())
    }
}

fn create_dir(path: &Path) -> Result<(), HarnessError> {
    std::fs::create_dir_all(path).map_err(|source| HarnessError::Io {
        what: format!("create {}", path.display()),
        source,
    })
}

/// The real Asterisk of server `side` (the shipped files, `ami_secret`, the pair's addresses, a
/// PJSIP endpoint for the harness's client), its configuration written under `dir`; not started.
pub fn real_instance(
    side: Side,
    install: &Install,
    topo: &Topology,
    dir: &Path,
    ami_secret: &str,
    trunk_registrar: Option<std::net::SocketAddrV4>,
) -> Result<Instance, HarnessError> {
    let config = InstanceConfig {
        system_name: format!("ha-{}", side.letter()),
        entity_id: format!("02:00:00:00:00:0{}", side.letter()),
        ami_secret: ami_secret.to_owned(),
        ami_bind: std::net::Ipv4Addr::UNSPECIFIED,
        ami_port: 5038,
        pair: PairAddresses {
            servers: [LAN_A, LAN_B],
            floating: FLOATING_IP,
        },
        server: side.index(),
        client: Some(CLIENT),
        pin: PIN.to_owned(),
        trunk_registrar,
        hidden_sounds: Vec::new(),
    };
    // The shipped PJSIP transport binds the floating IP before the node holds it
    // (dialplan/pjsip_astha.conf says so).
    super::netns::run(
        "ip",
        &[
            "netns",
            "exec",
            &topo.name(side.host()),
            "sysctl",
            "-q",
            "-w",
            "net.ipv4.ip_nonlocal_bind=1",
        ],
    )?;
    Instance::create(
        &format!("asterisk-{}", side.letter()),
        install,
        &config,
        dir,
        Some(&topo.name(side.host())),
    )
}
