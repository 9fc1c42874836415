//! `GET /api/ledger`: the signed-in user's own ledger rows, newest first, with a cursor.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::Value;

use crate::accounts::session::Session;
use crate::error::ApiResult;
use crate::error::ErrorBody;
use crate::extract::QueryParams;
use crate::openapi::MemberErrors;
use crate::pagination;
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
        charges of requests, refunds, referral rewards, transfers and adjustments.",
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
    let limit = pagination::limit(q.limit);
    let before = pagination::cursor(q.cursor.as_deref())?;
    let user_id = session.user.id;
    let rows = state
        .db
        .read(move |conn| super::find_ledger_rows_of_user(conn, user_id, before, limit))
        .await?;
    Ok(pagination::page(&rows, limit, |r| r.id))
}
