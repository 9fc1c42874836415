//! `POST /api/admin/upstreams/{name}/test`: one small chat request per model, sent to one
//! upstream through the gateway's own path (the relay's request parsing, translation and send,
//! with its timeouts), so the operator sees each model's latency and the upstream's own error.
//! Nothing is billed or logged as a member's request; the outcome counts toward the upstream's
//! health as any request's does.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use futures_util::future::join_all;
use serde::{Deserialize, Serialize};

use crate::accounts::session::Admin;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::JsonBody;
use crate::logs::LogRow;
use crate::openapi::{AdminErrors, BodyTooLarge};
use crate::relay::attempt::{first_answer, Answer};
use crate::relay::dialects::Wire;
use crate::relay::translate::{self, Plan};
use crate::relay::upstreams::Upstream;
use crate::relay::ClientRequest;
use crate::state::AppState;

/// Models one test asks about at most (each is one upstream call).
const MAX_MODELS: usize = 20;
/// The answer's length: enough for a word, as cheap as a call gets.
const MAX_TOKENS: u32 = 8;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpstreamTestRequest {
    /// One of the upstream's models; absent tests each of them (at most 20).
    #[serde(default)]
    model: Option<String>,
}

/// How one model's call went.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ModelTest {
    pub model: String,
    /// The name the upstream was asked by (after `model_map`).
    pub upstream_model: String,
    pub ok: bool,
    /// The upstream's HTTP status, when it answered at all.
    #[schema(required = true)]
    pub status: Option<u16>,
    /// From sending to the whole answer, in milliseconds.
    pub latency_ms: u64,
    /// The start of the model's answer.
    #[schema(required = true)]
    pub answer: Option<String>,
    /// What went wrong, as the upstream or the connection said it.
    #[schema(required = true)]
    pub error: Option<String>,
}

/// What `POST /api/admin/upstreams/{name}/test` answers.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UpstreamTestResponse {
    pub upstream: String,
    /// In the order of the upstream's `models`.
    pub results: Vec<ModelTest>,
}

/// One small chat request for `model` to `upstream`, timed.
async fn test_model(state: &AppState, upstream: &Arc<Upstream>, model: &str) -> ModelTest {
    let upstream_model = upstream.upstream_model(model).to_string();
    let mut result = ModelTest {
        model: model.to_string(),
        upstream_model,
        ok: false,
        status: None,
        latency_ms: 0,
        answer: None,
        error: None,
    };
    let body = serde_json::json!({
        "model": model,
        "messages": [{ "role": "user", "content": "Reply with the word OK." }],
        "max_tokens": MAX_TOKENS,
        "stream": false,
    });
    let req = match ClientRequest::parse(
        Wire::Chat.dialect(),
        body.to_string().as_bytes(),
        &HeaderMap::new(),
    ) {
        Ok(req) => req,
        Err(e) => {
            result.error = Some(e.message);
            return result;
        }
    };
    let Some(plan) = translate::plan(Wire::Chat, upstream) else {
        result.error = Some("this upstream cannot be reached with chat completions".into());
        return result;
    };
    let started = Instant::now();
    let answered = first_answer(
        state,
        &req,
        &mut LogRow::default(),
        vec![(upstream.clone(), plan)],
    )
    .await;
    result.latency_ms = started.elapsed().as_millis() as u64;
    match answered {
        Ok(answered) => match answered.answer {
            Answer::Whole { body, .. } => {
                let body = body.to_vec();
                let chat = match answered.plan {
                    Plan::Pass => Ok(body),
                    Plan::Translate(t) => (t.answer)(&req, &body),
                };
                match chat {
                    Ok(chat) => {
                        result.ok = true;
                        result.status = Some(200);
                        result.answer = Some(answer_text(&chat));
                    }
                    Err(e) => result.error = Some(format!("untranslatable answer: {e}")),
                }
            }
            Answer::Refused { status, body, .. } => {
                result.status = Some(status.as_u16());
                result.error = Some(String::from_utf8_lossy(&body).chars().take(300).collect());
            }
            Answer::Stream { .. } => {
                result.error =
                    Some("answered with a stream to a request that asked for none".into());
            }
        },
        Err(unserved) => {
            result.status = status_in(&unserved.error);
            result.error = Some(unserved.error);
        }
    }
    result
}

/// The first choice's text of a chat completion, shortened.
fn answer_text(body: &[u8]) -> String {
    let value: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let text = value["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or_default();
    text.chars().take(200).collect()
}

/// The status in a failure the relay words as `name: answered 503 Service Unavailable: ...`.
fn status_in(error: &str) -> Option<u16> {
    let (_, rest) = error.split_once("answered ")?;
    rest.get(..3)?.parse().ok()
}

#[utoipa::path(
    post,
    path = "/api/admin/upstreams/{name}/test",
    tag = "admin",
    summary = "Test an upstream",
    description = "Admin only. Sends one small chat request (`max_tokens` 8) for each model of \
        the upstream (or the one named), through the gateway's own upstream path, and reports \
        each model's status, latency, the start of its answer or the upstream's error. Not \
        billed; counts toward the upstream's health like any request.",
    params(("name" = String, Path, description = "The upstream's name")),
    request_body = UpstreamTestRequest,
    security(("cr_session" = ["admin"])),
    responses(
        (status = 200, description = "One result per model", body = UpstreamTestResponse),
        (status = 400, description = "Malformed body, or a model the upstream does not serve (`model_not_served`)", body = ErrorBody),
        (status = 404, description = "No upstream of that name (`upstream_not_found`)", body = ErrorBody),
        BodyTooLarge,
        AdminErrors,
    ),
)]
pub async fn test_upstream(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(name): Path<String>,
    JsonBody(req): JsonBody<UpstreamTestRequest>,
) -> ApiResult<Json<UpstreamTestResponse>> {
    let upstreams = state.upstreams();
    let upstream = upstreams
        .list
        .iter()
        .find(|u| u.name == name)
        .cloned()
        .ok_or_else(|| ApiError::not_found("upstream_not_found", "no upstream of that name"))?;
    let models: Vec<String> = match req.model {
        Some(model) if upstream.serves(&model) => vec![model],
        Some(_) => {
            return Err(ApiError::bad_request(
                "model_not_served",
                "this upstream does not serve that model",
            ))
        }
        None => upstream.models.iter().take(MAX_MODELS).cloned().collect(),
    };
    let results = join_all(models.iter().map(|m| test_model(&state, &upstream, m))).await;
    tracing::info!(admin = admin.id, upstream = %upstream.name, models = results.len(),
        failed = results.iter().filter(|r| !r.ok).count(), "upstream tested");
    Ok(Json(UpstreamTestResponse {
        upstream: upstream.name.clone(),
        results,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_is_read_from_the_relays_words() {
        assert_eq!(
            status_in("up: answered 503 Service Unavailable: busy"),
            Some(503)
        );
        assert_eq!(status_in("up: could not be reached: refused"), None);
        assert_eq!(
            answer_text(br#"{"choices":[{"message":{"content":"OK"}}]}"#),
            "OK"
        );
        assert_eq!(answer_text(b"not json"), "");
    }
}
