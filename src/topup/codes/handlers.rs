//! Redemption codes over HTTP: `POST /api/topup/redeem` for members, and the admin's
//! `POST /api/admin/codes` (generate) and `GET /api/admin/codes` (list).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{CodeStatus, NewCodes};
use crate::accounts::session::{Admin, Session};
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, QueryParams};
use crate::net::ClientIp;
use crate::state::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedeemRequest {
    code: String,
}

/// Credits a code to the signed-in account. Failed attempts count against the account and the
/// client address, so codes cannot be found by trying.
pub async fn redeem(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    session: Session,
    JsonBody(req): JsonBody<RedeemRequest>,
) -> ApiResult<Json<Value>> {
    let now_ms = state.clock.now_ms();
    let user_id = session.user.id;
    let user_key = user_id.to_string();
    let ip_key = ip.to_string();
    let limits = &state.limits;
    // Count the attempt before trying it and take it back if it succeeds: checking first and
    // counting failures after would let a burst of parallel guesses all pass the check.
    let limited =
        |wait| ApiError::rate_limited("too many failed redemption attempts; try later", wait);
    limits
        .redeem_by_user
        .hit(&user_key, now_ms)
        .map_err(limited)?;
    if let Err(wait) = limits.redeem_by_ip.hit(&ip_key, now_ms) {
        limits.redeem_by_user.forgive(&user_key);
        return Err(limited(wait));
    }
    let now = state.clock.now();
    let result = state
        .db
        .write(move |conn| super::redeem(conn, user_id, &req.code, now))
        .await;
    let failed = matches!(&result, Err(e) if e.status.is_client_error());
    if !failed {
        limits.redeem_by_user.forgive(&user_key);
        limits.redeem_by_ip.forgive(&ip_key);
    }
    match result {
        Ok(r) => {
            tracing::info!(user = user_id, code = r.code_id, credited = %r.credited, "code redeemed");
            Ok(Json(
                json!({ "credited": r.credited, "balance": r.balance }),
            ))
        }
        Err(e) => {
            if failed {
                tracing::info!(user = user_id, %ip, reason = e.code, "redemption refused");
            }
            Err(e)
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenerateRequest {
    amount: String,
    count: i64,
    #[serde(default)]
    expires_at: Option<String>,
    #[serde(default)]
    note: Option<String>,
}

/// Generates a batch; the answer is the only place the codes ever appear.
pub async fn generate(
    State(state): State<AppState>,
    Admin(admin): Admin,
    JsonBody(req): JsonBody<GenerateRequest>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let now = state.clock.now();
    let batch = NewCodes::parse(
        &req.amount,
        req.count,
        req.expires_at.as_deref(),
        req.note.as_deref(),
        now,
    )?;
    let by = admin.username.clone();
    let (codes, batch) = state
        .db
        .write(move |conn| {
            let codes = super::generate_codes(conn, &batch, &by, now)?;
            Ok((codes, batch))
        })
        .await?;
    tracing::info!(admin = admin.id, count = batch.count, amount = %batch.amount, "codes generated");
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "codes": codes,
            "amount": batch.amount,
            "count": batch.count,
            "expires_at": batch.expires_at.map(crate::clock::rfc3339),
            "note": batch.note,
        })),
    ))
}

#[derive(Deserialize)]
pub struct CodesQuery {
    status: Option<CodeStatus>,
    limit: Option<u32>,
    cursor: Option<String>,
}

/// Codes newest first, with who used each and when; `status` filters, `cursor` pages.
pub async fn list(
    State(state): State<AppState>,
    _admin: Admin,
    QueryParams(q): QueryParams<CodesQuery>,
) -> ApiResult<Json<Value>> {
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let before = match q.cursor.as_deref() {
        None | Some("") => None,
        Some(c) => Some(
            c.parse::<i64>()
                .map_err(|_| ApiError::bad_request("invalid_cursor", "cursor is not valid"))?,
        ),
    };
    let now = state.clock.now();
    let status = q.status;
    let rows = state
        .db
        .read(move |conn| super::find_codes(conn, status, before, limit, now))
        .await?;
    let next = if rows.len() == limit as usize {
        rows.last().map(|r| r.id.to_string())
    } else {
        None
    };
    Ok(Json(json!({ "data": rows, "next_cursor": next })))
}
