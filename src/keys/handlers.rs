//! `/api/keys`: a member's own API keys. Create shows the secret once; list, update and delete
//! never show it; another member's key answers 404.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Deserializer};
use serde_json::{json, Value};

use super::{secret, KeySettings};
use crate::accounts::session::Session;
use crate::db::Store;
use crate::error::ErrorBody;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, PathId};
use crate::ledger::money::Money;
use crate::net::IpRange;
use crate::openapi::{BodyTooLarge, MemberErrors};
use crate::state::AppState;

/// Tells an absent field (`None`) from an explicit `null` (`Some(None)`).
fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    /// 1 to 64 characters.
    name: String,
    /// A spending limit for this key; absent or `null` for none.
    #[serde(default)]
    limit: Option<Money>,
    /// RFC 3339 time or `YYYY-MM-DD`, in the future; absent or `null` for never.
    #[serde(default)]
    expires_at: Option<String>,
    /// The models this key may use; empty or absent for all.
    #[serde(default)]
    models: Option<Vec<String>>,
    /// Addresses or CIDR ranges the key may be used from; empty or absent for any.
    #[serde(default)]
    #[schema(example = json!(["203.0.113.7", "10.0.0.0/8"]))]
    ip_allowlist: Option<Vec<String>>,
    /// Requests per minute; absent or `null` for no limit.
    #[serde(default)]
    #[schema(minimum = 1)]
    rpm: Option<u32>,
}

/// Only the fields present change; `null` clears `limit`, `expires_at` and `rpm`.
#[derive(Deserialize, utoipa::ToSchema)]
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

/// Fills in the model a test of `key` would use, from the prices and upstreams in use now.
fn with_test_model(state: &AppState, group: &str, key: &mut super::KeyView) {
    key.test_model = super::cheapest_model(&state.prices(), &state.upstreams(), group, &key.models);
}

/// The member's keys, as `GET /api/keys` answers (for the OpenAPI document).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct KeyListResponse {
    /// Newest first; never the secret.
    pub data: Vec<super::KeyView>,
}

/// A new key, as `POST /api/keys` answers: the key's view and, this once, its secret.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct CreatedKeyResponse {
    #[serde(flatten)]
    pub view: super::KeyView,
    /// The secret to send as `Authorization: Bearer ...` on `/v1`. Shown only here.
    #[schema(example = "sk-...")]
    pub key: String,
}

#[utoipa::path(
    get,
    path = "/api/keys",
    tag = "keys",
    summary = "The member's API keys",
    security(("cr_session" = [])),
    responses(
        (status = 200, description = "Every key of the member, newest first, without secrets", body = KeyListResponse),
        MemberErrors,
    ),
)]
pub async fn list_keys(State(state): State<AppState>, session: Session) -> ApiResult<Json<Value>> {
    let user_id = session.user.id;
    let funds = state.funds.clone();
    let (mut keys, pending) = state
        .db
        .read(move |conn| {
            funds.read_settled(
                conn,
                user_id,
                |conn| super::list_keys_of_user(conn, user_id),
                |keys| keys.iter().map(|k| k.id).collect(),
            )
        })
        .await?;
    // Charges the request writer has not committed yet count already.
    for key in &mut keys {
        key.used = pending.key_used(key.id, key.used);
        key.remaining = key
            .limit
            .map(|l| Money::from_units((l.units() - key.used.units()).max(0)));
        with_test_model(&state, &session.user.group, key);
    }
    Ok(Json(json!({ "data": keys })))
}

#[utoipa::path(
    post,
    path = "/api/keys",
    tag = "keys",
    summary = "Create an API key",
    description = "Creates a key for `/v1`. The answer is the only time the secret is shown.",
    request_body = CreateKey,
    security(("cr_session" = [])),
    responses(
        (status = 201, description = "The key, with its secret in `key`", body = CreatedKeyResponse),
        (status = 400, description = "Malformed body or an invalid field (`invalid_name`, `invalid_limit`, \
            `invalid_expires_at`, `invalid_models`, `invalid_ip_allowlist`, `invalid_rpm`), or the \
            account has too many keys (`too_many_keys`)", body = ErrorBody),
        BodyTooLarge,
        MemberErrors,
    ),
)]
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
    let mut view = view;
    with_test_model(&state, &session.user.group, &mut view);
    let mut body = serde_json::to_value(&view).map_err(ApiError::internal)?;
    body["key"] = Value::String(key);
    Ok((StatusCode::CREATED, Json(body)))
}

#[utoipa::path(
    patch,
    path = "/api/keys/{id}",
    tag = "keys",
    summary = "Change an API key",
    description = "Changes the fields present in the body; takes effect on `/v1` at once.",
    params(("id" = i64, Path, description = "The key's id")),
    request_body = UpdateKey,
    security(("cr_session" = [])),
    responses(
        (status = 200, description = "The key as it is now", body = super::KeyView),
        (status = 400, description = "Malformed body or an invalid field", body = ErrorBody),
        (status = 404, description = "No such key of this member (`key_not_found`)", body = ErrorBody),
        BodyTooLarge,
        MemberErrors,
    ),
)]
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
            tx.commit().store("commit the change to the key")?;
            Ok(view)
        })
        .await?;
    state.keys.invalidate_key(key_id);
    let mut view = view;
    with_test_model(&state, &session.user.group, &mut view);
    Ok(Json(
        serde_json::to_value(&view).map_err(ApiError::internal)?,
    ))
}

#[utoipa::path(
    delete,
    path = "/api/keys/{id}",
    tag = "keys",
    summary = "Delete an API key",
    description = "Deletes the key for good; it stops working on `/v1` at once. Its logs and \
        ledger rows stay.",
    params(("id" = i64, Path, description = "The key's id")),
    security(("cr_session" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such key of this member (`key_not_found`)", body = ErrorBody),
        MemberErrors,
    ),
)]
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
