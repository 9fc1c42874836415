//! Cursor pages, the same for every list in the API: `limit` (clamped), `cursor` (the last id of
//! the previous page, newest first), and the answer `{data, next_cursor}`.

use axum::Json;
use serde::Serialize;
use serde_json::{json, Value};

use crate::error::{ApiError, ApiResult};

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 500;

/// The page size asked for, within 1..=500 (50 when not asked).
pub fn limit(asked: Option<u32>) -> u32 {
    asked.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT)
}

/// The id a page continues after; `None` for the first page.
pub fn cursor(text: Option<&str>) -> ApiResult<Option<i64>> {
    match text {
        None | Some("") => Ok(None),
        Some(c) => c
            .parse()
            .map(Some)
            .map_err(|_| ApiError::bad_request("invalid_cursor", "cursor is not valid")),
    }
}

/// The cursor of the page after `rows`: only when the page came back full.
pub fn next_cursor<T>(rows: &[T], limit: u32, id: impl Fn(&T) -> i64) -> Option<String> {
    if rows.len() == limit as usize {
        rows.last().map(|r| id(r).to_string())
    } else {
        None
    }
}

/// `{data, next_cursor}` for rows shown as they are.
pub fn page<T: Serialize>(rows: &[T], limit: u32, id: impl Fn(&T) -> i64) -> Json<Value> {
    page_json(rows, next_cursor(rows, limit, id))
}

/// `{data, next_cursor}` for rows already turned into what is shown.
pub fn page_json(data: impl Serialize, next: Option<String>) -> Json<Value> {
    Json(json!({ "data": data, "next_cursor": next }))
}
