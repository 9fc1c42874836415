//! Routes about the server itself: `/healthz` and the public `/api/status` the console starts from.

use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use axum::Json;
use serde_json::{json, Value};

use crate::config::Display;
use crate::db::Store;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// What `GET /api/status` answers (for the OpenAPI document).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct StatusResponse {
    #[schema(example = "Code Router")]
    pub name: String,
    /// The server's version.
    #[schema(example = "0.1.0")]
    pub version: String,
    /// Whether `POST /api/auth/register` is open.
    pub allow_registration: bool,
    /// How the console shows balances.
    pub display: Display,
    /// Quota units per US dollar, for the `quota` display.
    #[schema(example = 500000)]
    pub quota_per_usd: u64,
    /// The label of the balance currency.
    #[schema(example = "USD")]
    pub currency: String,
    /// Where members reach this server (`[server] public_url`, without a trailing slash): the
    /// gateway is under `{public_url}/v1`, which the console's setup snippets use.
    #[schema(example = "https://router.example.com")]
    pub public_url: String,
    /// Whether referral rewards are on (`[referral] enabled`).
    pub referral_enabled: bool,
}

/// 200 when the database answers.
pub async fn healthz(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    state
        .db
        .read(|conn| {
            Ok(conn
                .query_row("SELECT 1", [], |r| r.get::<_, i64>(0))
                .store("check the database answers")?)
        })
        .await?;
    Ok(Json(json!({ "status": "ok" })))
}

/// What the console needs before sign-in: name, version, registration and display settings.
#[utoipa::path(
    get,
    path = "/api/status",
    tag = "system",
    summary = "Server status",
    description = "What the console needs before sign-in: name, version, whether registration is \
        open, how to show balances, the public base URL and whether referrals are on. Needs no \
        session.",
    responses((status = 200, description = "The server's public settings", body = StatusResponse)),
)]
pub async fn status(State(state): State<AppState>) -> Json<Value> {
    let config = state.config();
    Json(json!({
        "name": "Code Router",
        "version": env!("CARGO_PKG_VERSION"),
        "allow_registration": config.server.allow_registration,
        "display": config.billing.display,
        "quota_per_usd": config.billing.quota_per_usd,
        "currency": config.billing.currency,
        "public_url": config.server.public_url.trim_end_matches('/'),
        "referral_enabled": config.referral.enabled,
    }))
}

pub async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::not_found("not_found", format!("no route for {method} {}", uri.path()))
}

pub async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "invalid_request_error",
        "method_not_allowed",
        format!("{method} is not allowed on {}", uri.path()),
    )
}
