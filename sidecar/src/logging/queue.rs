//! Log lines handed to a thread of their own that writes them, so that a slow stderr never stops the daemon.
//!
//! The daemon runs on one thread (a current-thread runtime): a log line written in place stops
//! every probe, datagram and decision until the write returns. A write to a file on a saturated
//! disk can block for ~200 ms (the kernel throttles writers while too many pages are dirty:
//! 194 ms measured beside stress-ng's disk workers, 0.1 ms without them), and in the loaded-host
//! soak one such gap sat between a verdict and its handover. Here an event's line is formatted
//! in place into a buffer and queued; a writer thread drains the queue. When the queue is full
//! (stderr stalled for thousands of lines) new lines are dropped and counted, and the count is
//! written before the next line that gets through: never silent, never blocking.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

/// Lines held while the output is slow (about 1 MB of typical lines).
pub const QUEUE_LINES: usize = 4096;

enum Message {
    Line(Vec<u8>),
    /// Answered once every line queued before it has been written.
    Flush(SyncSender<()>),
}

/// The sending side: a [`MakeWriter`] for the subscriber, and [`LineQueue::flush`] for exit.
#[derive(Debug, Clone)]
pub struct LineQueue {
    tx: SyncSender<Message>,
    dropped: Arc<AtomicU64>,
}

impl LineQueue {
    /// Starts the writer thread, writing to `out`. If the thread cannot be started, lines are
    /// written in place, as without the queue.
    pub fn start<W: Write + Send + 'static>(out: W, capacity: usize) -> LineQueue {
        let (tx, rx) = mpsc::sync_channel(capacity);
        let dropped = Arc::new(AtomicU64::new(0));
        let counter = dropped.clone();
        // A failed spawn drops `rx`: every send then finds the queue disconnected and writes the
        // line to stderr itself (see `QueuedLine::drop`).
        let _ = std::thread::Builder::new()
            .name("astha-log".into())
            .spawn(move || drain(rx, &counter, out));
        LineQueue { tx, dropped }
    }

    /// Waits until the lines queued so far are written, at most `within` (before exit).
    pub fn flush(&self, within: Duration) {
        let (ack, done) = mpsc::sync_channel(1);
        if self.tx.send(Message::Flush(ack)).is_ok() {
            let _ = done.recv_timeout(within);
        }
    }
}

fn drain<W: Write>(rx: Receiver<Message>, dropped: &AtomicU64, mut out: W) {
    for message in rx {
        let lost = dropped.swap(0, Ordering::Relaxed);
        if lost > 0 {
            let _ = writeln!(
                out,
                "astha: {lost} log lines dropped: the log output was too slow"
            );
        }
        match message {
            Message::Line(line) => {
                let _ = out.write_all(&line);
            }
            Message::Flush(ack) => {
                let _ = out.flush();
                let _ = ack.send(());
            }
        }
    }
}

/// One event's line, queued when the subscriber is done writing it.
#[derive(Debug)]
pub struct QueuedLine<'a> {
    line: Vec<u8>,
    queue: &'a LineQueue,
}

impl Write for QueuedLine<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.line.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for QueuedLine<'_> {
    fn drop(&mut self) {
        if self.line.is_empty() {
            return;
        }
        let line = std::mem::take(&mut self.line);
        match self.queue.tx.try_send(Message::Line(line)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.queue.dropped.fetch_add(1, Ordering::Relaxed);
            }
            // No writer thread: write in place rather than lose the line.
            Err(TrySendError::Disconnected(Message::Line(line))) => {
                let _ = std::io::stderr().write_all(&line);
            }
            Err(TrySendError::Disconnected(Message::Flush(_))) => {}
        }
    }
}

impl<'a> MakeWriter<'a> for LineQueue {
    type Writer = QueuedLine<'a>;

    fn make_writer(&'a self) -> QueuedLine<'a> {
        QueuedLine {
            line: Vec::with_capacity(256),
            queue: self,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Condvar, Mutex};

    /// An output that blocks every write until the test opens it, and keeps what it got.
    #[derive(Clone, Default)]
    struct Gate {
        state: Arc<(Mutex<GateState>, Condvar)>,
    }

    #[derive(Default)]
    struct GateState {
        open: bool,
        /// A write is waiting for the gate.
        waiting: bool,
        written: Vec<u8>,
    }

    impl Gate {
        fn open(&self) {
            let (lock, cvar) = &*self.state;
            lock.lock().unwrap().open = true;
            cvar.notify_all();
        }
        fn wait_for_a_blocked_write(&self) {
            let (lock, cvar) = &*self.state;
            let _blocked = cvar
                .wait_while(lock.lock().unwrap(), |s| !s.waiting)
                .unwrap();
        }
        fn text(&self) -> String {
            String::from_utf8(self.state.0.lock().unwrap().written.clone()).unwrap()
        }
    }

    impl Write for Gate {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let (lock, cvar) = &*self.state;
            let mut state = lock.lock().unwrap();
            state.waiting = true;
            cvar.notify_all();
            let mut state = cvar.wait_while(state, |s| !s.open).unwrap();
            state.written.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn log(queue: &LineQueue, text: &str) {
        let mut line = queue.make_writer();
        line.write_all(text.as_bytes()).unwrap();
    }

    #[test]
    fn a_blocked_output_neither_blocks_the_logger_nor_loses_lines_silently() {
        let gate = Gate::default();
        let queue = LineQueue::start(gate.clone(), 4);
        log(&queue, "line 0\n");
        gate.wait_for_a_blocked_write();
        // The writer thread is stuck on line 0: 4 more lines fill the queue, the other 15 are
        // dropped, and none of these calls waits for the output.
        for i in 1..20 {
            log(&queue, &format!("line {i}\n"));
        }
        gate.open();
        queue.flush(Duration::from_secs(10));
        log(&queue, "after\n");
        queue.flush(Duration::from_secs(10));
        assert_eq!(
            gate.text(),
            "line 0\nastha: 15 log lines dropped: the log output was too slow\n\
             line 1\nline 2\nline 3\nline 4\nafter\n"
        );
    }

    #[test]
    fn flush_returns_once_every_queued_line_is_written() {
        let gate = Gate::default();
        gate.open();
        let queue = LineQueue::start(gate.clone(), QUEUE_LINES);
        for i in 0..100 {
            log(&queue, &format!("line {i}\n"));
        }
        queue.flush(Duration::from_secs(10));
        assert_eq!(gate.text().lines().count(), 100);
    }
}
