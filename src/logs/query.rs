//! Reading logs back: filtered pages (newest first, by cursor) with their totals, CSV, and
//! usage per day, model and key.

use rusqlite::types::Value as SqlValue;
use rusqlite::{params_from_iter, Connection};
use serde::{Deserialize, Serialize};

use crate::clock::{parse_time, rfc3339};
use crate::db::by_time::{first_id_since, Appended};
use crate::error::{ApiError, ApiResult};
use crate::ledger::money::Money;

/// Filters shared by `/api/logs`, `/api/logs.csv` and `/api/admin/logs`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LogFilter {
    /// Rows at or after this time: RFC 3339, or `YYYY-MM-DD` for the start of that day (UTC).
    pub from: Option<String>,
    /// Rows before this time: RFC 3339, or `YYYY-MM-DD` for the whole of that day (UTC).
    pub to: Option<String>,
    /// Only this model, exactly.
    pub model: Option<String>,
    /// Only requests made with this key.
    pub key_id: Option<i64>,
    /// An HTTP status (`200`, `429`), or `success` / `error`.
    pub status: Option<String>,
    /// Only this request id (the `X-Request-Id` of the `/v1` call).
    pub request_id: Option<String>,
    /// Admin only.
    pub user_id: Option<i64>,
    /// Rows per page: default 50, at most 500 (CSV: default and at most 100000).
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LogView {
    pub id: i64,
    pub request_id: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(required = true)]
    pub user_id: Option<i64>,
    #[schema(required = true)]
    pub username: Option<String>,
    #[schema(required = true)]
    pub key_id: Option<i64>,
    pub key_name: String,
    pub endpoint: String,
    pub model: String,
    pub upstream: String,
    /// Prompt tokens read fresh (billed at the input price).
    pub input_tokens: i64,
    /// Prompt tokens read from the provider's cache.
    pub cache_read_tokens: i64,
    /// Prompt tokens written to a 5-minute cache.
    pub cache_write_tokens: i64,
    /// Prompt tokens written to a 1-hour cache.
    pub cache_write_1h_tokens: i64,
    /// Output tokens, reasoning included.
    pub output_tokens: i64,
    /// Of `output_tokens`, the reasoning (thinking) tokens.
    pub reasoning_tokens: i64,
    pub cost: Money,
    /// The prices the request was billed at; `null` when nothing was priced.
    #[schema(required = true)]
    pub prices: Option<PriceSheet>,
    /// What each kind of token came to, so the charge can be checked by hand; `null` when
    /// nothing was priced.
    #[schema(required = true)]
    pub cost_breakdown: Option<CostBreakdown>,
    pub status: i64,
    pub latency_ms: i64,
    pub stream: bool,
    pub client_ip: String,
    pub usage_source: String,
    /// The detail, in English, as the server logged it (for the operator).
    pub error: String,
    /// What went wrong as a stable code, for the console to say in the reader's language:
    /// an API error code (`insufficient_quota`, `upstream_failed`, ...), `uncollected` (the
    /// balance could not cover the whole cost), `client_disconnected`; empty when nothing did
    /// (and on rows older than codes, which have only `error`).
    #[schema(example = "upstream_failed")]
    pub error_code: String,
    /// What the code's message needs.
    pub error_params: ErrorParams,
    /// The part of the cost the balance or the key's limit could not cover (not charged).
    pub uncollected: Money,
}

/// The parameters of a log row's error code; a field is absent where it does not apply.
#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
pub struct ErrorParams {
    /// `uncollected`: what could not be collected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount: Option<Money>,
    /// `upstream_refused`: the upstream's HTTP status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<i64>,
    /// `model_not_found`, `model_not_allowed`: the model asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// `ip_not_allowed`: the client's address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
}

/// The parameters a log row's error code is rendered with, from the row itself.
fn error_params(view: &LogView) -> ErrorParams {
    let mut p = ErrorParams::default();
    match view.error_code.as_str() {
        "uncollected" => p.amount = Some(view.uncollected),
        "upstream_refused" => p.status = Some(view.status),
        "model_not_found" | "model_not_allowed" => p.model = Some(view.model.clone()),
        "ip_not_allowed" => p.ip = Some(view.client_ip.clone()),
        _ => {}
    }
    p
}

/// A request's prices, as its log row stored them: USD per 1M tokens of each kind (decimal
/// strings), the flat price per request, the group's multiplier, and the long-context tier.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PriceSheet {
    #[schema(example = "3")]
    pub input: String,
    #[schema(example = "15")]
    pub output: String,
    pub cache_read: String,
    pub cache_write: String,
    pub cache_write_1h: String,
    pub per_request: String,
    #[schema(example = "1")]
    pub multiplier: String,
    /// The tier's `above_input_tokens`, when a long-context tier applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<u64>,
}

/// Tokens × price / 1M for each kind, the flat price, their sum, and the sum × multiplier, in
/// USD as exact decimal strings; `charged` rounds that up to the nano-dollar (before any cap by
/// the hold or the balance, which the log's `cost` and `error` tell).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CostBreakdown {
    pub input: String,
    pub cache_read: String,
    pub cache_write: String,
    pub cache_write_1h: String,
    pub output: String,
    pub per_request: String,
    pub subtotal: String,
    pub multiplier: String,
    pub charged: Money,
}

/// The breakdown of a row's cost from its tokens and its price sheet.
fn breakdown(sheet: &PriceSheet, tokens: [i64; 5]) -> Option<CostBreakdown> {
    use rust_decimal::Decimal;
    use std::str::FromStr;
    let price = |text: &str| Decimal::from_str(text).ok();
    let million = Decimal::from(1_000_000u32);
    let part = |n: i64, text: &str| -> Option<Decimal> {
        Decimal::from(n)
            .checked_mul(price(text)?)?
            .checked_div(million)
    };
    let [input, cache_read, cache_write, cache_write_1h, output] = tokens;
    let parts = [
        part(input, &sheet.input)?,
        part(cache_read, &sheet.cache_read)?,
        part(cache_write, &sheet.cache_write)?,
        part(cache_write_1h, &sheet.cache_write_1h)?,
        part(output, &sheet.output)?,
        price(&sheet.per_request)?,
    ];
    let subtotal = parts
        .iter()
        .try_fold(Decimal::ZERO, |sum, p| sum.checked_add(*p))?;
    let multiplier = price(&sheet.multiplier)?;
    let units = subtotal
        .checked_mul(multiplier)?
        .checked_mul(Decimal::from(crate::ledger::money::UNITS_PER_USD))?;
    let text = |d: Decimal| d.normalize().to_string();
    Some(CostBreakdown {
        input: text(parts[0]),
        cache_read: text(parts[1]),
        cache_write: text(parts[2]),
        cache_write_1h: text(parts[3]),
        output: text(parts[4]),
        per_request: text(parts[5]),
        subtotal: text(subtotal),
        multiplier: text(multiplier),
        charged: Money::from_units_ceil(units)?,
    })
}

/// WHERE clause and parameters for a filter; `owner` restricts to one user (members).
fn where_clause(filter: &LogFilter, owner: Option<i64>) -> ApiResult<(String, Vec<SqlValue>)> {
    let mut clauses: Vec<String> = Vec::new();
    let mut params: Vec<SqlValue> = Vec::new();
    let mut add = |clause: &str, value: SqlValue| {
        params.push(value);
        clauses.push(clause.replace('?', &format!("?{}", params.len())));
    };
    if let Some(user) = owner.or(filter.user_id) {
        add("l.user_id = ?", SqlValue::Integer(user));
    }
    let time = |text: &str, name: &str| {
        parse_time(text).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_query",
                format!("{name} must be an RFC 3339 time or YYYY-MM-DD"),
            )
        })
    };
    if let Some(from) = filter.from.as_deref().filter(|s| !s.is_empty()) {
        add("l.created_at >= ?", SqlValue::Integer(time(from, "from")?));
    }
    if let Some(to) = filter.to.as_deref().filter(|s| !s.is_empty()) {
        // A bare date means the whole of that day.
        let end = time(to, "to")? + if to.len() == 10 { 86_400 } else { 0 };
        add("l.created_at < ?", SqlValue::Integer(end));
    }
    if let Some(model) = filter.model.as_deref().filter(|s| !s.is_empty()) {
        add("l.model = ?", SqlValue::Text(model.to_string()));
    }
    if let Some(key) = filter.key_id {
        add("l.key_id = ?", SqlValue::Integer(key));
    }
    if let Some(request_id) = filter.request_id.as_deref().filter(|s| !s.is_empty()) {
        add("l.request_id = ?", SqlValue::Text(request_id.to_string()));
    }
    match filter.status.as_deref() {
        None | Some("") => {}
        Some("success") => clauses.push("l.status < 400".into()),
        Some("error") => clauses.push("l.status >= 400".into()),
        Some(code) => {
            let code: i64 = code.parse().map_err(|_| {
                ApiError::bad_request(
                    "invalid_query",
                    "status must be an HTTP status, success or error",
                )
            })?;
            add("l.status = ?", SqlValue::Integer(code));
        }
    }
    let sql = if clauses.is_empty() {
        "1 = 1".to_string()
    } else {
        clauses.join(" AND ")
    };
    Ok((sql, params))
}

/// Where a page of logs starts: below the cursor, or at the newest row.
pub fn parse_cursor(cursor: Option<&str>) -> ApiResult<i64> {
    Ok(crate::pagination::cursor(cursor)?.unwrap_or(i64::MAX))
}

/// A page of logs, newest first, older than the cursor.
pub fn find_logs(
    conn: &Connection,
    filter: &LogFilter,
    owner: Option<i64>,
    limit: u32,
) -> ApiResult<Vec<LogView>> {
    let (clause, mut params) = where_clause(filter, owner)?;
    params.push(SqlValue::Integer(parse_cursor(filter.cursor.as_deref())?));
    let cursor_at = params.len();
    params.push(SqlValue::Integer(i64::from(limit)));
    let limit_at = params.len();
    let sql = format!(
        "SELECT l.id, l.request_id, l.created_at, l.user_id, u.username, l.key_id, l.key_name, l.endpoint,
                l.model, l.upstream, l.input_tokens, l.output_tokens, l.cost, l.status, l.latency_ms,
                l.stream, l.client_ip, l.usage_source, l.error, l.error_code, l.uncollected,
                l.cache_read_tokens, l.cache_write_tokens, l.cache_write_1h_tokens,
                l.reasoning_tokens, p.sheet
         FROM request_logs l LEFT JOIN users u ON u.id = l.user_id
              LEFT JOIN price_sheets p ON p.id = l.sheet_id
         WHERE {clause} AND l.id < ?{cursor_at} ORDER BY l.id DESC LIMIT ?{limit_at}"
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(params_from_iter(params), |r| {
        let prices: Option<PriceSheet> = r
            .get::<_, Option<String>>(25)?
            .and_then(|text| serde_json::from_str(&text).ok());
        let tokens = [r.get(10)?, r.get(21)?, r.get(22)?, r.get(23)?, r.get(11)?];
        Ok(LogView {
            cache_read_tokens: tokens[1],
            cache_write_tokens: tokens[2],
            cache_write_1h_tokens: tokens[3],
            reasoning_tokens: r.get(24)?,
            cost_breakdown: prices.as_ref().and_then(|p| breakdown(p, tokens)),
            prices,
            id: r.get(0)?,
            request_id: r.get(1)?,
            created_at: rfc3339(r.get(2)?),
            user_id: r.get(3)?,
            username: r.get(4)?,
            key_id: r.get(5)?,
            key_name: r.get(6)?,
            endpoint: r.get(7)?,
            model: r.get(8)?,
            upstream: r.get(9)?,
            input_tokens: r.get(10)?,
            output_tokens: r.get(11)?,
            cost: Money::from_units(r.get(12)?),
            status: r.get(13)?,
            latency_ms: r.get(14)?,
            stream: r.get(15)?,
            client_ip: r.get(16)?,
            usage_source: r.get(17)?,
            error: r.get(18)?,
            error_code: r.get(19)?,
            error_params: ErrorParams::default(),
            uncollected: Money::from_units(r.get(20)?),
        })
    })?;
    let mut rows: Vec<LogView> = rows.collect::<Result<_, _>>()?;
    for row in &mut rows {
        row.error_params = error_params(row);
    }
    Ok(rows)
}

/// Totals over every row a filter matches (the cursor and page size aside).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LogSummary {
    pub requests: i64,
    /// Rows with a status of 400 or more.
    pub errors: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    /// What was charged.
    pub cost: Money,
    /// What could not be collected.
    pub uncollected: Money,
}

/// The totals of the rows `filter` matches, in one SQL pass.
pub fn summarize_logs(
    conn: &Connection,
    filter: &LogFilter,
    owner: Option<i64>,
) -> ApiResult<LogSummary> {
    let (mut clause, mut params) = where_clause(filter, owner)?;
    // With a start time, the totals need not read the rows before it (ids run in time order).
    if let Some(from) = filter.from.as_deref().and_then(parse_time) {
        params.push(SqlValue::Integer(first_id_since(
            conn,
            Appended::RequestLogs,
            from,
        )?));
        clause.push_str(&format!(" AND l.id >= ?{}", params.len()));
    }
    let sql = format!(
        "SELECT count(*), COALESCE(sum(l.status >= 400), 0), COALESCE(sum(l.input_tokens), 0),
                COALESCE(sum(l.output_tokens), 0), COALESCE(sum(l.cost), 0),
                COALESCE(sum(l.uncollected), 0)
         FROM request_logs l WHERE {clause}"
    );
    Ok(conn.query_row(&sql, params_from_iter(params), |r| {
        Ok(LogSummary {
            requests: r.get(0)?,
            errors: r.get(1)?,
            input_tokens: r.get(2)?,
            output_tokens: r.get(3)?,
            cost: Money::from_units(r.get(4)?),
            uncollected: Money::from_units(r.get(5)?),
        })
    })?)
}

/// One CSV field, quoted when it needs to be; a leading formula character is neutralised so a
/// spreadsheet never runs a log's text. Tab and carriage return count as formula characters
/// (OWASP's list): spreadsheets skip them and read a formula behind them. A plain number keeps
/// its sign (it is read, never run; the float parse only recognises one and touches no money).
pub fn csv_field(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) && text.parse::<f64>().is_err()
    {
        format!("'{text}")
    } else {
        text.to_string()
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
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

/// Per-day and per-model totals of a user's requests since `since` (Unix seconds).
pub fn usage_of_user(conn: &Connection, user_id: i64, since: i64) -> ApiResult<serde_json::Value> {
    let bucket = |r: &rusqlite::Row, at: usize| -> rusqlite::Result<UsageBucket> {
        Ok(UsageBucket {
            requests: r.get(at)?,
            input_tokens: r.get(at + 1)?,
            output_tokens: r.get(at + 2)?,
            cost: Money::from_units(r.get(at + 3)?),
            cache_read_tokens: r.get(at + 4)?,
            cache_write_tokens: r.get(at + 5)?,
            reasoning_tokens: r.get(at + 6)?,
        })
    };
    let totals = "count(*), COALESCE(sum(input_tokens), 0), COALESCE(sum(output_tokens), 0), COALESCE(sum(cost), 0),
                  COALESCE(sum(cache_read_tokens), 0),
                  COALESCE(sum(cache_write_tokens + cache_write_1h_tokens), 0),
                  COALESCE(sum(reasoning_tokens), 0)";
    let mut by_day = Vec::new();
    {
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT date(created_at, 'unixepoch') AS day, {totals} FROM request_logs
             WHERE user_id = ?1 AND created_at >= ?2 GROUP BY day ORDER BY day"
        ))?;
        let mut rows = stmt.query(rusqlite::params![user_id, since])?;
        while let Some(r) = rows.next()? {
            let day: String = r.get(0)?;
            let b = bucket(r, 1)?;
            let mut entry = serde_json::to_value(&b).unwrap_or_default();
            entry["date"] = serde_json::Value::String(day);
            by_day.push(entry);
        }
    }
    let mut by_model = Vec::new();
    {
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT model, {totals} FROM request_logs
             WHERE user_id = ?1 AND created_at >= ?2 AND model != '' GROUP BY model ORDER BY sum(cost) DESC, model"
        ))?;
        let mut rows = stmt.query(rusqlite::params![user_id, since])?;
        while let Some(r) = rows.next()? {
            let model: String = r.get(0)?;
            let b = bucket(r, 1)?;
            let mut entry = serde_json::to_value(&b).unwrap_or_default();
            entry["model"] = serde_json::Value::String(model);
            by_model.push(entry);
        }
    }
    let mut by_key = Vec::new();
    {
        // A key's name is today's (it may have been renamed); a deleted key keeps its last one.
        let mut stmt = conn.prepare_cached(
            "SELECT l.key_id, COALESCE(max(k.name), max(l.key_name), ''), COALESCE(max(k.deleted), 1),
                    count(*), COALESCE(sum(l.input_tokens), 0), COALESCE(sum(l.output_tokens), 0),
                    COALESCE(sum(l.cost), 0), COALESCE(sum(l.cache_read_tokens), 0),
                    COALESCE(sum(l.cache_write_tokens + l.cache_write_1h_tokens), 0),
                    COALESCE(sum(l.reasoning_tokens), 0)
             FROM request_logs l LEFT JOIN api_keys k ON k.id = l.key_id
             WHERE l.user_id = ?1 AND l.created_at >= ?2 AND l.key_id IS NOT NULL
             GROUP BY l.key_id ORDER BY sum(l.cost) DESC, l.key_id",
        )?;
        let mut rows = stmt.query(rusqlite::params![user_id, since])?;
        while let Some(r) = rows.next()? {
            let key_id: i64 = r.get(0)?;
            let name: String = r.get(1)?;
            let deleted: bool = r.get(2)?;
            let b = bucket(r, 3)?;
            let mut entry = serde_json::to_value(&b).unwrap_or_default();
            entry["key_id"] = serde_json::json!(key_id);
            entry["name"] = serde_json::Value::String(name);
            entry["deleted"] = serde_json::Value::Bool(deleted);
            by_key.push(entry);
        }
    }
    Ok(serde_json::json!({ "by_day": by_day, "by_model": by_model, "by_key": by_key }))
}

#[cfg(test)]
mod tests {
    use super::csv_field;

    #[test]
    fn formulas_are_neutralised_and_numbers_kept() {
        let cases = [
            ("=1+2", "'=1+2"),
            ("+cmd", "'+cmd"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\t=1+2", "'\t=1+2"),
            ("\r=1+2", "\"'\r=1+2\""),
            ("-0.5", "-0.5"),
            ("plain", "plain"),
            ("a,b", "\"a,b\""),
            ("say \"hi\"", "\"say \"\"hi\"\"\""),
        ];
        for (text, want) in cases {
            assert_eq!(csv_field(text), want, "{text:?}");
        }
    }
}
