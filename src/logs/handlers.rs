//! `/api/logs`, `/api/logs.csv`, `/api/usage` for members and `/api/admin/logs` (+ `.csv`) for
//! admins.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::query::{self, csv_field, Filter, LogFilter};
use crate::accounts::session::{Admin, Session};
use crate::error::ErrorBody;
use crate::error::{ApiError, ApiResult};
use crate::extract::QueryParams;
use crate::openapi::{AdminErrors, MemberErrors};
use crate::pagination;
use crate::state::AppState;

/// A page of request logs, as `GET /api/logs` and `GET /api/admin/logs` answer (for the OpenAPI
/// document).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct LogListResponse {
    /// Newest first.
    pub data: Vec<query::LogView>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
    /// Totals over every row the filter matches; on the first page only (without `cursor`).
    #[schema(required = false)]
    pub summary: Option<query::LogSummary>,
}

/// A page of rows, with the filter's totals when it is the first page.
fn page(
    rows: Vec<query::LogView>,
    limit: u32,
    summary: Option<query::LogSummary>,
) -> ApiResult<Json<Value>> {
    let Json(mut body) = pagination::page(&rows, limit, |r| r.id);
    if let Some(summary) = summary {
        body["summary"] = serde_json::to_value(summary).map_err(ApiError::internal)?;
    }
    Ok(Json(body))
}

/// One page of the filter's rows, and its totals on the first page.
fn find_page(
    conn: &rusqlite::Connection,
    filter: &LogFilter,
    owner: Option<i64>,
    limit: u32,
) -> ApiResult<(Vec<query::LogView>, Option<query::LogSummary>)> {
    let f = Filter::parse(filter, owner)?;
    let before = query::parse_cursor(filter.cursor.as_deref())?;
    let rows = query::find_logs(conn, &f, before, limit)?;
    let first_page = filter.cursor.as_deref().is_none_or(str::is_empty);
    let summary = if first_page {
        Some(query::summarize_logs(conn, &f)?)
    } else {
        None
    };
    Ok((rows, summary))
}

#[utoipa::path(
    get,
    path = "/api/logs",
    tag = "logs",
    summary = "The member's request logs",
    description = "The member's `/v1` requests, newest first, filtered. `user_id` is refused here. \
        The first page (no `cursor`) also carries `summary`, the totals of every row the filter \
        matches.",
    params(LogFilter),
    security(("cr_session" = [])),
    responses(
        (status = 200, description = "A page of logs", body = LogListResponse),
        (status = 400, description = "A malformed filter (`invalid_query`, e.g. `user_id` given) or cursor (`invalid_cursor`)", body = ErrorBody),
        MemberErrors,
    ),
)]
pub async fn list_logs(
    State(state): State<AppState>,
    session: Session,
    QueryParams(filter): QueryParams<LogFilter>,
) -> ApiResult<Json<Value>> {
    if filter.user_id.is_some() {
        return Err(ApiError::bad_request(
            "invalid_query",
            "user_id is for admins",
        ));
    }
    let limit = pagination::limit(filter.limit);
    let user_id = session.user.id;
    let (rows, summary) = state
        .db
        .read(move |conn| find_page(conn, &filter, Some(user_id), limit))
        .await?;
    page(rows, limit, summary)
}

#[utoipa::path(
    get,
    path = "/api/admin/logs",
    tag = "admin",
    summary = "Everyone's request logs",
    description = "Admin only. Every account's `/v1` requests, newest first; `user_id` narrows to \
        one account. The first page also carries `summary`, the filter's totals.",
    params(LogFilter),
    security(("cr_session" = ["admin"])),
    responses(
        (status = 200, description = "A page of logs", body = LogListResponse),
        (status = 400, description = "A malformed filter (`invalid_query`) or cursor (`invalid_cursor`)", body = ErrorBody),
        AdminErrors,
    ),
)]
pub async fn list_all_logs(
    State(state): State<AppState>,
    _admin: Admin,
    QueryParams(filter): QueryParams<LogFilter>,
) -> ApiResult<Json<Value>> {
    let limit = pagination::limit(filter.limit);
    let (rows, summary) = state
        .db
        .read(move |conn| find_page(conn, &filter, None, limit))
        .await?;
    page(rows, limit, summary)
}

/// The CSV header; `with_user` adds the account (for admins).
fn csv_header(with_user: bool) -> &'static str {
    if with_user {
        "time,request_id,user,key,model,upstream,input_tokens,cache_read_tokens,cache_write_tokens,cache_write_1h_tokens,output_tokens,reasoning_tokens,cost_usd,status,latency_ms,stream,client_ip,usage_source,error,error_code,uncollected_usd\n"
    } else {
        "time,request_id,key,model,upstream,input_tokens,cache_read_tokens,cache_write_tokens,cache_write_1h_tokens,output_tokens,reasoning_tokens,cost_usd,status,latency_ms,stream,client_ip,usage_source,error,error_code,uncollected_usd\n"
    }
}

/// Appends `rows` as CSV lines to `out`.
fn csv_lines(rows: Vec<query::LogView>, with_user: bool, out: &mut String) {
    for r in rows {
        let mut fields = vec![r.created_at, r.request_id];
        if with_user {
            fields.push(r.username.unwrap_or_default());
        }
        fields.extend([
            r.key_name,
            r.model,
            r.upstream,
            r.input_tokens.to_string(),
            r.cache_read_tokens.to_string(),
            r.cache_write_tokens.to_string(),
            r.cache_write_1h_tokens.to_string(),
            r.output_tokens.to_string(),
            r.reasoning_tokens.to_string(),
            r.cost.to_string(),
            r.status.to_string(),
            r.latency_ms.to_string(),
            r.stream.to_string(),
            r.client_ip,
            r.usage_source,
            r.error,
            r.error_code,
            r.uncollected.to_string(),
        ]);
        let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        out.push_str(&line.join(","));
        out.push('\n');
    }
}

/// Rows read per page of a CSV export: each page is its own short read, so an export of any size
/// never holds a read transaction open (which would keep checkpoints from recycling the WAL).
const CSV_PAGE: u32 = 1000;

/// Pages of CSV in flight between the reading thread and the client: the export's memory.
const CSV_PAGES_IN_FLIGHT: usize = 4;

/// A CSV download of every row `f` matches below id `before` (the first `cap` of them when
/// asked), streamed: a blocking task reads page after page by cursor and hands each to the body
/// through a bounded channel, so memory stays the same whatever the size, and a client that
/// reads slowly (or leaves) stops the reading.
fn stream_csv(
    state: &AppState,
    f: Filter,
    before: i64,
    cap: Option<u32>,
    with_user: bool,
) -> Response {
    let (sender, receiver) =
        tokio::sync::mpsc::channel::<Result<String, std::io::Error>>(CSV_PAGES_IN_FLIGHT);
    let db = state.db.clone();
    tokio::task::spawn_blocking(move || {
        let mut left = cap.map(u64::from);
        let mut before = before;
        let mut chunk = String::from(csv_header(with_user));
        loop {
            let limit = match left {
                Some(0) => break,
                Some(n) => n.min(u64::from(CSV_PAGE)) as u32,
                None => CSV_PAGE,
            };
            let rows = match db.read_blocking(|conn| query::find_logs(conn, &f, before, limit)) {
                Ok(rows) => rows,
                Err(e) => {
                    tracing::error!(error = %e.cli_text(), "a CSV export stopped: reading failed");
                    let _ = sender.blocking_send(Err(std::io::Error::other("reading logs failed")));
                    return;
                }
            };
            let full = rows.len() == limit as usize;
            if let Some(last) = rows.last() {
                before = last.id;
            }
            if let Some(n) = left.as_mut() {
                *n -= rows.len() as u64;
            }
            csv_lines(rows, with_user, &mut chunk);
            if sender
                .blocking_send(Ok(std::mem::take(&mut chunk)))
                .is_err()
            {
                return; // the client left
            }
            if !full {
                break;
            }
        }
    });
    let body = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|chunk| (chunk, receiver))
    });
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"code-router-logs.csv\"",
            ),
        ],
        axum::body::Body::from_stream(body),
    )
        .into_response()
}

/// The same rows as CSV, every one of them (or the first `limit`), for spreadsheets.
#[utoipa::path(
    get,
    path = "/api/logs.csv",
    tag = "logs",
    summary = "The member's request logs as CSV",
    description = "The rows of `GET /api/logs` with the same filters, as a CSV download: every row the filter matches, streamed (or the first \
        `limit`). Columns: time, request_id, key, model, upstream, input_tokens, \
        cache_read_tokens, cache_write_tokens, cache_write_1h_tokens, output_tokens, \
        reasoning_tokens, cost_usd, status, latency_ms, stream, client_ip, usage_source, error, \
        error_code, uncollected_usd.",
    params(LogFilter),
    security(("cr_session" = [])),
    responses(
        (status = 200, description = "CSV with a header row", content_type = "text/csv", body = String,
            headers(("content-disposition" = String, description = "`attachment; filename=\"code-router-logs.csv\"`"))),
        (status = 400, description = "A malformed filter (`invalid_query`) or cursor (`invalid_cursor`)", body = ErrorBody),
        MemberErrors,
    ),
)]
pub async fn export_csv(
    State(state): State<AppState>,
    session: Session,
    QueryParams(filter): QueryParams<LogFilter>,
) -> ApiResult<Response> {
    if filter.user_id.is_some() {
        return Err(ApiError::bad_request(
            "invalid_query",
            "user_id is for admins",
        ));
    }
    let f = Filter::parse(&filter, Some(session.user.id))?;
    let before = query::parse_cursor(filter.cursor.as_deref())?;
    Ok(stream_csv(&state, f, before, filter.limit, false))
}

/// Everyone's rows as CSV, with the account of each.
#[utoipa::path(
    get,
    path = "/api/admin/logs.csv",
    tag = "admin",
    summary = "Everyone's request logs as CSV",
    description = "Admin only. The rows of `GET /api/admin/logs` with the same filters, as a CSV \
        download: every row the filter matches, streamed (or the first `limit`). Columns: time, request_id, user, key, model, upstream, \
        input_tokens, cache_read_tokens, cache_write_tokens, cache_write_1h_tokens, \
        output_tokens, reasoning_tokens, cost_usd, status, latency_ms, stream, client_ip, \
        usage_source, error, error_code, uncollected_usd.",
    params(LogFilter),
    security(("cr_session" = ["admin"])),
    responses(
        (status = 200, description = "CSV with a header row", content_type = "text/csv", body = String,
            headers(("content-disposition" = String, description = "`attachment; filename=\"code-router-logs.csv\"`"))),
        (status = 400, description = "A malformed filter (`invalid_query`) or cursor (`invalid_cursor`)", body = ErrorBody),
        AdminErrors,
    ),
)]
pub async fn export_all_csv(
    State(state): State<AppState>,
    _admin: Admin,
    QueryParams(filter): QueryParams<LogFilter>,
) -> ApiResult<Response> {
    let f = Filter::parse(&filter, None)?;
    let before = query::parse_cursor(filter.cursor.as_deref())?;
    Ok(stream_csv(&state, f, before, filter.limit, true))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UsageQuery {
    /// How many days back, today included: default 30, from 1 to 366.
    days: Option<u32>,
}

/// One day's totals in `GET /api/usage` (for the OpenAPI document).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct UsageDay {
    /// The day, UTC, as `YYYY-MM-DD`.
    #[schema(format = Date)]
    pub date: String,
    #[serde(flatten)]
    pub totals: super::usage::UsageBucket,
}

/// One model's totals in `GET /api/usage` (for the OpenAPI document).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct UsageModel {
    pub model: String,
    #[serde(flatten)]
    pub totals: super::usage::UsageBucket,
}

/// One key's totals in `GET /api/usage` (for the OpenAPI document).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct UsageKey {
    pub key_id: i64,
    /// The key's name now (a deleted key keeps its last one).
    pub name: String,
    /// The key was deleted since.
    pub deleted: bool,
    #[serde(flatten)]
    pub totals: super::usage::UsageBucket,
}

/// What `GET /api/usage` answers (for the OpenAPI document).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct UsageResponse {
    /// Days with requests, oldest first.
    pub by_day: Vec<UsageDay>,
    /// Models by cost, highest first.
    pub by_model: Vec<UsageModel>,
    /// Keys by cost, highest first.
    pub by_key: Vec<UsageKey>,
    /// The number of days covered.
    pub days: i64,
}

/// Totals per day, per model and per key over the last `days` (default 30, at most 366).
#[utoipa::path(
    get,
    path = "/api/usage",
    tag = "logs",
    summary = "The member's usage totals",
    description = "Requests, tokens and cost per day, per model and per key over the last \
        `days`, from the start of the first day (UTC).",
    params(UsageQuery),
    security(("cr_session" = [])),
    responses(
        (status = 200, description = "Totals per day, per model and per key", body = UsageResponse),
        (status = 400, description = "A malformed query (`invalid_query`)", body = ErrorBody),
        MemberErrors,
    ),
)]
pub async fn usage(
    State(state): State<AppState>,
    session: Session,
    QueryParams(q): QueryParams<UsageQuery>,
) -> ApiResult<Json<Value>> {
    let days = i64::from(q.days.unwrap_or(30).clamp(1, 366));
    let now = state.clock.now();
    // From the start of the first day, UTC.
    let since = (now - (days - 1) * 86_400).div_euclid(86_400) * 86_400;
    let user_id = session.user.id;
    let mut body = state
        .db
        .read(move |conn| super::usage::usage_of_user(conn, user_id, since))
        .await?;
    body["days"] = json!(days);
    Ok(Json(body))
}
