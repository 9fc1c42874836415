//! NOWPayments (hosted; many coins, USDT among them): an invoice through `POST /v1/invoice`, and
//! the IPN callback signed with `x-nowpayments-sig`.
//!
//! Signing: the JSON body with the keys of every object sorted, written compactly as
//! `JSON.stringify` writes it, then HMAC-SHA512 under the IPN secret, in hex. Numbers keep the
//! text they arrived in (re-formatting `0.00003958` through a float could change it).

use std::collections::BTreeMap;
use std::time::Duration;

use hmac::{Hmac, Mac};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::value::RawValue;
use sha2::Sha512;

use super::orders::{Callback, Payment};
use super::stripe::{check_base, clip, Checkout};
use super::{
    check_limits, check_secret, decimal_in_json, dollars, id_in_json, rate_one, resolve_secret,
    Limits, Provider, Quote,
};
use crate::error::ApiError;
use crate::ledger::money::Money;
use crate::pricing::Rate;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NowpaymentsConfig {
    pub enabled: bool,
    pub api_key: String,
    pub api_key_env: String,
    /// The IPN secret from the dashboard's payment settings.
    pub ipn_secret: String,
    pub ipn_secret_env: String,
    pub api_base: String,
    /// The price currency of the invoice (a fiat code such as `usd`).
    pub currency: String,
    pub rate: Rate,
    pub min_amount: Money,
    pub max_amount: Money,
    pub presets: Vec<Money>,
    /// A coin to ask for (`usdttrc20`, `btc`, ...); empty lets the member pick on the invoice page.
    pub pay_currency: String,
}

impl Default for NowpaymentsConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            api_key: String::new(),
            api_key_env: String::new(),
            ipn_secret: String::new(),
            ipn_secret_env: String::new(),
            api_base: "https://api.nowpayments.io".into(),
            currency: "usd".into(),
            rate: rate_one(),
            min_amount: dollars(5),
            max_amount: dollars(10_000),
            presets: vec![dollars(10), dollars(20), dollars(50), dollars(100)],
            pay_currency: String::new(),
        }
    }
}

impl NowpaymentsConfig {
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

    pub fn ipn_secret(&self) -> String {
        resolve_secret(&self.ipn_secret, &self.ipn_secret_env)
    }

    pub(crate) fn check(&self) -> Result<(), (String, String)> {
        check_secret("nowpayments", "api_key", &self.api_key, &self.api_key_env)?;
        check_secret(
            "nowpayments",
            "ipn_secret",
            &self.ipn_secret,
            &self.ipn_secret_env,
        )?;
        check_base("nowpayments", "api_base", &self.api_base)?;
        if !self.pay_currency.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err((
                "payments.nowpayments.pay_currency".into(),
                "a coin code such as \"usdttrc20\", or empty".into(),
            ));
        }
        check_limits("nowpayments", &self.limits())
    }
}

/// The JSON body of `POST /v1/invoice` for one order. `price_amount` is a JSON number in this
/// API; it is written from the decimal's text, never through a float.
pub fn invoice_body(
    config: &NowpaymentsConfig,
    order_no: &str,
    quote: &Quote,
    public_url: &str,
) -> Result<String, String> {
    let base = public_url.trim_end_matches('/');
    let price = RawValue::from_string(quote.pay_decimal().to_string())
        .map_err(|e| format!("nowpayments: writing the price: {e}"))?;
    let mut body = serde_json::Map::new();
    let mut put = |k: &str, v: serde_json::Value| body.insert(k.to_string(), v);
    put("price_currency", quote.currency.clone().into());
    put("order_id", order_no.into());
    put("order_description", "Code Router top-up".into());
    put(
        "ipn_callback_url",
        format!("{base}/api/payments/nowpayments/ipn").into(),
    );
    put(
        "success_url",
        format!("{base}/console/topup?paid={order_no}").into(),
    );
    put(
        "cancel_url",
        format!("{base}/console/topup?cancelled={order_no}").into(),
    );
    if !config.pay_currency.is_empty() {
        put("pay_currency", config.pay_currency.clone().into());
    }
    #[derive(serde::Serialize)]
    struct Body<'a> {
        price_amount: &'a RawValue,
        #[serde(flatten)]
        rest: serde_json::Map<String, serde_json::Value>,
    }
    serde_json::to_string(&Body {
        price_amount: &price,
        rest: body,
    })
    .map_err(|e| format!("nowpayments: writing the invoice: {e}"))
}

#[derive(Deserialize)]
struct InvoiceCreated {
    id: Box<RawValue>,
    #[serde(default)]
    invoice_url: Option<String>,
    #[serde(default)]
    order_id: Option<String>,
    #[serde(default)]
    price_amount: Option<Box<RawValue>>,
    #[serde(default)]
    price_currency: Option<String>,
}

/// Creates the invoice and checks that it is for exactly this order; errors are for the log.
pub async fn create_checkout(
    http: &reqwest::Client,
    config: &NowpaymentsConfig,
    order_no: &str,
    quote: &Quote,
    public_url: &str,
) -> Result<Checkout, String> {
    let key = config.api_key();
    if key.is_empty() {
        return Err("nowpayments: no API key (is the variable named by api_key_env set?)".into());
    }
    let url = format!("{}/v1/invoice", config.api_base.trim_end_matches('/'));
    let response = http
        .post(&url)
        .header("x-api-key", key)
        .header("content-type", "application/json")
        .timeout(Duration::from_secs(20))
        .body(invoice_body(config, order_no, quote, public_url)?)
        .send()
        .await
        .map_err(|e| format!("nowpayments: POST {url}: {e}"))?;
    let status = response.status();
    let text = response
        .text()
        .await
        .map_err(|e| format!("nowpayments: reading the answer: {e}"))?;
    if !status.is_success() {
        return Err(format!(
            "nowpayments: POST {url} answered {status}: {}",
            clip(&text)
        ));
    }
    let created: InvoiceCreated = serde_json::from_str(&text)
        .map_err(|e| format!("nowpayments: unexpected answer ({e}): {}", clip(&text)))?;
    let id = id_in_json(&created.id)
        .ok_or_else(|| format!("nowpayments: invoice without an id: {}", clip(&text)))?;
    let price = created.price_amount.as_deref().and_then(decimal_in_json);
    let currency = created
        .price_currency
        .as_deref()
        .map(str::to_ascii_lowercase);
    let same = created.order_id.as_deref().is_none_or(|o| o == order_no)
        && price.is_none_or(|p| p == quote.pay_decimal())
        && currency.as_deref().is_none_or(|c| c == quote.currency);
    if !same {
        return Err(format!(
            "nowpayments: invoice {id} is not for this order: {}",
            clip(&text)
        ));
    }
    let url = created
        .invoice_url
        .filter(|u| !u.is_empty())
        .ok_or_else(|| format!("nowpayments: invoice {id} has no invoice_url"))?;
    Ok(Checkout {
        provider_ref: id,
        url,
    })
}

/// The text NOWPayments signs: `body` with every object's keys sorted, compact, strings
/// escaped as `JSON.stringify` does, everything else as it arrived.
pub fn sorted_json(body: &[u8]) -> Result<String, serde_json::Error> {
    let raw: &RawValue = serde_json::from_slice(body)?;
    let mut out = String::with_capacity(body.len());
    write_sorted(raw, &mut out)?;
    Ok(out)
}

fn write_sorted(raw: &RawValue, out: &mut String) -> Result<(), serde_json::Error> {
    let text = raw.get().trim();
    match text.as_bytes().first() {
        Some(b'{') => {
            let map: BTreeMap<String, &RawValue> = serde_json::from_str(text)?;
            out.push('{');
            for (i, (key, value)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::to_string(key)?);
                out.push(':');
                write_sorted(value, out)?;
            }
            out.push('}');
        }
        Some(b'[') => {
            let items: Vec<&RawValue> = serde_json::from_str(text)?;
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_sorted(item, out)?;
            }
            out.push(']');
        }
        Some(b'"') => {
            let s: String = serde_json::from_str(text)?;
            out.push_str(&serde_json::to_string(&s)?);
        }
        _ => out.push_str(text),
    }
    Ok(())
}

type HmacSha512 = Hmac<Sha512>;

/// The `x-nowpayments-sig` NOWPayments sends for `body` (for tools and tests).
pub fn sign(secret: &str, body: &[u8]) -> String {
    let (Ok(text), Ok(mut mac)) = (
        sorted_json(body),
        HmacSha512::new_from_slice(secret.as_bytes()),
    ) else {
        return String::new();
    };
    mac.update(text.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Whether `header` is the signature of `body` under `secret`; compared in constant time.
pub fn verify_signature(header: &str, body: &[u8], secret: &str) -> bool {
    let Ok(given) = hex::decode(header.trim()) else {
        return false;
    };
    if secret.is_empty() {
        return false;
    }
    let (Ok(text), Ok(mut mac)) = (
        sorted_json(body),
        HmacSha512::new_from_slice(secret.as_bytes()),
    ) else {
        return false;
    };
    mac.update(text.as_bytes());
    mac.verify_slice(&given).is_ok()
}

#[derive(Deserialize)]
struct Ipn {
    #[serde(default)]
    payment_id: Option<Box<RawValue>>,
    #[serde(default)]
    invoice_id: Option<Box<RawValue>>,
    payment_status: String,
    #[serde(default)]
    price_amount: Option<Box<RawValue>>,
    #[serde(default)]
    price_currency: Option<String>,
    #[serde(default)]
    order_id: Option<String>,
    #[serde(default)]
    actually_paid: Option<Box<RawValue>>,
    #[serde(default)]
    pay_amount: Option<Box<RawValue>>,
    #[serde(default)]
    pay_currency: Option<String>,
}

fn decimal_text(raw: &Option<Box<RawValue>>) -> String {
    raw.as_deref()
        .and_then(decimal_in_json)
        .map(|d| d.normalize().to_string())
        .unwrap_or_else(|| "?".into())
}

/// What a verified IPN asks of us. `finished` pays the invoice's price when it is the order's;
/// `partially_paid` and the confirming states are shown on the order and credit nothing;
/// `failed` and `expired` close it.
pub fn interpret_ipn(body: &[u8]) -> Result<Callback, ApiError> {
    let ipn: Ipn = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request("invalid_event", format!("not a NOWPayments IPN: {e}"))
    })?;
    let payment = ipn
        .payment_id
        .as_deref()
        .and_then(id_in_json)
        .unwrap_or_else(|| "?".into());
    let Some(invoice) = ipn.invoice_id.as_deref().and_then(id_in_json) else {
        return Ok(Callback::Ignored(format!(
            "payment {payment} belongs to no invoice of ours"
        )));
    };
    let order_no = ipn.order_id.clone().filter(|o| !o.is_empty());
    let status = ipn.payment_status.as_str();
    let coin = ipn
        .pay_currency
        .as_deref()
        .unwrap_or("")
        .to_ascii_uppercase();
    let progress = |status: &'static str, note: String| Callback::Progress {
        provider: Provider::Nowpayments,
        order_no: order_no.clone(),
        provider_ref: invoice.clone(),
        status,
        note,
    };
    let closed = |status: &'static str| Callback::Closed {
        provider: Provider::Nowpayments,
        order_no: order_no.clone(),
        provider_ref: invoice.clone(),
        status,
        note: format!("nowpayments: payment {payment} {}", ipn.payment_status),
    };
    Ok(match status {
        "finished" => {
            let Some(order_no) = order_no.clone() else {
                return Ok(Callback::Ignored(format!(
                    "payment {payment} names no order"
                )));
            };
            let paid: Option<Decimal> = ipn.price_amount.as_deref().and_then(decimal_in_json);
            let (Some(paid), Some(currency)) = (paid, ipn.price_currency.clone()) else {
                return Err(ApiError::bad_request(
                    "invalid_event",
                    "finished payment without price_amount or price_currency",
                ));
            };
            Callback::Paid(Payment {
                provider: Provider::Nowpayments,
                order_no,
                provider_ref: invoice.clone(),
                paid,
                currency: currency.to_ascii_lowercase(),
            })
        }
        "partially_paid" => progress(
            "partially_paid",
            format!(
                "nowpayments: payment {payment} partially paid: {} of {} {coin}",
                decimal_text(&ipn.actually_paid),
                decimal_text(&ipn.pay_amount)
            ),
        ),
        "confirming" | "confirmed" | "sending" => progress(
            "processing",
            format!("nowpayments: payment {payment} is {status}"),
        ),
        "failed" => closed("failed"),
        "expired" => closed("expired"),
        other => Callback::Ignored(format!("payment {payment} is {other}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_signed_with_keys_sorted_at_every_depth() {
        let body = br#"{"payment_status":"finished", "fee":{"serviceFee":0,"currency":"btc"},
            "pay_amount":0.00003958,"b":[{"z":1,"a":"x\u00e9\n"}],"a":null}"#;
        assert_eq!(
            sorted_json(body).unwrap(),
            r#"{"a":null,"b":[{"a":"xé\n","z":1}],"fee":{"currency":"btc","serviceFee":0},"pay_amount":0.00003958,"payment_status":"finished"}"#
        );
        // Computed independently with Node: JSON.stringify of the recursively sorted object,
        // then crypto.createHmac('sha512', 'ipn-secret').
        let sig = sign(
            "ipn-secret",
            br#"{"price_amount":10.25,"order_id":"crA","payment_id":5077125051}"#,
        );
        assert_eq!(
            sig,
            "2a7e24749b3ae5e6f0d2dcf7b1bc04556561f0023a6ab9b515f81be3077e80e0402b60e8d1455ea1d166e883392b85a2f6c2162c64cba3e5317425214fdc45a7"
        );
        assert!(verify_signature(
            &sig,
            br#"{"payment_id":5077125051, "order_id":"crA","price_amount":10.25}"#,
            "ipn-secret"
        ));
        assert!(verify_signature(
            &sig.to_uppercase(),
            br#"{"price_amount":10.25,"order_id":"crA","payment_id":5077125051}"#,
            "ipn-secret"
        ));
        assert!(!verify_signature(
            &sig,
            br#"{"price_amount":10.26,"order_id":"crA","payment_id":5077125051}"#,
            "ipn-secret"
        ));
        assert!(!verify_signature(
            &sig,
            br#"{"price_amount":10.25,"order_id":"crA","payment_id":5077125051}"#,
            "other"
        ));
        assert!(!verify_signature("", b"{}", "ipn-secret"));
        assert!(!verify_signature(&sig, b"not json", "ipn-secret"));
    }

    #[test]
    fn ipn_states_become_callbacks() {
        let ipn = |status: &str| {
            format!(
                r#"{{"payment_id":11,"invoice_id":4522625843,"payment_status":"{status}","price_amount":10.25,
                "price_currency":"usd","order_id":"crA","actually_paid":0.0001,"pay_amount":0.0002,"pay_currency":"btc"}}"#
            )
        };
        match interpret_ipn(ipn("finished").as_bytes()).unwrap() {
            Callback::Paid(p) => {
                assert_eq!(
                    (p.order_no.as_str(), p.provider_ref.as_str()),
                    ("crA", "4522625843")
                );
                assert_eq!(
                    (p.paid.to_string().as_str(), p.currency.as_str()),
                    ("10.25", "usd")
                );
            }
            other => panic!("{other:?}"),
        }
        match interpret_ipn(ipn("partially_paid").as_bytes()).unwrap() {
            Callback::Progress { status, note, .. } => {
                assert_eq!(status, "partially_paid");
                assert!(note.contains("0.0001 of 0.0002 BTC"), "{note}");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            interpret_ipn(ipn("confirming").as_bytes()).unwrap(),
            Callback::Progress {
                status: "processing",
                ..
            }
        ));
        assert!(matches!(
            interpret_ipn(ipn("expired").as_bytes()).unwrap(),
            Callback::Closed {
                status: "expired",
                ..
            }
        ));
        assert!(matches!(
            interpret_ipn(ipn("waiting").as_bytes()).unwrap(),
            Callback::Ignored(_)
        ));
        let no_invoice = br#"{"payment_id":1,"invoice_id":null,"payment_status":"finished"}"#;
        assert!(matches!(
            interpret_ipn(no_invoice).unwrap(),
            Callback::Ignored(_)
        ));
    }
}
