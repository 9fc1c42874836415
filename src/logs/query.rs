//! Reading logs back: filtered pages (newest first, by cursor) with their totals, CSV, and
//! usage per day, model and key.

use rusqlite::types::Value as SqlValue;
use rusqlite::{params_from_iter, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use super::usage::DAY;
use crate::clock::{parse_time, rfc3339};
use crate::db::by_time::{end_id_before, first_id_since, Appended};
use crate::db::Store;
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
    /// Rows per page: default 50, at most 500 (CSV: every row unless given).
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

/// How a filter narrows by status.
#[derive(Debug, Clone, Copy)]
enum StatusIs {
    Code(i64),
    Success,
    Error,
}

/// A log filter, checked and parsed: times in Unix seconds, `user` the account it is limited to.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    user: Option<i64>,
    from: Option<i64>,
    to: Option<i64>,
    model: Option<String>,
    key_id: Option<i64>,
    request_id: Option<String>,
    status: Option<StatusIs>,
}

impl Filter {
    /// `owner` restricts to one user (members); otherwise the filter's own `user_id` does.
    pub fn parse(filter: &LogFilter, owner: Option<i64>) -> ApiResult<Filter> {
        let time = |text: &str, name: &str| {
            parse_time(text).ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_query",
                    format!("{name} must be an RFC 3339 time or YYYY-MM-DD"),
                )
            })
        };
        let given = |s: &Option<String>| s.as_deref().filter(|s| !s.is_empty()).map(str::to_string);
        let from = match given(&filter.from) {
            Some(from) => Some(time(&from, "from")?),
            None => None,
        };
        let to = match given(&filter.to) {
            // A bare date means the whole of that day.
            Some(to) => Some(time(&to, "to")? + if to.len() == 10 { DAY } else { 0 }),
            None => None,
        };
        let status = match filter.status.as_deref() {
            None | Some("") => None,
            Some("success") => Some(StatusIs::Success),
            Some("error") => Some(StatusIs::Error),
            Some(code) => Some(StatusIs::Code(code.parse().map_err(|_| {
                ApiError::bad_request(
                    "invalid_query",
                    "status must be an HTTP status, success or error",
                )
            })?)),
        };
        Ok(Filter {
            user: owner.or(filter.user_id),
            from,
            to,
            model: given(&filter.model),
            key_id: filter.key_id,
            request_id: given(&filter.request_id),
            status,
        })
    }
}

/// Numbered SQL conditions and their parameters.
#[derive(Default)]
struct Conditions {
    clauses: Vec<String>,
    params: Vec<SqlValue>,
}

impl Conditions {
    fn add(&mut self, clause: &str, value: SqlValue) {
        self.params.push(value);
        let at = format!("?{}", self.params.len());
        self.clauses.push(clause.replace('?', &at));
    }

    fn sql(&self) -> String {
        if self.clauses.is_empty() {
            "1 = 1".to_string()
        } else {
            self.clauses.join(" AND ")
        }
    }
}

/// The conditions of a filter on `request_logs l`, times and rows excepted (see [`id_range`]).
fn log_conditions(f: &Filter) -> Conditions {
    let mut c = Conditions::default();
    if let Some(user) = f.user {
        c.add("l.user_id = ?", SqlValue::Integer(user));
    }
    if let Some(from) = f.from {
        c.add("l.created_at >= ?", SqlValue::Integer(from));
    }
    if let Some(to) = f.to {
        c.add("l.created_at < ?", SqlValue::Integer(to));
    }
    if let Some(model) = &f.model {
        c.add("l.model = ?", SqlValue::Text(model.clone()));
    }
    if let Some(key) = f.key_id {
        c.add("l.key_id = ?", SqlValue::Integer(key));
    }
    if let Some(request_id) = &f.request_id {
        c.add("l.request_id = ?", SqlValue::Text(request_id.clone()));
    }
    match f.status {
        None => {}
        Some(StatusIs::Success) => c.clauses.push("l.status < 400".into()),
        // Stated as the partial indexes of failed requests state it, so they can serve it.
        Some(StatusIs::Error) => c.clauses.push("l.status >= 400".into()),
        Some(StatusIs::Code(code)) => {
            c.add("l.status = ?", SqlValue::Integer(code));
            if code >= 400 {
                c.clauses.push("l.status >= 400".into());
            }
        }
    }
    c
}

/// The conditions of a filter on `usage_daily` over days `from_day..to_day` (a request id aside).
fn rollup_conditions(f: &Filter, from_day: Option<i64>, to_day: Option<i64>) -> Conditions {
    let mut c = Conditions::default();
    if let Some(user) = f.user {
        c.add("user_id = ?", SqlValue::Integer(user));
    }
    if let Some(day) = from_day {
        c.add("day >= ?", SqlValue::Integer(day));
    }
    if let Some(day) = to_day {
        c.add("day < ?", SqlValue::Integer(day));
    }
    if let Some(model) = &f.model {
        c.add("model = ?", SqlValue::Text(model.clone()));
    }
    if let Some(key) = f.key_id {
        c.add("key_id = ?", SqlValue::Integer(key));
    }
    match f.status {
        None => {}
        Some(StatusIs::Success) => c.clauses.push("status < 400".into()),
        Some(StatusIs::Error) => c.clauses.push("status >= 400".into()),
        Some(StatusIs::Code(code)) => c.add("status = ?", SqlValue::Integer(code)),
    }
    c
}

/// The ids `lo..hi` within which every row of the filter's time range lies (ids run in time
/// order), so a page or a total never walks rows outside it.
fn id_range(conn: &Connection, f: &Filter) -> ApiResult<(i64, i64)> {
    let lo = match f.from {
        Some(from) => first_id_since(conn, Appended::RequestLogs, from)?,
        None => 0,
    };
    let hi = match f.to {
        Some(to) => end_id_before(conn, Appended::RequestLogs, to)?,
        None => i64::MAX,
    };
    match f.request_id.as_deref().and_then(crate::request_id::time_ms) {
        Some(ms) => {
            let (id_lo, id_hi) = request_id_range(conn, f.request_id.as_deref().unwrap_or(""), ms)?;
            Ok((lo.max(id_lo), hi.min(id_hi)))
        }
        None => Ok((lo, hi)),
    }
}

/// How long after its id was made a request's log row is looked for first: the body's upload
/// and the request itself (the row is appended when the request ends).
const REQUEST_WINDOW_SECS: i64 = 3600;

/// The ids within which the log row of a request id that carries its arrival time `ms` lies.
/// The row was appended after the id was made, so it is never before the rows of that moment;
/// it is looked for among the rows of the hour after (a binary search and a few thousand
/// rows), and only when not there (a request longer than that, or no such request) among every
/// row appended since.
fn request_id_range(conn: &Connection, request_id: &str, ms: i64) -> ApiResult<(i64, i64)> {
    let since = ms.div_euclid(1000);
    let lo = first_id_since(conn, Appended::RequestLogs, since)?;
    let window_end = end_id_before(
        conn,
        Appended::RequestLogs,
        since.saturating_add(REQUEST_WINDOW_SECS),
    )?;
    let found: Option<i64> = conn
        .prepare_cached(
            "SELECT id FROM request_logs WHERE id >= ?1 AND id < ?2 AND request_id = ?3 LIMIT 1",
        )
        .and_then(|mut s| {
            s.query_row(rusqlite::params![lo, window_end, request_id], |r| r.get(0))
                .optional()
        })
        .store("look a request id up")?;
    Ok(match found {
        Some(id) => (id, id + 1),
        None => (window_end.max(lo), i64::MAX),
    })
}

/// Whether the rollups know of any request the filter matches (a request id aside), over the
/// whole days its time range touches. `false` means no log row matches.
fn rollups_know_of_any(conn: &Connection, f: &Filter) -> ApiResult<bool> {
    let from_day = f.from.map(|t| t.div_euclid(DAY));
    let to_day = f.to.map(|t| (t + DAY - 1).div_euclid(DAY));
    let c = rollup_conditions(f, from_day, to_day);
    let sql = format!(
        "SELECT EXISTS (SELECT 1 FROM usage_daily WHERE {})",
        c.sql()
    );
    Ok(conn
        .query_row(&sql, params_from_iter(c.params), |r| r.get(0))
        .store("check the usage rollups for rows")?)
}

/// Where a page of logs starts: below the cursor, or at the newest row.
pub fn parse_cursor(cursor: Option<&str>) -> ApiResult<i64> {
    Ok(crate::pagination::cursor(cursor)?.unwrap_or(i64::MAX))
}

/// A page of logs, newest first, below id `before`.
pub fn find_logs(
    conn: &Connection,
    f: &Filter,
    before: i64,
    limit: u32,
) -> ApiResult<Vec<LogView>> {
    // A key no request used answers from the rollups alone, instead of walking the account's
    // rows to their end (models and failures have indexes of their own, which answer at once).
    if f.key_id.is_some() && f.request_id.is_none() && !rollups_know_of_any(conn, f)? {
        return Ok(Vec::new());
    }
    let (lo, hi) = id_range(conn, f)?;
    let mut c = log_conditions(f);
    c.add("l.id < ?", SqlValue::Integer(before.min(hi)));
    c.add("l.id >= ?", SqlValue::Integer(lo));
    c.params.push(SqlValue::Integer(i64::from(limit)));
    let limit_at = c.params.len();
    let sql = format!(
        "SELECT l.id, l.request_id, l.created_at, l.user_id, u.username, l.key_id, l.key_name, l.endpoint,
                l.model, l.upstream, l.input_tokens, l.output_tokens, l.cost, l.status, l.latency_ms,
                l.stream, l.client_ip, l.usage_source, l.error, l.error_code, l.uncollected,
                l.cache_read_tokens, l.cache_write_tokens, l.cache_write_1h_tokens,
                l.reasoning_tokens, p.sheet
         FROM request_logs l LEFT JOIN users u ON u.id = l.user_id
              LEFT JOIN price_sheets p ON p.id = l.sheet_id
         WHERE {} ORDER BY l.id DESC LIMIT ?{limit_at}",
        c.sql()
    );
    let mut stmt = conn
        .prepare_cached(&sql)
        .store("prepare the list of logs")?;
    let rows = stmt
        .query_map(params_from_iter(c.params), |r| {
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
        })
        .store("list the logs")?;
    let mut rows: Vec<LogView> = rows.collect::<Result<_, _>>().store("read the logs")?;
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

/// The totals of the rows a filter matches: whole days from the rollups, the part days at the
/// ends of a time range (and a request id) from the rows themselves.
pub fn summarize_logs(conn: &Connection, f: &Filter) -> ApiResult<LogSummary> {
    if f.request_id.is_some() {
        return summarize_rows(conn, f);
    }
    let from_day = f.from.map(|t| (t + DAY - 1).div_euclid(DAY));
    let to_day = f.to.map(|t| t.div_euclid(DAY));
    if let (Some(a), Some(b)) = (from_day, to_day) {
        if a >= b {
            return summarize_rows(conn, f);
        }
    }
    let mut total = summarize_days(conn, f, from_day, to_day)?;
    if let (Some(from), Some(day)) = (f.from, from_day) {
        if from < day * DAY {
            let head = Filter {
                to: Some(day * DAY),
                ..f.clone()
            };
            total = total.plus(&summarize_rows(conn, &head)?);
        }
    }
    if let (Some(to), Some(day)) = (f.to, to_day) {
        if to > day * DAY {
            let tail = Filter {
                from: Some(day * DAY),
                ..f.clone()
            };
            total = total.plus(&summarize_rows(conn, &tail)?);
        }
    }
    Ok(total)
}

/// The totals of whole days `from_day..to_day`, from the rollups.
fn summarize_days(
    conn: &Connection,
    f: &Filter,
    from_day: Option<i64>,
    to_day: Option<i64>,
) -> ApiResult<LogSummary> {
    let c = rollup_conditions(f, from_day, to_day);
    // Without an account or a key, the operator's rollup (per day, model and status) has the
    // same sums in far fewer rows.
    let table = if f.user.is_none() && f.key_id.is_none() {
        "usage_daily_models"
    } else {
        "usage_daily"
    };
    let sql = format!(
        "SELECT COALESCE(sum(requests), 0), COALESCE(sum(CASE WHEN status >= 400 THEN requests END), 0),
                COALESCE(sum(input_tokens), 0), COALESCE(sum(output_tokens), 0),
                COALESCE(sum(cost), 0), COALESCE(sum(uncollected), 0)
         FROM {table} WHERE {}",
        c.sql()
    );
    Ok(conn
        .query_row(&sql, params_from_iter(c.params), summary_of)
        .store("sum the usage rollups")?)
}

/// The totals of the rows themselves, in one pass over the filter's id range.
fn summarize_rows(conn: &Connection, f: &Filter) -> ApiResult<LogSummary> {
    let (lo, hi) = id_range(conn, f)?;
    let mut c = log_conditions(f);
    c.add("l.id >= ?", SqlValue::Integer(lo));
    c.add("l.id < ?", SqlValue::Integer(hi));
    let sql = format!(
        "SELECT count(*), COALESCE(sum(l.status >= 400), 0), COALESCE(sum(l.input_tokens), 0),
                COALESCE(sum(l.output_tokens), 0), COALESCE(sum(l.cost), 0),
                COALESCE(sum(l.uncollected), 0)
         FROM request_logs l WHERE {}",
        c.sql()
    );
    Ok(conn
        .query_row(&sql, params_from_iter(c.params), summary_of)
        .store("sum the log rows")?)
}

fn summary_of(r: &rusqlite::Row) -> rusqlite::Result<LogSummary> {
    Ok(LogSummary {
        requests: r.get(0)?,
        errors: r.get(1)?,
        input_tokens: r.get(2)?,
        output_tokens: r.get(3)?,
        cost: Money::from_units(r.get(4)?),
        uncollected: Money::from_units(r.get(5)?),
    })
}

impl LogSummary {
    fn plus(&self, other: &LogSummary) -> LogSummary {
        LogSummary {
            requests: self.requests + other.requests,
            errors: self.errors + other.errors,
            input_tokens: self.input_tokens + other.input_tokens,
            output_tokens: self.output_tokens + other.output_tokens,
            cost: Money::from_units(self.cost.units() + other.cost.units()),
            uncollected: Money::from_units(self.uncollected.units() + other.uncollected.units()),
        }
    }
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
