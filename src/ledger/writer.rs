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
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{params, Connection};

use super::charges::{write_charges, ChargeLine};
use super::funds::{Charge, Funds};
use crate::background::Scheduling;
use crate::db::{self, Failure, Store, StoreError};
use crate::logs::usage::Rollups;
use crate::logs::{insert_log, sheet_id, LogRow};
use crate::pricing::Sheet;

/// Stored ids of the price sheets seen so far.
type Sheets = HashMap<Sheet, i64>;

/// What the writer's queue carries.
enum Queued {
    Finished(Box<Finished>),
    Flush(mpsc::Sender<()>),
}

/// A finished request, to be written.
struct Finished {
    charge: Option<Charge>,
    log: LogRow,
    /// When the request ended (Unix seconds).
    now: i64,
}

pub struct RequestWriter {
    sender: Mutex<Option<Sender<Queued>>>,
    scheduling: Arc<Scheduling>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// Most requests written in one transaction.
const BATCH: usize = 1024;

/// The checkpointer (`db::checkpoint`) runs in the background and can starve on a saturated
/// machine; past this
/// many WAL pages the writer's own commit checkpoints (which it otherwise never does, so that a
/// commit does not pay a checkpoint's fsync).
const WAL_SAFETY_PAGES: i64 = 16_384;

/// How long the writer gathers finished requests before it writes them.
const GATHER: Duration = Duration::from_millis(2);

impl RequestWriter {
    pub fn start(path: &Path, funds: Arc<Funds>) -> Result<RequestWriter, String> {
        let conn = Connection::open(path)
            .and_then(|c| db::apply_pragmas(&c).map(|_| c))
            .and_then(|c| {
                c.pragma_update(None, "wal_autocheckpoint", WAL_SAFETY_PAGES)
                    .map(|_| c)
            })
            .map_err(|e| format!("request writer: {e}"))?;
        let (sender, receiver) = mpsc::channel();
        let scheduling = Arc::new(Scheduling::new(BATCH));
        let shared = scheduling.clone();
        let thread = std::thread::Builder::new()
            .name("request-writer".into())
            .spawn(move || run(conn, &funds, receiver, &shared))
            .map_err(|e| format!("request writer: {e}"))?;
        Ok(RequestWriter {
            sender: Mutex::new(Some(sender)),
            scheduling,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Queues `job`; hands it back if the writer has stopped.
    fn send(&self, job: Queued) -> Result<(), Queued> {
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
        let job = Finished { charge, log, now };
        if let Err(Queued::Finished(job)) = self.send(Queued::Finished(Box::new(job))) {
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
        if self.send(Queued::Flush(ack)).is_ok() {
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
    }
}

fn run(mut conn: Connection, funds: &Funds, receiver: Receiver<Queued>, scheduling: &Scheduling) {
    scheduling.start();
    let mut calm_since = None;
    let mut retry: Vec<Queued> = Vec::new();
    let mut pause = Duration::from_millis(50);
    let mut closed = false;
    let mut sheets = Sheets::new();
    loop {
        let mut jobs: Vec<Queued> = std::mem::take(&mut retry);
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
        // What arrives within GATHER of the first shares its transaction. No request waits for
        // the writer, so this costs no latency, and under load it spreads one commit over many
        // requests.
        // (A sleep, not a wait on the channel: senders then never have a waiting thread to
        // wake.)
        if !closed {
            std::thread::sleep(GATHER);
        }
        while !closed && jobs.len() < BATCH {
            match receiver.try_recv() {
                Ok(job) => jobs.push(job),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => closed = true,
            }
        }
        scheduling.gathered(jobs.len() - retried, jobs.len(), &mut calm_since);
        retry = write_batch(&mut conn, funds, &mut sheets, jobs);
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
fn write_batch(
    conn: &mut Connection,
    funds: &Funds,
    sheets: &mut Sheets,
    jobs: Vec<Queued>,
) -> Vec<Queued> {
    let mut finishes: Vec<Box<Finished>> = Vec::with_capacity(jobs.len());
    let mut flushes = Vec::new();
    for job in jobs {
        match job {
            Queued::Finished(f) => finishes.push(f),
            Queued::Flush(ack) => flushes.push(ack),
        }
    }
    let result = write(conn, funds, sheets, &mut finishes);
    match result {
        Ok(()) => {
            for ack in flushes {
                let _ = ack.send(());
            }
            Vec::new()
        }
        Err(e)
            if e.failure == Failure::Busy
                || finishes.len() <= 1 && e.failure != Failure::Refused =>
        {
            tracing::warn!(error = %e, requests = finishes.len(), "could not write finished requests yet; trying again");
            requeue(finishes, flushes)
        }
        Err(e) => {
            tracing::error!(error = %e, "a batch of finished requests failed; writing them one by one");
            let mut again = Vec::new();
            for finish in finishes {
                let mut one = vec![finish];
                match write(conn, funds, sheets, &mut one) {
                    Ok(()) => {}
                    Err(e) if e.failure != Failure::Refused => again.append(&mut one),
                    Err(e) => {
                        // Retrying cannot change a refusal of this request's own rows.
                        tracing::error!(request_id = %one[0].log.request_id, error = %e,
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
fn requeue(finishes: Vec<Box<Finished>>, flushes: Vec<mpsc::Sender<()>>) -> Vec<Queued> {
    let mut jobs: Vec<Queued> = finishes.into_iter().map(Queued::Finished).collect();
    jobs.extend(flushes.into_iter().map(Queued::Flush));
    jobs
}

fn charges(finishes: &[Box<Finished>]) -> Vec<&Charge> {
    finishes.iter().filter_map(|f| f.charge.as_ref()).collect()
}

/// Writes the finishes in one transaction: charges first (which fix each log row's cost), then
/// log rows and what they add to the usage rollups, then when each key was last used.
fn write(
    conn: &mut Connection,
    funds: &Funds,
    sheets: &mut Sheets,
    finishes: &mut [Box<Finished>],
) -> Result<(), StoreError> {
    let tx = db::immediate(conn)?;
    // Ids of price sheets first written in this transaction: kept only once it commits.
    let mut new_sheets: Vec<(Sheet, i64)> = Vec::new();
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
    let (settlements, rows) = write_charges(&tx, &lines)?;
    drop(lines);
    let mut settlements = settlements.into_iter();
    let mut touched: HashMap<i64, i64> = HashMap::new();
    let mut rollups = Rollups::default();
    for finish in finishes.iter_mut() {
        if finish.charge.is_some() {
            if let Some(s) = settlements.next() {
                finish.log.cost = s.charged;
                finish.log.uncollected = s.uncollected;
                if s.uncollected.is_positive() && finish.log.error.is_empty() {
                    finish.log.error =
                        format!("{} of the cost could not be collected", s.uncollected);
                    finish.log.error_code = "uncollected";
                }
            }
        } else if let Some(key_id) = finish.log.key_id {
            let at = touched.entry(key_id).or_insert(finish.now);
            *at = (*at).max(finish.now);
        }
        let sheet_id = match &finish.log.sheet {
            None => None,
            Some(sheet) => match sheets.get(sheet) {
                Some(id) => Some(*id),
                None => {
                    let id = sheet_id(&tx, sheet)?;
                    new_sheets.push((sheet.clone(), id));
                    Some(id)
                }
            },
        };
        insert_log(&tx, &finish.log, sheet_id)?;
        rollups.add(&finish.log);
    }
    rollups.write(&tx)?;
    for (key_id, at) in touched {
        tx.prepare_cached("UPDATE api_keys SET last_used_at = ?1 WHERE id = ?2")
            .and_then(|mut s| s.execute(params![at, key_id]))
            .store("note when a key was last used")?;
    }
    // Admission counts these charges from memory until a snapshot shows `upto`.
    let charges = charges(finishes);
    let writing = funds.begin_write(&charges, rows);
    tx.commit().store("commit finished requests")?;
    writing.committed();
    sheets.extend(new_sheets);
    Ok(())
}
