//! Daily usage rollups (`usage_daily`): the request writer adds each batch's log rows to them in
//! the same transaction, so they always equal the sums of the logs; usage charts, the operator's
//! overview and the totals of a log filter read them, a few rows per day, instead of every request.

use std::collections::HashMap;

use rusqlite::{params, Connection};

use super::LogRow;
use crate::db::{Store, StoreError};
use crate::error::ApiResult;
use crate::ledger::money::Money;

/// Seconds in a rollup's day (UTC).
pub const DAY: i64 = 86_400;

/// Sums every log row into the (empty) rollups: the backfill of migration 6.
pub const SUM_EVERY_LOG: &str = "
    INSERT INTO usage_daily (user_id, day, key_id, model, status, requests, charged, input_tokens,
                             cache_read_tokens, cache_write_tokens, cache_write_1h_tokens,
                             output_tokens, reasoning_tokens, cost, uncollected,
                             uncollected_requests)
    SELECT COALESCE(user_id, 0), created_at / 86400, COALESCE(key_id, 0), model, status, count(*),
           sum(cost > 0), sum(input_tokens), sum(cache_read_tokens), sum(cache_write_tokens),
           sum(cache_write_1h_tokens), sum(output_tokens), sum(reasoning_tokens), sum(cost),
           sum(uncollected), sum(uncollected > 0)
    FROM request_logs GROUP BY 1, 2, 3, 4, 5;
";

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Group {
    user_id: i64,
    day: i64,
    key_id: i64,
    model: String,
    status: i64,
}

#[derive(Debug, Default, Clone, Copy)]
struct Sums {
    requests: i64,
    charged: i64,
    input: i64,
    cache_read: i64,
    cache_write: i64,
    cache_write_1h: i64,
    output: i64,
    reasoning: i64,
    cost: i64,
    uncollected: i64,
    uncollected_requests: i64,
}

/// One write transaction's log rows, summed per rollup row.
#[derive(Debug, Default)]
pub struct Rollups {
    groups: HashMap<Group, Sums>,
}

impl Rollups {
    /// Adds a log row as it is written (its cost settled).
    pub fn add(&mut self, row: &LogRow) {
        let group = Group {
            user_id: row.user_id.unwrap_or(0),
            day: row.created_at.div_euclid(DAY),
            key_id: row.key_id.unwrap_or(0),
            model: row.model.clone(),
            status: i64::from(row.status),
        };
        let s = self.groups.entry(group).or_default();
        let (cost, uncollected) = (row.cost.units(), row.uncollected.units());
        let u = &row.usage;
        s.requests += 1;
        s.charged += i64::from(cost > 0);
        s.input += u.input as i64;
        s.cache_read += u.cache_read as i64;
        s.cache_write += u.cache_write_5m as i64;
        s.cache_write_1h += u.cache_write_1h as i64;
        s.output += u.output as i64;
        s.reasoning += u.reasoning as i64;
        s.cost += cost;
        s.uncollected += uncollected;
        s.uncollected_requests += i64::from(uncollected > 0);
    }

    /// Adds the sums to the stored rollups, inside the caller's transaction.
    pub fn write(&self, conn: &Connection) -> Result<(), StoreError> {
        let mut stmt = conn
            .prepare_cached(
                "INSERT INTO usage_daily (user_id, day, key_id, model, status, requests, charged,
                     input_tokens, cache_read_tokens, cache_write_tokens, cache_write_1h_tokens,
                     output_tokens, reasoning_tokens, cost, uncollected, uncollected_requests)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)
                 ON CONFLICT (user_id, day, key_id, model, status) DO UPDATE SET
                     requests = requests + excluded.requests,
                     charged = charged + excluded.charged,
                     input_tokens = input_tokens + excluded.input_tokens,
                     cache_read_tokens = cache_read_tokens + excluded.cache_read_tokens,
                     cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens,
                     cache_write_1h_tokens = cache_write_1h_tokens + excluded.cache_write_1h_tokens,
                     output_tokens = output_tokens + excluded.output_tokens,
                     reasoning_tokens = reasoning_tokens + excluded.reasoning_tokens,
                     cost = cost + excluded.cost,
                     uncollected = uncollected + excluded.uncollected,
                     uncollected_requests = uncollected_requests + excluded.uncollected_requests",
            )
            .store("prepare a usage rollup")?;
        for (g, s) in &self.groups {
            stmt.execute(params![
                g.user_id,
                g.day,
                g.key_id,
                g.model,
                g.status,
                s.requests,
                s.charged,
                s.input,
                s.cache_read,
                s.cache_write,
                s.cache_write_1h,
                s.output,
                s.reasoning,
                s.cost,
                s.uncollected,
                s.uncollected_requests,
            ])
            .store("add requests to the usage rollups")?;
        }
        Ok(())
    }
}

/// Deletes the rollups of days before `day` (with the logs of those days, by retention).
pub fn delete_days_before(conn: &Connection, day: i64) -> Result<usize, StoreError> {
    conn.execute("DELETE FROM usage_daily WHERE day < ?1", [day])
        .store("delete pruned days' usage rollups")
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct UsageBucket {
    pub requests: i64,
    pub input_tokens: i64,
    pub cache_read_tokens: i64,
    /// 5-minute and 1-hour cache writes together.
    pub cache_write_tokens: i64,
    pub output_tokens: i64,
    pub reasoning_tokens: i64,
    pub cost: Money,
}

/// The sums of a bucket, as columns 0.. of a row (see `TOTALS`).
fn bucket(r: &rusqlite::Row, at: usize) -> rusqlite::Result<UsageBucket> {
    Ok(UsageBucket {
        requests: r.get(at)?,
        input_tokens: r.get(at + 1)?,
        output_tokens: r.get(at + 2)?,
        cost: Money::from_units(r.get(at + 3)?),
        cache_read_tokens: r.get(at + 4)?,
        cache_write_tokens: r.get(at + 5)?,
        reasoning_tokens: r.get(at + 6)?,
    })
}

const TOTALS: &str = "sum(requests), sum(input_tokens), sum(output_tokens), sum(cost),
    sum(cache_read_tokens), sum(cache_write_tokens + cache_write_1h_tokens), sum(reasoning_tokens)";

/// Per-day, per-model and per-key totals of a user's requests since `since` (Unix seconds, the
/// start of a day), from the rollups.
pub fn usage_of_user(conn: &Connection, user_id: i64, since: i64) -> ApiResult<serde_json::Value> {
    let day = since.div_euclid(DAY);
    let mut by_day = Vec::new();
    {
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT date(day * 86400, 'unixepoch'), {TOTALS} FROM usage_daily
             WHERE user_id = ?1 AND day >= ?2 GROUP BY day ORDER BY day"
            ))
            .store("prepare the usage by day")?;
        let mut rows = stmt
            .query(params![user_id, day])
            .store("read the usage by day")?;
        while let Some(r) = rows.next().store("read the usage by day")? {
            let date: String = r.get(0).store("read the usage by day")?;
            let mut entry = serde_json::to_value(bucket(r, 1).store("read the usage by day")?)
                .unwrap_or_default();
            entry["date"] = serde_json::Value::String(date);
            by_day.push(entry);
        }
    }
    let mut by_model = Vec::new();
    {
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT model, {TOTALS} FROM usage_daily
             WHERE user_id = ?1 AND day >= ?2 AND model != ''
             GROUP BY model ORDER BY sum(cost) DESC, model"
            ))
            .store("prepare the usage by model")?;
        let mut rows = stmt
            .query(params![user_id, day])
            .store("read the usage by model")?;
        while let Some(r) = rows.next().store("read the usage by model")? {
            let model: String = r.get(0).store("read the usage by model")?;
            let mut entry = serde_json::to_value(bucket(r, 1).store("read the usage by model")?)
                .unwrap_or_default();
            entry["model"] = serde_json::Value::String(model);
            by_model.push(entry);
        }
    }
    let mut by_key = Vec::new();
    {
        // A key's name is today's (it may have been renamed); a deleted key keeps its last one.
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT d.key_id, COALESCE(k.name, ''), COALESCE(k.deleted, 1), {TOTALS}
             FROM usage_daily d LEFT JOIN api_keys k ON k.id = d.key_id
             WHERE d.user_id = ?1 AND d.day >= ?2 AND d.key_id != 0
             GROUP BY d.key_id ORDER BY sum(d.cost) DESC, d.key_id"
            ))
            .store("prepare the usage by key")?;
        let mut rows = stmt
            .query(params![user_id, day])
            .store("read the usage by key")?;
        while let Some(r) = rows.next().store("read the usage by key")? {
            let key_id: i64 = r.get(0).store("read the usage by key")?;
            let name: String = r.get(1).store("read the usage by key")?;
            let deleted: bool = r.get(2).store("read the usage by key")?;
            let mut entry = serde_json::to_value(bucket(r, 3).store("read the usage by key")?)
                .unwrap_or_default();
            entry["key_id"] = serde_json::json!(key_id);
            entry["name"] = serde_json::Value::String(name);
            entry["deleted"] = serde_json::Value::Bool(deleted);
            by_key.push(entry);
        }
    }
    Ok(serde_json::json!({ "by_day": by_day, "by_model": by_model, "by_key": by_key }))
}
