//! Crypto top-up: BTCPay Server and NOWPayments against fakes of their APIs, and an EPay-compatible
//! USDT gateway through `[payments.epay]`. An order credits once, only after the signature checks
//! and (for BTCPay) the invoice read back from the API says it is settled for the order's amount;
//! forged, replayed, short, mismatched, expired and racing callbacks change nothing more.

use code_router::accounts::Role;
use code_router::config::Config;
use code_router::db::Store;
use code_router::pricing::Rate;
use serde_json::{json, Value};

use crate::fake_providers::*;
use crate::helpers::*;

/// BTCPay, NOWPayments and a USDT gateway over EPay, all pointed at `fake`.
pub fn configure_crypto(config: &mut Config, fake: &FakeProvider) {
    config.server.public_url = "https://router.example.com".into();
    let p = &mut config.payments;
    p.btcpay.enabled = true;
    p.btcpay.api_base = format!("{}/", fake.base);
    p.btcpay.store_id = BTCPAY_STORE.into();
    p.btcpay.api_key = BTCPAY_KEY.into();
    p.btcpay.webhook_secret = BTCPAY_WHSEC.into();
    p.nowpayments.enabled = true;
    p.nowpayments.api_base = fake.base.clone();
    p.nowpayments.api_key = NOWPAY_KEY.into();
    p.nowpayments.ipn_secret = NOWPAY_IPN.into();
    p.nowpayments.pay_currency = "usdttrc20".into();
    p.epay.enabled = true;
    p.epay.pid = "2002".into();
    p.epay.key = EPAY_KEY.into();
    p.epay.gateway_url = fake.base.clone();
    p.epay.types = vec!["usdt".into()];
    p.epay.currency = "cny".into();
    p.epay.rate = Rate("7.2".parse().unwrap());
}

pub struct Crypto {
    pub app: TestApp,
    pub fake: FakeProvider,
    pub client: reqwest::Client,
    pub user_id: i64,
}

pub async fn crypto_setup() -> Crypto {
    let fake = FakeProvider::start().await;
    let f = fake.clone();
    let app = spawn_app_with(move |c| configure_crypto(c, &f)).await;
    let user_id = app.create_user("payer", Role::User).await;
    let client = app.login("payer").await;
    Crypto {
        app,
        fake,
        client,
        user_id,
    }
}

/// Opens a checkout as `client`; returns (order number, provider reference, checkout URL).
pub async fn open_order(
    app: &TestApp,
    client: &reqwest::Client,
    method: &str,
    amount: &str,
) -> (String, String, String) {
    let (status, body) = json_of(
        client
            .post(app.url("/api/topup/checkout"))
            .json(&json!({"method": method, "amount": amount}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let order_no = body["order_id"].as_str().unwrap().to_string();
    let no = order_no.clone();
    let reference: Option<String> = app
        .state
        .db
        .read(move |conn| {
            Ok(conn
                .query_row(
                    "SELECT provider_ref FROM orders WHERE order_no = ?1",
                    [no],
                    |r| r.get(0),
                )
                .store("read the order's reference")?)
        })
        .await
        .unwrap();
    (
        order_no,
        reference.unwrap_or_default(),
        body["url"].as_str().unwrap().to_string(),
    )
}

pub async fn btcpay_post(app: &TestApp, body: &str, signature: &str) -> (u16, Value) {
    json_of(
        reqwest::Client::new()
            .post(app.url("/api/payments/btcpay/webhook"))
            .header("btcpay-sig", signature)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap(),
    )
    .await
}

pub async fn ipn_post(app: &TestApp, body: &str, signature: &str) -> (u16, Value) {
    json_of(
        reqwest::Client::new()
            .post(app.url("/api/payments/nowpayments/ipn"))
            .header("x-nowpayments-sig", signature)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// A correctly signed NOWPayments IPN for an order, answered.
pub async fn ipn(
    app: &TestApp,
    status: &str,
    invoice: &str,
    order: &str,
    price: &str,
) -> (u16, Value) {
    let body = nowpayments_ipn(status, invoice, order, price, "usd");
    ipn_post(app, &body, &nowpayments_signature(NOWPAY_IPN, &body)).await
}

/// A correctly signed BTCPay webhook for an invoice, answered.
pub async fn btcpay(app: &TestApp, kind: &str, invoice: &str) -> (u16, Value) {
    let body = btcpay_event(kind, invoice);
    btcpay_post(app, &body, &btcpay_signature(BTCPAY_WHSEC, &body)).await
}

pub async fn order_state(app: &TestApp, order_no: &str) -> (String, String) {
    let no = order_no.to_string();
    app.state
        .db
        .read(move |conn| {
            Ok(conn
                .query_row(
                    "SELECT status, note FROM orders WHERE order_no = ?1",
                    [no],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .store("read the order's state")?)
        })
        .await
        .unwrap()
}

async fn my_orders(s: &Crypto) -> Value {
    let (status, body) = json_of(
        s.client
            .get(s.app.url("/api/topup/orders"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Fires `n` copies of one request at once; returns each (status, body).
pub async fn race(
    url: String,
    headers: Vec<(&'static str, String)>,
    body: String,
    n: usize,
) -> Vec<(u16, Value)> {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (url, headers, body) = (url.clone(), headers.clone(), body.clone());
            tokio::spawn(async move {
                let mut request = reqwest::Client::new().post(url).body(body);
                for (k, v) in headers {
                    request = request.header(k, v);
                }
                json_of(request.send().await.unwrap()).await
            })
        })
        .collect();
    let mut out = Vec::new();
    for task in tasks {
        out.push(task.await.unwrap());
    }
    out
}

#[tokio::test]
async fn crypto_methods_are_offered_with_their_terms() {
    let s = crypto_setup().await;
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
    assert_eq!(methods, ["epay", "btcpay", "nowpayments"]);
    assert_eq!(body["data"][0]["types"], json!(["usdt"]));
    assert_eq!(body["data"][1]["currency"], "usd");
    assert_eq!(body["data"][1]["min_amount"], "5.000000");
    assert_eq!(body["data"][1]["custom_amount"], true);
    assert_eq!(body["data"][2]["pay_currency"], "usdttrc20");
    let (status, answer) = json_of(
        s.client
            .post(s.app.url("/api/topup/checkout"))
            .json(&json!({"method": "btcpay", "amount": "4.99"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, error_code(&answer).as_str()),
        (400, "amount_too_small")
    );
    let (status, answer) = json_of(
        s.client
            .post(s.app.url("/api/topup/checkout"))
            .json(&json!({"method": "nowpayments", "amount": "10", "type": "btc"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, error_code(&answer).as_str()),
        (400, "invalid_type")
    );
    assert!(s.fake.received().is_empty(), "nothing reached a provider");
}

#[tokio::test]
async fn btcpay_checkout_and_a_settled_invoice_credit_once() {
    let s = crypto_setup().await;
    let (order_no, invoice, url) = open_order(&s.app, &s.client, "btcpay", "10.25").await;
    assert_eq!(invoice, "BtcInv1");
    assert_eq!(url, "https://btcpay.test/i/BtcInv1");

    // What BTCPay was asked for: an invoice of exactly this order, by the store's API key.
    let sent = &s.fake.received()[0];
    assert_eq!(
        sent.headers["authorization"],
        format!("token {BTCPAY_KEY}").as_str()
    );
    let asked: Value = serde_json::from_str(&sent.body).unwrap();
    assert_eq!(asked["amount"], "10.25");
    assert_eq!(asked["currency"], "USD");
    assert_eq!(asked["metadata"]["orderId"], order_no.as_str());
    assert_eq!(
        asked["checkout"]["redirectURL"],
        format!("https://router.example.com/console/topup?paid={order_no}")
    );

    // Paid, waiting for confirmations: shown to the member, nothing credited.
    let (status, answer) = btcpay(&s.app, "InvoiceProcessing", &invoice).await;
    assert_eq!(
        (status, answer["result"].as_str()),
        (200, Some("updated")),
        "{answer}"
    );
    let orders = my_orders(&s).await;
    assert_eq!(orders["data"][0]["status"], "processing");
    assert_eq!(orders["data"][0]["method"], "btcpay");
    assert_eq!(s.app.balance(s.user_id).await, "0.000000");

    s.fake.edit_invoice(&invoice, |i| {
        i["status"] = json!("Settled");
    });
    let body = btcpay_event("InvoiceSettled", &invoice);
    let signature = btcpay_signature(BTCPAY_WHSEC, &body);
    let (status, answer) = btcpay_post(&s.app, &body, &signature).await;
    assert_eq!(
        (status, answer["result"].as_str()),
        (200, Some("credited")),
        "{answer}"
    );
    assert_eq!(s.app.balance(s.user_id).await, "10.250000");
    assert_eq!(
        s.fake.invoice_reads(),
        1,
        "the invoice was read back before crediting"
    );

    // The same delivery again, and a redelivery: acknowledged, nothing more.
    for _ in 0..2 {
        let (status, answer) = btcpay_post(&s.app, &body, &signature).await;
        assert_eq!(
            (status, answer["result"].as_str()),
            (200, Some("already_paid"))
        );
    }
    // A late "expired" cannot undo it.
    assert_eq!(btcpay(&s.app, "InvoiceExpired", &invoice).await.0, 200);
    assert_eq!(order_state(&s.app, &order_no).await.0, "paid");
    assert_eq!(
        s.app.ledger_of(s.user_id).await,
        [("topup".to_string(), "10.250000".to_string())]
    );
    let orders = my_orders(&s).await;
    assert_eq!(orders["data"][0]["status"], "paid");
    assert_eq!(orders["data"][0]["pay_amount"], "10.25");
    assert!(s.app.audit().await.problems.is_empty());
}

#[tokio::test]
async fn btcpay_webhooks_are_believed_only_as_far_as_the_api_confirms() {
    let s = crypto_setup().await;
    let (order_no, invoice, _) = open_order(&s.app, &s.client, "btcpay", "20").await;
    let settled = btcpay_event("InvoiceSettled", &invoice);

    // Forged: wrong secret, no `sha256=`, body changed after signing, nothing. No API call made.
    let good = btcpay_signature(BTCPAY_WHSEC, &settled);
    for signature in [
        btcpay_signature("another-secret", &settled),
        good.trim_start_matches("sha256=").to_string(),
        btcpay_signature(BTCPAY_WHSEC, &settled.replace("StoreFake1", "StoreFake1 ")),
        String::new(),
    ] {
        let (status, answer) = btcpay_post(&s.app, &settled, &signature).await;
        assert_eq!(
            (status, error_code(&answer).as_str()),
            (400, "invalid_signature"),
            "{signature}"
        );
    }
    assert_eq!(s.fake.invoice_reads(), 0);

    // Signed, but the invoice is not settled when read back: the body alone credits nothing.
    let (status, answer) = btcpay_post(&s.app, &settled, &good).await;
    assert_eq!(
        (status, error_code(&answer).as_str()),
        (400, "invoice_not_settled")
    );
    // Settled, but for less, or in another currency, than the order.
    s.fake.edit_invoice(&invoice, |i| {
        i["status"] = json!("Settled");
        i["amount"] = json!("19.99");
    });
    let (status, answer) = btcpay_post(&s.app, &settled, &good).await;
    assert_eq!(
        (status, error_code(&answer).as_str()),
        (400, "amount_mismatch")
    );
    s.fake.edit_invoice(&invoice, |i| {
        i["amount"] = json!("20.00");
        i["currency"] = json!("EUR");
    });
    let (status, answer) = btcpay_post(&s.app, &settled, &good).await;
    assert_eq!(
        (status, error_code(&answer).as_str()),
        (400, "amount_mismatch")
    );
    let (status, note) = order_state(&s.app, &order_no).await;
    assert_eq!(status, "pending");
    assert!(
        note.contains("EUR"),
        "the refusal is noted for the admin: {note}"
    );

    // Another store's event, an invoice BTCPay does not know, and an invoice of ours that names
    // another order.
    let other_store = settled.replace(BTCPAY_STORE, "StoreElse");
    let (status, answer) = btcpay_post(
        &s.app,
        &other_store,
        &btcpay_signature(BTCPAY_WHSEC, &other_store),
    )
    .await;
    assert_eq!(
        (status, error_code(&answer).as_str()),
        (400, "invalid_event")
    );
    let (status, answer) = btcpay(&s.app, "InvoiceSettled", "NoSuchInvoice").await;
    assert_eq!(
        (status, error_code(&answer).as_str()),
        (502, "provider_error")
    );
    let (second, second_invoice, _) = open_order(&s.app, &s.client, "btcpay", "20").await;
    s.fake.edit_invoice(&second_invoice, |i| {
        i["status"] = json!("Settled");
        i["metadata"]["orderId"] = json!(order_no.clone());
    });
    let (status, answer) = btcpay(&s.app, "InvoiceSettled", &second_invoice).await;
    assert_eq!(
        (status, error_code(&answer).as_str()),
        (400, "reference_mismatch")
    );

    assert_eq!(s.app.balance(s.user_id).await, "0.000000");
    assert_eq!(order_state(&s.app, &second).await.0, "pending");

    // Once BTCPay really says so, the order pays, once.
    s.fake.edit_invoice(&invoice, |i| {
        i["currency"] = json!("USD");
    });
    let (status, answer) = btcpay_post(&s.app, &settled, &good).await;
    assert_eq!(
        (status, answer["result"].as_str()),
        (200, Some("credited")),
        "{answer}"
    );
    assert_eq!(s.app.balance(s.user_id).await, "20.000000");
    assert!(s.app.audit().await.problems.is_empty());
}

#[tokio::test]
async fn expired_and_invalid_btcpay_invoices_close_their_orders_for_good() {
    let s = crypto_setup().await;
    let (expired, invoice, _) = open_order(&s.app, &s.client, "btcpay", "10").await;
    let (status, answer) = btcpay(&s.app, "InvoiceExpired", &invoice).await;
    assert_eq!((status, answer["result"].as_str()), (200, Some("closed")));
    assert_eq!(order_state(&s.app, &expired).await.0, "expired");
    // Even if BTCPay later reports it settled (paid late), it is not credited automatically.
    s.fake.edit_invoice(&invoice, |i| {
        i["status"] = json!("Settled");
    });
    let (status, answer) = btcpay(&s.app, "InvoiceSettled", &invoice).await;
    assert_eq!(
        (status, error_code(&answer).as_str()),
        (400, "order_not_payable")
    );

    let (invalid, invoice, _) = open_order(&s.app, &s.client, "btcpay", "10").await;
    assert_eq!(btcpay(&s.app, "InvoiceInvalid", &invoice).await.0, 200);
    assert_eq!(order_state(&s.app, &invalid).await.0, "failed");
    let orders = my_orders(&s).await;
    let states: Vec<&str> = orders["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["status"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["failed", "expired"]);
    assert_eq!(s.app.balance(s.user_id).await, "0.000000");
    assert!(s.app.ledger_of(s.user_id).await.is_empty());
}

#[tokio::test]
async fn sixteen_racing_btcpay_deliveries_credit_once() {
    let s = crypto_setup().await;
    let (_, invoice, _) = open_order(&s.app, &s.client, "btcpay", "50").await;
    s.fake.edit_invoice(&invoice, |i| {
        i["status"] = json!("Settled");
    });
    let body = btcpay_event("InvoiceSettled", &invoice);
    let signature = btcpay_signature(BTCPAY_WHSEC, &body);
    let answers = race(
        s.app.url("/api/payments/btcpay/webhook"),
        vec![("btcpay-sig", signature)],
        body,
        16,
    )
    .await;
    let credited = answers
        .iter()
        .filter(|(_, a)| a["result"] == "credited")
        .count();
    assert!(
        answers.iter().all(|(status, _)| *status == 200),
        "{answers:?}"
    );
    assert_eq!(credited, 1);
    assert_eq!(s.app.balance(s.user_id).await, "50.000000");
    assert_eq!(s.app.ledger_of(s.user_id).await.len(), 1);
    assert!(s.app.audit().await.problems.is_empty());
}

#[tokio::test]
async fn nowpayments_invoice_and_signed_ipns_credit_once() {
    let s = crypto_setup().await;
    let (order_no, invoice, url) = open_order(&s.app, &s.client, "nowpayments", "10.25").await;
    assert_eq!(invoice, "4500000001");
    assert_eq!(
        url,
        format!("https://nowpayments.test/payment/?iid={invoice}")
    );
    let sent = &s.fake.received()[0];
    assert_eq!(sent.path, "/v1/invoice");
    assert_eq!(sent.headers["x-api-key"], NOWPAY_KEY);
    assert!(
        sent.body.contains(r#""price_amount":10.25"#),
        "a JSON number: {}",
        sent.body
    );
    let asked: Value = serde_json::from_str(&sent.body).unwrap();
    assert_eq!(asked["price_currency"], "usd");
    assert_eq!(asked["pay_currency"], "usdttrc20");
    assert_eq!(asked["order_id"], order_no.as_str());
    assert_eq!(
        asked["ipn_callback_url"],
        "https://router.example.com/api/payments/nowpayments/ipn"
    );
    assert_eq!(
        asked["success_url"],
        format!("https://router.example.com/console/topup?paid={order_no}")
    );

    let (status, answer) = ipn(&s.app, "waiting", &invoice, &order_no, "10.25").await;
    assert_eq!((status, answer["result"].as_str()), (200, Some("ignored")));
    let (status, answer) = ipn(&s.app, "confirming", &invoice, &order_no, "10.25").await;
    assert_eq!((status, answer["result"].as_str()), (200, Some("updated")));
    assert_eq!(my_orders(&s).await["data"][0]["status"], "processing");
    // Short: shown to the member as partially paid, with what arrived noted; nothing credited.
    let (status, _) = ipn(&s.app, "partially_paid", &invoice, &order_no, "10.25").await;
    assert_eq!(status, 200);
    assert_eq!(my_orders(&s).await["data"][0]["status"], "partially_paid");
    let (state, note) = order_state(&s.app, &order_no).await;
    assert_eq!(state, "partially_paid");
    assert!(note.contains("4.2 of 10.3 USDTTRC20"), "{note}");
    assert_eq!(s.app.balance(s.user_id).await, "0.000000");

    // The rest arrives: finished, credited once; the same IPN again changes nothing.
    let body = nowpayments_ipn("finished", &invoice, &order_no, "10.25", "usd");
    let signature = nowpayments_signature(NOWPAY_IPN, &body);
    let (status, answer) = ipn_post(&s.app, &body, &signature).await;
    assert_eq!(
        (status, answer["result"].as_str()),
        (200, Some("credited")),
        "{answer}"
    );
    let (status, answer) = ipn_post(&s.app, &body, &signature).await;
    assert_eq!(
        (status, answer["result"].as_str()),
        (200, Some("already_paid"))
    );
    let (status, _) = ipn(&s.app, "expired", &invoice, &order_no, "10.25").await;
    assert_eq!(status, 200);
    assert_eq!(order_state(&s.app, &order_no).await.0, "paid");
    assert_eq!(s.app.balance(s.user_id).await, "10.250000");
    assert_eq!(
        s.app.ledger_of(s.user_id).await,
        [("topup".to_string(), "10.250000".to_string())]
    );
    assert!(s.app.audit().await.problems.is_empty());
}

#[tokio::test]
async fn forged_short_and_mismatched_ipns_change_nothing() {
    let s = crypto_setup().await;
    let (order_no, invoice, _) = open_order(&s.app, &s.client, "nowpayments", "20").await;
    let good = nowpayments_ipn("finished", &invoice, &order_no, "20", "usd");

    // Wrong secret; the body changed after signing; the raw (unsorted) body signed; nothing.
    let raw_signed = {
        use hmac::{Hmac, Mac};
        let mut mac = Hmac::<sha2::Sha512>::new_from_slice(NOWPAY_IPN.as_bytes()).unwrap();
        mac.update(good.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    };
    for signature in [
        nowpayments_signature("another-secret", &good),
        nowpayments_signature(
            NOWPAY_IPN,
            &good.replace(r#""price_amount":20"#, r#""price_amount":2"#),
        ),
        raw_signed,
        String::new(),
    ] {
        let (status, answer) = ipn_post(&s.app, &good, &signature).await;
        assert_eq!(
            (status, error_code(&answer).as_str()),
            (400, "invalid_signature")
        );
    }

    // Signed, but not the order's price or currency, another invoice, or no such order.
    let refusals = [
        (
            nowpayments_ipn("finished", &invoice, &order_no, "19.99", "usd"),
            "amount_mismatch",
        ),
        (
            nowpayments_ipn("finished", &invoice, &order_no, "20", "eur"),
            "amount_mismatch",
        ),
        (
            nowpayments_ipn("finished", "4599999999", &order_no, "20", "usd"),
            "reference_mismatch",
        ),
        (
            nowpayments_ipn("finished", &invoice, "crNoSuchOrder", "20", "usd"),
            "unknown_order",
        ),
        ("[1, 2]".to_string(), "invalid_event"),
    ];
    for (body, code) in &refusals {
        let (status, answer) =
            ipn_post(&s.app, body, &nowpayments_signature(NOWPAY_IPN, body)).await;
        assert_eq!(
            (status, error_code(&answer).as_str()),
            (400, *code),
            "{body}"
        );
    }
    assert_eq!(s.app.balance(s.user_id).await, "0.000000");
    assert_eq!(order_state(&s.app, &order_no).await.0, "pending");

    // An expired payment closes the order; a "finished" for it afterwards is refused.
    let (status, answer) = ipn(&s.app, "expired", &invoice, &order_no, "20").await;
    assert_eq!((status, answer["result"].as_str()), (200, Some("closed")));
    let (status, answer) = ipn_post(&s.app, &good, &nowpayments_signature(NOWPAY_IPN, &good)).await;
    assert_eq!(
        (status, error_code(&answer).as_str()),
        (400, "order_not_payable")
    );
    assert_eq!(s.app.balance(s.user_id).await, "0.000000");
    assert!(s.app.ledger_of(s.user_id).await.is_empty());

    // Not configured on a server: 404, whatever is sent.
    let plain = spawn_app().await;
    let (status, answer) = ipn_post(&plain, &good, "00").await;
    assert_eq!((status, error_code(&answer).as_str()), (404, "not_found"));
    let (status, answer) = btcpay_post(&plain, "{}", "sha256=00").await;
    assert_eq!((status, error_code(&answer).as_str()), (404, "not_found"));
}

#[tokio::test]
async fn sixteen_racing_ipns_credit_once() {
    let s = crypto_setup().await;
    let (order_no, invoice, _) = open_order(&s.app, &s.client, "nowpayments", "30").await;
    let body = nowpayments_ipn("finished", &invoice, &order_no, "30", "usd");
    let signature = nowpayments_signature(NOWPAY_IPN, &body);
    let answers = race(
        s.app.url("/api/payments/nowpayments/ipn"),
        vec![("x-nowpayments-sig", signature)],
        body,
        16,
    )
    .await;
    assert!(
        answers.iter().all(|(status, _)| *status == 200),
        "{answers:?}"
    );
    assert_eq!(
        answers
            .iter()
            .filter(|(_, a)| a["result"] == "credited")
            .count(),
        1
    );
    assert_eq!(s.app.balance(s.user_id).await, "30.000000");
    assert!(s.app.audit().await.problems.is_empty());
}

#[tokio::test]
async fn an_epay_compatible_usdt_gateway_works_through_payments_epay() {
    let s = crypto_setup().await;
    let (status, body) = json_of(
        s.client
            .post(s.app.url("/api/topup/checkout"))
            .json(&json!({"method": "epay", "amount": "10.01", "type": "usdt"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let order_no = body["order_id"].as_str().unwrap().to_string();
    let url = body["url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("{}/submit.php?", s.fake.base)),
        "{url}"
    );

    // The browser goes to the gateway, which checks our MD5 sign (a bad one is refused).
    let tampered = url.replace("money=72.08", "money=1.00");
    assert_eq!(reqwest::get(&tampered).await.unwrap().status(), 400);
    assert_eq!(reqwest::get(url).await.unwrap().status(), 200);
    let sent = s.fake.epay_order(&order_no).unwrap();
    assert_eq!(sent["type"], "usdt");
    assert_eq!(
        sent["money"], "72.08",
        "10.01 × 7.2 CNY, rounded up to the fen"
    );
    assert_eq!(sent["pid"], "2002");
    assert_eq!(
        sent["notify_url"],
        "https://router.example.com/api/payments/epay/notify"
    );

    // The gateway's notify goes to notify_url; point it at this test server instead.
    let local = s.app.url("/api/payments/epay/notify");
    let fake = s.fake.clone();
    let notify = |money: &'static str, trade: &'static str| {
        let (fake, order_no, local) = (fake.clone(), order_no.clone(), local.clone());
        async move {
            fake.retarget_epay(&order_no, &local);
            fake.epay_pay(&order_no, trade, money).await
        }
    };
    assert_eq!(
        notify("72.07", "USDT-T1").await,
        (400, "fail".into()),
        "a short payment"
    );
    assert_eq!(notify("72.08", "USDT-T1").await, (200, "success".into()));
    assert_eq!(
        notify("72.08", "USDT-T1").await,
        (200, "success".into()),
        "a repeat"
    );
    assert_eq!(s.app.balance(s.user_id).await, "10.010000");
    let orders = my_orders(&s).await;
    assert_eq!(orders["data"][0]["type"], "usdt");
    assert_eq!(orders["data"][0]["status"], "paid");
    assert_eq!(s.app.ledger_of(s.user_id).await.len(), 1);
    assert!(s.app.audit().await.problems.is_empty());

    // A gateway naming its types by chain is a valid config too.
    let text = format!(
        "[payments.epay]\nenabled = true\npid = \"7\"\nkey = \"k\"\ngateway_url = \"{}\"\n\
         currency = \"usd\"\nrate = \"1\"\ntypes = [\"usdt.trc20\", \"usdt.erc20\"]\n",
        s.fake.base
    );
    let config = Config::parse(&text, "c.toml").unwrap();
    assert_eq!(config.payments.epay.types, ["usdt.trc20", "usdt.erc20"]);
    assert!(Config::parse(&text.replace("usdt.trc20", "usdt trc20"), "c.toml").is_err());
}

#[test]
fn crypto_config_errors_name_the_key() {
    let cases = [
        ("[payments.btcpay]\nenabled = true\nstore_id = \"S\"\napi_key = \"k\"\nwebhook_secret = \"w\"\n", "payments.btcpay.api_base"),
        ("[payments.btcpay]\nenabled = true\napi_base = \"https://b\"\napi_key = \"k\"\nwebhook_secret = \"w\"\n", "payments.btcpay.store_id"),
        ("[payments.btcpay]\nenabled = true\napi_base = \"https://b\"\nstore_id = \"S\"\nwebhook_secret = \"w\"\n", "payments.btcpay.api_key"),
        ("[payments.btcpay]\nenabled = true\napi_base = \"https://b\"\nstore_id = \"S\"\napi_key = \"k\"\n", "payments.btcpay.webhook_secret"),
        ("[payments.btcpay]\nenabled = true\napi_base = \"ftp://b\"\nstore_id = \"S\"\napi_key = \"k\"\nwebhook_secret = \"w\"\n", "payments.btcpay.api_base"),
        ("[payments.nowpayments]\nenabled = true\napi_key = \"k\"\n", "payments.nowpayments.ipn_secret"),
        ("[payments.nowpayments]\nenabled = true\napi_key = \"k\"\nipn_secret = \"i\"\nmin_amount = \"0\"\n", "payments.nowpayments.min_amount"),
        ("[payments.nowpayments]\nenabled = true\napi_key = \"k\"\nipn_secret = \"i\"\npay_currency = \"usdt trc20\"\n", "payments.nowpayments.pay_currency"),
        ("[payments.nowpayments]\nipn_key = \"x\"\n", "ipn_key"),
    ];
    for (text, want) in cases {
        let err = Config::parse(text, "c.toml").unwrap_err().0;
        assert!(err.contains(want), "{text}\n→ {err}");
    }
    let by_env = Config::parse(
        "[payments.nowpayments]\nenabled = true\napi_key = \"k\"\nipn_secret_env = \"CR_TEST_UNSET_IPN\"\n",
        "c.toml",
    )
    .unwrap();
    let unset = by_env.payments.unset_secrets();
    assert_eq!(unset.len(), 1);
    assert!(unset[0].contains("payments.nowpayments.ipn_secret_env"));
}

/// `config.example.toml` states the defaults of the crypto and referral sections, key for key.
#[test]
fn the_example_config_states_the_crypto_and_referral_defaults() {
    let text = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/config.example.toml"));
    let example = Config::parse(text, "config.example.toml").unwrap();
    let defaults = Config::default();
    assert_eq!(
        format!("{:?}", example.payments.btcpay),
        format!("{:?}", defaults.payments.btcpay)
    );
    assert_eq!(
        format!("{:?}", example.payments.nowpayments),
        format!("{:?}", defaults.payments.nowpayments)
    );
    assert_eq!(
        format!("{:?}", example.referral),
        format!("{:?}", defaults.referral)
    );
    for key in [
        "commission_percent",
        "commission_topups",
        "commission_on_codes",
        "ipn_secret_env",
        "store_id",
        "pay_currency",
    ] {
        assert!(text.contains(&format!("\n{key} = ")), "{key} is listed");
    }
}
