//! One Asterisk instance's configuration directory: its own run/log/spool/lib/db directories, a lean module list, and the shipped astha files installed.
//!
//! What astha ships comes from `dialplan/` ([`super::shipped`]); what is site configuration
//! (the AMI listener, a PJSIP endpoint for the harness's client, the failover PIN) is written
//! here, the way an administrator would around the shipped files.

use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::install::Install;
use super::shipped::{self, PairAddresses};
use crate::harness::HarnessError;

/// The modules an instance loads (`autoload = no`): what the shipped dialplan, the AMI user,
/// PJSIP with IP-identified endpoints and a sipp call need, and nothing else (boots in about 1 s).
pub const MODULES: &[&str] = &[
    // dialplan and the applications the shipped files and the harness use
    "pbx_config.so",
    "app_playback.so",
    "app_userevent.so",
    "app_authenticate.so",
    "app_echo.so",
    "app_senddtmf.so",
    // the failover's call count and confirmation ([ha-admin]): the AstDB functions, Read, the
    // hangup handler (CHANNEL(hangup_handler_push), run as a Gosub)
    "func_db.so",
    "app_read.so",
    "func_channel.so",
    "app_stack.so",
    "res_clioriginate.so",
    "format_sln.so",
    "codec_ulaw.so",
    "res_timing_timerfd.so",
    "bridge_simple.so",
    // PJSIP, in dependency order
    "res_sorcery_config.so",
    "res_sorcery_memory.so",
    "res_sorcery_astdb.so",
    "res_pjproject.so",
    "res_pjsip.so",
    "res_pjsip_authenticator_digest.so",
    "res_pjsip_endpoint_identifier_ip.so",
    "res_pjsip_endpoint_identifier_user.so",
    "res_pjsip_registrar.so",
    "res_pjsip_pubsub.so",
    "res_pjsip_session.so",
    "chan_pjsip.so",
    "res_rtp_asterisk.so",
    "res_pjsip_sdp_rtp.so",
    "res_pjsip_outbound_registration.so",
];

/// Phones the site configuration knows (`phone1` ... `phone50`, see [`phone`]): endpoints that
/// register (from the harness's client, identified by their name, without authentication).
pub const PHONES: u32 = 50;

/// The name of phone `n` (1-based): its endpoint, its AOR and the user part it registers.
pub fn phone(n: u32) -> String {
    format!("phone{n}")
}

/// Core configuration files the lean instance has no use for: written empty so the log
/// shows real problems rather than "Unable to load config file".
const QUIET_CONFIGS: &[&str] = &[
    "cel.conf",
    "features.conf",
    "acl.conf",
    "udptl.conf",
    "pjproject.conf",
    "indications.conf",
    "ccss.conf",
    "stasis.conf",
];

/// What varies between instances.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceConfig {
    /// `systemname` (prefixes every Uniqueid; `${SYSTEMNAME}` in the dialplan).
    pub system_name: String,
    /// `entityid` (the namespaces have no ethernet address for Asterisk to take one from).
    pub entity_id: String,
    /// The secret of the shipped AMI user `astha`.
    pub ami_secret: String,
    /// AMI listener (`[general] bindaddr`, `port`).
    pub ami_bind: Ipv4Addr,
    pub ami_port: u16,
    /// The pair's addresses and which server this is (0 = A, 1 = B).
    pub pair: PairAddresses,
    pub server: usize,
    /// Site configuration: a PJSIP endpoint for this client address (context `ha-probe`,
    /// identified by IP, on the floating transport).
    pub client: Option<Ipv4Addr>,
    /// The failover PIN for `[ha-admin]`.
    pub pin: String,
    /// Site configuration: the shipped example trunk (`pjsip_trunk_example.conf`), registering
    /// with this registrar every `TRUNK_EXPIRATION_S`.
    pub trunk_registrar: Option<std::net::SocketAddrV4>,
    /// Sounds (relative to `sounds/en/`, e.g. `silence/1`) this instance must not find: its
    /// data directory then mirrors the install's without them (a real "sound file missing").
    pub hidden_sounds: Vec<String>,
}

/// The trunk's registration expiry (seconds): short, so Asterisk refreshes every 2 s (10 s
/// before expiry) and a test sees many refreshes.
pub const TRUNK_EXPIRATION_S: u32 = 12;

/// The AMI user the shipped `manager_astha.conf` defines.
pub const AMI_USER: &str = "astha";

/// The paths of an instance whose configuration was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceDir {
    pub root: PathBuf,
}

impl InstanceDir {
    pub fn etc(&self) -> PathBuf {
        self.root.join("etc")
    }
    /// The file given to `asterisk -C`.
    pub fn asterisk_conf(&self) -> PathBuf {
        self.etc().join("asterisk.conf")
    }
    pub fn run(&self) -> PathBuf {
        self.root.join("run")
    }
    /// The console socket (`asterisk -rx` talks to it).
    pub fn ctl(&self) -> PathBuf {
        self.run().join("asterisk.ctl")
    }
    pub fn log(&self) -> PathBuf {
        self.root.join("log")
    }
    /// Asterisk's own log (notices, warnings and errors).
    pub fn messages(&self) -> PathBuf {
        self.log().join("messages.log")
    }
}

impl InstanceConfig {
    /// Server A of the harness' network alone (`ha-a`, the identity of the captures and of the
    /// emulator's instance `a`), the shipped AMI user's `secret`, AMI on `ami_bind`:5038, a SIP
    /// endpoint for the harness's client and the PIN 4711.
    pub fn server_a(ami_secret: &str, ami_bind: Ipv4Addr) -> InstanceConfig {
        use crate::harness::netns::{CLIENT, FLOATING_IP, LAN_A, LAN_B};
        InstanceConfig {
            system_name: "ha-a".into(),
            entity_id: "02:00:00:00:00:0a".into(),
            ami_secret: ami_secret.into(),
            ami_bind,
            ami_port: 5038,
            pair: PairAddresses {
                servers: [LAN_A, LAN_B],
                floating: FLOATING_IP,
            },
            server: 0,
            client: Some(CLIENT),
            pin: "4711".into(),
            trunk_registrar: None,
            hidden_sounds: Vec::new(),
        }
    }

    /// Writes the whole configuration under `root` (created if needed; `root/etc`, `run`, ...).
    pub fn write(&self, install: &Install, root: &Path) -> Result<InstanceDir, HarnessError> {
        let dir = InstanceDir {
            root: root.to_path_buf(),
        };
        for sub in ["etc", "run", "log", "spool", "lib", "db"] {
            create_dir(&root.join(sub))?;
        }
        let data = if self.hidden_sounds.is_empty() {
            install.data.clone()
        } else {
            let data = root.join("data");
            let _ = std::fs::remove_dir_all(&data);
            let hidden: Vec<PathBuf> = self
                .hidden_sounds
                .iter()
                .map(|s| Path::new("sounds/en").join(s))
                .collect();
            mirror_without(&install.data, &data, Path::new(""), &hidden)?;
            data
        };
        let etc = dir.etc();
        let files: Vec<(&str, String)> = vec![
            ("asterisk.conf", self.asterisk_conf(install, &data, root)),
            ("modules.conf", modules_conf()),
            ("logger.conf", LOGGER.to_owned()),
            ("cdr.conf", "[general]\nenable = no\n".to_owned()),
            ("manager.conf", self.manager_conf()),
            (
                "manager_astha.conf",
                shipped::manager(&self.ami_secret, &self.pair)?,
            ),
            ("extensions.conf", extensions_conf()),
            ("pjsip_astha.conf", shipped::pjsip(self.server, &self.pair)?),
            ("pjsip.conf", self.pjsip_conf()),
            (
                "pjsip_trunk_example.conf",
                match self.trunk_registrar {
                    Some(registrar) => shipped::trunk(registrar, TRUNK_EXPIRATION_S)?,
                    None => String::new(),
                },
            ),
            ("astha-failover.pin", format!("{}\n", self.pin)),
        ];
        for (name, text) in files {
            write_file(&etc.join(name), &text)?;
        }
        for name in QUIET_CONFIGS {
            write_file(&etc.join(name), "")?;
        }
        // The secret and the PIN are for Asterisk's eyes only.
        for name in ["manager_astha.conf", "astha-failover.pin"] {
            let path = etc.join(name);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).map_err(
                |source| HarnessError::Io {
                    what: format!("chmod {}", path.display()),
                    source,
                },
            )?;
        }
        Ok(dir)
    }

    fn asterisk_conf(&self, install: &Install, data: &Path, root: &Path) -> String {
        let r = root.display();
        format!(
            "; Written by astha-tests for one instance; several run from one install.\n\
             [directories]\n\
             astetcdir => {r}/etc\n\
             astmoddir => {modules}\n\
             astvarlibdir => {r}/lib\n\
             astdbdir => {r}/db\n\
             astkeydir => {r}/lib\n\
             astdatadir => {data}\n\
             astagidir => {data}/agi-bin\n\
             astspooldir => {r}/spool\n\
             astrundir => {r}/run\n\
             astlogdir => {r}/log\n\
             \n\
             [options]\n\
             systemname = {name}\n\
             entityid = {eid}\n",
            modules = install.modules.display(),
            data = data.display(),
            name = self.system_name,
            eid = self.entity_id,
        )
    }

    fn manager_conf(&self) -> String {
        format!(
            "[general]\n\
             enabled = yes\n\
             port = {}\n\
             bindaddr = {}\n\
             \n\
             #include manager_astha.conf\n",
            self.ami_port, self.ami_bind
        )
    }

    fn pjsip_conf(&self) -> String {
        let mut text =
            String::from("#include pjsip_astha.conf\n#include pjsip_trunk_example.conf\n");
        if let Some(client) = self.client {
            // Site configuration: the harness's caller, identified by its address.
            let _ = write!(
                text,
                "\n[harness-client]\n\
                 type = endpoint\n\
                 context = ha-probe\n\
                 transport = astha-floating\n\
                 disallow = all\n\
                 allow = ulaw\n\
                 direct_media = no\n\
                 \n\
                 [harness-client]\n\
                 type = identify\n\
                 endpoint = harness-client\n\
                 match = {client}\n"
            );
            // Site configuration: phones that register from the client's address, told apart
            // by their name first (the harness's caller has no endpoint of its name, so its
            // address identifies it as before).
            text.push_str(
                "\n[global]\n\
                 type = global\n\
                 endpoint_identifier_order = username,ip\n\
                 \n\
                 [phone](!)\n\
                 type = endpoint\n\
                 context = ha-probe\n\
                 transport = astha-floating\n\
                 disallow = all\n\
                 allow = ulaw\n\
                 direct_media = no\n",
            );
            for n in 1..=PHONES {
                let name = phone(n);
                let _ = write!(
                    text,
                    "\n[{name}](phone)\naors = {name}\n\n[{name}]\ntype = aor\nmax_contacts = 1\nremove_existing = yes\n"
                );
            }
        }
        text
    }
}

/// Recreates `src` under `dst` as directories of symlinks, leaving out the files whose path
/// relative to the top, without extension, is in `hidden` (`sounds/en/silence/1`).
fn mirror_without(
    src: &Path,
    dst: &Path,
    rel: &Path,
    hidden: &[PathBuf],
) -> Result<(), HarnessError> {
    create_dir(dst)?;
    let io = |what: String| move |source| HarnessError::Io { what, source };
    let entries = std::fs::read_dir(src).map_err(io(format!("list {}", src.display())))?;
    for entry in entries {
        let entry = entry.map_err(io(format!("list {}", src.display())))?;
        let name = entry.file_name();
        let rel = rel.join(&name);
        let from = entry.path();
        let to = dst.join(&name);
        // Only the directories on the way to a hidden file need copying; the rest is linked.
        let leads_to_hidden = hidden.iter().any(|h| h.starts_with(&rel) && h != &rel);
        if from.is_dir() && leads_to_hidden {
            mirror_without(&from, &to, &rel, hidden)?;
        } else if !hidden.contains(&rel.with_extension("")) {
            std::os::unix::fs::symlink(&from, &to).map_err(io(format!("link {}", to.display())))?;
        }
    }
    Ok(())
}

fn modules_conf() -> String {
    let mut text = String::from("[modules]\nautoload = no\n");
    for module in MODULES {
        let _ = writeln!(text, "load => {module}");
    }
    text
}

/// The shipped dialplan, included from where the checkout has it (not a copy).
fn extensions_conf() -> String {
    format!(
        "[general]\nstatic = yes\nwriteprotect = yes\n\n#include {}\n",
        shipped::shipped("extensions_astha.conf").display()
    )
}

const LOGGER: &str = "[general]\n\
                      [logfiles]\n\
                      messages.log => notice,warning,error\n\
                      console => warning,error\n";

fn create_dir(path: &Path) -> Result<(), HarnessError> {
    std::fs::create_dir_all(path).map_err(|source| HarnessError::Io {
        what: format!("create {}", path.display()),
        source,
    })
}

fn write_file(path: &Path, text: &str) -> Result<(), HarnessError> {
    std::fs::write(path, text).map_err(|source| HarnessError::Io {
        what: format!("write {}", path.display()),
        source,
    })
}
