//! `GET /api/ledger`: the signed-in user's own ledger rows, newest first, with a cursor, filtered
//! by kind and time; `GET /api/ledger/charges`: their request charges summed per day.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::history::{self, HistoryFilter};
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
    /// Only rows of these kinds, comma-separated (`topup,redeem`): `topup`, `redeem`, `settle`,
    /// `refund`, `referral_reward`, `commission`, `transfer`, `adjust` (`hold`, `release`).
    kind: Option<String>,
    /// Rows at or after this time: RFC 3339, or `YYYY-MM-DD` for the start of that day (UTC).
    from: Option<String>,
    /// Rows before this time: RFC 3339, or `YYYY-MM-DD` for the whole of that day (UTC).
    to: Option<String>,
}

/// A page of ledger rows, as `GET /api/ledger` answers (for the OpenAPI document).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct LedgerListResponse {
    pub data: Vec<history::HistoryRow>,
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
        charges of requests, refunds, referral rewards, commission, transfers and adjustments; \
        optionally only some kinds, or a time range. Each row carries a stable `code` with \
        `params` so a client can word it in any language; `reason` is the server's English.",
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
    let filter = HistoryFilter::parse(q.kind.as_deref(), q.from.as_deref(), q.to.as_deref())?;
    let user_id = session.user.id;
    let rows = state
        .db
        .read(move |conn| history::find_history(conn, user_id, &filter, before, limit))
        .await?;
    Ok(pagination::page(&rows, limit, |r| r.row.id))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ChargesQuery {
    /// How many days back, today included: default 30, from 1 to 366.
    days: Option<u32>,
}

/// What `GET /api/ledger/charges` answers (for the OpenAPI document).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ChargesResponse {
    /// Days with charges, newest first.
    pub data: Vec<history::ChargeDay>,
    /// The number of days covered.
    pub days: i64,
}

#[utoipa::path(
    get,
    path = "/api/ledger/charges",
    tag = "ledger",
    summary = "The member's request charges per day",
    description = "What requests took from the balance, per day (UTC), over the last `days`: \
        one line per day instead of one row per request. The rows of one day are \
        `GET /api/ledger?kind=settle&from=DAY&to=DAY`.",
    params(ChargesQuery),
    security(("cr_session" = [])),
    responses(
        (status = 200, description = "Charges per day", body = ChargesResponse),
        (status = 400, description = "A malformed query (`invalid_query`)", body = ErrorBody),
        MemberErrors,
    ),
)]
pub async fn charges_per_day(
    State(state): State<AppState>,
    session: Session,
    QueryParams(q): QueryParams<ChargesQuery>,
) -> ApiResult<Json<Value>> {
    let days = i64::from(q.days.unwrap_or(30).clamp(1, 366));
    let since = (state.clock.now() - (days - 1) * 86_400).div_euclid(86_400) * 86_400;
    let user_id = session.user.id;
    let data = state
        .db
        .read(move |conn| history::charges_per_day(conn, user_id, since))
        .await?;
    Ok(Json(json!({ "data": data, "days": days })))
}
