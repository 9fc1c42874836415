//! `/api/logs`, `/api/logs.csv`, `/api/usage` for members and `/api/admin/logs` for admins.

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
}

fn page(rows: Vec<query::LogView>, limit: u32) -> Json<Value> {
    pagination::page(&rows, limit, |r| r.id)
}

#[utoipa::path(
    get,
    path = "/api/logs",
    tag = "logs",
    summary = "The member's request logs",
    description = "The member's `/v1` requests, newest first, filtered. `user_id` is refused here.",
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
    let rows = state
        .db
        .read(move |conn| query::find_logs(conn, &filter, Some(user_id), limit))
        .await?;
    Ok(page(rows, limit))
}

#[utoipa::path(
    get,
    path = "/api/admin/logs",
    tag = "admin",
    summary = "Everyone's request logs",
    description = "Admin only. Every account's `/v1` requests, newest first; `user_id` narrows to one account.",
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
    let rows = state
        .db
        .read(move |conn| query::find_logs(conn, &filter, None, limit))
        .await?;
    Ok(page(rows, limit))
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
        reasoning_tokens, cost_usd, status, latency_ms, stream, client_ip, usage_source, error.",
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
    let limit = filter.limit.unwrap_or(100_000).clamp(1, 100_000);
    let user_id = session.user.id;
    let rows = state
        .db
        .read(move |conn| query::find_logs(conn, &filter, Some(user_id), limit))
        .await?;
    let mut out = String::from(
        "time,request_id,key,model,upstream,input_tokens,cache_read_tokens,cache_write_tokens,cache_write_1h_tokens,output_tokens,reasoning_tokens,cost_usd,status,latency_ms,stream,client_ip,usage_source,error\n",
    );
    for r in rows {
        let fields = [
            r.created_at,
            r.request_id,
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
        ];
        let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        out.push_str(&line.join(","));
        out.push('\n');
    }
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"code-router-logs.csv\"",
            ),
        ],
        out,
    )
        .into_response())
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

/// What `GET /api/usage` answers (for the OpenAPI document).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct UsageResponse {
    /// Days with requests, oldest first.
    pub by_day: Vec<UsageDay>,
    /// Models by cost, highest first.
    pub by_model: Vec<UsageModel>,
    /// The number of days covered.
    pub days: i64,
}

/// Totals per day and per model over the last `days` (default 30, at most 366).
#[utoipa::path(
    get,
    path = "/api/usage",
    tag = "logs",
    summary = "The member's usage totals",
    description = "Requests, tokens and cost per day and per model over the last `days`, from \
        the start of the first day (UTC).",
    params(UsageQuery),
    security(("cr_session" = [])),
    responses(
        (status = 200, description = "Totals per day and per model", body = UsageResponse),
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
