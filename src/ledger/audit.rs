//! `code-router audit`: re-derives every balance and key limit from the ledger alone, names
//! each account where the stored figures disagree, each request charged more than once, and
//! each order credited (or order and code paid commission) more than once.

use std::collections::HashMap;

use rusqlite::Connection;

use super::money::Money;
use crate::error::ApiResult;

#[derive(Debug, Default)]
pub struct AuditReport {
    pub accounts: usize,
    pub ledger_rows: usize,
    pub keys: usize,
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

    // 3. Each key's used amount: what its charges add up to (with the holds and releases of
    // versions that wrote them).
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

    // 4. Each request charged at most once.
    {
        let mut stmt = tx.prepare(
            "SELECT ref_id, count(*) FROM ledger
             WHERE kind = 'settle' AND ref_type = 'request'
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
    // 5. Each order credited, and each order or code paid commission on, at most once.
    {
        let mut stmt = tx.prepare(
            "SELECT kind, ref_type, ref_id, count(*) FROM ledger
             WHERE (kind = 'topup' AND ref_type = 'order') OR kind = 'commission'
             GROUP BY kind, ref_type, ref_id HAVING count(*) > 1",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let (kind, ref_type, ref_id, times): (String, String, String, i64) =
                (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
            report
                .problems
                .push(format!("{ref_type} {ref_id} has {times} {kind} rows"));
        }
    }
    tx.commit()?;
    Ok(report)
}
