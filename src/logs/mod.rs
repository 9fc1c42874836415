//! Request logs: the row every `/v1` request leaves (written with its charge by
//! `ledger::writer`), and the queries behind `/api/logs` and `/api/usage`.

pub mod handlers;
pub mod query;
pub mod retention;
pub mod usage;

use rusqlite::{params, Connection};

use crate::db::{Store, StoreError};
use crate::ledger::money::Money;
use crate::pricing::Sheet;
use crate::relay::usage::Usage;

#[derive(Debug, Clone, Default)]
pub struct LogRow {
    pub request_id: String,
    pub created_at: i64,
    pub user_id: Option<i64>,
    pub key_id: Option<i64>,
    pub key_name: String,
    pub endpoint: &'static str,
    pub model: String,
    pub upstream: String,
    /// Tokens of each kind (fresh input, cache reads and writes, output with reasoning).
    pub usage: Usage,
    /// The prices the request was billed at (none for a free or unserved request).
    pub sheet: Option<Sheet>,
    pub cost: Money,
    pub status: u16,
    pub latency_ms: u64,
    pub stream: bool,
    pub client_ip: String,
    pub usage_source: &'static str,
    /// The detail, in English, for the operator.
    pub error: String,
    /// What went wrong as a stable code (an API error code, `uncollected`, ...) that the console
    /// renders in the reader's language; empty when nothing did.
    pub error_code: &'static str,
    /// The part of the cost the balance (or the key's limit) could not cover.
    pub uncollected: Money,
}

/// Writes a log row; `sheet_id` is the stored id of `row.sheet` (see [`sheet_id`]).
pub fn insert_log(
    conn: &Connection,
    row: &LogRow,
    sheet_id: Option<i64>,
) -> Result<(), StoreError> {
    let mut stmt = conn
        .prepare_cached(
        "INSERT INTO request_logs (request_id, created_at, user_id, key_id, key_name, endpoint, model,
             upstream, input_tokens, output_tokens, cost, status, latency_ms, stream, client_ip,
             usage_source, error, cache_read_tokens, cache_write_tokens, cache_write_1h_tokens,
             reasoning_tokens, sheet_id, error_code, uncollected)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18,
                 ?19, ?20, ?21, ?22, ?23, ?24)",
        )
        .store("prepare a log row")?;
    let usage = &row.usage;
    stmt.execute(params![
        row.request_id,
        row.created_at,
        row.user_id,
        row.key_id,
        row.key_name,
        row.endpoint,
        row.model,
        row.upstream,
        usage.input as i64,
        usage.output as i64,
        row.cost.units(),
        row.status,
        row.latency_ms as i64,
        row.stream,
        row.client_ip,
        row.usage_source,
        row.error.chars().take(500).collect::<String>(),
        usage.cache_read as i64,
        usage.cache_write_5m as i64,
        usage.cache_write_1h as i64,
        usage.reasoning as i64,
        sheet_id,
        row.error_code,
        row.uncollected.units(),
    ])
    .store("write a request's log row")?;
    Ok(())
}

/// Writes log rows without prices, with what they add to the usage rollups, in the caller's
/// transaction: rows that did not come through the request writer (imports, tests).
pub fn record_logs(conn: &Connection, rows: &[LogRow]) -> Result<(), StoreError> {
    let mut rollups = usage::Rollups::default();
    for row in rows {
        insert_log(conn, row, None)?;
        rollups.add(row);
    }
    rollups.write(conn)
}

/// The stored id of a price sheet, writing it the first time it is seen.
pub fn sheet_id(conn: &Connection, sheet: &Sheet) -> Result<i64, StoreError> {
    let text = sheet.to_text();
    conn.prepare_cached(
        "INSERT INTO price_sheets (sheet) VALUES (?1) ON CONFLICT (sheet) DO NOTHING",
    )
    .and_then(|mut s| s.execute([&text]))
    .store("write a price sheet")?;
    conn.prepare_cached("SELECT id FROM price_sheets WHERE sheet = ?1")
        .and_then(|mut s| s.query_row([&text], |r| r.get(0)))
        .store("read a price sheet's id")
}
