//! BTCPay Server (self-hosted, open source): an invoice through the Greenfield API, and the
//! `BTCPay-Sig`-verified webhook. A webhook names an invoice but not what was paid, so a settled
//! invoice is read back from the API and only its own status, amount and currency are believed.

use std::time::Duration;

use hmac::{Hmac, Mac};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use sha2::Sha256;

use super::orders::{Callback, Payment};
use super::stripe::{check_base, clip, Checkout};
use super::{
    check_limits, check_secret, decimal_in_json, dollars, rate_one, resolve_secret, Limits,
    Provider, Quote,
};
use crate::error::ApiError;
use crate::ledger::money::Money;
use crate::pricing::Rate;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BtcpayConfig {
    pub enabled: bool,
    /// The BTCPay Server's own URL (self-hosted, so there is no default host).
    pub api_base: String,
    /// The store the invoices are made in.
    pub store_id: String,
    /// A Greenfield API key with permission to create and view the store's invoices.
    pub api_key: String,
    pub api_key_env: String,
    /// The secret of the store's webhook pointing at this server.
    pub webhook_secret: String,
    pub webhook_secret_env: String,
    /// The invoice's currency (what the price is stated in; the buyer pays its worth in crypto).
    pub currency: String,
    pub rate: Rate,
    pub min_amount: Money,
    pub max_amount: Money,
    pub presets: Vec<Money>,
}

impl Default for BtcpayConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            api_base: String::new(),
            store_id: String::new(),
            api_key: String::new(),
            api_key_env: String::new(),
            webhook_secret: String::new(),
            webhook_secret_env: String::new(),
            currency: "usd".into(),
            rate: rate_one(),
            min_amount: dollars(5),
            max_amount: dollars(10_000),
            presets: vec![dollars(10), dollars(20), dollars(50), dollars(100)],
        }
    }
}

impl BtcpayConfig {
    pub fn limits(&self) -> Limits {
        Limits {
            currency: self.currency.to_ascii_lowercase(),
            rate: self.rate.0,
            min_amount: self.min_amount,
            max_amount: self.max_amount,
            presets: self.presets.clone(),
        }
    }

    pub fn api_key(&self) -> String {
        resolve_secret(&self.api_key, &self.api_key_env)
    }

    pub fn webhook_secret(&self) -> String {
        resolve_secret(&self.webhook_secret, &self.webhook_secret_env)
    }

    pub(crate) fn check(&self) -> Result<(), (String, String)> {
        if self.api_base.is_empty() {
            return Err((
                "payments.btcpay.api_base".into(),
                "payments.btcpay is enabled but has no api_base (your BTCPay Server's URL)".into(),
            ));
        }
        check_base("btcpay", "api_base", &self.api_base)?;
        let store = self.store_id.trim();
        if store.is_empty() || !store.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err((
                "payments.btcpay.store_id".into(),
                "set the store's id (letters and digits, from the store's settings)".into(),
            ));
        }
        check_secret("btcpay", "api_key", &self.api_key, &self.api_key_env)?;
        check_secret(
            "btcpay",
            "webhook_secret",
            &self.webhook_secret,
            &self.webhook_secret_env,
        )?;
        check_limits("btcpay", &self.limits())
    }

    fn invoices_url(&self) -> String {
        format!(
            "{}/api/v1/stores/{}/invoices",
            self.api_base.trim_end_matches('/'),
            self.store_id.trim()
        )
    }
}

/// The Greenfield invoice as far as we read it. `amount` is a decimal string in the API.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Invoice {
    pub id: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    amount: Option<Box<RawValue>>,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub checkout_link: Option<String>,
    #[serde(default)]
    pub metadata: Option<Value>,
}

impl Invoice {
    pub fn amount(&self) -> Option<Decimal> {
        self.amount.as_deref().and_then(decimal_in_json)
    }

    fn order_no(&self) -> Option<String> {
        self.metadata
            .as_ref()
            .and_then(|m| m.get("orderId"))
            .and_then(Value::as_str)
            .map(str::to_string)
    }
}

/// The JSON body of `POST /api/v1/stores/{storeId}/invoices` for one order.
pub fn invoice_body(order_no: &str, quote: &Quote, public_url: &str) -> Value {
    let base = public_url.trim_end_matches('/');
    json!({
        "amount": quote.pay_decimal().to_string(),
        "currency": quote.currency.to_ascii_uppercase(),
        "metadata": { "orderId": order_no, "itemDesc": "Code Router top-up" },
        "checkout": {
            "redirectURL": format!("{base}/console/topup?paid={order_no}"),
            "redirectAutomatically": true,
        },
    })
}

fn request(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    key: &str,
) -> reqwest::RequestBuilder {
    http.request(method, url)
        .header("authorization", format!("token {key}"))
        .timeout(Duration::from_secs(20))
}

async fn read_invoice(response: reqwest::Response, what: &str) -> Result<Invoice, String> {
    let status = response.status();
    let text = response
        .text()
        .await
        .map_err(|e| format!("btcpay: reading the answer to {what}: {e}"))?;
    if !status.is_success() {
        return Err(format!("btcpay: {what} answered {status}: {}", clip(&text)));
    }
    serde_json::from_str(&text)
        .map_err(|e| format!("btcpay: unexpected answer to {what} ({e}): {}", clip(&text)))
}

/// Creates the invoice and checks that BTCPay made it for exactly the order's price; errors
/// are for the log.
pub async fn create_checkout(
    http: &reqwest::Client,
    config: &BtcpayConfig,
    order_no: &str,
    quote: &Quote,
    public_url: &str,
) -> Result<Checkout, String> {
    let key = config.api_key();
    if key.is_empty() {
        return Err("btcpay: no API key (is the variable named by api_key_env set?)".into());
    }
    let url = config.invoices_url();
    let response = request(http, reqwest::Method::POST, &url, &key)
        .json(&invoice_body(order_no, quote, public_url))
        .send()
        .await
        .map_err(|e| format!("btcpay: POST {url}: {e}"))?;
    let invoice = read_invoice(response, &format!("POST {url}")).await?;
    let currency = invoice
        .currency
        .as_deref()
        .unwrap_or("")
        .to_ascii_lowercase();
    if invoice.amount() != Some(quote.pay_decimal()) || currency != quote.currency {
        return Err(format!(
            "btcpay: invoice {} is for {:?} {currency}, not {} {}",
            invoice.id,
            invoice.amount(),
            quote.pay_decimal(),
            quote.currency
        ));
    }
    let link = invoice
        .checkout_link
        .filter(|l| !l.is_empty())
        .ok_or_else(|| format!("btcpay: invoice {} has no checkoutLink", invoice.id))?;
    Ok(Checkout {
        provider_ref: invoice.id,
        url: link,
    })
}

/// Reads an invoice of the configured store back from the API.
pub async fn fetch_invoice(
    http: &reqwest::Client,
    config: &BtcpayConfig,
    invoice_id: &str,
) -> Result<Invoice, String> {
    let key = config.api_key();
    if key.is_empty() {
        return Err("btcpay: no API key (is the variable named by api_key_env set?)".into());
    }
    if !invoice_id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(format!(
            "btcpay: `{}` is not an invoice id",
            clip(invoice_id)
        ));
    }
    let url = format!("{}/{invoice_id}", config.invoices_url());
    let response = request(http, reqwest::Method::GET, &url, &key)
        .send()
        .await
        .map_err(|e| format!("btcpay: GET {url}: {e}"))?;
    read_invoice(response, &format!("GET {url}")).await
}

type HmacSha256 = Hmac<Sha256>;

/// `BTCPay-Sig` is `sha256=` and the hex HMAC-SHA256 of the raw body under the webhook's
/// secret; compared in constant time.
pub fn verify_signature(header: &str, body: &[u8], secret: &str) -> bool {
    let Some(hex_sig) = header.trim().strip_prefix("sha256=") else {
        return false;
    };
    let Ok(given) = hex::decode(hex_sig) else {
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

/// The `BTCPay-Sig` header BTCPay sends for `body` (for tools and tests).
pub fn sign(secret: &str, body: &[u8]) -> String {
    match HmacSha256::new_from_slice(secret.as_bytes()) {
        Ok(mut mac) => {
            mac.update(body);
            format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
        }
        Err(_) => String::new(),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Event {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    store_id: Option<String>,
    #[serde(default)]
    invoice_id: Option<String>,
    #[serde(default)]
    partially_paid: Option<bool>,
}

/// What a verified webhook asks of us before anything is read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Webhook {
    /// `InvoiceSettled`: read the invoice back and credit what it says.
    Settled { invoice_id: String },
    /// Anything that needs no API call.
    Now(CallbackKind),
}

/// A webhook's effect on an order, by invoice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallbackKind {
    Closed {
        invoice_id: String,
        status: &'static str,
        note: String,
    },
    Processing {
        invoice_id: String,
    },
    Ignored(String),
}

impl CallbackKind {
    pub fn into_callback(self) -> Callback {
        match self {
            CallbackKind::Closed {
                invoice_id,
                status,
                note,
            } => Callback::Closed {
                provider: Provider::Btcpay,
                order_no: None,
                provider_ref: invoice_id,
                status,
                note,
            },
            CallbackKind::Processing { invoice_id } => Callback::Progress {
                provider: Provider::Btcpay,
                order_no: None,
                note: format!("btcpay: invoice {invoice_id} paid, waiting for confirmations"),
                provider_ref: invoice_id,
                status: "processing",
            },
            CallbackKind::Ignored(why) => Callback::Ignored(why),
        }
    }
}

/// Reads a verified webhook. An event for another store is refused: the secret is per store
/// webhook, so it means a misconfiguration worth a non-2xx.
pub fn interpret_event(body: &[u8], config: &BtcpayConfig) -> Result<Webhook, ApiError> {
    let event: Event = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request("invalid_event", format!("not a BTCPay event: {e}")))?;
    if let Some(store) = event.store_id.as_deref() {
        if store != config.store_id.trim() {
            return Err(ApiError::bad_request(
                "invalid_event",
                "the event is for another store",
            ));
        }
    }
    let invoice = || {
        event
            .invoice_id
            .clone()
            .filter(|i| !i.is_empty())
            .ok_or_else(|| ApiError::bad_request("invalid_event", "event without invoiceId"))
    };
    Ok(match event.kind.as_str() {
        "InvoiceSettled" => Webhook::Settled {
            invoice_id: invoice()?,
        },
        "InvoiceExpired" => Webhook::Now(CallbackKind::Closed {
            invoice_id: invoice()?,
            status: "expired",
            note: if event.partially_paid == Some(true) {
                "btcpay: invoice expired partially paid; settle the rest with the member".into()
            } else {
                "btcpay: invoice expired".into()
            },
        }),
        "InvoiceInvalid" => Webhook::Now(CallbackKind::Closed {
            invoice_id: invoice()?,
            status: "failed",
            note: "btcpay: invoice invalid".into(),
        }),
        "InvoiceProcessing" => Webhook::Now(CallbackKind::Processing {
            invoice_id: invoice()?,
        }),
        other => Webhook::Now(CallbackKind::Ignored(format!("event {other}"))),
    })
}

/// What an invoice read back after `InvoiceSettled` says. Only a `Settled` invoice of ours
/// pays, and only what the invoice itself states; anything else credits nothing.
pub fn settled_callback(invoice: Invoice, invoice_id: &str) -> Result<Callback, ApiError> {
    if invoice.id != invoice_id {
        return Err(ApiError::bad_request(
            "reference_mismatch",
            "BTCPay answered with another invoice",
        ));
    }
    if invoice.status != "Settled" {
        return Err(ApiError::bad_request(
            "invoice_not_settled",
            format!("the invoice is {}, not Settled", invoice.status),
        ));
    }
    let Some(order_no) = invoice.order_no() else {
        return Ok(Callback::Ignored(format!(
            "invoice {} names no order of ours",
            invoice.id
        )));
    };
    let (Some(paid), Some(currency)) = (invoice.amount(), invoice.currency.clone()) else {
        return Err(ApiError::bad_request(
            "invalid_event",
            "settled invoice without amount or currency",
        ));
    };
    Ok(Callback::Paid(Payment {
        provider: Provider::Btcpay,
        order_no,
        provider_ref: invoice.id,
        paid,
        currency: currency.to_ascii_lowercase(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_prefixed_hmac_of_the_raw_body() {
        let body = br#"{"type":"InvoiceSettled","invoiceId":"A"}"#;
        let sig = sign("s3cret", body);
        assert!(sig.starts_with("sha256=") && sig.len() == 7 + 64);
        assert!(verify_signature(&sig, body, "s3cret"));
        assert!(!verify_signature(&sig, body, "other"));
        assert!(
            !verify_signature(&sig[7..], body, "s3cret"),
            "prefix required"
        );
        assert!(!verify_signature(&sig, b"{}", "s3cret"));
        assert!(!verify_signature("sha256=zz", body, "s3cret"));
        assert!(!verify_signature(&sig, body, ""));
    }

    #[test]
    fn events_name_the_invoice_and_settled_invoices_pay_what_they_say() {
        let config = BtcpayConfig {
            store_id: "Store1".into(),
            ..BtcpayConfig::default()
        };
        let read = |b: &str| interpret_event(b.as_bytes(), &config);
        assert_eq!(
            read(r#"{"type":"InvoiceSettled","storeId":"Store1","invoiceId":"Inv1"}"#).unwrap(),
            Webhook::Settled {
                invoice_id: "Inv1".into()
            }
        );
        assert!(read(r#"{"type":"InvoiceSettled","storeId":"Other","invoiceId":"Inv1"}"#).is_err());
        assert!(read(r#"{"type":"InvoiceSettled","storeId":"Store1"}"#).is_err());
        assert!(matches!(
            read(r#"{"type":"InvoiceExpired","storeId":"Store1","invoiceId":"I","partiallyPaid":true}"#).unwrap(),
            Webhook::Now(CallbackKind::Closed { status: "expired", .. })
        ));
        assert!(matches!(
            read(r#"{"type":"InvoiceCreated","storeId":"Store1","invoiceId":"I"}"#).unwrap(),
            Webhook::Now(CallbackKind::Ignored(_))
        ));

        let invoice = |status: &str| -> Invoice {
            serde_json::from_str(&format!(
                r#"{{"id":"Inv1","status":"{status}","amount":"10.25","currency":"USD","metadata":{{"orderId":"crA"}}}}"#
            ))
            .unwrap()
        };
        match settled_callback(invoice("Settled"), "Inv1").unwrap() {
            Callback::Paid(p) => {
                assert_eq!(
                    (p.order_no.as_str(), p.provider_ref.as_str()),
                    ("crA", "Inv1")
                );
                assert_eq!(
                    (p.paid.to_string().as_str(), p.currency.as_str()),
                    ("10.25", "usd")
                );
            }
            other => panic!("{other:?}"),
        }
        let e = settled_callback(invoice("Processing"), "Inv1").unwrap_err();
        assert_eq!(e.code, "invoice_not_settled");
        let e = settled_callback(invoice("Settled"), "Inv2").unwrap_err();
        assert_eq!(e.code, "reference_mismatch");
    }
}
