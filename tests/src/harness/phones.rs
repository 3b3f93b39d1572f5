//! Phones that register through the floating IP and answer the calls Asterisk places to them: two sipp processes in the client namespace.
//!
//! One sipp registers the phones (`phone1`..`phoneN` of the site configuration, see
//! [`crate::asterisk::config::phone`]) once each and exits, so nothing registers them again; their
//! contacts all point at the other sipp, which answers every INVITE and logs which phone was
//! called (`ANSWERED phone7`) once the call is set up (ACK received). Calls to the phones are
//! placed on a server's Asterisk with [`PhoneCaller`].

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::calls::follow;
use super::netns::{CLIENT, FLOATING_IP};
use super::process::{Proc, Stdio2};
use super::{poll, HarnessError};
use crate::asterisk::config::phone;
use crate::asterisk::recorded_session::owned;
use crate::asterisk::RecordedSession;

/// The port the answering sipp listens on (every phone's contact).
const ANSWER_PORT: u16 = 5080;
/// The port the registering sipp sends from.
const REGISTER_PORT: u16 = 5081;
/// Where each sipp's media sockets go: clear of the call client's (sipp's default, 6000).
const ANSWER_MEDIA_PORT: u16 = 16_000;
const REGISTER_MEDIA_PORT: u16 = 16_010;

const ANSWER_SCENARIO: &str = r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<!-- astha harness: the registered phones answer every call and log which phone was called. -->
<scenario name="astha harness phones">
  <recv request="INVITE">
    <action>
      <ereg regexp="phone[0-9]+" search_in="hdr" header="To:" check_it="true" assign_to="phone"/>
    </action>
  </recv>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[$phone]@[local_ip]:[local_port]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=phone 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000
    ]]>
  </send>
  <!-- Logged in the recv itself: a step between the ACK and the BYE is where a starved sipp,
       handed both at once, takes the BYE for unexpected and aborts the call unlogged. -->
  <recv request="ACK" timeout="5000" ontimeout="end">
    <action><log message="ANSWERED [$phone]"/></action>
  </recv>
  <recv request="BYE" timeout="30000" ontimeout="end"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
    ]]>
  </send>
  <label id="end"/>
</scenario>
"#;

const REGISTER_SCENARIO: &str = r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<!-- astha harness: one phone (field0 of the injection file) registers once through the floating IP. -->
<scenario name="astha harness register">
  <send retrans="500">
    <![CDATA[
      REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:[field0]@[remote_ip]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[field0]@[remote_ip]>
      Call-ID: [call_id]
      CSeq: 1 REGISTER
      Contact: <sip:[field0]@[local_ip]:ANSWER_PORT>
      Expires: 3600
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv response="200" timeout="5000" ontimeout="failed"/>
  <nop next="end"><action><log message="REGISTERED [field0]"/></action></nop>
  <label id="failed"/>
  <nop><action><log message="FAILED [field0]"/></action></nop>
  <label id="end"/>
</scenario>
"#;

/// One line of the phones' logs: `REGISTERED phone3` or `ANSWERED phone3`, and when it came.
#[derive(Debug, Clone, PartialEq)]
struct Logged {
    at: f64,
    word: String,
    phone: String,
}

fn parse(line: &str, at: f64) -> Option<Logged> {
    let mut words = line.split_whitespace();
    let word = words.next()?.to_owned();
    let phone = words.next()?.to_owned();
    Some(Logged { at, word, phone })
}

/// The answering phones and their log; stopped on drop.
#[derive(Debug)]
pub struct Phones {
    count: u32,
    client_ns: String,
    run_dir: std::path::PathBuf,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<Logged>>>,
    readers: Vec<std::thread::JoinHandle<()>>,
    _answer: Proc,
}

impl Phones {
    /// Starts answering for `count` phones (registering them is [`Phones::register`]).
    pub fn start(client_ns: &str, run_dir: &Path, count: u32) -> Result<Phones, HarnessError> {
        let scenario = write(run_dir, "sipp-phones.xml", ANSWER_SCENARIO)?;
        let log_file = run_dir.join("sipp-phones.steps");
        let _ = std::fs::remove_file(&log_file);
        let args = vec![
            "-sf".into(),
            scenario,
            "-i".into(),
            CLIENT.to_string(),
            "-p".into(),
            ANSWER_PORT.to_string(),
            "-mp".into(),
            ANSWER_MEDIA_PORT.to_string(),
            "-nostdin".into(),
            "-trace_logs".into(),
            "-log_file".into(),
            log_file.display().to_string(),
        ];
        let answer = Proc::spawn(
            "sipp-phones",
            Some(client_ns),
            Path::new("sipp"),
            &args,
            run_dir,
            Stdio2::Log,
        )?;
        let mut phones = Phones {
            count,
            client_ns: client_ns.to_owned(),
            run_dir: run_dir.to_path_buf(),
            stop: Arc::default(),
            log: Arc::default(),
            readers: Vec::new(),
            _answer: answer,
        };
        phones.follow(log_file);
        Ok(phones)
    }

    fn follow(&mut self, path: std::path::PathBuf) {
        let stop = Arc::clone(&self.stop);
        let log = Arc::clone(&self.log);
        self.readers.push(std::thread::spawn(move || {
            follow(&path, &stop, &log, parse)
        }));
    }

    /// Registers every phone once through the floating IP (with whichever server holds it) and
    /// waits until each got its 200; the registering sipp is gone when this returns.
    pub fn register(&mut self, timeout: Duration) -> Result<(), HarnessError> {
        let scenario = write(
            &self.run_dir,
            "sipp-register.xml",
            &REGISTER_SCENARIO.replace("ANSWER_PORT", &ANSWER_PORT.to_string()),
        )?;
        let phones: String = (1..=self.count)
            .map(|n| format!("{};\n", phone(n)))
            .collect();
        let injection = write(
            &self.run_dir,
            "sipp-register.csv",
            &format!("SEQUENTIAL\n{phones}"),
        )?;
        let log_file = self.run_dir.join("sipp-register.steps");
        let _ = std::fs::remove_file(&log_file);
        let args = vec![
            format!("{FLOATING_IP}:5060"),
            "-sf".into(),
            scenario,
            "-inf".into(),
            injection,
            "-i".into(),
            CLIENT.to_string(),
            "-p".into(),
            REGISTER_PORT.to_string(),
            "-mp".into(),
            REGISTER_MEDIA_PORT.to_string(),
            "-m".into(),
            self.count.to_string(),
            "-r".into(),
            "50".into(),
            "-nostdin".into(),
            "-trace_logs".into(),
            "-log_file".into(),
            log_file.display().to_string(),
        ];
        let mut sipp = Proc::spawn(
            "sipp-register",
            Some(&self.client_ns),
            Path::new("sipp"),
            &args,
            &self.run_dir,
            Stdio2::Log,
        )?;
        self.follow(log_file);
        let registered = poll(
            "every phone registered through the floating IP",
            timeout,
            Duration::from_millis(50),
            || (self.registered().len() == self.count as usize).then_some(()),
        );
        sipp.stop(Duration::from_secs(2));
        registered
    }

    /// The phones that registered (each once).
    pub fn registered(&self) -> Vec<String> {
        let log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        let mut phones: Vec<String> = log
            .iter()
            .filter(|l| l.word == "REGISTERED")
            .map(|l| l.phone.clone())
            .collect();
        phones.sort();
        phones.dedup();
        phones
    }

    /// REGISTERs the phones sent (answered or not); a phone that registered again would count twice.
    pub fn registrations(&self) -> usize {
        let log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        log.iter()
            .filter(|l| l.word == "REGISTERED" || l.word == "FAILED")
            .count()
    }

    /// When `phone` first answered a call after `after` (Unix seconds), if it did.
    pub fn answered_after(&self, phone: &str, after: f64) -> Option<f64> {
        let log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        log.iter()
            .find(|l| l.word == "ANSWERED" && l.phone == phone && l.at > after)
            .map(|l| l.at)
    }
}

impl Drop for Phones {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
    }
}

/// Places calls to phones on one server's Asterisk, as inbound calls would reach them: AMI
/// `Originate` of `PJSIP/<phone>` (async, so a batch goes out at once), hung up a second after
/// it is answered. Logged in as astha's shipped AMI user, over one connection.
#[derive(Debug)]
pub struct PhoneCaller {
    ami: RecordedSession,
    sent: usize,
}

impl PhoneCaller {
    /// Logs in to `server`'s AMI (`ami`, from the server's namespace `ns`) with `secret`.
    pub fn connect(ns: &Path, ami: SocketAddr, secret: &str) -> Result<PhoneCaller, HarnessError> {
        let mut session = RecordedSession::connect(ns, ami)?;
        session.login(secret, Some("off"))?;
        Ok(PhoneCaller {
            ami: session,
            sent: 0,
        })
    }

    /// Calls each of `phones` once; returns when Asterisk has queued every call.
    pub fn call(&mut self, phones: &[String]) -> Result<(), HarnessError> {
        for phone in phones {
            self.sent += 1;
            self.ami.send(
                &[
                    ("Action", "Originate"),
                    ("ActionID", &format!("call-{}", self.sent)),
                    ("Channel", &format!("PJSIP/{phone}")),
                    ("Application", "Wait"),
                    ("Data", "1"),
                    ("Timeout", "5000"),
                    ("Async", "true"),
                ]
                .map(owned),
            )?;
        }
        let last = format!("ActionID: call-{}\r\n", self.sent);
        self.ami.read_until(|t| t.contains(&last))
    }

    /// What Asterisk answered so far, for failure messages.
    pub fn transcript(&self) -> String {
        self.ami.text()
    }
}

fn write(dir: &Path, name: &str, text: &str) -> Result<String, HarnessError> {
    let path = dir.join(name);
    std::fs::write(&path, text).map_err(|source| HarnessError::Io {
        what: format!("write {}", path.display()),
        source,
    })?;
    Ok(path.display().to_string())
}
