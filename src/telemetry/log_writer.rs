//! Where log lines go: a bounded buffer in memory that a thread of its own
//! writes out in batches, so that a call never waits on a `write` to stderr
//! and a busy gateway pays one wake-up and one system call per batch rather
//! than per line.
//!
//! A writer thread that is woken for every line (a channel per line, as
//! `tracing-appender` does) costs a futex wake, a context switch and a
//! `write` for each call on a busy gateway: about a quarter of a GetUser's
//! CPU on two cores. Here a line is a copy under an uncontended lock; the
//! thread is woken only when a line arrives while it sleeps idle, and
//! while lines keep coming it writes what gathered every [`BATCH_WINDOW`].
//!
//! When the thread falls behind (a stalled collector, a full pipe) the
//! buffer fills to its bound and further lines are dropped and counted:
//! serving matters more than a complete log.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, mpsc};
use std::thread::{JoinHandle, Thread};
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

/// How long lines gather while they keep coming; a line is written at most
/// this late (or at once after an idle spell).
pub const BATCH_WINDOW: Duration = Duration::from_millis(10);

/// Bytes of lines waiting for the thread; beyond them lines are dropped.
/// At 300 bytes a line, 3,500 lines: a window of a gateway serving 350,000
/// calls a second.
pub const BUFFERED_BYTES: usize = 1 << 20;

/// What the callers' side and the thread share.
#[derive(Debug)]
struct Shared {
    lines: Mutex<Vec<u8>>,
    /// Set by the thread before it sleeps with nothing to write: the next
    /// line wakes it.
    idle: AtomicBool,
    stopping: AtomicBool,
    dropped: AtomicU64,
    limit: usize,
}

impl Shared {
    fn lines(&self) -> MutexGuard<'_, Vec<u8>> {
        // A panic while copying bytes leaves them whole enough for a log.
        self.lines.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The `MakeWriter` for the subscriber: each line is copied into the buffer.
#[derive(Debug, Clone)]
pub struct BatchedWriter {
    shared: Arc<Shared>,
    thread: Thread,
}

impl BatchedWriter {
    /// Lines dropped so far because the buffer was full.
    pub fn dropped_lines(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }
}

/// One line on its way into the buffer (the fmt layer writes a whole line
/// with one `write_all`).
#[derive(Debug)]
pub struct Line<'writer>(&'writer BatchedWriter);

impl Write for Line<'_> {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        let writer = self.0;
        let shared = &writer.shared;
        {
            let mut lines = shared.lines();
            if lines.len() + line.len() > shared.limit {
                shared.dropped.fetch_add(1, Ordering::Relaxed);
                // Reported as written: a caller's log line is never an error.
                return Ok(line.len());
            }
            lines.extend_from_slice(line);
        }
        if shared.idle.swap(false, Ordering::AcqRel) {
            writer.thread.unpark();
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'writer> MakeWriter<'writer> for BatchedWriter {
    type Writer = Line<'writer>;

    fn make_writer(&'writer self) -> Self::Writer {
        Line(self)
    }
}

/// How long dropping the guard waits for the last lines to be written: a
/// stalled stderr must not keep the process from ending.
pub const SHUTDOWN_WAIT: Duration = Duration::from_secs(1);

/// Keeps the thread; dropping it writes what is left and ends the thread,
/// waiting at most [`SHUTDOWN_WAIT`].
#[derive(Debug)]
#[must_use = "dropping the guard stops the log writer"]
pub struct WriterGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    /// Disconnected when the thread has ended.
    finished: mpsc::Receiver<()>,
}

impl Drop for WriterGuard {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            match self.finished.recv_timeout(SHUTDOWN_WAIT) {
                // Stuck in a write to a stalled stderr: leave it.
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                _ => {
                    let _ = thread.join();
                }
            }
        }
    }
}

/// A writer of lines into `out`, holding at most `limit` bytes, and the
/// guard of its thread (named `log-writer`).
pub fn batched<W>(out: W, limit: usize) -> std::io::Result<(BatchedWriter, WriterGuard)>
where
    W: Write + Send + 'static,
{
    let shared = Arc::new(Shared {
        lines: Mutex::new(Vec::new()),
        idle: AtomicBool::new(false),
        stopping: AtomicBool::new(false),
        dropped: AtomicU64::new(0),
        limit,
    });
    let (ended, finished) = mpsc::channel();
    let thread = std::thread::Builder::new()
        .name("log-writer".into())
        .spawn({
            let shared = Arc::clone(&shared);
            move || {
                write_batches(&shared, out);
                drop(ended);
            }
        })?;
    let writer = BatchedWriter {
        shared: Arc::clone(&shared),
        thread: thread.thread().clone(),
    };
    Ok((
        writer,
        WriterGuard {
            shared,
            thread: Some(thread),
            finished,
        },
    ))
}

/// The thread: takes what gathered, writes it, and sleeps a window while
/// lines keep coming or until the next line when none came.
fn write_batches<W: Write>(shared: &Shared, mut out: W) {
    let mut batch = Vec::new();
    loop {
        let stopping = shared.stopping.load(Ordering::Acquire);
        std::mem::swap(&mut *shared.lines(), &mut batch);
        if !batch.is_empty() {
            // A failing stderr loses these lines only; the next may pass.
            let _ = out.write_all(&batch).and_then(|()| out.flush());
            batch.clear();
            // After a burst, give the memory back rather than keep it.
            if batch.capacity() > shared.limit / 4 {
                batch = Vec::new();
            }
            if !stopping {
                std::thread::park_timeout(BATCH_WINDOW);
            }
        } else if !stopping {
            shared.idle.store(true, Ordering::Release);
            // A line may have come after the swap: write it rather than sleep.
            if shared.lines().is_empty() {
                std::thread::park();
            }
            shared.idle.store(false, Ordering::Release);
        }
        if stopping {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Collects what the thread writes, and can hold it up.
    #[derive(Clone)]
    struct Sink {
        written: Arc<Mutex<Vec<u8>>>,
        stall: Option<Arc<Mutex<()>>>,
        wrote: mpsc::Sender<()>,
    }

    impl Write for Sink {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            let _held = self.stall.as_ref().map(|stall| stall.lock());
            self.written
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .extend_from_slice(bytes);
            let _ = self.wrote.send(());
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn sink(stall: Option<Arc<Mutex<()>>>) -> (Sink, mpsc::Receiver<()>) {
        let (wrote, writes) = mpsc::channel();
        let sink = Sink {
            written: Arc::default(),
            stall,
            wrote,
        };
        (sink, writes)
    }

    fn write_line(writer: &BatchedWriter, line: &str) {
        writer
            .make_writer()
            .write_all(line.as_bytes())
            .expect("a line is always taken");
    }

    #[test]
    fn a_line_after_an_idle_spell_is_written_without_waiting_for_the_guard() {
        let (sink, writes) = sink(None);
        let written = Arc::clone(&sink.written);
        let (writer, _guard) = batched(sink, 1024).expect("thread");
        write_line(&writer, "first\n");
        writes
            .recv_timeout(Duration::from_secs(10))
            .expect("the first line is written");
        while !writer.shared.idle.load(Ordering::Acquire) {
            std::thread::yield_now();
        }
        write_line(&writer, "second\n");
        writes
            .recv_timeout(Duration::from_secs(10))
            .expect("the idle thread was woken by the line");
        assert_eq!(
            &*written.lock().unwrap_or_else(PoisonError::into_inner),
            b"first\nsecond\n"
        );
    }

    #[test]
    fn every_line_is_written_whole_and_in_order_by_the_time_the_guard_is_dropped() {
        let (sink, _writes) = sink(None);
        let written = Arc::clone(&sink.written);
        let (writer, guard) = batched(sink, BUFFERED_BYTES).expect("thread");
        let expected: String = (0..2000).map(|n| format!("line {n}\n")).collect();
        for n in 0..2000 {
            write_line(&writer, &format!("line {n}\n"));
        }
        drop(guard);
        let written = written.lock().unwrap_or_else(PoisonError::into_inner);
        assert_eq!(String::from_utf8_lossy(&written), expected);
        assert_eq!(writer.dropped_lines(), 0);
    }

    #[test]
    fn dropping_the_guard_gives_up_on_a_stalled_output() {
        let stall = Arc::new(Mutex::new(()));
        let held = stall.lock().expect("not poisoned");
        let (sink, _writes) = sink(Some(Arc::clone(&stall)));
        let (writer, guard) = batched(sink, 100).expect("thread");
        write_line(&writer, "stuck\n");
        while !writer.shared.lines().is_empty() {
            std::thread::yield_now();
        }
        let started = std::time::Instant::now();
        drop(guard);
        let waited = started.elapsed();
        drop(held);
        assert!(
            waited >= SHUTDOWN_WAIT / 2 && waited < SHUTDOWN_WAIT * 10,
            "waited {waited:?}"
        );
    }

    #[test]
    fn a_stalled_output_drops_and_counts_lines_beyond_the_bound_and_never_blocks_the_caller() {
        let stall = Arc::new(Mutex::new(()));
        let held = stall.lock().expect("not poisoned");
        let (sink, writes) = sink(Some(Arc::clone(&stall)));
        let written = Arc::clone(&sink.written);
        let (writer, guard) = batched(sink, 100).expect("thread");
        // The first line is taken by the thread, which then hangs writing it.
        write_line(&writer, "0123456789\n");
        while !writer.shared.lines().is_empty() {
            std::thread::yield_now();
        }
        // Nine 11-byte lines fit in 100 bytes; the rest are dropped.
        for _ in 0..20 {
            write_line(&writer, "abcdefghij\n");
        }
        let dropped = writer.dropped_lines();
        drop(held);
        assert_eq!(dropped, 11);
        writes
            .recv_timeout(Duration::from_secs(10))
            .expect("the output moves again");
        drop(guard);
        let written = written.lock().unwrap_or_else(PoisonError::into_inner);
        assert_eq!(written.len(), 11 + 9 * 11, "the first line and nine more");
    }
}
