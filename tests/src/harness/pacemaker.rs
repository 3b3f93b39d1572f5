//! A real Corosync + Pacemaker pair in the same namespaces, for comparing failover times with astha.
//!
//! Each node runs as PID 1 of its own pid/mount/uts/ipc namespace inside its server's network
//! namespace (`unshare --mount --uts --ipc --pid`: libqb's abstract sockets are then separated by
//! the network namespace, its shared-memory rings by a private `/dev/shm`), with private copies of the Corosync/Pacemaker
//! state directories bind-mounted in. The CIB is pre-seeded (stonith off, `dc-deadtime` 2 s).
//! Corosync runs knet on both links. What watches Asterisk ([`PacemakerAsterisk`]):
//!
//! - emulated: a clone of `ocf:heartbeat:anything` runs `fake-asterisk` on both nodes (warm
//!   standby) with an asterisk-style monitor hook (AMI `core show channels count`, 3 s
//!   deadline; interval 2 s, `migration-threshold=1`), and an `IPaddr2` floating IP is
//!   colocated with a healthy instance, preferring node A;
//! - a real Asterisk 22 (the harness's instance configuration, the shipped files) in a group
//!   `IPaddr2` then Asterisk, preferring node A, `migration-threshold=1` (Asterisk starts where
//!   the IP is: the usual Pacemaker shape, and contrib/ocf/example-cib.crm's), watched either by
//!   the stock `ocf:heartbeat:asterisk` agent with the operations its metadata advertises
//!   (monitor every 20 s, 30 s timeout; start and stop 20 s) or by astha's
//!   `contrib/ocf/astha-asterisk` with example-cib.crm's parameters and operations. Per-node
//!   paths come from `#uname` rules, as one CIB serves both nodes.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::binaries::Binaries;
use super::calls::{CallClient, CallLoad};
use super::client::{now_unix, ClientOutage, ClientProbe};
use super::config::{self, AsteriskSetup, NodeSettings, Standby, AMI_SECRET, AMI_USER};
use super::control::asterisk_command;
use super::fault::Fault;
use super::netns::{output, run, Host, Topology, CROSS_A, CROSS_B, FLOATING_IP, LAN_A, LAN_B};
use super::pair::{random_key, random_secret, write_private};
use super::pbx::real_instance;
use super::process::{Proc, Stdio2};
use super::{poll, require_root, HarnessError, Side};
use crate::asterisk::{Install, Instance, AMI_USER as SHIPPED_AMI_USER};

/// What the pair runs as Asterisk, and which resource agent watches it.
#[derive(Debug, Clone)]
pub enum PacemakerAsterisk {
    /// `fake-asterisk` on both nodes under `ocf:heartbeat:anything` (warm standby).
    Emulated,
    /// A real Asterisk 22 under the stock `ocf:heartbeat:asterisk` agent at its defaults.
    StockAgent(Install),
    /// A real Asterisk 22 under astha's `contrib/ocf/astha-asterisk`, configured as
    /// contrib/ocf/example-cib.crm does.
    AsthaAgent(Install),
}

impl PacemakerAsterisk {
    /// How often the seeded CIB has the monitor that can see `fault` run: the cycle a fault's
    /// phase is spread over.
    pub fn monitor_interval(&self, fault: Fault) -> Duration {
        Duration::from_secs(match self {
            PacemakerAsterisk::Emulated => 2,
            PacemakerAsterisk::StockAgent(_) => 20,
            // Only the test call of the OCF_CHECK_LEVEL=10 monitor sees a broken call path.
            PacemakerAsterisk::AsthaAgent(_) if fault == Fault::CallPathBroken => 10,
            PacemakerAsterisk::AsthaAgent(_) => 1,
        })
    }

    fn install(&self) -> Option<&Install> {
        match self {
            PacemakerAsterisk::Emulated => None,
            PacemakerAsterisk::StockAgent(i) | PacemakerAsterisk::AsthaAgent(i) => Some(i),
        }
    }
}

const POLL: Duration = Duration::from_millis(20);

/// Timings of one Pacemaker failover, in seconds after the fault.
#[derive(Debug, Clone, PartialEq)]
pub struct PacemakerTakeover {
    /// Node loss: B's Corosync membership dropped A. Application faults: the floating IP
    /// left A (Pacemaker acted on the failed monitor).
    pub detection_s: f64,
    /// The floating IP is configured on B.
    pub takeover_s: f64,
    pub outage: ClientOutage,
}

/// The running cluster; killed (both node namespaces) and removed on drop.
#[derive(Debug)]
pub struct PacemakerPair {
    client: Option<ClientProbe>,
    calls: Option<CallClient>,
    /// The real Asterisks (Pacemaker starts and stops them; the harness only injects faults).
    asterisks: [Option<Instance>; 2],
    nodes: [Option<Proc>; 2],
    init_pids: [u32; 2],
    topo: Topology,
    dir: PathBuf,
}

const NODE_INIT: &str = r#"#!/bin/bash
# PID 1 of one cluster node's private namespaces: private /run and /dev/shm, per-node state.
N=$1; R=$2
hostname $N
mount -t tmpfs -o mode=755 tmpfs /run
mkdir -p /run/lock /run/crm /run/resource-agents /run/pacemaker
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
for d in /etc/corosync /var/lib/corosync /var/lib/pacemaker /var/log/corosync /var/log/pacemaker; do
  mkdir -p $d
  mount --bind $R$d $d
done
# The OCF agents with astha's added (a copy of resource.d), when the pair uses them.
[ -n "$3" ] && mount --bind $3 /usr/lib/ocf/resource.d
corosync -f > $R/corosync.stdout 2>&1 &
for i in $(seq 100); do corosync-cfgtool -s >/dev/null 2>&1 && break; sleep 0.1; done
PCMK_logfile=/var/log/pacemaker/pacemaker.log pacemakerd > $R/pacemakerd.stdout 2>&1 &
while :; do sleep 3600 & wait $!; done
"#;

/// The monitor hook: like the `asterisk` agent's `asterisk -rx 'core show channels count'`,
/// over AMI, with a 3 s deadline (a hung or deadlocked core never answers).
const MONITOR_HOOK: &str = r#"#!/bin/bash
ami() {
  timeout 3 bash -c 'exec 3<>/dev/tcp/127.0.0.1/5038 || exit 1
    printf "Action: Login\r\nUsername: %s\r\nSecret: %s\r\n\r\nAction: Command\r\nCommand: core show channels count\r\n\r\n" "$0" "$1" >&3
    while IFS= read -r line <&3; do
      case "$line" in *"active call"*) exit 0;; esac
    done; exit 1' "$AMI_USER" "$AMI_SECRET" 2>/dev/null
}
ami && exit 0
# The monitor right after start may come before the emulator listens: only then, try again.
started=$(stat -c %Y /run/fake-asterisk.pid 2>/dev/null || echo 0)
if [ $(( $(date +%s) - started )) -lt 3 ]; then
  sleep 0.3
  ami && exit 0
fi
exit 1
"#;

impl PacemakerPair {
    /// Builds the topology and starts both nodes with `token_ms` and `asterisk`; waits until
    /// the floating IP is up on A and the client is answered. With a real Asterisk and
    /// `with_client`, sipp also places calls through the floating IP.
    pub fn start(
        token_ms: u32,
        asterisk: PacemakerAsterisk,
        with_client: bool,
    ) -> Result<PacemakerPair, HarnessError> {
        require_root()?;
        let bins = Binaries::locate()?;
        let topo = Topology::create()?;
        let dir = std::env::temp_dir().join(format!("astha-pcmk-{}", topo.name(Host::A)));
        let _ = std::fs::remove_dir_all(&dir);
        let io = |what: String| move |source| HarnessError::Io { what, source };
        std::fs::create_dir_all(&dir).map_err(io(format!("create {}", dir.display())))?;
        let mut pair = PacemakerPair {
            client: None,
            calls: None,
            asterisks: [None, None],
            nodes: [None, None],
            init_pids: [0, 0],
            topo,
            dir,
        };
        pair.prepare(token_ms, &bins, &asterisk)?;
        for side in [Side::A, Side::B] {
            pair.start_node(side)?;
        }
        poll(
            "Pacemaker to start the floating IP on A",
            Duration::from_secs(90),
            Duration::from_millis(100),
            || pair.topo.holds_floating_ip(Host::A).ok().filter(|h| *h),
        )?;
        // The IP comes up before Asterisk's start has returned (the group starts it first, and
        // astha-asterisk's start waits for a passing test call): a fault injected before the
        // start returns makes Pacemaker wait out the start timeout, which is not the failover
        // this pair is built to measure. Steady means the first recurring monitor has passed.
        poll(
            "Pacemaker's first recurring monitor of Asterisk on A to pass",
            Duration::from_secs(120),
            Duration::from_millis(100),
            || pair.asterisk_monitored_on_a().then_some(()),
        )?;
        if with_client {
            let client = ClientProbe::start(
                &pair.topo.name(Host::Client),
                &pair.topo.path(Host::Client),
                &pair.dir,
            )?;
            let since = now_unix();
            poll(
                "a SIP answer through Pacemaker's IP",
                Duration::from_secs(30),
                POLL,
                || client.last_sip_answer().filter(|t| *t > since),
            )?;
            pair.client = Some(client);
            if asterisk.install().is_some() {
                let calls = CallClient::start(
                    &pair.topo.name(Host::Client),
                    &pair.dir,
                    CallLoad::default(),
                )?;
                calls.wait_set_up_after(now_unix(), Duration::from_secs(30))?;
                pair.calls = Some(calls);
            }
        }
        Ok(pair)
    }

    /// The sipp calls through the floating IP (a real Asterisk with a client only).
    pub fn calls(&self) -> Option<&CallClient> {
        self.calls.as_ref()
    }

    pub fn topology(&self) -> &Topology {
        &self.topo
    }

    fn node_name(side: Side) -> &'static str {
        match side {
            Side::A => "nodea",
            Side::B => "nodeb",
        }
    }

    fn prepare(
        &mut self,
        token_ms: u32,
        bins: &Binaries,
        asterisk: &PacemakerAsterisk,
    ) -> Result<(), HarnessError> {
        let io = |what: String| move |source| HarnessError::Io { what, source };
        if let Some(install) = asterisk.install() {
            self.prepare_real(install)?;
        }
        let init = self.dir.join("node-init.sh");
        std::fs::write(&init, NODE_INIT).map_err(io(format!("write {}", init.display())))?;
        let hook = self.dir.join("monitor-hook.sh");
        let hook_text = MONITOR_HOOK
            .replace("\"$AMI_USER\"", AMI_USER)
            .replace("\"$AMI_SECRET\"", AMI_SECRET);
        std::fs::write(&hook, hook_text).map_err(io(format!("write {}", hook.display())))?;
        run(
            "chmod",
            &[
                "755",
                &init.display().to_string(),
                &hook.display().to_string(),
            ],
        )?;
        let corosync = corosync_conf(token_ms);
        let resources = match asterisk {
            PacemakerAsterisk::Emulated => self.emulated_resources(bins, &hook),
            PacemakerAsterisk::StockAgent(install) => self.stock_agent_resources(install)?,
            PacemakerAsterisk::AsthaAgent(install) => self.astha_agent_resources(install, bins)?,
        };
        let cib = self.seed_cib(&resources)?;
        for side in [Side::A, Side::B] {
            let root = self.dir.join(Self::node_name(side));
            let root_s = root.display().to_string();
            for d in ["etc", "var/lib", "var/log"] {
                std::fs::create_dir_all(root.join(d))
                    .map_err(io(format!("create {root_s}/{d}")))?;
            }
            run("cp", &["-a", "/etc/corosync", &format!("{root_s}/etc/")])?;
            run(
                "cp",
                &[
                    "-a",
                    "/var/lib/corosync",
                    "/var/lib/pacemaker",
                    &format!("{root_s}/var/lib/"),
                ],
            )?;
            for log in ["corosync", "pacemaker"] {
                let d = root.join("var/log").join(log);
                std::fs::create_dir_all(&d).map_err(io(format!("create {}", d.display())))?;
            }
            run(
                "chown",
                &["hacluster:haclient", &format!("{root_s}/var/log/pacemaker")],
            )?;
            let conf = root.join("etc/corosync/corosync.conf");
            std::fs::write(&conf, &corosync).map_err(io(format!("write {}", conf.display())))?;
            let cib_dir = root.join("var/lib/pacemaker/cib");
            let _ = std::fs::remove_dir_all(&cib_dir);
            std::fs::create_dir_all(&cib_dir)
                .map_err(io(format!("create {}", cib_dir.display())))?;
            let cib_file = cib_dir.join("cib.xml");
            std::fs::write(&cib_file, &cib).map_err(io(format!("write {}", cib_file.display())))?;
            run(
                "chown",
                &["-R", "hacluster:haclient", &cib_dir.display().to_string()],
            )?;
            run("chmod", &["600", &cib_file.display().to_string()])?;
        }
        Ok(())
    }

    /// The real Asterisks' configurations (the harness's, with the shipped files), an astha
    /// configuration per node for astha's agent, and a copy of the OCF agents with astha's.
    fn prepare_real(&mut self, install: &Install) -> Result<(), HarnessError> {
        let secret = random_secret()?;
        write_private(
            &self.dir.join("ami.secret"),
            format!("{secret}\n").as_bytes(),
        )?;
        write_private(&self.dir.join("peer.key"), &random_key()?)?;
        for side in [Side::A, Side::B] {
            let dir = self.dir.join(format!("asterisk-{}", side.letter()));
            let instance = real_instance(side, install, &self.topo, &dir, &secret, None)?;
            let setup = AsteriskSetup {
                ami_user: SHIPPED_AMI_USER.to_owned(),
                standby: Standby::Cold,
                registrar: true,
                commands: [
                    instance.start_script(),
                    instance.stop_script(),
                    instance.status_script(),
                ],
                cgroup: instance.cgroup().map(Path::to_owned),
            };
            let text = config::render(side, &self.dir, &NodeSettings::default(), &setup);
            let path = self.astha_config(side);
            std::fs::write(&path, text).map_err(|source| HarnessError::Io {
                what: format!("write {}", path.display()),
                source,
            })?;
            self.asterisks[side.index()] = Some(instance);
        }
        let agents = self.dir.join("resource.d");
        run(
            "cp",
            &[
                "-a",
                "/usr/lib/ocf/resource.d",
                &agents.display().to_string(),
            ],
        )?;
        let astha_agents = agents.join("astha");
        std::fs::create_dir_all(&astha_agents).map_err(|source| HarnessError::Io {
            what: format!("create {}", astha_agents.display()),
            source,
        })?;
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../contrib/ocf/astha-asterisk");
        run(
            "install",
            &[
                "-m",
                "0755",
                &shipped.display().to_string(),
                &astha_agents.display().to_string(),
            ],
        )?;
        Ok(())
    }

    fn astha_config(&self, side: Side) -> PathBuf {
        self.dir.join(format!("astha-{}.toml", side.letter()))
    }

    fn instance(&self, side: Side) -> Result<&Instance, HarnessError> {
        self.asterisks[side.index()]
            .as_ref()
            .ok_or_else(|| HarnessError::Protocol {
                what: "pacemaker pair".into(),
                detail: "this pair runs the emulator".into(),
            })
    }

    /// The emulated pair: `fake-asterisk` cloned on both nodes, the floating IP with a healthy one.
    fn emulated_resources(&self, bins: &Binaries, hook: &Path) -> Resources {
        let ast_opts = "--ami 0.0.0.0:5038 --sip 0.0.0.0:5060 --no-http --log-level warn --control /run/fake-asterisk.ctl";
        let clone = format!(
            r#"<clone id="ast-clone"><primitive id="ast" class="ocf" provider="heartbeat" type="anything">
  <instance_attributes id="ast-ia">
    <nvpair id="ast-bin" name="binfile" value="{bin}"/>
    <nvpair id="ast-opts" name="cmdline_options" value="{ast_opts}"/>
    <nvpair id="ast-pid" name="pidfile" value="/run/fake-asterisk.pid"/>
    <nvpair id="ast-log" name="logfile" value="/var/log/pacemaker/fake-asterisk.log"/>
    <nvpair id="ast-hook" name="monitor_hook" value="{hook}"/>
    <nvpair id="ast-stop" name="stop_timeout" value="1"/>
  </instance_attributes>
  <meta_attributes id="ast-meta"><nvpair id="ast-mt" name="migration-threshold" value="1"/></meta_attributes>
  <operations>
    <op id="ast-mon" name="monitor" interval="2s" timeout="5s"/>
    <op id="ast-start" name="start" interval="0" timeout="20s"/>
    <op id="ast-stop-op" name="stop" interval="0" timeout="20s"/>
  </operations>
</primitive></clone>"#,
            bin = bins.fake_asterisk.display(),
            hook = hook.display(),
        );
        Resources {
            resources: vec![clone, vip_primitive()],
            constraints: [
                r#"<rsc_colocation id="vip-with-ast" rsc="vip" with-rsc="ast-clone" score="INFINITY"/>"#,
                r#"<rsc_order id="ast-then-vip" first="ast-clone" then="vip" kind="Optional"/>"#,
                r#"<rsc_location id="vip-prefers-a" rsc="vip" node="nodea" score="100"/>"#,
            ]
            .map(String::from)
            .into(),
        }
    }

    /// The stock `ocf:heartbeat:asterisk` agent with the operations its metadata advertises;
    /// `user`/`group` root (the test instances run as root) and the binary and configuration
    /// of each node's instance are the only parameters set.
    fn stock_agent_resources(&self, install: &Install) -> Result<Resources, HarnessError> {
        let per_node = self.per_node_attributes(|side| {
            Ok(vec![(
                "config",
                self.instance(side)?
                    .dir()
                    .asterisk_conf()
                    .display()
                    .to_string(),
            )])
        })?;
        let primitive = format!(
            r#"<primitive id="ast" class="ocf" provider="heartbeat" type="asterisk">
{per_node}  <instance_attributes id="ast-ia">
    <nvpair id="ast-binary" name="binary" value="{binary}"/>
    <nvpair id="ast-user" name="user" value="root"/>
    <nvpair id="ast-group" name="group" value="root"/>
  </instance_attributes>
  <meta_attributes id="ast-meta"><nvpair id="ast-mt" name="migration-threshold" value="1"/></meta_attributes>
  <operations>
    <op id="ast-mon" name="monitor" interval="20s" timeout="30s"/>
    <op id="ast-start" name="start" interval="0" timeout="20s"/>
    <op id="ast-stop" name="stop" interval="0" timeout="20s"/>
  </operations>
</primitive>"#,
            binary = install.binary.display(),
        );
        Ok(group_resources(&primitive))
    }

    /// astha's `astha-asterisk` agent as contrib/ocf/example-cib.crm configures it (start
    /// command: the instance's Asterisk in the foreground with its configuration).
    fn astha_agent_resources(
        &self,
        install: &Install,
        bins: &Binaries,
    ) -> Result<Resources, HarnessError> {
        let per_node = self.per_node_attributes(|side| {
            let conf = self.instance(side)?.dir().asterisk_conf();
            Ok(vec![
                ("config", self.astha_config(side).display().to_string()),
                (
                    "start_command",
                    format!("{} -f -C {}", install.binary.display(), conf.display()),
                ),
            ])
        })?;
        let primitive = format!(
            r#"<primitive id="ast" class="ocf" provider="astha" type="astha-asterisk">
{per_node}  <instance_attributes id="ast-ia">
    <nvpair id="ast-astha" name="astha" value="{astha}"/>
    <nvpair id="ast-budget" name="monitor_budget" value="1.5"/>
  </instance_attributes>
  <meta_attributes id="ast-meta">
    <nvpair id="ast-mt" name="migration-threshold" value="1"/>
    <nvpair id="ast-ft" name="failure-timeout" value="10min"/>
  </meta_attributes>
  <operations>
    <op id="ast-start" name="start" interval="0" timeout="90s"/>
    <op id="ast-stop" name="stop" interval="0" timeout="60s"/>
    <op id="ast-mon" name="monitor" interval="1s" timeout="5s"/>
    <op id="ast-mon-call" name="monitor" interval="10s" timeout="20s">
      <instance_attributes id="ast-mon-call-ia">
        <nvpair id="ast-mon-call-level" name="OCF_CHECK_LEVEL" value="10"/>
      </instance_attributes>
    </op>
  </operations>
</primitive>"#,
            astha = bins.astha.display(),
        );
        Ok(group_resources(&primitive))
    }

    /// One `instance_attributes` set per node (a `#uname` rule): one CIB serves both nodes,
    /// whose instances have their own paths.
    fn per_node_attributes(
        &self,
        values: impl Fn(Side) -> Result<Vec<(&'static str, String)>, HarnessError>,
    ) -> Result<String, HarnessError> {
        let mut xml = String::new();
        for side in [Side::A, Side::B] {
            let node = Self::node_name(side);
            let _ = writeln!(
                xml,
                r##"  <instance_attributes id="ast-ia-{node}">
    <rule id="ast-on-{node}" score="0"><expression id="ast-on-{node}-is" attribute="#uname" operation="eq" value="{node}"/></rule>"##
            );
            for (name, value) in values(side)? {
                let _ = writeln!(
                    xml,
                    r#"    <nvpair id="ast-{node}-{name}" name="{name}" value="{}"/>"#,
                    xml_escape(&value)
                );
            }
            let _ = writeln!(xml, "  </instance_attributes>");
        }
        Ok(xml)
    }

    /// The CIB both nodes start from.
    fn seed_cib(&self, resources: &Resources) -> Result<String, HarnessError> {
        let seed = self.dir.join("seed.xml");
        let empty = output("cibadmin", &["--empty"])?;
        std::fs::write(&seed, empty).map_err(|source| HarnessError::Io {
            what: format!("write {}", seed.display()),
            source,
        })?;
        let with_file = |args: &[&str], program: &str| -> Result<(), HarnessError> {
            let out = std::process::Command::new(program)
                .args(args)
                .env("CIB_file", &seed)
                .output()
                .map_err(|source| HarnessError::Spawn {
                    program: program.into(),
                    source,
                })?;
            if out.status.success() {
                Ok(())
            } else {
                Err(HarnessError::Command {
                    command: format!("{program} {}", args.join(" ")),
                    status: out.status.to_string(),
                    stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
                })
            }
        };
        for (name, value) in [
            ("stonith-enabled", "false"),
            ("dc-deadtime", "2s"),
            ("no-quorum-policy", "ignore"),
        ] {
            with_file(
                &["--type", "crm_config", "--name", name, "--update", value],
                "crm_attribute",
            )?;
        }
        for resource in &resources.resources {
            with_file(
                &["--create", "-o", "resources", "--xml-text", resource],
                "cibadmin",
            )?;
        }
        for constraint in &resources.constraints {
            with_file(
                &["--create", "-o", "constraints", "--xml-text", constraint],
                "cibadmin",
            )?;
        }
        std::fs::read_to_string(&seed).map_err(|source| HarnessError::Io {
            what: format!("read {}", seed.display()),
            source,
        })
    }

    fn start_node(&mut self, side: Side) -> Result<(), HarnessError> {
        let name = Self::node_name(side);
        let root = self.dir.join(name).display().to_string();
        let args = [
            "--mount",
            "--uts",
            "--ipc",
            "--pid",
            "--fork",
            "--mount-proc",
            "--propagation",
            "private",
            "bash",
        ]
        .map(String::from)
        .into_iter()
        .chain([
            self.dir.join("node-init.sh").display().to_string(),
            name.to_owned(),
            root,
        ])
        .chain(
            Some(self.dir.join("resource.d"))
                .filter(|agents| agents.is_dir())
                .map(|agents| agents.display().to_string()),
        )
        .collect::<Vec<_>>();
        let proc = Proc::spawn(
            &format!("pcmk-{name}"),
            Some(&self.topo.name(side.host())),
            Path::new("unshare"),
            &args,
            &self.dir,
            Stdio2::Log,
        )?;
        let unshare = proc.pid();
        self.nodes[side.index()] = Some(proc);
        // The node's init is unshare's child (PID 1 inside, an ordinary pid outside).
        let children = format!("/proc/{unshare}/task/{unshare}/children");
        self.init_pids[side.index()] = poll(
            "the node's init process",
            Duration::from_secs(10),
            POLL,
            || {
                std::fs::read_to_string(&children)
                    .ok()?
                    .split_whitespace()
                    .next()?
                    .parse()
                    .ok()
            },
        )?;
        Ok(())
    }

    /// The emulator's control socket inside a node's private /run.
    fn asterisk_socket(&self, side: Side) -> PathBuf {
        PathBuf::from(format!(
            "/proc/{}/root/run/fake-asterisk.ctl",
            self.init_pids[side.index()]
        ))
    }

    /// Injects `fault` into node `side`; returns the Unix time.
    pub fn inject(&self, side: Side, fault: Fault) -> Result<f64, HarnessError> {
        let at = now_unix();
        if fault == Fault::NetworkLoss {
            self.topo.set_cable(side.host(), super::Cable::Lan, false)?;
            self.topo
                .set_cable(side.host(), super::Cable::Crossover, false)?;
            return Ok(at);
        }
        if self.asterisks[side.index()].is_some() {
            let real = fault.real().ok_or_else(|| HarnessError::Protocol {
                what: "pacemaker pair".into(),
                detail: format!("{} cannot be injected into a real Asterisk", fault.name()),
            })?;
            self.instance(side)?.inject(real)?;
            return Ok(at);
        }
        // This pair runs the emulator.
        let command = fault
            .emulator_command()
            .ok_or_else(|| HarnessError::Protocol {
                what: "pacemaker pair".into(),
                detail: format!("{} cannot be injected into the emulator", fault.name()),
            })?;
        asterisk_command(&self.asterisk_socket(side), command)?;
        Ok(at)
    }

    /// Runs a command inside a node's namespaces.
    fn on_node(&self, side: Side, args: &[&str]) -> Result<String, HarnessError> {
        let target = self.init_pids[side.index()].to_string();
        let mut all = vec!["-t", &target, "-a"];
        all.extend_from_slice(args);
        output("nsenter", &all)
    }

    /// Whether the cluster has recorded a passing recurring monitor of Asterisk's resource on
    /// node A (so its start has returned).
    fn asterisk_monitored_on_a(&self) -> bool {
        let xpath = "//node_state[@uname='nodea']//lrm_resource[@id='ast' or starts-with(@id,'ast:')]\
                     /lrm_rsc_op[@operation='monitor' and @interval!='0' and @rc-code='0' and @op-status='0']";
        self.on_node(Side::A, &["cibadmin", "--query", "--xpath", xpath])
            .is_ok()
    }

    /// Whether the cluster has recorded a failure of Asterisk's resource on node A.
    fn monitor_failed_on_a(&self) -> bool {
        self.on_node(
            Side::B,
            &["crm_failcount", "--query", "-r", "ast", "-N", "nodea"],
        )
        .ok()
        .and_then(|out| {
            out.split_whitespace()
                .find_map(|w| w.strip_prefix("value="))
                .map(|v| v != "0")
        })
        .unwrap_or(false)
    }

    /// Waits for the floating IP to come up on B after a fault on A at `fault_at`.
    pub fn measure_takeover(
        &self,
        fault: Fault,
        fault_at: f64,
        timeout: Duration,
    ) -> Result<PacemakerTakeover, HarnessError> {
        let mut detected: Option<f64> = None;
        let up_on_b = poll(
            "Pacemaker to start the floating IP on B",
            timeout,
            POLL,
            || {
                if detected.is_none() {
                    let seen = if fault == Fault::NetworkLoss {
                        self.on_node(Side::B, &["corosync-quorumtool", "-s"])
                            .ok()
                            .is_some_and(|s| {
                                s.lines().any(|l| {
                                    l.starts_with("Total votes:") && l.trim_end().ends_with(" 1")
                                })
                            })
                    } else {
                        // Pacemaker recorded A's failed monitor, or acted on it already.
                        !self.topo.holds_floating_ip(Host::A).unwrap_or(true)
                            || self.monitor_failed_on_a()
                    };
                    if seen {
                        detected = Some(now_unix());
                    }
                }
                self.topo
                    .holds_floating_ip(Host::B)
                    .ok()
                    .filter(|h| *h)
                    .map(|_| now_unix())
            },
        )?;
        let outage = match &self.client {
            Some(client) => {
                poll("a SIP answer after the move", timeout, POLL, || {
                    client.last_sip_answer().filter(|t| *t > up_on_b)
                })?;
                let _ = poll("ping answers", Duration::from_secs(2), POLL, || {
                    client
                        .ping_answers()
                        .last()
                        .filter(|t| **t > up_on_b)
                        .copied()
                });
                client.outage_since(fault_at)
            }
            None => ClientOutage {
                sip_s: f64::NAN,
                ping_s: f64::NAN,
            },
        };
        Ok(PacemakerTakeover {
            detection_s: detected.unwrap_or(up_on_b) - fault_at,
            takeover_s: up_on_b - fault_at,
            outage,
        })
    }
}

impl Drop for PacemakerPair {
    fn drop(&mut self) {
        self.calls = None;
        self.client = None;
        for pid in self.init_pids {
            if pid != 0 {
                // Killing a pid namespace's init ends every process of that node.
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(i32::try_from(pid).unwrap_or(i32::MAX)),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
        for node in &mut self.nodes {
            if let Some(mut p) = node.take() {
                p.kill();
            }
        }
        if std::thread::panicking() || std::env::var_os("ASTHA_HARNESS_KEEP").is_some() {
            eprintln!("pacemaker: logs kept in {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn corosync_conf(token_ms: u32) -> String {
    format!(
        r#"totem {{
    version: 2
    cluster_name: asthabench
    transport: knet
    crypto_cipher: none
    crypto_hash: none
    token: {token_ms}
}}
nodelist {{
    node {{
        ring0_addr: {LAN_A}
        ring1_addr: {CROSS_A}
        name: nodea
        nodeid: 1
    }}
    node {{
        ring0_addr: {LAN_B}
        ring1_addr: {CROSS_B}
        name: nodeb
        nodeid: 2
    }}
}}
quorum {{
    provider: corosync_votequorum
    two_node: 1
}}
logging {{
    to_logfile: yes
    logfile: /var/log/corosync/corosync.log
    to_stderr: yes
    to_syslog: no
    timestamp: hires
}}
"#
    )
}

/// The resources and constraints of a seeded CIB.
struct Resources {
    resources: Vec<String>,
    constraints: Vec<String>,
}

fn vip_primitive() -> String {
    format!(
        r#"<primitive id="vip" class="ocf" provider="heartbeat" type="IPaddr2">
  <instance_attributes id="vip-ia">
    <nvpair id="vip-ip" name="ip" value="{FLOATING_IP}"/>
    <nvpair id="vip-mask" name="cidr_netmask" value="24"/>
    <nvpair id="vip-nic" name="nic" value="eth0"/>
  </instance_attributes>
  <operations><op id="vip-mon" name="monitor" interval="2s" timeout="20s"/></operations>
</primitive>"#
    )
}

/// The floating IP, then Asterisk (`primitive`), kept together, preferring node A.
fn group_resources(primitive: &str) -> Resources {
    Resources {
        resources: vec![format!(
            "<group id=\"g-ast\">\n{}\n{primitive}\n</group>",
            vip_primitive()
        )],
        constraints: vec![
            r#"<rsc_location id="g-prefers-a" rsc="g-ast" node="nodea" score="100"/>"#.into(),
        ],
    }
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
