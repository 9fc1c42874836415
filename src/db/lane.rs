//! The console's lane: the threads that run the web console's and the API's reads, at a lower
//! CPU weight than the threads serving `/v1`.
//!
//! On a saturated machine every millisecond of CPU a dashboard takes is a millisecond the relay
//! does not get. Measured on two cores (`bench/growth.py`, wrk at concurrency 32 and four members
//! reloading the dashboard back to back), those reads ran on the runtime's blocking pool and the
//! relay kept about half its requests per second; three quarters of the server's CPU per reload
//! is in these reads, the rest in serving the HTTP request. Here they run on a few threads at
//! nice 19 (a sixty-eighth of a nice-0 thread's weight): under load the dashboards slow down
//! before the relay does (in those runs the relay kept 92% with the dashboards' reloads taking
//! 20-37 ms at the median and 0.3 s at worst; at nice 10 it kept 71-76%), and an idle machine
//! runs them at full speed. Not `SCHED_IDLE`, the request writer's and the checkpointer's
//! policy: a reader that barely runs holds its SQLite snapshot, so no checkpoint can pass it and
//! the WAL grows while it waits, and one run with `SCHED_IDLE` readers had a relay p99 of 1.3 s
//! that is not explained yet. Lowering a thread's priority needs no privilege.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{mpsc, Arc, Mutex, OnceLock};

use crate::error::{ApiError, ApiResult};

/// Threads of the lane: reads wait in order behind this many; the read pool (eight
/// connections) keeps the rest for the relay's own reads.
const THREADS: usize = 4;

/// The nice value of the lane's threads (the relay's run at 0).
pub const NICE: i32 = 19;

type Job = Box<dyn FnOnce() + Send>;

/// The lane's queue, started on first use; `None` if no thread could start (then reads run on
/// the runtime's blocking pool, as before).
fn queue() -> Option<&'static mpsc::Sender<Job>> {
    static QUEUE: OnceLock<Option<mpsc::Sender<Job>>> = OnceLock::new();
    QUEUE
        .get_or_init(|| {
            let (sender, jobs) = mpsc::channel::<Job>();
            let jobs = Arc::new(Mutex::new(jobs));
            let started = (0..THREADS)
                .filter(|i| {
                    let jobs = jobs.clone();
                    std::thread::Builder::new()
                        .name(format!("console-read-{i}"))
                        .spawn(move || serve(&jobs))
                        .is_ok()
                })
                .count();
            (started > 0).then_some(sender)
        })
        .as_ref()
}

fn serve(jobs: &Mutex<mpsc::Receiver<Job>>) {
    if let Err(e) = rustix::process::setpriority_process(Some(rustix::thread::gettid()), NICE) {
        tracing::debug!(error = %e, "a console read thread stays at normal priority");
    }
    loop {
        let job = match jobs.lock() {
            Ok(jobs) => jobs.recv(),
            Err(poisoned) => poisoned.into_inner().recv(),
        };
        match job {
            // A panic loses that one answer (the caller gets an internal error), not the thread.
            Ok(job) => {
                let _ = catch_unwind(AssertUnwindSafe(job));
            }
            Err(mpsc::RecvError) => return,
        }
    }
}

/// Runs `work` on the lane and waits for it without holding up the async executor.
pub async fn run<T, F>(work: F) -> ApiResult<T>
where
    T: Send + 'static,
    F: FnOnce() -> ApiResult<T> + Send + 'static,
{
    let Some(queue) = queue() else {
        return tokio::task::spawn_blocking(work).await?;
    };
    let (reply, answer) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        let _ = reply.send(work());
    });
    if let Err(mpsc::SendError(job)) = queue.send(job) {
        // No lane thread left (they end only with the process): the blocking pool runs it.
        tokio::task::spawn_blocking(job).await?;
    }
    answer
        .await
        .map_err(|_| ApiError::internal("console read: the read panicked"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reads_run_at_the_lanes_nice_value_and_a_panic_is_an_error_not_a_lost_thread() {
        let nice = run(|| {
            Ok(rustix::process::getpriority_process(Some(
                rustix::thread::gettid(),
            )))
        })
        .await
        .unwrap();
        assert_eq!(nice.unwrap(), NICE);
        let panicked = run::<(), _>(|| panic!("a read that panics")).await;
        assert!(panicked.is_err());
        // The lane still answers after it.
        for _ in 0..THREADS * 2 {
            assert_eq!(run(|| Ok(7)).await.unwrap(), 7);
        }
    }
}
