//! Background threads: the scheduling policy of work that must never delay a request (the
//! request writer, the WAL checkpointer), in one place.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Puts a thread of this process in the background (`SCHED_IDLE`: any thread serving requests
/// that wakes on its core runs at once) or back to the normal policy (which needs what
/// `may_leave_background` checks). Returns whether the change took.
///
/// A background thread at the normal policy, even at nice 10, runs out its time slice before a
/// thread serving requests that wakes on the same core gets it: measured at concurrency 1, 3% of
/// the serving thread's wake-ups waited 0.1 to 2.9 ms behind the writer's or the checkpointer's
/// bursts, which made most of the added p99.
pub fn set_background(thread: thread_priority::ThreadId, on: bool) -> bool {
    use thread_priority::{
        set_thread_priority_and_policy, NormalThreadSchedulePolicy, ThreadPriority,
        ThreadPriorityOsValue, ThreadSchedulePolicy,
    };
    let policy = if on {
        NormalThreadSchedulePolicy::Idle
    } else {
        NormalThreadSchedulePolicy::Other
    };
    // (For the normal policies this also sets the calling thread's nice value to the one given,
    // 0, which every thread here already has.)
    match set_thread_priority_and_policy(
        thread,
        ThreadPriority::Os(ThreadPriorityOsValue::default()),
        ThreadSchedulePolicy::Normal(policy),
    ) {
        Ok(()) => true,
        Err(e) => {
            tracing::debug!(error = ?e, background = on, "could not change a thread's scheduling policy");
            false
        }
    }
}

/// Whether this process may move a thread from the background back to the normal policy:
/// Linux allows it with `CAP_SYS_NICE` or an `RLIMIT_NICE` that permits nice 0 (20 or more;
/// systemd's `LimitNICE=+0`).
pub fn may_leave_background() -> bool {
    let nice_limit = rustix::process::getrlimit(rustix::process::Resource::Nice).current;
    nice_limit.is_none_or(|limit| limit >= 20)
        || rustix::thread::capabilities(None).is_ok_and(|caps| {
            caps.effective
                .contains(rustix::thread::CapabilitySet::SYS_NICE)
        })
}

/// How a worker fed by a queue (the request writer) is scheduled: in the background while it
/// keeps up, so that its work never delays a request; at the normal policy, with a fair share of
/// the CPU, while it is behind. On a saturated machine a background thread barely runs, so it may
/// not notice its own backlog: the thread queueing the `backlog`th unwritten item brings it back.
/// It returns to the background once it has kept up for `CALM`.
pub struct Scheduling {
    /// Items waiting that count as a backlog (a full batch of the worker).
    backlog: usize,
    /// The worker thread, once it runs in the background.
    thread: OnceLock<thread_priority::ThreadId>,
    background: AtomicBool,
    /// Items queued and not yet taken by the worker.
    queued: AtomicUsize,
}

/// How long a worker must keep up before it goes back to the background.
const CALM: Duration = Duration::from_secs(1);

impl Scheduling {
    pub fn new(backlog: usize) -> Scheduling {
        Scheduling {
            backlog,
            thread: OnceLock::new(),
            background: AtomicBool::new(false),
            queued: AtomicUsize::new(0),
        }
    }

    /// On the worker thread, as it starts.
    pub fn start(&self) {
        // A writer that could not come back from the background would starve under load.
        if !may_leave_background() {
            tracing::info!(
                "the request writer stays at normal priority (allow nice 0 with LimitNICE=+0, or \
                 CAP_SYS_NICE, to let it run in the background while it keeps up)"
            );
            return;
        }
        let me = *self.thread.get_or_init(thread_priority::thread_native_id);
        if set_background(me, true) {
            self.background.store(true, Ordering::Release);
        }
    }

    /// Brings the writer back to the normal policy, if it is in the background.
    pub fn wake(&self) {
        if let Some(&thread) = self.thread.get() {
            if self.background.swap(false, Ordering::AcqRel) && !set_background(thread, false) {
                self.background.store(true, Ordering::Release);
            }
        }
    }

    /// A request was queued for the writer.
    pub fn queued(&self) {
        let queued = self.queued.fetch_add(1, Ordering::Relaxed) + 1;
        if queued >= self.backlog && self.background.load(Ordering::Relaxed) {
            self.wake();
        }
    }

    /// On the worker thread: it took `taken` queued items into a batch of `size`.
    /// `calm_since` is when batches started being small, at the normal policy.
    pub fn gathered(&self, taken: usize, size: usize, calm_since: &mut Option<Instant>) {
        self.queued.fetch_sub(taken, Ordering::Relaxed);
        let background = self.background.load(Ordering::Acquire);
        if size >= self.backlog {
            *calm_since = None;
            if background {
                self.wake();
            }
        } else if !background && size < self.backlog / 8 {
            let now = Instant::now();
            let since = *calm_since.get_or_insert(now);
            if now.duration_since(since) >= CALM {
                if let Some(&me) = self.thread.get() {
                    if set_background(me, true) {
                        self.background.store(true, Ordering::Release);
                        *calm_since = None;
                    }
                }
            }
        } else {
            *calm_since = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{mpsc, Arc};

    const BATCH: usize = 1024;
    use thread_priority::{
        thread_schedule_policy_param, NormalThreadSchedulePolicy, ThreadSchedulePolicy,
    };

    fn policy(thread: thread_priority::ThreadId) -> ThreadSchedulePolicy {
        thread_schedule_policy_param(thread).unwrap().0
    }

    #[test]
    fn a_backlog_brings_a_background_worker_back_and_calm_sends_it_back() {
        let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
        let other = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Other);
        let scheduling = Arc::new(Scheduling::new(BATCH));
        let (started, stop) = (mpsc::channel(), mpsc::channel::<()>());
        let writer = {
            let scheduling = scheduling.clone();
            let (started, stop) = (started.0, stop.1);
            std::thread::spawn(move || {
                scheduling.start();
                started.send(thread_priority::thread_native_id()).unwrap();
                let _ = stop.recv();
            })
        };
        let thread = started.1.recv().unwrap();
        if !may_leave_background() {
            // Without CAP_SYS_NICE or RLIMIT_NICE it must never go to the background.
            assert_eq!(policy(thread), other);
        } else {
            assert_eq!(policy(thread), idle);
            for _ in 0..BATCH - 1 {
                scheduling.queued();
            }
            assert_eq!(
                policy(thread),
                idle,
                "below a batch it stays in the background"
            );
            scheduling.queued();
            assert_eq!(policy(thread), other, "a full batch waiting brings it back");
            assert!(!scheduling.background.load(Ordering::Acquire));
            // The writer took the batch; small batches for less than CALM keep it at normal.
            let mut calm = None;
            scheduling.gathered(BATCH, 10, &mut calm);
            assert_eq!(scheduling.queued.load(Ordering::Relaxed), 0);
            assert_eq!(policy(thread), other);
            let mut calm = Some(Instant::now().checked_sub(CALM * 2).unwrap());
            scheduling.gathered(0, 10, &mut calm);
            assert_eq!(
                policy(thread),
                idle,
                "kept up for CALM: back to the background"
            );
            // A flush (somebody waiting) wakes it too.
            scheduling.wake();
            assert_eq!(policy(thread), other);
        }
        stop.0.send(()).unwrap();
        writer.join().unwrap();
    }
}
