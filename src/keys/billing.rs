//! OpenAI's legacy billing endpoints, which chat front-ends (NextChat, LobeChat, …) read to show
//! a balance: answered for the calling key. Amounts are written into the JSON as exact decimals.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use rusqlite::params;

use super::auth::ApiKey;
use crate::db::Store;
use crate::error::ApiResult;
use crate::ledger::money::Money;
use crate::state::AppState;

/// (what the key has used, what it can still spend: the smaller of its limit room and the balance)
async fn usage_and_room(state: &AppState, key_id: i64, user_id: i64) -> ApiResult<(Money, Money)> {
    let funds = state.funds.clone();
    let ((used, limit, balance), pending) = state
        .db
        .read(move |conn| {
            funds.read_settled(
                conn,
                user_id,
                |conn| {
                    Ok(conn.query_row(
                        "SELECT k.used, k.spend_limit, u.balance FROM api_keys k JOIN users u ON u.id = k.user_id
                         WHERE k.id = ?1 AND u.id = ?2",
                        params![key_id, user_id],
                        |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Option<i64>>(1)?, r.get::<_, i64>(2)?)),
                    ).store("read the key's use and room")?)
                },
                |_| vec![key_id],
            )
        })
        .await?;
    // Charges the request writer has not committed yet count already.
    let used = pending.key_used(key_id, Money::from_units(used));
    let balance = pending.balance(Money::from_units(balance)).units();
    let room = match limit {
        Some(l) => (l - used.units()).max(0).min(balance),
        None => balance,
    };
    Ok((used, Money::from_units(room)))
}

fn json_response(body: String) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// `hard_limit_usd` is used + spendable, so `hard_limit - usage` is what the key can still spend.
pub async fn subscription(State(state): State<AppState>, caller: ApiKey) -> ApiResult<Response> {
    let (used, room) = usage_and_room(&state, caller.key.id, caller.key.user_id).await?;
    let hard = used
        .checked_add(room)
        .unwrap_or(room)
        .to_decimal()
        .normalize();
    let until = caller.key.expires_at.unwrap_or(0);
    Ok(json_response(format!(
        "{{\"object\":\"billing_subscription\",\"has_payment_method\":true,\
         \"soft_limit_usd\":{hard},\"hard_limit_usd\":{hard},\"system_hard_limit_usd\":{hard},\
         \"access_until\":{until}}}"
    )))
}

/// `total_usage` is in cents, as OpenAI reports it.
pub async fn usage(State(state): State<AppState>, caller: ApiKey) -> ApiResult<Response> {
    let (used, _) = usage_and_room(&state, caller.key.id, caller.key.user_id).await?;
    let cents = (used.to_decimal() * rust_decimal::Decimal::ONE_HUNDRED).normalize();
    Ok(json_response(format!(
        "{{\"object\":\"list\",\"total_usage\":{cents}}}"
    )))
}
