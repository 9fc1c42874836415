//! The largest amount and the largest balance: credits past them answer 400 naming the limit
//! (one line on the command line), never a 500, and change nothing.

use code_router::accounts::Role;
use code_router::config::RewardOn;
use code_router::db::Store;
use code_router::ledger::{self, money::Money, Account, Entry, Kind};
use serde_json::{json, Value};

use crate::helpers::*;
use crate::process::cli;

/// $1,000,000,000: both the largest amount one operation moves and the largest balance.
const LIMIT: &str = "1000000000";

async fn adjust(admin: &reqwest::Client, app: &TestApp, id: i64, amount: &str) -> (u16, Value) {
    json_of(
        admin
            .post(app.url(&format!("/api/admin/users/{id}/adjust")))
            .json(&json!({"amount": amount, "reason": "x"}))
            .send()
            .await
            .unwrap(),
    )
    .await
}

async fn post(client: &reqwest::Client, app: &TestApp, path: &str, body: Value) -> (u16, Value) {
    json_of(client.post(app.url(path)).json(&body).send().await.unwrap()).await
}

#[tokio::test]
async fn credits_past_the_largest_amount_or_balance_answer_400_and_change_nothing() {
    let app = spawn_app().await;
    app.create_user("root", Role::Admin).await;
    let admin = app.login("root").await;
    let alice = app.create_user("alice", Role::User).await;

    // The reported repro: 9,000,000,000 twice answered 200, then 500.
    let (status, body) = adjust(&admin, &app, alice, "9000000000").await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains(LIMIT),
        "{body}"
    );
    let (status, body) = adjust(&admin, &app, alice, LIMIT).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = adjust(&admin, &app, alice, "0.000000001").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(error_code(&body), "balance_limit");
    assert!(
        body["error"]["message"].as_str().unwrap().contains(LIMIT),
        "{body}"
    );
    assert_eq!(app.balance(alice).await, "1000000000.000000");

    // A code redeemed on a full balance is refused and stays unused.
    let (status, codes) = post(
        &admin,
        &app,
        "/api/admin/codes",
        json!({"amount": "5", "count": 1}),
    )
    .await;
    assert_eq!(status, 201, "{codes}");
    let code = codes["codes"][0].as_str().unwrap().to_string();
    let (status, body) = post(
        &admin,
        &app,
        "/api/admin/codes",
        json!({"amount": "9000000000", "count": 1}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains(LIMIT),
        "{body}"
    );
    let member = app.login("alice").await;
    let (status, body) = post(&member, &app, "/api/topup/redeem", json!({"code": code})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(error_code(&body), "balance_limit");
    assert_eq!(app.balance(alice).await, "1000000000.000000");
    let (status, _) = adjust(&admin, &app, alice, "-5").await;
    assert_eq!(status, 200);
    let (status, body) = post(&member, &app, "/api/topup/redeem", json!({"code": code})).await;
    assert_eq!(status, 200, "the refused code was kept: {body}");
    assert_eq!(app.balance(alice).await, "1000000000.000000");

    // A debit from a full balance is always possible.
    let (status, _) = adjust(&admin, &app, alice, "-1000000000").await;
    assert_eq!(status, 200);
    assert!(app.audit().await.problems.is_empty());
}

/// Puts `amount` into a reward balance through the ledger, as a referral reward would.
async fn fill_reward(app: &TestApp, user_id: i64, amount: &str) {
    let amount = Money::parse(amount).unwrap();
    app.state
        .db
        .write(move |conn| {
            let tx = code_router::db::immediate(conn)?;
            ledger::post(
                &tx,
                &Entry {
                    user_id,
                    account: Account::Reward,
                    kind: Kind::ReferralReward,
                    amount,
                    reason: "test",
                    ref_type: "user",
                    ref_id: "0",
                    key_id: None,
                },
                0,
            )?;
            tx.commit().store("commit the reward")?;
            Ok(())
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn referral_rewards_and_transfers_stop_at_the_largest_balance() {
    let app = spawn_app_with(|c| {
        c.referral.enabled = true;
        c.referral.inviter_reward = Money::parse("1").unwrap();
        c.referral.reward_on = RewardOn::Register;
    })
    .await;
    let inviter = app.create_user("inviter", Role::User).await;
    fill_reward(&app, inviter, LIMIT).await;
    let client = app.login("inviter").await;
    let (_, me) = json_of(client.get(app.url("/api/me")).send().await.unwrap()).await;
    let code = me["referral_code"].as_str().unwrap().to_string();

    // The invitee still gets an account; the inviter's reward waits, unpaid, instead of
    // pushing the reward balance past the limit.
    let (status, body) = post(
        &cookie_client(),
        &app,
        "/api/auth/register",
        json!({"username": "invitee", "password": PASSWORD, "referral_code": code}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (_, summary) = json_of(client.get(app.url("/api/referral")).send().await.unwrap()).await;
    assert_eq!(summary["reward_balance"], "1000000000.000000", "{summary}");
    assert_eq!(summary["rewards_pending"], "1.000000", "{summary}");

    // Moving reward into a full main balance is refused whole.
    app.fund(inviter, LIMIT).await;
    let (status, body) = post(
        &client,
        &app,
        "/api/referral/transfer",
        json!({"amount": "1"}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(error_code(&body), "balance_limit");
    let (_, me) = json_of(client.get(app.url("/api/me")).send().await.unwrap()).await;
    assert_eq!(
        (me["balance"].as_str(), me["reward_balance"].as_str()),
        (Some("1000000000.000000"), Some("1000000000.000000"))
    );
    assert!(app.audit().await.problems.is_empty());
}

#[test]
fn the_command_line_names_the_limit_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data").display().to_string();
    let (ok, _, err) = cli(
        &[
            "user",
            "create",
            "--data",
            &data,
            "--username",
            "alice",
            "--password-stdin",
        ],
        "correct horse 1\n",
    );
    assert!(ok, "{err}");
    let adjust = |amount: &str| {
        cli(
            &[
                "user",
                "adjust",
                "--data",
                &data,
                "--username",
                "alice",
                "--amount",
                amount,
                "--reason",
                "x",
            ],
            "",
        )
    };
    for (amount, first_ok) in [("9000000000", false), (LIMIT, true), ("1", false)] {
        let (ok, out, err) = adjust(amount);
        assert_eq!(ok, first_ok, "{amount}: {out} {err}");
        if !ok {
            assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
            assert!(err.contains(LIMIT), "{amount}: {err}");
            assert!(!err.contains("internal"), "{amount}: {err}");
        }
    }
    let (ok, _, err) = cli(
        &[
            "codes",
            "generate",
            "--data",
            &data,
            "--amount",
            "9000000000",
            "--count",
            "1",
        ],
        "",
    );
    assert!(!ok);
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(err.contains(LIMIT), "{err}");
}
