//! `POST /v1/messages/count_tokens`: how many input tokens a Messages request would take. Asked
//! of an `anthropic` upstream serving the model (its count is the provider's); otherwise
//! counted here with the tokenizer, an estimate (a different tokenizer than Claude's). Never
//! billed; logged like every `/v1` request.

use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::dialects::messages::Messages;
use super::dialects::Dialect;
use super::request::ClientRequest;
use super::settle;
use super::upstreams::{anthropic, error_chain};
use crate::config::UpstreamKind;
use crate::error::ApiError;
use crate::keys::auth::authenticate;
use crate::logs::LogRow;
use crate::net::ClientIp;
use crate::router::RequestId;
use crate::state::AppState;

pub async fn count_tokens(
    State(state): State<AppState>,
    Extension(RequestId(id)): Extension<RequestId>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let started = Instant::now();
    let mut log = LogRow {
        request_id: id,
        created_at: state.clock.now(),
        endpoint: "/messages/count_tokens",
        client_ip: ip.to_string(),
        ..LogRow::default()
    };
    match count(&state, &headers, ip, body, &mut log).await {
        Ok(response) => {
            settle::record_free(&state, log, started);
            response
        }
        Err(error) => settle::refused(&state, &Messages, log, started, error),
    }
}

async fn count(
    state: &AppState,
    headers: &HeaderMap,
    ip: std::net::IpAddr,
    body: Result<Bytes, BytesRejection>,
    log: &mut LogRow,
) -> Result<Response, ApiError> {
    let key = authenticate(state, headers, ip).await?;
    log.user_id = Some(key.user_id);
    log.key_id = Some(key.id);
    log.key_name = key.name.clone();
    let body =
        body.map_err(|_| ApiError::bad_request("invalid_body", "could not read the request body"))?;
    // A count needs no max_tokens: read the body as a request that has one.
    let req = ClientRequest::parse_counting(&Messages, &body, headers)?;
    log.model = req.model.clone();
    if !state.prices().is_served(&req.model) || !state.upstreams().serves(&req.model) {
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
    let timeout = Duration::from_secs(state.config().relay.first_byte_timeout_secs);
    let upstreams = state.upstreams();
    for upstream in upstreams
        .list
        .iter()
        .filter(|u| u.kind == UpstreamKind::Anthropic && u.serves(&req.model))
    {
        let Some(url) = anthropic::count_tokens_url(&upstream.base_url) else {
            continue;
        };
        let mut request = state
            .upstream_http()
            .post(url)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Messages.upstream_body(&req, upstream.upstream_model(&req.model)));
        if let Some(key) = &upstream.api_key {
            request = request.header("x-api-key", key);
        }
        for (name, value) in anthropic::headers(upstream, &req) {
            request = request.header(name, value);
        }
        log.upstream = upstream.name.clone();
        match tokio::time::timeout(timeout, request.send()).await {
            Ok(Ok(answer)) if answer.status().is_success() => {
                if let Ok(bytes) = answer.bytes().await {
                    if serde_json::from_slice::<serde_json::Value>(&bytes)
                        .is_ok_and(|v| v["input_tokens"].is_u64())
                    {
                        log.usage_source = "upstream";
                        return Ok(json_answer(bytes.to_vec()));
                    }
                }
            }
            Ok(Ok(answer))
                if answer.status().is_client_error()
                    && answer.status() != StatusCode::NOT_FOUND =>
            {
                // The client's mistake, as the provider words it.
                let status = answer.status();
                let text = answer.text().await.unwrap_or_default();
                log.status = status.as_u16();
                let mut response = (
                    StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::BAD_REQUEST),
                    text,
                )
                    .into_response();
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                return Ok(response);
            }
            Ok(Ok(answer)) => {
                tracing::info!(upstream = %upstream.name, status = %answer.status(), "token count not available; counting here");
            }
            Ok(Err(e)) => {
                tracing::info!(upstream = %upstream.name, error = %error_chain(&e), "token count not available; counting here");
            }
            Err(_) => {
                tracing::info!(upstream = %upstream.name, "token count timed out; counting here")
            }
        }
    }
    log.upstream = String::new();
    log.usage_source = "counted";
    let counted = Messages.count_prompt(&req);
    Ok(Json(json!({ "input_tokens": counted })).into_response())
}

fn json_answer(body: Vec<u8>) -> Response {
    let mut response = Response::new(axum::body::Body::from(body));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
