//! Shared helpers of the emulator's integration tests: fixture loading, a raw AMI transcript
//! parser independent of ami-client, the volatile-field normalization, a tiny raw AMI client and
//! condition polling.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The real Asterisk 22 captures, `tests/fixtures/asterisk-22/` (see its README).
pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/asterisk-22"))
}

/// Reads a fixture file.
pub fn fixture(rel: &str) -> Vec<u8> {
    let path = fixtures_dir().join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read fixture {}: {e}", path.display()))
}

/// Polls `cond` every few milliseconds until it holds or `timeout` passes (then panics with `what`).
pub async fn eventually<F, Fut>(timeout: Duration, what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if cond().await {
            return;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// One AMI message: ordered `(name, value)` pairs.
pub type Msg = Vec<(String, String)>;

/// Value of the first header with this name.
pub fn get<'a>(msg: &'a Msg, name: &str) -> Option<&'a str> {
    msg.iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// A server transcript split into its banner and messages (the test's own parser, deliberately
/// not ami-client's, so the two cannot share a bug).
#[derive(Debug, Clone)]
pub struct Transcript {
    /// The banner line without CRLF.
    pub banner: String,
    /// Complete messages in order.
    pub messages: Vec<Msg>,
    /// Bytes after the last complete message.
    pub trailing: usize,
}

/// Parses raw server bytes. Panics on a bare LF or a line without `": "`, which a real
/// Asterisk never sends.
pub fn parse_transcript(bytes: &[u8]) -> Transcript {
    let text = String::from_utf8_lossy(bytes);
    let Some(banner_end) = text.find("\r\n") else {
        return Transcript {
            banner: text.into_owned(),
            messages: Vec::new(),
            trailing: 0,
        };
    };
    let banner = text[..banner_end].to_owned();
    let mut rest = &text[banner_end + 2..];
    let mut messages = Vec::new();
    while let Some(end) = rest.find("\r\n\r\n") {
        let block = &rest[..end];
        rest = &rest[end + 4..];
        let mut msg = Msg::new();
        for line in block.split("\r\n") {
            assert!(!line.contains('\n'), "bare LF in server output: {line:?}");
            let (name, value) = line
                .split_once(": ")
                .unwrap_or_else(|| panic!("server line without \": \": {line:?}"));
            msg.push((name.to_owned(), value.to_owned()));
        }
        messages.push(msg);
    }
    Transcript {
        banner,
        messages,
        trailing: rest.len(),
    }
}

/// Number of complete messages (banner counted as one) in raw server bytes.
pub fn count_messages(bytes: &[u8]) -> usize {
    let Some(banner_end) = bytes.windows(2).position(|w| w == b"\r\n") else {
        return 0;
    };
    1 + bytes[banner_end + 2..]
        .windows(4)
        .filter(|w| *w == b"\r\n\r\n")
        .count()
}

/// One chunk of a `*.flow.txt`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlowChunk {
    /// Server to client bytes.
    Server(Vec<u8>),
    /// Client to server bytes.
    Client(Vec<u8>),
    /// The server closed the connection.
    ServerEof,
}

/// Parses a `*.flow.txt` (marker lines end in a bare LF, chunk bytes follow raw).
pub fn parse_flow(bytes: &[u8]) -> Vec<FlowChunk> {
    let mut chunks = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let line_end = bytes[pos..]
            .iter()
            .position(|b| *b == b'\n')
            .map_or(bytes.len(), |i| pos + i);
        let marker = String::from_utf8_lossy(&bytes[pos..line_end]).into_owned();
        pos = line_end + 1;
        if marker.is_empty() {
            // The capture script puts an LF before a marker when the chunk before it did not end
            // a line.
            continue;
        }
        if marker.contains("EOF") {
            chunks.push(FlowChunk::ServerEof);
            continue;
        }
        let words: Vec<&str> = marker.split_whitespace().collect();
        let len: usize = words
            .get(2)
            .and_then(|w| w.parse().ok())
            .unwrap_or_else(|| panic!("bad flow marker {marker:?}"));
        let data = bytes[pos..pos + len].to_vec();
        pos += len;
        chunks.push(if words[1] == "S->C" {
            FlowChunk::Server(data)
        } else {
            FlowChunk::Client(data)
        });
    }
    chunks
}

// ---------------------------------------------------------------------------------------------
// Normalization: THE list of volatile fields (the only values not compared exactly).
// ---------------------------------------------------------------------------------------------

/// Headers whose values depend on the clock, the process or the TCP endpoints.
pub const VOLATILE_HEADERS: &[&str] = &[
    "Timestamp",          // Ping: wall clock
    "Uptime",             // FullyBooted: seconds since start
    "LastReload",         // FullyBooted: seconds since reload
    "CoreStartupDate",    // CoreStatus: start date
    "CoreStartupTime",    // CoreStatus: start time
    "CoreReloadDate",     // CoreStatus: reload date
    "CoreReloadTime",     // CoreStatus: reload time
    "CoreProcessedCalls", // CoreStatus: calls since start (history of the captured system)
    "EventTV",            // security events: wall clock
    "SessionTV",          // security events: wall clock
    "SessionID",          // security events: a pointer in the Asterisk process
    "LocalAddress",       // security events: the server's IP/port
    "RemoteAddress",      // security events: the client's IP/port
    "Duration",           // CoreShowChannel: channel age
];

/// Rewrites inside values: channel sequence suffixes (`-00000043;1`) and Uniqueid/Linkedid
/// numbers (`ha-a-1795666515.134`) are replaced by stable names derived from the call they belong
/// to (see [`normalize`]); these CLI output lines have volatile numbers:
/// `System uptime: N`, `Last reload: N`, `N calls processed`, and the duration field of
/// `core show channels concise`.
pub const VOLATILE_OUTPUT_PREFIXES: &[&str] = &["System uptime: ", "Last reload: "];

fn is_channel_header(name: &str) -> bool {
    name == "Channel"
        || name == "DestChannel"
        || name == "LocalOneChannel"
        || name == "LocalTwoChannel"
}

/// Finds `-XXXXXXXX;` (8 hex digits) channel sequence suffixes in a value.
fn sequences_in(value: &str) -> Vec<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i + 10 <= bytes.len() {
        if bytes[i] == b'-'
            && bytes[i + 1..i + 9].iter().all(u8::is_ascii_hexdigit)
            && bytes[i + 9] == b';'
        {
            out.push(value[i + 1..i + 9].to_owned());
            i += 10;
        } else {
            i += 1;
        }
    }
    out
}

/// Finds `<system>-<digits>.<digits>` Uniqueids in a value.
fn uniqueids_in(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    for token in value.split(|c: char| c == '!' || c.is_whitespace()) {
        for sys in ["ha-a-", "ha-b-"] {
            if let Some(rest) = token.strip_prefix(sys) {
                if let Some((a, b)) = rest.split_once('.') {
                    if !a.is_empty()
                        && !b.is_empty()
                        && a.chars().all(|c| c.is_ascii_digit())
                        && b.chars().all(|c| c.is_ascii_digit())
                    {
                        out.push(token.to_owned());
                    }
                }
            }
        }
    }
    out
}

/// Normalizes a transcript for comparison:
/// * volatile headers get the value `<volatile>`;
/// * every channel sequence number is replaced by a key of its call: the ActionID of the
///   `OriginateResponse` naming its `;1` channel, else the first known `CallerIDName` of its
///   channels, else `seqN` by order of first appearance;
/// * every Uniqueid is replaced by `UID(<normalized channel name>)` of the channel it belongs to,
///   so Linkedid relations are still compared;
/// * volatile CLI output numbers are masked.
pub fn normalize(messages: &[Msg]) -> Vec<Msg> {
    // 1. Call keys for channel sequence numbers.
    let mut key_of_seq: BTreeMap<String, String> = BTreeMap::new();
    for msg in messages {
        if get(msg, "Event") == Some("OriginateResponse") {
            if let (Some(chan), Some(id)) = (get(msg, "Channel"), get(msg, "ActionID")) {
                for seq in sequences_in(chan) {
                    key_of_seq.entry(seq).or_insert_with(|| id.to_owned());
                }
            }
        }
    }
    for msg in messages {
        for (name, value) in msg {
            if is_channel_header(name) {
                let prefix = name.strip_suffix("Channel").unwrap_or("");
                let caller = msg
                    .iter()
                    .find(|(n, _)| *n == format!("{prefix}CallerIDName"))
                    .map(|(_, v)| v.as_str());
                if let Some(caller) = caller.filter(|c| *c != "<unknown>") {
                    for seq in sequences_in(value) {
                        key_of_seq
                            .entry(seq)
                            .or_insert_with(|| format!("cid:{caller}"));
                    }
                }
            }
        }
    }
    // `core show channels concise` rows carry the caller ID number (field 7).
    for msg in messages {
        for (name, value) in msg {
            let fields: Vec<&str> = value.split('!').collect();
            if name == "Output" && fields.len() >= 14 && !fields[7].is_empty() {
                for seq in sequences_in(fields[0]) {
                    key_of_seq
                        .entry(seq)
                        .or_insert_with(|| format!("num:{}", fields[7]));
                }
            }
        }
    }
    let mut next = 0;
    for msg in messages {
        for (_, value) in msg {
            for seq in sequences_in(value) {
                key_of_seq.entry(seq).or_insert_with(|| {
                    next += 1;
                    format!("seq{next}")
                });
            }
        }
    }
    let rename_seqs = |value: &str| -> String {
        let mut out = value.to_owned();
        for seq in sequences_in(value) {
            if let Some(key) = key_of_seq.get(&seq) {
                out = out.replace(&format!("-{seq};"), &format!("-<{key}>;"));
            }
        }
        out
    };
    // 2. Uniqueid -> normalized channel name.
    let mut chan_of_uid: BTreeMap<String, String> = BTreeMap::new();
    for msg in messages {
        for prefix in ["", "Dest", "LocalOne", "LocalTwo"] {
            let chan = msg
                .iter()
                .find(|(n, _)| *n == format!("{prefix}Channel"))
                .map(|(_, v)| v.as_str());
            let uid = msg
                .iter()
                .find(|(n, _)| *n == format!("{prefix}Uniqueid"))
                .map(|(_, v)| v.as_str());
            if let (Some(chan), Some(uid)) = (chan, uid) {
                if uid != "<unknown>" {
                    chan_of_uid
                        .entry(uid.to_owned())
                        .or_insert_with(|| rename_seqs(chan));
                }
            }
        }
        // `core show channels concise`: name!...!uniqueid
        for (name, value) in msg {
            if name == "Output" && value.matches('!').count() >= 13 {
                let fields: Vec<&str> = value.split('!').collect();
                if let (Some(chan), Some(uid)) = (fields.first(), fields.last()) {
                    chan_of_uid
                        .entry((*uid).to_owned())
                        .or_insert_with(|| rename_seqs(chan));
                }
            }
        }
    }
    let rename_uids = |value: &str| -> String {
        let mut out = value.to_owned();
        for uid in uniqueids_in(value) {
            let replacement = chan_of_uid
                .get(&uid)
                .map_or_else(|| "UID(?)".to_owned(), |c| format!("UID({c})"));
            out = out.replace(&uid, &replacement);
        }
        out
    };
    messages
        .iter()
        .map(|msg| {
            msg.iter()
                .map(|(name, value)| {
                    if VOLATILE_HEADERS.contains(&name.as_str()) {
                        return (name.clone(), "<volatile>".to_owned());
                    }
                    let mut value = rename_uids(&rename_seqs(value));
                    if name == "Output" {
                        value = mask_output(&value);
                    }
                    (name.clone(), value)
                })
                .collect()
        })
        .collect()
}

fn mask_output(value: &str) -> String {
    for prefix in VOLATILE_OUTPUT_PREFIXES {
        if value.starts_with(prefix) {
            return format!("{prefix}<volatile>");
        }
    }
    if let Some(n) = value.strip_suffix(" calls processed") {
        if n.chars().all(|c| c.is_ascii_digit()) {
            return "<volatile> calls processed".to_owned();
        }
    }
    if value.matches('!').count() >= 13 {
        // concise: field 11 (0-based) is the duration in seconds.
        let mut fields: Vec<String> = value.split('!').map(str::to_owned).collect();
        if fields.len() > 11 {
            fields[11] = "<volatile>".to_owned();
        }
        return fields.join("!");
    }
    value.to_owned()
}

/// Wire text of a message (for diffs and multiset comparison).
pub fn text(msg: &Msg) -> String {
    msg.iter()
        .map(|(n, v)| format!("{n}: {v}\n"))
        .collect::<String>()
}

/// Whether the message answers an action (a response or an item of a response list).
fn is_action_bound(msg: &Msg) -> bool {
    match msg.first() {
        Some((n, _)) if n == "Response" => true,
        Some((n, _)) if n == "Event" => {
            msg.get(1).is_some_and(|(n, _)| n == "ActionID") || msg.len() == 1
        }
        _ => false,
    }
}

/// Names of channels an event mentions.
fn channels_of(msg: &Msg) -> Vec<String> {
    msg.iter()
        .filter(|(n, _)| is_channel_header(n))
        .map(|(_, v)| v.clone())
        .collect()
}

/// Events whose position relative to a call's other events is nondeterministic in Asterisk
/// (fixture 16 shows `OriginateResponse` in four different places; `DeviceStateChange` comes
/// from the device-state thread).
const FLOATING_EVENTS: &[&str] = &["OriginateResponse", "DeviceStateChange"];

/// Sorts runs of list items and channel rows whose order is Asterisk's hash-container order.
fn canonical_action_bound(messages: &[Msg]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut run: Vec<String> = Vec::new();
    let mut run_name = String::new();
    for msg in messages {
        let mut msg = msg.clone();
        // `core show channels` rows: sort the Output lines that list channels.
        let mut rows: Vec<(String, String)> = msg
            .iter()
            .filter(|(n, v)| n == "Output" && v.starts_with("Local/"))
            .cloned()
            .collect();
        if !rows.is_empty() {
            rows.sort();
            let mut rows = rows.into_iter();
            for h in msg.iter_mut() {
                if h.0 == "Output" && h.1.starts_with("Local/") {
                    if let Some(r) = rows.next() {
                        *h = r;
                    }
                }
            }
        }
        let name = get(&msg, "Event").unwrap_or("").to_owned();
        let is_item = !name.is_empty() && !name.ends_with("Complete");
        if is_item && name == run_name {
            run.push(text(&msg));
            continue;
        }
        run.sort();
        out.append(&mut run);
        if is_item {
            run_name = name;
            run.push(text(&msg));
        } else {
            run_name.clear();
            out.push(text(&msg));
        }
    }
    run.sort();
    out.append(&mut run);
    out
}

/// The comparison of an emulated transcript with a recorded one; `Err` describes the first
/// difference. See the conformance test's module documentation for the rules.
pub fn compare(recorded: &Transcript, emulated: &Transcript) -> Result<(), String> {
    if recorded.banner != emulated.banner {
        return Err(format!(
            "banner differs: recorded {:?}, emulated {:?}",
            recorded.banner, emulated.banner
        ));
    }
    let rec = normalize(&recorded.messages);
    let emu = normalize(&emulated.messages);
    // Rule 1: responses and response-list items, in order (list items of one list as a set).
    let rec_bound: Vec<Msg> = rec.iter().filter(|m| is_action_bound(m)).cloned().collect();
    let emu_bound: Vec<Msg> = emu.iter().filter(|m| is_action_bound(m)).cloned().collect();
    let (rb, eb) = (
        canonical_action_bound(&rec_bound),
        canonical_action_bound(&emu_bound),
    );
    for (i, (r, e)) in rb.iter().zip(eb.iter()).enumerate() {
        if r != e {
            return Err(format!(
                "response #{i} differs:\n--- recorded\n{r}--- emulated\n{e}"
            ));
        }
    }
    if rb.len() != eb.len() {
        return Err(format!(
            "{} responses recorded, {} emulated; first extra:\n{}",
            rb.len(),
            eb.len(),
            rb.get(eb.len())
                .or(eb.get(rb.len()))
                .cloned()
                .unwrap_or_default()
        ));
    }
    // Rule 2: the same events with the same headers in the same order (as a multiset).
    let rec_events: Vec<&Msg> = rec.iter().filter(|m| !is_action_bound(m)).collect();
    let emu_events: Vec<&Msg> = emu.iter().filter(|m| !is_action_bound(m)).collect();
    let not_device_state = |m: &&&Msg| get(m, "Event") != Some("DeviceStateChange");
    let mut rs: Vec<String> = rec_events
        .iter()
        .filter(not_device_state)
        .map(|m| text(m))
        .collect();
    let mut es: Vec<String> = emu_events
        .iter()
        .filter(not_device_state)
        .map(|m| text(m))
        .collect();
    rs.sort();
    es.sort();
    if rs != es {
        let mut counts: BTreeMap<&String, (usize, usize)> = BTreeMap::new();
        for r in &rs {
            counts.entry(r).or_default().0 += 1;
        }
        for e in &es {
            counts.entry(e).or_default().1 += 1;
        }
        let (event, (r, e)) = counts
            .iter()
            .find(|(_, (r, e))| r != e)
            .map(|(k, v)| (*k, *v))
            .unwrap_or((&rs[0], (0, 0)));
        return Err(format!(
            "events differ ({} recorded, {} emulated): this event was recorded {r} times, emulated {e} times:\n{event}",
            rs.len(),
            es.len(),
        ));
    }
    // Rule 2b: DeviceStateChange. Asterisk aggregates a device's state asynchronously, so in a
    // burst how many report INUSE rather than NOT_INUSE is timing; compared: the number of events
    // per device, the set of states seen, and the last state.
    let device_states = |events: &[&Msg]| {
        let mut map: BTreeMap<String, (usize, std::collections::BTreeSet<String>, String)> =
            BTreeMap::new();
        for m in events {
            if get(m, "Event") == Some("DeviceStateChange") {
                let entry = map
                    .entry(get(m, "Device").unwrap_or("").to_owned())
                    .or_default();
                let state = get(m, "State").unwrap_or("").to_owned();
                entry.0 += 1;
                entry.1.insert(state.clone());
                entry.2 = state;
                assert_eq!(
                    m.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
                    ["Event", "Privilege", "SystemName", "Device", "State"],
                    "DeviceStateChange headers"
                );
            }
        }
        map
    };
    let (rd, ed) = (device_states(&rec_events), device_states(&emu_events));
    if rd != ed {
        return Err(format!(
            "DeviceStateChange differs (device: count, states, last state):\n--- recorded\n{rd:?}\n--- emulated\n{ed:?}"
        ));
    }
    // Rule 3: per channel, its events in the same order (floating events excepted).
    let per_channel = |events: &[&Msg]| {
        let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for m in events {
            if FLOATING_EVENTS.contains(&get(m, "Event").unwrap_or("")) {
                continue;
            }
            for chan in channels_of(m) {
                map.entry(chan).or_default().push(text(m));
            }
        }
        map
    };
    let (rc, ec) = (per_channel(&rec_events), per_channel(&emu_events));
    for (chan, rseq) in &rc {
        let eseq = ec.get(chan).cloned().unwrap_or_default();
        if *rseq != eseq {
            let i = rseq
                .iter()
                .zip(eseq.iter())
                .position(|(a, b)| a != b)
                .unwrap_or(rseq.len().min(eseq.len()));
            return Err(format!(
                "event order of channel {chan} differs at its event #{i}:\n--- recorded\n{}--- emulated\n{}",
                rseq.get(i).map_or("(none)\n", String::as_str),
                eseq.get(i).map_or("(none)\n", String::as_str)
            ));
        }
    }
    // Rule 4: events without a channel (FullyBooted, SuccessfulAuth, Shutdown, ...) in order.
    let system = |events: &[&Msg]| -> Vec<String> {
        events
            .iter()
            .filter(|m| {
                channels_of(m).is_empty()
                    && !FLOATING_EVENTS.contains(&get(m, "Event").unwrap_or(""))
            })
            .map(|m| text(m))
            .collect()
    };
    if system(&rec_events) != system(&emu_events) {
        return Err(format!(
            "order of channel-less events differs:\n--- recorded\n{}\n--- emulated\n{}",
            system(&rec_events).join("\n"),
            system(&emu_events).join("\n")
        ));
    }
    // Rule 5: an Originate's response comes before every event of its call.
    for msgs in [&emu] {
        for (i, m) in msgs.iter().enumerate() {
            if get(m, "Event") == Some("OriginateResponse") {
                let id = get(m, "ActionID");
                let response_at = msgs
                    .iter()
                    .position(|r| get(r, "Response").is_some() && get(r, "ActionID") == id);
                if response_at.is_none_or(|r| r > i) {
                    return Err(format!(
                        "OriginateResponse for {id:?} comes before the action's response"
                    ));
                }
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// A raw AMI client for the behaviour tests.
// ---------------------------------------------------------------------------------------------

/// A raw AMI connection that buffers what the server sends.
#[derive(Debug)]
pub struct RawAmi {
    /// The socket.
    pub stream: TcpStream,
    /// Everything received so far.
    pub received: Vec<u8>,
    /// Messages already returned by `next_message` (banner counted).
    consumed: usize,
}

impl RawAmi {
    /// Connects.
    pub async fn connect(addr: std::net::SocketAddr) -> std::io::Result<RawAmi> {
        Ok(RawAmi::from_stream(TcpStream::connect(addr).await?))
    }

    /// Wraps a connected stream.
    pub fn from_stream(stream: TcpStream) -> RawAmi {
        RawAmi {
            stream,
            received: Vec::new(),
            consumed: 0,
        }
    }

    /// Sends raw bytes.
    pub async fn send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes).await
    }

    /// Sends an action built from `(name, value)` pairs.
    pub async fn send(&mut self, headers: &[(&str, &str)]) -> std::io::Result<()> {
        let mut out = String::new();
        for (n, v) in headers {
            out.push_str(&format!("{n}: {v}\r\n"));
        }
        out.push_str("\r\n");
        self.send_raw(out.as_bytes()).await
    }

    /// Reads once; `Ok(false)` on EOF.
    pub async fn read_some(&mut self) -> std::io::Result<bool> {
        let mut buf = [0u8; 65_536];
        let n = self.stream.read(&mut buf).await?;
        self.received.extend_from_slice(&buf[..n]);
        Ok(n > 0)
    }

    /// Reads until `count_messages(received) >= n` or `timeout`; `Err` text on EOF/timeout.
    pub async fn read_until_count(&mut self, n: usize, timeout: Duration) -> Result<(), String> {
        self.read_until(|received| count_messages(received) >= n, timeout)
            .await
            .map_err(|e| {
                format!(
                    "{e}: {} of {n} messages received",
                    count_messages(&self.received)
                )
            })
    }

    /// Reads until `done` holds for everything received so far, within `timeout`.
    pub async fn read_until(
        &mut self,
        done: impl Fn(&[u8]) -> bool,
        timeout: Duration,
    ) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + timeout;
        while !done(&self.received) {
            match tokio::time::timeout_at(deadline, self.read_some()).await {
                Err(_) => return Err("timed out".into()),
                Ok(Ok(true)) => {}
                Ok(Ok(false)) => return Err("EOF".into()),
                Ok(Err(e)) => return Err(format!("read error: {e}")),
            }
        }
        Ok(())
    }

    /// Reads until EOF (or a connection reset) within `timeout`; `false` on timeout.
    pub async fn read_to_eof(&mut self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.read_some()).await {
                Err(_) => return false,
                Ok(Ok(true)) => {}
                Ok(Ok(false)) | Ok(Err(_)) => return true,
            }
        }
    }

    /// The banner and every complete message so far.
    pub fn transcript(&self) -> Transcript {
        parse_transcript(&self.received)
    }

    /// The next message not yet returned (the banner is skipped), waiting up to `timeout`.
    pub async fn next_message(&mut self, timeout: Duration) -> Result<Msg, String> {
        if self.consumed == 0 {
            self.read_until_count(1, timeout).await?;
            self.consumed = 1;
        }
        self.read_until_count(self.consumed + 1, timeout).await?;
        let t = self.transcript();
        let msg = t.messages[self.consumed - 1].clone();
        self.consumed += 1;
        Ok(msg)
    }

    /// Skips messages until one satisfies `pred`; returns it.
    pub async fn wait_for(
        &mut self,
        timeout: Duration,
        what: &str,
        pred: impl Fn(&Msg) -> bool,
    ) -> Msg {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_message(left).await {
                Ok(m) if pred(&m) => return m,
                Ok(_) => {}
                Err(e) => panic!("waiting for {what}: {e}"),
            }
        }
    }

    /// The response to the action with this ActionID.
    pub async fn response(&mut self, action_id: &str) -> Msg {
        self.wait_for(Duration::from_secs(10), action_id, |m| {
            get(m, "Response").is_some() && get(m, "ActionID") == Some(action_id)
        })
        .await
    }

    /// Connects and logs in (`events`: the `Events:` header value, `None` = absent).
    pub async fn login(
        addr: std::net::SocketAddr,
        user: &str,
        secret: &str,
        events: Option<&str>,
    ) -> RawAmi {
        let mut ami = RawAmi::connect(addr)
            .await
            .expect("connect to the emulator");
        let mut action = vec![
            ("Action", "Login"),
            ("ActionID", "login"),
            ("Username", user),
            ("Secret", secret),
        ];
        if let Some(e) = events {
            action.push(("Events", e));
        }
        ami.send(&action).await.expect("send Login");
        let response = ami.response("login").await;
        assert_eq!(get(&response, "Response"), Some("Success"), "{response:?}");
        ami
    }
}

/// A short default timeout for waits in tests.
pub const WAIT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------------
// Log capture, to check that the emulator says clearly what happened.
// ---------------------------------------------------------------------------------------------

/// A tracing writer collecting everything logged in this (nextest: per-test) process.
#[derive(Clone, Default, Debug)]
pub struct LogCapture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogCapture {
    type Writer = LogCapture;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl LogCapture {
    /// Installs the capture as the global subscriber (once per process).
    pub fn install() -> LogCapture {
        let capture = LogCapture::default();
        let _ = tracing_subscriber::fmt()
            .with_writer(capture.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::DEBUG)
            .try_init();
        capture
    }

    /// Everything logged so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }
}

/// The AMI user as `dialplan/manager_astha.conf` defines it (read and write classes, event
/// filters), with `secret`.
pub fn shipped_user(secret: &str) -> astha_tests::fake_asterisk::AmiUser {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../dialplan/manager_astha.conf");
    let text = std::fs::read_to_string(&path).expect("the shipped manager_astha.conf");
    // The [astha] section only (the file also has the contact mirror's user).
    let section: Vec<&str> = text
        .lines()
        .skip_while(|l| l.trim() != "[astha]")
        .skip(1)
        .take_while(|l| !l.trim_start().starts_with('['))
        .collect();
    let setting = |key: &str| -> Vec<String> {
        section
            .iter()
            .map(|l| l.split(';').next().unwrap_or("").trim())
            .filter_map(|l| l.split_once('='))
            .filter(|(k, _)| k.trim() == key)
            .map(|(_, v)| v.trim().to_owned())
            .collect()
    };
    let filters: Vec<String> = setting("eventfilter")
        .iter()
        .map(|f| f.trim_start_matches("Event:").trim().to_owned())
        .collect();
    let filters: Vec<&str> = filters.iter().map(String::as_str).collect();
    astha_tests::fake_asterisk::AmiUser::with_permissions(
        astha_tests::asterisk::AMI_USER,
        secret,
        &setting("read").concat(),
        &setting("write").concat(),
    )
    .with_event_filter(&filters)
}
