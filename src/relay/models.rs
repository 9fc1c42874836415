//! `GET /v1/models`: the models this key may use that are priced (or free) and served; and the
//! answer for `/v1` paths that are not served.

use std::time::Instant;

use axum::extract::{Extension, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use axum::Json;
use serde_json::{json, Value};

use super::dialects::Wire;
use super::settle;
use crate::error::ApiError;
use crate::keys::auth::{authenticate, ApiKey};
use crate::logs::LogRow;
use crate::net::ClientIp;
use crate::router::RequestId;
use crate::state::AppState;

/// The models this key may use: in Anthropic's list shape for a client that names an
/// `anthropic-version` (Claude Code's model discovery), else OpenAI's.
pub async fn list_models(
    State(state): State<AppState>,
    headers: HeaderMap,
    caller: ApiKey,
) -> Json<Value> {
    let prices = state.prices();
    let upstreams = state.upstreams();
    let models: Vec<&str> = upstreams
        .models()
        .into_iter()
        .filter(|m| prices.is_served(m) && caller.key.allows_model(m))
        .collect();
    if headers.contains_key("anthropic-version") {
        let data: Vec<Value> = models
            .iter()
            .map(|m| json!({ "type": "model", "id": m, "display_name": m, "created_at": "1970-01-01T00:00:00Z" }))
            .collect();
        return Json(json!({
            "data": data,
            "has_more": false,
            "first_id": models.first(),
            "last_id": models.last(),
        }));
    }
    let data: Vec<Value> = models
        .iter()
        .map(|m| json!({ "id": m, "object": "model", "created": 0, "owned_by": "code-router" }))
        .collect();
    Json(json!({ "object": "list", "data": data }))
}

/// A `/v1` path that is not served: 404 in the OpenAI shape. With a valid key it is a request of
/// that key like any other, so it leaves a log row.
pub async fn unknown_path(
    State(state): State<AppState>,
    Extension(RequestId(id)): Extension<RequestId>,
    ClientIp(ip): ClientIp,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let started = Instant::now();
    let error = ApiError::not_found("not_found", format!("no route for {method} {}", uri.path()));
    // Anthropic's clients name a version; they get errors in their own shape.
    let dialect = if headers.contains_key("anthropic-version") {
        Wire::Messages.dialect()
    } else {
        Wire::Chat.dialect()
    };
    let Ok(key) = authenticate(&state, &headers, ip).await else {
        return dialect.error_response(&error);
    };
    let log = LogRow {
        request_id: id,
        created_at: state.clock.now(),
        endpoint: "(unknown)",
        client_ip: ip.to_string(),
        user_id: Some(key.user_id),
        key_id: Some(key.id),
        key_name: key.name.clone(),
        ..LogRow::default()
    };
    settle::refused(&state, dialect, log, started, error)
}
