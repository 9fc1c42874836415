//! `/v1` routes: the three relayed endpoints and the model list.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Json;
use serde_json::{json, Value};

use super::request::Endpoint;
use crate::keys::auth::ApiKey;
use crate::net::ClientIp;
use crate::router::RequestId;
use crate::state::AppState;

pub async fn chat_completions(
    State(state): State<AppState>,
    Extension(RequestId(id)): Extension<RequestId>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    super::relay(state, Endpoint::Chat, id, ip, headers, body).await
}

pub async fn completions(
    State(state): State<AppState>,
    Extension(RequestId(id)): Extension<RequestId>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    super::relay(state, Endpoint::Completions, id, ip, headers, body).await
}

pub async fn embeddings(
    State(state): State<AppState>,
    Extension(RequestId(id)): Extension<RequestId>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    super::relay(state, Endpoint::Embeddings, id, ip, headers, body).await
}

/// The models this key may use that are priced (or free) and served by an upstream.
pub async fn list_models(State(state): State<AppState>, caller: ApiKey) -> Json<Value> {
    let prices = state.prices();
    let upstreams = state.upstreams();
    let data: Vec<Value> = upstreams
        .models()
        .into_iter()
        .filter(|m| prices.is_served(m) && caller.key.allows_model(m))
        .map(|m| json!({ "id": m, "object": "model", "created": 0, "owned_by": "code-router" }))
        .collect();
    Json(json!({ "object": "list", "data": data }))
}
