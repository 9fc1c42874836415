//! Money: the money type, the append-only ledger, balances, in-flight funds, the request writer,
//! and the audit that proves them. Every change of a balance is one ledger row, written in the
//! same transaction as the balance: [`post`] for one change (top-ups, codes, rewards, transfers,
//! adjustments), and `charges::write_charges` for requests' charges, which the request writer
//! (`writer`) group-commits with their log rows.

pub mod audit;
pub mod charges;
pub mod funds;
pub mod handlers;
pub mod history;
pub mod low_balance;
pub mod money;
pub mod writer;

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use crate::db::{self, Store, StoreError};
use crate::error::{ApiError, ApiResult};
use money::Money;

/// Which of an account's two balances a row moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Account {
    Balance,
    Reward,
}

impl Account {
    pub fn as_str(self) -> &'static str {
        match self {
            Account::Balance => "balance",
            Account::Reward => "reward",
        }
    }
}

/// Why a balance changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Topup,
    Redeem,
    Settle,
    Refund,
    ReferralReward,
    /// An inviter's share of an invitee's paid top-up (or redeemed code), to the reward balance.
    Commission,
    Transfer,
    Adjust,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Topup => "topup",
            Kind::Redeem => "redeem",
            Kind::Settle => "settle",
            Kind::Refund => "refund",
            Kind::ReferralReward => "referral_reward",
            Kind::Commission => "commission",
            Kind::Transfer => "transfer",
            Kind::Adjust => "adjust",
        }
    }
}

/// One balance change and what caused it.
pub struct Entry<'a> {
    pub user_id: i64,
    pub account: Account,
    pub kind: Kind,
    pub amount: Money,
    pub reason: &'a str,
    /// What caused it: `request`, `code`, `order`, `user`, `admin`.
    pub ref_type: &'a str,
    pub ref_id: &'a str,
    pub key_id: Option<i64>,
}

/// The largest balance an account may hold, in either of its balances: $1,000,000,000, the
/// same as [`Money::MAX_AMOUNT`]. A credit that would pass it is refused with
/// [`balance_limit`]; debits are never refused by it.
pub const MAX_BALANCE: Money = Money::MAX_AMOUNT;

/// The 400 for a credit that would take a balance past [`MAX_BALANCE`].
pub fn balance_limit(account: Account) -> ApiError {
    let which = match account {
        Account::Balance => "balance",
        Account::Reward => "reward balance",
    };
    ApiError::bad_request(
        "balance_limit",
        format!(
            "that would take the {which} past the largest an account may hold, {}",
            MAX_BALANCE.whole()
        ),
    )
}

/// Whether crediting `amount` leaves the balance within [`MAX_BALANCE`]; checked arithmetic, so
/// a stored balance already near the top of an i64 answers `false` rather than overflowing.
pub fn fits(balance: Money, amount: Money) -> bool {
    !amount.is_positive()
        || balance
            .checked_add(amount)
            .is_some_and(|b| b <= MAX_BALANCE)
}

/// Whether crediting `amount` to the user's `account` leaves it within [`MAX_BALANCE`].
pub fn has_room(
    conn: &Connection,
    user_id: i64,
    account: Account,
    amount: Money,
) -> ApiResult<bool> {
    let sql = match account {
        Account::Balance => "SELECT balance FROM users WHERE id = ?1",
        Account::Reward => "SELECT reward_balance FROM users WHERE id = ?1",
    };
    let balance: i64 = conn
        .prepare_cached(sql)
        .store("prepare the balance read")?
        .query_row([user_id], |r| r.get(0))
        .optional()
        .store("read the balance")?
        .ok_or_else(|| ApiError::not_found("user_not_found", "no such user"))?;
    Ok(fits(Money::from_units(balance), amount))
}

/// Applies `entry` to the account's balance and appends its ledger row, inside the caller's
/// transaction. Returns the balance after, or `None` (and changes nothing) when the change would
/// take the balance below zero. An unknown user is an error, and so is a credit past
/// [`MAX_BALANCE`] ([`balance_limit`]).
pub fn post(conn: &Connection, entry: &Entry, now: i64) -> ApiResult<Option<Money>> {
    let Some(after) = change_balance(conn, entry.user_id, entry.account, entry.amount)? else {
        return Ok(None);
    };
    append_ledger_row(conn, entry, after, now)?;
    Ok(Some(after))
}

/// The balance half of [`post`]: moves a balance by `amount` unless that takes it below zero
/// (`None`, nothing changed), or a credit past [`MAX_BALANCE`] (an error, nothing changed). The
/// caller must append the ledger row in the same transaction.
pub fn change_balance(
    conn: &Connection,
    user_id: i64,
    account: Account,
    amount: Money,
) -> ApiResult<Option<Money>> {
    // Static statements, so the connection's statement cache serves the hot path. The upper
    // bound holds for credits only: a debit from a balance stored past it (before the limit
    // existed) must still go through. Amounts are within MAX_AMOUNT, so `balance + ?1` of a
    // balance within MAX_BALANCE cannot overflow SQLite's integers into a REAL.
    let update = match account {
        Account::Balance => {
            "UPDATE users SET balance = balance + ?1 WHERE id = ?2 AND balance + ?1 >= 0
             AND (?1 <= 0 OR balance + ?1 <= ?3) RETURNING balance"
        }
        Account::Reward => {
            "UPDATE users SET reward_balance = reward_balance + ?1 WHERE id = ?2 AND reward_balance + ?1 >= 0
             AND (?1 <= 0 OR reward_balance + ?1 <= ?3) RETURNING reward_balance"
        }
    };
    let after: Option<i64> = conn
        .prepare_cached(update)
        .store("prepare the balance change")?
        .query_row(params![amount.units(), user_id, MAX_BALANCE.units()], |r| {
            r.get(0)
        })
        .optional()
        .store("update the balance")?;
    match after {
        Some(after) => Ok(Some(Money::from_units(after))),
        None if amount.is_positive() => {
            if has_room(conn, user_id, account, amount)? {
                Err(ApiError::internal("a credit within the limit was refused"))
            } else {
                Err(balance_limit(account))
            }
        }
        None => {
            let exists: bool = conn
                .query_row(
                    "SELECT EXISTS (SELECT 1 FROM users WHERE id = ?1)",
                    [user_id],
                    |r| r.get(0),
                )
                .store("check the account exists")?;
            if exists {
                Ok(None)
            } else {
                Err(ApiError::not_found("user_not_found", "no such user"))
            }
        }
    }
}

/// The ledger half of [`post`]: the row for a change already applied, with the balance after it.
pub fn append_ledger_row(
    conn: &Connection,
    entry: &Entry,
    after: Money,
    now: i64,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO ledger (user_id, account, kind, amount, balance_after, reason, ref_type, ref_id,
                             key_id, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )
    .and_then(|mut s| {
        s.execute(params![
        entry.user_id,
        entry.account.as_str(),
        entry.kind.as_str(),
        entry.amount.units(),
        after.units(),
        entry.reason,
        entry.ref_type,
        entry.ref_id,
            entry.key_id,
            now
        ])
    })
    .store("append a ledger row")?;
    Ok(())
}

/// An operator's credit (positive) or debit (negative) of a main balance, with its reason.
/// `by` names who did it (an admin's username, or `cli`).
pub fn adjust(
    conn: &mut Connection,
    user_id: i64,
    amount: Money,
    reason: &str,
    by: &str,
    now: i64,
) -> ApiResult<Money> {
    if amount == Money::ZERO {
        return Err(ApiError::bad_request(
            "invalid_amount",
            "amount must not be zero",
        ));
    }
    if reason.trim().is_empty() {
        return Err(ApiError::bad_request(
            "invalid_reason",
            "give a reason for the adjustment",
        ));
    }
    let tx = db::immediate(conn)?;
    let entry = Entry {
        user_id,
        account: Account::Balance,
        kind: Kind::Adjust,
        amount,
        reason: reason.trim(),
        ref_type: "admin",
        ref_id: by,
        key_id: None,
    };
    let Some(after) = post(&tx, &entry, now)? else {
        return Err(ApiError::bad_request(
            "insufficient_balance",
            "that debit would take the balance below zero",
        ));
    };
    tx.commit().store("commit the adjustment")?;
    Ok(after)
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LedgerRow {
    pub id: i64,
    /// Which balance the row moves: `balance` or `reward`.
    #[schema(example = "balance")]
    pub account: String,
    /// Why: `topup`, `redeem`, `settle` (a request's charge), `refund`, `referral_reward`,
    /// `commission` (a share of an invitee's top-up), `transfer` or `adjust` (`hold` and `release` appear only in files kept from versions that
    /// wrote holds to the database).
    #[schema(example = "settle")]
    pub kind: String,
    pub amount: Money,
    pub balance_after: Money,
    pub reason: String,
    pub ref_type: String,
    pub ref_id: String,
    #[schema(required = true)]
    pub key_id: Option<i64>,
    #[schema(format = DateTime)]
    pub created_at: String,
}

/// A user's ledger rows, newest first, strictly older than `before_id` when given.
pub fn find_ledger_rows_of_user(
    conn: &Connection,
    user_id: i64,
    before_id: Option<i64>,
    limit: u32,
) -> ApiResult<Vec<LedgerRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, account, kind, amount, balance_after, reason, ref_type, ref_id, key_id, created_at
         FROM ledger WHERE user_id = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3",
    ).store("prepare the ledger rows")?;
    let rows = stmt
        .query_map(
            params![user_id, before_id.unwrap_or(i64::MAX), limit],
            |r| {
                Ok(LedgerRow {
                    id: r.get(0)?,
                    account: r.get(1)?,
                    kind: r.get(2)?,
                    amount: Money::from_units(r.get(3)?),
                    balance_after: Money::from_units(r.get(4)?),
                    reason: r.get(5)?,
                    ref_type: r.get(6)?,
                    ref_id: r.get(7)?,
                    key_id: r.get(8)?,
                    created_at: crate::clock::rfc3339(r.get(9)?),
                })
            },
        )
        .store("list the ledger rows")?;
    Ok(rows
        .collect::<Result<_, _>>()
        .store("read the ledger rows")?)
}

/// The user id for a username, for the command line.
pub fn find_user_id_by_username(conn: &Connection, username: &str) -> ApiResult<i64> {
    conn.query_row(
        "SELECT id FROM users WHERE username = ?1",
        [username],
        |r| r.get(0),
    )
    .optional()
    .store("find the user by name")?
    .ok_or_else(|| ApiError::not_found("user_not_found", format!("no user named {username}")))
}
