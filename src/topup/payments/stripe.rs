//! Stripe: a Checkout Session through its HTTP API, and the `Stripe-Signature`-verified webhook
//! that says a session was paid, expired or failed.

use std::time::Duration;

use hmac::{Hmac, Mac};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::Value;
use sha2::Sha256;

use super::orders::{Callback, Payment};
use super::{
    check_limits, check_secret, dollars, rate_one, resolve_secret, Limits, Provider, Quote,
};
use crate::error::ApiError;
use crate::ledger::money::Money;
use crate::pricing::Rate;

/// How far a signed timestamp may be from our clock, as Stripe's own libraries allow.
pub const TOLERANCE_SECS: i64 = 300;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StripeConfig {
    pub enabled: bool,
    pub secret_key: String,
    pub secret_key_env: String,
    pub webhook_secret: String,
    pub webhook_secret_env: String,
    pub api_base: String,
    pub currency: String,
    pub rate: Rate,
    pub min_amount: Money,
    pub max_amount: Money,
    pub presets: Vec<Money>,
    pub product_name: String,
}

impl Default for StripeConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            secret_key: String::new(),
            secret_key_env: String::new(),
            webhook_secret: String::new(),
            webhook_secret_env: String::new(),
            api_base: "https://api.stripe.com".into(),
            currency: "usd".into(),
            rate: rate_one(),
            min_amount: dollars(5),
            max_amount: dollars(10_000),
            presets: vec![dollars(5), dollars(10), dollars(20), dollars(50)],
            product_name: "Code Router balance top-up".into(),
        }
    }
}

impl StripeConfig {
    pub fn limits(&self) -> Limits {
        Limits {
            currency: self.currency.to_ascii_lowercase(),
            rate: self.rate.0,
            min_amount: self.min_amount,
            max_amount: self.max_amount,
            presets: self.presets.clone(),
        }
    }

    pub fn secret_key(&self) -> String {
        resolve_secret(&self.secret_key, &self.secret_key_env)
    }

    pub fn webhook_secret(&self) -> String {
        resolve_secret(&self.webhook_secret, &self.webhook_secret_env)
    }

    pub(crate) fn check(&self) -> Result<(), (String, String)> {
        check_secret(
            "stripe",
            "secret_key",
            &self.secret_key,
            &self.secret_key_env,
        )?;
        check_secret(
            "stripe",
            "webhook_secret",
            &self.webhook_secret,
            &self.webhook_secret_env,
        )?;
        check_base("stripe", "api_base", &self.api_base)?;
        check_limits("stripe", &self.limits())
    }
}

pub(crate) fn check_base(section: &str, key: &str, url: &str) -> Result<(), (String, String)> {
    if url.starts_with("http://") || url.starts_with("https://") {
        Ok(())
    } else {
        Err((
            format!("payments.{section}.{key}"),
            "must start with http:// or https://".into(),
        ))
    }
}

/// A checkout the provider created: its id and the page to send the browser to.
#[derive(Debug, Clone)]
pub struct Checkout {
    pub provider_ref: String,
    pub url: String,
}

#[derive(Deserialize)]
struct SessionCreated {
    id: String,
    url: Option<String>,
}

/// The form Stripe's `POST /v1/checkout/sessions` takes for one order.
pub fn session_form(
    config: &StripeConfig,
    order_no: &str,
    quote: &Quote,
    public_url: &str,
) -> Vec<(&'static str, String)> {
    let base = public_url.trim_end_matches('/');
    vec![
        ("mode", "payment".into()),
        (
            "line_items[0][price_data][currency]",
            quote.currency.clone(),
        ),
        (
            "line_items[0][price_data][unit_amount]",
            quote.pay_minor.to_string(),
        ),
        (
            "line_items[0][price_data][product_data][name]",
            config.product_name.clone(),
        ),
        ("line_items[0][quantity]", "1".into()),
        ("client_reference_id", order_no.into()),
        ("metadata[order_id]", order_no.into()),
        (
            "success_url",
            format!("{base}/console/topup?paid={order_no}"),
        ),
        (
            "cancel_url",
            format!("{base}/console/topup?cancelled={order_no}"),
        ),
    ]
}

/// Creates the Checkout Session. The order number doubles as Stripe's idempotency key, so a
/// retried call cannot open a second session for the same order. Errors are for the log.
pub async fn create_checkout(
    http: &reqwest::Client,
    config: &StripeConfig,
    order_no: &str,
    quote: &Quote,
    public_url: &str,
) -> Result<Checkout, String> {
    let form = serde_urlencoded::to_string(session_form(config, order_no, quote, public_url))
        .map_err(|e| format!("stripe: encoding the session form: {e}"))?;
    let key = config.secret_key();
    if key.is_empty() {
        return Err("stripe: no secret key (is the variable named by secret_key_env set?)".into());
    }
    let url = format!(
        "{}/v1/checkout/sessions",
        config.api_base.trim_end_matches('/')
    );
    let response = http
        .post(&url)
        .bearer_auth(key)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("idempotency-key", order_no)
        .timeout(Duration::from_secs(20))
        .body(form)
        .send()
        .await
        .map_err(|e| format!("stripe: POST {url}: {e}"))?;
    let status = response.status();
    let text = response
        .text()
        .await
        .map_err(|e| format!("stripe: reading the answer: {e}"))?;
    if !status.is_success() {
        return Err(format!(
            "stripe: POST {url} answered {status}: {}",
            clip(&text)
        ));
    }
    let created: SessionCreated = serde_json::from_str(&text)
        .map_err(|e| format!("stripe: unexpected answer ({e}): {}", clip(&text)))?;
    let url = created
        .url
        .filter(|u| !u.is_empty())
        .ok_or_else(|| format!("stripe: session {} has no url", created.id))?;
    Ok(Checkout {
        provider_ref: created.id,
        url,
    })
}

pub(crate) fn clip(text: &str) -> String {
    text.chars().take(300).collect()
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing or malformed Stripe-Signature header")]
    Malformed,
    #[error("no v1 signature matches the body")]
    Mismatch,
    #[error("signed timestamp is outside the {TOLERANCE_SECS} s tolerance")]
    Stale,
}

type HmacSha256 = Hmac<Sha256>;

/// Checks a `Stripe-Signature` header (`t=...,v1=...[,v1=...]`): HMAC-SHA256 of `{t}.{body}`
/// with the endpoint secret must equal one of the `v1` values (compared in constant time),
/// and `t` must be within [`TOLERANCE_SECS`] of `now`.
pub fn verify_signature(
    header: &str,
    body: &[u8],
    secret: &str,
    now: i64,
) -> Result<(), SignatureError> {
    let mut timestamp: Option<&str> = None;
    let mut candidates = Vec::new();
    for part in header.split(',') {
        let Some((key, value)) = part.trim().split_once('=') else {
            continue;
        };
        match key {
            "t" if timestamp.is_none() => timestamp = Some(value),
            "v1" => {
                if let Ok(bytes) = hex::decode(value) {
                    candidates.push(bytes);
                }
            }
            _ => {}
        }
    }
    let t = timestamp.ok_or(SignatureError::Malformed)?;
    if t.is_empty() || t.len() > 12 || !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SignatureError::Malformed);
    }
    let signed_at: i64 = t.parse().map_err(|_| SignatureError::Malformed)?;
    if candidates.is_empty() || secret.is_empty() {
        return Err(SignatureError::Malformed);
    }
    let mut mac =
        HmacSha256::new_from_slice(secret.as_bytes()).map_err(|_| SignatureError::Malformed)?;
    mac.update(t.as_bytes());
    mac.update(b".");
    mac.update(body);
    // Every candidate is compared, so timing says nothing about which (if any) matched.
    let matched = candidates
        .iter()
        .fold(false, |acc, c| mac.clone().verify_slice(c).is_ok() | acc);
    if !matched {
        return Err(SignatureError::Mismatch);
    }
    if (now - signed_at).abs() > TOLERANCE_SECS {
        return Err(SignatureError::Stale);
    }
    Ok(())
}

/// The `Stripe-Signature` value for `body` at time `t`, as Stripe computes it (for tools and tests).
pub fn sign(secret: &str, t: i64, body: &[u8]) -> String {
    let mut mac = match HmacSha256::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

#[derive(Deserialize)]
struct Event {
    #[serde(rename = "type")]
    kind: String,
    data: EventData,
}

#[derive(Deserialize)]
struct EventData {
    object: Value,
}

#[derive(Deserialize)]
struct Session {
    id: String,
    #[serde(default)]
    client_reference_id: Option<String>,
    #[serde(default)]
    metadata: Option<Value>,
    #[serde(default)]
    amount_total: Option<i64>,
    #[serde(default)]
    currency: Option<String>,
    #[serde(default)]
    payment_status: Option<String>,
}

/// What a verified event asks of us. Events we do not act on are `Ignored`, and answered 200
/// so that Stripe stops sending them.
pub fn interpret_event(body: &[u8]) -> Result<Callback, ApiError> {
    let event: Event = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request("invalid_event", format!("not a Stripe event: {e}")))?;
    let paid = matches!(
        event.kind.as_str(),
        "checkout.session.completed" | "checkout.session.async_payment_succeeded"
    );
    let closed = match event.kind.as_str() {
        "checkout.session.expired" => Some("expired"),
        "checkout.session.async_payment_failed" => Some("failed"),
        _ => None,
    };
    if !paid && closed.is_none() {
        return Ok(Callback::Ignored(format!("event {}", event.kind)));
    }
    let session: Session = serde_json::from_value(event.data.object).map_err(|e| {
        ApiError::bad_request("invalid_event", format!("not a checkout session: {e}"))
    })?;
    let from_metadata = session
        .metadata
        .as_ref()
        .and_then(|m| m.get("order_id"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let order_no = match (from_metadata, session.client_reference_id) {
        (Some(a), Some(b)) if a != b => {
            return Err(ApiError::bad_request(
                "unknown_order",
                "metadata and client_reference_id name different orders",
            ))
        }
        (Some(a), _) | (None, Some(a)) => a,
        (None, None) => {
            return Ok(Callback::Ignored(format!(
                "session {} names no order of ours",
                session.id
            )))
        }
    };
    if let Some(status) = closed {
        return Ok(Callback::Closed {
            provider: Provider::Stripe,
            order_no: Some(order_no),
            provider_ref: session.id,
            status,
            note: format!("stripe: {}", event.kind),
        });
    }
    if session.payment_status.as_deref() != Some("paid") {
        return Ok(Callback::Ignored(format!(
            "session {} completed but payment_status is {}",
            session.id,
            session.payment_status.as_deref().unwrap_or("missing")
        )));
    }
    let (Some(amount), Some(currency)) = (session.amount_total, session.currency) else {
        return Err(ApiError::bad_request(
            "invalid_event",
            "paid session without amount_total or currency",
        ));
    };
    let currency = currency.to_ascii_lowercase();
    Ok(Callback::Paid(Payment {
        provider: Provider::Stripe,
        order_no,
        provider_ref: session.id,
        paid: Decimal::new(amount, super::currency_decimals(&currency)),
        currency,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test";
    const BODY: &[u8] = br#"{"type":"checkout.session.completed"}"#;

    #[test]
    fn a_good_signature_passes() {
        let header = sign(SECRET, 1_000, BODY);
        assert_eq!(verify_signature(&header, BODY, SECRET, 1_000), Ok(()));
        assert_eq!(verify_signature(&header, BODY, SECRET, 1_300), Ok(()));
        assert_eq!(verify_signature(&header, BODY, SECRET, 700), Ok(()));
    }

    #[test]
    fn any_of_several_v1_values_may_match() {
        let good = sign(SECRET, 1_000, BODY);
        let v1 = good.split("v1=").nth(1).unwrap();
        let header = format!("t=1000,v1={},v0=abc,v1={v1}", "00".repeat(32));
        assert_eq!(verify_signature(&header, BODY, SECRET, 1_000), Ok(()));
    }

    #[test]
    fn tampering_staleness_and_junk_are_refused() {
        let header = sign(SECRET, 1_000, BODY);
        let other_body = br#"{"type":"checkout.session.completed "}"#;
        assert_eq!(
            verify_signature(&header, other_body, SECRET, 1_000),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(&header, BODY, "whsec_other", 1_000),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(&header, BODY, SECRET, 1_301),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify_signature(&header, BODY, SECRET, 699),
            Err(SignatureError::Stale)
        );
        // A signature made for another timestamp does not carry over.
        let moved = header.replace("t=1000", "t=1001");
        assert_eq!(
            verify_signature(&moved, BODY, SECRET, 1_000),
            Err(SignatureError::Mismatch)
        );
        for junk in [
            "",
            "t=1000",
            "v1=00",
            "t=abc,v1=00",
            "t=-5,v1=00",
            "garbage",
        ] {
            assert_eq!(
                verify_signature(junk, BODY, SECRET, 1_000),
                Err(SignatureError::Malformed),
                "{junk}"
            );
        }
    }

    #[test]
    fn events_become_callbacks() {
        let body = br#"{"id":"evt_1","type":"checkout.session.completed","data":{"object":{
            "id":"cs_1","object":"checkout.session","client_reference_id":"crA","metadata":{"order_id":"crA"},
            "amount_total":1025,"currency":"USD","payment_status":"paid"}}}"#;
        match interpret_event(body).unwrap() {
            Callback::Paid(p) => {
                assert_eq!(p.order_no, "crA");
                assert_eq!(p.provider_ref, "cs_1");
                assert_eq!(p.paid.to_string(), "10.25");
                assert_eq!(p.currency, "usd");
            }
            _ => panic!("expected a payment"),
        }
        let unpaid = br#"{"type":"checkout.session.completed","data":{"object":{"id":"cs_1",
            "client_reference_id":"crA","amount_total":1025,"currency":"usd","payment_status":"unpaid"}}}"#;
        assert!(matches!(
            interpret_event(unpaid).unwrap(),
            Callback::Ignored(_)
        ));
        let other = br#"{"type":"charge.succeeded","data":{"object":{}}}"#;
        assert!(matches!(
            interpret_event(other).unwrap(),
            Callback::Ignored(_)
        ));
        assert!(interpret_event(b"not json").is_err());
    }
}
