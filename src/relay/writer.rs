//! The request writer: one thread with its own connection that writes finished requests (their
//! charges and log rows), many to a transaction: what finishes within a couple of milliseconds,
//! or queued up while the last transaction was written, goes into one. No request waits for it: a
//! response goes out as soon as its charge is queued, and the charge counts against the balance
//! from that moment (see `ledger::funds`), committed or not.
//!
//! Nothing queued is dropped for a lock or a full disk: a transaction that cannot commit is tried
//! again, with a growing pause, until it can. Only a request whose own rows the database refuses
//! (which a retry cannot change) is given up, loudly, and alone.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::{params, Connection};

use crate::db;
use crate::error::ApiError;
use crate::ledger::charges::{write_charges, ChargeLine};
use crate::ledger::funds::{Charge, Funds};
use crate::logs::{insert_log, LogRow};

enum Job {
    Finish(Box<Finish>),
    Flush(mpsc::Sender<()>),
}

struct Finish {
    charge: Option<Charge>,
    log: LogRow,
    /// When the request ended (Unix seconds).
    now: i64,
}

pub struct RequestWriter {
    sender: Mutex<Option<Sender<Job>>>,
    scheduling: Arc<Scheduling>,
    thread: Mutex<Option<JoinHandle<()>>>,
    checkpointer: Mutex<Option<(Arc<AtomicBool>, JoinHandle<()>)>>,
}

/// How often the background thread folds the WAL back into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// Checkpoints in the background, so the fsync a checkpoint does is never paid by a commit of
/// the writer (whose connection does not auto-checkpoint).
fn start_checkpointer(path: &Path) -> Result<(Arc<AtomicBool>, JoinHandle<()>), String> {
    let conn = Connection::open(path)
        .and_then(|c| db::apply_pragmas(&c).map(|_| c))
        .map_err(|e| format!("checkpointer: {e}"))?;
    let stop = Arc::new(AtomicBool::new(false));
    let stopping = stop.clone();
    let thread = std::thread::Builder::new()
        .name("wal-checkpointer".into())
        .spawn(move || {
            // Always in the background: if it starves on a saturated machine, the writer's
            // own commits checkpoint past WAL_SAFETY_PAGES.
            set_background(thread_priority::thread_native_id(), true);
            while !stopping.load(Ordering::Relaxed) {
                std::thread::sleep(CHECKPOINT_EVERY);
                if let Err(e) = conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE)") {
                    tracing::debug!(error = %e, "background checkpoint skipped");
                }
            }
        })
        .map_err(|e| format!("checkpointer: {e}"))?;
    Ok((stop, thread))
}

/// Puts a thread of this process in the background (`SCHED_IDLE`: any thread serving requests
/// that wakes on its core runs at once) or back to the normal policy (which needs what
/// `may_leave_background` checks). Returns whether the change took.
///
/// A background thread at the normal policy, even at nice 10, runs out its time slice before a
/// thread serving requests that wakes on the same core gets it: measured at concurrency 1, 3% of
/// the serving thread's wake-ups waited 0.1 to 2.9 ms behind the writer's or the checkpointer's
/// bursts, which made most of the added p99.
fn set_background(thread: thread_priority::ThreadId, on: bool) -> bool {
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
fn may_leave_background() -> bool {
    let nice_limit = rustix::process::getrlimit(rustix::process::Resource::Nice).current;
    nice_limit.is_none_or(|limit| limit >= 20)
        || rustix::thread::capabilities(None).is_ok_and(|caps| {
            caps.effective
                .contains(rustix::thread::CapabilitySet::SYS_NICE)
        })
}

/// How the request writer is scheduled: in the background while it keeps up, so that its commits
/// never delay a request; at the normal policy, with a fair share of the CPU, while it is behind.
/// On a saturated machine a background thread barely runs, so it may not notice its own backlog:
/// the thread queueing the `BATCH`th unwritten request brings it back. It returns to the
/// background once it has kept up for `CALM`.
#[derive(Default)]
struct Scheduling {
    /// The writer thread, once it runs in the background.
    thread: OnceLock<thread_priority::ThreadId>,
    background: AtomicBool,
    /// Finished requests queued and not yet taken by the writer.
    queued: AtomicUsize,
}

/// How long the writer must keep up before it goes back to the background.
const CALM: Duration = Duration::from_secs(1);

impl Scheduling {
    /// On the writer thread, as it starts.
    fn start(&self) {
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
    fn wake(&self) {
        if let Some(&thread) = self.thread.get() {
            if self.background.swap(false, Ordering::AcqRel) && !set_background(thread, false) {
                self.background.store(true, Ordering::Release);
            }
        }
    }

    /// A request was queued for the writer.
    fn queued(&self) {
        let queued = self.queued.fetch_add(1, Ordering::Relaxed) + 1;
        if queued >= BATCH && self.background.load(Ordering::Relaxed) {
            self.wake();
        }
    }

    /// On the writer thread: it took `taken` queued requests into a batch of `size` jobs.
    /// `calm_since` is when batches started being small, at the normal policy.
    fn gathered(&self, taken: usize, size: usize, calm_since: &mut Option<Instant>) {
        self.queued.fetch_sub(taken, Ordering::Relaxed);
        let background = self.background.load(Ordering::Acquire);
        if size >= BATCH {
            *calm_since = None;
            if background {
                self.wake();
            }
        } else if !background && size < BATCH / 8 {
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

/// Most requests written in one transaction.
const BATCH: usize = 1024;

/// The checkpointer runs in the background and can starve on a saturated machine; past this
/// many WAL pages the writer's own commit checkpoints (which it otherwise never does, so that a
/// commit does not pay a checkpoint's fsync).
const WAL_SAFETY_PAGES: i64 = 16_384;

/// How long the writer gathers finished requests before it writes them.
const LINGER: Duration = Duration::from_millis(2);

impl RequestWriter {
    pub fn start(path: &Path, funds: Arc<Funds>) -> Result<RequestWriter, String> {
        let conn = Connection::open(path)
            .and_then(|c| db::apply_pragmas(&c).map(|_| c))
            .and_then(|c| {
                c.pragma_update(None, "wal_autocheckpoint", WAL_SAFETY_PAGES)
                    .map(|_| c)
            })
            .map_err(|e| format!("request writer: {e}"))?;
        let checkpointer = start_checkpointer(path)?;
        let (sender, receiver) = mpsc::channel();
        let scheduling = Arc::new(Scheduling::default());
        let shared = scheduling.clone();
        let thread = std::thread::Builder::new()
            .name("request-writer".into())
            .spawn(move || run(conn, &funds, receiver, &shared))
            .map_err(|e| format!("request writer: {e}"))?;
        Ok(RequestWriter {
            sender: Mutex::new(Some(sender)),
            scheduling,
            thread: Mutex::new(Some(thread)),
            checkpointer: Mutex::new(Some(checkpointer)),
        })
    }

    /// Queues `job`; hands it back if the writer has stopped.
    fn send(&self, job: Job) -> Result<(), Job> {
        // Counted before it can be taken, so the count never goes below zero. (A job sent after
        // the writer stopped stays counted; nothing reads the count then.)
        self.scheduling.queued();
        let sender = self.sender.lock().unwrap_or_else(|p| p.into_inner());
        match sender.as_ref() {
            Some(s) => s.send(job).map_err(|e| e.0),
            None => Err(job),
        }
    }

    /// Queues a finished request: its charge (if any) and its log row. Never blocks.
    pub fn finish(&self, charge: Option<Charge>, log: LogRow, now: i64) {
        let job = Finish { charge, log, now };
        if let Err(Job::Finish(job)) = self.send(Job::Finish(Box::new(job))) {
            tracing::error!(
                request_id = %job.log.request_id,
                "a request finished after the writer stopped; it is not charged or logged"
            );
        }
    }

    /// Waits until everything queued so far is written.
    pub fn flush(&self) {
        // Somebody waits: the writer must not wait for an idle core.
        self.scheduling.wake();
        let (ack, done) = mpsc::channel();
        if self.send(Job::Flush(ack)).is_ok() {
            let _ = done.recv_timeout(Duration::from_secs(30));
        }
    }

    /// Writes what is queued and stops the thread.
    pub fn shutdown(&self) {
        self.scheduling.wake();
        drop(self.sender.lock().unwrap_or_else(|p| p.into_inner()).take());
        if let Some(thread) = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = thread.join();
        }
        if let Some((stop, thread)) = self
            .checkpointer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            stop.store(true, Ordering::Relaxed);
            let _ = thread.join();
        }
    }
}

fn run(mut conn: Connection, funds: &Funds, receiver: Receiver<Job>, scheduling: &Scheduling) {
    scheduling.start();
    let mut calm_since = None;
    let mut retry: Vec<Job> = Vec::new();
    let mut pause = Duration::from_millis(50);
    let mut closed = false;
    loop {
        let mut jobs: Vec<Job> = std::mem::take(&mut retry);
        let retried = jobs.len();
        if jobs.is_empty() {
            if closed {
                return;
            }
            match receiver.recv() {
                Ok(job) => jobs.push(job),
                Err(_) => return,
            }
        }
        // What arrives within LINGER of the first shares its transaction. No request waits for
        // the writer, so this costs no latency, and under load it spreads one commit over many
        // requests.
        // (A sleep, not a wait on the channel: senders then never have a waiting thread to
        // wake.)
        if !closed {
            std::thread::sleep(LINGER);
        }
        while !closed && jobs.len() < BATCH {
            match receiver.try_recv() {
                Ok(job) => jobs.push(job),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => closed = true,
            }
        }
        scheduling.gathered(jobs.len() - retried, jobs.len(), &mut calm_since);
        retry = write_batch(&mut conn, funds, jobs);
        if retry.is_empty() {
            pause = Duration::from_millis(50);
        } else {
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_secs(2));
        }
    }
}

/// Writes one batch; returns what must be tried again (everything, in order, when the database
/// was busy or could not commit).
fn write_batch(conn: &mut Connection, funds: &Funds, jobs: Vec<Job>) -> Vec<Job> {
    let mut finishes: Vec<Box<Finish>> = Vec::with_capacity(jobs.len());
    let mut flushes = Vec::new();
    for job in jobs {
        match job {
            Job::Finish(f) => finishes.push(f),
            Job::Flush(ack) => flushes.push(ack),
        }
    }
    let result = write(conn, funds, &mut finishes);
    match result {
        Ok(()) => {
            for ack in flushes {
                let _ = ack.send(());
            }
            Vec::new()
        }
        Err(e) if e.code == "busy" || finishes.len() <= 1 && !e.refused => {
            tracing::warn!(error = %e.cli_text(), requests = finishes.len(), "could not write finished requests yet; trying again");
            requeue(finishes, flushes)
        }
        Err(e) => {
            tracing::error!(error = %e.cli_text(), "a batch of finished requests failed; writing them one by one");
            let mut again = Vec::new();
            for finish in finishes {
                let mut one = vec![finish];
                match write(conn, funds, &mut one) {
                    Ok(()) => {}
                    Err(e) if !e.refused => again.append(&mut one),
                    Err(e) => {
                        // Retrying cannot change a refusal of this request's own rows.
                        tracing::error!(request_id = %one[0].log.request_id, error = %e.cli_text(),
                            "the database refused a finished request; it is not charged or logged");
                        funds.abandoned(&charges(&one));
                    }
                }
            }
            requeue(again, flushes)
        }
    }
}

#[allow(clippy::vec_box)] // finishes stay boxed to move back into the queue unchanged
fn requeue(finishes: Vec<Box<Finish>>, flushes: Vec<mpsc::Sender<()>>) -> Vec<Job> {
    let mut jobs: Vec<Job> = finishes.into_iter().map(Job::Finish).collect();
    jobs.extend(flushes.into_iter().map(Job::Flush));
    jobs
}

fn charges(finishes: &[Box<Finish>]) -> Vec<&Charge> {
    finishes.iter().filter_map(|f| f.charge.as_ref()).collect()
}

/// Writes the finishes in one transaction: charges first (which fix each log row's cost), then
/// log rows, then when each key was last used.
fn write(
    conn: &mut Connection,
    funds: &Funds,
    finishes: &mut [Box<Finish>],
) -> Result<(), ApiError> {
    let tx = db::immediate(conn)?;
    let lines: Vec<ChargeLine> = finishes
        .iter()
        .filter_map(|f| {
            f.charge.as_ref().map(|c| ChargeLine {
                user_id: c.user_id,
                key_id: c.key_id,
                cost: c.cost,
                request_id: &f.log.request_id,
                now: f.now,
            })
        })
        .collect();
    let (settlements, last_row) = write_charges(&tx, &lines)?;
    drop(lines);
    let mut settlements = settlements.into_iter();
    let mut touched: HashMap<i64, i64> = HashMap::new();
    for finish in finishes.iter_mut() {
        if finish.charge.is_some() {
            if let Some(s) = settlements.next() {
                finish.log.cost = s.charged;
                if s.uncollected.is_positive() && finish.log.error.is_empty() {
                    finish.log.error =
                        format!("{} of the cost could not be collected", s.uncollected);
                }
            }
        } else if let Some(key_id) = finish.log.key_id {
            let at = touched.entry(key_id).or_insert(finish.now);
            *at = (*at).max(finish.now);
        }
        insert_log(&tx, &finish.log)?;
    }
    for (key_id, at) in touched {
        tx.prepare_cached("UPDATE api_keys SET last_used_at = ?1 WHERE id = ?2")?
            .execute(params![at, key_id])?;
    }
    // Admission counts these charges from memory until a snapshot shows `upto`.
    let upto = last_row.unwrap_or(0);
    let charges = charges(finishes);
    funds.written(&charges, upto);
    if let Err(e) = tx.commit() {
        funds.unwritten(&charges, upto);
        return Err(e.into());
    }
    funds.committed(&charges, upto);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use thread_priority::{
        thread_schedule_policy_param, NormalThreadSchedulePolicy, ThreadSchedulePolicy,
    };

    fn policy(thread: thread_priority::ThreadId) -> ThreadSchedulePolicy {
        thread_schedule_policy_param(thread).unwrap().0
    }

    #[test]
    fn a_backlog_brings_a_background_writer_back_and_calm_sends_it_back() {
        let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
        let other = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Other);
        let scheduling = Arc::new(Scheduling::default());
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
