//! `code-router audit`: re-derives every balance, key limit and hold from the ledger alone, names
//! each account where the stored figures disagree, and each request charged more than once.

use std::collections::HashMap;

use rusqlite::Connection;

use super::money::Money;
use crate::error::ApiResult;

#[derive(Debug, Default)]
pub struct AuditReport {
    pub accounts: usize,
    pub ledger_rows: usize,
    pub keys: usize,
    pub open_holds: usize,
    pub problems: Vec<String>,
}

impl AuditReport {
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

fn usd(units: i64) -> String {
    Money::from_units(units).to_string()
}

/// Runs in one read transaction, so a server writing meanwhile cannot cause a false alarm.
pub fn audit(conn: &mut Connection) -> ApiResult<AuditReport> {
    let tx = conn.transaction()?;
    let mut report = AuditReport::default();

    // 1. Each account's rows: the running sum must match every row's balance_after.
    let mut sums: HashMap<(i64, String), i64> = HashMap::new();
    {
        let mut stmt = tx.prepare(
            "SELECT id, user_id, account, amount, balance_after FROM ledger ORDER BY user_id, account, id",
        )?;
        let mut rows = stmt.query([])?;
        let mut broken: HashMap<(i64, String), ()> = HashMap::new();
        while let Some(r) = rows.next()? {
            let (id, user_id, account): (i64, i64, String) = (r.get(0)?, r.get(1)?, r.get(2)?);
            let (amount, after): (i64, i64) = (r.get(3)?, r.get(4)?);
            report.ledger_rows += 1;
            let key = (user_id, account.clone());
            let sum = sums.entry(key.clone()).or_insert(0);
            *sum += amount;
            if *sum != after && broken.insert(key, ()).is_none() {
                report.problems.push(format!(
                    "user {user_id}: ledger row {id} says {account} after is {} but the rows up to it sum to {}",
                    usd(after),
                    usd(*sum)
                ));
            }
        }
    }

    // 2. Stored balances against the ledger.
    {
        let mut stmt =
            tx.prepare("SELECT id, username, balance, reward_balance FROM users ORDER BY id")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let (id, name): (i64, String) = (r.get(0)?, r.get(1)?);
            report.accounts += 1;
            for (account, stored) in [("balance", r.get::<_, i64>(2)?), ("reward", r.get(3)?)] {
                let derived = sums.get(&(id, account.to_string())).copied().unwrap_or(0);
                if derived != stored {
                    report.problems.push(format!(
                        "user {id} ({name}): {account} is {} but the ledger sums to {}",
                        usd(stored),
                        usd(derived)
                    ));
                }
            }
        }
    }

    // 3. Each key's used amount: what its holds, settlements and releases add up to.
    {
        let mut stmt = tx.prepare(
            "SELECT k.id, k.name, u.username, k.used,
                    COALESCE((SELECT -sum(l.amount) FROM ledger l
                              WHERE l.key_id = k.id AND l.kind IN ('hold', 'settle', 'release')), 0)
             FROM api_keys k JOIN users u ON u.id = k.user_id ORDER BY k.id",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            report.keys += 1;
            let (id, name, owner): (i64, String, String) = (r.get(0)?, r.get(1)?, r.get(2)?);
            let (used, derived): (i64, i64) = (r.get(3)?, r.get(4)?);
            if used != derived {
                report.problems.push(format!(
                    "key {id} ({name}) of {owner}: used is {} but the ledger sums to {}",
                    usd(used),
                    usd(derived)
                ));
            }
        }
    }

    // 4. Each hold (written by earlier versions) against its own rows: one hold row, then at most
    // one settle or release.
    {
        let mut stmt = tx.prepare(
            "WITH per_hold AS (
                 SELECT hold_id,
                        sum(CASE WHEN kind = 'hold' THEN amount END) AS held,
                        count(CASE WHEN kind = 'settle' THEN 1 END) AS settles,
                        count(CASE WHEN kind = 'release' THEN 1 END) AS releases,
                        sum(CASE WHEN kind IN ('settle', 'release') THEN amount END) AS closing
                 FROM ledger WHERE hold_id IS NOT NULL GROUP BY hold_id)
             SELECT h.id, h.user_id, h.amount, h.state, COALESCE(h.cost, 0),
                    COALESCE(p.held, 0), COALESCE(p.settles, 0), COALESCE(p.releases, 0),
                    COALESCE(p.closing, 0)
             FROM holds h LEFT JOIN per_hold p ON p.hold_id = h.id
             ORDER BY h.id",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let (id, user_id, amount): (i64, i64, i64) = (r.get(0)?, r.get(1)?, r.get(2)?);
            let (state, cost, held): (String, i64, i64) = (r.get(3)?, r.get(4)?, r.get(5)?);
            let (settles, releases, closing): (i64, i64, i64) = (r.get(6)?, r.get(7)?, r.get(8)?);
            let ok = held == -amount
                && match state.as_str() {
                    "open" => settles + releases == 0,
                    "settled" => settles == 1 && releases == 0 && -(held + closing) == cost,
                    "released" => settles == 0 && releases == 1 && closing == amount,
                    _ => false,
                };
            if state == "open" {
                report.open_holds += 1;
            }
            if !ok {
                report.problems.push(format!(
                    "user {user_id}: hold {id} ({state}, {}) does not match its ledger rows",
                    usd(amount)
                ));
            }
        }
    }
    // 5. Each request charged at most once.
    {
        let mut stmt = tx.prepare(
            "SELECT ref_id, count(*) FROM ledger
             WHERE kind = 'settle' AND ref_type = 'request' AND hold_id IS NULL
             GROUP BY ref_id HAVING count(*) > 1",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let (request_id, times): (String, i64) = (r.get(0)?, r.get(1)?);
            report
                .problems
                .push(format!("request {request_id} was charged {times} times"));
        }
    }
    tx.commit()?;
    Ok(report)
}
