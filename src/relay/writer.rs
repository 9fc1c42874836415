//! The request writer: one thread with its own connection that takes holds, settles or releases
//! them, and writes log rows — many requests to a transaction (group commit: whatever queued up
//! while the last transaction was written goes into the next, with no timer). It works strictly
//! in order, so a settlement queued before a response goes out is written before any hold the
//! client sends next. A hold's answer comes only after its commit, so a hold the relay was told
//! about exists.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{params, Connection};
use tokio::sync::oneshot;

use crate::db;
use crate::error::{ApiError, ApiResult};
use crate::ledger::holds::{self, Held, HoldError, HoldRequest};
use crate::ledger::money::Money;
use crate::logs::{insert_log, LogRow};

/// How a request's hold ends.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// No hold was taken (free model, or refused before one).
    Nothing,
    /// Charge the exact cost.
    Settle { held: Held, cost: Money },
    /// Charge nothing.
    Release { held: Held, reason: String },
}

/// A hold to take, owned, to cross to the writer thread.
pub struct HoldOrder {
    pub user_id: i64,
    pub key_id: Option<i64>,
    pub amount: Money,
    pub request_id: String,
    pub now: i64,
}

enum Job {
    Hold(HoldOrder, oneshot::Sender<Result<Held, HoldError>>),
    Finish(Box<Finish>),
    Flush(mpsc::Sender<()>),
}

struct Finish {
    outcome: Outcome,
    log: LogRow,
    /// When the request ended (Unix seconds).
    now: i64,
    done: Option<oneshot::Sender<()>>,
    tries: u32,
}

pub struct RequestWriter {
    sender: Mutex<Option<Sender<Job>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    checkpointer: Mutex<Option<(Arc<AtomicBool>, JoinHandle<()>)>>,
}

/// How often the background thread folds the WAL back into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// Checkpoints in the background, so the fsync a checkpoint does is never paid by a commit on
/// the request path (the writer's own connection does not auto-checkpoint).
fn start_checkpointer(path: &Path) -> Result<(Arc<AtomicBool>, JoinHandle<()>), String> {
    let conn = Connection::open(path)
        .and_then(|c| db::apply_pragmas(&c).map(|_| c))
        .map_err(|e| format!("checkpointer: {e}"))?;
    let stop = Arc::new(AtomicBool::new(false));
    let stopping = stop.clone();
    let thread = std::thread::Builder::new()
        .name("wal-checkpointer".into())
        .spawn(move || {
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

/// Most requests written in one transaction.
const BATCH: usize = 512;

impl RequestWriter {
    pub fn start(path: &Path) -> Result<RequestWriter, String> {
        let conn = Connection::open(path)
            .and_then(|c| db::apply_pragmas(&c).map(|_| c))
            .and_then(|c| c.pragma_update(None, "wal_autocheckpoint", 0).map(|_| c))
            .map_err(|e| format!("request writer: {e}"))?;
        let checkpointer = start_checkpointer(path)?;
        let (sender, receiver) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("request-writer".into())
            .spawn(move || run(conn, receiver))
            .map_err(|e| format!("request writer: {e}"))?;
        Ok(RequestWriter {
            sender: Mutex::new(Some(sender)),
            thread: Mutex::new(Some(thread)),
            checkpointer: Mutex::new(Some(checkpointer)),
        })
    }

    fn send(&self, job: Job) -> bool {
        let sender = self.sender.lock().unwrap_or_else(|p| p.into_inner());
        sender
            .as_ref()
            .map(|s| s.send(job).is_ok())
            .unwrap_or(false)
    }

    /// Takes a hold; resolves once it is committed (or refused).
    pub async fn hold(&self, order: HoldOrder) -> Result<Held, HoldError> {
        let (reply, answer) = oneshot::channel();
        if !self.send(Job::Hold(order, reply)) {
            return Err(HoldError::Failed(ApiError::busy()));
        }
        answer
            .await
            .unwrap_or(Err(HoldError::Failed(ApiError::busy())))
    }

    /// Queues a finished request. Never blocks; the answer resolves once it is committed (with
    /// an error only if the writer has stopped: the hold then waits for the next start).
    pub fn finish(&self, outcome: Outcome, log: LogRow, now: i64) -> oneshot::Receiver<()> {
        let (done, committed) = oneshot::channel();
        let job = Finish {
            outcome,
            log,
            now,
            done: Some(done),
            tries: 0,
        };
        if !self.send(Job::Finish(Box::new(job))) {
            tracing::error!(
                "request finished after the writer stopped; its hold is released at next start"
            );
        }
        committed
    }

    /// Waits until everything queued so far is written.
    pub fn flush(&self) {
        let (ack, done) = mpsc::channel();
        if self.send(Job::Flush(ack)) {
            let _ = done.recv_timeout(Duration::from_secs(30));
        }
    }

    /// Writes what is queued and stops the thread.
    pub fn shutdown(&self) {
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

fn run(mut conn: Connection, receiver: Receiver<Job>) {
    let mut retry: Vec<Box<Finish>> = Vec::new();
    loop {
        let mut jobs: Vec<Job> = retry.drain(..).map(Job::Finish).collect();
        if jobs.is_empty() {
            match receiver.recv() {
                Ok(job) => jobs.push(job),
                Err(_) => return,
            }
        }
        let mut closed = false;
        // Whatever else is already waiting shares the transaction; nothing waits for company.
        while jobs.len() < BATCH {
            match receiver.try_recv() {
                Ok(job) => jobs.push(job),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    closed = true;
                    break;
                }
            }
        }
        retry = write_batch(&mut conn, jobs);
        if !retry.is_empty() {
            std::thread::sleep(Duration::from_millis(100));
        }
        if closed && retry.is_empty() {
            return;
        }
    }
}

enum Reply {
    Hold(
        oneshot::Sender<Result<Held, HoldError>>,
        Result<Held, HoldError>,
    ),
    Finished(Box<Finish>),
    Flushed(mpsc::Sender<()>),
}

/// Writes one batch; returns finishes to try again when the transaction could not commit.
#[allow(clippy::vec_box)] // finishes stay boxed to move back into the queue unchanged
fn write_batch(conn: &mut Connection, jobs: Vec<Job>) -> Vec<Box<Finish>> {
    let mut replies: Vec<Reply> = Vec::with_capacity(jobs.len());
    let committed = (|| -> ApiResult<()> {
        let tx = db::immediate(conn)?;
        for job in jobs {
            match job {
                Job::Hold(order, reply) => {
                    let req = HoldRequest {
                        user_id: order.user_id,
                        key_id: order.key_id,
                        amount: order.amount,
                        request_id: &order.request_id,
                    };
                    // A refused hold changed nothing (see `hold_in`); any other failure fails
                    // the whole batch, which is then answered as busy and retried.
                    let result = holds::hold_in(&tx, &req, order.now);
                    if let Err(HoldError::Failed(e)) = result {
                        return Err(e);
                    }
                    replies.push(Reply::Hold(reply, result));
                }
                Job::Finish(mut finish) => {
                    write_finish(&tx, &mut finish)?;
                    replies.push(Reply::Finished(finish));
                }
                Job::Flush(ack) => replies.push(Reply::Flushed(ack)),
            }
        }
        tx.commit()?;
        Ok(())
    })();
    let mut retry = Vec::new();
    for reply in replies {
        match reply {
            Reply::Hold(reply, result) => {
                let result = match &committed {
                    Ok(()) => result,
                    Err(e) => Err(HoldError::Failed(e.clone())),
                };
                let _ = reply.send(result);
            }
            Reply::Finished(mut finish) => {
                if committed.is_ok() {
                    if let Some(done) = finish.done.take() {
                        let _ = done.send(());
                    }
                } else if finish.tries < 5 {
                    finish.tries += 1;
                    retry.push(finish);
                } else {
                    tracing::error!(request_id = %finish.log.request_id, "could not write a finished request; its hold is released at next start");
                }
            }
            Reply::Flushed(ack) => {
                let _ = ack.send(());
            }
        }
    }
    if let Err(e) = committed {
        tracing::error!(error = %e.cli_text(), "request writer transaction failed");
    }
    retry
}

/// Ends one request's hold and writes its log row. Settling and releasing check the hold is
/// open before their first write, so a refusal leaves nothing half-done and needs no savepoint.
fn write_finish(tx: &rusqlite::Transaction, finish: &mut Finish) -> ApiResult<()> {
    let now = finish.now;
    let ended: ApiResult<()> = match &finish.outcome {
        Outcome::Nothing => Ok(()),
        Outcome::Settle { held, cost } => holds::settle_in(tx, held, *cost, now).map(|s| {
            finish.log.cost = s.charged;
        }),
        Outcome::Release { held, reason } => holds::release_in(tx, held, reason, now),
    };
    match ended {
        Ok(()) => {}
        // Anything but a refusal made before the first write fails the batch, to be retried.
        Err(e) if e.code != holds::HOLD_NOT_OPEN => return Err(e),
        Err(e) => {
            tracing::error!(request_id = %finish.log.request_id, error = %e.cli_text(), "the hold was already ended");
            finish.log.cost = Money::ZERO;
            if finish.log.error.is_empty() {
                finish.log.error = "the hold was already ended; nothing charged again".into();
            }
        }
    }
    insert_log(tx, &finish.log)?;
    if let (Some(key_id), false) = (
        finish.log.key_id,
        matches!(finish.outcome, Outcome::Settle { .. }),
    ) {
        tx.prepare_cached("UPDATE api_keys SET last_used_at = ?1 WHERE id = ?2")?
            .execute(params![now, key_id])?;
    }
    Ok(())
}
