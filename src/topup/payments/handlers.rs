//! HTTP side of online payment: methods, checkout and order lists for members and admins, and
//! the card and EPay callbacks (verified first, then applied in one transaction). The crypto
//! providers' callbacks are in `webhooks`.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use rusqlite::OptionalExtension;
use serde::Deserialize;
use serde_json::{json, Value};

use super::orders::{self, Callback, Order, Outcome};
use super::stripe::Checkout;
use super::{btcpay, creem, epay, nowpayments, quote, stripe, Provider};
use crate::accounts::session::{Admin, Session};
use crate::db::Store;
use crate::error::ErrorBody;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, QueryParams};
use crate::ledger::money::Money;
use crate::openapi::{AdminErrors, BodyTooLarge, MemberErrors, ServerErrors};
use crate::pagination;
use crate::state::AppState;

/// One enabled payment method in `GET /api/topup/methods` (for the OpenAPI document; built by
/// `PaymentsConfig::methods_json`).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct PaymentMethod {
    /// `stripe`, `creem`, `epay`, `btcpay` or `nowpayments`.
    #[schema(example = "stripe")]
    pub method: String,
    /// The currency the provider charges in (for crypto, the currency the price is stated in).
    #[schema(example = "USD")]
    pub currency: String,
    /// Units of `currency` charged per unit of balance, as a decimal string.
    #[schema(example = "1")]
    pub rate: String,
    pub min_amount: Money,
    pub max_amount: Money,
    /// Suggested amounts; with `custom_amount` false, the only amounts on offer.
    pub presets: Vec<Money>,
    /// Whether any amount between the bounds may be paid (Creem sells fixed products only).
    pub custom_amount: bool,
    /// EPay only: the payment types on offer (`alipay`, `wxpay`, `usdt`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub types: Option<Vec<String>>,
    /// NOWPayments only, when the operator fixed one: the coin asked for (`usdttrc20`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pay_currency: Option<String>,
}

/// What `GET /api/topup/methods` answers (for the OpenAPI document).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct PaymentMethodsResponse {
    /// The enabled methods, in a fixed order; empty when online payment is off.
    pub data: Vec<PaymentMethod>,
    /// The label of the balance currency.
    #[schema(example = "USD")]
    pub balance_currency: String,
}

/// What `POST /api/topup/checkout` answers (for the OpenAPI document).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct CheckoutResponse {
    /// The order number, as `GET /api/topup/orders` shows it.
    pub order_id: String,
    /// Where to send the member to pay.
    pub url: String,
}

/// An order as its owner sees it (for the OpenAPI document; built by `Order::to_json`).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct OrderView {
    /// The order number.
    pub order_id: String,
    /// `stripe`, `creem`, `epay`, `btcpay` or `nowpayments`.
    pub method: String,
    /// EPay's payment type; empty for the other methods.
    #[serde(rename = "type")]
    pub pay_type: String,
    /// The balance the order credits when paid.
    pub amount: Money,
    /// What the provider charges, in `currency`, as a decimal string.
    #[schema(example = "10.00")]
    pub pay_amount: String,
    pub currency: String,
    /// `pending`; for crypto also `processing` (seen, waiting for confirmations) or
    /// `partially_paid` (less than the price arrived; not credited); then `paid`, `failed` or
    /// `expired`.
    #[schema(example = "paid")]
    pub status: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime, required = true)]
    pub paid_at: Option<String>,
}

/// An order as an admin sees it: the owner's view and who and what it is at the provider.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct AdminOrderView {
    #[serde(flatten)]
    pub order: OrderView,
    pub id: i64,
    pub user_id: i64,
    /// The account's username (`null` if it is gone).
    #[schema(required = true)]
    pub username: Option<String>,
    /// The provider's id of the checkout or payment, once known.
    #[schema(required = true)]
    pub provider_ref: Option<String>,
    /// Why an order failed, when it did.
    pub note: String,
}

/// A page of the member's orders, as `GET /api/topup/orders` answers (for the OpenAPI document).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct OrderListResponse {
    /// Newest first.
    pub data: Vec<OrderView>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// A page of everyone's orders, as `GET /api/admin/orders` answers (for the OpenAPI document).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct AdminOrderListResponse {
    /// Newest first.
    pub data: Vec<AdminOrderView>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// How a provider callback ended (for the OpenAPI document; built by `outcome_json`).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct CallbackResponse {
    pub received: bool,
    /// `credited`, `already_paid` (a repeat; nothing changed), `closed` (the checkout ended
    /// unpaid), `updated` (a payment under way or short; nothing credited) or `ignored` (an
    /// event that needs nothing done).
    #[schema(example = "credited")]
    pub result: String,
}

/// The parameters of an EPay notify, in the query (GET) or a form body (POST) (for the OpenAPI
/// document; read by `epay::parse_params`).
#[derive(serde::Serialize, utoipa::ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EpayNotifyParams {
    /// The merchant id; must be `payments.epay.pid`.
    pub pid: Option<String>,
    /// The gateway's trade number.
    pub trade_no: Option<String>,
    /// Our order number.
    pub out_trade_no: Option<String>,
    /// The payment type (`alipay`, `wxpay`, ...).
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub pay_type: Option<String>,
    pub name: Option<String>,
    /// The amount paid, as a decimal string.
    pub money: Option<String>,
    /// Only `TRADE_SUCCESS` credits the order.
    pub trade_status: Option<String>,
    /// MD5 signature over the other parameters and the merchant key.
    pub sign: Option<String>,
    /// `MD5`.
    pub sign_type: Option<String>,
}

/// `GET /api/topup/methods`: the enabled methods with currency, bounds and presets.
#[utoipa::path(
    get,
    path = "/api/topup/methods",
    tag = "topup",
    summary = "Payment methods on offer",
    description = "The enabled online payment methods with their currency, bounds and presets.",
    security(("cr_session" = [])),
    responses(
        (status = 200, description = "The enabled methods", body = PaymentMethodsResponse),
        MemberErrors,
    ),
)]
pub async fn list_methods(State(state): State<AppState>, _session: Session) -> Json<Value> {
    let config = state.config();
    Json(json!({
        "data": config.payments.methods_json(),
        "balance_currency": config.billing.currency,
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckoutRequest {
    /// `stripe`, `creem`, `epay`, `btcpay` or `nowpayments`; one of `GET /api/topup/methods`.
    #[schema(example = "stripe")]
    method: String,
    /// The balance to buy, within the method's bounds (for Creem, one of its presets).
    #[schema(example = "10.000000")]
    amount: Money,
    /// EPay only: `alipay`, `wxpay`, ... (one of `payments.epay.types`).
    #[serde(default, rename = "type")]
    pay_type: Option<String>,
}

/// `POST /api/topup/checkout`: records a pending order and opens the provider's checkout.
/// 201 `{order_id, url}`; 400 for a method or amount that is not on offer; 429 past
/// [`orders::PENDING_PER_HOUR`] unpaid checkouts; 502 when the provider would not open a
/// checkout (the order is then marked failed).
#[utoipa::path(
    post,
    path = "/api/topup/checkout",
    tag = "topup",
    summary = "Start a payment",
    description = "Records a pending order and opens the provider's checkout; send the member to \
        `url`. The balance is credited when the provider's callback confirms the payment.",
    request_body = CheckoutRequest,
    security(("cr_session" = [])),
    responses(
        (status = 201, description = "The order and the checkout URL", body = CheckoutResponse),
        (status = 400, description = "Malformed body, a method that is not enabled \
            (`unknown_method`), a `type` that does not apply (`invalid_type`), or an amount not on \
            offer (`invalid_amount`, `amount_too_small`, `amount_too_large`, `amount_too_precise`, \
            `amount_not_offered`), or a balance the top-up would take past the largest balance, \
            $1,000,000,000 (`balance_limit`)", body = ErrorBody),
        (status = 429, description = "Too many unpaid checkouts in the last hour (`rate_limited`); see `Retry-After`", body = ErrorBody),
        (status = 502, description = "The provider did not open a checkout (`provider_error`); the order is marked failed", body = ErrorBody),
        BodyTooLarge,
        MemberErrors,
    ),
)]
pub async fn checkout(
    State(state): State<AppState>,
    session: Session,
    JsonBody(req): JsonBody<CheckoutRequest>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let config = state.config();
    let payments = &config.payments;
    let provider = Provider::parse(&req.method)
        .filter(|p| payments.limits(*p).is_some())
        .ok_or_else(|| {
            ApiError::bad_request("unknown_method", "that payment method is not enabled")
        })?;
    if req.pay_type.is_some() && provider != Provider::Epay {
        return Err(ApiError::bad_request(
            "invalid_type",
            "type applies to the epay method only",
        ));
    }
    let public_url = config.server.public_url.clone();
    let user_id = session.user.id;
    let (quote, pay_type, product) = match provider {
        Provider::Stripe => (
            quote(req.amount, &payments.stripe.limits())?,
            String::new(),
            None,
        ),
        Provider::Creem => {
            let (product, quote) = payments.creem.product_for(req.amount)?;
            (quote, String::new(), Some(product.clone()))
        }
        Provider::Epay => (
            quote(req.amount, &payments.epay.limits())?,
            payments.epay.pick_type(req.pay_type.as_deref())?,
            None,
        ),
        Provider::Btcpay => (
            quote(req.amount, &payments.btcpay.limits())?,
            String::new(),
            None,
        ),
        Provider::Nowpayments => (
            quote(req.amount, &payments.nowpayments.limits())?,
            String::new(),
            None,
        ),
    };
    // Refused before the member pays: a payment the balance has no room for cannot be credited.
    if !crate::ledger::fits(session.user.balance, quote.credit) {
        return Err(crate::ledger::balance_limit(
            crate::ledger::Account::Balance,
        ));
    }
    let now = state.clock.now();
    let (q, t) = (quote.clone(), pay_type.clone());
    let order = state
        .db
        .write(move |conn| {
            orders::check_pending_limit(conn, user_id, now)?;
            orders::create_order(conn, user_id, provider, &t, &q, now)
        })
        .await?;

    let opened: Result<Checkout, String> = match (provider, product) {
        (Provider::Stripe, _) => {
            stripe::create_checkout(
                &state.http,
                &payments.stripe,
                &order.order_no,
                &quote,
                &public_url,
            )
            .await
        }
        (Provider::Creem, Some(product)) => {
            creem::create_checkout(
                &state.http,
                &payments.creem,
                &product,
                &order.order_no,
                user_id,
                &public_url,
            )
            .await
        }
        (Provider::Creem, None) => Err("creem: no product".into()),
        (Provider::Epay, _) => epay::submit_url(
            &payments.epay,
            &order.order_no,
            &pay_type,
            &quote,
            &public_url,
        )
        .map(|url| Checkout {
            provider_ref: String::new(),
            url,
        }),
        (Provider::Btcpay, _) => {
            btcpay::create_checkout(
                &state.http,
                &payments.btcpay,
                &order.order_no,
                &quote,
                &public_url,
            )
            .await
        }
        (Provider::Nowpayments, _) => {
            nowpayments::create_checkout(
                &state.http,
                &payments.nowpayments,
                &order.order_no,
                &quote,
                &public_url,
            )
            .await
        }
    };
    let now = state.clock.now();
    let order_id = order.id;
    match opened {
        Ok(checkout) => {
            if !checkout.provider_ref.is_empty() {
                let reference = checkout.provider_ref.clone();
                state
                    .db
                    .write(move |conn| orders::attach_checkout(conn, order_id, &reference, now))
                    .await?;
            }
            tracing::info!(order = %order.order_no, user = user_id, method = provider.as_str(), amount = %order.amount, "checkout opened");
            Ok((
                StatusCode::CREATED,
                Json(json!({ "order_id": order.order_no, "url": checkout.url })),
            ))
        }
        Err(detail) => {
            tracing::error!(order = %order.order_no, detail = %detail, "payment provider refused the checkout");
            let note = stripe::clip(&detail);
            state
                .db
                .write(move |conn| orders::fail_order(conn, order_id, &note, now))
                .await?;
            Err(ApiError::new(
                StatusCode::BAD_GATEWAY,
                "server_error",
                "provider_error",
                "the payment provider did not open a checkout; try again later",
            ))
        }
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrderQuery {
    /// Orders per page: default 50, at most 500.
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Only orders in this state: `pending`, `processing`, `partially_paid`, `paid`, `failed`
    /// or `expired`.
    status: Option<String>,
    /// Admin route only: one user's orders. Ignored on `/api/topup/orders`.
    user_id: Option<i64>,
}

fn page_of(q: &OrderQuery) -> ApiResult<(u32, Option<i64>, Option<String>)> {
    let limit = pagination::limit(q.limit);
    let before = pagination::cursor(q.cursor.as_deref())?;
    let status = match q.status.as_deref() {
        None | Some("") => None,
        Some(s) if orders::STATUSES.contains(&s) => Some(s.to_string()),
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid_query",
                format!("status is one of {}", orders::STATUSES.join(", ")),
            ))
        }
    };
    Ok((limit, before, status))
}

fn page_json(rows: &[Order], limit: u32, for_admin: bool) -> Json<Value> {
    let data: Vec<Value> = rows.iter().map(|o| o.to_json(for_admin)).collect();
    pagination::page_json(data, pagination::next_cursor(rows, limit, |o| o.id))
}

/// `GET /api/topup/orders`: the signed-in user's own orders, newest first.
#[utoipa::path(
    get,
    path = "/api/topup/orders",
    tag = "topup",
    summary = "The member's orders",
    params(OrderQuery),
    security(("cr_session" = [])),
    responses(
        (status = 200, description = "A page of orders, newest first", body = OrderListResponse),
        (status = 400, description = "A malformed query (`invalid_query`) or cursor (`invalid_cursor`)", body = ErrorBody),
        MemberErrors,
    ),
)]
pub async fn list_my_orders(
    State(state): State<AppState>,
    session: Session,
    QueryParams(q): QueryParams<OrderQuery>,
) -> ApiResult<Json<Value>> {
    let (limit, before, status) = page_of(&q)?;
    let user_id = session.user.id;
    let rows = state
        .db
        .read(move |conn| {
            orders::find_orders(conn, Some(user_id), status.as_deref(), before, limit)
        })
        .await?;
    Ok(page_json(&rows, limit, false))
}

/// `GET /api/admin/orders`: everyone's orders (or one user's), newest first.
#[utoipa::path(
    get,
    path = "/api/admin/orders",
    tag = "admin",
    summary = "Everyone's orders",
    description = "Admin only. Every account's orders (or one account's, with `user_id`), newest first.",
    params(OrderQuery),
    security(("cr_session" = ["admin"])),
    responses(
        (status = 200, description = "A page of orders, newest first", body = AdminOrderListResponse),
        (status = 400, description = "A malformed query (`invalid_query`) or cursor (`invalid_cursor`)", body = ErrorBody),
        AdminErrors,
    ),
)]
pub async fn list_all_orders(
    State(state): State<AppState>,
    _admin: Admin,
    QueryParams(q): QueryParams<OrderQuery>,
) -> ApiResult<Json<Value>> {
    let (limit, before, status) = page_of(&q)?;
    let user_id = q.user_id;
    let (rows, names) = state
        .db
        .read(move |conn| {
            let rows = orders::find_orders(conn, user_id, status.as_deref(), before, limit)?;
            let mut names: std::collections::HashMap<i64, Option<String>> =
                std::collections::HashMap::new();
            let mut stmt = conn
                .prepare_cached("SELECT username FROM users WHERE id = ?1")
                .store("prepare the order owners' names")?;
            for order in &rows {
                if let std::collections::hash_map::Entry::Vacant(slot) = names.entry(order.user_id)
                {
                    slot.insert(
                        stmt.query_row([order.user_id], |r| r.get(0))
                            .optional()
                            .store("read the order owner's name")?,
                    );
                }
            }
            Ok((rows, names))
        })
        .await?;
    let data: Vec<Value> = rows
        .iter()
        .map(|o| {
            let mut v = o.to_json(true);
            v["username"] = json!(names.get(&o.user_id).cloned().flatten());
            v
        })
        .collect();
    Ok(pagination::page_json(
        data,
        pagination::next_cursor(&rows, limit, |o| o.id),
    ))
}

pub(super) fn body_of(body: Result<Bytes, BytesRejection>) -> ApiResult<Bytes> {
    body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::payload_too_large("callback body is too large")
        } else {
            ApiError::bad_request("invalid_body", "could not read the request body")
        }
    })
}

/// A callback for a provider whose secret we do not have. Non-2xx, so the provider retries
/// once the operator has fixed it; logged loudly when the provider is enabled.
pub(super) fn not_configured(provider: Provider, enabled: bool) -> ApiError {
    if enabled {
        tracing::error!(
            provider = provider.as_str(),
            "payment callback refused: the provider is enabled but its secret is not set"
        );
    }
    ApiError::not_found(
        "not_found",
        format!("payments.{} is not configured", provider.as_str()),
    )
}

pub(super) fn refused_signature(provider: Provider, why: &str) -> ApiError {
    tracing::warn!(
        provider = provider.as_str(),
        why,
        "payment callback refused: bad signature"
    );
    ApiError::bad_request("invalid_signature", "signature verification failed")
}

/// Applies a verified callback and logs how it ended. A refusal is logged at warn; an error
/// of ours is non-2xx so the provider retries later and the order stays pending meanwhile.
pub(super) async fn apply(
    state: &AppState,
    provider: Provider,
    callback: Callback,
) -> ApiResult<Outcome> {
    let now = state.clock.now();
    let config = state.config();
    let result = state
        .db
        .write(move |conn| orders::apply_callback(conn, callback, &config.referral, now))
        .await;
    match &result {
        Ok(Outcome::Credited {
            order_no,
            user_id,
            amount,
        }) => {
            tracing::info!(provider = provider.as_str(), order = %order_no, user = user_id, amount = %amount, "payment credited")
        }
        Ok(Outcome::AlreadyPaid { order_no }) => {
            tracing::info!(provider = provider.as_str(), order = %order_no, "repeated callback for a paid order; nothing changed")
        }
        Ok(Outcome::Closed { order_no }) => {
            tracing::info!(provider = provider.as_str(), order = %order_no, "checkout closed unpaid")
        }
        Ok(Outcome::Progress { order_no, status }) => {
            tracing::info!(provider = provider.as_str(), order = %order_no, status, "payment under way; nothing credited")
        }
        Ok(Outcome::Ignored(why)) => {
            tracing::debug!(provider = provider.as_str(), why = %why, "callback acknowledged, nothing to do")
        }
        Err(e) if e.status.is_client_error() => {
            tracing::warn!(provider = provider.as_str(), code = e.code, message = %e.message, "payment callback refused")
        }
        Err(_) => {}
    }
    result
}

pub(super) fn outcome_json(outcome: &Outcome) -> Json<Value> {
    let result = match outcome {
        Outcome::Credited { .. } => "credited",
        Outcome::AlreadyPaid { .. } => "already_paid",
        Outcome::Closed { .. } => "closed",
        Outcome::Progress { .. } => "updated",
        Outcome::Ignored(_) => "ignored",
    };
    Json(json!({ "received": true, "result": result }))
}

pub(super) fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// `POST /api/payments/stripe/webhook`.
#[utoipa::path(
    post,
    path = "/api/payments/stripe/webhook",
    tag = "payments",
    summary = "Stripe webhook",
    description = "Called by Stripe, not by members. The `Stripe-Signature` header is verified \
        against `payments.stripe` before anything is read; a completed checkout credits its \
        order once, repeats change nothing. A non-2xx answer makes Stripe retry.",
    params(("stripe-signature" = String, Header, description = "Stripe's signature of the body")),
    request_body(content = Object, description = "A Stripe event", content_type = "application/json"),
    responses(
        (status = 200, description = "Handled", body = CallbackResponse),
        (status = 400, description = "A bad signature (`invalid_signature`), an event that is not \
            understood (`invalid_event`), or one that does not match its order (`unknown_order`, \
            `amount_mismatch`, `reference_mismatch`, `order_not_payable`), or a paid order the balance \
            has no room for (`balance_limit`; the order stays pending and a redelivery credits it)", body = ErrorBody),
        (status = 404, description = "Stripe is not configured on this server (`not_found`)", body = ErrorBody),
        BodyTooLarge,
        ServerErrors,
    ),
)]
pub async fn stripe_webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Value>> {
    let body = body_of(body)?;
    let config = state.config();
    let secret = config.payments.stripe.webhook_secret();
    if secret.is_empty() {
        return Err(not_configured(
            Provider::Stripe,
            config.payments.stripe.enabled,
        ));
    }
    let now = state.clock.now();
    stripe::verify_signature(header(&headers, "stripe-signature"), &body, &secret, now)
        .map_err(|e| refused_signature(Provider::Stripe, &e.to_string()))?;
    let callback = stripe::interpret_event(&body)?;
    let outcome = apply(&state, Provider::Stripe, callback).await?;
    Ok(outcome_json(&outcome))
}

/// `POST /api/payments/creem/webhook`.
#[utoipa::path(
    post,
    path = "/api/payments/creem/webhook",
    tag = "payments",
    summary = "Creem webhook",
    description = "Called by Creem, not by members. The `creem-signature` header is verified \
        against `payments.creem` before anything is read; a completed checkout credits its order \
        once, repeats change nothing. A non-2xx answer makes Creem retry.",
    params(("creem-signature" = String, Header, description = "Creem's HMAC-SHA256 of the body")),
    request_body(content = Object, description = "A Creem event", content_type = "application/json"),
    responses(
        (status = 200, description = "Handled", body = CallbackResponse),
        (status = 400, description = "A bad signature (`invalid_signature`), an event that is not \
            understood (`invalid_event`), or one that does not match its order (`unknown_order`, \
            `amount_mismatch`, `reference_mismatch`, `order_not_payable`), or a paid order the balance \
            has no room for (`balance_limit`; the order stays pending and a redelivery credits it)", body = ErrorBody),
        (status = 404, description = "Creem is not configured on this server (`not_found`)", body = ErrorBody),
        BodyTooLarge,
        ServerErrors,
    ),
)]
pub async fn creem_webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Value>> {
    let body = body_of(body)?;
    let config = state.config();
    let secret = config.payments.creem.webhook_secret();
    if secret.is_empty() {
        return Err(not_configured(
            Provider::Creem,
            config.payments.creem.enabled,
        ));
    }
    if !creem::verify_signature(header(&headers, "creem-signature"), &body, &secret) {
        return Err(refused_signature(
            Provider::Creem,
            "creem-signature does not match",
        ));
    }
    let callback = creem::interpret_event(&body)?;
    let outcome = apply(&state, Provider::Creem, callback).await?;
    Ok(outcome_json(&outcome))
}

/// `GET|POST /api/payments/epay/notify`: parameters in the query (GET) or a form body (POST).
/// Answers plain `success` once the notify is handled (including repeats), `fail` otherwise;
/// the gateway keeps notifying until it reads `success`.
#[utoipa::path(
    method(get, post),
    path = "/api/payments/epay/notify",
    tag = "payments",
    summary = "EPay notify",
    description = "Called by an EPay gateway, not by members: the parameters come in the query \
        (GET) or as a form body (POST). The `sign` is verified with `payments.epay`'s key before \
        anything is read. Answers plain `success` once the notify is handled (repeats included), \
        plain `fail` otherwise; the gateway keeps notifying until it reads `success`.",
    params(EpayNotifyParams),
    request_body(content = EpayNotifyParams, description = "POST: the same parameters, form-encoded (or in the query when the body is empty)",
        content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Handled", content_type = "text/plain", body = String, example = "success"),
        (status = 400, description = "A bad signature or a notify that is not understood or does \
            not match its order", content_type = "text/plain", body = String, example = "fail"),
        (status = 404, description = "EPay is not configured on this server", content_type = "text/plain", body = String, example = "fail"),
        (status = 413, description = "The body is larger than `server.api_body_limit_kb`", content_type = "text/plain", body = String, example = "fail"),
        (status = 500, description = "Internal error; the gateway retries", content_type = "text/plain", body = String, example = "fail"),
        (status = 503, description = "The database is busy; the gateway retries", content_type = "text/plain", body = String, example = "fail"),
    ),
)]
pub async fn epay_notify(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match handle_epay_notify(&state, query, body).await {
        Ok(_) => (StatusCode::OK, "success").into_response(),
        Err(e) => {
            if let Some(detail) = &e.detail {
                tracing::error!(detail = %detail, "epay notify failed");
            }
            (e.status, "fail").into_response()
        }
    }
}

async fn handle_epay_notify(
    state: &AppState,
    query: Option<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Outcome> {
    let body = body_of(body)?;
    let config = state.config();
    let key = config.payments.epay.key();
    if key.is_empty() || config.payments.epay.pid.is_empty() {
        return Err(not_configured(Provider::Epay, config.payments.epay.enabled));
    }
    let text = if body.is_empty() {
        query.unwrap_or_default()
    } else {
        String::from_utf8(body.to_vec())
            .map_err(|_| ApiError::bad_request("invalid_notify", "body is not UTF-8"))?
    };
    let params = epay::parse_params(&text)?;
    if !epay::verify(&params, &key) {
        return Err(refused_signature(Provider::Epay, "sign does not match"));
    }
    let callback = epay::interpret_notify(&params, &config.payments.epay)?;
    apply(state, Provider::Epay, callback).await
}
