//! `GET /api/referral` (code, invitees, rewards, commission and the server's terms) and
//! `POST /api/referral/transfer` (reward balance into the main balance).

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::accounts::session::Session;
use crate::config::RewardOn;
use crate::error::ApiResult;
use crate::error::ErrorBody;
use crate::extract::JsonBody;
use crate::ledger::money::Money;
use crate::openapi::{BodyTooLarge, MemberErrors};
use crate::state::AppState;

/// What `GET /api/referral` answers (for the OpenAPI document).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ReferralSummaryResponse {
    /// The member's code, for invitees to give at registration.
    pub referral_code: String,
    /// Accounts registered with the code.
    pub invitees: i64,
    /// Inviter rewards credited so far (transferred or not).
    pub rewards_earned: Money,
    /// Inviter rewards promised but waiting for the invitees' first top-up.
    pub rewards_pending: Money,
    /// Rewards not yet moved into the main balance.
    pub reward_balance: Money,
    /// Whether new referrals earn rewards on this server now.
    pub enabled: bool,
    /// What the inviter earns per invitee.
    pub inviter_reward: Money,
    /// What a new account registered with a code gets.
    pub invitee_reward: Money,
    /// When the inviter's reward is paid.
    pub reward_on: RewardOn,
    /// Commission on invitees' top-ups credited so far (transferred or not).
    pub commission_earned: Money,
    /// Percent of each counted top-up of an invitee paid as commission, as a decimal string;
    /// `"0"` when no commission is paid.
    #[schema(example = "10")]
    pub commission_percent: String,
    /// Commission is paid on each invitee's first this many top-ups; 0 means on every one.
    pub commission_topups: u32,
    /// Whether redeemed codes count as top-ups for the commission.
    pub commission_on_codes: bool,
    /// The most recent invitees (at most [`INVITEES_SHOWN`]), newest first.
    pub invited: Vec<super::commission::Invitee>,
}

/// How many invitees `GET /api/referral` lists; `invitees` counts them all.
pub const INVITEES_SHOWN: u32 = 50;

#[utoipa::path(
    get,
    path = "/api/referral",
    tag = "referral",
    summary = "The member's referrals",
    description = "The member's referral code, invitees, rewards and commission, and the \
        server's terms.",
    security(("cr_session" = [])),
    responses(
        (status = 200, description = "The referral summary", body = ReferralSummaryResponse),
        MemberErrors,
    ),
)]
pub async fn summary(State(state): State<AppState>, session: Session) -> ApiResult<Json<Value>> {
    let user = session.user;
    let user_id = user.id;
    let config = state.config();
    let terms = &config.referral;
    let with_codes = terms.commission_on_codes;
    let (figures, invited) = state
        .db
        .read(move |conn| {
            Ok((
                super::find_referral_summary(conn, user_id)?,
                super::commission::find_invitees(conn, user_id, with_codes, INVITEES_SHOWN)?,
            ))
        })
        .await?;
    let commission_on = terms.enabled && !terms.commission_percent.0.is_zero();
    let percent = if commission_on {
        terms.commission_percent.0.normalize().to_string()
    } else {
        "0".to_string()
    };
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
        "commission_earned": figures.commission_earned,
        "commission_percent": percent,
        "commission_topups": terms.commission_topups,
        "commission_on_codes": terms.commission_on_codes,
        "invited": invited,
    })))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferRequest {
    /// How much to move; absent or `null` for all of the reward balance.
    #[serde(default)]
    amount: Option<Money>,
}

/// Works whether or not referrals are enabled now: a reward once earned stays the member's.
#[utoipa::path(
    post,
    path = "/api/referral/transfer",
    tag = "referral",
    summary = "Move rewards into the balance",
    description = "Moves `amount` (all, when absent) from the reward balance into the main \
        balance. Works whether or not referrals are enabled now: a reward once earned stays the \
        member's.",
    request_body = TransferRequest,
    security(("cr_session" = [])),
    responses(
        (status = 200, description = "Moved; the balances after", body = super::Transferred),
        (status = 400, description = "Malformed body, an amount that is not above zero \
            (`invalid_amount`), no reward balance (`no_reward_balance`), or more than it holds \
            (`insufficient_reward_balance`), or a main balance that would pass the largest balance, \
            $1,000,000,000 (`balance_limit`)", body = ErrorBody),
        BodyTooLarge,
        MemberErrors,
    ),
)]
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
