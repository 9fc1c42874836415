//! The crypto providers' callbacks: BTCPay's webhook (a settled invoice is read back from the
//! API before anything is credited) and NOWPayments' IPN. Both verify the signature over the
//! raw body before reading it, then apply the callback in one transaction like the card ones.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde_json::Value;

use super::btcpay::{self, Webhook};
use super::handlers::{apply, body_of, header, not_configured, outcome_json, refused_signature};
use super::{nowpayments, Provider};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::openapi::{BodyTooLarge, ServerErrors};
use crate::state::AppState;

/// `POST /api/payments/btcpay/webhook`.
#[utoipa::path(
    post,
    path = "/api/payments/btcpay/webhook",
    tag = "payments",
    summary = "BTCPay Server webhook",
    description = "Called by BTCPay Server, not by members. The `BTCPay-Sig` header is verified \
        against `payments.btcpay` before anything is read. On `InvoiceSettled` the invoice is read \
        back from the Greenfield API and its order is credited once, only if the invoice is \
        Settled for the order's exact amount and currency; `InvoiceExpired` and `InvoiceInvalid` \
        close the order, `InvoiceProcessing` shows it as processing. A non-2xx answer makes \
        BTCPay deliver again.",
    params(("btcpay-sig" = String, Header, description = "`sha256=` and the HMAC-SHA256 of the body")),
    request_body(content = Object, description = "A BTCPay webhook event", content_type = "application/json"),
    responses(
        (status = 200, description = "Handled", body = super::handlers::CallbackResponse),
        (status = 400, description = "A bad signature (`invalid_signature`), an event that is not \
            understood or for another store (`invalid_event`), an invoice that is not settled \
            (`invoice_not_settled`), or one that does not match its order (`unknown_order`, \
            `amount_mismatch`, `reference_mismatch`, `order_not_payable`)", body = ErrorBody),
        (status = 404, description = "BTCPay is not configured on this server (`not_found`)", body = ErrorBody),
        (status = 502, description = "The invoice could not be read back from BTCPay (`provider_error`); BTCPay delivers again", body = ErrorBody),
        BodyTooLarge,
        ServerErrors,
    ),
)]
pub async fn btcpay_webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Value>> {
    let body = body_of(body)?;
    let config = state.config();
    let btcpay_config = &config.payments.btcpay;
    let secret = btcpay_config.webhook_secret();
    if secret.is_empty() || btcpay_config.store_id.trim().is_empty() {
        return Err(not_configured(Provider::Btcpay, btcpay_config.enabled));
    }
    if !btcpay::verify_signature(header(&headers, "btcpay-sig"), &body, &secret) {
        return Err(refused_signature(
            Provider::Btcpay,
            "BTCPay-Sig does not match",
        ));
    }
    let callback = match btcpay::interpret_event(&body, btcpay_config)? {
        Webhook::Now(kind) => kind.into_callback(),
        Webhook::Settled { invoice_id } => {
            let invoice = btcpay::fetch_invoice(&state.http, btcpay_config, &invoice_id)
                .await
                .map_err(|detail| {
                    tracing::error!(invoice = %invoice_id, detail = %detail, "btcpay: could not read a settled invoice back");
                    ApiError::new(
                        StatusCode::BAD_GATEWAY,
                        "server_error",
                        "provider_error",
                        "the invoice could not be read back from BTCPay; deliver again later",
                    )
                })?;
            btcpay::settled_callback(invoice, &invoice_id).inspect_err(|e| {
                tracing::warn!(invoice = %invoice_id, code = e.code, message = %e.message, "btcpay: settled webhook refused after reading the invoice back");
            })?
        }
    };
    let outcome = apply(&state, Provider::Btcpay, callback).await?;
    Ok(outcome_json(&outcome))
}

/// `POST /api/payments/nowpayments/ipn`.
#[utoipa::path(
    post,
    path = "/api/payments/nowpayments/ipn",
    tag = "payments",
    summary = "NOWPayments IPN",
    description = "Called by NOWPayments, not by members. The `x-nowpayments-sig` header (HMAC-SHA512 \
        of the body with its keys sorted, under the IPN secret) is verified against \
        `payments.nowpayments` before anything is read. `finished` credits the order once when \
        `price_amount` and `price_currency` are the order's; `partially_paid` and the confirming \
        states are shown on the order and credit nothing; `failed` and `expired` close it. A \
        non-2xx answer makes NOWPayments notify again.",
    params(("x-nowpayments-sig" = String, Header, description = "HMAC-SHA512 of the key-sorted body")),
    request_body(content = Object, description = "A NOWPayments payment notification", content_type = "application/json"),
    responses(
        (status = 200, description = "Handled", body = super::handlers::CallbackResponse),
        (status = 400, description = "A bad signature (`invalid_signature`), a notification that \
            is not understood (`invalid_event`), or one that does not match its order \
            (`unknown_order`, `amount_mismatch`, `reference_mismatch`, `order_not_payable`)", body = ErrorBody),
        (status = 404, description = "NOWPayments is not configured on this server (`not_found`)", body = ErrorBody),
        BodyTooLarge,
        ServerErrors,
    ),
)]
pub async fn nowpayments_ipn(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Value>> {
    let body = body_of(body)?;
    let config = state.config();
    let secret = config.payments.nowpayments.ipn_secret();
    if secret.is_empty() {
        return Err(not_configured(
            Provider::Nowpayments,
            config.payments.nowpayments.enabled,
        ));
    }
    if !nowpayments::verify_signature(header(&headers, "x-nowpayments-sig"), &body, &secret) {
        return Err(refused_signature(
            Provider::Nowpayments,
            "x-nowpayments-sig does not match",
        ));
    }
    let callback = nowpayments::interpret_ipn(&body)?;
    let outcome = apply(&state, Provider::Nowpayments, callback).await?;
    Ok(outcome_json(&outcome))
}
