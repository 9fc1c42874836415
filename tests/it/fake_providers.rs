//! Local fakes of the payment providers' APIs: an axum server on 127.0.0.1:0 that records what it
//! received and answers like Stripe (`POST /v1/checkout/sessions`) and Creem (`POST /v1/checkouts`),
//! plus the signing the providers do on their callbacks, written here independently of the server.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use serde_json::{json, Value};
use sha2::Sha256;

pub const STRIPE_KEY: &str = "sk_test_fake";
pub const STRIPE_WHSEC: &str = "whsec_fake_stripe";
pub const CREEM_KEY: &str = "creem_test_fake";
pub const CREEM_WHSEC: &str = "whsec_fake_creem";
pub const EPAY_KEY: &str = "epay-merchant-key";

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
