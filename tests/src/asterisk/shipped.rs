//! The files astha ships in `dialplan/`, installed the way README tells an administrator: copied, with the secret and the addresses filled in.
//!
//! Every edit replaces a line the shipped file really has; when a shipped file changes so that an
//! edit no longer applies, installing fails with the line it looked for, instead of silently
//! running an Asterisk with the example values.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use crate::harness::HarnessError;

/// Where the shipped files are (`dialplan/` of this checkout).
pub fn dialplan_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../dialplan")
}

/// A shipped file by name (`extensions_astha.conf`, ...).
pub fn shipped(name: &str) -> PathBuf {
    dialplan_dir().join(name)
}

/// The example addresses the shipped files use (RFC 5737 documentation addresses, the same as
/// contrib/astha.example.toml's).
const EXAMPLE_FLOATING: &str = "192.0.2.100";
const EXAMPLE_A: &str = "192.0.2.10";
const EXAMPLE_B: &str = "192.0.2.11";

/// The pair's addresses an administrator fills in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PairAddresses {
    /// Server A's and B's own addresses.
    pub servers: [Ipv4Addr; 2],
    pub floating: Ipv4Addr,
}

/// `manager_astha.conf` with the secret set and both servers permitted.
pub fn manager(secret: &str, pair: &PairAddresses) -> Result<String, HarnessError> {
    let text = read("manager_astha.conf")?;
    let mut edits = Edits::new("manager_astha.conf", text);
    // Both users: astha's probes' and the contact mirror's (one secret file for both).
    edits.replace_every_line_starting("secret = ", &format!("secret = {secret}"))?;
    for (example, addr) in [(EXAMPLE_A, pair.servers[0]), (EXAMPLE_B, pair.servers[1])] {
        edits.replace_every_line_starting(
            &format!("; permit = {example}/"),
            &format!("permit = {addr}/255.255.255.255"),
        )?;
    }
    Ok(edits.text)
}

/// `pjsip_astha.conf` for server `me` (0 = A, 1 = B): the floating and own-address transports,
/// and the probe endpoint matching both servers.
pub fn pjsip(me: usize, pair: &PairAddresses) -> Result<String, HarnessError> {
    let text = read("pjsip_astha.conf")?;
    let mut edits = Edits::new("pjsip_astha.conf", text);
    edits.replace_line_starting(
        &format!("bind = {EXAMPLE_FLOATING}:"),
        &format!("bind = {}:5060", pair.floating),
    )?;
    edits.replace_line_starting(
        &format!("bind = {EXAMPLE_A}:"),
        &format!("bind = {}:5060", pair.servers[me]),
    )?;
    for (example, addr) in [(EXAMPLE_A, pair.servers[0]), (EXAMPLE_B, pair.servers[1])] {
        edits.replace_line_starting(&format!("match = {example}"), &format!("match = {addr}"))?;
    }
    Ok(edits.text)
}

/// The example carrier's registrar in `pjsip_trunk_example.conf`.
const EXAMPLE_REGISTRAR: &str = "198.51.100.20:5060";

/// `pjsip_trunk_example.conf` registering with `registrar`, refreshed every `expiration` seconds.
pub fn trunk(registrar: std::net::SocketAddrV4, expiration: u32) -> Result<String, HarnessError> {
    let text = read("pjsip_trunk_example.conf")?;
    let mut edits = Edits::new("pjsip_trunk_example.conf", text);
    edits.replace_line_starting(
        &format!("server_uri = sip:{EXAMPLE_REGISTRAR}"),
        &format!("server_uri = sip:{registrar}"),
    )?;
    edits.replace_line_starting(
        &format!("client_uri = sip:pbx@{EXAMPLE_REGISTRAR}"),
        &format!("client_uri = sip:pbx@{registrar}"),
    )?;
    edits.replace_line_starting("expiration = ", &format!("expiration = {expiration}"))?;
    Ok(edits.text)
}

fn read(name: &str) -> Result<String, HarnessError> {
    let path = shipped(name);
    std::fs::read_to_string(&path).map_err(|source| HarnessError::Io {
        what: format!("read the shipped {}", path.display()),
        source,
    })
}

/// Line edits on one file, each required to apply exactly once.
struct Edits {
    name: &'static str,
    text: String,
}

impl Edits {
    fn new(name: &'static str, text: String) -> Self {
        Edits { name, text }
    }

    fn replace_line_starting(&mut self, start: &str, with: &str) -> Result<(), HarnessError> {
        self.replace_lines_starting(start, with, |n| n == 1, "one")
    }

    /// Like [`Self::replace_line_starting`], for a line that is in the file more than once.
    fn replace_every_line_starting(&mut self, start: &str, with: &str) -> Result<(), HarnessError> {
        self.replace_lines_starting(start, with, |n| n >= 1, "at least one")
    }

    fn replace_lines_starting(
        &mut self,
        start: &str,
        with: &str,
        count_ok: impl Fn(usize) -> bool,
        expected: &str,
    ) -> Result<(), HarnessError> {
        let matching = self
            .text
            .lines()
            .filter(|l| l.trim_start().starts_with(start))
            .count();
        if !count_ok(matching) {
            return Err(HarnessError::Protocol {
                what: format!("installing the shipped {}", self.name),
                detail: format!(
                    "expected {expected} line starting with {start:?}, found {matching}"
                ),
            });
        }
        self.text = self
            .text
            .lines()
            .map(|l| {
                if l.trim_start().starts_with(start) {
                    with.to_owned()
                } else {
                    l.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        self.text.push('\n');
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAIR: PairAddresses = PairAddresses {
        servers: [Ipv4Addr::new(10, 1, 0, 1), Ipv4Addr::new(10, 1, 0, 2)],
        floating: Ipv4Addr::new(10, 1, 0, 100),
    };

    #[test]
    fn the_manager_user_gets_the_secret_and_both_servers() {
        let text = manager("s3cret", &PAIR).unwrap();
        assert!(text.contains("\nsecret = s3cret\n"), "{text}");
        assert!(text.contains("\npermit = 10.1.0.1/255.255.255.255\n"));
        assert!(text.contains("\npermit = 10.1.0.2/255.255.255.255\n"));
        assert!(!text.contains("CHANGE-ME"));
    }

    #[test]
    fn pjsip_binds_the_floating_ip_and_the_own_address() {
        let b = pjsip(1, &PAIR).unwrap();
        assert!(b.contains("\nbind = 10.1.0.100:5060\n"), "{b}");
        assert!(b.contains("\nbind = 10.1.0.2:5060\n"));
        assert!(!b.contains("\nbind = 10.1.0.1:5060\n"));
        assert!(b.contains("\nmatch = 10.1.0.1\n") && b.contains("\nmatch = 10.1.0.2\n"));
        let settings = b.lines().filter(|l| !l.trim_start().starts_with(';'));
        assert!(
            settings.clone().all(|l| !l.contains("192.0.2.")),
            "no example address left:\n{b}"
        );
    }

    #[test]
    fn the_trunk_registers_with_the_given_registrar() {
        let text = trunk("10.1.0.10:5080".parse().unwrap(), 12).unwrap();
        assert!(
            text.contains("\nserver_uri = sip:10.1.0.10:5080\n"),
            "{text}"
        );
        assert!(text.contains("\nclient_uri = sip:pbx@10.1.0.10:5080\n"));
        assert!(text.contains("\nexpiration = 12\n"));
        assert!(text.contains("\ntransport = astha-local\n"));
        assert!(!text.contains("198.51.100.20:5060\n"));
    }

    #[test]
    fn an_edit_that_no_longer_applies_is_an_error() {
        let mut edits = Edits::new("x.conf", "a = 1\nb = 2\n".into());
        assert!(edits.replace_line_starting("c = ", "c = 3").is_err());
        assert!(edits.replace_line_starting("a = ", "a = 9").is_ok());
        assert_eq!(edits.text, "a = 9\nb = 2\n");
    }
}
