//! Referral rewards: what registering with a referral code pays and when, the inviter's figures,
//! and the transfer of the reward balance into the main balance. Commission on invitees'
//! top-ups is in `commission`.

pub mod commission;
pub mod handlers;

pub use commission::{check_commission, pay_commission, Topup};

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use crate::config::{ReferralConfig, RewardOn};
use crate::db::{self, Store};
use crate::error::{ApiError, ApiResult};
use crate::ledger::{self, money::Money, Account, Entry, Kind};

/// Records that `invitee_id` registered with `inviter_id`'s code and pays what is due now: the
/// invitee's reward, and the inviter's when `reward_on = "register"`. Runs inside the
/// registration's transaction, so an account never exists without its rewards or the reverse.
pub fn reward_registration(
    conn: &Connection,
    invitee_id: i64,
    inviter_id: i64,
    config: &ReferralConfig,
    now: i64,
) -> ApiResult<()> {
    if !config.enabled || invitee_id == inviter_id {
        return Ok(());
    }
    conn.execute(
        "INSERT INTO referral_rewards (invitee_id, inviter_id, inviter_reward, invitee_reward, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            invitee_id,
            inviter_id,
            config.inviter_reward.units(),
            config.invitee_reward.units(),
            now
        ],
    ).store("add the referral rewards")?;
    if config.invitee_reward.is_positive() {
        let ref_id = inviter_id.to_string();
        credit(
            conn,
            &Entry {
                user_id: invitee_id,
                account: Account::Balance,
                kind: Kind::ReferralReward,
                amount: config.invitee_reward,
                reason: "welcome reward: registered with a referral code",
                ref_type: "user",
                ref_id: &ref_id,
                key_id: None,
            },
            now,
        )?;
    }
    if config.reward_on == RewardOn::Register {
        pay_inviter(conn, invitee_id, now)?;
    }
    Ok(())
}

/// Pays the inviter of `invitee_id` the reward promised at registration, if it is still owed.
/// Payment code calls this inside the transaction that credits a paid top-up (redemption does
/// too); it is idempotent, so calling it on every top-up pays at most once, and it does nothing
/// for an account that registered without a code or whose inviter was already paid.
pub fn reward_inviter_on_first_topup(
    conn: &Connection,
    invitee_id: i64,
    now: i64,
) -> ApiResult<()> {
    pay_inviter(conn, invitee_id, now)
}

/// Marks the reward paid (a conditional UPDATE that succeeds once) and credits it. A reward
/// that would take the inviter's reward balance past the largest balance stays owed (it is
/// paid on a later top-up of the invitee, once there is room), so that the invitee's
/// registration or top-up never fails for the inviter's sake.
fn pay_inviter(conn: &Connection, invitee_id: i64, now: i64) -> ApiResult<()> {
    let owed: Option<(i64, i64)> = conn
        .query_row(
            "SELECT inviter_id, inviter_reward FROM referral_rewards WHERE invitee_id = ?1 AND paid_at IS NULL",
            [invitee_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional().store("read the inviter's reward")?;
    if let Some((inviter_id, reward)) = owed {
        if !ledger::has_room(conn, inviter_id, Account::Reward, Money::from_units(reward))? {
            tracing::warn!(
                inviter = inviter_id,
                invitee = invitee_id,
                "referral reward left owed: the inviter's reward balance is at the largest balance"
            );
            return Ok(());
        }
    }
    let due: Option<(i64, i64)> = conn
        .query_row(
            "UPDATE referral_rewards SET paid_at = ?2 WHERE invitee_id = ?1 AND paid_at IS NULL
             RETURNING inviter_id, inviter_reward",
            params![invitee_id, now],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .store("mark the inviter's reward paid")?;
    let Some((inviter_id, reward)) = due else {
        return Ok(());
    };
    if reward <= 0 {
        return Ok(());
    }
    let reason = format!("referral reward: account {invitee_id} registered with your code");
    let ref_id = invitee_id.to_string();
    credit(
        conn,
        &Entry {
            user_id: inviter_id,
            account: Account::Reward,
            kind: Kind::ReferralReward,
            amount: Money::from_units(reward),
            reason: &reason,
            ref_type: "user",
            ref_id: &ref_id,
            key_id: None,
        },
        now,
    )
}

fn credit(conn: &Connection, entry: &Entry, now: i64) -> ApiResult<()> {
    ledger::post(conn, entry, now)?
        .map(|_| ())
        .ok_or_else(|| ApiError::internal("a referral credit was refused by the balance check"))
}

/// What an inviter sees about their referrals.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub invitees: i64,
    /// Inviter rewards credited so far (transferred or not).
    pub rewards_earned: Money,
    /// Inviter rewards promised but waiting for the invitees' first top-up.
    pub rewards_pending: Money,
    /// Commission on invitees' top-ups credited so far (transferred or not).
    pub commission_earned: Money,
}

pub fn find_referral_summary(conn: &Connection, user_id: i64) -> ApiResult<Summary> {
    let invitees: i64 = conn
        .query_row(
            "SELECT count(*) FROM users WHERE inviter_id = ?1",
            [user_id],
            |r| r.get(0),
        )
        .store("count the invitees")?;
    let earned: i64 = conn
        .query_row(
            "SELECT COALESCE(sum(amount), 0) FROM ledger
         WHERE user_id = ?1 AND account = 'reward' AND kind = 'referral_reward'",
            [user_id],
            |r| r.get(0),
        )
        .store("sum the referral rewards")?;
    let pending: i64 = conn
        .query_row(
            "SELECT COALESCE(sum(inviter_reward), 0) FROM referral_rewards
         WHERE inviter_id = ?1 AND paid_at IS NULL",
            [user_id],
            |r| r.get(0),
        )
        .store("sum the pending rewards")?;
    Ok(Summary {
        invitees,
        rewards_earned: Money::from_units(earned),
        rewards_pending: Money::from_units(pending),
        commission_earned: commission::find_commission_earned(conn, user_id)?,
    })
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Transferred {
    pub transferred: Money,
    pub balance: Money,
    pub reward_balance: Money,
}

/// Moves `amount` (all of it when `None`) from the reward balance to the main balance: two
/// ledger rows in one transaction. Nothing to move, or more than there is, is a 400.
pub fn transfer_to_balance(
    conn: &mut Connection,
    user_id: i64,
    amount: Option<Money>,
    now: i64,
) -> ApiResult<Transferred> {
    if amount.is_some_and(|a| !a.is_positive()) {
        return Err(ApiError::bad_request(
            "invalid_amount",
            "amount must be greater than zero",
        ));
    }
    let tx = db::immediate(conn)?;
    let available = Money::from_units(
        tx.query_row(
            "SELECT reward_balance FROM users WHERE id = ?1",
            [user_id],
            |r| r.get(0),
        )
        .store("read the reward balance")?,
    );
    if !available.is_positive() {
        return Err(ApiError::bad_request(
            "no_reward_balance",
            "there is no reward balance to transfer",
        ));
    }
    let amount = amount.unwrap_or(available);
    if amount > available {
        return Err(ApiError::bad_request(
            "insufficient_reward_balance",
            format!("the reward balance is only {available}"),
        ));
    }
    let ref_id = user_id.to_string();
    let out = Entry {
        user_id,
        account: Account::Reward,
        kind: Kind::Transfer,
        amount: -amount,
        reason: "transfer to balance",
        ref_type: "user",
        ref_id: &ref_id,
        key_id: None,
    };
    let reward_balance = ledger::post(&tx, &out, now)?.ok_or_else(|| {
        ApiError::bad_request(
            "insufficient_reward_balance",
            "the reward balance is smaller than that",
        )
    })?;
    let into = Entry {
        account: Account::Balance,
        amount,
        reason: "transfer from reward balance",
        ..out
    };
    let balance = ledger::post(&tx, &into, now)?
        .ok_or_else(|| ApiError::internal("a transfer credit was refused by the balance check"))?;
    tx.commit().store("commit the transfer")?;
    Ok(Transferred {
        transferred: amount,
        balance,
        reward_balance,
    })
}
