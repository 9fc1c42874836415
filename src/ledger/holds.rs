//! Holds written by earlier versions, which reserved a request's worst-case cost in the database
//! (`holds` table, `hold` ledger rows) before its upstream call. Reservations now live in memory
//! (see `funds`); a file an earlier version left with open holds gets them released at start-up,
//! and the audit still checks every hold against its ledger rows.

use rusqlite::{params, Connection, OptionalExtension};

use super::money::Money;
use super::{post, Account, Entry, Kind};
use crate::db;
use crate::error::{ApiError, ApiResult};

/// An open hold and what it reserved.
struct Held {
    id: i64,
    user_id: i64,
    key_id: Option<i64>,
    amount: Money,
    request_id: String,
}

fn find_open_hold(conn: &Connection, hold_id: i64) -> ApiResult<Held> {
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
        return Err(ApiError::internal(format!("hold {} is not open", held.id)));
    }
    Ok(())
}

/// Ends a hold without charging anything, inside the caller's transaction. Its first write is
/// the check that the hold is open; nothing after it can be refused.
fn release_in(conn: &Connection, held: &Held, reason: &str, now: i64) -> ApiResult<()> {
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
