//! Affiliate commission: a percent of an invitee's first N paid top-ups to the inviter's reward
//! balance, in the transaction that credits the top-up, once per order (or code), rounded down
//! to the nano-dollar; shown on the inviter's referral summary and to admins per user.

use code_router::accounts::Role;
use code_router::config::Config;
use code_router::db::Store;
use code_router::ledger::money::Money;
use code_router::pricing::Rate;
use serde_json::{json, Value};

use crate::crypto::{configure_crypto, ipn, open_order, race};
use crate::fake_providers::*;
use crate::helpers::*;

fn commission(percent: &str, topups: u32, on_codes: bool) -> impl Fn(&mut Config) {
    let percent = percent.to_string();
    move |c| {
        c.referral.enabled = true;
        c.referral.commission_percent = Rate(percent.parse().unwrap());
        c.referral.commission_topups = topups;
        c.referral.commission_on_codes = on_codes;
    }
}

struct Affiliates {
    app: TestApp,
    inviter: reqwest::Client,
    inviter_id: i64,
    payer: reqwest::Client,
    payer_id: i64,
}

/// An inviter, and a payer who registered with the inviter's code, on a server with the crypto
/// providers pointed at `fake`.
async fn affiliates(
    fake: &FakeProvider,
    terms: impl Fn(&mut Config) + Send + 'static,
) -> Affiliates {
    let f = fake.clone();
    let app = spawn_app_with(move |c| {
        configure_crypto(c, &f);
        terms(c);
    })
    .await;
    let inviter_id = app.create_user("ivy", Role::User).await;
    let inviter = app.login("ivy").await;
    let code = get(&inviter, &app, "/api/me").await["referral_code"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, body) = json_of(
        reqwest::Client::new()
            .post(app.url("/api/auth/register"))
            .json(&json!({"username": "payer", "password": PASSWORD, "referral_code": code}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let payer_id = body["id"].as_i64().unwrap();
    let payer = app.login("payer").await;
    Affiliates {
        app,
        inviter,
        inviter_id,
        payer,
        payer_id,
    }
}

async fn get(client: &reqwest::Client, app: &TestApp, path: &str) -> Value {
    let (status, body) = json_of(client.get(app.url(path)).send().await.unwrap()).await;
    assert_eq!(status, 200, "{path}: {body}");
    body
}

/// (kind, account, amount, ref_type, ref_id) of a user's reward balance rows, oldest first.
async fn reward_rows(app: &TestApp, user_id: i64) -> Vec<(String, String, String, String)> {
    app.state
        .db
        .read(move |conn| {
            let mut stmt = conn
                .prepare(
                    "SELECT kind, amount, ref_type, ref_id FROM ledger
                 WHERE user_id = ?1 AND account = 'reward' ORDER BY id",
                )
                .store("prepare the reward rows")?;
            let rows = stmt
                .query_map([user_id], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        Money::from_units(r.get(1)?).to_string(),
                        r.get(2)?,
                        r.get(3)?,
                    ))
                })
                .store("list the reward rows")?;
            Ok(rows
                .collect::<Result<Vec<_>, _>>()
                .store("read the reward rows")?)
        })
        .await
        .unwrap()
}

/// Pays an order through NOWPayments, delivering its `finished` IPN twice.
async fn pay(a: &Affiliates, amount: &str) -> String {
    let (order, invoice, _) = open_order(&a.app, &a.payer, "nowpayments", amount).await;
    // As JSON.stringify writes the number: "10", "25.5".
    let price = amount;
    let (status, answer) = ipn(&a.app, "finished", &invoice, &order, price).await;
    assert_eq!(
        (status, answer["result"].as_str()),
        (200, Some("credited")),
        "{answer}"
    );
    let (status, answer) = ipn(&a.app, "finished", &invoice, &order, price).await;
    assert_eq!(
        (status, answer["result"].as_str()),
        (200, Some("already_paid"))
    );
    order
}

#[tokio::test]
async fn commission_is_paid_on_the_first_n_top_ups_and_not_after() {
    let fake = FakeProvider::start().await;
    let a = affiliates(&fake, commission("10", 2, false)).await;
    let first = pay(&a, "10").await;
    let second = pay(&a, "25.5").await;
    let third = pay(&a, "30").await;
    assert_eq!(
        a.app.balance(a.payer_id).await,
        "65.500000",
        "the payer gets it all"
    );

    let rows = reward_rows(&a.app, a.inviter_id).await;
    let row = |amount: &str, order: &str| {
        (
            "commission".to_string(),
            amount.to_string(),
            "order".to_string(),
            order.to_string(),
        )
    };
    assert_eq!(rows, [row("1.000000", &first), row("2.550000", &second)]);
    assert!(
        !rows.iter().any(|r| r.3 == third),
        "the third top-up pays no commission"
    );

    let summary = get(&a.inviter, &a.app, "/api/referral").await;
    assert_eq!(summary["commission_earned"], "3.550000");
    assert_eq!(summary["reward_balance"], "3.550000");
    assert_eq!(
        summary["rewards_earned"], "0.000000",
        "rewards and commission are apart"
    );
    assert_eq!(summary["commission_percent"], "10");
    assert_eq!(summary["commission_topups"], 2);
    assert_eq!(summary["commission_on_codes"], false);
    assert_eq!(summary["invitees"], 1);
    assert_eq!(
        summary["invited"],
        json!([{"username": "pa***", "registered_at": summary["invited"][0]["registered_at"],
                "topups": 3, "commission": "3.550000"}])
    );
    let ledger = get(&a.inviter, &a.app, "/api/ledger").await;
    assert_eq!(ledger["data"][0]["kind"], "commission");
    assert_eq!(ledger["data"][0]["account"], "reward");
    assert!(ledger["data"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("10%"));

    // The admin sees it per user.
    a.app.create_user("root", Role::Admin).await;
    let admin = a.app.login("root").await;
    let users = get(&admin, &a.app, "/api/admin/users").await;
    let by_name = |name: &str| {
        users["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["username"] == name)
            .cloned()
            .unwrap()
    };
    let ivy = by_name("ivy");
    assert_eq!(
        (ivy["invitees"].as_i64(), ivy["commission_earned"].as_str()),
        (Some(1), Some("3.550000"))
    );
    assert_eq!(ivy["invited_by"], Value::Null);
    let payer = by_name("payer");
    assert_eq!(payer["invited_by"], a.inviter_id);
    assert_eq!(payer["commission_earned"], "0.000000");

    // Moving the commission into the balance works like any reward.
    let (status, moved) = json_of(
        a.inviter
            .post(a.app.url("/api/referral/transfer"))
            .json(&json!({}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, moved["transferred"].as_str()),
        (200, Some("3.550000"))
    );
    assert!(a.app.audit().await.problems.is_empty());
}

#[tokio::test]
async fn racing_callbacks_of_two_orders_pay_commission_on_the_first_only() {
    let fake = FakeProvider::start().await;
    let a = affiliates(&fake, commission("10", 1, false)).await;
    let (one, one_invoice, _) = open_order(&a.app, &a.payer, "nowpayments", "10").await;
    let (two, two_invoice, _) = open_order(&a.app, &a.payer, "nowpayments", "20").await;
    // 16 deliveries at once: 8 identical copies of each order's `finished` IPN.
    let body = |invoice: &str, order: &str, price: &str| {
        nowpayments_ipn("finished", invoice, order, price, "usd")
    };
    let (b1, b2) = (
        body(&one_invoice, &one, "10"),
        body(&two_invoice, &two, "20"),
    );
    let url = a.app.url("/api/payments/nowpayments/ipn");
    let sig = |b: &str| vec![("x-nowpayments-sig", nowpayments_signature(NOWPAY_IPN, b))];
    let (r1, r2) = tokio::join!(
        race(url.clone(), sig(&b1), b1.clone(), 8),
        race(url.clone(), sig(&b2), b2.clone(), 8)
    );
    let answers: Vec<_> = r1.into_iter().chain(r2).collect();
    assert!(answers.iter().all(|(s, _)| *s == 200), "{answers:?}");
    assert_eq!(
        answers
            .iter()
            .filter(|(_, a)| a["result"] == "credited")
            .count(),
        2
    );
    assert_eq!(a.app.balance(a.payer_id).await, "30.000000");

    let rows = reward_rows(&a.app, a.inviter_id).await;
    assert_eq!(
        rows.len(),
        1,
        "one commission, for whichever order was paid first: {rows:?}"
    );
    // The IMMEDIATE transactions ran one after the other: the first order credited is the one.
    let paid_first: String = a
        .app
        .state
        .db
        .read(|conn| {
            Ok(conn.query_row(
                "SELECT ref_id FROM ledger WHERE kind = 'topup' AND ref_type = 'order' ORDER BY id LIMIT 1",
                [],
                |r| r.get(0),
            ).store("read the first credited order")?)
        })
        .await
        .unwrap();
    let expected = if paid_first == one {
        "1.000000"
    } else {
        "2.000000"
    };
    assert_eq!(rows[0].3, paid_first);
    assert_eq!(rows[0].1, expected);
    assert!(a.app.audit().await.problems.is_empty());
}

#[tokio::test]
async fn commission_rounds_down_and_codes_count_only_when_configured() {
    let fake = FakeProvider::start().await;
    let a = affiliates(&fake, commission("33.3333", 2, false)).await;
    a.app.create_user("root", Role::Admin).await;
    let admin = a.app.login("root").await;
    let (_, made) = json_of(
        admin
            .post(a.app.url("/api/admin/codes"))
            .json(&json!({"amount": "7", "count": 1}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let (status, _) = json_of(
        a.payer
            .post(a.app.url("/api/topup/redeem"))
            .json(&json!({"code": made["codes"][0]}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        reward_rows(&a.app, a.inviter_id).await.is_empty(),
        "codes do not count here"
    );
    let order = pay(&a, "10.01").await;
    // 10.01 × 33.3333 / 100 = 3.33666333, exactly.
    let rows = reward_rows(&a.app, a.inviter_id).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].1.as_str(), rows[0].3.as_str()),
        ("3.33666333", order.as_str())
    );
    assert!(a.app.audit().await.problems.is_empty());

    // With commission_on_codes, a redemption is a top-up that pays (and counts toward N).
    let fake = FakeProvider::start().await;
    let a = affiliates(&fake, commission("12.5", 1, true)).await;
    let code = a
        .app
        .state
        .db
        .write(|conn| {
            let batch =
                code_router::topup::codes::NewCodes::parse("0.123456789", 1, None, None, 0)?;
            code_router::topup::codes::generate_codes(conn, &batch, "test", 0)
        })
        .await
        .unwrap()
        .remove(0);
    let (status, _) = json_of(
        a.payer
            .post(a.app.url("/api/topup/redeem"))
            .json(&json!({"code": code}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    pay(&a, "10").await;
    let rows = reward_rows(&a.app, a.inviter_id).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    // 0.123456789 × 12.5 % = 0.015432098625, rounded down to the nano-dollar.
    assert_eq!(
        (rows[0].1.as_str(), rows[0].2.as_str()),
        ("0.015432098", "code")
    );
    let summary = get(&a.inviter, &a.app, "/api/referral").await;
    assert_eq!(summary["invited"][0]["topups"], 2);
    assert_eq!(summary["invited"][0]["commission"], "0.015432098");
    assert!(a.app.audit().await.problems.is_empty());
}

#[tokio::test]
async fn no_commission_when_referrals_are_off_or_nobody_invited() {
    let fake = FakeProvider::start().await;
    let a = affiliates(&fake, |c: &mut Config| {
        c.referral.enabled = false;
        c.referral.commission_percent = Rate("10".parse().unwrap());
    })
    .await;
    pay(&a, "10").await;
    assert!(reward_rows(&a.app, a.inviter_id).await.is_empty());
    let summary = get(&a.inviter, &a.app, "/api/referral").await;
    assert_eq!(
        summary["commission_percent"], "0",
        "no commission is on offer"
    );

    // An account that registered without a code pays nobody.
    let fake = FakeProvider::start().await;
    let a = affiliates(&fake, commission("10", 0, false)).await;
    a.app.create_user("loner", Role::User).await;
    let loner = a.app.login("loner").await;
    let (order, invoice, _) = open_order(&a.app, &loner, "nowpayments", "10").await;
    assert_eq!(ipn(&a.app, "finished", &invoice, &order, "10").await.0, 200);
    assert!(reward_rows(&a.app, a.inviter_id).await.is_empty());
    // With commission_topups = 0 every top-up of an invitee pays.
    for _ in 0..3 {
        pay(&a, "10").await;
    }
    assert_eq!(reward_rows(&a.app, a.inviter_id).await.len(), 3);
    assert!(a.app.audit().await.problems.is_empty());
}

#[test]
fn commission_config_is_checked_and_defaults_to_off() {
    let c = Config::parse("", "t").unwrap();
    assert!(c.referral.commission_percent.0.is_zero());
    assert_eq!(c.referral.commission_topups, 0);
    assert!(!c.referral.commission_on_codes);
    let c = Config::parse(
        "[referral]\nenabled = true\ncommission_percent = \"12.5\"\ncommission_topups = 3\ncommission_on_codes = true\n",
        "t",
    )
    .unwrap();
    assert_eq!(c.referral.commission_percent.0.to_string(), "12.5");
    for (text, want) in [
        (
            "[referral]\ncommission_percent = \"100.5\"\n",
            "line 2: referral.commission_percent",
        ),
        (
            "[referral]\ncommission_percent = \"1.23456\"\n",
            "referral.commission_percent",
        ),
        ("[referral]\ncommission_percent = 10.5\n", "line 2"),
        ("[referral]\ncommission_topups = -1\n", "line 2"),
    ] {
        let e = Config::parse(text, "c.toml").unwrap_err().0;
        assert!(e.contains(want), "{text}: {e}");
    }
}
