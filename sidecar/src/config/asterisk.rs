//! `[asterisk.a]` / `[asterisk.b]`: how to reach each Asterisk (AMI, SIP, ARI) and with which credentials.

use std::path::Path;

use crate::side::Side;

use super::address::{HostPort, HttpUrl};
use super::problem::Problems;
use super::reader::Section;
use super::secret::{self, Secret, SecretResolver, SecretSource};

/// One Asterisk instance the probes watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AsteriskTarget {
    pub side: Side,
    pub ami: AmiEndpoint,
    /// SIP OPTIONS probe target; `None` disables the SIP probe for this target.
    pub sip: Option<SipEndpoint>,
    /// ARI ping probe target; `None` disables the ARI probe for this target.
    pub ari: Option<AriEndpoint>,
    /// The cgroup whose CPU starvation is given back to this Asterisk's probes (`cgroup`), read
    /// by the daemon on this Asterisk's own host only.
    pub cgroup: AsteriskCgroup,
}

/// `cgroup`: where the Asterisk's CPU pressure is read (see `probe::starvation`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum AsteriskCgroup {
    /// `asterisk.service`'s cgroup where systemd puts it, if it exists.
    #[default]
    Auto,
    /// Not read: a starved Asterisk is judged like a hung one.
    Off,
    /// This cgroup directory (it must have `cpu.pressure`).
    Path(std::path::PathBuf),
}

/// AMI address and login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmiEndpoint {
    pub address: HostPort,
    pub username: String,
    pub secret: Secret,
    pub secret_source: SecretSource,
}

/// Where SIP OPTIONS are sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipEndpoint {
    pub address: HostPort,
    /// Request-URI user part (e.g. an extension the endpoint's context knows); `None` = `sip:host:port`.
    pub user: Option<String>,
}

/// ARI base URL and login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AriEndpoint {
    pub url: HttpUrl,
    pub username: String,
    pub secret: Secret,
    pub secret_source: SecretSource,
}

pub(crate) const AMI_DEFAULT_PORT: u16 = 5038;
pub(crate) const SIP_DEFAULT_PORT: u16 = 5060;

pub(crate) fn read(
    section: &mut Section<'_, '_>,
    problems: &mut Problems,
    side: Side,
    base_dir: &Path,
    resolver: &dyn SecretResolver,
) -> Option<AsteriskTarget> {
    if !section.present() {
        section.missing_self(problems);
        return None;
    }
    let mut ami_section = section.section(problems, "ami");
    let ami = read_ami(&mut ami_section, problems, base_dir, resolver);
    ami_section.finish(problems);

    let mut sip_section = section.section(problems, "sip");
    let sip = sip_section
        .present()
        .then(|| read_sip(&mut sip_section, problems))
        .flatten();
    sip_section.finish(problems);

    let mut ari_section = section.section(problems, "ari");
    let ari = ari_section
        .present()
        .then(|| read_ari(&mut ari_section, problems, base_dir, resolver))
        .flatten();
    ari_section.finish(problems);

    let cgroup = match section.string(problems, "cgroup").map(|c| c.into_inner()) {
        None => AsteriskCgroup::Auto,
        Some(c) if c == "auto" => AsteriskCgroup::Auto,
        Some(c) if c == "off" => AsteriskCgroup::Off,
        Some(c) if c.starts_with('/') => AsteriskCgroup::Path(c.into()),
        Some(_) => {
            section.problem_at(
                problems,
                super::ProblemSeverity::Error,
                "cgroup",
                "must be \"auto\", \"off\" or the absolute path of Asterisk's cgroup \
                 (e.g. /sys/fs/cgroup/system.slice/asterisk.service)",
            );
            AsteriskCgroup::Auto
        }
    };

    Some(AsteriskTarget {
        side,
        ami: ami?,
        sip,
        ari,
        cgroup,
    })
}

fn read_ami(
    s: &mut Section<'_, '_>,
    p: &mut Problems,
    base_dir: &Path,
    resolver: &dyn SecretResolver,
) -> Option<AmiEndpoint> {
    if !s.present() {
        s.missing_self(p);
        return None;
    }
    let address = address(s, p, "address", AMI_DEFAULT_PORT);
    let username = s.required_string(p, "username").map(|u| u.into_inner());
    if username.as_deref() == Some("") {
        s.problem_at(
            p,
            super::ProblemSeverity::Error,
            "username",
            "must not be empty",
        );
    }
    let secret = secret_of(s, p, base_dir, resolver);
    let (secret, secret_source) = secret?;
    Some(AmiEndpoint {
        address: address?,
        username: username?,
        secret,
        secret_source,
    })
}

fn read_sip(s: &mut Section<'_, '_>, p: &mut Problems) -> Option<SipEndpoint> {
    let address = address(s, p, "address", SIP_DEFAULT_PORT);
    let user = s.string(p, "user").map(|u| u.into_inner());
    if let Some(u) = &user {
        if u.is_empty()
            || u.contains(|c: char| {
                c.is_whitespace() || c == '@' || c == '<' || c == '>' || c == ':'
            })
        {
            s.problem_at(
                p,
                super::ProblemSeverity::Error,
                "user",
                "must be a plain SIP user part (no spaces, @, :, < or >)",
            );
        }
    }
    Some(SipEndpoint {
        address: address?,
        user,
    })
}

fn read_ari(
    s: &mut Section<'_, '_>,
    p: &mut Problems,
    base_dir: &Path,
    resolver: &dyn SecretResolver,
) -> Option<AriEndpoint> {
    let url = match s.required_string(p, "url") {
        Some(u) => match HttpUrl::parse(u.get_ref()) {
            Ok(url) => Some(url),
            Err(e) => {
                s.problem_at(p, super::ProblemSeverity::Error, "url", e);
                None
            }
        },
        None => None,
    };
    let username = s.required_string(p, "username").map(|u| u.into_inner());
    let (secret, secret_source) = secret_of(s, p, base_dir, resolver)?;
    Some(AriEndpoint {
        url: url?,
        username: username?,
        secret,
        secret_source,
    })
}

fn address(
    s: &mut Section<'_, '_>,
    p: &mut Problems,
    key: &str,
    default_port: u16,
) -> Option<HostPort> {
    let text = s.required_string(p, key)?;
    match HostPort::parse(text.get_ref(), Some(default_port)) {
        Ok(a) => Some(a),
        Err(e) => {
            s.problem_at(p, super::ProblemSeverity::Error, key, e);
            None
        }
    }
}

/// Exactly one of `secret_file` / `secret_env`; an inline `secret` is refused so that
/// configuration files can be shared and shown without leaking credentials.
fn secret_of(
    s: &mut Section<'_, '_>,
    p: &mut Problems,
    base_dir: &Path,
    resolver: &dyn SecretResolver,
) -> Option<(Secret, SecretSource)> {
    secret::refuse_inline(s, p, "secret");
    secret::read(s, p, "secret", base_dir, resolver, secret::Need::Required)
}
