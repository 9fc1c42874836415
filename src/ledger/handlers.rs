//! `GET /api/ledger`: the signed-in user's own ledger rows, newest first, with a cursor.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::accounts::session::Session;
use crate::error::ErrorBody;
use crate::error::{ApiError, ApiResult};
use crate::extract::QueryParams;
use crate::openapi::MemberErrors;
use crate::state::AppState;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LedgerQuery {
    /// Rows per page: default 50, at most 500.
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// A page of ledger rows, as `GET /api/ledger` answers (for the OpenAPI document).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct LedgerListResponse {
    pub data: Vec<super::LedgerRow>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/ledger",
    tag = "ledger",
    summary = "The member's ledger",
    description = "Every change to the member's balances, newest first: top-ups, redemptions, \
        holds and settlements of requests, refunds, referral rewards, transfers and adjustments.",
    params(LedgerQuery),
    security(("cr_session" = [])),
    responses(
        (status = 200, description = "A page of ledger rows", body = LedgerListResponse),
        (status = 400, description = "A malformed query (`invalid_query`) or cursor (`invalid_cursor`)", body = ErrorBody),
        MemberErrors,
    ),
)]
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
