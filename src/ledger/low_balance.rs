//! The low-balance warning: the console shows a banner on every page while a member's balance is
//! below a threshold they set, or, until they set one, below a day of their recent spend (their
//! average daily charges over the last 7 days). `GET`/`PUT /api/balance-alert`.

use axum::extract::State;
use axum::Json;
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Deserializer, Serialize};

use super::money::Money;
use crate::accounts::session::Session;
use crate::db::Store;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::JsonBody;
use crate::openapi::{BodyTooLarge, MemberErrors};
use crate::state::AppState;

/// The days of spend the default threshold averages.
const RECENT_DAYS: i64 = 7;

/// Where the threshold in use comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ThresholdSource {
    /// The member set it (`0` turns the warning off).
    Custom,
    /// A day of the member's recent spend.
    RecentSpend,
}

/// What `GET /api/balance-alert` answers.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BalanceAlert {
    /// The balance now (requests in flight aside).
    pub balance: Money,
    /// The threshold in use: the warning shows while `balance` is below it; `0` never warns.
    pub threshold: Money,
    pub source: ThresholdSource,
    /// The member's average daily charges over the last 7 days (the default threshold).
    pub recent_daily_spend: Money,
    /// Whether the balance is below the threshold now.
    pub low: bool,
}

/// A member's alert as it stands at `now`.
pub fn find_balance_alert(conn: &Connection, user_id: i64, now: i64) -> ApiResult<BalanceAlert> {
    let balance: i64 = conn
        .query_row("SELECT balance FROM users WHERE id = ?1", [user_id], |r| {
            r.get(0)
        })
        .store("read the balance")?;
    let custom: Option<i64> = conn
        .query_row(
            "SELECT threshold FROM low_balance_alerts WHERE user_id = ?1",
            [user_id],
            |r| r.get(0),
        )
        .optional()
        .store("read the alert threshold")?;
    // From the usage rollups of the days the last RECENT_DAYS touch (a few rows a day, however
    // many requests): the first of them may add a part day, which warns a little early.
    let since_day = (now - RECENT_DAYS * 86_400).div_euclid(86_400);
    let spent: i64 = conn
        .prepare_cached(
            "SELECT COALESCE(sum(cost), 0) FROM usage_daily WHERE user_id = ?1 AND day >= ?2",
        )
        .store("prepare the recent spend")?
        .query_row(params![user_id, since_day], |r| r.get(0))
        .store("read the recent spend")?;
    // Rounded up: a warning a little early is better than one a little late.
    let daily = Money::from_units((spent.max(0) as u64).div_ceil(RECENT_DAYS as u64) as i64);
    let (threshold, source) = match custom {
        Some(units) => (Money::from_units(units), ThresholdSource::Custom),
        None => (daily, ThresholdSource::RecentSpend),
    };
    Ok(BalanceAlert {
        balance: Money::from_units(balance),
        threshold,
        source,
        recent_daily_spend: daily,
        low: threshold.is_positive() && balance < threshold.units(),
    })
}

/// Sets (`Some`) or forgets (`None`, back to a day of recent spend) a member's threshold.
pub fn set_threshold(
    conn: &Connection,
    user_id: i64,
    threshold: Option<Money>,
    now: i64,
) -> ApiResult<()> {
    match threshold {
        Some(t) => conn.execute(
            "INSERT INTO low_balance_alerts (user_id, threshold, updated_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (user_id) DO UPDATE SET threshold = excluded.threshold,
                                                 updated_at = excluded.updated_at",
            params![user_id, t.units(), now],
        ).store("set the alert threshold")?,
        None => conn.execute(
            "DELETE FROM low_balance_alerts WHERE user_id = ?1",
            [user_id],
        ).store("delete the alert threshold")?,
    };
    Ok(())
}

#[utoipa::path(
    get,
    path = "/api/balance-alert",
    tag = "ledger",
    summary = "The member's low-balance warning",
    description = "The balance, the threshold below which the console warns (the member's own, \
        or a day of their recent spend: their average daily charges over the last 7 days) and \
        whether the balance is below it now.",
    security(("cr_session" = [])),
    responses(
        (status = 200, description = "The warning as it stands", body = BalanceAlert),
        MemberErrors,
    ),
)]
pub async fn get_balance_alert(
    State(state): State<AppState>,
    session: Session,
) -> ApiResult<Json<BalanceAlert>> {
    let user_id = session.user.id;
    let now = state.clock.now();
    let alert = state
        .db
        .read(move |conn| find_balance_alert(conn, user_id, now))
        .await?;
    Ok(Json(alert))
}

/// Tells an absent field from an explicit `null`.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<Money>>, D::Error> {
    Option::<Money>::deserialize(d).map(Some)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetBalanceAlert {
    /// Warn below this balance; `"0"` never warns; `null` goes back to a day of recent spend.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Money>, required = true)]
    threshold: Option<Option<Money>>,
}

#[utoipa::path(
    put,
    path = "/api/balance-alert",
    tag = "ledger",
    summary = "Set the low-balance threshold",
    description = "Sets the balance below which the console warns on every page: an amount, \
        `\"0\"` for never, or `null` for the default (a day of recent spend).",
    request_body = SetBalanceAlert,
    security(("cr_session" = [])),
    responses(
        (status = 200, description = "The warning as it stands now", body = BalanceAlert),
        (status = 400, description = "Malformed body, or a negative threshold (`invalid_threshold`)", body = ErrorBody),
        BodyTooLarge,
        MemberErrors,
    ),
)]
pub async fn put_balance_alert(
    State(state): State<AppState>,
    session: Session,
    JsonBody(req): JsonBody<SetBalanceAlert>,
) -> ApiResult<Json<BalanceAlert>> {
    let Some(threshold) = req.threshold else {
        return Err(ApiError::bad_request(
            "invalid_threshold",
            "give a threshold: an amount, \"0\" for never, or null for the default",
        ));
    };
    if threshold.is_some_and(|t| t.units() < 0) {
        return Err(ApiError::bad_request(
            "invalid_threshold",
            "the threshold must not be negative",
        ));
    }
    let user_id = session.user.id;
    let now = state.clock.now();
    let alert = state
        .db
        .write(move |conn| {
            set_threshold(conn, user_id, threshold, now)?;
            find_balance_alert(conn, user_id, now)
        })
        .await?;
    Ok(Json(alert))
}
