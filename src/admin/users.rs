//! `/api/admin/users`: list and search accounts, and credit or debit a balance with a reason.

use axum::extract::State;
use axum::Json;
use rusqlite::params;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::accounts::session::Admin;
use crate::accounts::{User, USER_COLUMNS};
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, PathId, QueryParams};
use crate::ledger::{self, money::Money};
use crate::state::AppState;

#[derive(Deserialize)]
pub struct UserQuery {
    q: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
}

fn user_json(u: &User) -> Value {
    json!({
        "id": u.id,
        "username": u.username,
        "role": u.role,
        "group": u.group,
        "disabled": u.disabled,
        "balance": u.balance,
        "reward_balance": u.reward_balance,
        "created_at": crate::clock::rfc3339(u.created_at),
    })
}

/// Accounts by id, optionally those whose username contains `q`; `cursor` is the last id seen.
pub async fn list_users(
    State(state): State<AppState>,
    _admin: Admin,
    QueryParams(query): QueryParams<UserQuery>,
) -> ApiResult<Json<Value>> {
    let limit = query.limit.unwrap_or(50).clamp(1, 500);
    let after: i64 = match query.cursor.as_deref() {
        None | Some("") => 0,
        Some(c) => c
            .parse()
            .map_err(|_| ApiError::bad_request("invalid_cursor", "cursor is not valid"))?,
    };
    let pattern = format!(
        "%{}%",
        query
            .q
            .unwrap_or_default()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    );
    let users = state
        .db
        .read(move |conn| {
            let sql = format!(
                "SELECT {USER_COLUMNS} FROM users WHERE id > ?1 AND username LIKE ?2 ESCAPE '\\'
                 ORDER BY id LIMIT ?3"
            );
            let mut stmt = conn.prepare_cached(&sql)?;
            let rows = stmt.query_map(params![after, pattern, limit], User::from_row)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await?;
    let next = if users.len() == limit as usize {
        users.last().map(|u| u.id.to_string())
    } else {
        None
    };
    let data: Vec<Value> = users.iter().map(user_json).collect();
    Ok(Json(json!({ "data": data, "next_cursor": next })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdjustRequest {
    amount: Money,
    reason: String,
}

/// Credits (positive) or debits (negative) the user's balance; one ledger row names the admin.
pub async fn adjust_user(
    State(state): State<AppState>,
    Admin(admin): Admin,
    PathId(user_id): PathId,
    JsonBody(req): JsonBody<AdjustRequest>,
) -> ApiResult<Json<Value>> {
    let now = state.clock.now();
    let by = admin.username.clone();
    let balance = state
        .db
        .write(move |conn| ledger::adjust(conn, user_id, req.amount, &req.reason, &by, now))
        .await?;
    tracing::info!(admin = admin.id, user = user_id, "balance adjusted");
    Ok(Json(json!({ "id": user_id, "balance": balance })))
}
