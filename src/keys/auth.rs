//! The `/v1` key check: who is calling, with which key, from where, how often. No database
//! query in the steady state: verified keys come from the cache.

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::HeaderMap;

use super::cache::{self, VerifiedKey};
use super::secret;
use crate::error::ApiError;
use crate::net::client_ip;
use crate::state::AppState;

/// The key presented as `Authorization: Bearer sk-…` or, for tools that send it, `x-api-key`.
pub fn presented_key(headers: &HeaderMap) -> Option<&str> {
    let bearer = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        });
    bearer
        .or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()))
        .map(str::trim)
        .filter(|k| !k.is_empty())
}

/// Checks the key on a request: 401 for a missing, unknown, disabled or expired key (or a
/// disabled owner), 403 for an address outside the allowlist, 429 over the key's rpm.
pub async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    ip: IpAddr,
) -> Result<Arc<VerifiedKey>, ApiError> {
    let Some(presented) = presented_key(headers) else {
        return Err(ApiError::unauthorized(
            "missing_api_key",
            "no API key: send it as `Authorization: Bearer sk-...`",
        ));
    };
    let hash = secret::hash(&state.key_secret, presented);
    let now_ms = state.clock.now_ms();
    let key = match state.keys.get(&hash, now_ms) {
        Some(key) => key,
        None => {
            let generation = state.keys.generation();
            let loaded = state
                .db
                .read_relay(move |conn| cache::load_key_by_hash(conn, &hash))
                .await?;
            let Some(loaded) = loaded else {
                return Err(invalid_key());
            };
            let key = Arc::new(loaded);
            state.keys.insert(hash, key.clone(), generation, now_ms);
            key
        }
    };
    if key.unreadable.is_some() {
        // The reason was logged with the key id when the key was loaded.
        return Err(ApiError::unauthorized(
            "key_unreadable",
            "this API key's stored settings cannot be read; save the key again in the console or create a new one",
        ));
    }
    if !key.enabled {
        return Err(ApiError::unauthorized(
            "key_disabled",
            "this API key is disabled",
        ));
    }
    if key.owner_disabled {
        return Err(ApiError::unauthorized(
            "account_disabled",
            "the account of this API key is disabled",
        ));
    }
    if key.expires_at.is_some_and(|at| at * 1000 <= now_ms) {
        return Err(ApiError::unauthorized(
            "key_expired",
            "this API key has expired",
        ));
    }
    if !key.ip_allowlist.is_empty() && !key.ip_allowlist.iter().any(|r| r.contains(ip)) {
        return Err(ApiError::forbidden(
            "ip_not_allowed",
            format!("this API key may not be used from {ip}"),
        ));
    }
    if let Some(rpm) = key.rpm {
        state.keys.hit_rpm(key.id, rpm, now_ms).map_err(|wait| {
            ApiError::rate_limited(
                format!("this API key allows {rpm} requests per minute"),
                wait,
            )
        })?;
    }
    Ok(key)
}

fn invalid_key() -> ApiError {
    ApiError::unauthorized("invalid_api_key", "the API key is not valid")
}

/// A `/v1` caller with a valid key.
pub struct ApiKey {
    pub key: Arc<VerifiedKey>,
    pub ip: IpAddr,
}

impl FromRequestParts<AppState> for ApiKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let ip = client_ip(parts, &state.config().server.trusted_proxies);
        let key = authenticate(state, &parts.headers, ip).await?;
        Ok(ApiKey { key, ip })
    }
}
