//! Serving threads: each accepted connection lives on one thread with its own single-threaded
//! runtime, and that thread also owns the upstream connections its requests use.
//!
//! A work-stealing runtime moves a request between cores on every hop: the server connection's
//! task, the relay, and the upstream client's connection task land on different workers, and each
//! hand-over costs a futex or eventfd wake-up and a cache-cold core (measured at concurrency 1:
//! five futex and four eventfd calls per request). Here a connection is handed over once, when it
//! is accepted, to the thread with the fewest open connections; from then on everything it does
//! stays on that thread, like one nginx worker.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::mpsc;

/// Work handed to a serving thread; it runs inside that thread's runtime.
pub type Work = Box<dyn FnOnce() + Send>;

pub struct ServingThreads {
    threads: Vec<Thread>,
}

struct Thread {
    work: mpsc::UnboundedSender<Work>,
    /// Connections handed to this thread and not yet closed.
    open: Arc<AtomicUsize>,
    handle: JoinHandle<()>,
}

/// Counts a connection as open on its thread until dropped.
pub struct OpenConnection(Arc<AtomicUsize>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl ServingThreads {
    /// Starts `count` threads (0: one per CPU core); `init` runs first on each of them.
    pub fn start(count: usize, init: impl Fn() + Send + Sync + 'static) -> std::io::Result<Self> {
        let count = if count == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            count
        };
        let init = Arc::new(init);
        let mut threads = Vec::with_capacity(count);
        for i in 0..count {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let (work, mut queue) = mpsc::unbounded_channel::<Work>();
            let init = init.clone();
            let handle = std::thread::Builder::new()
                .name(format!("serve-{i}"))
                .spawn(move || {
                    init();
                    runtime.block_on(async move {
                        while let Some(work) = queue.recv().await {
                            work();
                        }
                    });
                    // Connections still open here outlived the shutdown grace period.
                    runtime.shutdown_timeout(Duration::from_secs(1));
                })?;
            threads.push(Thread {
                work,
                open: Arc::new(AtomicUsize::new(0)),
                handle,
            });
        }
        Ok(ServingThreads { threads })
    }

    /// Runs `work` on the thread with the fewest open connections, which counts one more until
    /// the `OpenConnection` given to it is dropped.
    pub fn dispatch(&self, work: impl FnOnce(OpenConnection) + Send + 'static) {
        let Some(thread) = self
            .threads
            .iter()
            .min_by_key(|t| t.open.load(Ordering::Relaxed))
        else {
            return;
        };
        thread.open.fetch_add(1, Ordering::Relaxed);
        let open = OpenConnection(thread.open.clone());
        // A send fails only once the thread has stopped; the work (and the connection) is dropped.
        let _ = thread.work.send(Box::new(move || work(open)));
    }

    /// Stops taking work and waits for the threads to end. Call once their connections are done.
    pub fn stop(self) {
        let handles: Vec<_> = self
            .threads
            .into_iter()
            .map(|t| {
                drop(t.work);
                t.handle
            })
            .collect();
        for handle in handles {
            if handle.join().is_err() {
                tracing::error!("a serving thread panicked");
            }
        }
    }
}

/// How long a closing connection keeps reading what its client still sends.
const CLOSE_LINGER: Duration = Duration::from_secs(2);

/// A connection that, when the server closes it, first sends its FIN and then reads and discards
/// whatever the client is still sending, for up to `CLOSE_LINGER`.
///
/// Closing a socket with unread data in it resets the connection, and the client's network stack
/// throws away the response it had not read yet: a client still uploading a body that was refused
/// (413 for 40 MB) would see "connection reset" or "broken pipe" instead of the answer. nginx calls
/// the same thing a lingering close.
pub struct Lingering {
    io: tokio::net::TcpStream,
    /// Set once the write side is shut: the end of the linger.
    until: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

impl Lingering {
    pub fn new(io: tokio::net::TcpStream) -> Self {
        Lingering { io, until: None }
    }
}

impl tokio::io::AsyncRead for Lingering {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for Lingering {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        use std::task::Poll;
        let this = &mut *self;
        if this.until.is_none() {
            match std::pin::Pin::new(&mut this.io).poll_shutdown(cx) {
                Poll::Pending => return Poll::Pending,
                // Already gone: nothing to linger for.
                Poll::Ready(Err(_)) => return Poll::Ready(Ok(())),
                Poll::Ready(Ok(())) => {
                    this.until = Some(Box::pin(tokio::time::sleep(CLOSE_LINGER)));
                }
            }
        }
        let mut scratch = [0u8; 8192];
        loop {
            let mut buf = tokio::io::ReadBuf::new(&mut scratch);
            match tokio::io::AsyncRead::poll_read(std::pin::Pin::new(&mut this.io), cx, &mut buf) {
                // The client closed its side, or the connection broke: done.
                Poll::Ready(Ok(())) if buf.filled().is_empty() => return Poll::Ready(Ok(())),
                Poll::Ready(Err(_)) => return Poll::Ready(Ok(())),
                Poll::Ready(Ok(())) => continue,
                Poll::Pending => break,
            }
        }
        match this.until.as_mut().map(|until| until.as_mut().poll(cx)) {
            Some(Poll::Pending) => Poll::Pending,
            _ => Poll::Ready(Ok(())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn connections_go_to_the_least_busy_thread_and_stay_there() {
        let threads = ServingThreads::start(2, || {}).unwrap();
        let (done, names) = mpsc::channel();
        let mut held = Vec::new();
        for _ in 0..4 {
            let (open, hold) = mpsc::channel();
            let done = done.clone();
            threads.dispatch(move |connection| {
                let name = std::thread::current().name().unwrap().to_string();
                // The work runs inside the thread's runtime, so it can spawn there.
                tokio::spawn(async move {
                    done.send(name).unwrap();
                    let _ = open.send(connection);
                });
            });
            held.push(hold.recv().unwrap());
        }
        let mut seen: Vec<String> = names.try_iter().collect();
        seen.sort();
        assert_eq!(seen, ["serve-0", "serve-0", "serve-1", "serve-1"]);
        drop(held);
        threads.stop();
    }
}
