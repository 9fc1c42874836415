//! `GET /v1/models`: the models this key may use that are priced (or free) and served.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use crate::keys::auth::ApiKey;
use crate::state::AppState;

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
