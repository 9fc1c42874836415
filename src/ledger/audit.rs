//! `code-router audit`: re-derives every balance and key limit from the ledger alone, names
//! each account where the stored figures disagree, each request charged more than once, and
//! each order credited (or order and code paid commission) more than once.

use std::collections::{BTreeMap, HashMap, HashSet};

use rusqlite::Connection;

use super::money::Money;
use crate::db::Store;
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

/// Runs in one read transaction, so a server writing meanwhile cannot cause a false alarm; reads
/// the ledger once, in table order (no sort, no index), checking everything on the way.
pub fn audit(conn: &mut Connection) -> ApiResult<AuditReport> {
    let tx = conn.transaction().store("begin the audit's read")?;
    let mut report = AuditReport::default();

    // 1. Each account's rows in id order: the running sum must match every row's balance_after.
    // (false: the balance, true: the reward balance.)
    let mut sums: HashMap<(i64, bool), i64> = HashMap::new();
    let mut broken: HashSet<(i64, bool)> = HashSet::new();
    // What each key's charges add up to (with the holds and releases of versions that wrote them).
    let mut key_charges: HashMap<i64, i64> = HashMap::new();
    // A hash of each charged request's id, to find any charged twice.
    let mut charged: Vec<u64> = Vec::new();
    // Order credits and commissions, each of which must come once per cause.
    let mut once: HashMap<(String, String, String), i64> = HashMap::new();
    {
        let mut stmt = tx
            .prepare(
                "SELECT id, user_id, account, amount, balance_after, kind, key_id, ref_type, ref_id
             FROM ledger",
            )
            .store("prepare the ledger read")?;
        let mut rows = stmt.query([]).store("read the ledger")?;
        while let Some(r) = rows.next().store("read the ledger")? {
            let (id, user_id): (i64, i64) = (
                r.get(0).store("read a ledger row")?,
                r.get(1).store("read a ledger row")?,
            );
            let reward = text_at(r, 2).store("read a ledger row")? == b"reward";
            let (amount, after): (i64, i64) = (
                r.get(3).store("read a ledger row")?,
                r.get(4).store("read a ledger row")?,
            );
            let kind = text_at(r, 5).store("read a ledger row")?;
            report.ledger_rows += 1;
            let key = (user_id, reward);
            let sum = sums.entry(key).or_insert(0);
            *sum += amount;
            if *sum != after && broken.insert(key) {
                let account = if reward { "reward" } else { "balance" };
                report.problems.push(format!(
                    "user {user_id}: ledger row {id} says {account} after is {} but the rows up to it sum to {}",
                    usd(after),
                    usd(*sum)
                ));
            }
            let settle = kind == b"settle";
            if settle || kind == b"hold" || kind == b"release" {
                if let Some(key_id) = r.get::<_, Option<i64>>(6).store("read a ledger row")? {
                    *key_charges.entry(key_id).or_insert(0) -= amount;
                }
            }
            let ref_type = text_at(r, 7).store("read a ledger row")?;
            if settle && ref_type == b"request" {
                charged.push(hash_of(text_at(r, 8).store("read a ledger row")?));
            } else if (kind == b"topup" && ref_type == b"order") || kind == b"commission" {
                let cause = (
                    String::from_utf8_lossy(kind).into_owned(),
                    String::from_utf8_lossy(ref_type).into_owned(),
                    r.get::<_, String>(8).store("read a ledger row")?,
                );
                *once.entry(cause).or_insert(0) += 1;
            }
        }
    }

    // 2. Stored balances against the ledger.
    {
        let mut stmt = tx
            .prepare("SELECT id, username, balance, reward_balance FROM users ORDER BY id")
            .store("prepare the balances read")?;
        let mut rows = stmt.query([]).store("read the balances")?;
        while let Some(r) = rows.next().store("read the balances")? {
            let (id, name): (i64, String) = (
                r.get(0).store("read an account's balances")?,
                r.get(1).store("read an account's balances")?,
            );
            report.accounts += 1;
            for (account, reward, stored) in [
                (
                    "balance",
                    false,
                    r.get::<_, i64>(2).store("read an account's balances")?,
                ),
                (
                    "reward",
                    true,
                    r.get(3).store("read an account's balances")?,
                ),
            ] {
                let derived = sums.get(&(id, reward)).copied().unwrap_or(0);
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

    // 3. Each key's used amount: what its charges add up to.
    {
        let mut stmt = tx
            .prepare(
                "SELECT k.id, k.name, u.username, k.used
             FROM api_keys k JOIN users u ON u.id = k.user_id ORDER BY k.id",
            )
            .store("prepare the keys read")?;
        let mut rows = stmt.query([]).store("read the keys")?;
        while let Some(r) = rows.next().store("read the keys")? {
            report.keys += 1;
            let (id, name, owner): (i64, String, String) = (
                r.get(0).store("read a key's use")?,
                r.get(1).store("read a key's use")?,
                r.get(2).store("read a key's use")?,
            );
            let used: i64 = r.get(3).store("read a key's use")?;
            let derived = key_charges.get(&id).copied().unwrap_or(0);
            if used != derived {
                report.problems.push(format!(
                    "key {id} ({name}) of {owner}: used is {} but the ledger sums to {}",
                    usd(used),
                    usd(derived)
                ));
            }
        }
    }

    // 4. Each request charged at most once: equal hashes are rare, and only their requests are
    // counted by name.
    charged.sort_unstable();
    let twice: HashSet<u64> = charged
        .windows(2)
        .filter(|w| w[0] == w[1])
        .map(|w| w[0])
        .collect();
    drop(charged);
    if !twice.is_empty() {
        let mut counts: BTreeMap<String, i64> = BTreeMap::new();
        let mut stmt = tx
            .prepare("SELECT ref_id FROM ledger WHERE kind = 'settle' AND ref_type = 'request'")
            .store("prepare the charges read")?;
        let mut rows = stmt.query([]).store("read the charges")?;
        while let Some(r) = rows.next().store("read the charges")? {
            let ref_id = text_at(r, 0).store("read the charges")?;
            if twice.contains(&hash_of(ref_id)) {
                *counts
                    .entry(String::from_utf8_lossy(ref_id).into_owned())
                    .or_insert(0) += 1;
            }
        }
        for (request_id, times) in counts.into_iter().filter(|(_, n)| *n > 1) {
            report
                .problems
                .push(format!("request {request_id} was charged {times} times"));
        }
    }
    // 5. Each order credited, and each order or code paid commission on, at most once.
    let mut repeated: Vec<_> = once.into_iter().filter(|(_, n)| *n > 1).collect();
    repeated.sort();
    for ((kind, ref_type, ref_id), times) in repeated {
        report
            .problems
            .push(format!("{ref_type} {ref_id} has {times} {kind} rows"));
    }
    tx.commit().store("end the audit's read")?;
    Ok(report)
}

/// A fixed 64-bit hash of a request id (the same in every run).
fn hash_of(bytes: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::hash::DefaultHasher::new();
    bytes.hash(&mut hasher);
    hasher.finish()
}

/// A text column's bytes, without a copy ('' for anything else).
fn text_at<'a>(r: &'a rusqlite::Row, at: usize) -> rusqlite::Result<&'a [u8]> {
    Ok(match r.get_ref(at)? {
        rusqlite::types::ValueRef::Text(t) => t,
        _ => b"",
    })
}
