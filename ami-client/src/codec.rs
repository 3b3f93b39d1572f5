//! The AMI wire codec: banner line, blank-line-terminated frames of `Name: value` lines.
//!
//! Decoding is incremental (a frame arriving in many reads is scanned once) and tolerant: bare
//! LF line ends, empty values, the legacy `Response: Follows` … `--END COMMAND--` command output
//! (turned into `Output` headers like the modern form) and non-UTF-8 bytes (replaced, never
//! rejected). A frame that is too long or has a line without a colon is reported as
//! [`Frame::Invalid`] and skipped; decoding then resumes at the next frame, because one odd
//! frame is never a reason to drop an AMI connection.

use std::io;

use bytes::{Buf, BufMut, BytesMut};
use memchr::memchr;
use tokio_util::codec::{Decoder, Encoder};

use crate::message::{Message, Span};

#[doc(hidden)]
pub use crate::fuzz::fuzz_decode;

/// Default limit for one frame (a big `Command` output must fit).
pub const DEFAULT_MAX_FRAME_LEN: usize = 16 * 1024 * 1024;

/// The banner must arrive within this many bytes.
const MAX_BANNER_LEN: usize = 1024;

/// What every Asterisk AMI banner starts with (`Asterisk Call Manager/11.0.0`).
pub const BANNER_PREFIX: &str = "Asterisk Call Manager/";

/// The end marker of the legacy (Asterisk < 14) `Command` output.
const END_COMMAND: &[u8] = b"--END COMMAND--";

/// Headers that may precede the output lines of a legacy `Response: Follows` frame.
const LEGACY_FOLLOWS_HEADERS: [&str; 3] = ["Privilege", "ActionID", "Message"];

/// At most this many bytes of an offending line are quoted in an error.
const EXCERPT_LEN: usize = 60;

/// One decoded unit of the AMI byte stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// The first line a server sends, e.g. `Asterisk Call Manager/11.0.0` (line end removed).
    Banner(String),
    /// A complete message.
    Message(Message),
    /// A frame that could not be decoded; it was skipped and decoding continues after it.
    Invalid(CodecError),
}

/// Errors of the AMI codec.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// Reading or writing the underlying stream failed.
    #[error("AMI I/O error: {0}")]
    Io(#[from] io::Error),
    /// The peer did not start with an `Asterisk Call Manager/` banner (not an AMI server).
    #[error(
        "not an AMI server: expected a banner line starting with {BANNER_PREFIX:?}, got {0:?}"
    )]
    BadBanner(String),
    /// A frame exceeded the configured maximum; it was skipped up to its blank line.
    #[error("AMI frame of at least {len} bytes exceeds the limit of {max} bytes; frame skipped")]
    FrameTooLong {
        /// Bytes seen of the frame when it was rejected.
        len: usize,
        /// The configured limit.
        max: usize,
    },
    /// A line inside a frame has no `:` separator; the frame was skipped.
    #[error("AMI frame line {line} has no ':' separator ({excerpt:?}); frame skipped")]
    MissingColon {
        /// 1-based line number inside the frame.
        line: usize,
        /// The beginning of the offending line.
        excerpt: String,
    },
    /// The stream ended in the middle of a frame.
    #[error("AMI stream ended in the middle of a frame ({len} bytes pending)")]
    Truncated {
        /// Bytes of the incomplete frame.
        len: usize,
    },
    /// A header to encode holds CR or LF (header injection) or is otherwise unencodable.
    #[error("refusing to encode AMI header {name:?}: {reason}")]
    InvalidHeader {
        /// The header name (possibly the offending one).
        name: String,
        /// Why it cannot be encoded.
        reason: &'static str,
    },
    /// An empty message cannot be encoded (it would be an empty line, not a frame).
    #[error("refusing to encode an AMI message without headers")]
    EmptyMessage,
}

impl PartialEq for CodecError {
    fn eq(&self, other: &Self) -> bool {
        // io::Error is not comparable; two I/O errors compare equal by kind.
        match (self, other) {
            (CodecError::Io(a), CodecError::Io(b)) => a.kind() == b.kind(),
            _ => self.to_string() == other.to_string(),
        }
    }
}

impl Eq for CodecError {}

impl Clone for CodecError {
    fn clone(&self) -> Self {
        match self {
            CodecError::Io(e) => CodecError::Io(io::Error::new(e.kind(), e.to_string())),
            CodecError::BadBanner(s) => CodecError::BadBanner(s.clone()),
            CodecError::FrameTooLong { len, max } => CodecError::FrameTooLong {
                len: *len,
                max: *max,
            },
            CodecError::MissingColon { line, excerpt } => CodecError::MissingColon {
                line: *line,
                excerpt: excerpt.clone(),
            },
            CodecError::Truncated { len } => CodecError::Truncated { len: *len },
            CodecError::InvalidHeader { name, reason } => CodecError::InvalidHeader {
                name: name.clone(),
                reason,
            },
            CodecError::EmptyMessage => CodecError::EmptyMessage,
        }
    }
}

/// A line that broke the current frame, remembered until the frame ends.
#[derive(Debug, Clone)]
struct BadLine {
    line: usize,
    excerpt: String,
}

/// Progress through the frame at the start of the buffer, kept between `decode` calls so a
/// frame arriving in many reads is scanned only once.
#[derive(Debug, Default)]
struct Scan {
    /// Buffer offset of the next line to scan; everything before belongs to the current frame.
    pos: usize,
    spans: Vec<Span>,
    lines: usize,
    bad_line: Option<BadLine>,
    /// The frame is a legacy `Response: Follows` command output.
    legacy_follows: bool,
    /// The legacy `--END COMMAND--` marker was seen, so the next blank line ends the frame.
    legacy_end_seen: bool,
}

/// Dropping the rest of an oversized frame until its blank line.
#[derive(Debug, Clone, Copy)]
struct Discard {
    at_line_start: bool,
}

/// Decoder/encoder of AMI frames; see the module documentation.
#[derive(Debug)]
pub struct AmiCodec {
    banner_pending: bool,
    legacy_follows_enabled: bool,
    max_frame_len: usize,
    scan: Scan,
    discard: Option<Discard>,
}

/// One line of a frame, classified.
enum Line {
    Blank,
    Header(Span),
    NoColon,
}

/// Classifies the line `buf[start..newline]` (`newline` is the index of its `\n`, or the end).
fn classify_line(buf: &[u8], start: usize, newline: usize) -> Line {
    let mut end = newline;
    if end > start && buf[end - 1] == b'\r' {
        end -= 1;
    }
    if end == start {
        return Line::Blank;
    }
    // Header names are short: a plain scan beats SIMD search set-up here.
    match buf[start..end].iter().position(|&b| b == b':') {
        Some(colon) => {
            let name_end = start + colon;
            let mut value_start = name_end + 1;
            if value_start < end && buf[value_start] == b' ' {
                value_start += 1;
            }
            Line::Header(Span::new(start..name_end, value_start..end))
        }
        None => Line::NoColon,
    }
}

/// Bit masks of the `\n` and of the `:` bytes among the first 64 bytes of `bytes` (bit i is
/// byte i), and how many bytes they cover (64, or fewer at the end of `bytes`).
#[inline]
fn line_masks(bytes: &[u8]) -> (u64, u64, usize) {
    let Some(block) = bytes.first_chunk::<64>() else {
        let (mut newlines, mut colons) = (0u64, 0u64);
        for (i, &b) in bytes.iter().enumerate() {
            newlines |= u64::from(b == b'\n') << i;
            colons |= u64::from(b == b':') << i;
        }
        return (newlines, colons, bytes.len());
    };
    let (mut newlines, mut colons) = (0u64, 0u64);
    for (i, part) in block.chunks_exact(16).enumerate() {
        let Ok(part) = <&[u8; 16]>::try_from(part) else {
            continue;
        };
        let (n, c) = masks16(part);
        newlines |= u64::from(n) << (16 * i);
        colons |= u64::from(c) << (16 * i);
    }
    (newlines, colons, 64)
}

/// `\n` and `:` masks of 16 bytes with SSE2 (always present on x86_64).
#[cfg(target_arch = "x86_64")]
#[inline]
fn masks16(part: &[u8; 16]) -> (u16, u16) {
    use safe_arch::{
        cmp_eq_mask_i8_m128i, load_unaligned_m128i, move_mask_i8_m128i, set_splat_i8_m128i,
    };
    let v = load_unaligned_m128i(part);
    let newlines = move_mask_i8_m128i(cmp_eq_mask_i8_m128i(v, set_splat_i8_m128i(b'\n' as i8)));
    let colons = move_mask_i8_m128i(cmp_eq_mask_i8_m128i(v, set_splat_i8_m128i(b':' as i8)));
    // movemask sets only the low 16 bits.
    (newlines as u16, colons as u16)
}

/// `\n` and `:` masks of 16 bytes, portable version.
#[cfg(not(target_arch = "x86_64"))]
#[inline]
fn masks16(part: &[u8; 16]) -> (u16, u16) {
    let (mut newlines, mut colons) = (0u16, 0u16);
    for (i, &b) in part.iter().enumerate() {
        newlines |= u16::from(b == b'\n') << i;
        colons |= u16::from(b == b':') << i;
    }
    (newlines, colons)
}

fn excerpt(line: &[u8]) -> String {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let cut = &line[..line.len().min(EXCERPT_LEN)];
    String::from_utf8_lossy(cut).into_owned()
}

/// Parses a complete frame text (already valid UTF-8) into header spans.
fn parse_text(text: &str) -> Result<Vec<Span>, BadLine> {
    let bytes = text.as_bytes();
    let mut spans = Vec::new();
    let mut start = 0;
    let mut line_no = 0;
    while start < bytes.len() {
        let newline = memchr(b'\n', &bytes[start..]).map_or(bytes.len(), |i| start + i);
        line_no += 1;
        match classify_line(bytes, start, newline) {
            Line::Blank => {}
            Line::Header(span) => spans.push(span),
            Line::NoColon => {
                return Err(BadLine {
                    line: line_no,
                    excerpt: excerpt(&bytes[start..newline]),
                })
            }
        }
        start = newline + 1;
    }
    Ok(spans)
}

/// Builds the message of a legacy `Response: Follows` frame: its leading headers, then one
/// `Output` header per output line, as the modern `Command` response has them.
fn parse_legacy_follows(text: &str) -> Message {
    let mut message = Message::new();
    let mut in_headers = true;
    for (index, raw_line) in text.split('\n').enumerate() {
        let line = raw_line.strip_suffix('\r').unwrap_or(raw_line);
        if index == 0 {
            // The `Response: Follows` line itself.
            if let Some((name, value)) = line.split_once(':') {
                message.push(name, value.strip_prefix(' ').unwrap_or(value));
            }
            continue;
        }
        if in_headers {
            if let Some((name, value)) = line.split_once(':') {
                if LEGACY_FOLLOWS_HEADERS
                    .iter()
                    .any(|h| h.eq_ignore_ascii_case(name))
                {
                    message.push(name, value.strip_prefix(' ').unwrap_or(value));
                    continue;
                }
            }
            in_headers = false;
        }
        if let Some(before) = line.strip_suffix("--END COMMAND--") {
            // The marker may follow the last output line without a line break.
            if !before.is_empty() {
                message.push("Output", before);
            }
            break;
        }
        message.push("Output", line);
    }
    message
}

impl AmiCodec {
    /// Codec for the client side: expects the server's banner line first.
    pub fn client() -> Self {
        AmiCodec {
            banner_pending: true,
            legacy_follows_enabled: true,
            max_frame_len: DEFAULT_MAX_FRAME_LEN,
            scan: Scan::default(),
            discard: None,
        }
    }

    /// Codec for the server side (an Asterisk emulator): no banner, decodes client actions.
    pub fn server() -> Self {
        AmiCodec {
            banner_pending: false,
            legacy_follows_enabled: false,
            ..AmiCodec::client()
        }
    }

    /// Sets the maximum frame length in bytes (default [`DEFAULT_MAX_FRAME_LEN`]).
    #[must_use]
    pub fn with_max_frame_len(mut self, max_frame_len: usize) -> Self {
        // Offsets inside a frame are stored as u32.
        self.max_frame_len = max_frame_len.clamp(1, u32::MAX as usize);
        self
    }

    /// The maximum frame length in bytes.
    pub fn max_frame_len(&self) -> usize {
        self.max_frame_len
    }

    /// Whether the banner has not been decoded yet (client codec only).
    pub fn banner_pending(&self) -> bool {
        self.banner_pending
    }

    fn decode_banner(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, CodecError> {
        let Some(newline) = memchr(b'\n', src) else {
            if src.len() > MAX_BANNER_LEN {
                return Err(CodecError::BadBanner(excerpt(src)));
            }
            return Ok(None);
        };
        let line = src.split_to(newline + 1);
        let banner = excerpt_full(&line);
        if !banner.starts_with(BANNER_PREFIX) {
            return Err(CodecError::BadBanner(excerpt(&line)));
        }
        self.banner_pending = false;
        Ok(Some(Frame::Banner(banner)))
    }

    /// Drops bytes of an oversized frame; returns true once its terminating blank line is gone.
    fn discard(&mut self, src: &mut BytesMut, mut state: Discard) -> bool {
        loop {
            match memchr(b'\n', src) {
                Some(newline) => {
                    let blank =
                        state.at_line_start && (newline == 0 || (newline == 1 && src[0] == b'\r'));
                    src.advance(newline + 1);
                    if blank {
                        self.discard = None;
                        return true;
                    }
                    state.at_line_start = true;
                }
                None => {
                    // Keep a lone "\r" at a line start: it may be the start of the blank line.
                    let maybe_blank_line = state.at_line_start && src.as_ref() == b"\r";
                    if !src.is_empty() && !maybe_blank_line {
                        src.clear();
                        state.at_line_start = false;
                    }
                    self.discard = Some(state);
                    return false;
                }
            }
        }
    }

    /// Rejects the frame at the start of `src` after `scanned` bytes of complete lines and
    /// starts dropping the rest of it.
    fn too_long(&mut self, src: &mut BytesMut, scanned: usize) -> Frame {
        let len = src.len();
        self.scan = Scan::default();
        src.advance(scanned);
        self.discard(
            src,
            Discard {
                at_line_start: true,
            },
        );
        Frame::Invalid(CodecError::FrameTooLong {
            len,
            max: self.max_frame_len,
        })
    }

    /// Scans complete lines from `self.scan.pos`; returns the end of the frame if its blank line
    /// was found, and the start of the first unscanned line.
    ///
    /// One pass, 64 bytes at a time: bit masks of the `\n` and `:` bytes of a block give every
    /// line end and the first colon of every line (AMI lines average ~25 bytes, too short for
    /// a search per line to pay off).
    fn scan_lines(&mut self, src: &[u8]) -> (Option<usize>, usize) {
        let mut line_start = self.scan.pos;
        let mut colon: Option<usize> = None;
        let mut block_start = line_start;
        while block_start < src.len() {
            let (mut newlines, mut colons, block_len) = line_masks(&src[block_start..]);
            while newlines != 0 {
                let bit = newlines.trailing_zeros();
                let newline = block_start + bit as usize;
                let before = colons & ((1u64 << bit) - 1);
                if colon.is_none() && before != 0 {
                    colon = Some(block_start + before.trailing_zeros() as usize);
                }
                if self.on_line(src, line_start, colon, newline) {
                    return (Some(newline + 1), newline + 1);
                }
                line_start = newline + 1;
                colon = None;
                // Forget the bytes up to and including this line end.
                let keep = (u64::MAX << bit) << 1;
                newlines &= keep;
                colons &= keep;
            }
            if colon.is_none() && colons != 0 {
                colon = Some(block_start + colons.trailing_zeros() as usize);
            }
            block_start += block_len;
        }
        (None, line_start)
    }

    /// Handles the line `src[start..newline]` whose first colon is at `colon`; returns true if
    /// it is the blank line ending the frame.
    fn on_line(&mut self, src: &[u8], start: usize, colon: Option<usize>, newline: usize) -> bool {
        let scan = &mut self.scan;
        scan.lines += 1;
        let mut end = newline;
        if end > start && src[end - 1] == b'\r' {
            end -= 1;
        }
        if end == start {
            return !scan.legacy_follows || scan.legacy_end_seen;
        }
        if scan.legacy_follows {
            if src[start..end]
                .windows(END_COMMAND.len())
                .any(|w| w == END_COMMAND)
            {
                scan.legacy_end_seen = true;
            }
            return false;
        }
        let Some(colon) = colon.filter(|&c| c < end) else {
            if scan.bad_line.is_none() {
                scan.bad_line = Some(BadLine {
                    line: scan.lines,
                    excerpt: excerpt(&src[start..end]),
                });
            }
            return false;
        };
        let mut value_start = colon + 1;
        if value_start < end && src[value_start] == b' ' {
            value_start += 1;
        }
        if scan.lines == 1
            && self.legacy_follows_enabled
            && src[start..colon].eq_ignore_ascii_case(b"Response")
            && src[value_start..end].eq_ignore_ascii_case(b"Follows")
        {
            scan.legacy_follows = true;
        }
        scan.spans.push(Span::new(start..colon, value_start..end));
        false
    }

    fn decode_frame(&mut self, src: &mut BytesMut) -> Option<Frame> {
        if self.scan.pos == 0 {
            // Stray blank lines between frames are not frames.
            loop {
                if src.first() == Some(&b'\n') {
                    src.advance(1);
                } else if src.starts_with(b"\r\n") {
                    src.advance(2);
                } else {
                    break;
                }
            }
        }
        let (frame_end, line_start) = self.scan_lines(src);
        let Some(end) = frame_end else {
            self.scan.pos = line_start;
            if src.len() > self.max_frame_len {
                return Some(self.too_long(src, line_start));
            }
            return None;
        };
        // Keep the scratch span buffer (and its capacity) for the next frame; the message gets
        // an exactly-sized copy, one allocation instead of several regrowths.
        let spans = self.scan.spans.as_slice().to_vec();
        let mut scratch = std::mem::take(&mut self.scan.spans);
        scratch.clear();
        let scan = std::mem::replace(
            &mut self.scan,
            Scan {
                spans: scratch,
                ..Scan::default()
            },
        );
        if end > self.max_frame_len {
            src.advance(end);
            return Some(Frame::Invalid(CodecError::FrameTooLong {
                len: end,
                max: self.max_frame_len,
            }));
        }
        if let Some(bad) = scan.bad_line {
            src.advance(end);
            return Some(Frame::Invalid(CodecError::MissingColon {
                line: bad.line,
                excerpt: bad.excerpt,
            }));
        }
        // Copy the frame out (instead of splitting the buffer) so the read buffer is never
        // shared and its memory is reused for the next reads.
        let frame = build_message(&src[..end], scan.legacy_follows, spans);
        src.advance(end);
        Some(frame)
    }
}

/// Turns the bytes of one complete frame (with its header spans) into a message.
fn build_message(frame: &[u8], legacy_follows: bool, spans: Vec<Span>) -> Frame {
    let text = match String::from_utf8(frame.to_vec()) {
        Ok(text) if legacy_follows => return Frame::Message(parse_legacy_follows(&text)),
        Ok(text) => return Frame::Message(Message::from_parts(text, spans)),
        // Asterisk passes channel data through as is (e.g. Latin-1 caller names).
        Err(_) => String::from_utf8_lossy(frame).into_owned(),
    };
    if legacy_follows {
        return Frame::Message(parse_legacy_follows(&text));
    }
    match parse_text(&text) {
        Ok(spans) => Frame::Message(Message::from_parts(text, spans)),
        Err(bad) => Frame::Invalid(CodecError::MissingColon {
            line: bad.line,
            excerpt: bad.excerpt,
        }),
    }
}

/// The whole line without its line end, lossily decoded.
fn excerpt_full(line: &[u8]) -> String {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    String::from_utf8_lossy(line).into_owned()
}

impl Decoder for AmiCodec {
    type Item = Frame;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, CodecError> {
        if self.banner_pending {
            return self.decode_banner(src);
        }
        if let Some(state) = self.discard {
            if !self.discard(src, state) {
                return Ok(None);
            }
        }
        Ok(self.decode_frame(src))
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, CodecError> {
        if let Some(frame) = self.decode(src)? {
            return Ok(Some(frame));
        }
        if self.discard.is_some() {
            src.clear();
            self.discard = None;
            return Ok(None);
        }
        if src.iter().all(|b| b.is_ascii_whitespace()) {
            src.clear();
            self.scan = Scan::default();
            return Ok(None);
        }
        let len = src.len();
        src.clear();
        self.scan = Scan::default();
        Ok(Some(Frame::Invalid(CodecError::Truncated { len })))
    }
}

fn check_header(name: &str, value: &str) -> Result<(), CodecError> {
    let invalid = |reason| {
        Err(CodecError::InvalidHeader {
            name: name.chars().take(EXCERPT_LEN).collect(),
            reason,
        })
    };
    if name.is_empty() {
        return invalid("empty header name");
    }
    if name.bytes().any(|b| b == b'\r' || b == b'\n') {
        return invalid("CR or LF in header name (header injection)");
    }
    if name.contains(':') {
        return invalid("':' in header name");
    }
    if value.bytes().any(|b| b == b'\r' || b == b'\n') {
        return invalid("CR or LF in header value (header injection)");
    }
    Ok(())
}

/// Writes `message` as one AMI frame, or nothing if any header is unencodable.
pub fn encode_message(message: &Message, dst: &mut BytesMut) -> Result<(), CodecError> {
    if message.is_empty() {
        return Err(CodecError::EmptyMessage);
    }
    let mut len = 2;
    for (name, value) in message.iter() {
        check_header(name, value)?;
        len += name.len() + value.len() + 4;
    }
    dst.reserve(len);
    for (name, value) in message.iter() {
        dst.put_slice(name.as_bytes());
        dst.put_slice(b": ");
        dst.put_slice(value.as_bytes());
        dst.put_slice(b"\r\n");
    }
    dst.put_slice(b"\r\n");
    Ok(())
}

/// Writes `message` with its `ActionID` headers replaced by `action_id` (put last), or nothing
/// if any header is unencodable.
pub(crate) fn encode_with_action_id(
    message: &Message,
    action_id: &str,
    dst: &mut BytesMut,
) -> Result<(), CodecError> {
    check_message(message)?;
    check_header("ActionID", action_id)?;
    for (name, value) in message.iter() {
        if name.eq_ignore_ascii_case("ActionID") {
            continue;
        }
        dst.put_slice(name.as_bytes());
        dst.put_slice(b": ");
        dst.put_slice(value.as_bytes());
        dst.put_slice(b"\r\n");
    }
    dst.put_slice(b"ActionID: ");
    dst.put_slice(action_id.as_bytes());
    dst.put_slice(b"\r\n\r\n");
    Ok(())
}

/// Checks that every header of `message` can be encoded (no CR/LF, no empty name, ...).
pub fn check_message(message: &Message) -> Result<(), CodecError> {
    if message.is_empty() {
        return Err(CodecError::EmptyMessage);
    }
    message
        .iter()
        .try_for_each(|(name, value)| check_header(name, value))
}

impl Encoder<&Message> for AmiCodec {
    type Error = CodecError;

    fn encode(&mut self, message: &Message, dst: &mut BytesMut) -> Result<(), CodecError> {
        encode_message(message, dst)
    }
}

impl Encoder<Message> for AmiCodec {
    type Error = CodecError;

    fn encode(&mut self, message: Message, dst: &mut BytesMut) -> Result<(), CodecError> {
        encode_message(&message, dst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(codec: &mut AmiCodec, bytes: &[u8]) -> Vec<Frame> {
        let mut buf = BytesMut::from(bytes);
        let mut frames = Vec::new();
        while let Some(frame) = codec.decode(&mut buf).expect("decode") {
            frames.push(frame);
        }
        while let Some(frame) = codec.decode_eof(&mut buf).expect("decode_eof") {
            frames.push(frame);
        }
        frames
    }

    fn message(frame: &Frame) -> &Message {
        match frame {
            Frame::Message(m) => m,
            other => panic!("expected a message, got {other:?}"),
        }
    }

    #[test]
    fn banner_then_messages_with_crlf_and_bare_lf() {
        let mut codec = AmiCodec::client();
        let frames = decode_all(
            &mut codec,
            b"Asterisk Call Manager/11.0.0\r\nResponse: Success\r\nActionID: 1\r\n\r\nEvent: X\nA: \nB:c\n\n",
        );
        assert_eq!(frames.len(), 3);
        assert_eq!(
            frames[0],
            Frame::Banner("Asterisk Call Manager/11.0.0".into())
        );
        let m = message(&frames[1]);
        assert_eq!(m.get("response"), Some("Success"));
        assert_eq!(m.action_id(), Some("1"));
        let e = message(&frames[2]);
        assert_eq!(e.get("A"), Some(""));
        assert_eq!(e.get("B"), Some("c"));
        assert_eq!(e.len(), 3);
    }

    #[test]
    fn bad_banner_is_an_error() {
        let mut codec = AmiCodec::client();
        let mut buf = BytesMut::from(&b"HTTP/1.1 400 Bad Request\r\n"[..]);
        assert!(matches!(
            codec.decode(&mut buf),
            Err(CodecError::BadBanner(_))
        ));
    }

    #[test]
    fn missing_colon_skips_only_that_frame() {
        let mut codec = AmiCodec::server();
        let frames = decode_all(
            &mut codec,
            b"Action: Ping\r\nthis line is broken\r\n\r\nAction: Ping\r\nActionID: 2\r\n\r\n",
        );
        assert_eq!(frames.len(), 2);
        match &frames[0] {
            Frame::Invalid(CodecError::MissingColon { line, excerpt }) => {
                assert_eq!(*line, 2);
                assert_eq!(excerpt, "this line is broken");
            }
            other => panic!("expected MissingColon, got {other:?}"),
        }
        assert_eq!(message(&frames[1]).action_id(), Some("2"));
    }

    #[test]
    fn oversized_frame_is_skipped_and_decoding_resumes() {
        let mut codec = AmiCodec::server().with_max_frame_len(64);
        let mut big = b"Action: Command\r\n".to_vec();
        for i in 0..20 {
            big.extend_from_slice(format!("Output: line {i}\r\n").as_bytes());
        }
        big.extend_from_slice(b"\r\nAction: Ping\r\nActionID: after\r\n\r\n");
        // Feed in small chunks so the limit trips before the frame is complete.
        let mut buf = BytesMut::new();
        let mut frames = Vec::new();
        for chunk in big.chunks(7) {
            buf.extend_from_slice(chunk);
            while let Some(frame) = codec.decode(&mut buf).expect("decode") {
                frames.push(frame);
            }
        }
        assert_eq!(frames.len(), 2, "{frames:?}");
        assert!(matches!(
            frames[0],
            Frame::Invalid(CodecError::FrameTooLong { max: 64, .. })
        ));
        assert_eq!(message(&frames[1]).action_id(), Some("after"));
    }

    #[test]
    fn oversized_frame_arriving_at_once_is_skipped() {
        let mut codec = AmiCodec::server().with_max_frame_len(20);
        let frames = decode_all(
            &mut codec,
            b"Action: Something long enough\r\n\r\nAction: Ping\r\n\r\n",
        );
        assert_eq!(frames.len(), 2, "{frames:?}");
        assert!(matches!(
            frames[0],
            Frame::Invalid(CodecError::FrameTooLong { .. })
        ));
        assert_eq!(message(&frames[1]).get("Action"), Some("Ping"));
    }

    #[test]
    fn legacy_follows_looks_like_modern_command_output() {
        let mut codec = AmiCodec::client();
        let frames = decode_all(
            &mut codec,
            b"Asterisk Call Manager/1.1\r\nResponse: Follows\r\nPrivilege: Command\r\nActionID: 9\r\n\
              Asterisk 1.8.32 built by x\nline: with colon\n\nlast line\n--END COMMAND--\r\n\r\n\
              Response: Success\r\nActionID: 10\r\n\r\n",
        );
        assert_eq!(frames.len(), 3, "{frames:?}");
        let m = message(&frames[1]);
        assert_eq!(m.get("Response"), Some("Follows"));
        assert_eq!(m.action_id(), Some("9"));
        assert_eq!(
            m.get_all("Output").collect::<Vec<_>>(),
            [
                "Asterisk 1.8.32 built by x",
                "line: with colon",
                "",
                "last line"
            ]
        );
        assert_eq!(message(&frames[2]).action_id(), Some("10"));
    }

    #[test]
    fn legacy_marker_glued_to_last_line() {
        let mut codec = AmiCodec::client();
        let frames = decode_all(
            &mut codec,
            b"Asterisk Call Manager/1.0\r\nResponse: Follows\r\nPrivilege: Command\r\nNo such command--END COMMAND--\r\n\r\n",
        );
        let m = message(&frames[1]);
        assert_eq!(m.get_all("Output").collect::<Vec<_>>(), ["No such command"]);
    }

    #[test]
    fn invalid_utf8_is_replaced_not_rejected() {
        let mut codec = AmiCodec::server();
        let frames = decode_all(
            &mut codec,
            b"Event: Newchannel\r\nCallerIDName: Jos\xe9\r\n\r\n",
        );
        let m = message(&frames[0]);
        assert_eq!(m.get("CallerIDName"), Some("Jos\u{fffd}"));
    }

    #[test]
    fn truncated_frame_at_eof_is_reported() {
        let mut codec = AmiCodec::server();
        let frames = decode_all(&mut codec, b"Action: Ping\r\nActionID: 1\r\n");
        assert_eq!(frames, [Frame::Invalid(CodecError::Truncated { len: 27 })]);
    }

    #[test]
    fn encode_refuses_header_injection() {
        let mut codec = AmiCodec::client();
        let mut dst = BytesMut::new();
        for m in [
            Message::new().with("Action", "Ping\r\nAction: Logoff"),
            Message::new().with("Act\nion", "Ping"),
            Message::new().with("A:B", "x"),
            Message::new().with("", "x"),
        ] {
            let err = codec.encode(&m, &mut dst).expect_err("must refuse");
            assert!(matches!(err, CodecError::InvalidHeader { .. }), "{err}");
        }
        assert!(dst.is_empty(), "nothing may be written on refusal");
        assert_eq!(
            codec.encode(&Message::new(), &mut dst).expect_err("empty"),
            CodecError::EmptyMessage
        );
    }

    #[test]
    fn encode_writes_crlf_frame() {
        let mut codec = AmiCodec::client();
        let mut dst = BytesMut::new();
        codec
            .encode(
                Message::new().with("Action", "Ping").with("ActionID", ""),
                &mut dst,
            )
            .expect("encode");
        assert_eq!(&dst[..], b"Action: Ping\r\nActionID: \r\n\r\n");
    }
}
