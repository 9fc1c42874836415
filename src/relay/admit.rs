//! Admit: the first stage. Checks everything that can be checked before an upstream is called —
//! the key, the body (read by the client's dialect), the model and its price — and holds the
//! request's worst-case cost from the balance and the key's limit. What it learns goes into the
//! log row as it learns it, so a refusal is logged with all of it.

use std::net::IpAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};

use super::dialects::Dialect;
use super::request::ClientRequest;
use super::settle::Bill;
use super::Arrival;
use crate::error::ApiError;
use crate::keys::auth::authenticate;
use crate::keys::cache::VerifiedKey;
use crate::ledger::funds::{Hold, HoldError};
use crate::logs::LogRow;
use crate::pricing::PriceTable;
use crate::state::AppState;

/// An admitted request and its open bill.
pub struct Admitted {
    pub req: ClientRequest,
    pub bill: Bill,
}

/// Admits a request, or refuses it with the error and its log row.
pub async fn admit(
    state: &AppState,
    dialect: &'static dyn Dialect,
    arrival: &Arrival,
    body: Result<Bytes, BytesRejection>,
    mut log: LogRow,
) -> Result<Admitted, (ApiError, LogRow)> {
    match check(state, dialect, &arrival.headers, arrival.ip, body, &mut log).await {
        Ok((req, key, prices, hold)) => Ok(Admitted {
            req,
            bill: Bill::open(
                state.clone(),
                key,
                prices,
                hold,
                log,
                arrival.started,
                arrival.left.clone(),
            ),
        }),
        Err(e) => Err((e, log)),
    }
}

async fn check(
    state: &AppState,
    dialect: &'static dyn Dialect,
    headers: &HeaderMap,
    ip: IpAddr,
    body: Result<Bytes, BytesRejection>,
    log: &mut LogRow,
) -> Result<
    (
        ClientRequest,
        Arc<VerifiedKey>,
        Arc<PriceTable>,
        Option<Hold>,
    ),
    ApiError,
> {
    let key = authenticate(state, headers, ip).await?;
    log.user_id = Some(key.user_id);
    log.key_id = Some(key.id);
    log.key_name = key.name.clone();
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::payload_too_large("request body is larger than this server accepts")
        } else {
            ApiError::bad_request("invalid_body", "could not read the request body")
        }
    })?;
    let mut req = ClientRequest::parse(dialect, &body, headers)?;
    req.received_at = state.clock.now();
    let default_output = u64::from(state.config().billing.default_max_output_tokens);
    req.output_bound = dialect.output_bound(&req, default_output);
    log.model = req.model.clone();
    log.stream = req.stream;
    let prices = state.prices();
    if !prices.is_served(&req.model) || !state.upstreams().serves(&req.model) {
        return Err(ApiError::not_found(
            "model_not_found",
            format!(
                "the model `{}` does not exist or is not served here",
                req.model
            ),
        ));
    }
    if !key.allows_model(&req.model) {
        return Err(ApiError::forbidden(
            "model_not_allowed",
            format!("this API key may not use the model `{}`", req.model),
        ));
    }
    let mut hold = None;
    if !prices.is_free(&req.model) {
        let amount = prices
            .hold(
                &req.model,
                &key.group,
                dialect.prompt_bound(&req),
                req.output_bound,
            )
            .map_err(|e| ApiError::bad_request("request_too_large", e.to_string()))?;
        if amount.is_positive() {
            hold = Some(
                state
                    .funds
                    .hold(key.user_id, Some(key.id), amount)
                    .map_err(|e| match e {
                        HoldError::Balance => ApiError::new(
                            StatusCode::FORBIDDEN,
                            "insufficient_quota",
                            "insufficient_quota",
                            format!("your balance is too low for this request (up to {amount}); top up to continue"),
                        ),
                        HoldError::KeyLimit => ApiError::new(
                            StatusCode::PAYMENT_REQUIRED,
                            "insufficient_quota",
                            "key_limit_reached",
                            format!("this API key's spending limit is used up (this request may cost up to {amount})"),
                        ),
                        HoldError::Failed(e) => e,
                    })?,
            );
        }
    }
    Ok((req, key, prices, hold))
}
