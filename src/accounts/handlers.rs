//! `/api/auth/*` and `/api/me`: register, login, logout, change password, and who am I.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::session::{self, Session};
use super::{password, NewUser, Role};
use crate::db::Store;
use crate::error::ErrorBody;
use crate::error::{ApiError, ApiResult};
use crate::extract::JsonBody;
use crate::ledger::money::Money;
use crate::net::ClientIp;
use crate::openapi::{BodyTooLarge, MemberErrors, ServerErrors};
use crate::ratelimit;
use crate::state::AppState;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    username: String,
    password: String,
    #[serde(default)]
    referral_code: Option<String>,
}

/// The new account, as `POST /api/auth/register` answers (for the OpenAPI document).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct RegisteredResponse {
    pub id: i64,
    pub username: String,
}

#[utoipa::path(
    post,
    path = "/api/auth/register",
    tag = "accounts",
    summary = "Create an account",
    description = "Creates a member account. With a `referral_code`, the account is linked to \
        its inviter and the referral rewards configured on the server are credited. Does not sign \
        in: call `POST /api/auth/login` next.",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Account created", body = RegisteredResponse),
        (status = 400, description = "Malformed body, or an invalid username (`invalid_username`), \
            password (`invalid_password`) or referral code (`invalid_referral_code`)", body = ErrorBody),
        (status = 403, description = "Registration is closed on this server (`registration_disabled`)", body = ErrorBody),
        (status = 409, description = "The username is taken (`username_taken`)", body = ErrorBody),
        (status = 429, description = "Too many registrations from this address (`rate_limited`); see `Retry-After`", body = ErrorBody),
        BodyTooLarge,
        ServerErrors,
    ),
)]
pub async fn register(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    JsonBody(req): JsonBody<RegisterRequest>,
) -> ApiResult<Response> {
    let config = state.config();
    if !config.server.allow_registration {
        return Err(ApiError::forbidden(
            "registration_disabled",
            "registration is closed on this server; ask the operator for an account",
        ));
    }
    let now_ms = state.clock.now_ms();
    let ip_key = ip.to_string();
    // Counted before anything else, so a burst sent in parallel cannot outrun the limit; an
    // attempt that creates no account is forgiven.
    state
        .limits
        .register_by_ip
        .hit(&ip_key, now_ms)
        .map_err(|wait| {
            ApiError::rate_limited("too many registrations from this address; try later", wait)
        })?;
    let created = async {
        super::check_username(&req.username)?;
        password::check_strength(&req.password)?;
        let pw = req.password;
        let hash = tokio::task::spawn_blocking(move || password::hash(&pw)).await??;
        let referral = req
            .referral_code
            .map(|c| c.trim().to_string())
            .filter(|c| !c.is_empty());
        let now = state.clock.now();
        let username = req.username;
        let referral_terms = config.referral.clone();
        let user = state
            .db
            .write(move |conn| {
                // One transaction: the account and its referral rewards exist together or not at all.
                let tx = crate::db::immediate(conn)?;
                let inviter_id = match &referral {
                    Some(code) => Some(
                        super::find_user_id_by_referral_code(&tx, code)?.ok_or_else(|| {
                            ApiError::bad_request("invalid_referral_code", "unknown referral code")
                        })?,
                    ),
                    None => None,
                };
                let user = super::create_user(
                    &tx,
                    &NewUser {
                        username: &username,
                        password_hash: &hash,
                        role: Role::User,
                        inviter_id,
                    },
                    now,
                )?;
                if let Some(inviter_id) = inviter_id {
                    crate::referral::reward_registration(
                        &tx,
                        user.id,
                        inviter_id,
                        &referral_terms,
                        now,
                    )?;
                }
                tx.commit().store("commit the new account")?;
                Ok(user)
            })
            .await?;
        Ok::<_, ApiError>(user)
    }
    .await;
    if created.is_err() {
        state.limits.register_by_ip.forgive(&ip_key);
    }
    let user = created?;
    tracing::info!(user = user.id, username = %user.username, "account registered");
    Ok((
        StatusCode::CREATED,
        Json(json!({ "id": user.id, "username": user.username })),
    )
        .into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    username: String,
    password: String,
}

/// The signed-in account, as `POST /api/auth/login` answers (for the OpenAPI document).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct LoginResponse {
    pub id: i64,
    pub username: String,
    pub role: Role,
}

#[utoipa::path(
    post,
    path = "/api/auth/login",
    tag = "accounts",
    summary = "Sign in",
    description = "Checks the password and starts a session: the answer sets the `cr_session` \
        cookie (HttpOnly, SameSite=Lax) for `server.session_hours`. Attempts are limited per \
        username and address (`server.login_attempts`, waiting twice as long after each failure \
        past the third), with higher ceilings per username and per address. An unknown username, \
        a wrong password and a disabled account all answer the same 401, whatever the password.",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = LoginResponse,
            headers(("set-cookie" = String, description = "`cr_session=...; Path=/; HttpOnly; SameSite=Lax; Max-Age=...`"))),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "Wrong username or password, or the account is disabled \
            (`invalid_credentials`; one answer for all three)", body = ErrorBody),
        (status = 429, description = "Too many failed attempts (`rate_limited`); see `Retry-After`", body = ErrorBody),
        BodyTooLarge,
        ServerErrors,
    ),
)]
pub async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    JsonBody(req): JsonBody<LoginRequest>,
) -> ApiResult<Response> {
    let now_ms = state.clock.now_ms();
    let ip_key = ip.to_string();
    let user_key = req.username.to_lowercase();
    let pair = ratelimit::pair_key(&ip_key, &user_key);
    let limits = &state.limits;
    let counted = [
        (&limits.login_by_name_ip, pair.as_str()),
        (&limits.login_by_name, user_key.as_str()),
        (&limits.login_by_ip, ip_key.as_str()),
    ];
    // Every attempt counts before the password is checked, so a burst sent in parallel cannot
    // outrun the limit; a successful sign-in is forgiven afterwards.
    ratelimit::hit_all(&counted, now_ms)
        .map_err(|wait| ApiError::rate_limited("too many sign-in attempts; try later", wait))?;

    let username = req.username.clone();
    let found = state
        .db
        .read(move |conn| super::find_user_for_login(conn, &username))
        .await?;
    let pw = req.password;
    let phc = found.as_ref().map(|(_, hash)| hash.clone());
    let matches =
        tokio::task::spawn_blocking(move || password::verify(&pw, phc.as_deref())).await?;
    // A disabled account answers exactly as a wrong password does, even to the right one:
    // otherwise the answer would tell a guesser when a guess was right. The one message for
    // every refused sign-in says where a member who cannot sign in gets help; the operator sees
    // the real reason in the log.
    let user = match found {
        Some((user, _)) if matches && !user.disabled => user,
        Some((_, _)) if matches => {
            tracing::info!(username = %req.username, %ip, "sign-in refused: the account is disabled");
            ratelimit::fail_all(&counted, state.clock.now_ms());
            return Err(refused_sign_in());
        }
        _ => {
            tracing::info!(username = %req.username, %ip, "sign-in refused: wrong credentials");
            ratelimit::fail_all(&counted, state.clock.now_ms());
            return Err(refused_sign_in());
        }
    };
    limits.login_by_name_ip.clear(&pair);
    limits.login_by_name.forgive(&user_key);
    limits.login_by_ip.forgive(&ip_key);

    let config = state.config();
    let ttl = i64::from(config.server.session_hours) * 3600;
    let now = state.clock.now();
    let agent = headers
        .get(axum::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let user_id = user.id;
    let ip_text = ip.to_string();
    let token = state
        .db
        .write(move |conn| session::create_session(conn, user_id, now, ttl, &ip_text, &agent))
        .await?;
    let cookie = session::session_cookie(Some(&token), ttl, config.secure_cookies());
    Ok((
        cookie,
        Json(json!({ "id": user.id, "username": user.username, "role": user.role })),
    )
        .into_response())
}

/// The answer to every refused sign-in: unknown name, wrong password, or a disabled account.
fn refused_sign_in() -> ApiError {
    ApiError::unauthorized(
        "invalid_credentials",
        "wrong username or password, or the account is disabled; the operator of this server can \
         reset the password or enable the account",
    )
}

#[utoipa::path(
    post,
    path = "/api/auth/logout",
    tag = "accounts",
    summary = "Sign out",
    description = "Ends the session named by the `cr_session` cookie, if any, and clears the \
        cookie. Answers 204 whether or not there was a session.",
    responses(
        (status = 204, description = "Signed out; the cookie is cleared",
            headers(("set-cookie" = String, description = "`cr_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0`"))),
        ServerErrors,
    ),
)]
pub async fn logout(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    if let Some(token) = session::read_token(&headers) {
        let hash = session::token_hash(&token);
        state
            .db
            .write(move |conn| session::delete_session(conn, &hash))
            .await?;
    }
    let cookie = session::session_cookie(None, 0, state.config().secure_cookies());
    Ok((StatusCode::NO_CONTENT, cookie).into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    current_password: String,
    new_password: String,
}

/// Changes the password and ends every other session of the account.
#[utoipa::path(
    post,
    path = "/api/auth/password",
    tag = "accounts",
    summary = "Change the password",
    description = "Changes the password and ends every other session of the account; this one \
        stays signed in.",
    request_body = PasswordChange,
    security(("cr_session" = [])),
    responses(
        (status = 204, description = "Password changed"),
        (status = 400, description = "Malformed body, or the new password is too short or long (`invalid_password`)", body = ErrorBody),
        (status = 403, description = "The current password is wrong (`invalid_credentials`)", body = ErrorBody),
        BodyTooLarge,
        MemberErrors,
    ),
)]
pub async fn change_password(
    State(state): State<AppState>,
    session: Session,
    JsonBody(req): JsonBody<PasswordChange>,
) -> ApiResult<StatusCode> {
    password::check_strength(&req.new_password)?;
    let username = session.user.username.clone();
    let found = state
        .db
        .read(move |conn| super::find_user_for_login(conn, &username))
        .await?;
    let phc = found.map(|(_, hash)| hash);
    let new_password = req.new_password;
    let current = req.current_password;
    let new_hash = tokio::task::spawn_blocking(move || {
        if !password::verify(&current, phc.as_deref()) {
            return Err(ApiError::forbidden(
                "invalid_credentials",
                "the current password is wrong",
            ));
        }
        password::hash(&new_password)
    })
    .await??;
    let user_id = session.user.id;
    let keep = session.token_hash;
    state
        .db
        .write(move |conn| {
            let tx = crate::db::immediate(conn)?;
            tx.execute(
                "UPDATE users SET password_hash = ?1 WHERE id = ?2",
                rusqlite::params![new_hash, user_id],
            )
            .store("update the password")?;
            tx.execute(
                "DELETE FROM sessions WHERE user_id = ?1 AND token_hash != ?2",
                rusqlite::params![user_id, keep],
            )
            .store("end the other sessions")?;
            tx.commit().store("commit the password change")?;
            Ok(())
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The signed-in account, as `GET /api/me` answers (for the OpenAPI document).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct MeResponse {
    pub id: i64,
    pub username: String,
    pub role: Role,
    /// The price group (`default` unless an admin set another).
    pub group: String,
    pub balance: Money,
    /// Referral rewards not yet moved into `balance`.
    pub reward_balance: Money,
    pub referral_code: String,
    /// When the account was created (the console greets a new account differently).
    #[schema(format = DateTime)]
    pub created_at: String,
}

#[utoipa::path(
    get,
    path = "/api/me",
    tag = "accounts",
    summary = "The signed-in account",
    security(("cr_session" = [])),
    responses(
        (status = 200, description = "The account and its balances", body = MeResponse),
        MemberErrors,
    ),
)]
pub async fn me(
    State(state): State<AppState>,
    session: Session,
) -> ApiResult<Json<serde_json::Value>> {
    let u = session.user;
    let id = u.id;
    // Read again, with the charges the request writer has not committed yet taken off, so a
    // script that checks its balance right after a call sees the call's charge.
    let funds = state.funds.clone();
    let ((balance, reward), pending) = state
        .db
        .read(move |conn| {
            funds.read_settled(
                conn,
                id,
                |conn| {
                    Ok(conn
                        .query_row(
                            "SELECT balance, reward_balance FROM users WHERE id = ?1",
                            [id],
                            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)),
                        )
                        .store("read the balance")?)
                },
                |_| Vec::new(),
            )
        })
        .await?;
    let balance = pending.balance(Money::from_units(balance));
    Ok(Json(json!({
        "id": u.id,
        "username": u.username,
        "role": u.role,
        "group": u.group,
        "balance": balance,
        "reward_balance": Money::from_units(reward),
        "referral_code": u.referral_code,
        "created_at": crate::clock::rfc3339(u.created_at),
    })))
}
