//! `JsonBody<T>`: the JSON request extractor whose every rejection is a clear 4xx in our error shape.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Reads the whole body (within the route's size limit) and deserializes it. Malformed JSON,
/// wrong types and oversize bodies answer 400/413, never 422 plain text or 500.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::payload_too_large("request body is larger than this endpoint accepts")
            } else {
                ApiError::bad_request("invalid_body", "could not read the request body")
            }
        })?;
        parse_json(&bytes).map(JsonBody)
    }
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.is_empty() {
        return Err(ApiError::bad_request(
            "invalid_json",
            "request body must be JSON",
        ));
    }
    serde_json::from_slice(bytes).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => {
            ApiError::bad_request("invalid_request", format!("invalid request: {e}"))
        }
        _ => ApiError::bad_request("invalid_json", format!("malformed JSON: {e}")),
    })
}
