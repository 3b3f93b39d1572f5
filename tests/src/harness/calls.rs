//! Real SIP calls through the floating IP: sipp in the client namespace places a steady stream of calls into the shipped `echo@ha-probe`, and every call's fate is counted.
//!
//! Each call is INVITE, 200, ACK, 300 ms up (by default, see [`CallLoad`]), BYE, 200. The sipp scenario logs one line per step
//! (`START n`, `SETUP n`, `DONE n`, or `FAILED n` when the INVITE gets no answer within 3 s,
//! `DROPPED n` when the BYE of a call that was up gets none within 8 s: a saturated host can keep
//! a healthy Asterisk's 200 back for seconds, while a call lost in a switch gets a 481 at once);
//! a reader thread stamps the lines as they arrive. A call that started and then ended otherwise (rejected, or hung up by the
//! server) shows as failed or dropped once it is older than every timeout of the scenario.

use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::client::now_unix;
use super::netns::{CLIENT, FLOATING_IP};
use super::process::{Proc, Stdio2};
use super::{poll, HarnessError};

/// New calls per second by default.
pub const CALL_RATE: u32 = 4;
/// How long a call stays up by default (ms).
pub const CALL_HOLD_MS: u32 = 300;
/// After this long past its hold time a call has either logged its end or is over by other means.
const SETTLED: f64 = 13.0;

/// How many calls sipp places: `rate` new calls per second, each up for `hold_ms`, so about
/// `rate * hold_ms / 1000` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallLoad {
    pub rate: u32,
    pub hold_ms: u32,
}

impl Default for CallLoad {
    fn default() -> Self {
        CallLoad {
            rate: CALL_RATE,
            hold_ms: CALL_HOLD_MS,
        }
    }
}

impl CallLoad {
    /// Calls up at the same time in the steady state.
    pub fn concurrent(&self) -> u32 {
        self.rate * self.hold_ms / 1000
    }
}

/// The uac scenario (`CALL_SCENARIO` written to the run directory).
const CALL_SCENARIO: &str = r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<!-- astha harness: one call into echo@ha-probe through the floating IP, each step logged. -->
<scenario name="astha harness call">
  <nop><action><log message="START [call_number]"/></action></nop>
  <send retrans="500">
    <![CDATA[
      INVITE sip:echo@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: harness <sip:harness@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:echo@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: sip:harness@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=harness 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000
    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <!-- rrs: records the answer's Contact, which [next_url] (the ACK's and the BYE's Request-URI)
       is made of; without it they go out as `ACK  SIP/2.0`, which Asterisk drops as malformed. -->
  <recv response="200" rtd="true" rrs="true" timeout="3000" ontimeout="failed"/>
  <send>
    <![CDATA[
      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: harness <sip:harness@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:echo@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Contact: sip:harness@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <nop><action><log message="SETUP [call_number]"/></action></nop>
  <pause milliseconds="HOLD_MS"/>
  <send retrans="500">
    <![CDATA[
      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: harness <sip:harness@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:echo@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Contact: sip:harness@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv response="200" timeout="8000" ontimeout="dropped"/>
  <nop next="end"><action><log message="DONE [call_number]"/></action></nop>
  <label id="failed"/>
  <nop next="end"><action><log message="FAILED [call_number]"/></action></nop>
  <label id="dropped"/>
  <nop><action><log message="DROPPED [call_number]"/></action></nop>
  <label id="end"/>
</scenario>
"#;

/// One logged step of one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Start,
    SetUp,
    Done,
    Failed,
    Dropped,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Logged {
    at: f64,
    call: u64,
    step: Step,
}

/// The fate of the calls started in a time window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallCounts {
    /// INVITEs sent.
    pub attempted: u64,
    /// Answered (200 OK, ACK sent).
    pub set_up: u64,
    /// Not answered: no final answer within 3 s, or rejected.
    pub failed: u64,
    /// Answered, then lost: the BYE got no answer, or the server ended the call.
    pub dropped: u64,
    /// Still under way (started too recently to judge).
    pub in_flight: u64,
}

/// sipp placing calls from the client namespace; stopped on drop.
#[derive(Debug)]
pub struct CallClient {
    /// Seconds after its start by which a call has surely ended one way or another.
    settled: f64,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<Logged>>>,
    reader: Option<std::thread::JoinHandle<()>>,
    _sipp: Proc,
}

impl CallClient {
    /// Starts placing calls to the floating IP at `load`.
    pub fn start(
        client_ns: &str,
        run_dir: &Path,
        load: CallLoad,
    ) -> Result<CallClient, HarnessError> {
        let text = CALL_SCENARIO.replace("HOLD_MS", &load.hold_ms.to_string());
        let args: Vec<String> = vec![
            format!("{FLOATING_IP}:5060"),
            "-r".into(),
            load.rate.to_string(),
            // sipp's own cap on simultaneous calls must not throttle the load asked for.
            "-l".into(),
            (2 * load.concurrent() + 4 * load.rate).to_string(),
        ];
        let (sipp, log_file) = spawn_sipp("sipp-calls", client_ns, run_dir, &text, 5070, &args)?;
        let stop = Arc::new(AtomicBool::new(false));
        let log: Arc<Mutex<Vec<Logged>>> = Arc::default();
        let reader = {
            let stop = Arc::clone(&stop);
            let log = Arc::clone(&log);
            std::thread::spawn(move || follow(&log_file, &stop, &log, parse))
        };
        Ok(CallClient {
            settled: SETTLED + f64::from(load.hold_ms) / 1000.0,
            stop,
            log,
            reader: Some(reader),
            _sipp: sipp,
        })
    }

    /// What became of the calls started in `[since, until)` (Unix seconds).
    pub fn counts(&self, since: f64, until: f64) -> CallCounts {
        let log = self.log.lock().unwrap_or_else(|p| p.into_inner()).clone();
        count(&log, since, until, now_unix(), self.settled)
    }

    /// Waits for a call that started after `after` (Unix seconds) to be set up; returns when it was.
    pub fn wait_set_up_after(&self, after: f64, timeout: Duration) -> Result<f64, HarnessError> {
        poll(
            "a SIP call through the floating IP answered",
            timeout,
            Duration::from_millis(20),
            || {
                let log = self.log.lock().unwrap_or_else(|p| p.into_inner());
                let started: Vec<u64> = log
                    .iter()
                    .filter(|l| l.step == Step::Start && l.at > after)
                    .map(|l| l.call)
                    .collect();
                log.iter()
                    .find(|l| l.step == Step::SetUp && started.contains(&l.call))
                    .map(|l| l.at)
            },
        )
    }
}

impl Drop for CallClient {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.reader.take() {
            let _ = t.join();
        }
    }
}

/// Classifies the calls of `log` started in `[since, until)`, as seen at `now`.
fn count(log: &[Logged], since: f64, until: f64, now: f64, settled_after: f64) -> CallCounts {
    let mut counts = CallCounts::default();
    for start in log
        .iter()
        .filter(|l| l.step == Step::Start && l.at >= since && l.at < until)
    {
        counts.attempted += 1;
        let has = |step: Step| log.iter().any(|l| l.call == start.call && l.step == step);
        let settled = now - start.at > settled_after;
        let set_up = has(Step::SetUp);
        if set_up {
            counts.set_up += 1;
        }
        if has(Step::Done) {
            continue;
        }
        if has(Step::Dropped) || (set_up && settled) {
            counts.dropped += 1;
        } else if has(Step::Failed) || settled {
            counts.failed += 1;
        } else {
            counts.in_flight += 1;
        }
    }
    counts
}

/// Starts sipp named `name` in the client namespace on the client's address and `port`, with
/// `scenario` (written to `<name>.xml` in `run_dir`), `args` first, its log actions written to
/// the returned file (`<name>.steps`, emptied first; `<name>.log` is its output).
pub(super) fn spawn_sipp(
    name: &str,
    client_ns: &str,
    run_dir: &Path,
    scenario: &str,
    port: u16,
    args: &[String],
) -> Result<(Proc, PathBuf), HarnessError> {
    let scenario_file = run_dir.join(format!("{name}.xml"));
    let log_file = run_dir.join(format!("{name}.steps"));
    std::fs::write(&scenario_file, scenario).map_err(|source| HarnessError::Io {
        what: format!("write {}", scenario_file.display()),
        source,
    })?;
    let _ = std::fs::remove_file(&log_file);
    let mut all = args.to_vec();
    all.extend([
        "-sf".into(),
        scenario_file.display().to_string(),
        "-i".into(),
        CLIENT.to_string(),
        "-p".into(),
        port.to_string(),
        "-nostdin".into(),
        "-trace_logs".into(),
        "-log_file".into(),
        log_file.display().to_string(),
    ]);
    let sipp = Proc::spawn(
        name,
        Some(client_ns),
        Path::new("sipp"),
        &all,
        run_dir,
        Stdio2::Log,
    )?;
    Ok((sipp, log_file))
}

/// Follows sipp's log as it grows, stamping each line with its arrival time and keeping what
/// `parse` makes of it.
pub(crate) fn follow<T>(
    path: &Path,
    stop: &AtomicBool,
    log: &Mutex<Vec<T>>,
    parse: impl Fn(&str, f64) -> Option<T>,
) {
    let mut offset = 0u64;
    let mut partial = String::new();
    while !stop.load(Ordering::SeqCst) {
        if let Ok(mut file) = std::fs::File::open(path) {
            if file.seek(SeekFrom::Start(offset)).is_ok() {
                let mut reader = BufReader::new(file);
                let mut line = String::new();
                while let Ok(n) = reader.read_line(&mut line) {
                    if n == 0 {
                        break;
                    }
                    offset += n as u64;
                    partial.push_str(&line);
                    line.clear();
                    if partial.ends_with('\n') {
                        if let Some(entry) = parse(&partial, now_unix()) {
                            log.lock().unwrap_or_else(|p| p.into_inner()).push(entry);
                        }
                        partial.clear();
                    }
                }
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn parse(line: &str, at: f64) -> Option<Logged> {
    let mut words = line.split_whitespace();
    let step = match words.next()? {
        "START" => Step::Start,
        "SETUP" => Step::SetUp,
        "DONE" => Step::Done,
        "FAILED" => Step::Failed,
        "DROPPED" => Step::Dropped,
        _ => return None,
    };
    let call = words.next()?.parse().ok()?;
    Some(Logged { at, call, step })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(at: f64, call: u64, step: Step) -> Logged {
        Logged { at, call, step }
    }

    #[test]
    fn steps_are_parsed_and_junk_ignored() {
        assert_eq!(parse("SETUP 17\n", 1.0), Some(at(1.0, 17, Step::SetUp)));
        assert_eq!(parse("sipp says hello\n", 1.0), None);
        assert_eq!(parse("DONE x\n", 1.0), None);
    }

    #[test]
    fn every_call_is_counted_once_by_its_fate() {
        use Step::*;
        let log = [
            // 1 completed, 2 unanswered, 3 set up then lost, 4 rejected (nothing more logged),
            // 5 set up and still up, 6 before the window.
            at(10.0, 1, Start),
            at(10.1, 1, SetUp),
            at(10.5, 1, Done),
            at(10.2, 2, Start),
            at(13.2, 2, Failed),
            at(10.4, 3, Start),
            at(10.5, 3, SetUp),
            at(19.0, 3, Dropped),
            at(10.6, 4, Start),
            at(19.5, 5, Start),
            at(19.6, 5, SetUp),
            at(9.0, 6, Start),
        ];
        // Seen at 25 s: call 4 is past every timeout, call 5 (started 5.5 s before) is not.
        let counts = count(&log, 10.0, 20.0, 25.0, SETTLED);
        assert_eq!(
            counts,
            CallCounts {
                attempted: 5,
                set_up: 3,
                failed: 2,
                dropped: 1,
                in_flight: 1,
            }
        );
    }
}
