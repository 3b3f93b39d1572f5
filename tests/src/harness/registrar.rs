//! A carrier's SIP registrar played by sipp in the client namespace: answers every REGISTER with 200 (echoing its Contact and Expires) and logs who registered, so a test can count each server's registrations; it can lose a server's next datagrams.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::{Path, PathBuf};

use super::calls::spawn_sipp;
use super::firewall::DropTable;
use super::netns::CLIENT;
use super::process::Proc;
use super::{file_tail, HarnessError};

/// The registrar's port on the client's address (the call client's sipp uses 5070).
pub const PORT: u16 = 5080;

/// The uas scenario: every REGISTER of a registration (one Call-ID, refreshed for as long as
/// it lasts) logged and answered, in a loop. The answer leads straight back to the `recv`: a
/// step between them (a `nop` logging after the answer, as this scenario had) is where a starved
/// sipp, handed the next REGISTER of the same registration before it ran that step, took it for
/// an unexpected message and killed the registration's call; every later REGISTER of it went
/// unanswered ("Dead call"), and a busy CI run saw the trunk never register.
const REGISTRAR_SCENARIO: &str = r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<!-- astha harness: a carrier's registrar; one line per REGISTER with its Contact and Expires. -->
<scenario name="astha harness registrar">
  <label id="again"/>
  <recv request="REGISTER">
    <action><log message="REGISTER [last_Contact:] [last_Expires:]"/></action>
  </recv>
  <send next="again">
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpReg[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      [last_Contact:]
      [last_Expires:]
      Content-Length: 0
    ]]>
  </send>
</scenario>
"#;

/// One REGISTER the registrar answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Register {
    /// The address in its Contact (the server's own, with the shipped example trunk).
    pub contact: Ipv4Addr,
    /// The expiry it asked for: 0 is an un-REGISTER.
    pub expires: u32,
}

impl Register {
    /// A registration (or refresh), not an un-REGISTER.
    pub fn registers(&self) -> bool {
        self.expires > 0
    }
}

/// sipp as a registrar; stopped on drop.
#[derive(Debug)]
pub struct Registrar {
    namespace: String,
    log_file: PathBuf,
    errors_file: PathBuf,
    sipp: Proc,
}

impl Registrar {
    /// Where servers register: the client's address, [`PORT`].
    pub fn address() -> SocketAddrV4 {
        SocketAddrV4::new(CLIENT, PORT)
    }

    /// Starts sipp in the client namespace.
    pub fn start(client_ns: &str, run_dir: &Path) -> Result<Registrar, HarnessError> {
        // sipp's warnings (a message it could not map to a call, one it did not expect) go to
        // a file of their own, for the failure report; an unexpected message is dropped, not
        // the registration's call with it (a carrier keeps a binding it cannot parse once).
        let errors_file = run_dir.join("sipp-registrar.errors");
        let (sipp, log_file) = spawn_sipp(
            "sipp-registrar",
            client_ns,
            run_dir,
            REGISTRAR_SCENARIO,
            PORT,
            &[
                "-default_behaviors".into(),
                "all,-abortunexp".into(),
                "-trace_err".into(),
                "-error_file".into(),
                errors_file.display().to_string(),
            ],
        )?;
        Ok(Registrar {
            namespace: client_ns.to_owned(),
            log_file,
            errors_file,
            sipp,
        })
    }

    /// For a failed test: whether sipp still runs, the end of its output, the last REGISTERs it
    /// received and its last warnings.
    pub fn report(&self) -> String {
        let running = std::fs::read_to_string(format!("/proc/{}/stat", self.sipp.pid()))
            .ok()
            .and_then(|stat| stat.rsplit(") ").next()?.chars().next())
            .is_some_and(|state| state != 'Z' && state != 'X');
        format!(
            "sipp {}; its output:\n{}\nlast REGISTERs received:\n{}\nlast warnings:\n{}",
            if running { "running" } else { "NOT RUNNING" },
            file_tail(self.sipp.log_path(), 5),
            file_tail(&self.log_file, 8),
            file_tail(&self.errors_file, 12),
        )
    }

    /// Loses the next `count` datagrams `contact` sends to the registrar: a carrier's network
    /// losing a request and its first retransmissions. They are dropped on arrival, in the
    /// client namespace (a drop on the sender's side would fail its `sendto`, which pjproject
    /// takes for a transport error, not a loss). The rule's `limit` matches, so drops, the first
    /// `count` at once and then one an hour; the table goes when the returned value is dropped.
    pub fn lose_next_from(&self, contact: Ipv4Addr, count: u32) -> Result<DropTable, HarnessError> {
        DropTable::add(
            &self.namespace,
            "astha_harness_carrier_loss",
            "input",
            &[format!(
                "ip saddr {contact} udp dport {PORT} limit rate 1/hour burst {count} packets counter drop"
            )],
        )
    }

    /// Every REGISTER received (each is answered at once) so far, in order.
    pub fn registers(&self) -> Vec<Register> {
        std::fs::read_to_string(&self.log_file)
            .map(|text| text.lines().filter_map(parse).collect())
            .unwrap_or_default()
    }

    /// How many registrations (un-REGISTERs left out) came from `contact` so far.
    pub fn registrations_from(&self, contact: Ipv4Addr) -> usize {
        self.registers()
            .iter()
            .filter(|r| r.contact == contact && r.registers())
            .count()
    }
}

/// One log line: `REGISTER Contact: <sip:pbx@10.77.0.1:5060> Expires: 12`.
fn parse(line: &str) -> Option<Register> {
    let rest = line.trim().strip_prefix("REGISTER ")?;
    let at = rest.find('@')?;
    let host: String = rest[at + 1..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let contact = host.parse().ok()?;
    let lower = rest.to_ascii_lowercase();
    let number_after = |key: &str| -> Option<u32> {
        let from = lower.find(key)? + key.len();
        let digits: String = lower[from..]
            .trim_start()
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().ok()
    };
    // A Contact's own `expires` parameter wins over the Expires header (RFC 3261 10.2.1.1).
    let expires = number_after(";expires=").or_else(|| number_after("expires:"))?;
    Some(Register { contact, expires })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_give_the_contact_and_the_expiry() {
        assert_eq!(
            parse("REGISTER Contact: <sip:pbx@10.77.0.1:5060> Expires: 12"),
            Some(Register {
                contact: Ipv4Addr::new(10, 77, 0, 1),
                expires: 12
            })
        );
        let unregister = parse("REGISTER Contact: <sip:pbx@10.77.0.2:5060>;expires=0 Expires: 0")
            .expect("parsed");
        assert!(!unregister.registers());
        assert_eq!(parse("sipp says hello"), None);
    }
}
