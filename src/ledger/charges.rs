//! Writing requests' charges: one `settle` ledger row per charged request, and per transaction
//! one balance update per account and one `used` update per key, however many requests share it.

use std::collections::HashMap;

use rusqlite::{params, Connection, OptionalExtension};

use super::money::Money;
use super::{append_ledger_row, Account, Entry, Kind};
use crate::db::{Store, StoreError};

/// The first and last id of ledger rows written together.
pub type RowRange = (i64, i64);

/// One request's charge to write.
pub struct ChargeLine<'a> {
    pub user_id: i64,
    pub key_id: Option<i64>,
    pub cost: Money,
    pub request_id: &'a str,
    /// When the request ended (Unix seconds).
    pub now: i64,
}

/// What a charge came to. `uncollected` is the part of the cost that the balance or the key's
/// limit could not cover (money taken out meanwhile, or a limit lowered, after the request was
/// admitted); a balance is never taken below zero nor a key past its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settlement {
    pub charged: Money,
    pub uncollected: Money,
}

/// Writes `lines` in order inside the caller's transaction. Returns each line's settlement, and
/// the ids of the first and last ledger rows written (`None` when nothing was charged); in one
/// write transaction they are consecutive.
pub fn write_charges(
    conn: &Connection,
    lines: &[ChargeLine],
) -> Result<(Vec<Settlement>, Option<RowRange>), StoreError> {
    // Current figures, read once per account and key, then carried forward in memory.
    let mut balances: HashMap<i64, i64> = HashMap::new();
    // Per key: room left under its limit (None without a limit), amount added to `used`, and
    // when it was last used.
    let mut keys: HashMap<i64, (Option<i64>, i64, i64)> = HashMap::new();
    let mut settlements = Vec::with_capacity(lines.len());
    let mut rows: Option<RowRange> = None;
    for line in lines {
        let cost = line.cost.units().max(0);
        let balance = match balances.get(&line.user_id) {
            Some(b) => *b,
            // An account that is not there cannot be charged, now or later.
            None => conn
                .prepare_cached("SELECT balance FROM users WHERE id = ?1")
                .and_then(|mut s| s.query_row([line.user_id], |r| r.get(0)))
                .store("read the balance of the account to charge")?,
        };
        let room = match line.key_id {
            Some(key_id) => match keys.get(&key_id) {
                Some((room, _, _)) => *room,
                None => {
                    let room: Option<i64> = conn
                        .prepare_cached("SELECT spend_limit - used FROM api_keys WHERE id = ?1")
                        .and_then(|mut s| s.query_row([key_id], |r| r.get(0)).optional())
                        .store("read the room under the key's limit")?
                        .flatten();
                    keys.insert(key_id, (room, 0, line.now));
                    room
                }
            },
            None => None,
        };
        let take = cost.min(balance).min(room.unwrap_or(i64::MAX)).max(0);
        let uncollected = cost - take;
        let after = balance - take;
        balances.insert(line.user_id, after);
        if let Some(key_id) = line.key_id {
            if let Some((room, used, at)) = keys.get_mut(&key_id) {
                *room = room.map(|r| r - take);
                *used += take;
                *at = (*at).max(line.now);
            }
        }
        if take > 0 {
            let reason = if uncollected > 0 {
                format!(
                    "cost {}; {} could not be collected",
                    Money::from_units(cost),
                    Money::from_units(uncollected)
                )
            } else {
                format!("cost {}", Money::from_units(cost))
            };
            let entry = Entry {
                user_id: line.user_id,
                account: Account::Balance,
                kind: Kind::Settle,
                amount: Money::from_units(-take),
                reason: &reason,
                ref_type: "request",
                ref_id: line.request_id,
                key_id: line.key_id,
            };
            append_ledger_row(conn, &entry, Money::from_units(after), line.now)?;
            let id = conn.last_insert_rowid();
            rows = Some((rows.map_or(id, |(first, _)| first), id));
        }
        if uncollected > 0 {
            tracing::warn!(
                request_id = line.request_id,
                uncollected,
                "part of a request's cost could not be collected"
            );
        }
        settlements.push(Settlement {
            charged: Money::from_units(take),
            uncollected: Money::from_units(uncollected),
        });
    }
    for (user_id, balance) in balances {
        conn.prepare_cached("UPDATE users SET balance = ?1 WHERE id = ?2")
            .and_then(|mut s| s.execute(params![balance, user_id]))
            .store("update a charged balance")?;
    }
    for (key_id, (_, used, at)) in keys {
        conn.prepare_cached(
            "UPDATE api_keys SET used = used + ?1, last_used_at = ?2 WHERE id = ?3",
        )
        .and_then(|mut s| s.execute(params![used, at, key_id]))
        .store("update a charged key's use")?;
    }
    Ok((settlements, rows))
}
