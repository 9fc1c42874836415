//! Redemption codes over HTTP: `POST /api/topup/redeem` for members, and the admin's
//! `POST /api/admin/codes` (generate), `GET /api/admin/codes` (list) and
//! `POST /api/admin/codes/{id}/void`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{CodeStatus, NewCodes};
use crate::accounts::session::{Admin, Session};
use crate::error::ErrorBody;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, PathId, QueryParams};
use crate::ledger::money::Money;
use crate::net::ClientIp;
use crate::openapi::{AdminErrors, BodyTooLarge, MemberErrors};
use crate::pagination;
use crate::ratelimit;
use crate::state::AppState;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RedeemRequest {
    /// The code as given; spaces and dashes do not matter.
    code: String,
}

/// What `POST /api/topup/redeem` answers (for the OpenAPI document).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct RedeemResponse {
    /// The code's amount, now in the balance.
    pub credited: Money,
    /// The balance after the credit.
    pub balance: Money,
}

/// Credits a code to the signed-in account. Codes that do not exist count against the account
/// and the client address, so codes cannot be found by trying.
#[utoipa::path(
    post,
    path = "/api/topup/redeem",
    tag = "topup",
    summary = "Redeem a code",
    description = "Credits a redemption code's amount to the member's balance, once. Failed \
        attempts count per account and address (`codes.max_failures_per_account_ip`, waiting \
        twice as long after each failure past the third), with higher ceilings per account and \
        per address; too many answer 429.",
    request_body = RedeemRequest,
    security(("cr_session" = [])),
    responses(
        (status = 200, description = "Credited", body = RedeemResponse),
        (status = 400, description = "Malformed body, the code has expired (`code_expired`) or was \
            voided by the operator (`code_voided`), or the balance would pass the largest balance, \
            $1,000,000,000 (`balance_limit`; the code stays unused)", body = ErrorBody),
        (status = 404, description = "No such code (`code_not_found`)", body = ErrorBody),
        (status = 409, description = "The code was already redeemed (`code_used`)", body = ErrorBody),
        (status = 429, description = "Too many failed attempts (`rate_limited`); see `Retry-After`", body = ErrorBody),
        BodyTooLarge,
        MemberErrors,
    ),
)]
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
    let pair = ratelimit::pair_key(&ip_key, &user_key);
    let limits = &state.limits;
    let counted = [
        (&limits.redeem_by_account_ip, pair.as_str()),
        (&limits.redeem_by_account, user_key.as_str()),
        (&limits.redeem_by_ip, ip_key.as_str()),
    ];
    // Count the attempt before trying it and take it back if it succeeds: checking first and
    // counting failures after would let a burst of parallel guesses all pass the check.
    ratelimit::hit_all(&counted, now_ms).map_err(|wait| {
        ApiError::rate_limited("too many failed redemption attempts; try later", wait)
    })?;
    let now = state.clock.now();
    let config = state.config();
    let result = state
        .db
        .write(move |conn| super::redeem(conn, user_id, &req.code, &config.referral, now))
        .await;
    // Only a code that does not exist is a guess. A used or expired code, or a full balance,
    // is about a real code, and racing redemptions of one code must not lock their owner out.
    let failed = matches!(&result, Err(e) if e.code == "code_not_found");
    if failed {
        ratelimit::fail_all(&counted, state.clock.now_ms());
    } else {
        ratelimit::forgive_all(&counted);
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

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GenerateRequest {
    /// The amount of each code, above zero.
    #[schema(value_type = Money)]
    amount: String,
    /// How many codes: 1 to 1000.
    #[schema(minimum = 1, maximum = 1000, example = 10)]
    count: i64,
    /// RFC 3339 time or `YYYY-MM-DD`; absent for never.
    #[serde(default)]
    expires_at: Option<String>,
    /// Kept with the codes, for the operator.
    #[serde(default)]
    note: Option<String>,
}

/// A generated batch, as `POST /api/admin/codes` answers (for the OpenAPI document).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct GeneratedCodesResponse {
    /// The codes themselves; this is the only place they ever appear.
    #[schema(example = json!(["Ab3dEf-Gh4jKm-Np5qRs-Tu6vWx"]))]
    pub codes: Vec<String>,
    pub amount: Money,
    pub count: i64,
    #[schema(format = DateTime, required = true)]
    pub expires_at: Option<String>,
    pub note: String,
}

/// A page of codes, as `GET /api/admin/codes` answers (for the OpenAPI document).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct CodeListResponse {
    /// Newest first; only a hint of each code, never the code.
    pub data: Vec<super::CodeRow>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// Generates a batch; the answer is the only place the codes ever appear.
#[utoipa::path(
    post,
    path = "/api/admin/codes",
    tag = "admin",
    summary = "Generate redemption codes",
    description = "Admin only. Generates a batch of codes of one amount. The answer is the only \
        place the codes ever appear; the server keeps only their hashes.",
    request_body = GenerateRequest,
    security(("cr_session" = ["admin"])),
    responses(
        (status = 201, description = "The batch", body = GeneratedCodesResponse),
        (status = 400, description = "Malformed body or an invalid field (`invalid_amount`, `invalid_count`, \
            `invalid_expires_at`, `invalid_note`)", body = ErrorBody),
        BodyTooLarge,
        AdminErrors,
    ),
)]
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

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CodesQuery {
    /// Only codes in this state.
    status: Option<CodeStatus>,
    /// Codes per page: default 50, at most 500.
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// Codes newest first, with who used each and when; `status` filters, `cursor` pages.
#[utoipa::path(
    get,
    path = "/api/admin/codes",
    tag = "admin",
    summary = "List redemption codes",
    description = "Admin only. Codes newest first, with who used each and when.",
    params(CodesQuery),
    security(("cr_session" = ["admin"])),
    responses(
        (status = 200, description = "A page of codes", body = CodeListResponse),
        (status = 400, description = "A malformed query (`invalid_query`) or cursor (`invalid_cursor`)", body = ErrorBody),
        AdminErrors,
    ),
)]
pub async fn list(
    State(state): State<AppState>,
    _admin: Admin,
    QueryParams(q): QueryParams<CodesQuery>,
) -> ApiResult<Json<Value>> {
    let limit = pagination::limit(q.limit);
    let before = pagination::cursor(q.cursor.as_deref())?;
    let now = state.clock.now();
    let status = q.status;
    let rows = state
        .db
        .read(move |conn| super::find_codes(conn, status, before, limit, now))
        .await?;
    Ok(pagination::page(&rows, limit, |r| r.id))
}

/// Withdraws an unused code: from now on redeeming it answers `code_voided`.
#[utoipa::path(
    post,
    path = "/api/admin/codes/{id}/void",
    tag = "admin",
    summary = "Void a redemption code",
    description = "Admin only. Withdraws an unused code so it can never be redeemed; voiding a \
        voided code changes nothing. A redeemed code cannot be voided: its credit stands.",
    params(("id" = i64, Path, description = "The code's id (from `GET /api/admin/codes`)")),
    security(("cr_session" = ["admin"])),
    responses(
        (status = 200, description = "The code, now voided", body = super::CodeRow),
        (status = 404, description = "No such code (`code_not_found`)", body = ErrorBody),
        (status = 409, description = "The code was already redeemed (`code_used`)", body = ErrorBody),
        AdminErrors,
    ),
)]
pub async fn void(
    State(state): State<AppState>,
    Admin(admin): Admin,
    PathId(code_id): PathId,
) -> ApiResult<Json<super::CodeRow>> {
    let now = state.clock.now();
    let row = state
        .db
        .write(move |conn| super::void_code(conn, code_id, now))
        .await?;
    tracing::info!(admin = admin.id, code = code_id, "redemption code voided");
    Ok(Json(row))
}
