//! Affiliate commission: an inviter's share of each paid top-up of an account registered with
//! their code, paid to the reward balance in the transaction that credits the top-up.
//!
//! The share is `amount × commission_percent / 100`, computed exactly in decimal and rounded
//! DOWN to the nano-dollar (a commission never pays out a fraction the top-up did not bring in).
//! It is paid on the invitee's first `commission_topups` top-ups (0: on all), counting the
//! invitee's paid orders and, with `commission_on_codes`, redeemed codes — this one included.
//! The ledger row's cause is the order (or code); a unique index on the ledger makes a second
//! commission for one cause impossible, whatever the callers do.

use std::collections::HashMap;

use rusqlite::{params, Connection, OptionalExtension};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::Serialize;

use crate::config::ReferralConfig;
use crate::db::Store;
use crate::error::{ApiError, ApiResult};
use crate::ledger::{self, money::Money, Account, Entry, Kind};

/// The top-up a commission is a share of.
#[derive(Debug, Clone, Copy)]
pub enum Topup<'a> {
    /// A paid order, by its order number.
    Order(&'a str),
    /// A redeemed code, by its id.
    Code(i64),
}

impl Topup<'_> {
    fn cause(&self) -> (&'static str, String) {
        match self {
            Topup::Order(no) => ("order", (*no).to_string()),
            Topup::Code(id) => ("code", id.to_string()),
        }
    }
}

/// Config check of the commission keys; errors name the key.
pub fn check_commission(config: &ReferralConfig) -> Result<(), (String, String)> {
    let percent = config.commission_percent.0;
    if percent > Decimal::ONE_HUNDRED {
        return Err((
            "referral.commission_percent".into(),
            "must be from \"0\" to \"100\"".into(),
        ));
    }
    if percent.normalize().scale() > 4 {
        return Err((
            "referral.commission_percent".into(),
            "may have at most 4 decimal places (\"12.5\")".into(),
        ));
    }
    Ok(())
}

/// `amount × percent / 100`, rounded down to the nano-dollar; `None` when that is nothing.
pub fn commission_of(amount: Money, percent: Decimal) -> Option<Money> {
    let share = Decimal::from(amount.units())
        .checked_mul(percent)?
        .checked_div(Decimal::ONE_HUNDRED)?
        .round_dp_with_strategy(0, RoundingStrategy::ToZero)
        .to_i64()?;
    (share > 0).then(|| Money::from_units(share))
}

/// Pays the inviter of `invitee_id` their commission on `topup` of `amount`, in the caller's
/// transaction, which has already marked that top-up done (so it is counted). Returns what was
/// paid; nothing when commission is off, the account was not invited, the top-up is past the
/// first `commission_topups`, or the share rounds to zero.
pub fn pay_commission(
    tx: &Connection,
    invitee_id: i64,
    amount: Money,
    topup: Topup,
    terms: &ReferralConfig,
    now: i64,
) -> ApiResult<Option<Money>> {
    let percent = terms.commission_percent.0;
    if !terms.enabled || percent.is_zero() || !amount.is_positive() {
        return Ok(None);
    }
    if matches!(topup, Topup::Code(_)) && !terms.commission_on_codes {
        return Ok(None);
    }
    let inviter: Option<i64> = tx
        .query_row(
            "SELECT inviter_id FROM users WHERE id = ?1",
            [invitee_id],
            |r| r.get(0),
        )
        .optional()
        .store("read the inviter")?
        .flatten();
    let Some(inviter_id) = inviter.filter(|i| *i != invitee_id) else {
        return Ok(None);
    };
    if terms.commission_topups > 0 {
        let nth = count_topups(tx, invitee_id, terms.commission_on_codes)?;
        if nth > i64::from(terms.commission_topups) {
            return Ok(None);
        }
    }
    let Some(share) = commission_of(amount, percent) else {
        return Ok(None);
    };
    let (ref_type, ref_id) = topup.cause();
    let reason = format!(
        "commission: {}% of a top-up of {amount} by account {invitee_id}",
        percent.normalize()
    );
    let entry = Entry {
        user_id: inviter_id,
        account: Account::Reward,
        kind: Kind::Commission,
        amount: share,
        reason: &reason,
        ref_type,
        ref_id: &ref_id,
        key_id: None,
    };
    ledger::post(tx, &entry, now)?
        .ok_or_else(|| ApiError::internal("a commission was refused by the balance check"))?;
    Ok(Some(share))
}

/// The invitee's top-ups that count for commission: paid orders, and redeemed codes when they
/// count too.
fn count_topups(conn: &Connection, invitee_id: i64, with_codes: bool) -> ApiResult<i64> {
    let orders: i64 = conn
        .query_row(
            "SELECT count(*) FROM orders WHERE user_id = ?1 AND status = 'paid'",
            [invitee_id],
            |r| r.get(0),
        )
        .store("count the paid orders")?;
    let codes: i64 = if with_codes {
        conn.query_row(
            "SELECT count(*) FROM redemption_codes WHERE used_by = ?1",
            [invitee_id],
            |r| r.get(0),
        )
        .store("count the redeemed codes")?
    } else {
        0
    };
    Ok(orders + codes)
}

/// Commission an inviter has earned so far (transferred or not).
pub fn find_commission_earned(conn: &Connection, inviter_id: i64) -> ApiResult<Money> {
    let units: i64 = conn
        .query_row(
            "SELECT COALESCE(sum(amount), 0) FROM ledger
         WHERE user_id = ?1 AND account = 'reward' AND kind = 'commission'",
            [inviter_id],
            |r| r.get(0),
        )
        .store("sum the commission earned")?;
    Ok(Money::from_units(units))
}

/// One account registered with an inviter's code, as the inviter sees it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Invitee {
    /// The username, shortened to its first characters: the inviter learns who joined, not
    /// the whole sign-in name.
    #[schema(example = "bo***")]
    pub username: String,
    #[schema(format = DateTime)]
    pub registered_at: String,
    /// Top-ups that count for commission: paid orders, and redeemed codes when they count.
    pub topups: i64,
    /// Commission earned on this account's top-ups.
    pub commission: Money,
}

/// What an inviter may see of a username.
fn masked(username: &str) -> String {
    let shown = if username.chars().count() > 3 { 2 } else { 1 };
    let head: String = username.chars().take(shown).collect();
    format!("{head}***")
}

/// An inviter's invitees, newest first, at most `limit`.
pub fn find_invitees(
    conn: &Connection,
    inviter_id: i64,
    with_codes: bool,
    limit: u32,
) -> ApiResult<Vec<Invitee>> {
    let mut earned: HashMap<i64, i64> = HashMap::new();
    {
        // A commission row names its cause; the cause names the account that topped up.
        let mut stmt = conn.prepare_cached(
            "SELECT COALESCE(o.user_id, c.used_by), sum(l.amount)
             FROM ledger l
             LEFT JOIN orders o ON l.ref_type = 'order' AND o.order_no = l.ref_id
             LEFT JOIN redemption_codes c ON l.ref_type = 'code' AND c.id = CAST(l.ref_id AS INTEGER)
             WHERE l.user_id = ?1 AND l.account = 'reward' AND l.kind = 'commission'
             GROUP BY 1",
        ).store("prepare the commission per invitee")?;
        let rows = stmt
            .query_map([inviter_id], |r| {
                Ok((r.get::<_, Option<i64>>(0)?, r.get::<_, i64>(1)?))
            })
            .store("list the commission per invitee")?;
        for row in rows {
            if let (Some(invitee), units) = row.store("read the commission per invitee")? {
                earned.insert(invitee, units);
            }
        }
    }
    let mut stmt = conn
        .prepare_cached(
            "SELECT u.id, u.username, u.created_at,
                (SELECT count(*) FROM orders o WHERE o.user_id = u.id AND o.status = 'paid'),
                CASE WHEN ?2 THEN (SELECT count(*) FROM redemption_codes c WHERE c.used_by = u.id)
                     ELSE 0 END
         FROM users u WHERE u.inviter_id = ?1 ORDER BY u.id DESC LIMIT ?3",
        )
        .store("prepare the list of invitees")?;
    let rows = stmt
        .query_map(params![inviter_id, with_codes, limit], |r| {
            let id: i64 = r.get(0)?;
            let username: String = r.get(1)?;
            let (orders, codes): (i64, i64) = (r.get(3)?, r.get(4)?);
            Ok(Invitee {
                username: masked(&username),
                registered_at: crate::clock::rfc3339(r.get(2)?),
                topups: orders + codes,
                commission: Money::from_units(earned.get(&id).copied().unwrap_or(0)),
            })
        })
        .store("list the invitees")?;
    Ok(rows.collect::<Result<_, _>>().store("read the invitees")?)
}

/// An account's referral figures for the admin: who invited it, how many it invited, and the
/// commission it earned.
#[derive(Debug, Clone, Default)]
pub struct AdminFigures {
    pub inviter_id: Option<i64>,
    pub invitees: i64,
    pub commission_earned: Money,
}

pub fn find_admin_figures(conn: &Connection, user_id: i64) -> ApiResult<AdminFigures> {
    let (inviter_id, invitees, earned): (Option<i64>, i64, i64) = conn
        .query_row(
            "SELECT u.inviter_id,
                (SELECT count(*) FROM users i WHERE i.inviter_id = u.id),
                (SELECT COALESCE(sum(l.amount), 0) FROM ledger l
                 WHERE l.user_id = u.id AND l.account = 'reward' AND l.kind = 'commission')
         FROM users u WHERE u.id = ?1",
            [user_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .store("read the referral figures")?;
    Ok(AdminFigures {
        inviter_id,
        invitees,
        commission_earned: Money::from_units(earned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pct(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    #[test]
    fn shares_round_down_to_the_nano_dollar() {
        let m = |t: &str| Money::parse(t).unwrap();
        assert_eq!(commission_of(m("10"), pct("10")), Some(m("1")));
        // 0.000000019 × 10 % = 0.0000000019 → 0.000000001
        assert_eq!(
            commission_of(m("0.000000019"), pct("10")),
            Some(m("0.000000001"))
        );
        assert_eq!(commission_of(m("0.000000009"), pct("10")), None);
        // 10.01 × 33.3333 % = 3.33666333 exactly; 0.123456789 × 12.5 % = 0.015432098625 → down
        assert_eq!(
            commission_of(m("10.01"), pct("33.3333")),
            Some(m("3.33666333"))
        );
        assert_eq!(
            commission_of(m("0.123456789"), pct("12.5")),
            Some(m("0.015432098"))
        );
        assert_eq!(commission_of(m("10"), pct("0")), None);
        assert_eq!(commission_of(m("10"), pct("100")), Some(m("10")));
    }

    #[test]
    fn usernames_are_shortened_for_the_inviter() {
        assert_eq!(masked("bobby"), "bo***");
        assert_eq!(masked("bob"), "b***");
        assert_eq!(masked("李小龙四"), "李小***");
    }
}
