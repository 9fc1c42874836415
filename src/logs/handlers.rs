//! `/api/logs`, `/api/logs.csv`, `/api/usage` for members and `/api/admin/logs` (+ `.csv`) for
//! admins.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::query::{self, csv_field, LogFilter};
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
    let rows = query::find_logs(conn, filter, owner, limit)?;
    let first_page = filter.cursor.as_deref().is_none_or(str::is_empty);
    let summary = if first_page {
        Some(query::summarize_logs(conn, filter, owner)?)
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

/// The CSV header and rows of `rows`; `with_user` adds the account (for admins).
fn csv_of(rows: Vec<query::LogView>, with_user: bool) -> String {
    let mut out = String::from(if with_user {
        "time,request_id,user,key,model,upstream,input_tokens,cache_read_tokens,cache_write_tokens,cache_write_1h_tokens,output_tokens,reasoning_tokens,cost_usd,status,latency_ms,stream,client_ip,usage_source,error,error_code,uncollected_usd\n"
    } else {
        "time,request_id,key,model,upstream,input_tokens,cache_read_tokens,cache_write_tokens,cache_write_1h_tokens,output_tokens,reasoning_tokens,cost_usd,status,latency_ms,stream,client_ip,usage_source,error,error_code,uncollected_usd\n"
    });
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
    out
}

fn csv_response(body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"code-router-logs.csv\"",
            ),
        ],
        body,
    )
        .into_response()
}

/// The CSV page size: default and at most 100,000 rows.
fn csv_limit(asked: Option<u32>) -> u32 {
    asked.unwrap_or(100_000).clamp(1, 100_000)
}

/// The same rows as CSV (up to 100,000 of them), for spreadsheets.
#[utoipa::path(
    get,
    path = "/api/logs.csv",
    tag = "logs",
    summary = "The member's request logs as CSV",
    description = "The rows of `GET /api/logs` with the same filters, as a CSV download (up to \
        100000 rows). Columns: time, request_id, key, model, upstream, input_tokens, \
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
    let limit = csv_limit(filter.limit);
    let user_id = session.user.id;
    let rows = state
        .db
        .read(move |conn| query::find_logs(conn, &filter, Some(user_id), limit))
        .await?;
    Ok(csv_response(csv_of(rows, false)))
}

/// Everyone's rows as CSV, with the account of each.
#[utoipa::path(
    get,
    path = "/api/admin/logs.csv",
    tag = "admin",
    summary = "Everyone's request logs as CSV",
    description = "Admin only. The rows of `GET /api/admin/logs` with the same filters, as a CSV \
        download (up to 100000 rows). Columns: time, request_id, user, key, model, upstream, \
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
    let limit = csv_limit(filter.limit);
    let rows = state
        .db
        .read(move |conn| query::find_logs(conn, &filter, None, limit))
        .await?;
    Ok(csv_response(csv_of(rows, true)))
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
    pub totals: query::UsageBucket,
}

/// One model's totals in `GET /api/usage` (for the OpenAPI document).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct UsageModel {
    pub model: String,
    #[serde(flatten)]
    pub totals: query::UsageBucket,
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
    pub totals: query::UsageBucket,
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
        .read(move |conn| query::usage_of_user(conn, user_id, since))
        .await?;
    body["days"] = json!(days);
    Ok(Json(body))
}
