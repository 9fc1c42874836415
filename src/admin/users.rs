//! `/api/admin/users`: list, search and create accounts (with their referral figures and price
//! multiplier), credit or debit a balance with a reason, and reset a password.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use rusqlite::params;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::accounts::session::Admin;
use crate::accounts::{password, NewUser, Role, User, USER_COLUMNS};
use crate::db::Store;
use crate::error::ErrorBody;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, PathId, QueryParams};
use crate::ledger::{self, money::Money};
use crate::openapi::{AdminErrors, BodyTooLarge};
use crate::pagination;
use crate::pricing::PriceTable;
use crate::referral::commission::{find_admin_figures, AdminFigures};
use crate::state::AppState;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserQuery {
    /// Only usernames containing this text.
    q: Option<String>,
    /// Accounts per page: default 50, at most 500.
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// An account as the admin routes show it (for the OpenAPI document; built by `user_json`).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct AdminUserView {
    pub id: i64,
    pub username: String,
    pub role: crate::accounts::Role,
    /// The price group: `default` or a name under `[groups]` of the config.
    pub group: String,
    /// The group's price multiplier in use now, as a decimal string.
    #[schema(example = "0.8")]
    pub multiplier: String,
    pub disabled: bool,
    pub balance: Money,
    pub reward_balance: Money,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// The account whose referral code this one registered with, if any.
    #[schema(required = true)]
    pub invited_by: Option<i64>,
    /// Accounts registered with this account's referral code.
    pub invitees: i64,
    /// Commission this account earned on its invitees' top-ups.
    pub commission_earned: Money,
}

/// A page of accounts, as `GET /api/admin/users` answers (for the OpenAPI document).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct UserListResponse {
    /// By id, oldest first.
    pub data: Vec<AdminUserView>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// What `POST /api/admin/users/{id}/adjust` answers (for the OpenAPI document).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct AdjustResponse {
    /// The user's id.
    pub id: i64,
    /// The balance after the adjustment.
    pub balance: Money,
}

fn user_json(u: &User, referral: &AdminFigures, prices: &PriceTable) -> Value {
    json!({
        "id": u.id,
        "username": u.username,
        "role": u.role,
        "group": u.group,
        "multiplier": prices.group_rate(&u.group).normalize().to_string(),
        "disabled": u.disabled,
        "balance": u.balance,
        "reward_balance": u.reward_balance,
        "created_at": crate::clock::rfc3339(u.created_at),
        "invited_by": referral.inviter_id,
        "invitees": referral.invitees,
        "commission_earned": referral.commission_earned,
    })
}

/// Accounts by id, optionally those whose username contains `q`; `cursor` is the last id seen.
#[utoipa::path(
    get,
    path = "/api/admin/users",
    tag = "admin",
    summary = "List and search accounts",
    description = "Admin only. Accounts by id, optionally those whose username contains `q`.",
    params(UserQuery),
    security(("cr_session" = ["admin"])),
    responses(
        (status = 200, description = "A page of accounts", body = UserListResponse),
        (status = 400, description = "A malformed query (`invalid_query`) or cursor (`invalid_cursor`)", body = ErrorBody),
        AdminErrors,
    ),
)]
pub async fn list_users(
    State(state): State<AppState>,
    _admin: Admin,
    QueryParams(query): QueryParams<UserQuery>,
) -> ApiResult<Json<Value>> {
    let limit = pagination::limit(query.limit);
    // Oldest first: the cursor is the last id seen, and the next page starts after it.
    let after = pagination::cursor(query.cursor.as_deref())?.unwrap_or(0);
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
            let mut stmt = conn
                .prepare_cached(&sql)
                .store("prepare the list of users")?;
            let rows = stmt
                .query_map(params![after, pattern, limit], User::from_row)
                .store("list the users")?;
            let users = rows
                .collect::<Result<Vec<_>, _>>()
                .store("read the users")?;
            users
                .into_iter()
                .map(|u| Ok((find_admin_figures(conn, u.id)?, u)))
                .collect::<ApiResult<Vec<_>>>()
        })
        .await?;
    let next = pagination::next_cursor(&users, limit, |(_, u)| u.id);
    let prices = state.prices();
    let data: Vec<Value> = users
        .iter()
        .map(|(f, u)| user_json(u, f, &prices))
        .collect();
    Ok(pagination::page_json(data, next))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdjustRequest {
    /// Positive to credit, negative to debit.
    #[schema(example = "-2.500000")]
    amount: Money,
    /// Shown in the user's ledger.
    reason: String,
}

/// Credits (positive) or debits (negative) the user's balance; one ledger row names the admin.
#[utoipa::path(
    post,
    path = "/api/admin/users/{id}/adjust",
    tag = "admin",
    summary = "Credit or debit a balance",
    description = "Admin only. Credits (positive `amount`) or debits (negative) the user's \
        balance; one ledger row records the reason and the admin.",
    params(("id" = i64, Path, description = "The user's id")),
    request_body = AdjustRequest,
    security(("cr_session" = ["admin"])),
    responses(
        (status = 200, description = "The balance after the adjustment", body = AdjustResponse),
        (status = 400, description = "Malformed body, a zero amount (`invalid_amount`), no reason \
            (`invalid_reason`), an amount past the largest, $1,000,000,000 (`invalid_request`), a \
            debit that would take the balance below zero (`insufficient_balance`), or a credit \
            that would take it past the largest balance, $1,000,000,000 (`balance_limit`)", body = ErrorBody),
        (status = 404, description = "No such user (`user_not_found`)", body = ErrorBody),
        BodyTooLarge,
        AdminErrors,
    ),
)]
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

/// Only the fields present change.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserChange {
    role: Option<crate::accounts::Role>,
    /// `default` or a name under `[groups]` of the config.
    group: Option<String>,
    /// Disabling ends the account's sessions and stops its keys at once.
    disabled: Option<bool>,
}

/// Changes a user's role, price group or enabled state. Disabling ends their sessions and
/// stops their keys at once; an admin cannot lock themselves out.
#[utoipa::path(
    patch,
    path = "/api/admin/users/{id}",
    tag = "admin",
    summary = "Change an account's role, group or state",
    description = "Admin only. Changes the fields present. Disabling ends the account's sessions \
        and stops its keys at once; an admin cannot disable or demote their own account.",
    params(("id" = i64, Path, description = "The user's id")),
    request_body = UserChange,
    security(("cr_session" = ["admin"])),
    responses(
        (status = 200, description = "The account as it is now", body = AdminUserView),
        (status = 400, description = "Malformed body, an unknown group (`unknown_group`), or a \
            change to the admin's own account (`cannot_change_self`)", body = ErrorBody),
        (status = 404, description = "No such user (`user_not_found`)", body = ErrorBody),
        BodyTooLarge,
        AdminErrors,
    ),
)]
pub async fn update_user(
    State(state): State<AppState>,
    Admin(admin): Admin,
    PathId(user_id): PathId,
    JsonBody(change): JsonBody<UserChange>,
) -> ApiResult<Json<Value>> {
    if user_id == admin.id
        && (change.disabled == Some(true) || change.role == Some(crate::accounts::Role::User))
    {
        return Err(ApiError::bad_request(
            "cannot_change_self",
            "you cannot disable or demote your own account",
        ));
    }
    if let Some(group) = &change.group {
        let config = state.config();
        if group != "default" && !config.groups.contains_key(group) {
            return Err(ApiError::bad_request(
                "unknown_group",
                format!("no group `{group}` in [groups] of the config"),
            ));
        }
    }
    let user = state
        .db
        .write(move |conn| {
            let tx = crate::db::immediate(conn)?;
            if crate::accounts::find_user_by_id(&tx, user_id)?.is_none() {
                return Err(ApiError::not_found("user_not_found", "no such user"));
            }
            if let Some(role) = change.role {
                tx.execute(
                    "UPDATE users SET role = ?1 WHERE id = ?2",
                    params![role.as_str(), user_id],
                )
                .store("update the role")?;
            }
            if let Some(group) = &change.group {
                tx.execute(
                    "UPDATE users SET user_group = ?1 WHERE id = ?2",
                    params![group, user_id],
                )
                .store("update the group")?;
            }
            if let Some(disabled) = change.disabled {
                tx.execute(
                    "UPDATE users SET disabled = ?1 WHERE id = ?2",
                    params![disabled, user_id],
                )
                .store("update whether the account is disabled")?;
                if disabled {
                    crate::accounts::session::delete_sessions_of_user(&tx, user_id)?;
                }
            }
            let user = crate::accounts::find_user_by_id(&tx, user_id)?
                .ok_or_else(|| ApiError::not_found("user_not_found", "no such user"))?;
            let figures = find_admin_figures(&tx, user_id)?;
            tx.commit().store("commit the change to the account")?;
            Ok((user, figures))
        })
        .await?;
    let (user, figures) = user;
    state.keys.invalidate_user(user_id);
    tracing::info!(admin = admin.id, user = user_id, "user changed");
    Ok(Json(user_json(&user, &figures, &state.prices())))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAccount {
    /// 3 to 32 characters: letters, digits, `_`, `-` or `.`.
    username: String,
    /// 8 to 128 characters; the member changes it under Account.
    password: String,
    /// `user` unless given.
    #[serde(default)]
    role: Option<Role>,
    /// `default` or a name under `[groups]` of the config; `default` unless given.
    #[serde(default)]
    group: Option<String>,
}

/// Creates an account for someone (registration may be closed); they sign in with the password.
#[utoipa::path(
    post,
    path = "/api/admin/users",
    tag = "admin",
    summary = "Create an account",
    description = "Admin only. Creates an account with a password, a role and a price group, \
        whether or not registration is open.",
    request_body = NewAccount,
    security(("cr_session" = ["admin"])),
    responses(
        (status = 201, description = "The new account", body = AdminUserView),
        (status = 400, description = "Malformed body, an invalid username (`invalid_username`) or \
            password (`invalid_password`), or an unknown group (`unknown_group`)", body = ErrorBody),
        (status = 409, description = "The username is taken (`username_taken`)", body = ErrorBody),
        BodyTooLarge,
        AdminErrors,
    ),
)]
pub async fn create_user(
    State(state): State<AppState>,
    Admin(admin): Admin,
    JsonBody(req): JsonBody<NewAccount>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    crate::accounts::check_username(&req.username)?;
    password::check_strength(&req.password)?;
    let group = req.group.map(|g| g.trim().to_string()).unwrap_or_default();
    if !group.is_empty() && group != "default" && !state.config().groups.contains_key(&group) {
        return Err(ApiError::bad_request(
            "unknown_group",
            format!("no group `{group}` in [groups] of the config"),
        ));
    }
    let pw = req.password;
    let hash = tokio::task::spawn_blocking(move || password::hash(&pw)).await??;
    let role = req.role.unwrap_or(Role::User);
    let now = state.clock.now();
    let username = req.username;
    let (user, figures) = state
        .db
        .write(move |conn| {
            let tx = crate::db::immediate(conn)?;
            let user = crate::accounts::create_user(
                &tx,
                &NewUser {
                    username: &username,
                    password_hash: &hash,
                    role,
                    inviter_id: None,
                },
                now,
            )?;
            if !group.is_empty() && group != "default" {
                tx.execute(
                    "UPDATE users SET user_group = ?1 WHERE id = ?2",
                    params![group, user.id],
                )
                .store("set the new account's group")?;
            }
            let user = crate::accounts::find_user_by_id(&tx, user.id)?
                .ok_or_else(|| ApiError::internal("a new account vanished"))?;
            let figures = find_admin_figures(&tx, user.id)?;
            tx.commit().store("commit the new account")?;
            Ok((user, figures))
        })
        .await?;
    tracing::info!(admin = admin.id, user = user.id, username = %user.username, "account created by an admin");
    Ok((
        StatusCode::CREATED,
        Json(user_json(&user, &figures, &state.prices())),
    ))
}

/// What `POST /api/admin/users/{id}/reset-password` answers.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct PasswordResetResponse {
    pub id: i64,
    pub username: String,
    /// The new password, shown only in this answer: give it to the member, who should change it
    /// under Account.
    #[schema(example = "d8Kq2mXv7RtB4nWc9ZpL")]
    pub password: String,
}

/// Characters of a password made by a reset: about 119 bits from 62 letters and digits.
const RESET_PASSWORD_LEN: usize = 20;

/// Gives the account a new random password, shown once in the answer, and ends its sessions.
/// A new password rather than a link: it needs no mail and no page of its own, and the admin
/// hands it over the way they handed over the account.
#[utoipa::path(
    post,
    path = "/api/admin/users/{id}/reset-password",
    tag = "admin",
    summary = "Reset a password",
    description = "Admin only. Sets a new random password for the account and ends every one of \
        its sessions. The answer is the only place the password appears; the member should change \
        it under Account. An admin changes their own password under Account instead.",
    params(("id" = i64, Path, description = "The user's id")),
    security(("cr_session" = ["admin"])),
    responses(
        (status = 200, description = "The new password, shown once", body = PasswordResetResponse),
        (status = 400, description = "The admin's own account (`cannot_change_self`)", body = ErrorBody),
        (status = 404, description = "No such user (`user_not_found`)", body = ErrorBody),
        AdminErrors,
    ),
)]
pub async fn reset_password(
    State(state): State<AppState>,
    Admin(admin): Admin,
    PathId(user_id): PathId,
) -> ApiResult<Json<PasswordResetResponse>> {
    if user_id == admin.id {
        return Err(ApiError::bad_request(
            "cannot_change_self",
            "change your own password under Account",
        ));
    }
    let user = state
        .db
        .read(move |conn| crate::accounts::find_user_by_id(conn, user_id))
        .await?
        .ok_or_else(|| ApiError::not_found("user_not_found", "no such user"))?;
    let password = crate::random::alphanumeric(RESET_PASSWORD_LEN);
    let pw = password.clone();
    let hash = tokio::task::spawn_blocking(move || crate::accounts::password::hash(&pw)).await??;
    let ended = state
        .db
        .write(move |conn| crate::accounts::set_password_hash(conn, user_id, &hash))
        .await?;
    tracing::info!(
        admin = admin.id,
        user = user_id,
        sessions_ended = ended,
        "password reset"
    );
    Ok(Json(PasswordResetResponse {
        id: user.id,
        username: user.username,
        password,
    }))
}
