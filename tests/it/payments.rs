//! Online payment top-up: checkout against fake providers, then signed callbacks that credit an
//! order once and only once, whatever arrives (replays, duplicates, forgeries, wrong amounts,
//! unknown orders, stale timestamps, 32 deliveries at once, a restart in between).

use code_router::accounts::Role;
use code_router::clock::Clock;
use code_router::config::Config;
use code_router::db::Store;
use code_router::ledger::money::Money;
use code_router::topup::payments::creem::CreemProduct;
use serde_json::{json, Value};

use crate::fake_providers::*;
use crate::helpers::*;

fn usd(text: &str) -> Money {
    Money::parse(text).unwrap()
}

/// Stripe, Creem and EPay all enabled and pointed at `fake`.
fn configure(config: &mut Config, fake: &FakeProvider) {
    config.server.public_url = "https://router.example.com".into();
    let p = &mut config.payments;
    p.stripe.enabled = true;
    p.stripe.secret_key = STRIPE_KEY.into();
    p.stripe.webhook_secret = STRIPE_WHSEC.into();
    p.stripe.api_base = fake.base.clone();
    p.creem.enabled = true;
    p.creem.api_key = CREEM_KEY.into();
    p.creem.webhook_secret = CREEM_WHSEC.into();
    p.creem.api_base = format!("{}/", fake.base);
    p.creem.products = vec![
        CreemProduct {
            amount: usd("10"),
            product_id: "prod_ten".into(),
            price: None,
        },
        CreemProduct {
            amount: usd("20"),
            product_id: "prod_twenty".into(),
            price: None,
        },
    ];
    p.epay.enabled = true;
    p.epay.pid = "1001".into();
    p.epay.key = EPAY_KEY.into();
    p.epay.gateway_url = "https://pay.example.net/".into();
    p.epay.rate = code_router::pricing::Rate("7.3".parse().unwrap());
}

struct Setup {
    app: TestApp,
    fake: FakeProvider,
    client: reqwest::Client,
    user_id: i64,
}

async fn setup() -> Setup {
    let fake = FakeProvider::start().await;
    let f = fake.clone();
    let app = spawn_app_with(move |c| configure(c, &f)).await;
    let user_id = app.create_user("payer", Role::User).await;
    let client = app.login("payer").await;
    Setup {
        app,
        fake,
        client,
        user_id,
    }
}

async fn checkout(s: &Setup, body: Value) -> (u16, Value) {
    json_of(
        s.client
            .post(s.app.url("/api/topup/checkout"))
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await
}

async fn balance(s: &Setup) -> Value {
    let (_, me) = json_of(s.client.get(s.app.url("/api/me")).send().await.unwrap()).await;
    me["balance"].clone()
}

async fn stripe_post(app: &TestApp, body: &str, signature: &str) -> (u16, Value) {
    json_of(
        reqwest::Client::new()
            .post(app.url("/api/payments/stripe/webhook"))
            .header("stripe-signature", signature)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap(),
    )
    .await
}

fn now(app: &TestApp) -> i64 {
    app.clock.now()
}

async fn order_status(app: &TestApp, order_no: &str) -> (String, String) {
    let order_no = order_no.to_string();
    app.state
        .db
        .read(move |conn| {
            Ok(conn
                .query_row(
                    "SELECT status, note FROM orders WHERE order_no = ?1",
                    [order_no],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .store("read the order's status")?)
        })
        .await
        .unwrap()
}

async fn topup_rows(app: &TestApp) -> i64 {
    app.state
        .db
        .read(|conn| {
            Ok(conn
                .query_row(
                    "SELECT count(*) FROM ledger WHERE kind = 'topup' AND ref_type = 'order'",
                    [],
                    |r| r.get(0),
                )
                .store("count the top-up rows")?)
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn methods_list_what_is_enabled_to_signed_in_users() {
    let s = setup().await;
    let (status, body) = json_of(
        s.client
            .get(s.app.url("/api/topup/methods"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    let methods: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["method"].as_str().unwrap())
        .collect();
    assert_eq!(methods, ["stripe", "creem", "epay"]);
    let stripe = &body["data"][0];
    assert_eq!(stripe["currency"], "usd");
    assert_eq!(stripe["min_amount"], "5.000000");
    assert_eq!(
        stripe["presets"],
        json!(["5.000000", "10.000000", "20.000000", "50.000000"])
    );
    assert_eq!(
        body["data"][1]["presets"],
        json!(["10.000000", "20.000000"])
    );
    assert_eq!(body["data"][1]["custom_amount"], false);
    assert_eq!(body["data"][2]["types"], json!(["alipay", "wxpay"]));
    assert_eq!(body["data"][2]["rate"], "7.3");

    let anonymous = reqwest::Client::new()
        .get(s.app.url("/api/topup/methods"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);

    let plain = spawn_app().await;
    plain.create_user("someone", Role::User).await;
    let c = plain.login("someone").await;
    let (_, body) = json_of(c.get(plain.url("/api/topup/methods")).send().await.unwrap()).await;
    assert_eq!(body["data"], json!([]));
    let (status, body) = json_of(
        c.post(plain.url("/api/topup/checkout"))
            .json(&json!({"method": "stripe", "amount": "10"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, error_code(&body).as_str()),
        (400, "unknown_method")
    );
}

#[tokio::test]
async fn checkout_refuses_amounts_and_methods_not_on_offer() {
    let s = setup().await;
    let cases = [
        (
            json!({"method": "stripe", "amount": "4.99"}),
            400,
            "amount_too_small",
        ),
        (
            json!({"method": "stripe", "amount": "10.001"}),
            400,
            "amount_too_precise",
        ),
        (
            json!({"method": "stripe", "amount": "10000.01"}),
            400,
            "amount_too_large",
        ),
        (
            json!({"method": "stripe", "amount": "0"}),
            400,
            "invalid_amount",
        ),
        (
            json!({"method": "stripe", "amount": "-5"}),
            400,
            "invalid_amount",
        ),
        (
            json!({"method": "stripe", "amount": 10}),
            400,
            "invalid_request",
        ),
        (
            json!({"method": "stripe", "amount": "ten"}),
            400,
            "invalid_request",
        ),
        (
            json!({"method": "paypal", "amount": "10"}),
            400,
            "unknown_method",
        ),
        (
            json!({"method": "creem", "amount": "15"}),
            400,
            "amount_not_offered",
        ),
        (
            json!({"method": "epay", "amount": "10", "type": "bitcoin"}),
            400,
            "invalid_type",
        ),
        (
            json!({"method": "stripe", "amount": "10", "type": "alipay"}),
            400,
            "invalid_type",
        ),
        (
            json!({"method": "stripe", "amount": "10", "extra": 1}),
            400,
            "invalid_request",
        ),
    ];
    for (body, want_status, want_code) in cases {
        let (status, answer) = checkout(&s, body.clone()).await;
        assert_eq!(status, want_status, "{body}: {answer}");
        assert_eq!(error_code(&answer), want_code, "{body}");
    }
    assert!(s.fake.received().is_empty(), "nothing reached the provider");
    let (_, orders) = json_of(
        s.client
            .get(s.app.url("/api/topup/orders"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(orders["data"], json!([]));
    let anonymous = reqwest::Client::new()
        .post(s.app.url("/api/topup/checkout"))
        .json(&json!({"method": "stripe", "amount": "10"}))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
}

#[tokio::test]
async fn stripe_checkout_and_signed_webhook_credit_exactly_once() {
    let s = setup().await;
    let (status, body) = checkout(&s, json!({"method": "stripe", "amount": "10.25"})).await;
    assert_eq!(status, 201, "{body}");
    let order_no = body["order_id"].as_str().unwrap().to_string();
    assert_eq!(body["url"], "https://checkout.stripe.test/c/pay/cs_test_1");

    // What Stripe received: a form-encoded session for exactly this order.
    let received = s.fake.received();
    assert_eq!(received.len(), 1);
    let sent = &received[0];
    assert_eq!(
        sent.headers["authorization"],
        format!("Bearer {STRIPE_KEY}")
    );
    assert_eq!(sent.headers["idempotency-key"], order_no.as_str());
    let form: Vec<(String, String)> = serde_urlencoded::from_str(&sent.body).unwrap();
    let field = |k: &str| {
        form.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    assert_eq!(field("mode"), "payment");
    assert_eq!(field("line_items[0][price_data][currency]"), "usd");
    assert_eq!(field("line_items[0][price_data][unit_amount]"), "1025");
    assert_eq!(field("line_items[0][quantity]"), "1");
    assert!(!field("line_items[0][price_data][product_data][name]").is_empty());
    assert_eq!(field("client_reference_id"), order_no);
    assert_eq!(field("metadata[order_id]"), order_no);
    assert_eq!(
        field("success_url"),
        format!("https://router.example.com/console/topup?paid={order_no}")
    );

    let (_, orders) = json_of(
        s.client
            .get(s.app.url("/api/topup/orders"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(orders["data"][0]["status"], "pending");
    assert_eq!(orders["data"][0]["pay_amount"], "10.25");
    assert_eq!(balance(&s).await, "0.000000");

    let event = stripe_completed("cs_test_1", &order_no, 1025, "usd", "paid");
    let signature = stripe_signature(STRIPE_WHSEC, now(&s.app), &event);
    let (status, answer) = stripe_post(&s.app, &event, &signature).await;
    assert_eq!(
        (status, answer["result"].as_str()),
        (200, Some("credited")),
        "{answer}"
    );
    assert_eq!(balance(&s).await, "10.250000");

    // The same delivery again, and again a minute later: acknowledged, nothing more.
    let (status, answer) = stripe_post(&s.app, &event, &signature).await;
    assert_eq!(
        (status, answer["result"].as_str()),
        (200, Some("already_paid"))
    );
    s.app.clock.advance_secs(60);
    let resigned = stripe_signature(STRIPE_WHSEC, now(&s.app), &event);
    let (status, _) = stripe_post(&s.app, &event, &resigned).await;
    assert_eq!(status, 200);
    assert_eq!(balance(&s).await, "10.250000");
    assert_eq!(topup_rows(&s.app).await, 1);

    // The ledger row names the order.
    let (_, ledger) = json_of(s.client.get(s.app.url("/api/ledger")).send().await.unwrap()).await;
    let row = &ledger["data"][0];
    assert_eq!(
        (row["kind"].as_str(), row["ref_type"].as_str()),
        (Some("topup"), Some("order"))
    );
    assert_eq!(row["ref_id"], order_no.as_str());
    assert_eq!(row["amount"], "10.250000");

    let (_, orders) = json_of(
        s.client
            .get(s.app.url("/api/topup/orders"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(orders["data"][0]["status"], "paid");
    assert!(orders["data"][0]["paid_at"].is_string());
    assert!(s.app.audit().await.problems.is_empty());
}

#[tokio::test]
async fn forged_stale_and_mismatched_stripe_webhooks_change_nothing() {
    let s = setup().await;
    let (_, body) = checkout(&s, json!({"method": "stripe", "amount": "20"})).await;
    let order_no = body["order_id"].as_str().unwrap().to_string();
    let t = now(&s.app);
    let good = stripe_completed("cs_test_1", &order_no, 2000, "usd", "paid");

    // Bad signatures: wrong secret, body changed after signing, missing, junk.
    let cases = [
        stripe_signature("whsec_wrong", t, &good),
        stripe_signature(STRIPE_WHSEC, t, &good.replace("2000", "2001")),
        String::new(),
        "t=abc,v1=zz".to_string(),
    ];
    for signature in &cases {
        let (status, answer) = stripe_post(&s.app, &good, signature).await;
        assert_eq!(
            (status, error_code(&answer).as_str()),
            (400, "invalid_signature"),
            "{signature}"
        );
    }
    // A good signature made more than 300 s ago (or ahead).
    let stale = stripe_signature(STRIPE_WHSEC, t - 301, &good);
    let (status, answer) = stripe_post(&s.app, &good, &stale).await;
    assert_eq!(
        (status, error_code(&answer).as_str()),
        (400, "invalid_signature")
    );
    let ahead = stripe_signature(STRIPE_WHSEC, t + 301, &good);
    assert_eq!(stripe_post(&s.app, &good, &ahead).await.0, 400);

    // Correctly signed, but not what the order says.
    let signed = |body: &str| stripe_signature(STRIPE_WHSEC, t, body);
    let refusals = [
        (
            stripe_completed("cs_test_1", &order_no, 1000, "usd", "paid"),
            "amount_mismatch",
        ),
        (
            stripe_completed("cs_test_1", &order_no, 2000, "eur", "paid"),
            "amount_mismatch",
        ),
        (
            stripe_completed("cs_test_1", "crNoSuchOrder", 2000, "usd", "paid"),
            "unknown_order",
        ),
        (
            stripe_completed("cs_other", &order_no, 2000, "usd", "paid"),
            "reference_mismatch",
        ),
    ];
    for (body, code) in &refusals {
        let (status, answer) = stripe_post(&s.app, body, &signed(body)).await;
        assert_eq!(
            (status, error_code(&answer).as_str()),
            (400, *code),
            "{body}"
        );
    }
    let (status, note) = order_status(&s.app, &order_no).await;
    assert_eq!(status, "pending");
    assert!(
        note.contains("10 USD") || note.contains("EUR"),
        "refusal noted: {note}"
    );

    // Completed but not yet paid (a delayed payment method): acknowledged, no credit.
    let unpaid = stripe_completed("cs_test_1", &order_no, 2000, "usd", "unpaid");
    let (status, answer) = stripe_post(&s.app, &unpaid, &signed(&unpaid)).await;
    assert_eq!((status, answer["result"].as_str()), (200, Some("ignored")));
    assert_eq!(balance(&s).await, "0.000000");

    // The real one still credits afterwards.
    let (status, _) = stripe_post(&s.app, &good, &signed(&good)).await;
    assert_eq!(status, 200);
    assert_eq!(balance(&s).await, "20.000000");
    // And a later event saying the session expired cannot undo or redo it.
    let expired = good.replace("checkout.session.completed", "checkout.session.expired");
    assert_eq!(
        stripe_post(&s.app, &expired, &signed(&expired)).await.0,
        200
    );
    assert_eq!(order_status(&s.app, &order_no).await.0, "paid");
    assert_eq!(topup_rows(&s.app).await, 1);
    assert!(s.app.audit().await.problems.is_empty());
}

#[tokio::test]
async fn an_expired_session_cannot_be_credited_later() {
    let s = setup().await;
    let (_, body) = checkout(&s, json!({"method": "stripe", "amount": "5"})).await;
    let order_no = body["order_id"].as_str().unwrap().to_string();
    let t = now(&s.app);
    let paid = stripe_completed("cs_test_1", &order_no, 500, "usd", "paid");
    let expired = paid.replace("checkout.session.completed", "checkout.session.expired");
    let (status, answer) = stripe_post(
        &s.app,
        &expired,
        &stripe_signature(STRIPE_WHSEC, t, &expired),
    )
    .await;
    assert_eq!((status, answer["result"].as_str()), (200, Some("closed")));
    assert_eq!(order_status(&s.app, &order_no).await.0, "expired");
    let (status, answer) =
        stripe_post(&s.app, &paid, &stripe_signature(STRIPE_WHSEC, t, &paid)).await;
    assert_eq!(
        (status, error_code(&answer).as_str()),
        (400, "order_not_payable")
    );
    assert_eq!(balance(&s).await, "0.000000");
}

#[tokio::test]
async fn thirty_two_concurrent_deliveries_credit_once() {
    let s = setup().await;
    let (_, body) = checkout(&s, json!({"method": "stripe", "amount": "50"})).await;
    let order_no = body["order_id"].as_str().unwrap().to_string();
    let event = stripe_completed("cs_test_1", &order_no, 5000, "usd", "paid");
    let signature = stripe_signature(STRIPE_WHSEC, now(&s.app), &event);
    let url = s.app.url("/api/payments/stripe/webhook");
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let (url, event, signature) = (url.clone(), event.clone(), signature.clone());
            tokio::spawn(async move {
                let r = reqwest::Client::new()
                    .post(url)
                    .header("stripe-signature", signature)
                    .body(event)
                    .send()
                    .await
                    .unwrap();
                json_of(r).await
            })
        })
        .collect();
    let mut credited = 0;
    for task in tasks {
        let (status, answer) = task.await.unwrap();
        assert_eq!(status, 200, "{answer}");
        if answer["result"] == "credited" {
            credited += 1;
        }
    }
    assert_eq!(credited, 1);
    assert_eq!(balance(&s).await, "50.000000");
    assert_eq!(topup_rows(&s.app).await, 1);
    assert!(s.app.audit().await.problems.is_empty());
}

#[tokio::test]
async fn a_provider_outage_at_checkout_fails_the_order_and_credits_nothing() {
    let s = setup().await;
    s.fake.fail();
    let (status, body) = checkout(&s, json!({"method": "stripe", "amount": "10"})).await;
    assert_eq!(
        (status, error_code(&body).as_str()),
        (502, "provider_error")
    );
    let (_, orders) = json_of(
        s.client
            .get(s.app.url("/api/topup/orders"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(orders["data"][0]["status"], "failed");
    let order_no = orders["data"][0]["order_id"].as_str().unwrap().to_string();
    // Even a correctly signed "paid" for it is refused: no checkout was ever opened.
    let event = stripe_completed("cs_test_1", &order_no, 1000, "usd", "paid");
    let (status, answer) = stripe_post(
        &s.app,
        &event,
        &stripe_signature(STRIPE_WHSEC, now(&s.app), &event),
    )
    .await;
    assert_eq!(
        (status, error_code(&answer).as_str()),
        (400, "order_not_payable")
    );
    assert_eq!(balance(&s).await, "0.000000");
}

#[tokio::test]
async fn creem_checkout_and_signed_webhook() {
    let s = setup().await;
    let (status, body) = checkout(&s, json!({"method": "creem", "amount": "20"})).await;
    assert_eq!(status, 201, "{body}");
    let order_no = body["order_id"].as_str().unwrap().to_string();
    assert_eq!(body["url"], "https://checkout.creem.test/ch_fake_1");
    let sent = &s.fake.received()[0];
    assert_eq!(sent.path, "/v1/checkouts");
    assert_eq!(sent.headers["x-api-key"], CREEM_KEY);
    let sent_body: Value = serde_json::from_str(&sent.body).unwrap();
    assert_eq!(sent_body["product_id"], "prod_twenty");
    assert_eq!(sent_body["request_id"], order_no.as_str());
    assert_eq!(sent_body["metadata"]["order_id"], order_no.as_str());
    assert_eq!(
        sent_body["success_url"],
        format!("https://router.example.com/console/topup?paid={order_no}")
    );

    let post = |body: String, signature: String| {
        let url = s.app.url("/api/payments/creem/webhook");
        async move {
            json_of(
                reqwest::Client::new()
                    .post(url)
                    .header("creem-signature", signature)
                    .body(body)
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        }
    };
    let good = creem_completed("ch_fake_1", &order_no, 2000, "USD");
    // Forged, then wrong amount, then unknown order: nothing credited.
    let (status, answer) = post(good.clone(), creem_signature("whsec_wrong", &good)).await;
    assert_eq!(
        (status, error_code(&answer).as_str()),
        (400, "invalid_signature")
    );
    let (status, _) = post(good.clone(), String::new()).await;
    assert_eq!(status, 400);
    let cheap = creem_completed("ch_fake_1", &order_no, 1000, "USD");
    let (status, answer) = post(cheap.clone(), creem_signature(CREEM_WHSEC, &cheap)).await;
    assert_eq!(
        (status, error_code(&answer).as_str()),
        (400, "amount_mismatch")
    );
    let stranger = creem_completed("ch_fake_9", "crUnknown", 2000, "USD");
    let (status, answer) = post(stranger.clone(), creem_signature(CREEM_WHSEC, &stranger)).await;
    assert_eq!(
        (status, error_code(&answer).as_str()),
        (400, "unknown_order")
    );
    assert_eq!(balance(&s).await, "0.000000");

    let (status, answer) = post(good.clone(), creem_signature(CREEM_WHSEC, &good)).await;
    assert_eq!((status, answer["result"].as_str()), (200, Some("credited")));
    let (status, answer) = post(good.clone(), creem_signature(CREEM_WHSEC, &good)).await;
    assert_eq!(
        (status, answer["result"].as_str()),
        (200, Some("already_paid"))
    );
    assert_eq!(balance(&s).await, "20.000000");
    // A Creem callback cannot settle a Stripe order.
    let (_, body) = checkout(&s, json!({"method": "stripe", "amount": "10"})).await;
    let stripe_order = body["order_id"].as_str().unwrap().to_string();
    let crossed = creem_completed("cs_test_2", &stripe_order, 1000, "USD");
    let (status, answer) = post(crossed.clone(), creem_signature(CREEM_WHSEC, &crossed)).await;
    assert_eq!(
        (status, error_code(&answer).as_str()),
        (400, "unknown_order")
    );
    assert_eq!(balance(&s).await, "20.000000");
    assert!(s.app.audit().await.problems.is_empty());
}

/// Sends an EPay notify as GET query or POST form; returns status and the plain-text answer.
async fn epay_post(app: &TestApp, params: &[(&str, String)], as_get: bool) -> (u16, String) {
    let url = app.url("/api/payments/epay/notify");
    let client = reqwest::Client::new();
    let encoded = serde_urlencoded::to_string(params).unwrap();
    let r = if as_get {
        client.get(format!("{url}?{encoded}")).send().await.unwrap()
    } else {
        client
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(encoded)
            .send()
            .await
            .unwrap()
    };
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn epay_redirect_is_signed_and_notify_credits_once() {
    let s = setup().await;
    let (status, body) = checkout(
        &s,
        json!({"method": "epay", "amount": "10.01", "type": "wxpay"}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let order_no = body["order_id"].as_str().unwrap().to_string();
    let url = body["url"].as_str().unwrap();
    let (base, query) = url.split_once('?').unwrap();
    assert_eq!(base, "https://pay.example.net/submit.php");
    let params: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap();
    let get = |k: &str| {
        params
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    assert_eq!(get("pid"), "1001");
    assert_eq!(get("type"), "wxpay");
    assert_eq!(get("out_trade_no"), order_no);
    assert_eq!(get("money"), "73.08"); // 10.01 × 7.3 = 73.073, rounded up to the fen
    assert_eq!(
        get("notify_url"),
        "https://router.example.com/api/payments/epay/notify"
    );
    assert_eq!(
        get("return_url"),
        format!("https://router.example.com/console/topup?paid={order_no}")
    );
    assert_eq!(get("sign_type"), "MD5");
    let unsigned: Vec<(&str, String)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    assert_eq!(
        get("sign"),
        epay_sign(&unsigned, EPAY_KEY),
        "the gateway accepts our signature"
    );

    // Forged, wrong money, wrong merchant, unknown order: "fail", nothing credited.
    let mut forged = epay_notify(
        "1001",
        &order_no,
        "T1",
        "73.08",
        "TRADE_SUCCESS",
        "not-the-key",
    );
    assert_eq!(epay_post(&s.app, &forged, true).await, (400, "fail".into()));
    forged.retain(|(k, _)| *k != "sign");
    assert_eq!(
        epay_post(&s.app, &forged, false).await,
        (400, "fail".into())
    );
    for (pid, order, money) in [
        ("1001", order_no.as_str(), "73.07"),
        ("1001", order_no.as_str(), "7.308"),
        ("2002", order_no.as_str(), "73.08"),
        ("1001", "crNope", "73.08"),
    ] {
        let notify = epay_notify(pid, order, "T1", money, "TRADE_SUCCESS", EPAY_KEY);
        assert_eq!(
            epay_post(&s.app, &notify, true).await,
            (400, "fail".into()),
            "{pid} {order} {money}"
        );
    }
    // Not paid yet: acknowledged, nothing credited.
    let waiting = epay_notify("1001", &order_no, "T1", "73.08", "WAIT_BUYER_PAY", EPAY_KEY);
    assert_eq!(
        epay_post(&s.app, &waiting, true).await,
        (200, "success".into())
    );
    assert_eq!(balance(&s).await, "0.000000");

    // The good one, by GET, then replayed by POST and with another trade number.
    let good = epay_notify("1001", &order_no, "T1", "73.08", "TRADE_SUCCESS", EPAY_KEY);
    assert_eq!(
        epay_post(&s.app, &good, true).await,
        (200, "success".into())
    );
    assert_eq!(
        epay_post(&s.app, &good, false).await,
        (200, "success".into())
    );
    let again = epay_notify("1001", &order_no, "T2", "73.080", "TRADE_SUCCESS", EPAY_KEY);
    assert_eq!(
        epay_post(&s.app, &again, false).await,
        (200, "success".into())
    );
    assert_eq!(balance(&s).await, "10.010000");
    assert_eq!(topup_rows(&s.app).await, 1);

    // The gateway's trade number cannot pay a second order.
    let (_, body) = checkout(&s, json!({"method": "epay", "amount": "10.01"})).await;
    let second = body["order_id"].as_str().unwrap().to_string();
    let reused = epay_notify("1001", &second, "T1", "73.08", "TRADE_SUCCESS", EPAY_KEY);
    assert_eq!(epay_post(&s.app, &reused, true).await, (400, "fail".into()));
    assert_eq!(balance(&s).await, "10.010000");
    assert!(s.app.audit().await.problems.is_empty());
}

#[tokio::test]
async fn orders_are_listed_to_their_owner_and_to_admins() {
    let s = setup().await;
    s.app.create_user("other", Role::User).await;
    s.app.create_user("root", Role::Admin).await;
    let other = s.app.login("other").await;
    let admin = s.app.login("root").await;
    for amount in ["5", "6", "7"] {
        assert_eq!(
            checkout(&s, json!({"method": "stripe", "amount": amount}))
                .await
                .0,
            201
        );
    }
    let (status, _) = json_of(
        other
            .post(s.app.url("/api/topup/checkout"))
            .json(&json!({"method": "epay", "amount": "8"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 201);

    let (_, page) = json_of(
        s.client
            .get(s.app.url("/api/topup/orders?limit=2"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let amounts: Vec<&str> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["amount"].as_str().unwrap())
        .collect();
    assert_eq!(amounts, ["7.000000", "6.000000"]);
    assert!(
        page["data"][0].get("user_id").is_none(),
        "owners see no admin fields"
    );
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, page) = json_of(
        s.client
            .get(
                s.app
                    .url(&format!("/api/topup/orders?limit=2&cursor={cursor}")),
            )
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
    assert_eq!(page["next_cursor"], Value::Null);

    let (_, theirs) = json_of(
        other
            .get(s.app.url("/api/topup/orders"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(theirs["data"].as_array().unwrap().len(), 1);
    assert_eq!(theirs["data"][0]["method"], "epay");

    let (status, _) = json_of(
        other
            .get(s.app.url("/api/admin/orders"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 403);
    let (status, all) = json_of(
        admin
            .get(s.app.url("/api/admin/orders"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(all["data"].as_array().unwrap().len(), 4);
    assert_eq!(all["data"][1]["provider_ref"], "cs_test_3");
    let (_, one) = json_of(
        admin
            .get(s.app.url(&format!(
                "/api/admin/orders?user_id={}&status=pending",
                s.user_id
            )))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(one["data"].as_array().unwrap().len(), 3);
    let (status, body) = json_of(
        admin
            .get(s.app.url("/api/admin/orders?status=weird"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, error_code(&body).as_str()), (400, "invalid_query"));
}

#[tokio::test]
async fn a_callback_during_a_restart_is_retried_and_credits_once() {
    let fake = FakeProvider::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    configure(&mut config, &fake);
    config.server.data_dir = dir.path().to_path_buf();
    let clock = code_router::clock::ManualClock::starting_now();

    let start = |config: Config| {
        let clock = clock.clone();
        async move {
            let state = code_router::open_state(config, clock).unwrap();
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let base = format!("http://{}", listener.local_addr().unwrap());
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let handle = tokio::spawn(code_router::serve(state.clone(), listener, async {
                let _ = stopped.await;
            }));
            (base, state, stop, handle)
        }
    };

    let (base, state, stop, handle) = start(config.clone()).await;
    let now = state.clock.now();
    let user_id = state
        .db
        .write(move |conn| {
            code_router::accounts::create_user(
                conn,
                &code_router::accounts::NewUser {
                    username: "payer",
                    password_hash: &code_router::accounts::password::hash(PASSWORD).unwrap(),
                    role: Role::User,
                    inviter_id: None,
                },
                now,
            )
        })
        .await
        .unwrap()
        .id;
    let client = cookie_client();
    client
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"username": "payer", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(
        client
            .post(format!("{base}/api/topup/checkout"))
            .json(&json!({"method": "stripe", "amount": "10"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 201);
    let order_no = body["order_id"].as_str().unwrap().to_string();

    // The server goes down; Stripe's delivery fails and it will retry.
    stop.send(()).unwrap();
    handle.await.unwrap().unwrap();
    drop(state);
    let event = stripe_completed("cs_test_1", &order_no, 1000, "usd", "paid");
    let signature = stripe_signature(STRIPE_WHSEC, clock.now(), &event);
    let lost = reqwest::Client::new()
        .post(format!("{base}/api/payments/stripe/webhook"))
        .header("stripe-signature", &signature)
        .body(event.clone())
        .send()
        .await;
    assert!(lost.is_err(), "nobody is listening");

    // Back up: the order is still pending, and the retry credits it, once.
    let (base, state, _stop, _handle) = start(config).await;
    for _ in 0..2 {
        let r = reqwest::Client::new()
            .post(format!("{base}/api/payments/stripe/webhook"))
            .header("stripe-signature", &signature)
            .body(event.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let balance: i64 = state
        .db
        .read(move |conn| {
            Ok(conn
                .query_row("SELECT balance FROM users WHERE id = ?1", [user_id], |r| {
                    r.get(0)
                })
                .store("read the balance")?)
        })
        .await
        .unwrap();
    assert_eq!(Money::from_units(balance), usd("10"));
    let report = state
        .db
        .write(code_router::ledger::audit::audit)
        .await
        .unwrap();
    assert!(report.problems.is_empty());
}

#[tokio::test]
async fn a_locked_database_answers_non_2xx_so_the_provider_retries() {
    let s = setup().await;
    let (_, body) = checkout(&s, json!({"method": "stripe", "amount": "10"})).await;
    let order_no = body["order_id"].as_str().unwrap().to_string();
    let event = stripe_completed("cs_test_1", &order_no, 1000, "usd", "paid");
    let signature = stripe_signature(STRIPE_WHSEC, now(&s.app), &event);

    // Another process holds the write lock past the busy timeout.
    let path = s.app.state.db.path().to_path_buf();
    let (locked, release) = (
        std::sync::mpsc::channel::<()>(),
        std::sync::mpsc::channel::<()>(),
    );
    let (locked_tx, locked_rx) = locked;
    let (release_tx, release_rx) = release;
    let holder = std::thread::spawn(move || {
        let conn = rusqlite::Connection::open(path).unwrap();
        conn.execute_batch("BEGIN IMMEDIATE").unwrap();
        locked_tx.send(()).unwrap();
        release_rx.recv().unwrap();
        conn.execute_batch("ROLLBACK").unwrap();
    });
    locked_rx.recv().unwrap();
    let (status, answer) = stripe_post(&s.app, &event, &signature).await;
    assert_eq!(status, 503, "{answer}");
    release_tx.send(()).unwrap();
    holder.join().unwrap();
    assert_eq!(order_status(&s.app, &order_no).await.0, "pending");

    let (status, answer) = stripe_post(&s.app, &event, &signature).await;
    assert_eq!((status, answer["result"].as_str()), (200, Some("credited")));
    assert_eq!(balance(&s).await, "10.000000");
}

#[test]
fn config_errors_name_the_key() {
    let cases = [
        ("[payments.stripe]\nenabled = true\nwebhook_secret = \"w\"\n", "payments.stripe.secret_key"),
        ("[payments.stripe]\nenabled = true\nsecret_key = \"s\"\n", "payments.stripe.webhook_secret"),
        (
            "[payments.stripe]\nenabled = true\nsecret_key = \"s\"\nsecret_key_env = \"X\"\nwebhook_secret = \"w\"\n",
            "payments.stripe.secret_key: set secret_key or secret_key_env, not both",
        ),
        ("[payments.stripe]\nenabled = true\nsecret_key = \"s\"\nwebhook_secret = \"w\"\nmin_amount = \"0\"\n", "payments.stripe.min_amount"),
        ("[payments.stripe]\nenabled = true\nsecret_key = \"s\"\nwebhook_secret = \"w\"\npresets = [\"1.001\"]\n", "payments.stripe.presets"),
        ("[payments.stripe]\nmin_amount = 5.0\n", "min_amount"),
        ("[payments.stripe]\nsecret = \"x\"\n", "secret"),
        ("[payments.creem]\nenabled = true\napi_key = \"k\"\nwebhook_secret = \"w\"\n", "payments.creem.products"),
        ("[payments.epay]\nenabled = true\nkey = \"k\"\ngateway_url = \"https://p\"\n", "payments.epay.pid"),
        ("[payments.epay]\nenabled = true\npid = \"1\"\nkey = \"k\"\n", "payments.epay.gateway_url"),
    ];
    for (text, want) in cases {
        let err = Config::parse(text, "c.toml").unwrap_err().0;
        assert!(err.contains(want), "{text}\n→ {err}");
    }
    let ok = Config::parse(
        "[payments.stripe]\nenabled = true\nsecret_key = \"s\"\nwebhook_secret = \"w\"\npresets = [\"5\", \"7.50\"]\n",
        "c.toml",
    )
    .unwrap();
    assert!(ok.payments.stripe.enabled);
    assert!(ok.payments.unset_secrets().is_empty());

    // A secret named by an environment variable: the file is valid; an unset variable is
    // reported for the start-up log rather than failing every command that reads the file.
    let by_env = Config::parse(
        "[payments.stripe]\nenabled = true\nsecret_key_env = \"CR_TEST_UNSET_VAR\"\nwebhook_secret = \"w\"\n",
        "c.toml",
    )
    .unwrap();
    let unset = by_env.payments.unset_secrets();
    assert_eq!(unset.len(), 1);
    assert!(
        unset[0].contains("payments.stripe.secret_key_env")
            && unset[0].contains("CR_TEST_UNSET_VAR")
    );
}

#[tokio::test]
async fn unpaid_checkouts_are_capped_per_hour() {
    let s = setup().await;
    for _ in 0..20 {
        assert_eq!(
            checkout(&s, json!({"method": "epay", "amount": "5"}))
                .await
                .0,
            201
        );
    }
    let (status, body) = checkout(&s, json!({"method": "epay", "amount": "5"})).await;
    assert_eq!((status, error_code(&body).as_str()), (429, "rate_limited"));
    s.app.clock.advance_secs(3601);
    assert_eq!(
        checkout(&s, json!({"method": "epay", "amount": "5"}))
            .await
            .0,
        201
    );
}

#[tokio::test]
async fn a_first_paid_order_pays_the_waiting_referral_reward_once() {
    use code_router::config::RewardOn;
    let fake = FakeProvider::start().await;
    let f = fake.clone();
    let app = spawn_app_with(move |c| {
        configure(c, &f);
        c.referral.enabled = true;
        c.referral.inviter_reward = usd("2");
        c.referral.reward_on = RewardOn::FirstTopup;
    })
    .await;
    app.create_user("ivy", Role::User).await;
    let ivy = app.login("ivy").await;
    let (_, me) = json_of(ivy.get(app.url("/api/me")).send().await.unwrap()).await;
    let code = me["referral_code"].as_str().unwrap().to_string();
    let (status, _) = json_of(
        reqwest::Client::new()
            .post(app.url("/api/auth/register"))
            .json(&json!({"username": "payer", "password": PASSWORD, "referral_code": code}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 201);
    let payer = app.login("payer").await;
    let reward = |client: reqwest::Client| {
        let url = app.url("/api/me");
        async move {
            let (_, me) = json_of(client.get(url).send().await.unwrap()).await;
            me["reward_balance"].as_str().unwrap().to_string()
        }
    };
    assert_eq!(reward(ivy.clone()).await, "0.000000");

    for (n, amount) in [(1, "10"), (2, "5")] {
        let (status, body) = json_of(
            payer
                .post(app.url("/api/topup/checkout"))
                .json(&json!({"method": "stripe", "amount": amount}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        let order_no = body["order_id"].as_str().unwrap();
        let cents = Money::parse(amount).unwrap().units() / 10_000_000;
        let event = stripe_completed(&format!("cs_test_{n}"), order_no, cents, "usd", "paid");
        let signature = stripe_signature(STRIPE_WHSEC, now(&app), &event);
        for _ in 0..2 {
            assert_eq!(stripe_post(&app, &event, &signature).await.0, 200);
        }
        assert_eq!(
            reward(ivy.clone()).await,
            "2.000000",
            "paid once, on the first top-up"
        );
    }
    assert!(app.audit().await.problems.is_empty());
}

/// A top-up never takes a balance past the largest one: checkout refuses it before the member
/// pays, and a payment that finds the balance filled in the meantime stays pending (with a note
/// for the operator) until a redelivery finds room, instead of a 500 or a lost credit.
#[tokio::test]
async fn top_ups_stop_at_the_largest_balance_and_wait_for_room() {
    let s = setup().await;
    let (status, body) = checkout(&s, json!({"method": "stripe", "amount": "10.25"})).await;
    assert_eq!(status, 201, "{body}");
    let order_no = body["order_id"].as_str().unwrap().to_string();

    s.app.fund(s.user_id, "999999990").await;
    let (status, body) = checkout(&s, json!({"method": "stripe", "amount": "10.25"})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(error_code(&body), "balance_limit");

    let event = stripe_completed("cs_test_1", &order_no, 1025, "usd", "paid");
    let signature = stripe_signature(STRIPE_WHSEC, now(&s.app), &event);
    let (status, body) = stripe_post(&s.app, &event, &signature).await;
    assert_eq!(
        status, 400,
        "not acknowledged, so the provider retries: {body}"
    );
    let (state, note) = order_status(&s.app, &order_no).await;
    assert_eq!(state, "pending");
    assert!(note.contains("1000000000"), "{note}");
    assert_eq!(balance(&s).await, "999999990.000000");

    s.app.fund(s.user_id, "-100").await;
    let (status, body) = stripe_post(&s.app, &event, &signature).await;
    assert_eq!(
        (status, body["result"].as_str()),
        (200, Some("credited")),
        "{body}"
    );
    assert_eq!(balance(&s).await, "999999900.250000");
    assert!(s.app.audit().await.problems.is_empty());
}
