//! Every route of the server, one line each, and the layers around them.

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{any, get, patch, post};
use axum::Router;
use std::time::Duration;

use tower_http::timeout::RequestBodyTimeoutLayer;
use tracing::Instrument;

use crate::relay::dialects::Wire;
use crate::state::AppState;
use crate::{
    accounts, admin, console, keys, ledger, logs, metrics, pricing, referral, relay, system, topup,
};

/// The id of one request: in the `X-Request-Id` header, the log, and error bodies.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

// One line per route, kept so by hand: the table reads as the whole HTTP surface at a glance.
#[rustfmt::skip]
pub fn build_router(state: AppState) -> Router {
    let config = state.config();
    let api_limit = config.server.api_body_limit_kb as usize * 1024;
    let gateway_limit = config.relay.max_body_mb as usize * 1024 * 1024;

    let api = Router::new()
        .route("/api/status", get(system::status))
        .route("/api/openapi.json", get(crate::openapi::openapi_json))
        .route("/api/auth/register", post(accounts::handlers::register))
        .route("/api/auth/login", post(accounts::handlers::login))
        .route("/api/auth/logout", post(accounts::handlers::logout))
        .route("/api/auth/password", post(accounts::handlers::change_password))
        .route("/api/me", get(accounts::handlers::me))
        .route("/api/ledger", get(ledger::handlers::list_ledger))
        .route("/api/ledger/charges", get(ledger::handlers::charges_per_day))
        .route("/api/balance-alert", get(ledger::low_balance::get_balance_alert).put(ledger::low_balance::put_balance_alert))
        .route("/api/keys", get(keys::handlers::list_keys).post(keys::handlers::create_key))
        .route("/api/keys/{id}", patch(keys::handlers::update_key).delete(keys::handlers::delete_key))
        .route("/api/logs", get(logs::handlers::list_logs))
        .route("/api/logs.csv", get(logs::handlers::export_csv))
        .route("/api/usage", get(logs::handlers::usage))
        .route("/api/models", get(pricing::list::list_models))
        .route("/api/admin/overview", get(admin::overview::overview))
        .route("/api/admin/users", get(admin::users::list_users).post(admin::users::create_user))
        .route("/api/admin/users/{id}", patch(admin::users::update_user))
        .route("/api/admin/users/{id}/adjust", post(admin::users::adjust_user))
        .route("/api/admin/users/{id}/reset-password", post(admin::users::reset_password))
        .route("/api/admin/upstreams", get(admin::system::list_upstreams))
        .route("/api/admin/upstreams/{name}/test", post(admin::upstream_test::test_upstream))
        .route("/api/admin/prices", get(admin::system::list_prices))
        .route("/api/admin/logs", get(logs::handlers::list_all_logs))
        .route("/api/admin/logs.csv", get(logs::handlers::export_all_csv))
        .route("/api/admin/reload", post(admin::system::reload))
        .route("/api/topup/redeem", post(topup::codes::handlers::redeem))
        .route("/api/referral", get(referral::handlers::summary))
        .route("/api/referral/transfer", post(referral::handlers::transfer))
        .route("/api/admin/codes", get(topup::codes::handlers::list).post(topup::codes::handlers::generate))
        .route("/api/admin/codes/{id}/void", post(topup::codes::handlers::void))
        .route("/api/topup/methods", get(topup::payments::handlers::list_methods))
        .route("/api/topup/checkout", post(topup::payments::handlers::checkout))
        .route("/api/topup/orders", get(topup::payments::handlers::list_my_orders))
        .route("/api/admin/orders", get(topup::payments::handlers::list_all_orders))
        .route("/api/payments/stripe/webhook", post(topup::payments::handlers::stripe_webhook))
        .route("/api/payments/creem/webhook", post(topup::payments::handlers::creem_webhook))
        .route("/api/payments/epay/notify", get(topup::payments::handlers::epay_notify).post(topup::payments::handlers::epay_notify))
        .route("/api/payments/btcpay/webhook", post(topup::payments::webhooks::btcpay_webhook))
        .route("/api/payments/nowpayments/ipn", post(topup::payments::webhooks::nowpayments_ipn))
        .layer(DefaultBodyLimit::max(api_limit))
        .layer(middleware::from_fn_with_state(state.clone(), accounts::csrf::refuse_forged_requests));

    let gateway = Router::new()
        .route("/v1/chat/completions", relay::endpoint(Wire::Chat))
        .route("/v1/completions", relay::endpoint(Wire::Completions))
        .route("/v1/embeddings", relay::endpoint(Wire::Embeddings))
        .route("/v1/messages", relay::endpoint(Wire::Messages))
        .route("/v1/responses", relay::endpoint(Wire::Responses))
        .route("/v1/responses/compact", relay::endpoint(Wire::ResponsesCompact))
        .route("/v1/messages/count_tokens", post(relay::count_tokens::count_tokens))
        .route("/v1/models", get(relay::models::list_models))
        .route("/v1/{*path}", any(relay::models::unknown_path))
        .route("/v1/dashboard/billing/subscription", get(keys::billing::subscription))
        .route("/v1/dashboard/billing/usage", get(keys::billing::usage))
        .layer(DefaultBodyLimit::max(gateway_limit));

    let console = Router::new()
        .route("/", get(console::index))
        .route("/login", get(console::index))
        .route("/register", get(console::index))
        .route("/console", get(console::index))
        .route("/console/{*page}", get(console::index))
        .route("/assets/{*path}", get(console::asset));

    Router::new()
        .route("/healthz", get(system::healthz))
        .route("/metrics", get(metrics::scrape))
        .merge(api)
        .merge(gateway)
        .merge(console)
        .fallback(system::not_found)
        .method_not_allowed_fallback(system::method_not_allowed)
        .layer(RequestBodyTimeoutLayer::new(Duration::from_secs(config.server.body_timeout_secs)))
        .layer(middleware::from_fn_with_state(state.clone(), tag_request))
        .with_state(state)
}

/// Gives every request an id, a tracing span carrying it, and the `X-Request-Id` header.
/// The id carries the time of arrival by the server's clock (see [`crate::request_id`]).
async fn tag_request(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let id = crate::request_id::new(state.clock.now_ms());
    let span = tracing::info_span!("request", id = %id, method = %request.method(), path = %request.uri().path());
    request.extensions_mut().insert(RequestId(id.clone()));
    let gateway = request.uri().path().starts_with("/v1/");
    let mut response = next.run(request).instrument(span).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        // Anthropic's clients look for `request-id`.
        if gateway {
            response.headers_mut().insert("request-id", value.clone());
        }
        response.headers_mut().insert("x-request-id", value);
    }
    // The rest of a refused or stalled body is never read, so the connection cannot carry another
    // request: say so, or a client would send its next request on a connection being closed.
    if matches!(
        response.status(),
        StatusCode::PAYLOAD_TOO_LARGE | StatusCode::REQUEST_TIMEOUT
    ) {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}
