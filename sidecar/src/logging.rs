//! Log lines on stderr that fit where they go: colours on a terminal only, and syslog priorities for journald.
//!
//! Under systemd, stderr is a stream to journald and `JOURNAL_STREAM` names it (`DEV:INODE`,
//! sd-daemon(3)). Each line then starts with its priority as `<N>` (error 3, warn 4, info 6,
//! debug and trace 7), which journald strips and stores, so `journalctl -p warning -u astha`
//! shows every alert, takeover and release; journald stamps the time itself. Elsewhere: no
//! colour codes unless stderr is a terminal (and `NO_COLOR` is unset). Lines are queued to a
//! writer thread (`queue`), so a slow stderr never stops the daemon.

use std::fmt;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::{self, FormatEvent, FormatFields, Writer};
use tracing_subscriber::fmt::FmtContext;
use tracing_subscriber::registry::LookupSpan;

mod queue;
pub use queue::LineQueue;

/// Where stderr goes, as far as the log format is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogTarget {
    /// journald (stderr is the stream `JOURNAL_STREAM` names): priorities, no time, no colour.
    Journal,
    /// A terminal: colours and time.
    Terminal,
    /// A file or a pipe: time, no colour.
    Plain,
}

impl LogTarget {
    /// Decides from the process's stderr and environment.
    pub fn detect() -> LogTarget {
        use std::io::IsTerminal;
        let stderr = std::io::stderr();
        // dev_t and ino_t are not u64 on every platform.
        #[allow(clippy::unnecessary_cast)]
        let identity = nix::sys::stat::fstat(&stderr)
            .ok()
            .map(|st| (st.st_dev as u64, st.st_ino as u64));
        LogTarget::decide(
            std::env::var("JOURNAL_STREAM").ok().as_deref(),
            identity,
            stderr.is_terminal(),
            std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
        )
    }

    /// `journal_stream` is `JOURNAL_STREAM`; `stderr` is stderr's (device, inode). The variable
    /// is inherited by children whose stderr may go elsewhere: only a match counts.
    pub fn decide(
        journal_stream: Option<&str>,
        stderr: Option<(u64, u64)>,
        terminal: bool,
        no_color: bool,
    ) -> LogTarget {
        let journal = journal_stream
            .and_then(|v| v.split_once(':'))
            .and_then(|(dev, ino)| Some((dev.parse::<u64>().ok()?, ino.parse::<u64>().ok()?)));
        match (journal, stderr) {
            (Some(j), Some(s)) if j == s => LogTarget::Journal,
            _ if terminal && !no_color => LogTarget::Terminal,
            _ => LogTarget::Plain,
        }
    }
}

/// The syslog priority journald stores for a line of this level.
pub fn syslog_priority(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        _ => 7,
    }
}

/// Writes `<N>` (the event's syslog priority) before what `inner` writes.
#[derive(Debug, Clone)]
pub struct WithPriority<F>(pub F);

impl<S, N, F> FormatEvent<S, N> for WithPriority<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        write!(writer, "<{}>", syslog_priority(event.metadata().level()))?;
        self.0.format_event(ctx, writer, event)
    }
}

/// Installs the subscriber for `level` on stderr, formatted for `target`. Lines are written by a
/// thread of their own ([`LineQueue`]); flush the returned queue before the process exits.
pub fn init(level: Level, target: LogTarget) -> LineQueue {
    let queue = LineQueue::start(std::io::stderr(), queue::QUEUE_LINES);
    let builder = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(queue.clone())
        .with_target(false);
    let _ = match target {
        LogTarget::Journal => builder
            .with_ansi(false)
            .event_format(WithPriority(
                format().without_time().with_target(false).with_ansi(false),
            ))
            .try_init(),
        LogTarget::Terminal => builder.with_ansi(true).try_init(),
        LogTarget::Plain => builder.with_ansi(false).try_init(),
    };
    queue
}

fn format() -> format::Format {
    format::Format::default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[test]
    fn only_the_named_stream_is_the_journal() {
        let me = Some((64769, 1234));
        assert_eq!(
            LogTarget::decide(Some("64769:1234"), me, false, false),
            LogTarget::Journal
        );
        // Inherited from a parent whose stderr went to the journal; ours goes elsewhere.
        assert_eq!(
            LogTarget::decide(Some("64769:999"), me, true, false),
            LogTarget::Terminal
        );
        assert_eq!(
            LogTarget::decide(Some("garbage"), me, false, false),
            LogTarget::Plain
        );
        assert_eq!(LogTarget::decide(None, me, true, true), LogTarget::Plain);
        assert_eq!(
            LogTarget::decide(None, None, false, false),
            LogTarget::Plain
        );
    }

    /// A writer the test can read back.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn journal_lines_start_with_their_priority_and_carry_no_colour() {
        let captured = Captured::default();
        let sink = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(Level::DEBUG)
            .with_writer(move || sink.clone())
            .with_ansi(false)
            .event_format(WithPriority(
                format().without_time().with_target(false).with_ansi(false),
            ))
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::error!(kind = "faulted", "ALERT critical faulted: release failed");
            tracing::warn!(term = 7, "takeover done: term 7 in 84.2 ms");
            tracing::info!("alert sink configured");
            tracing::debug!("peer datagram not sent");
        });
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        for (line, priority) in lines.iter().zip(["<3>", "<4>", "<6>", "<7>"]) {
            assert!(
                line.starts_with(priority),
                "{line:?} should start with {priority}"
            );
        }
        assert!(lines[1].contains("takeover done: term 7"), "{text}");
        assert!(
            !text.contains('\x1b'),
            "no colour codes for journald: {text:?}"
        );
    }
}
