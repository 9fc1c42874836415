//! `GET /api/referral` (code, invitees, rewards and the server's terms) and
//! `POST /api/referral/transfer` (reward balance into the main balance).

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::accounts::session::Session;
use crate::error::ApiResult;
use crate::extract::JsonBody;
use crate::ledger::money::Money;
use crate::state::AppState;

pub async fn summary(State(state): State<AppState>, session: Session) -> ApiResult<Json<Value>> {
    let user = session.user;
    let user_id = user.id;
    let figures = state
        .db
        .read(move |conn| super::find_referral_summary(conn, user_id))
        .await?;
    let config = state.config();
    let terms = &config.referral;
    Ok(Json(json!({
        "referral_code": user.referral_code,
        "invitees": figures.invitees,
        "rewards_earned": figures.rewards_earned,
        "rewards_pending": figures.rewards_pending,
        "reward_balance": user.reward_balance,
        "enabled": terms.enabled,
        "inviter_reward": terms.inviter_reward,
        "invitee_reward": terms.invitee_reward,
        "reward_on": terms.reward_on,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferRequest {
    #[serde(default)]
    amount: Option<Money>,
}

/// Works whether or not referrals are enabled now: a reward once earned stays the member's.
pub async fn transfer(
    State(state): State<AppState>,
    session: Session,
    JsonBody(req): JsonBody<TransferRequest>,
) -> ApiResult<Json<Value>> {
    let user_id = session.user.id;
    let now = state.clock.now();
    let done = state
        .db
        .write(move |conn| super::transfer_to_balance(conn, user_id, req.amount, now))
        .await?;
    tracing::info!(user = user_id, amount = %done.transferred, "reward balance transferred");
    Ok(Json(json!(done)))
}
