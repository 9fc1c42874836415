//! `/api/logs`, `/api/logs.csv`, `/api/usage` for members and `/api/admin/logs` for admins.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::query::{self, csv_field, LogFilter};
use crate::accounts::session::{Admin, Session};
use crate::error::{ApiError, ApiResult};
use crate::extract::QueryParams;
use crate::state::AppState;

fn page(rows: Vec<query::LogView>, limit: u32) -> Json<Value> {
    let next = if rows.len() == limit as usize {
        rows.last().map(|r| r.id.to_string())
    } else {
        None
    };
    Json(json!({ "data": rows, "next_cursor": next }))
}

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
    let limit = filter.limit.unwrap_or(50).clamp(1, 500);
    let user_id = session.user.id;
    let rows = state
        .db
        .read(move |conn| query::find_logs(conn, &filter, Some(user_id), limit))
        .await?;
    Ok(page(rows, limit))
}

pub async fn list_all_logs(
    State(state): State<AppState>,
    _admin: Admin,
    QueryParams(filter): QueryParams<LogFilter>,
) -> ApiResult<Json<Value>> {
    let limit = filter.limit.unwrap_or(50).clamp(1, 500);
    let rows = state
        .db
        .read(move |conn| query::find_logs(conn, &filter, None, limit))
        .await?;
    Ok(page(rows, limit))
}

/// The same rows as CSV (up to 100,000 of them), for spreadsheets.
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
        "time,request_id,key,model,upstream,input_tokens,output_tokens,cost_usd,status,latency_ms,stream,client_ip,usage_source,error\n",
    );
    for r in rows {
        let fields = [
            r.created_at,
            r.request_id,
            r.key_name,
            r.model,
            r.upstream,
            r.input_tokens.to_string(),
            r.output_tokens.to_string(),
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsageQuery {
    days: Option<u32>,
}

/// Totals per day and per model over the last `days` (default 30, at most 366).
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
