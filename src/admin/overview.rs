//! `GET /api/admin/overview`: the operator's picture of a period — revenue (paid top-ups) and
//! redemptions against spend (request charges) per day, requests and errors, what could not be
//! collected, active and new members, and the top members and models.

use axum::extract::State;
use axum::Json;
use rusqlite::{params, Connection};
use serde::{Deserialize, Serialize};

use crate::accounts::session::Admin;
use crate::db::Store;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::QueryParams;
use crate::ledger::money::Money;
use crate::logs::usage::DAY;
use crate::openapi::AdminErrors;
use crate::state::AppState;

/// Rows in each top list.
const TOP: i64 = 10;

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OverviewQuery {
    /// How many days back, today included: default 14, from 1 to 366.
    days: Option<u32>,
}

/// One day of the period (UTC).
#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
pub struct OverviewDay {
    #[schema(format = Date)]
    pub date: String,
    /// Paid top-ups credited.
    pub revenue: Money,
    /// Redemption codes credited.
    pub redeemed: Money,
    /// What requests were charged.
    pub spend: Money,
    pub requests: i64,
    /// Requests that answered 400 or more.
    pub errors: i64,
    /// What requests cost beyond what the balance (or the key's limit) could cover.
    pub uncollected: Money,
}

/// The whole period's figures.
#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
pub struct OverviewTotals {
    pub revenue: Money,
    pub redeemed: Money,
    pub spend: Money,
    pub requests: i64,
    pub errors: i64,
    pub uncollected: Money,
    /// Requests whose cost was not collected in full.
    pub uncollected_requests: i64,
    /// Accounts that made at least one request.
    pub active_members: i64,
    /// Accounts created in the period.
    pub new_members: i64,
    /// Every account there is.
    pub members: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TopMember {
    pub user_id: i64,
    pub username: String,
    /// What their requests were charged.
    pub spend: Money,
    /// Requests charged.
    pub requests: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TopModel {
    pub model: String,
    pub cost: Money,
    pub requests: i64,
    pub uncollected: Money,
}

/// What `GET /api/admin/overview` answers.
#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
pub struct Overview {
    pub days: i64,
    /// Days with any figure, oldest first.
    pub by_day: Vec<OverviewDay>,
    pub totals: OverviewTotals,
    /// By spend, highest first.
    pub top_members: Vec<TopMember>,
    /// By cost, highest first.
    pub top_models: Vec<TopModel>,
}

/// The overview of everything since `since` (Unix seconds, the start of a day): requests from
/// the operator's daily rollups (per model and status, per account: a few rows a day), credits from the ledger's few credit rows, so its cost follows the
/// number of days, members and models, not of requests.
pub fn find_overview(conn: &Connection, since: i64) -> ApiResult<Overview> {
    let mut out = Overview::default();
    let mut days: std::collections::BTreeMap<String, OverviewDay> = Default::default();
    let since_day = since.div_euclid(DAY);
    {
        let mut stmt = conn
            .prepare_cached(
                "SELECT date(created_at, 'unixepoch') AS day, kind, COALESCE(sum(amount), 0)
             FROM ledger WHERE kind IN ('topup', 'redeem') AND created_at >= ?1
             GROUP BY day, kind",
            )
            .store("prepare the daily top-ups")?;
        let mut rows = stmt.query(params![since]).store("read the daily top-ups")?;
        while let Some(r) = rows.next().store("read the daily top-ups")? {
            let date: String = r.get(0).store("read the daily top-ups")?;
            let kind: String = r.get(1).store("read the daily top-ups")?;
            let amount: i64 = r.get(2).store("read the daily top-ups")?;
            let day = days.entry(date.clone()).or_insert_with(|| OverviewDay {
                date,
                ..OverviewDay::default()
            });
            match kind.as_str() {
                "topup" => day.revenue = Money::from_units(amount),
                _ => day.redeemed = Money::from_units(amount),
            }
        }
    }
    {
        let mut stmt = conn
            .prepare_cached(
                "SELECT date(day * 86400, 'unixepoch'), sum(requests),
                    sum(CASE WHEN status >= 400 THEN requests ELSE 0 END), sum(cost),
                    sum(uncollected), sum(uncollected_requests)
             FROM usage_daily_models WHERE day >= ?1 GROUP BY day",
            )
            .store("prepare the daily usage")?;
        let mut rows = stmt
            .query(params![since_day])
            .store("read the daily usage")?;
        while let Some(r) = rows.next().store("read the daily usage")? {
            let date: String = r.get(0).store("read the daily usage")?;
            let day = days.entry(date.clone()).or_insert_with(|| OverviewDay {
                date,
                ..OverviewDay::default()
            });
            day.requests = r.get(1).store("read the daily usage")?;
            day.errors = r.get(2).store("read the daily usage")?;
            day.spend = Money::from_units(r.get(3).store("read the daily usage")?);
            day.uncollected = Money::from_units(r.get(4).store("read the daily usage")?);
            out.totals.uncollected_requests += r.get::<_, i64>(5).store("read the daily usage")?;
        }
    }
    let sum = |f: fn(&OverviewDay) -> i64| days.values().map(f).sum::<i64>();
    out.totals.revenue = Money::from_units(sum(|d| d.revenue.units()));
    out.totals.redeemed = Money::from_units(sum(|d| d.redeemed.units()));
    out.totals.spend = Money::from_units(sum(|d| d.spend.units()));
    out.totals.uncollected = Money::from_units(sum(|d| d.uncollected.units()));
    out.totals.requests = sum(|d| d.requests);
    out.totals.errors = sum(|d| d.errors);
    out.by_day = days.into_values().collect();
    out.totals.active_members = conn
        .prepare_cached(
            "SELECT count(DISTINCT user_id) FROM usage_daily_members WHERE day >= ?1 AND user_id != 0",
        )
        .store("prepare the count of active members")?
        .query_row(params![since_day], |r| r.get(0))
        .store("count the active members")?;
    (out.totals.members, out.totals.new_members) = conn
        .query_row(
            "SELECT count(*), COALESCE(sum(created_at >= ?1), 0) FROM users",
            [since],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .store("count the members")?;
    {
        let mut stmt = conn
            .prepare_cached(
                "SELECT d.user_id, u.username, sum(d.cost) AS spend, sum(d.charged)
             FROM usage_daily_members d JOIN users u ON u.id = d.user_id
             WHERE d.day >= ?1 AND d.user_id != 0
             GROUP BY d.user_id HAVING sum(d.charged) > 0
             ORDER BY spend DESC, d.user_id LIMIT ?2",
            )
            .store("prepare the top members")?;
        let rows = stmt
            .query_map(params![since_day, TOP], |r| {
                Ok(TopMember {
                    user_id: r.get(0)?,
                    username: r.get(1)?,
                    spend: Money::from_units(r.get(2)?),
                    requests: r.get(3)?,
                })
            })
            .store("list the top members")?;
        out.top_members = rows
            .collect::<Result<_, _>>()
            .store("read the top members")?;
    }
    {
        let mut stmt = conn
            .prepare_cached(
                "SELECT model, sum(cost) AS total, sum(requests), sum(uncollected)
             FROM usage_daily_models WHERE day >= ?1 AND model != ''
             GROUP BY model ORDER BY total DESC, sum(requests) DESC, model LIMIT ?2",
            )
            .store("prepare the top models")?;
        let rows = stmt
            .query_map(params![since_day, TOP], |r| {
                Ok(TopModel {
                    model: r.get(0)?,
                    cost: Money::from_units(r.get(1)?),
                    requests: r.get(2)?,
                    uncollected: Money::from_units(r.get(3)?),
                })
            })
            .store("list the top models")?;
        out.top_models = rows
            .collect::<Result<_, _>>()
            .store("read the top models")?;
    }
    Ok(out)
}

#[utoipa::path(
    get,
    path = "/api/admin/overview",
    tag = "admin",
    summary = "The operator's overview",
    description = "Admin only. Over the last `days` (UTC, from the start of the first day): \
        revenue (paid top-ups), redemptions and spend (request charges) per day, requests and \
        errors, amounts that could not be collected, active and new members, and the top \
        members and models.",
    params(OverviewQuery),
    security(("cr_session" = ["admin"])),
    responses(
        (status = 200, description = "The overview", body = Overview),
        (status = 400, description = "A malformed query (`invalid_query`)", body = ErrorBody),
        AdminErrors,
    ),
)]
pub async fn overview(
    State(state): State<AppState>,
    _admin: Admin,
    QueryParams(q): QueryParams<OverviewQuery>,
) -> ApiResult<Json<Overview>> {
    let days = i64::from(q.days.unwrap_or(14).clamp(1, 366));
    let since = (state.clock.now() - (days - 1) * 86_400).div_euclid(86_400) * 86_400;
    let mut body = state
        .db
        .read(move |conn| find_overview(conn, since))
        .await?;
    body.days = days;
    Ok(Json(body))
}
