//! The request finisher: one thread that ends each request's hold (settle or release) and writes
//! its log row, many requests to a transaction (group commit: whatever queued up while the last
//! transaction was written goes into the next, with no timer). A billed request's response waits
//! for its own commit, so the next request of the same client sees the settled balance. On a
//! clean shutdown it drains.

use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::params;

use super::{insert_log, LogRow};
use crate::db::{self, Db};
use crate::error::ApiResult;
use crate::ledger::holds;
use crate::ledger::money::Money;

/// How a request's hold ends.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// No hold was taken (free model, or refused before one).
    Nothing,
    /// Charge the exact cost.
    Settle { hold_id: i64, cost: Money },
    /// Charge nothing.
    Release { hold_id: i64, reason: String },
}

pub struct Finished {
    pub outcome: Outcome,
    pub log: LogRow,
    /// Told once the transaction holding this request is committed.
    pub done: Option<tokio::sync::oneshot::Sender<()>>,
}

enum Message {
    Finish(Box<Finished>),
    Flush(mpsc::Sender<()>),
}

pub struct Finisher {
    sender: Mutex<Option<Sender<Message>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// Most requests written in one transaction.
const BATCH: usize = 512;

impl Finisher {
    pub fn start(db: Db, clock: crate::clock::SharedClock) -> Finisher {
        let (sender, receiver) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("request-finisher".into())
            .spawn(move || run(db, clock, receiver))
            .map_err(|e| tracing::error!(error = %e, "cannot start the request finisher"))
            .ok();
        Finisher {
            sender: Mutex::new(Some(sender)),
            thread: Mutex::new(thread),
        }
    }

    /// Queues a finished request. Never blocks; await the answer to know it is committed
    /// (it resolves with an error only if the finisher has stopped).
    pub fn finish(&self, outcome: Outcome, log: LogRow) -> tokio::sync::oneshot::Receiver<()> {
        let (done, committed) = tokio::sync::oneshot::channel();
        let job = Finished {
            outcome,
            log,
            done: Some(done),
        };
        let sender = self.sender.lock().unwrap_or_else(|p| p.into_inner());
        let sent = sender
            .as_ref()
            .map(|s| s.send(Message::Finish(Box::new(job))).is_ok())
            .unwrap_or(false);
        if !sent {
            // Only after shutdown: the hold stays open and is released at the next start.
            tracing::error!(
                "request finished after the finisher stopped; its hold is released at next start"
            );
        }
        committed
    }

    /// Waits until everything queued so far is written.
    pub fn flush(&self) {
        let (ack, done) = mpsc::channel();
        let sent = {
            let sender = self.sender.lock().unwrap_or_else(|p| p.into_inner());
            sender
                .as_ref()
                .map(|s| s.send(Message::Flush(ack)).is_ok())
                .unwrap_or(false)
        };
        if sent {
            let _ = done.recv_timeout(Duration::from_secs(30));
        }
    }

    /// Writes what is queued and stops the thread.
    pub fn shutdown(&self) {
        let sender = self.sender.lock().unwrap_or_else(|p| p.into_inner()).take();
        drop(sender);
        let thread = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

fn run(db: Db, clock: crate::clock::SharedClock, receiver: Receiver<Message>) {
    let mut batch: Vec<Finished> = Vec::with_capacity(BATCH);
    let mut acks: Vec<mpsc::Sender<()>> = Vec::new();
    loop {
        let first = match receiver.recv() {
            Ok(m) => m,
            Err(_) => return,
        };
        let mut closed = false;
        let take = |m: Message, batch: &mut Vec<Finished>, acks: &mut Vec<mpsc::Sender<()>>| match m
        {
            Message::Finish(f) => batch.push(*f),
            Message::Flush(a) => acks.push(a),
        };
        take(first, &mut batch, &mut acks);
        // Whatever else is already waiting shares the transaction; nothing waits for company.
        while batch.len() < BATCH {
            match receiver.try_recv() {
                Ok(m) => take(m, &mut batch, &mut acks),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    closed = true;
                    break;
                }
            }
        }
        if !batch.is_empty() {
            write_with_retries(&db, &mut batch, clock.now());
        }
        for ack in acks.drain(..) {
            let _ = ack.send(());
        }
        if closed {
            return;
        }
    }
}

fn write_with_retries(db: &Db, batch: &mut Vec<Finished>, now: i64) {
    for attempt in 0..5 {
        match db.write_blocking(|conn| write_batch(conn, batch, now)) {
            Ok(()) => {
                for mut job in batch.drain(..) {
                    if let Some(done) = job.done.take() {
                        let _ = done.send(());
                    }
                }
                return;
            }
            Err(e) => {
                tracing::error!(attempt, error = %e.cli_text(), "writing finished requests failed; retrying");
                std::thread::sleep(Duration::from_millis(200 * (attempt + 1)));
            }
        }
    }
    tracing::error!(
        lost = batch.len(),
        "could not write finished requests; their holds are released at next start"
    );
    batch.clear();
}

/// One transaction; each request in its own savepoint, so one bad request cannot sink the rest.
fn write_batch(conn: &mut rusqlite::Connection, batch: &[Finished], now: i64) -> ApiResult<()> {
    let mut tx = db::immediate(conn)?;
    for item in batch {
        let mut log = item.log.clone();
        let sp = tx.savepoint()?;
        let ended: ApiResult<()> = match &item.outcome {
            Outcome::Nothing => Ok(()),
            Outcome::Settle { hold_id, cost } => {
                holds::settle_in(&sp, *hold_id, *cost, now).map(|s| {
                    log.cost = s.charged;
                })
            }
            Outcome::Release { hold_id, reason } => holds::release_in(&sp, *hold_id, reason, now),
        };
        match ended {
            Ok(()) => sp.commit()?,
            Err(e) => {
                drop(sp);
                tracing::error!(request_id = %log.request_id, error = %e.cli_text(), "ending the hold failed");
                log.cost = Money::ZERO;
                if log.error.is_empty() {
                    log.error = "billing failed; the hold is released at next start".into();
                }
            }
        }
        insert_log(&tx, &log)?;
        if let Some(key_id) = log.key_id {
            tx.execute(
                "UPDATE api_keys SET last_used_at = ?1 WHERE id = ?2",
                params![log.created_at, key_id],
            )?;
        }
    }
    tx.commit()?;
    Ok(())
}
