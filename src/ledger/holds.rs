//! Pre-holds: reserve a request's worst-case cost from the balance and the key's limit in one
//! transaction, then settle to the exact cost or release in full. The conditional UPDATEs make
//! concurrent holds unable to take either below zero, whatever their interleaving.

use rusqlite::{params, Connection, OptionalExtension};

use super::money::Money;
use super::{append_ledger_row, change_balance, post, Account, Entry, Kind};
use crate::db;
use crate::error::{ApiError, ApiResult};

pub struct HoldRequest<'a> {
    pub user_id: i64,
    pub key_id: Option<i64>,
    pub amount: Money,
    pub request_id: &'a str,
}

/// The error code of ending a hold that is not open (already ended): a refusal, nothing written.
pub const HOLD_NOT_OPEN: &str = "hold_not_open";

/// An open hold and what it reserved; ending it needs nothing more from the database.
#[derive(Debug, Clone)]
pub struct Held {
    pub id: i64,
    pub user_id: i64,
    pub key_id: Option<i64>,
    pub amount: Money,
    pub request_id: String,
}

#[derive(Debug)]
pub enum HoldError {
    /// The account balance is smaller than the hold.
    Balance,
    /// The key's spending limit has less room than the hold.
    KeyLimit,
    Failed(ApiError),
}

impl From<ApiError> for HoldError {
    fn from(e: ApiError) -> Self {
        HoldError::Failed(e)
    }
}

impl From<rusqlite::Error> for HoldError {
    fn from(e: rusqlite::Error) -> Self {
        HoldError::Failed(e.into())
    }
}

/// Takes a hold inside the caller's transaction. A refusal (`KeyLimit`, `Balance`) leaves the
/// database as it was, so many holds can share one transaction without savepoints: the key's
/// limit is reserved first (a conditional update; when both are short the key's own limit is
/// the answer), and given back at once if the balance then refuses. Any other error means the
/// caller must roll back.
pub fn hold_in(conn: &Connection, req: &HoldRequest, now: i64) -> Result<Held, HoldError> {
    if !req.amount.is_positive() {
        return Err(HoldError::Failed(ApiError::internal(
            "a hold must be positive",
        )));
    }
    let units = req.amount.units();
    if let Some(key_id) = req.key_id {
        let reserved = conn
            .prepare_cached(
                "UPDATE api_keys SET used = used + ?1
                 WHERE id = ?2 AND (spend_limit IS NULL OR used + ?1 <= spend_limit)",
            )?
            .execute(params![units, key_id])?;
        if reserved == 0 {
            return Err(HoldError::KeyLimit);
        }
    }
    let Some(after) = change_balance(conn, req.user_id, Account::Balance, -req.amount)? else {
        if let Some(key_id) = req.key_id {
            conn.prepare_cached("UPDATE api_keys SET used = used - ?1 WHERE id = ?2")?
                .execute(params![units, key_id])?;
        }
        return Err(HoldError::Balance);
    };
    conn.prepare_cached(
        "INSERT INTO holds (user_id, key_id, amount, request_id, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![req.user_id, req.key_id, units, req.request_id, now])?;
    let held = Held {
        id: conn.last_insert_rowid(),
        user_id: req.user_id,
        key_id: req.key_id,
        amount: req.amount,
        request_id: req.request_id.to_string(),
    };
    let entry = Entry {
        user_id: req.user_id,
        account: Account::Balance,
        kind: Kind::Hold,
        amount: -req.amount,
        reason: "hold for a request",
        ref_type: "request",
        ref_id: req.request_id,
        key_id: req.key_id,
        hold_id: Some(held.id),
    };
    append_ledger_row(conn, &entry, after, now)?;
    Ok(held)
}

/// Takes a hold in its own `IMMEDIATE` transaction.
pub fn hold(conn: &mut Connection, req: &HoldRequest, now: i64) -> Result<Held, HoldError> {
    let tx = db::immediate(conn)?;
    let held = hold_in(&tx, req, now)?;
    tx.commit()?;
    Ok(held)
}

/// An open hold by id, for callers that kept only the id.
pub fn find_open_hold(conn: &Connection, hold_id: i64) -> ApiResult<Held> {
    conn.query_row(
        "SELECT id, user_id, key_id, amount, request_id FROM holds WHERE id = ?1 AND state = 'open'",
        [hold_id],
        |r| {
            Ok(Held {
                id: r.get(0)?,
                user_id: r.get(1)?,
                key_id: r.get(2)?,
                amount: Money::from_units(r.get(3)?),
                request_id: r.get(4)?,
            })
        },
    )
    .optional()?
    .ok_or_else(|| ApiError::internal(format!("hold {hold_id} is not open")))
}

/// Marks the hold ended; fails (so the caller rolls back) if it was not open.
fn close_hold(conn: &Connection, held: &Held, state: &str, cost: i64, now: i64) -> ApiResult<()> {
    let closed = conn
        .prepare_cached(
            "UPDATE holds SET state = ?1, cost = ?2, closed_at = ?3 WHERE id = ?4 AND state = 'open'",
        )?
        .execute(params![state, cost, now, held.id])?;
    if closed == 0 {
        let mut e = ApiError::internal(format!("hold {} is not open", held.id));
        e.code = HOLD_NOT_OPEN;
        return Err(e);
    }
    Ok(())
}

/// What a settled hold charged. `uncollected` is the part of a cost above the hold that the
/// balance or the key's limit could not cover (the hold underestimated; never taken below zero).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settlement {
    pub charged: Money,
    pub uncollected: Money,
}

/// Ends a hold by charging `cost`: the unused part goes back, inside the caller's transaction.
/// Its first write is the check that the hold is open; nothing after it can be refused.
pub fn settle_in(conn: &Connection, held: &Held, cost: Money, now: i64) -> ApiResult<Settlement> {
    let amount = held.amount.units();
    let cost = cost.units().max(0);
    let mut charged = cost;
    let mut uncollected = 0;
    // Positive: returned to the balance; negative: taken on top of the hold.
    let mut change = amount - cost;
    if change < 0 {
        let balance: i64 = conn.query_row(
            "SELECT balance FROM users WHERE id = ?1",
            [held.user_id],
            |r| r.get(0),
        )?;
        let key_room: Option<i64> = match held.key_id {
            Some(key_id) => conn
                .query_row(
                    "SELECT spend_limit - used FROM api_keys WHERE id = ?1",
                    [key_id],
                    |r| r.get::<_, Option<i64>>(0),
                )
                .optional()?
                .flatten(),
            None => None,
        };
        let extra = -change;
        let take = extra.min(balance).min(key_room.unwrap_or(i64::MAX)).max(0);
        uncollected = extra - take;
        charged = amount + take;
        change = -take;
    }
    close_hold(conn, held, "settled", charged, now)?;
    if let Some(key_id) = held.key_id {
        conn.prepare_cached(
            "UPDATE api_keys SET used = used - ?1, last_used_at = ?2 WHERE id = ?3",
        )?
        .execute(params![change, now, key_id])?;
    }
    let reason = if uncollected > 0 {
        format!(
            "cost {}; {} above the hold could not be collected",
            Money::from_units(cost),
            Money::from_units(uncollected)
        )
    } else {
        format!("cost {}", Money::from_units(cost))
    };
    let entry = Entry {
        user_id: held.user_id,
        account: Account::Balance,
        kind: Kind::Settle,
        amount: Money::from_units(change),
        reason: &reason,
        ref_type: "request",
        ref_id: &held.request_id,
        key_id: held.key_id,
        hold_id: Some(held.id),
    };
    post(conn, &entry, now)?.ok_or_else(|| {
        ApiError::internal(format!("settling hold {} overdrew the balance", held.id))
    })?;
    if uncollected > 0 {
        tracing::warn!(
            hold_id = held.id,
            uncollected,
            "cost above the hold could not be collected"
        );
    }
    Ok(Settlement {
        charged: Money::from_units(charged),
        uncollected: Money::from_units(uncollected),
    })
}

pub fn settle(conn: &mut Connection, held: &Held, cost: Money, now: i64) -> ApiResult<Settlement> {
    let tx = db::immediate(conn)?;
    let s = settle_in(&tx, held, cost, now)?;
    tx.commit()?;
    Ok(s)
}

/// Ends a hold without charging anything, inside the caller's transaction. Its first write is
/// the check that the hold is open; nothing after it can be refused.
pub fn release_in(conn: &Connection, held: &Held, reason: &str, now: i64) -> ApiResult<()> {
    close_hold(conn, held, "released", 0, now)?;
    if let Some(key_id) = held.key_id {
        conn.prepare_cached("UPDATE api_keys SET used = used - ?1 WHERE id = ?2")?
            .execute(params![held.amount.units(), key_id])?;
    }
    let entry = Entry {
        user_id: held.user_id,
        account: Account::Balance,
        kind: Kind::Release,
        amount: held.amount,
        reason,
        ref_type: "request",
        ref_id: &held.request_id,
        key_id: held.key_id,
        hold_id: Some(held.id),
    };
    post(conn, &entry, now)?
        .ok_or_else(|| ApiError::internal(format!("releasing hold {} failed", held.id)))?;
    Ok(())
}

pub fn release(conn: &mut Connection, held: &Held, reason: &str, now: i64) -> ApiResult<()> {
    let tx = db::immediate(conn)?;
    release_in(&tx, held, reason, now)?;
    tx.commit()?;
    Ok(())
}

/// Releases every hold still open, one transaction in all: at start-up, these belong to
/// requests that a crash or kill cut off, and nothing will settle them.
pub fn release_open_holds(conn: &mut Connection, reason: &str, now: i64) -> ApiResult<usize> {
    let tx = db::immediate(conn)?;
    let ids: Vec<i64> = {
        let mut stmt = tx.prepare("SELECT id FROM holds WHERE state = 'open' ORDER BY id")?;
        let ids = stmt.query_map([], |r| r.get(0))?;
        ids.collect::<Result<_, _>>()?
    };
    for id in &ids {
        let held = find_open_hold(&tx, *id)?;
        release_in(&tx, &held, reason, now)?;
    }
    tx.commit()?;
    Ok(ids.len())
}

pub fn count_open_holds(conn: &Connection) -> ApiResult<i64> {
    Ok(
        conn.query_row("SELECT count(*) FROM holds WHERE state = 'open'", [], |r| {
            r.get(0)
        })?,
    )
}
