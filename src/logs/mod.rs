//! Request logs: the row every `/v1` request leaves (written with its charge by
//! `ledger::writer`), and the queries behind `/api/logs` and `/api/usage`.

pub mod handlers;
pub mod query;
pub mod retention;

use rusqlite::{params, Connection};

use crate::db::{Store, StoreError};
use crate::ledger::money::Money;

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
    pub input_tokens: u64,
    pub output_tokens: u64,
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

pub fn insert_log(conn: &Connection, row: &LogRow) -> Result<(), StoreError> {
    let mut stmt = conn
        .prepare_cached(
        "INSERT INTO request_logs (request_id, created_at, user_id, key_id, key_name, endpoint, model,
             upstream, input_tokens, output_tokens, cost, status, latency_ms, stream, client_ip,
             usage_source, error, error_code, uncollected)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)",
        )
        .store("prepare a log row")?;
    stmt.execute(params![
        row.request_id,
        row.created_at,
        row.user_id,
        row.key_id,
        row.key_name,
        row.endpoint,
        row.model,
        row.upstream,
        row.input_tokens as i64,
        row.output_tokens as i64,
        row.cost.units(),
        row.status,
        row.latency_ms as i64,
        row.stream,
        row.client_ip,
        row.usage_source,
        row.error.chars().take(500).collect::<String>(),
        row.error_code,
        row.uncollected.units(),
    ])
    .store("write a request's log row")?;
    Ok(())
}
