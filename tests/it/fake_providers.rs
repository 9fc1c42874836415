//! Local fakes of the payment providers' APIs: an axum server on 127.0.0.1:0 that records what it
//! received and answers like Stripe (`POST /v1/checkout/sessions`), Creem (`POST /v1/checkouts`),
//! BTCPay Server's Greenfield invoices (create and read back), NOWPayments (`POST /v1/invoice`)
//! and an EPay-compatible USDT gateway (`/submit.php`, which checks our signature and later sends
//! the notify), plus the signing the providers do on their callbacks, written here independently
//! of the server.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use serde_json::{json, Value};
use sha2::{Sha256, Sha512};

pub const STRIPE_KEY: &str = "sk_test_fake";
pub const STRIPE_WHSEC: &str = "whsec_fake_stripe";
pub const CREEM_KEY: &str = "creem_test_fake";
pub const CREEM_WHSEC: &str = "whsec_fake_creem";
pub const EPAY_KEY: &str = "epay-merchant-key";
pub const BTCPAY_KEY: &str = "btcpay-greenfield-key";
pub const BTCPAY_STORE: &str = "StoreFake1";
pub const BTCPAY_WHSEC: &str = "btcpay-webhook-secret";
pub const NOWPAY_KEY: &str = "NOWPAY-FAKE-KEY";
pub const NOWPAY_IPN: &str = "nowpayments-ipn-secret";

/// One request the fake received.
#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    pub headers: HeaderMap,
    pub body: String,
}

#[derive(Default)]
struct Inner {
    received: Mutex<Vec<Received>>,
    count: AtomicUsize,
    failing: AtomicBool,
    /// BTCPay invoices by id, as the read-back answers them.
    invoices: Mutex<HashMap<String, Value>>,
    /// The EPay gateway's view of each order it was sent: the parameters of `/submit.php`.
    epay_orders: Mutex<HashMap<String, BTreeMap<String, String>>>,
}

#[derive(Clone)]
pub struct FakeProvider {
    pub base: String,
    inner: Arc<Inner>,
}

impl FakeProvider {
    pub async fn start() -> FakeProvider {
        let inner = Arc::new(Inner::default());
        let app = Router::new()
            .route("/v1/checkout/sessions", post(stripe_session))
            .route("/v1/checkouts", post(creem_checkout))
            .route("/api/v1/stores/{store}/invoices", post(btcpay_create))
            .route("/api/v1/stores/{store}/invoices/{id}", get(btcpay_read))
            .route("/v1/invoice", post(nowpayments_invoice))
            .route("/submit.php", get(epay_submit))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeProvider {
            base: format!("http://{addr}"),
            inner,
        }
    }

    pub fn received(&self) -> Vec<Received> {
        self.inner.received.lock().unwrap().clone()
    }

    /// From now on every API call answers 500.
    pub fn fail(&self) {
        self.inner.failing.store(true, Ordering::SeqCst);
    }

    /// Changes what reading BTCPay invoice `id` back answers (its status, amount, ...).
    pub fn edit_invoice(&self, id: &str, edit: impl FnOnce(&mut Value)) {
        let mut invoices = self.inner.invoices.lock().unwrap();
        edit(
            invoices
                .get_mut(id)
                .expect("a BTCPay invoice the fake made"),
        );
    }

    /// How many times BTCPay invoices were read back.
    pub fn invoice_reads(&self) -> usize {
        self.received()
            .iter()
            .filter(|r| r.path.starts_with("GET "))
            .count()
    }

    /// The parameters the EPay gateway was sent for `order_no`, once the browser got there.
    pub fn epay_order(&self, order_no: &str) -> Option<BTreeMap<String, String>> {
        self.inner
            .epay_orders
            .lock()
            .unwrap()
            .get(order_no)
            .cloned()
    }

    /// Delivers the gateway's notify for `order_no` to `url` instead of the `notify_url` it was
    /// given (which names the server's public address, not the test's port).
    pub fn retarget_epay(&self, order_no: &str, url: &str) {
        if let Some(order) = self.inner.epay_orders.lock().unwrap().get_mut(order_no) {
            order.insert("notify_url".into(), url.into());
        }
    }

    /// The EPay gateway reports `order_no` paid with `money`: its signed async notify, posted as
    /// a form to the `notify_url` it was given. Returns the status and the text answered.
    pub async fn epay_pay(&self, order_no: &str, trade_no: &str, money: &str) -> (u16, String) {
        let order = self
            .epay_order(order_no)
            .expect("the browser reached the gateway");
        let mut params = vec![
            ("pid", order["pid"].clone()),
            ("trade_no", trade_no.to_string()),
            ("out_trade_no", order_no.to_string()),
            ("type", order["type"].clone()),
            ("name", order["name"].clone()),
            ("money", money.to_string()),
            ("trade_status", "TRADE_SUCCESS".to_string()),
        ];
        let sign = epay_sign(&params, EPAY_KEY);
        params.push(("sign", sign));
        params.push(("sign_type", "MD5".to_string()));
        let r = reqwest::Client::new()
            .post(&order["notify_url"])
            .form(&params)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }
}

fn record(inner: &Inner, path: &str, headers: &HeaderMap, body: &Bytes) -> usize {
    inner.received.lock().unwrap().push(Received {
        path: path.into(),
        headers: headers.clone(),
        body: String::from_utf8_lossy(body).into_owned(),
    });
    inner.count.fetch_add(1, Ordering::SeqCst) + 1
}

async fn stripe_session(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, Json<Value>) {
    let n = record(&inner, "/v1/checkout/sessions", &headers, &body);
    if inner.failing.load(Ordering::SeqCst) {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"error": {"message": "fake outage"}})),
        );
    }
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if auth != format!("Bearer {STRIPE_KEY}") {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": {"message": "Invalid API Key provided"}})),
        );
    }
    let id = format!("cs_test_{n}");
    (
        StatusCode::OK,
        Json(json!({
            "id": id, "object": "checkout.session", "mode": "payment",
            "url": format!("https://checkout.stripe.test/c/pay/{id}"),
        })),
    )
}

async fn creem_checkout(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, Json<Value>) {
    let n = record(&inner, "/v1/checkouts", &headers, &body);
    if inner.failing.load(Ordering::SeqCst) {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"error": "fake outage"})),
        );
    }
    if headers.get("x-api-key").and_then(|v| v.to_str().ok()) != Some(CREEM_KEY) {
        return (StatusCode::FORBIDDEN, Json(json!({"error": "Forbidden"})));
    }
    let id = format!("ch_fake_{n}");
    (
        StatusCode::OK,
        Json(json!({
            "id": id, "object": "checkout", "status": "pending",
            "checkout_url": format!("https://checkout.creem.test/{id}"),
        })),
    )
}

fn hmac_hex(secret: &str, parts: &[&[u8]]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    for p in parts {
        mac.update(p);
    }
    hex::encode(mac.finalize().into_bytes())
}

/// `Stripe-Signature` for `body` signed at `t`.
pub fn stripe_signature(secret: &str, t: i64, body: &str) -> String {
    let v1 = hmac_hex(secret, &[t.to_string().as_bytes(), b".", body.as_bytes()]);
    format!("t={t},v1={v1}")
}

/// `creem-signature` for `body`.
pub fn creem_signature(secret: &str, body: &str) -> String {
    hmac_hex(secret, &[body.as_bytes()])
}

/// A `checkout.session.completed` event as Stripe sends it.
pub fn stripe_completed(
    session_id: &str,
    order_no: &str,
    amount_total: i64,
    currency: &str,
    status: &str,
) -> String {
    json!({
        "id": format!("evt_{session_id}"),
        "object": "event",
        "type": "checkout.session.completed",
        "data": { "object": {
            "id": session_id, "object": "checkout.session",
            "client_reference_id": order_no,
            "metadata": { "order_id": order_no },
            "amount_total": amount_total, "currency": currency,
            "payment_status": status, "status": "complete", "mode": "payment",
        }}
    })
    .to_string()
}

/// A `checkout.completed` event as Creem sends it.
pub fn creem_completed(checkout_id: &str, order_no: &str, amount: i64, currency: &str) -> String {
    json!({
        "id": format!("evt_{checkout_id}"),
        "eventType": "checkout.completed",
        "created_at": 1_728_734_325_927_i64,
        "object": {
            "id": checkout_id, "object": "checkout", "request_id": order_no, "status": "completed",
            "order": { "id": "ord_fake", "amount": amount, "currency": currency, "status": "paid", "type": "onetime" },
            "metadata": { "order_id": order_no },
        }
    })
    .to_string()
}

/// EPay's signature over `params` (sorted, without sign/sign_type/empty values, then the key).
pub fn epay_sign(params: &[(&str, String)], key: &str) -> String {
    let mut sorted: Vec<_> = params
        .iter()
        .filter(|(k, v)| !v.is_empty() && *k != "sign" && *k != "sign_type")
        .collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let text = sorted
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    hex::encode(Md5::digest(format!("{text}{key}").as_bytes()))
}

/// A signed EPay notify for an order, as form/query parameters.
pub fn epay_notify(
    pid: &str,
    order_no: &str,
    trade_no: &str,
    money: &str,
    status: &str,
    key: &str,
) -> Vec<(&'static str, String)> {
    let mut params = vec![
        ("pid", pid.to_string()),
        ("trade_no", trade_no.to_string()),
        ("out_trade_no", order_no.to_string()),
        ("type", "alipay".to_string()),
        ("name", "Code Router top-up".to_string()),
        ("money", money.to_string()),
        ("trade_status", status.to_string()),
    ];
    let sign = epay_sign(&params, key);
    params.push(("sign", sign));
    params.push(("sign_type", "MD5".to_string()));
    params
}

fn fake_outage(inner: &Inner) -> Option<(StatusCode, Json<Value>)> {
    inner.failing.load(Ordering::SeqCst).then(|| {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"message": "fake outage"})),
        )
    })
}

fn btcpay_authorized(headers: &HeaderMap, store: &str) -> bool {
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
    auth == Some(format!("token {BTCPAY_KEY}").as_str()) && store == BTCPAY_STORE
}

async fn btcpay_create(
    State(inner): State<Arc<Inner>>,
    Path(store): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, Json<Value>) {
    let n = record(&inner, "POST /api/v1/stores/invoices", &headers, &body);
    if let Some(outage) = fake_outage(&inner) {
        return outage;
    }
    if !btcpay_authorized(&headers, &store) {
        return (
            StatusCode::FORBIDDEN,
            Json(json!({"code": "missing-permission"})),
        );
    }
    let asked: Value = serde_json::from_slice(&body).unwrap();
    let id = format!("BtcInv{n}");
    let invoice = json!({
        "id": id, "storeId": store, "status": "New", "additionalStatus": "None",
        "amount": asked["amount"], "currency": asked["currency"], "type": "Standard",
        "checkoutLink": format!("https://btcpay.test/i/{id}"),
        "metadata": asked["metadata"], "checkout": asked["checkout"],
        "createdTime": 1_700_000_000, "expirationTime": 1_700_000_900,
    });
    inner.invoices.lock().unwrap().insert(id, invoice.clone());
    (StatusCode::OK, Json(invoice))
}

async fn btcpay_read(
    State(inner): State<Arc<Inner>>,
    Path((store, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> (StatusCode, Json<Value>) {
    record(
        &inner,
        &format!("GET /api/v1/stores/invoices/{id}"),
        &headers,
        &Bytes::new(),
    );
    if let Some(outage) = fake_outage(&inner) {
        return outage;
    }
    if !btcpay_authorized(&headers, &store) {
        return (
            StatusCode::FORBIDDEN,
            Json(json!({"code": "missing-permission"})),
        );
    }
    match inner.invoices.lock().unwrap().get(&id) {
        Some(invoice) => (StatusCode::OK, Json(invoice.clone())),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"code": "invoice-not-found", "message": "The invoice was not found"})),
        ),
    }
}

async fn nowpayments_invoice(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, Json<Value>) {
    let n = record(&inner, "/v1/invoice", &headers, &body);
    if let Some(outage) = fake_outage(&inner) {
        return outage;
    }
    if headers.get("x-api-key").and_then(|v| v.to_str().ok()) != Some(NOWPAY_KEY) {
        return (
            StatusCode::FORBIDDEN,
            Json(
                json!({"statusCode": 403, "code": "INVALID_API_KEY", "message": "Invalid api key"}),
            ),
        );
    }
    let asked: Value = serde_json::from_slice(&body).unwrap();
    let id = (4_500_000_000_i64 + n as i64).to_string();
    (
        StatusCode::OK,
        Json(json!({
            "id": id, "token_id": "tok", "order_id": asked["order_id"],
            "order_description": asked["order_description"],
            // The API answers the price as a string.
            "price_amount": asked["price_amount"].to_string(), "price_currency": asked["price_currency"],
            "pay_currency": asked.get("pay_currency").cloned().unwrap_or(Value::Null),
            "ipn_callback_url": asked["ipn_callback_url"],
            "invoice_url": format!("https://nowpayments.test/payment/?iid={id}"),
            "success_url": asked["success_url"], "cancel_url": asked["cancel_url"],
            "created_at": "2024-01-01T00:00:00.000Z", "updated_at": "2024-01-01T00:00:00.000Z",
        })),
    )
}

/// The gateway's checkout page: refuses a request whose MD5 sign is not ours.
async fn epay_submit(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> (StatusCode, String) {
    let query = query.unwrap_or_default();
    record(&inner, "/submit.php", &headers, &Bytes::from(query.clone()));
    let params: BTreeMap<String, String> = serde_urlencoded::from_str(&query).unwrap();
    let pairs: Vec<(&str, String)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    if params.get("sign") != Some(&epay_sign(&pairs, EPAY_KEY)) {
        return (StatusCode::BAD_REQUEST, "签名错误 (bad sign)".into());
    }
    let order = params["out_trade_no"].clone();
    inner
        .epay_orders
        .lock()
        .unwrap()
        .insert(order.clone(), params);
    (StatusCode::OK, format!("<h1>Pay {order} in USDT</h1>"))
}

/// `BTCPay-Sig` for `body`.
pub fn btcpay_signature(secret: &str, body: &str) -> String {
    format!("sha256={}", hmac_hex(secret, &[body.as_bytes()]))
}

/// A BTCPay webhook event about an invoice of the fake store.
pub fn btcpay_event(kind: &str, invoice_id: &str) -> String {
    json!({
        "deliveryId": format!("dlv_{invoice_id}_{kind}"), "webhookId": "wh_fake",
        "originalDeliveryId": format!("dlv_{invoice_id}_{kind}"), "isRedelivery": false,
        "type": kind, "timestamp": 1_700_000_100, "storeId": BTCPAY_STORE,
        "invoiceId": invoice_id, "metadata": {}, "manuallyMarked": false, "overPaid": false,
    })
    .to_string()
}

/// `x-nowpayments-sig` for `body`: the body parsed, its keys sorted at every depth (what
/// `serde_json::Value` does by itself), written compactly, HMAC-SHA512 in hex.
pub fn nowpayments_signature(secret: &str, body: &str) -> String {
    let sorted = serde_json::to_string(&serde_json::from_str::<Value>(body).unwrap()).unwrap();
    let mut mac = Hmac::<Sha512>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(sorted.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// A NOWPayments IPN as it arrives: keys NOT in order, a nested object, numbers as numbers.
pub fn nowpayments_ipn(
    status: &str,
    invoice_id: &str,
    order_no: &str,
    price_amount: &str,
    price_currency: &str,
) -> String {
    format!(
        r#"{{"payment_id":5077125051,"payment_status":"{status}","pay_address":"TXfakeaddress","price_amount":{price_amount},"price_currency":"{price_currency}","pay_amount":10.3,"actually_paid":{paid},"pay_currency":"usdttrc20","order_id":"{order_no}","order_description":"Code Router top-up","purchase_id":"6084744717","outcome_amount":10.1,"outcome_currency":"usdttrc20","invoice_id":{invoice_id},"fee":{{"withdrawalFee":0,"currency":"usdttrc20","depositFee":0,"serviceFee":0.05}},"parent_payment_id":null,"updated_at":1703760054813}}"#,
        paid = if status == "partially_paid" {
            "4.2"
        } else {
            "10.3"
        },
    )
}
