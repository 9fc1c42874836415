//! Referral rewards: paid at registration or at the invitee's first top-up (once), the inviter's
//! figures, and moving the reward balance into the main balance.

use code_router::accounts::Role;
use code_router::config::{Config, RewardOn};
use code_router::db::Store;
use code_router::ledger::money::Money;
use serde_json::{json, Value};

use crate::helpers::*;

fn rewards(inviter: &str, invitee: &str, on: RewardOn) -> impl FnOnce(&mut Config) {
    let (inviter, invitee) = (inviter.to_string(), invitee.to_string());
    move |c| {
        c.referral.enabled = true;
        c.referral.inviter_reward = Money::parse(&inviter).unwrap();
        c.referral.invitee_reward = Money::parse(&invitee).unwrap();
        c.referral.reward_on = on;
    }
}

async fn get(client: &reqwest::Client, app: &TestApp, path: &str) -> Value {
    let (status, body) = json_of(client.get(app.url(path)).send().await.unwrap()).await;
    assert_eq!(status, 200, "{path}: {body}");
    body
}

async fn register(app: &TestApp, username: &str, code: &str) -> (u16, Value) {
    json_of(
        cookie_client()
            .post(app.url("/api/auth/register"))
            .json(&json!({ "username": username, "password": PASSWORD, "referral_code": code }))
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// An inviter, signed in, and their referral code.
async fn inviter(app: &TestApp, name: &str) -> (reqwest::Client, String) {
    app.create_user(name, Role::User).await;
    let client = app.login(name).await;
    let me = get(&client, app, "/api/me").await;
    let code = me["referral_code"].as_str().unwrap().to_string();
    (client, code)
}

async fn transfer(client: &reqwest::Client, app: &TestApp, body: Value) -> (u16, Value) {
    json_of(
        client
            .post(app.url("/api/referral/transfer"))
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await
}

#[tokio::test]
async fn registering_with_a_code_rewards_both_and_transfers_move_the_reward() {
    let app = spawn_app_with(rewards("1", "0.5", RewardOn::Register)).await;
    let (ivy, code) = inviter(&app, "ivy").await;

    let (status, body) = register(&app, "newbie", &code).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = register(&app, "second", &format!(" {code} ")).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = register(&app, "nobody", "NOSUCHCODE").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(error_code(&body), "invalid_referral_code");

    let summary = get(&ivy, &app, "/api/referral").await;
    assert_eq!(summary["referral_code"], code.as_str());
    assert_eq!(summary["invitees"], 2);
    assert_eq!(summary["rewards_earned"], "2.000000");
    assert_eq!(summary["rewards_pending"], "0.000000");
    assert_eq!(summary["reward_balance"], "2.000000");
    assert_eq!(summary["enabled"], true);
    assert_eq!(summary["inviter_reward"], "1.000000");
    assert_eq!(summary["invitee_reward"], "0.500000");
    assert_eq!(summary["reward_on"], "register");
    let me = get(&ivy, &app, "/api/me").await;
    assert_eq!(
        me["balance"], "0.000000",
        "the inviter's reward is not spendable yet"
    );

    let newbie = app.login("newbie").await;
    let me = get(&newbie, &app, "/api/me").await;
    assert_eq!(me["balance"], "0.500000");
    assert_eq!(me["reward_balance"], "0.000000");
    let ledger = get(&newbie, &app, "/api/ledger").await;
    assert_eq!(ledger["data"][0]["kind"], "referral_reward");
    assert_eq!(ledger["data"][0]["account"], "balance");

    // Part, then too much, then the rest, then nothing left.
    let (status, body) = transfer(&ivy, &app, json!({ "amount": "0.75" })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({ "transferred": "0.750000", "balance": "0.750000", "reward_balance": "1.250000" })
    );
    let (status, body) = transfer(&ivy, &app, json!({ "amount": "1.250000001" })).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(error_code(&body), "insufficient_reward_balance");
    for (bad, code) in [
        (json!({ "amount": "0" }), "invalid_amount"),
        (json!({ "amount": "-1" }), "invalid_amount"),
        (json!({ "amount": 1 }), "invalid_request"),
    ] {
        let (status, body) = transfer(&ivy, &app, bad.clone()).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(error_code(&body), code, "{bad}");
    }
    let (status, body) = transfer(&ivy, &app, json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({ "transferred": "1.250000", "balance": "2.000000", "reward_balance": "0.000000" })
    );
    let (status, body) = transfer(&ivy, &app, json!({})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(error_code(&body), "no_reward_balance");

    let summary = get(&ivy, &app, "/api/referral").await;
    assert_eq!(
        summary["rewards_earned"], "2.000000",
        "earned counts what was moved"
    );
    assert_eq!(summary["reward_balance"], "0.000000");
    let ledger = get(&ivy, &app, "/api/ledger").await;
    let kinds: Vec<(&str, &str, &str)> = ledger["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["kind"].as_str().unwrap(),
                r["account"].as_str().unwrap(),
                r["amount"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("transfer", "balance", "1.250000"),
            ("transfer", "reward", "-1.250000"),
            ("transfer", "balance", "0.750000"),
            ("transfer", "reward", "-0.750000"),
            ("referral_reward", "reward", "1.000000"),
            ("referral_reward", "reward", "1.000000"),
        ]
    );
    let stranger = cookie_client();
    let (status, _) = transfer(&stranger, &app, json!({})).await;
    assert_eq!(status, 401);
    assert!(app.audit().await.problems.is_empty());
}

#[tokio::test]
async fn first_topup_mode_pays_the_inviter_once_after_the_first_redemption() {
    let app = spawn_app_with(rewards("2", "0", RewardOn::FirstTopup)).await;
    let (ivy, code) = inviter(&app, "ivy").await;
    for name in ["payer", "idler", "direct"] {
        let (status, body) = register(&app, name, &code).await;
        assert_eq!(status, 201, "{body}");
    }
    let summary = get(&ivy, &app, "/api/referral").await;
    assert_eq!(summary["invitees"], 3);
    assert_eq!(
        summary["reward_balance"], "0.000000",
        "nothing at registration"
    );
    assert_eq!(summary["rewards_earned"], "0.000000");
    assert_eq!(summary["rewards_pending"], "6.000000");
    assert_eq!(summary["reward_on"], "first_topup");

    app.create_user("root", Role::Admin).await;
    let admin = app.login("root").await;
    let (status, body) = json_of(
        admin
            .post(app.url("/api/admin/codes"))
            .json(&json!({ "amount": "10", "count": 2 }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let payer = app.login("payer").await;
    for (n, code) in body["codes"].as_array().unwrap().iter().enumerate() {
        let (status, answer) = json_of(
            payer
                .post(app.url("/api/topup/redeem"))
                .json(&json!({ "code": code }))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 200, "{answer}");
        let summary = get(&ivy, &app, "/api/referral").await;
        assert_eq!(
            summary["reward_balance"], "2.000000",
            "after redemption {n}"
        );
        assert_eq!(summary["rewards_earned"], "2.000000");
        assert_eq!(summary["rewards_pending"], "4.000000");
    }

    // The function payment code calls in its own credit transaction pays once, however often.
    let direct: i64 = app
        .state
        .db
        .read(|conn| {
            Ok(conn
                .query_row("SELECT id FROM users WHERE username = 'direct'", [], |r| {
                    r.get(0)
                })
                .store("find the direct user")?)
        })
        .await
        .unwrap();
    for _ in 0..3 {
        app.state
            .db
            .write(move |conn| {
                let tx = code_router::db::immediate(conn)?;
                code_router::referral::reward_inviter_on_first_topup(&tx, direct, 0)?;
                tx.commit().store("commit the inviter's reward")?;
                Ok(())
            })
            .await
            .unwrap();
    }
    let summary = get(&ivy, &app, "/api/referral").await;
    assert_eq!(summary["reward_balance"], "4.000000");
    assert_eq!(
        summary["rewards_pending"], "2.000000",
        "idler has not topped up"
    );
    // An account registered without a code owes nobody anything.
    app.state
        .db
        .write(|conn| {
            let root: i64 = conn
                .query_row("SELECT id FROM users WHERE username = 'root'", [], |r| {
                    r.get(0)
                })
                .store("find the root user")?;
            code_router::referral::reward_inviter_on_first_topup(conn, root, 0)
        })
        .await
        .unwrap();
    let summary = get(&ivy, &app, "/api/referral").await;
    assert_eq!(summary["reward_balance"], "4.000000");
    assert!(app.audit().await.problems.is_empty());
}

#[tokio::test]
async fn referrals_off_by_default_record_the_invitee_but_pay_nothing() {
    let app = spawn_app().await;
    let (ivy, code) = inviter(&app, "ivy").await;
    let (status, body) = register(&app, "friend", &code).await;
    assert_eq!(status, 201, "{body}");
    let summary = get(&ivy, &app, "/api/referral").await;
    assert_eq!(summary["enabled"], false);
    assert_eq!(summary["invitees"], 1);
    assert_eq!(summary["rewards_earned"], "0.000000");
    assert_eq!(summary["reward_balance"], "0.000000");
    let friend = app.login("friend").await;
    let me = get(&friend, &app, "/api/me").await;
    assert_eq!(me["balance"], "0.000000");
    let (status, body) = transfer(&ivy, &app, json!({})).await;
    assert_eq!(status, 400);
    assert_eq!(error_code(&body), "no_reward_balance");
    let rows: i64 = app
        .state
        .db
        .read(|conn| {
            Ok(conn
                .query_row("SELECT count(*) FROM ledger", [], |r| r.get(0))
                .store("count the ledger rows")?)
        })
        .await
        .unwrap();
    assert_eq!(rows, 0);
}
