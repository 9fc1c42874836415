//! `GET /api/ledger`: the signed-in user's own ledger rows, newest first, with a cursor.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::accounts::session::Session;
use crate::error::{ApiError, ApiResult};
use crate::extract::QueryParams;
use crate::state::AppState;

#[derive(Deserialize)]
pub struct LedgerQuery {
    limit: Option<u32>,
    cursor: Option<String>,
}

pub async fn list_ledger(
    State(state): State<AppState>,
    session: Session,
    QueryParams(q): QueryParams<LedgerQuery>,
) -> ApiResult<Json<Value>> {
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let before = match q.cursor.as_deref() {
        None | Some("") => None,
        Some(c) => Some(
            c.parse::<i64>()
                .map_err(|_| ApiError::bad_request("invalid_cursor", "cursor is not valid"))?,
        ),
    };
    let user_id = session.user.id;
    let rows = state
        .db
        .read(move |conn| super::find_ledger_rows_of_user(conn, user_id, before, limit))
        .await?;
    let next = if rows.len() == limit as usize {
        rows.last().map(|r| r.id.to_string())
    } else {
        None
    };
    Ok(Json(json!({ "data": rows, "next_cursor": next })))
}
