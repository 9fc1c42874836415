//! Console sessions: a random token in an HttpOnly cookie, its SHA-256 in SQLite, and the
//! `Session` / `Admin` extractors that every `/api` handler names to say who may call it.

use axum::extract::FromRequestParts;
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use base64::Engine;
use rusqlite::{params, Connection, OptionalExtension};
use sha2::{Digest, Sha256};

use super::{User, USER_COLUMNS};
use crate::db::Store;
use crate::error::{ApiError, ApiResult};
use crate::random;
use crate::state::AppState;

pub const COOKIE_NAME: &str = "cr_session";

pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Stores a new session and returns its token (for the cookie; never stored itself).
pub fn create_session(
    conn: &Connection,
    user_id: i64,
    now: i64,
    ttl_secs: i64,
    ip: &str,
    user_agent: &str,
) -> ApiResult<String> {
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random::bytes::<32>());
    conn.execute("DELETE FROM sessions WHERE expires_at <= ?1", [now])
        .store("delete the expired sessions")?;
    conn.execute(
        "INSERT INTO sessions (token_hash, user_id, created_at, expires_at, ip, user_agent)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            token_hash(&token),
            user_id,
            now,
            now + ttl_secs,
            ip,
            user_agent.chars().take(200).collect::<String>()
        ],
    )
    .store("add a session")?;
    Ok(token)
}

/// The live, enabled user behind a session token hash, if the session has not expired.
pub fn find_session_user(conn: &Connection, hash: &[u8], now: i64) -> ApiResult<Option<User>> {
    let columns = USER_COLUMNS
        .split(", ")
        .map(|c| format!("u.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT {columns} FROM sessions s JOIN users u ON u.id = s.user_id
         WHERE s.token_hash = ?1 AND s.expires_at > ?2 AND u.disabled = 0"
    );
    Ok(conn
        .query_row(&sql, params![hash, now], User::from_row)
        .optional()
        .store("find the session's user")?)
}

pub fn delete_session(conn: &Connection, hash: &[u8]) -> ApiResult<()> {
    conn.execute("DELETE FROM sessions WHERE token_hash = ?1", [hash])
        .store("delete the session")?;
    Ok(())
}

/// Ends every session of the account; returns how many there were.
pub fn delete_sessions_of_user(conn: &Connection, user_id: i64) -> ApiResult<usize> {
    Ok(conn
        .execute("DELETE FROM sessions WHERE user_id = ?1", [user_id])
        .store("delete the user's sessions")?)
}

/// `Set-Cookie` for a session token (or, with `None`, one that clears it).
pub fn session_cookie(token: Option<&str>, max_age_secs: i64, secure: bool) -> HeaderMap {
    let value = match token {
        Some(t) => {
            format!("{COOKIE_NAME}={t}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}")
        }
        None => format!("{COOKIE_NAME}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"),
    };
    let value = if secure {
        format!("{value}; Secure")
    } else {
        value
    };
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&value) {
        headers.insert(SET_COOKIE, v);
    }
    headers
}

/// The session token from the request's cookies.
pub fn read_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value.to_string())
        .filter(|v| !v.is_empty())
}

/// A signed-in, enabled user. Rejects with 401 and logs why.
pub struct Session {
    pub user: User,
    pub token_hash: Vec<u8>,
}

impl FromRequestParts<AppState> for Session {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(token) = read_token(&parts.headers) else {
            tracing::debug!("no session cookie");
            return Err(not_signed_in());
        };
        let hash = token_hash(&token);
        let now = state.clock.now();
        let lookup = hash.clone();
        let user = state
            .db
            .read(move |conn| find_session_user(conn, &lookup, now))
            .await?;
        match user {
            Some(user) => Ok(Session {
                user,
                token_hash: hash,
            }),
            None => {
                tracing::debug!("session unknown, expired, or its user disabled");
                Err(not_signed_in())
            }
        }
    }
}

fn not_signed_in() -> ApiError {
    ApiError::unauthorized("not_signed_in", "sign in first")
}

/// A signed-in admin; a signed-in user without the role gets 403.
pub struct Admin(pub User);

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let session = Session::from_request_parts(parts, state).await?;
        if !session.user.is_admin() {
            tracing::info!(user = session.user.id, "non-admin tried an admin route");
            return Err(ApiError::forbidden(
                "admin_only",
                "this needs an admin account",
            ));
        }
        Ok(Admin(session.user))
    }
}
