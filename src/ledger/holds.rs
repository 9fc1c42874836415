//! Pre-holds: reserve a request's worst-case cost from the balance and the key's limit in one
//! transaction, then settle to the exact cost or release in full. The conditional UPDATEs make
//! concurrent holds unable to take either below zero, whatever their interleaving.

use rusqlite::{params, Connection, OptionalExtension};

use super::money::Money;
use super::{post, Account, Entry, Kind};
use crate::db;
use crate::error::{ApiError, ApiResult};

pub struct HoldRequest<'a> {
    pub user_id: i64,
    pub key_id: Option<i64>,
    pub amount: Money,
    pub request_id: &'a str,
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

/// Takes a hold inside the caller's transaction; on `Err` the caller must roll back.
pub fn hold_in(conn: &Connection, req: &HoldRequest, now: i64) -> Result<i64, HoldError> {
    if !req.amount.is_positive() {
        return Err(HoldError::Failed(ApiError::internal(
            "a hold must be positive",
        )));
    }
    let units = req.amount.units();
    if let Some(key_id) = req.key_id {
        let reserved = conn.execute(
            "UPDATE api_keys SET used = used + ?1
             WHERE id = ?2 AND (spend_limit IS NULL OR used + ?1 <= spend_limit)",
            params![units, key_id],
        )?;
        if reserved == 0 {
            return Err(HoldError::KeyLimit);
        }
    }
    conn.execute(
        "INSERT INTO holds (user_id, key_id, amount, request_id, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![req.user_id, req.key_id, units, req.request_id, now],
    )?;
    let hold_id = conn.last_insert_rowid();
    let reason = format!("hold for request {}", req.request_id);
    let entry = Entry {
        user_id: req.user_id,
        account: Account::Balance,
        kind: Kind::Hold,
        amount: -req.amount,
        reason: &reason,
        ref_type: "request",
        ref_id: req.request_id,
        key_id: req.key_id,
        hold_id: Some(hold_id),
    };
    match post(conn, &entry, now)? {
        Some(_) => Ok(hold_id),
        None => Err(HoldError::Balance),
    }
}

/// Takes a hold in its own `IMMEDIATE` transaction.
pub fn hold(conn: &mut Connection, req: &HoldRequest, now: i64) -> Result<i64, HoldError> {
    let tx = db::immediate(conn)?;
    let id = hold_in(&tx, req, now)?;
    tx.commit()?;
    Ok(id)
}

struct OpenHold {
    user_id: i64,
    key_id: Option<i64>,
    amount: i64,
    request_id: String,
}

fn find_open_hold(conn: &Connection, hold_id: i64) -> ApiResult<OpenHold> {
    conn.query_row(
        "SELECT user_id, key_id, amount, request_id FROM holds WHERE id = ?1 AND state = 'open'",
        [hold_id],
        |r| {
            Ok(OpenHold {
                user_id: r.get(0)?,
                key_id: r.get(1)?,
                amount: r.get(2)?,
                request_id: r.get(3)?,
            })
        },
    )
    .optional()?
    .ok_or_else(|| ApiError::internal(format!("hold {hold_id} is not open")))
}

/// What a settled hold charged. `uncollected` is the part of a cost above the hold that the
/// balance or the key's limit could not cover (the hold underestimated; never taken below zero).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settlement {
    pub charged: Money,
    pub uncollected: Money,
}

/// Ends a hold by charging `cost`: the unused part goes back, inside the caller's transaction.
pub fn settle_in(conn: &Connection, hold_id: i64, cost: Money, now: i64) -> ApiResult<Settlement> {
    let hold = find_open_hold(conn, hold_id)?;
    let cost = cost.units().max(0);
    let mut charged = cost;
    let mut uncollected = 0;
    // Positive: returned to the balance; negative: taken on top of the hold.
    let mut change = hold.amount - cost;
    if change < 0 {
        let balance: i64 = conn.query_row(
            "SELECT balance FROM users WHERE id = ?1",
            [hold.user_id],
            |r| r.get(0),
        )?;
        let key_room: Option<i64> = match hold.key_id {
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
        charged = hold.amount + take;
        change = -take;
    }
    if let Some(key_id) = hold.key_id {
        conn.execute(
            "UPDATE api_keys SET used = used - ?1 WHERE id = ?2",
            params![change, key_id],
        )?;
    }
    let reason = if uncollected > 0 {
        format!(
            "request {} cost {}; {} above the hold could not be collected",
            hold.request_id,
            Money::from_units(cost),
            Money::from_units(uncollected)
        )
    } else {
        format!(
            "request {} cost {}",
            hold.request_id,
            Money::from_units(cost)
        )
    };
    let entry = Entry {
        user_id: hold.user_id,
        account: Account::Balance,
        kind: Kind::Settle,
        amount: Money::from_units(change),
        reason: &reason,
        ref_type: "request",
        ref_id: &hold.request_id,
        key_id: hold.key_id,
        hold_id: Some(hold_id),
    };
    post(conn, &entry, now)?.ok_or_else(|| {
        ApiError::internal(format!("settling hold {hold_id} overdrew the balance"))
    })?;
    conn.execute(
        "UPDATE holds SET state = 'settled', cost = ?1, closed_at = ?2 WHERE id = ?3",
        params![charged, now, hold_id],
    )?;
    if uncollected > 0 {
        tracing::warn!(
            hold_id,
            uncollected,
            "cost above the hold could not be collected"
        );
    }
    Ok(Settlement {
        charged: Money::from_units(charged),
        uncollected: Money::from_units(uncollected),
    })
}

pub fn settle(conn: &mut Connection, hold_id: i64, cost: Money, now: i64) -> ApiResult<Settlement> {
    let tx = db::immediate(conn)?;
    let s = settle_in(&tx, hold_id, cost, now)?;
    tx.commit()?;
    Ok(s)
}

/// Ends a hold without charging anything, inside the caller's transaction.
pub fn release_in(conn: &Connection, hold_id: i64, reason: &str, now: i64) -> ApiResult<()> {
    let hold = find_open_hold(conn, hold_id)?;
    if let Some(key_id) = hold.key_id {
        conn.execute(
            "UPDATE api_keys SET used = used - ?1 WHERE id = ?2",
            params![hold.amount, key_id],
        )?;
    }
    let entry = Entry {
        user_id: hold.user_id,
        account: Account::Balance,
        kind: Kind::Release,
        amount: Money::from_units(hold.amount),
        reason,
        ref_type: "request",
        ref_id: &hold.request_id,
        key_id: hold.key_id,
        hold_id: Some(hold_id),
    };
    post(conn, &entry, now)?
        .ok_or_else(|| ApiError::internal(format!("releasing hold {hold_id} failed")))?;
    conn.execute(
        "UPDATE holds SET state = 'released', cost = 0, closed_at = ?1 WHERE id = ?2",
        params![now, hold_id],
    )?;
    Ok(())
}

pub fn release(conn: &mut Connection, hold_id: i64, reason: &str, now: i64) -> ApiResult<()> {
    let tx = db::immediate(conn)?;
    release_in(&tx, hold_id, reason, now)?;
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
        release_in(&tx, *id, reason, now)?;
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
