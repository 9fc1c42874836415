//! EPay (易支付, the protocol new-api deployments use): the MD5-signed redirect to the gateway's
//! `submit.php`, and the signed asynchronous notify that says an order was paid.
//!
//! Signing: the parameters except `sign`, `sign_type` and empty values, sorted by name, joined as
//! `k=v&k=v` (values as they are, not URL-encoded), followed directly by the merchant key; the
//! signature is the lowercase hex MD5 of that.

use std::collections::BTreeMap;

use md5::{Digest, Md5};
use rust_decimal::Decimal;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::orders::{Callback, Payment};
use super::stripe::check_base;
use super::{
    check_limits, check_secret, dollars, rate_one, resolve_secret, Limits, Provider, Quote,
};
use crate::error::ApiError;
use crate::ledger::money::Money;
use crate::pricing::Rate;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EpayConfig {
    pub enabled: bool,
    /// Merchant id at the gateway.
    pub pid: String,
    /// Merchant key (the MD5 signing secret).
    pub key: String,
    pub key_env: String,
    /// Gateway base URL; the browser is sent to `{gateway_url}/submit.php`.
    pub gateway_url: String,
    pub currency: String,
    pub rate: Rate,
    pub min_amount: Money,
    pub max_amount: Money,
    pub presets: Vec<Money>,
    /// Payment types offered (`alipay`, `wxpay`, or a USDT gateway's `usdt`, ...); the first is
    /// the default.
    pub types: Vec<String>,
    /// Product name shown by the gateway.
    pub name: String,
}

impl Default for EpayConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            pid: String::new(),
            key: String::new(),
            key_env: String::new(),
            gateway_url: String::new(),
            currency: "cny".into(),
            rate: rate_one(),
            min_amount: dollars(1),
            max_amount: dollars(10_000),
            presets: vec![dollars(10), dollars(20), dollars(50), dollars(100)],
            types: vec!["alipay".into(), "wxpay".into()],
            name: "Code Router top-up".into(),
        }
    }
}

impl EpayConfig {
    pub fn limits(&self) -> Limits {
        Limits {
            currency: self.currency.to_ascii_lowercase(),
            rate: self.rate.0,
            min_amount: self.min_amount,
            max_amount: self.max_amount,
            presets: self.presets.clone(),
        }
    }

    pub fn key(&self) -> String {
        resolve_secret(&self.key, &self.key_env)
    }

    /// The payment type to use: the one asked for when offered, else the first configured.
    pub fn pick_type(&self, asked: Option<&str>) -> Result<String, ApiError> {
        match asked {
            None | Some("") => self.types.first().cloned().ok_or_else(|| {
                ApiError::bad_request("invalid_type", "no payment type is configured")
            }),
            Some(t) if self.types.iter().any(|x| x == t) => Ok(t.to_string()),
            Some(_) => Err(ApiError::bad_request(
                "invalid_type",
                format!("type must be one of: {}", self.types.join(", ")),
            )),
        }
    }

    pub(crate) fn check(&self) -> Result<(), (String, String)> {
        if self.pid.trim().is_empty() {
            return Err((
                "payments.epay.pid".into(),
                "payments.epay is enabled but has no pid (merchant id)".into(),
            ));
        }
        check_secret("epay", "key", &self.key, &self.key_env)?;
        if self.gateway_url.is_empty() {
            return Err((
                "payments.epay.gateway_url".into(),
                "payments.epay is enabled but has no gateway_url".into(),
            ));
        }
        check_base("epay", "gateway_url", &self.gateway_url)?;
        if super::currency_decimals(&self.currency) != 2 {
            return Err((
                "payments.epay.currency".into(),
                "EPay amounts have 2 decimal places; use a currency such as \"cny\"".into(),
            ));
        }
        // USDT gateways that speak EPay name their types by coin and chain (`usdt.trc20`).
        let type_char = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-');
        if self.types.is_empty()
            || self
                .types
                .iter()
                .any(|t| t.is_empty() || !t.bytes().all(type_char))
        {
            return Err((
                "payments.epay.types".into(),
                "list at least one payment type such as \"alipay\" or \"usdt\"".into(),
            ));
        }
        check_limits("epay", &self.limits())
    }
}

/// The lowercase hex MD5 signature of `params` with the merchant key.
pub fn sign(params: &BTreeMap<String, String>, key: &str) -> String {
    let mut text = params
        .iter()
        .filter(|(k, v)| !v.is_empty() && k.as_str() != "sign" && k.as_str() != "sign_type")
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    text.push_str(key);
    hex::encode(Md5::digest(text.as_bytes()))
}

/// Whether `params` carry a valid `sign`; compared in constant time.
pub fn verify(params: &BTreeMap<String, String>, key: &str) -> bool {
    let Some(given) = params.get("sign") else {
        return false;
    };
    if key.is_empty() {
        return false;
    }
    let expected = sign(params, key);
    bool::from(
        expected
            .as_bytes()
            .ct_eq(given.to_ascii_lowercase().as_bytes()),
    )
}

/// The gateway URL the browser is sent to for one order.
pub fn submit_url(
    config: &EpayConfig,
    order_no: &str,
    pay_type: &str,
    quote: &Quote,
    public_url: &str,
) -> Result<String, String> {
    let base = public_url.trim_end_matches('/');
    let mut params = BTreeMap::new();
    params.insert("pid".to_string(), config.pid.clone());
    params.insert("type".to_string(), pay_type.to_string());
    params.insert("out_trade_no".to_string(), order_no.to_string());
    params.insert(
        "notify_url".to_string(),
        format!("{base}/api/payments/epay/notify"),
    );
    params.insert(
        "return_url".to_string(),
        format!("{base}/console/topup?paid={order_no}"),
    );
    params.insert("name".to_string(), config.name.clone());
    params.insert("money".to_string(), money_text(quote));
    let signature = sign(&params, &config.key());
    params.insert("sign".to_string(), signature);
    params.insert("sign_type".to_string(), "MD5".to_string());
    let query = serde_urlencoded::to_string(&params)
        .map_err(|e| format!("epay: encoding the redirect: {e}"))?;
    Ok(format!(
        "{}/submit.php?{query}",
        config.gateway_url.trim_end_matches('/')
    ))
}

/// The order's price as EPay writes it: a decimal with 2 places (`73.08`).
pub fn money_text(quote: &Quote) -> String {
    let mut d = quote.pay_decimal();
    d.rescale(2);
    d.to_string()
}

/// Reads notify parameters from a query string or form body; a repeated name is refused,
/// since which copy was signed would be a guess.
pub fn parse_params(text: &str) -> Result<BTreeMap<String, String>, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(text)
        .map_err(|_| ApiError::bad_request("invalid_notify", "parameters are not form-encoded"))?;
    let mut params = BTreeMap::new();
    for (k, v) in pairs {
        if params.insert(k, v).is_some() {
            return Err(ApiError::bad_request(
                "invalid_notify",
                "a parameter is repeated",
            ));
        }
    }
    Ok(params)
}

/// A plain decimal (`10`, `10.5`, `73.08`); anything else is not an amount.
fn parse_money(text: &str) -> Option<Decimal> {
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    let plain = !whole.is_empty()
        && whole.len() <= 15
        && frac.len() <= 8
        && whole.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
        && !(text.contains('.') && frac.is_empty());
    if !plain {
        return None;
    }
    text.parse().ok()
}

/// What a notify whose signature checked out asks of us. Only `TRADE_SUCCESS` pays; other
/// statuses are acknowledged and change nothing.
pub fn interpret_notify(
    params: &BTreeMap<String, String>,
    config: &EpayConfig,
) -> Result<Callback, ApiError> {
    let get = |k: &str| params.get(k).map(String::as_str).unwrap_or("");
    if get("pid") != config.pid {
        return Err(ApiError::bad_request(
            "invalid_notify",
            "notify is for another merchant",
        ));
    }
    if get("trade_status") != "TRADE_SUCCESS" {
        return Ok(Callback::Ignored(format!(
            "trade status {}",
            get("trade_status")
        )));
    }
    let order_no = get("out_trade_no");
    let trade_no = get("trade_no");
    if order_no.is_empty() || trade_no.is_empty() {
        return Err(ApiError::bad_request(
            "invalid_notify",
            "notify without out_trade_no or trade_no",
        ));
    }
    let paid = parse_money(get("money"))
        .ok_or_else(|| ApiError::bad_request("amount_mismatch", "money is not a decimal amount"))?;
    Ok(Callback::Paid(Payment {
        provider: Provider::Epay,
        order_no: order_no.to_string(),
        provider_ref: trade_no.to_string(),
        paid,
        currency: config.currency.to_ascii_lowercase(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn signs_sorted_non_empty_params_followed_by_the_key() {
        let p = params(&[
            ("type", "alipay"),
            ("pid", "1001"),
            ("money", "10.00"),
            ("out_trade_no", "crA"),
            ("param", ""),
            ("sign_type", "MD5"),
            ("sign", "ignored"),
        ]);
        // Computed independently: md5("money=10.00&out_trade_no=crA&pid=1001&type=alipaykey123").
        assert_eq!(sign(&p, "key123"), "ac76066a60ef3ebf952fb5ca8b5fc8f2");
    }

    #[test]
    fn verifies_in_either_case_and_refuses_tampering() {
        let mut p = params(&[
            ("pid", "1001"),
            ("money", "10.00"),
            ("trade_status", "TRADE_SUCCESS"),
        ]);
        let s = sign(&p, "k");
        p.insert("sign".into(), s.to_uppercase());
        assert!(verify(&p, "k"));
        assert!(!verify(&p, "other"));
        assert!(!verify(&p, ""));
        p.insert("money".into(), "100.00".into());
        assert!(!verify(&p, "k"));
        p.remove("sign");
        assert!(!verify(&p, "k"));
    }

    #[test]
    fn money_is_read_strictly() {
        assert_eq!(parse_money("10.00"), Some(Decimal::new(1000, 2)));
        assert_eq!(parse_money("10"), Some(Decimal::new(10, 0)));
        for bad in ["", "1e3", "-1", "10.", ".5", "1,0", "NaN", " 10"] {
            assert_eq!(parse_money(bad), None, "{bad}");
        }
        assert!(parse_params("a=1&a=2").is_err());
        assert_eq!(parse_params("a=1&b=%E6%94%AF").unwrap()["b"], "支");
    }
}
