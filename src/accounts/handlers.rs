//! `/api/auth/*` and `/api/me`: register, login, logout, change password, and who am I.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::session::{self, Session};
use super::{password, NewUser, Role};
use crate::error::{ApiError, ApiResult};
use crate::extract::JsonBody;
use crate::net::ClientIp;
use crate::state::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    username: String,
    password: String,
    #[serde(default)]
    referral_code: Option<String>,
}

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
                tx.commit()?;
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    username: String,
    password: String,
}

pub async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    JsonBody(req): JsonBody<LoginRequest>,
) -> ApiResult<Response> {
    let now_ms = state.clock.now_ms();
    let ip_key = ip.to_string();
    let user_key = req.username.to_lowercase();
    let limits = &state.limits;
    // Every attempt counts before the password is checked, so a burst sent in parallel cannot
    // outrun the limit; a successful sign-in is forgiven afterwards.
    limits
        .login_by_ip
        .hit(&ip_key, now_ms)
        .and_then(|()| {
            limits
                .login_by_user
                .hit(&user_key, now_ms)
                .inspect_err(|_| {
                    limits.login_by_ip.forgive(&ip_key);
                })
        })
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
    let user = match found {
        Some((user, _)) if matches => user,
        _ => {
            tracing::info!(username = %req.username, %ip, "sign-in refused: wrong credentials");
            return Err(ApiError::unauthorized(
                "invalid_credentials",
                "wrong username or password",
            ));
        }
    };
    if user.disabled {
        return Err(ApiError::forbidden(
            "account_disabled",
            "this account is disabled",
        ));
    }
    limits.login_by_ip.forgive(&ip_key);
    limits.login_by_user.clear(&user_key);

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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    current_password: String,
    new_password: String,
}

/// Changes the password and ends every other session of the account.
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
            )?;
            tx.execute(
                "DELETE FROM sessions WHERE user_id = ?1 AND token_hash != ?2",
                rusqlite::params![user_id, keep],
            )?;
            tx.commit()?;
            Ok(())
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn me(session: Session) -> Json<serde_json::Value> {
    let u = session.user;
    Json(json!({
        "id": u.id,
        "username": u.username,
        "role": u.role,
        "group": u.group,
        "balance": u.balance,
        "reward_balance": u.reward_balance,
        "referral_code": u.referral_code,
    }))
}
