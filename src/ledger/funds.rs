//! Money in flight, in memory: what requests hold before their upstream call (holds), and what
//! finished requests were charged that the request writer has not committed yet (pending
//! charges).
//!
//! Admitting a request takes the committed balance and key usage and subtracts what is in flight,
//! all under one lock; so admission never waits for a write or the disk, and concurrent requests
//! can never hold more than there is. The committed values are read once (one indexed read on
//! a connection of its own) and then kept: the writer drops an account's and a key's values when
//! it commits charges to them, any other write through the server's `Db` drops them all, and a
//! request the kept values would refuse reads them again first. Writes from outside the process
//! (the command line's `user adjust`, say) are noticed before any kept value is trusted: every
//! admission looks at SQLite's WAL-index header (`db::commits`, one `pread`), and when anyone has
//! committed since the last look, it checks that every ledger row since is one of the request
//! writer's own; a row nobody here wrote drops every kept value.
//! A hold is not written anywhere: if the process dies, the requests it covered die with it and
//! nothing was charged for them. The database sees one charge per served request.
//!
//! Exactness across the writer's commits: before committing, the writer moves each charge it
//! wrote under the highest ledger id of its transaction ([`Funds::begin_write`]), and forgets it
//! once the commit is known ([`Writing::committed`]; a [`Writing`] dropped without that means
//! the transaction did not commit, and the charges are unwritten again). Admission reads the
//! highest ledger id in the same snapshot as the balance, so a charge is counted exactly once:
//! by the snapshot when its transaction is visible there, else from memory.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::{params, Connection, OptionalExtension};

use super::money::Money;
use crate::db::commits::CommitWatch;
use crate::db::{self, Store, StoreError};
use crate::error::ApiError;

#[derive(Debug)]
pub enum HoldError {
    /// The account balance is smaller than the hold.
    Balance,
    /// The key's spending limit has less room than the hold.
    KeyLimit,
    Failed(ApiError),
}

impl From<StoreError> for HoldError {
    fn from(e: StoreError) -> Self {
        HoldError::Failed(e.into())
    }
}

pub struct Funds {
    inner: Mutex<Inner>,
    /// Moves after every write through the server's `Db` (see `Db::writes`).
    db_writes: Arc<AtomicU64>,
}

struct Inner {
    /// Reads committed balances; used only under the lock.
    conn: Connection,
    users: HashMap<i64, InFlight>,
    keys: HashMap<i64, InFlight>,
    open: usize,
    /// Committed balances, as last read.
    balances: HashMap<i64, Committed>,
    /// Committed room under keys' spending limits (`None`: no limit), as last read.
    rooms: HashMap<i64, Committed<Option<i64>>>,
    /// `db_writes` when `balances` and `rooms` were last emptied.
    seen_writes: u64,
    /// Tells when anyone has committed since the last look.
    commits: CommitWatch,
    /// Every ledger row up to this id is known: the kept values account for it (or were dropped).
    known_upto: i64,
    /// Ledger rows the request writer committed (first and last id of each transaction) that are
    /// above `known_upto`.
    own_rows: Vec<(i64, i64)>,
    /// Committed values read from the database, in all.
    reads: u64,
}

/// A committed value and the highest ledger id of the snapshot it was read in.
#[derive(Clone, Copy)]
struct Committed<T = i64> {
    value: T,
    upto: i64,
}

/// One account's or key's money in flight.
#[derive(Default)]
struct InFlight {
    held: i64,
    /// Charges queued for the writer and not yet written.
    unwritten: i64,
    /// Charges written in a transaction not yet known to be committed: per transaction, the
    /// highest ledger id it writes and the sum of this account's charges in it.
    written: Vec<(i64, i64)>,
}

impl InFlight {
    /// What is in flight and not yet in a snapshot whose highest ledger id is `visible_upto`.
    fn owed(&self, visible_upto: i64) -> i64 {
        self.written
            .iter()
            .filter(|(upto, _)| *upto > visible_upto)
            .fold(
                self.held.saturating_add(self.unwritten),
                |sum, (_, amount)| sum.saturating_add(*amount),
            )
    }

    /// Charges finished and not yet in a snapshot whose highest ledger id is `visible_upto`
    /// (holds left out: they are not spent yet).
    fn pending(&self, visible_upto: i64) -> i64 {
        self.written
            .iter()
            .filter(|(upto, _)| *upto > visible_upto)
            .fold(self.unwritten, |sum, (_, amount)| {
                sum.saturating_add(*amount)
            })
    }

    fn is_idle(&self) -> bool {
        self.held == 0 && self.unwritten == 0 && self.written.is_empty()
    }

    /// Moves `amount` of unwritten charges into the transaction `upto`.
    fn write(&mut self, upto: i64, amount: i64) {
        self.unwritten -= amount;
        match self.written.iter_mut().find(|(u, _)| *u == upto) {
            Some((_, sum)) => *sum += amount,
            None => self.written.push((upto, amount)),
        }
    }

    /// Takes `amount` out of the transaction `upto` (committed, or rolled back).
    fn unwrite(&mut self, upto: i64, amount: i64) {
        if let Some(i) = self.written.iter().position(|(u, _)| *u == upto) {
            self.written[i].1 -= amount;
            if self.written[i].1 == 0 {
                self.written.swap_remove(i);
            }
        }
    }
}

/// A request's hold. Ending it without [`Hold::charge`] (a release, an error, a dropped task)
/// frees it: nothing was written for it, so nothing needs undoing.
pub struct Hold {
    funds: Arc<Funds>,
    pub user_id: i64,
    pub key_id: Option<i64>,
    pub amount: Money,
    open: bool,
}

/// A finished request's charge, for the request writer (which writes it with the request's log
/// row, and takes the request id from there).
#[derive(Debug, Clone)]
pub struct Charge {
    pub user_id: i64,
    pub key_id: Option<i64>,
    pub cost: Money,
}

impl Hold {
    /// Ends the hold with its exact cost, which becomes a pending charge until the writer
    /// commits it. A cost of zero charges nothing.
    pub fn charge(mut self, cost: Money) -> Option<Charge> {
        self.open = false;
        let cost = cost.units().max(0);
        let mut inner = self.funds.lock();
        inner.end(self.user_id, self.key_id, self.amount.units());
        if cost == 0 {
            return None;
        }
        inner.for_shares(self.user_id, self.key_id, |share| {
            share.unwritten = share.unwritten.saturating_add(cost)
        });
        Some(Charge {
            user_id: self.user_id,
            key_id: self.key_id,
            cost: Money::from_units(cost),
        })
    }

    /// Ends the hold without a charge.
    pub fn release(self) {
        drop(self);
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        if self.open {
            self.open = false;
            self.funds
                .lock()
                .end(self.user_id, self.key_id, self.amount.units());
        }
    }
}

impl std::fmt::Debug for Hold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hold")
            .field("user_id", &self.user_id)
            .field("key_id", &self.key_id)
            .field("amount", &self.amount)
            .finish()
    }
}

impl Inner {
    /// Someone has committed: if any ledger row since the last look is not the request
    /// writer's own, it was written outside this server (or by its `Db`), and no kept value can be
    /// trusted any more.
    fn account_for_commits(&mut self) -> Result<(), StoreError> {
        let newest: i64 = self
            .conn
            .prepare_cached("SELECT COALESCE(max(id), 0) FROM ledger")
            .and_then(|mut s| s.query_row([], |r| r.get(0)))
            .store("read the newest ledger row")?;
        self.own_rows.sort_unstable();
        let mut upto = self.known_upto;
        self.own_rows.retain(|&(first, last)| {
            if last <= upto {
                false
            } else if first == upto + 1 && last <= newest {
                upto = last;
                false
            } else {
                true
            }
        });
        if upto < newest {
            if !self.balances.is_empty() || !self.rooms.is_empty() {
                tracing::debug!(
                    from = upto + 1,
                    to = newest,
                    "ledger rows written outside the request writer; kept balances dropped"
                );
            }
            self.balances.clear();
            self.rooms.clear();
            upto = newest;
            self.own_rows.retain(|&(_, last)| last > newest);
        }
        self.known_upto = upto;
        Ok(())
    }

    /// Reads (and keeps) the committed balance and, with a key, the committed room under its
    /// spending limit.
    #[allow(clippy::type_complexity)]
    fn read_committed(
        &mut self,
        user_id: i64,
        key_id: Option<i64>,
    ) -> Result<(Committed, Option<Committed<Option<i64>>>), HoldError> {
        self.reads += 1;
        let row: Option<(i64, Option<i64>, Option<i64>, i64)> = self
            .conn
            .prepare_cached(
                "SELECT u.balance, k.spend_limit - k.used, k.id,
                        COALESCE((SELECT max(id) FROM ledger), 0)
                 FROM users u LEFT JOIN api_keys k ON k.id = ?2 AND k.user_id = u.id
                 WHERE u.id = ?1",
            )
            .and_then(|mut s| {
                s.query_row(params![user_id, key_id], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })
                .optional()
            })
            .store("read a committed balance")?;
        let Some((balance, key_room, found_key, upto)) = row else {
            return Err(HoldError::Failed(ApiError::not_found(
                "user_not_found",
                "no such user",
            )));
        };
        let balance = Committed {
            value: balance,
            upto,
        };
        self.balances.insert(user_id, balance);
        let Some(key_id) = key_id else {
            return Ok((balance, None));
        };
        if found_key.is_none() {
            return Err(HoldError::Failed(ApiError::unauthorized(
                "invalid_api_key",
                "this API key no longer exists",
            )));
        }
        let room = Committed {
            value: key_room,
            upto,
        };
        self.rooms.insert(key_id, room);
        Ok((balance, Some(room)))
    }

    /// Whether `units` fit in the committed values less what is in flight. When both are short,
    /// the key's limit is the answer.
    fn admit(
        &self,
        user_id: i64,
        key_id: Option<i64>,
        balance: Committed,
        room: Option<Committed<Option<i64>>>,
        units: i64,
    ) -> Result<(), HoldError> {
        if let (
            Some(key_id),
            Some(Committed {
                value: Some(room),
                upto,
            }),
        ) = (key_id, room)
        {
            let owed = self.keys.get(&key_id).map_or(0, |s| s.owed(upto));
            if room.saturating_sub(owed) < units {
                return Err(HoldError::KeyLimit);
            }
        }
        let owed = self.users.get(&user_id).map_or(0, |s| s.owed(balance.upto));
        if balance.value.saturating_sub(owed) < units {
            return Err(HoldError::Balance);
        }
        Ok(())
    }

    /// Applies `f` to the account's and (with one) the key's money in flight.
    fn for_shares(&mut self, user_id: i64, key_id: Option<i64>, f: impl Fn(&mut InFlight)) {
        f(self.users.entry(user_id).or_default());
        if let Some(key_id) = key_id {
            f(self.keys.entry(key_id).or_default());
        }
    }

    /// Frees a hold.
    fn end(&mut self, user_id: i64, key_id: Option<i64>, amount: i64) {
        self.open = self.open.saturating_sub(1);
        self.for_shares(user_id, key_id, |share| share.held -= amount);
        self.tidy(user_id, key_id);
    }

    fn tidy(&mut self, user_id: i64, key_id: Option<i64>) {
        if self.users.get(&user_id).is_some_and(InFlight::is_idle) {
            self.users.remove(&user_id);
        }
        if let Some(key_id) = key_id {
            if self.keys.get(&key_id).is_some_and(InFlight::is_idle) {
                self.keys.remove(&key_id);
            }
        }
    }

    /// Applies `f` to the in-flight money of each charge's account and key.
    fn each(&mut self, charges: &[&Charge], mut f: impl FnMut(&mut InFlight, i64)) {
        for charge in charges {
            let amount = charge.cost.units();
            if let Some(share) = self.users.get_mut(&charge.user_id) {
                f(share, amount);
            }
            if let Some(share) = charge.key_id.and_then(|k| self.keys.get_mut(&k)) {
                f(share, amount);
            }
        }
        for charge in charges {
            self.tidy(charge.user_id, charge.key_id);
        }
    }
}

impl Funds {
    /// Opens the connection admission reads through; `db_writes` is the server's `Db::writes`.
    pub fn open(path: &Path, db_writes: Arc<AtomicU64>) -> Result<Funds, String> {
        let conn = Connection::open(path)
            .and_then(|c| db::apply_pragmas(&c).map(|_| c))
            .map_err(|e| format!("funds: {e}"))?;
        Ok(Funds {
            inner: Mutex::new(Inner {
                conn,
                users: HashMap::new(),
                keys: HashMap::new(),
                open: 0,
                balances: HashMap::new(),
                rooms: HashMap::new(),
                seen_writes: 0,
                commits: CommitWatch::new(path),
                known_upto: 0,
                own_rows: Vec::new(),
                reads: 0,
            }),
            db_writes,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Holds `amount` from the account's balance and, with a key, from the key's spending
    /// limit. When both are short, the key's limit is the answer.
    pub fn hold(
        self: &Arc<Self>,
        user_id: i64,
        key_id: Option<i64>,
        amount: Money,
    ) -> Result<Hold, HoldError> {
        let units = amount.units();
        if units <= 0 {
            return Err(HoldError::Failed(ApiError::internal(
                "a hold must be positive",
            )));
        }
        let mut inner = self.lock();
        let writes = self.db_writes.load(Ordering::Acquire);
        if writes != inner.seen_writes {
            inner.balances.clear();
            inner.rooms.clear();
            inner.seen_writes = writes;
        }
        if inner.commits.changed() {
            if let Err(e) = inner.account_for_commits() {
                // Unchecked: look again next time, and trust nothing kept now.
                inner.commits.forget();
                inner.balances.clear();
                inner.rooms.clear();
                return Err(e.into());
            }
        }
        // Kept values first; anything missing, or a refusal, reads them again.
        let kept = match (inner.balances.get(&user_id), key_id) {
            (Some(&balance), None) => Some((balance, None)),
            (Some(&balance), Some(key_id)) => {
                inner.rooms.get(&key_id).map(|&room| (balance, Some(room)))
            }
            (None, _) => None,
        };
        let verdict = match kept {
            Some((balance, room)) => inner.admit(user_id, key_id, balance, room, units),
            None => Err(HoldError::Balance),
        };
        if verdict.is_err() {
            let (balance, room) = inner.read_committed(user_id, key_id)?;
            inner.admit(user_id, key_id, balance, room, units)?;
        }
        inner.open += 1;
        inner.for_shares(user_id, key_id, |share| share.held += units);
        drop(inner);
        Ok(Hold {
            funds: self.clone(),
            user_id,
            key_id,
            amount,
            open: true,
        })
    }

    /// The writer has written `charges` in a transaction whose ledger rows are `rows` (first and
    /// last id, `None` when it charged nothing), and is about to commit it: from now until the
    /// [`Writing`] ends, admission counts them by whether its snapshot shows the last row.
    pub fn begin_write<'a>(
        &'a self,
        charges: &'a [&'a Charge],
        rows: Option<(i64, i64)>,
    ) -> Writing<'a> {
        let upto = rows.map_or(0, |(_, last)| last);
        self.lock()
            .each(charges, |share, amount| share.write(upto, amount));
        Writing {
            funds: self,
            charges,
            rows,
            committed: false,
        }
    }

    /// The writer gave up on these charges (never written): they are not owed any more.
    pub fn abandoned(&self, charges: &[&Charge]) {
        self.lock()
            .each(charges, |share, amount| share.unwritten -= amount);
    }

    /// Runs `read` (which reads an account's balance and some of its keys' use) in one snapshot,
    /// and returns with it what finished requests of that account and of those keys were charged
    /// that the snapshot does not show yet: subtract it from the balance (add it to a key's use)
    /// for the figures admission uses, so a balance read right after a response already shows its
    /// charge. The lock is held across the read, so a commit the snapshot missed is still counted
    /// from memory.
    pub fn read_settled<T>(
        &self,
        conn: &Connection,
        user_id: i64,
        read: impl FnOnce(&Connection) -> crate::error::ApiResult<T>,
        key_ids: impl FnOnce(&T) -> Vec<i64>,
    ) -> crate::error::ApiResult<(T, Pending)> {
        let inner = self.lock();
        let tx = conn
            .unchecked_transaction()
            .store("begin a read of balances")?;
        let value = read(&tx)?;
        let upto: i64 = tx
            .query_row("SELECT COALESCE(max(id), 0) FROM ledger", [], |r| r.get(0))
            .store("read the newest ledger row")?;
        tx.commit().store("end a read of balances")?;
        let pending = Pending {
            account: inner.users.get(&user_id).map_or(0, |s| s.pending(upto)),
            keys: key_ids(&value)
                .into_iter()
                .map(|k| (k, inner.keys.get(&k).map_or(0, |s| s.pending(upto))))
                .collect(),
        };
        Ok((value, pending))
    }

    /// How many times admission has read committed values from the database (the rest it took
    /// from memory).
    pub fn balance_reads(&self) -> u64 {
        self.lock().reads
    }

    /// Holds open right now (requests between admission and their end).
    pub fn open_holds(&self) -> usize {
        self.lock().open
    }
}

/// Charges not yet visible in a snapshot (see [`Funds::read_settled`]), in nano-dollars.
#[derive(Debug, Default)]
pub struct Pending {
    pub account: i64,
    pub keys: HashMap<i64, i64>,
}

impl Pending {
    /// A balance read in the snapshot, less what is pending.
    pub fn balance(&self, committed: Money) -> Money {
        Money::from_units(committed.units().saturating_sub(self.account).max(0))
    }

    /// A key's use read in the snapshot, plus what is pending on it.
    pub fn key_used(&self, key_id: i64, committed: Money) -> Money {
        let pending = self.keys.get(&key_id).copied().unwrap_or(0);
        Money::from_units(committed.units().saturating_add(pending))
    }
}

/// A transaction of charges on its way to the database (see [`Funds::begin_write`]).
pub struct Writing<'a> {
    funds: &'a Funds,
    charges: &'a [&'a Charge],
    rows: Option<(i64, i64)>,
    committed: bool,
}

impl Writing<'_> {
    fn upto(&self) -> i64 {
        self.rows.map_or(0, |(_, last)| last)
    }
}

impl Writing<'_> {
    /// The transaction committed: the database has these charges now, and the kept committed
    /// values of their accounts and keys are out of date.
    pub fn committed(mut self) {
        self.committed = true;
        let mut inner = self.funds.lock();
        for charge in self.charges {
            inner.balances.remove(&charge.user_id);
            if let Some(key_id) = charge.key_id {
                inner.rooms.remove(&key_id);
            }
        }
        if let Some(rows) = self.rows {
            inner.own_rows.push(rows);
        }
        let upto = self.upto();
        inner.each(self.charges, |share, amount| share.unwrite(upto, amount));
    }
}

impl Drop for Writing<'_> {
    /// Ended without [`Writing::committed`]: the transaction did not commit, so its charges are
    /// unwritten again (still owed, counted from memory).
    fn drop(&mut self) {
        if !self.committed {
            let upto = self.upto();
            self.funds.lock().each(self.charges, |share, amount| {
                share.unwrite(upto, amount);
                share.unwritten += amount;
            });
        }
    }
}
