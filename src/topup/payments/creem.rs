//! Creem: a checkout for a fixed-price product through its API, and the `creem-signature`-verified
//! `checkout.completed` webhook.
//!
//! A Creem product has a fixed price, so, as new-api does, the operator lists one product per
//! amount on offer (`[[payments.creem.products]]`); those amounts are the method's presets and
//! no other amount can be bought through Creem.

use std::time::Duration;

use hmac::{Hmac, Mac};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::Sha256;

use super::orders::{Callback, Payment};
use super::stripe::{check_base, clip, Checkout};
use super::{
    check_limits, check_secret, currency_decimals, rate_one, resolve_secret, Limits, Provider,
    Quote,
};
use crate::error::ApiError;
use crate::ledger::money::Money;
use crate::pricing::Rate;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CreemConfig {
    pub enabled: bool,
    pub api_key: String,
    pub api_key_env: String,
    pub webhook_secret: String,
    pub webhook_secret_env: String,
    pub api_base: String,
    pub currency: String,
    pub rate: Rate,
    pub products: Vec<CreemProduct>,
}

/// One Creem product: the balance it buys and its id. `price` is what Creem charges for it, in
/// `currency`; when left out it is `amount × rate`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreemProduct {
    pub amount: Money,
    pub product_id: String,
    #[serde(default)]
    pub price: Option<Rate>,
}

impl Default for CreemConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            api_key: String::new(),
            api_key_env: String::new(),
            webhook_secret: String::new(),
            webhook_secret_env: String::new(),
            api_base: "https://api.creem.io".into(),
            currency: "usd".into(),
            rate: rate_one(),
            products: Vec::new(),
        }
    }
}

impl CreemConfig {
    pub fn limits(&self) -> Limits {
        let amounts: Vec<Money> = self.products.iter().map(|p| p.amount).collect();
        Limits {
            currency: self.currency.to_ascii_lowercase(),
            rate: self.rate.0,
            min_amount: amounts.iter().copied().min().unwrap_or(Money::ZERO),
            max_amount: amounts.iter().copied().max().unwrap_or(Money::ZERO),
            presets: amounts,
        }
    }

    pub fn api_key(&self) -> String {
        resolve_secret(&self.api_key, &self.api_key_env)
    }

    pub fn webhook_secret(&self) -> String {
        resolve_secret(&self.webhook_secret, &self.webhook_secret_env)
    }

    /// The product that sells exactly `amount`, and the quote for it.
    pub fn product_for(&self, amount: Money) -> Result<(&CreemProduct, Quote), ApiError> {
        let product = self
            .products
            .iter()
            .find(|p| p.amount == amount)
            .ok_or_else(|| {
                ApiError::bad_request(
                    "amount_not_offered",
                    "this method sells only its preset amounts",
                )
            })?;
        let mut quote = super::quote(amount, &self.limits())?;
        if let Some(price) = product.price {
            quote.pay_minor = price
                .0
                .checked_mul(Decimal::from(10_i64.pow(quote.decimals)))
                .and_then(|minor| minor.to_i64())
                .ok_or_else(|| ApiError::bad_request("amount_too_large", "price is too large"))?;
        }
        Ok((product, quote))
    }

    pub(crate) fn check(&self) -> Result<(), (String, String)> {
        check_secret("creem", "api_key", &self.api_key, &self.api_key_env)?;
        check_secret(
            "creem",
            "webhook_secret",
            &self.webhook_secret,
            &self.webhook_secret_env,
        )?;
        check_base("creem", "api_base", &self.api_base)?;
        if self.products.is_empty() {
            return Err((
                "payments.creem.products".into(),
                "list at least one product (amount and product_id)".into(),
            ));
        }
        for (i, p) in self.products.iter().enumerate() {
            if p.product_id.trim().is_empty() {
                return Err((
                    "payments.creem.products".into(),
                    format!("product {} has no product_id", i + 1),
                ));
            }
            if let Some(price) = p.price {
                let decimals = currency_decimals(&self.currency);
                if price.0.is_zero() || price.0.round_dp(decimals) != price.0 {
                    return Err((
                        "payments.creem.products".into(),
                        format!("product {}: price must be above zero with at most {decimals} decimal places", i + 1),
                    ));
                }
            }
        }
        check_limits("creem", &self.limits())
    }
}

#[derive(Deserialize)]
struct CheckoutCreated {
    id: String,
    checkout_url: Option<String>,
}

/// The JSON body of Creem's `POST /v1/checkouts` for one order.
pub fn checkout_body(
    product: &CreemProduct,
    order_no: &str,
    user_id: i64,
    public_url: &str,
) -> Value {
    let base = public_url.trim_end_matches('/');
    json!({
        "product_id": product.product_id,
        "request_id": order_no,
        "success_url": format!("{base}/console/topup?paid={order_no}"),
        "metadata": { "order_id": order_no, "user_id": user_id.to_string() },
    })
}

/// Creates the checkout; errors are for the log.
pub async fn create_checkout(
    http: &reqwest::Client,
    config: &CreemConfig,
    product: &CreemProduct,
    order_no: &str,
    user_id: i64,
    public_url: &str,
) -> Result<Checkout, String> {
    let key = config.api_key();
    if key.is_empty() {
        return Err("creem: no API key (is the variable named by api_key_env set?)".into());
    }
    let url = format!("{}/v1/checkouts", config.api_base.trim_end_matches('/'));
    let response = http
        .post(&url)
        .header("x-api-key", key)
        .timeout(Duration::from_secs(20))
        .json(&checkout_body(product, order_no, user_id, public_url))
        .send()
        .await
        .map_err(|e| format!("creem: POST {url}: {e}"))?;
    let status = response.status();
    let text = response
        .text()
        .await
        .map_err(|e| format!("creem: reading the answer: {e}"))?;
    if !status.is_success() {
        return Err(format!(
            "creem: POST {url} answered {status}: {}",
            clip(&text)
        ));
    }
    let created: CheckoutCreated = serde_json::from_str(&text)
        .map_err(|e| format!("creem: unexpected answer ({e}): {}", clip(&text)))?;
    let url = created
        .checkout_url
        .filter(|u| !u.is_empty())
        .ok_or_else(|| format!("creem: checkout {} has no checkout_url", created.id))?;
    Ok(Checkout {
        provider_ref: created.id,
        url,
    })
}

type HmacSha256 = Hmac<Sha256>;

/// `creem-signature` is the hex HMAC-SHA256 of the raw body with the webhook secret; compared
/// in constant time.
pub fn verify_signature(header: &str, body: &[u8], secret: &str) -> bool {
    let Ok(given) = hex::decode(header.trim()) else {
        return false;
    };
    if secret.is_empty() {
        return false;
    }
    let Ok(mut mac) = HmacSha256::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&given).is_ok()
}

/// The signature Creem sends for `body` (for tools and tests).
pub fn sign(secret: &str, body: &[u8]) -> String {
    match HmacSha256::new_from_slice(secret.as_bytes()) {
        Ok(mut mac) => {
            mac.update(body);
            hex::encode(mac.finalize().into_bytes())
        }
        Err(_) => String::new(),
    }
}

#[derive(Deserialize)]
struct Event {
    #[serde(rename = "eventType")]
    kind: String,
    object: Value,
}

#[derive(Deserialize)]
struct CheckoutObject {
    id: String,
    #[serde(default)]
    request_id: Option<String>,
    #[serde(default)]
    metadata: Option<Value>,
    #[serde(default)]
    order: Option<CreemOrder>,
}

#[derive(Deserialize)]
struct CreemOrder {
    amount: i64,
    currency: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    tax_amount: Option<i64>,
}

/// What a verified Creem event asks of us. The amount compared with the order is what was paid
/// net of tax (Creem adds tax on top for tax-exclusive products); a discount makes it smaller
/// and so is refused rather than credited in full.
pub fn interpret_event(body: &[u8]) -> Result<Callback, ApiError> {
    let event: Event = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request("invalid_event", format!("not a Creem event: {e}")))?;
    if event.kind != "checkout.completed" {
        return Ok(Callback::Ignored(format!("event {}", event.kind)));
    }
    let checkout: CheckoutObject = serde_json::from_value(event.object)
        .map_err(|e| ApiError::bad_request("invalid_event", format!("not a checkout: {e}")))?;
    let from_metadata = checkout
        .metadata
        .as_ref()
        .and_then(|m| m.get("order_id"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let order_no = match (checkout.request_id, from_metadata) {
        (Some(a), Some(b)) if a != b => {
            return Err(ApiError::bad_request(
                "unknown_order",
                "request_id and metadata name different orders",
            ))
        }
        (Some(a), _) | (None, Some(a)) => a,
        (None, None) => {
            return Ok(Callback::Ignored(format!(
                "checkout {} names no order of ours",
                checkout.id
            )))
        }
    };
    let Some(order) = checkout.order else {
        return Err(ApiError::bad_request(
            "invalid_event",
            "completed checkout without an order",
        ));
    };
    if let Some(status) = order.status.as_deref() {
        if status != "paid" {
            return Ok(Callback::Ignored(format!(
                "checkout {} completed with order status {status}",
                checkout.id
            )));
        }
    }
    let currency = order.currency.to_ascii_lowercase();
    let net = order.amount - order.tax_amount.unwrap_or(0).max(0);
    Ok(Callback::Paid(Payment {
        provider: Provider::Creem,
        order_no,
        provider_ref: checkout.id,
        paid: Decimal::new(net, currency_decimals(&currency)),
        currency,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_hmac_of_the_raw_body() {
        let body = br#"{"eventType":"checkout.completed"}"#;
        let sig = sign("whsec_c", body);
        assert_eq!(sig.len(), 64);
        assert!(verify_signature(&sig, body, "whsec_c"));
        assert!(verify_signature(&sig.to_uppercase(), body, "whsec_c"));
        assert!(!verify_signature(&sig, body, "whsec_other"));
        assert!(!verify_signature(
            &sig,
            br#"{"eventType":"checkout.completed" }"#,
            "whsec_c"
        ));
        assert!(!verify_signature("", body, "whsec_c"));
        assert!(!verify_signature("zz", body, "whsec_c"));
        assert!(!verify_signature(&sig[..62], body, "whsec_c"));
        assert!(!verify_signature(&sig, body, ""));
    }

    #[test]
    fn only_listed_products_are_sold_at_their_price() {
        let product = |amount: &str, id: &str, price: Option<&str>| CreemProduct {
            amount: Money::parse(amount).unwrap(),
            product_id: id.into(),
            price: price.map(|p| Rate(p.parse().unwrap())),
        };
        let config = CreemConfig {
            enabled: true,
            currency: "EUR".into(),
            rate: Rate("0.9".parse().unwrap()),
            products: vec![
                product("10", "prod_a", None),
                product("20", "prod_b", Some("17.99")),
            ],
            ..CreemConfig::default()
        };
        let (p, q) = config.product_for(Money::parse("10").unwrap()).unwrap();
        assert_eq!(
            (p.product_id.as_str(), q.pay_minor, q.currency.as_str()),
            ("prod_a", 900, "eur")
        );
        let (p, q) = config.product_for(Money::parse("20").unwrap()).unwrap();
        assert_eq!((p.product_id.as_str(), q.pay_minor), ("prod_b", 1799));
        let e = config.product_for(Money::parse("15").unwrap()).unwrap_err();
        assert_eq!(e.code, "amount_not_offered");
        let limits = config.limits();
        assert_eq!(limits.min_amount, Money::parse("10").unwrap());
        assert_eq!(limits.max_amount, Money::parse("20").unwrap());
    }

    #[test]
    fn completed_checkouts_become_payments() {
        let body = br#"{"id":"evt_1","eventType":"checkout.completed","object":{"id":"ch_1",
            "request_id":"crB","order":{"id":"ord_1","amount":1180,"tax_amount":180,"currency":"USD","status":"paid"},
            "metadata":{"order_id":"crB"}}}"#;
        match interpret_event(body).unwrap() {
            Callback::Paid(p) => {
                assert_eq!(
                    (p.order_no.as_str(), p.provider_ref.as_str()),
                    ("crB", "ch_1")
                );
                assert_eq!(p.paid.to_string(), "10.00");
                assert_eq!(p.currency, "usd");
            }
            _ => panic!("expected a payment"),
        }
        let refund = br#"{"eventType":"refund.created","object":{}}"#;
        assert!(matches!(
            interpret_event(refund).unwrap(),
            Callback::Ignored(_)
        ));
    }
}
