//! `/api/keys`: a member's own API keys. Create shows the secret once; list, update and delete
//! never show it; another member's key answers 404.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Deserializer};
use serde_json::{json, Value};

use super::{secret, KeySettings};
use crate::accounts::session::Session;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, PathId};
use crate::ledger::money::Money;
use crate::net::IpRange;
use crate::state::AppState;

/// Tells an absent field (`None`) from an explicit `null` (`Some(None)`).
fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    name: String,
    #[serde(default)]
    limit: Option<Money>,
    #[serde(default)]
    expires_at: Option<String>,
    #[serde(default)]
    models: Option<Vec<String>>,
    #[serde(default)]
    ip_allowlist: Option<Vec<String>>,
    #[serde(default)]
    rpm: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateKey {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    enabled: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    limit: Option<Option<Money>>,
    #[serde(default, deserialize_with = "nullable")]
    expires_at: Option<Option<String>>,
    #[serde(default)]
    models: Option<Vec<String>>,
    #[serde(default)]
    ip_allowlist: Option<Vec<String>>,
    #[serde(default, deserialize_with = "nullable")]
    rpm: Option<Option<u32>>,
}

fn parse_expiry(text: &str, now: i64) -> ApiResult<i64> {
    let at = crate::clock::parse_time(text).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_expires_at",
            "expires_at must be an RFC 3339 time or a YYYY-MM-DD date",
        )
    })?;
    if at <= now {
        return Err(ApiError::bad_request(
            "invalid_expires_at",
            "expires_at is in the past",
        ));
    }
    Ok(at)
}

fn parse_allowlist(entries: &[String]) -> ApiResult<Vec<IpRange>> {
    entries
        .iter()
        .map(|e| {
            e.parse()
                .map_err(|m: String| ApiError::bad_request("invalid_ip_allowlist", m))
        })
        .collect()
}

fn clean_models(models: Vec<String>) -> Vec<String> {
    let mut models: Vec<String> = models.into_iter().map(|m| m.trim().to_string()).collect();
    models.sort();
    models.dedup();
    models
}

pub async fn list_keys(State(state): State<AppState>, session: Session) -> ApiResult<Json<Value>> {
    let user_id = session.user.id;
    let keys = state
        .db
        .read(move |conn| super::list_keys_of_user(conn, user_id))
        .await?;
    Ok(Json(json!({ "data": keys })))
}

pub async fn create_key(
    State(state): State<AppState>,
    session: Session,
    JsonBody(req): JsonBody<CreateKey>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let now = state.clock.now();
    let settings = KeySettings {
        name: req.name,
        limit: req.limit,
        expires_at: req
            .expires_at
            .as_deref()
            .map(|t| parse_expiry(t, now))
            .transpose()?,
        models: clean_models(req.models.unwrap_or_default()),
        ip_allowlist: parse_allowlist(&req.ip_allowlist.unwrap_or_default())?,
        rpm: req.rpm,
        enabled: true,
    };
    settings.check()?;
    let key = secret::generate();
    let hash = secret::hash(&state.key_secret, &key);
    let hint = secret::hint(&key);
    let user_id = session.user.id;
    let view = state
        .db
        .write(move |conn| {
            let id = super::create_key(conn, user_id, &settings, &hash, &hint, now)?;
            super::find_key_of_user(conn, user_id, id)
        })
        .await?;
    tracing::info!(user = user_id, key = view.id, "API key created");
    let mut body = serde_json::to_value(&view).map_err(ApiError::internal)?;
    body["key"] = Value::String(key);
    Ok((StatusCode::CREATED, Json(body)))
}

pub async fn update_key(
    State(state): State<AppState>,
    session: Session,
    PathId(key_id): PathId,
    JsonBody(req): JsonBody<UpdateKey>,
) -> ApiResult<Json<Value>> {
    let now = state.clock.now();
    let expires_at = match req.expires_at {
        None => None,
        Some(None) => Some(None),
        Some(Some(t)) => Some(Some(parse_expiry(&t, now)?)),
    };
    let allowlist = req
        .ip_allowlist
        .as_deref()
        .map(parse_allowlist)
        .transpose()?;
    let user_id = session.user.id;
    let view = state
        .db
        .write(move |conn| {
            let tx = crate::db::immediate(conn)?;
            let mut s = super::find_settings_of_key(&tx, user_id, key_id)?;
            if let Some(name) = req.name {
                s.name = name;
            }
            if let Some(enabled) = req.enabled {
                s.enabled = enabled;
            }
            if let Some(limit) = req.limit {
                s.limit = limit;
            }
            if let Some(expires_at) = expires_at {
                s.expires_at = expires_at;
            }
            if let Some(models) = req.models {
                s.models = clean_models(models);
            }
            if let Some(allowlist) = allowlist {
                s.ip_allowlist = allowlist;
            }
            if let Some(rpm) = req.rpm {
                s.rpm = rpm;
            }
            super::update_key(&tx, user_id, key_id, &s)?;
            let view = super::find_key_of_user(&tx, user_id, key_id)?;
            tx.commit()?;
            Ok(view)
        })
        .await?;
    state.keys.invalidate_key(key_id);
    Ok(Json(
        serde_json::to_value(&view).map_err(ApiError::internal)?,
    ))
}

pub async fn delete_key(
    State(state): State<AppState>,
    session: Session,
    PathId(key_id): PathId,
) -> ApiResult<StatusCode> {
    let user_id = session.user.id;
    state
        .db
        .write(move |conn| super::delete_key(conn, user_id, key_id))
        .await?;
    state.keys.invalidate_key(key_id);
    tracing::info!(user = user_id, key = key_id, "API key deleted");
    Ok(StatusCode::NO_CONTENT)
}
