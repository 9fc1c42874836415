//! Online payment top-up: the `[payments.*]` config, the methods on offer, and turning a
//! requested amount into an exact quote (balance to credit, minor units the provider charges).
//! Each provider lives in its own file; orders and the one crediting step are in `orders`.

pub mod btcpay;
pub mod creem;
pub mod epay;
pub mod handlers;
pub mod nowpayments;
pub mod orders;
pub mod stripe;
pub mod webhooks;

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::{ApiError, ApiResult};
use crate::ledger::money::{Money, UNITS_PER_USD};
use crate::pricing::Rate;

/// `[payments]`: one sub-table per provider, each off until `enabled = true`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PaymentsConfig {
    pub stripe: stripe::StripeConfig,
    pub creem: creem::CreemConfig,
    pub epay: epay::EpayConfig,
    pub btcpay: btcpay::BtcpayConfig,
    pub nowpayments: nowpayments::NowpaymentsConfig,
}

/// The payment providers Code Router speaks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    Stripe,
    Creem,
    Epay,
    Btcpay,
    Nowpayments,
}

impl Provider {
    /// Every provider, in the order `GET /api/topup/methods` lists them.
    pub const ALL: [Provider; 5] = [
        Provider::Stripe,
        Provider::Creem,
        Provider::Epay,
        Provider::Btcpay,
        Provider::Nowpayments,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Stripe => "stripe",
            Provider::Creem => "creem",
            Provider::Epay => "epay",
            Provider::Btcpay => "btcpay",
            Provider::Nowpayments => "nowpayments",
        }
    }

    pub fn parse(text: &str) -> Option<Provider> {
        Provider::ALL.into_iter().find(|p| p.as_str() == text)
    }
}

/// What a method accepts: the provider's currency, how many of its units one unit of balance
/// costs, and the bounds of an amount of balance.
#[derive(Debug, Clone)]
pub struct Limits {
    pub currency: String,
    pub rate: Decimal,
    pub min_amount: Money,
    pub max_amount: Money,
    pub presets: Vec<Money>,
}

/// An order's figures, fixed at checkout: the balance it credits, and what the provider must
/// report as paid (an integer of the currency's minor unit, e.g. cents).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quote {
    pub credit: Money,
    pub pay_minor: i64,
    pub currency: String,
    pub decimals: u32,
}

impl Quote {
    /// The paid amount as a decimal in the provider's currency (`10.00`).
    pub fn pay_decimal(&self) -> Decimal {
        Decimal::new(self.pay_minor, self.decimals)
    }
}

/// Balance amounts are asked for in cents at most: `10.25`, not `10.255`.
const CENT_UNITS: i64 = UNITS_PER_USD / 100;

/// Stripe's zero-decimal currencies: their amounts are whole units, not hundredths.
const ZERO_DECIMAL: &[&str] = &[
    "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv",
    "xaf", "xof", "xpf",
];

/// Decimal places of a currency's minor unit as the card providers count it.
pub fn currency_decimals(currency: &str) -> u32 {
    if ZERO_DECIMAL.contains(&currency.to_ascii_lowercase().as_str()) {
        0
    } else {
        2
    }
}

/// Turns a requested balance amount into the order's figures, refusing what the method does
/// not accept. The price in the provider's currency is `amount × rate`, rounded up to its
/// minor unit (never down: the balance is not sold below the configured rate).
pub fn quote(amount: Money, limits: &Limits) -> ApiResult<Quote> {
    if !amount.is_positive() {
        return Err(ApiError::bad_request(
            "invalid_amount",
            "amount must be greater than zero",
        ));
    }
    if amount.units() % CENT_UNITS != 0 {
        return Err(ApiError::bad_request(
            "amount_too_precise",
            "amount may have at most 2 decimal places",
        ));
    }
    if amount < limits.min_amount {
        return Err(ApiError::bad_request(
            "amount_too_small",
            format!("the minimum top-up is {}", limits.min_amount),
        ));
    }
    if amount > limits.max_amount {
        return Err(ApiError::bad_request(
            "amount_too_large",
            format!("the maximum top-up is {}", limits.max_amount),
        ));
    }
    let decimals = currency_decimals(&limits.currency);
    let pay_minor = price_in_minor_units(amount, limits.rate, decimals).ok_or_else(|| {
        ApiError::bad_request("amount_too_large", "amount is too large to be paid")
    })?;
    if pay_minor <= 0 {
        return Err(ApiError::bad_request(
            "amount_too_small",
            "amount is too small to be paid",
        ));
    }
    Ok(Quote {
        credit: amount,
        pay_minor,
        currency: limits.currency.to_ascii_lowercase(),
        decimals,
    })
}

/// `amount × rate` in the minor unit of a currency with `decimals` places, rounded up.
pub fn price_in_minor_units(amount: Money, rate: Decimal, decimals: u32) -> Option<i64> {
    let price = amount.to_decimal().checked_mul(rate)?;
    let rounded = price.round_dp_with_strategy(decimals, RoundingStrategy::ToPositiveInfinity);
    rounded
        .checked_mul(Decimal::from(10_i64.pow(decimals)))?
        .to_i64()
}

/// Reads a secret set in the file or, by name, in the environment. Empty when neither is set.
pub fn resolve_secret(inline: &str, env_name: &str) -> String {
    if !inline.is_empty() {
        return inline.to_string();
    }
    if env_name.is_empty() {
        return String::new();
    }
    std::env::var(env_name).unwrap_or_default()
}

/// Config check of one secret: an enabled provider must name one, in the file or by the name
/// of an environment variable. Whether that variable is set is a property of the process, not
/// of the file (an operator running `code-router user create` from a shell may not have it), so
/// it is reported by [`PaymentsConfig::unset_secrets`] when the server starts, not here.
pub(crate) fn check_secret(
    section: &str,
    key: &str,
    inline: &str,
    env_name: &str,
) -> Result<(), (String, String)> {
    let path = format!("payments.{section}.{key}");
    if !inline.is_empty() && !env_name.is_empty() {
        return Err((path, format!("set {key} or {key}_env, not both")));
    }
    if inline.is_empty() && env_name.is_empty() {
        return Err((
            path,
            format!("payments.{section} is enabled but has no {key} (set {key} or {key}_env)"),
        ));
    }
    Ok(())
}

/// `(key, env var)` of each enabled provider's secret that names an environment variable which
/// is unset or empty in this process.
fn unset_env(section: &str, key: &str, inline: &str, env_name: &str) -> Option<String> {
    (inline.is_empty() && !env_name.is_empty() && resolve_secret(inline, env_name).is_empty()).then(
        || format!("payments.{section}.{key}_env: the environment variable {env_name} is not set"),
    )
}

/// Config check of the bounds shared by every method.
pub(crate) fn check_limits(section: &str, limits: &Limits) -> Result<(), (String, String)> {
    let key = |k: &str| format!("payments.{section}.{k}");
    let currency = &limits.currency;
    if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err((
            key("currency"),
            "must be a 3-letter ISO code such as \"usd\"".into(),
        ));
    }
    if limits.rate <= Decimal::ZERO {
        return Err((key("rate"), "must be greater than zero".into()));
    }
    if !limits.min_amount.is_positive() || limits.min_amount.units() % CENT_UNITS != 0 {
        return Err((
            key("min_amount"),
            "must be above zero with at most 2 decimal places".into(),
        ));
    }
    if limits.max_amount < limits.min_amount || limits.max_amount.units() % CENT_UNITS != 0 {
        return Err((
            key("max_amount"),
            "must be at least min_amount, with at most 2 decimal places".into(),
        ));
    }
    for preset in &limits.presets {
        quote(*preset, limits).map_err(|e| {
            (
                key("presets"),
                format!("preset {preset} is not a valid top-up: {}", e.message),
            )
        })?;
    }
    Ok(())
}

impl PaymentsConfig {
    /// Validation for `Config::validate`: errors name the key.
    pub fn check(&self) -> Result<(), (String, String)> {
        if self.stripe.enabled {
            self.stripe.check()?;
        }
        if self.creem.enabled {
            self.creem.check()?;
        }
        if self.epay.enabled {
            self.epay.check()?;
        }
        if self.btcpay.enabled {
            self.btcpay.check()?;
        }
        if self.nowpayments.enabled {
            self.nowpayments.check()?;
        }
        Ok(())
    }

    /// Secrets of enabled providers that name an environment variable this process lacks;
    /// the server logs each at start-up (checkouts and callbacks of that provider fail until set).
    pub fn unset_secrets(&self) -> Vec<String> {
        let (s, c, e) = (&self.stripe, &self.creem, &self.epay);
        let mut out = Vec::new();
        if s.enabled {
            out.extend(unset_env(
                "stripe",
                "secret_key",
                &s.secret_key,
                &s.secret_key_env,
            ));
            out.extend(unset_env(
                "stripe",
                "webhook_secret",
                &s.webhook_secret,
                &s.webhook_secret_env,
            ));
        }
        if c.enabled {
            out.extend(unset_env("creem", "api_key", &c.api_key, &c.api_key_env));
            out.extend(unset_env(
                "creem",
                "webhook_secret",
                &c.webhook_secret,
                &c.webhook_secret_env,
            ));
        }
        if e.enabled {
            out.extend(unset_env("epay", "key", &e.key, &e.key_env));
        }
        let (b, n) = (&self.btcpay, &self.nowpayments);
        if b.enabled {
            out.extend(unset_env("btcpay", "api_key", &b.api_key, &b.api_key_env));
            out.extend(unset_env(
                "btcpay",
                "webhook_secret",
                &b.webhook_secret,
                &b.webhook_secret_env,
            ));
        }
        if n.enabled {
            out.extend(unset_env(
                "nowpayments",
                "api_key",
                &n.api_key,
                &n.api_key_env,
            ));
            out.extend(unset_env(
                "nowpayments",
                "ipn_secret",
                &n.ipn_secret,
                &n.ipn_secret_env,
            ));
        }
        out
    }

    /// The limits of an enabled method, or `None` when it is off.
    pub fn limits(&self, provider: Provider) -> Option<Limits> {
        match provider {
            Provider::Stripe if self.stripe.enabled => Some(self.stripe.limits()),
            Provider::Creem if self.creem.enabled => Some(self.creem.limits()),
            Provider::Epay if self.epay.enabled => Some(self.epay.limits()),
            Provider::Btcpay if self.btcpay.enabled => Some(self.btcpay.limits()),
            Provider::Nowpayments if self.nowpayments.enabled => Some(self.nowpayments.limits()),
            _ => None,
        }
    }

    /// What `GET /api/topup/methods` shows: the enabled methods in a fixed order.
    pub fn methods_json(&self) -> Vec<Value> {
        let mut out = Vec::new();
        for provider in Provider::ALL {
            let Some(limits) = self.limits(provider) else {
                continue;
            };
            let mut method = json!({
                "method": provider.as_str(),
                "currency": limits.currency,
                "rate": limits.rate.normalize().to_string(),
                "min_amount": limits.min_amount,
                "max_amount": limits.max_amount,
                "presets": limits.presets,
                "custom_amount": provider != Provider::Creem,
            });
            if provider == Provider::Epay {
                method["types"] = json!(self.epay.types);
            }
            if provider == Provider::Nowpayments && !self.nowpayments.pay_currency.is_empty() {
                method["pay_currency"] = json!(self.nowpayments.pay_currency);
            }
            out.push(method);
        }
        out
    }
}

/// A decimal in a provider's JSON, as a string (`"10.25"`) or a number (`10.25`), read from its
/// text so that no float is involved. `None` for anything else.
pub fn decimal_in_json(raw: &serde_json::value::RawValue) -> Option<Decimal> {
    let text = raw.get().trim();
    let plain = match serde_json::from_str::<String>(text) {
        Ok(s) => s,
        Err(_) => text.to_string(),
    };
    let plain = plain.trim();
    let looks_numeric = !plain.is_empty()
        && plain
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'));
    if !looks_numeric {
        return None;
    }
    plain
        .parse::<Decimal>()
        .ok()
        .or_else(|| Decimal::from_scientific(plain).ok())
}

/// A provider's id in its JSON, as a string or an integer, as text.
pub fn id_in_json(raw: &serde_json::value::RawValue) -> Option<String> {
    let text = raw.get().trim();
    if let Ok(s) = serde_json::from_str::<String>(text) {
        return (!s.is_empty()).then_some(s);
    }
    (!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())).then(|| text.to_string())
}

/// A `Rate` default of exactly one (one unit of the provider's currency per unit of balance).
pub(crate) fn rate_one() -> Rate {
    Rate(Decimal::ONE)
}

/// A whole number of dollars as money, for defaults.
pub(crate) fn dollars(n: i64) -> Money {
    Money::from_units(n * UNITS_PER_USD)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(currency: &str, rate: &str) -> Limits {
        Limits {
            currency: currency.into(),
            rate: rate.parse().unwrap(),
            min_amount: dollars(5),
            max_amount: dollars(1000),
            presets: vec![],
        }
    }

    fn usd(text: &str) -> Money {
        Money::parse(text).unwrap()
    }

    #[test]
    fn quotes_are_exact_and_bounded() {
        let l = limits("usd", "1");
        let q = quote(usd("10.25"), &l).unwrap();
        assert_eq!(q.pay_minor, 1025);
        assert_eq!(q.credit, usd("10.25"));
        assert_eq!(q.pay_decimal().to_string(), "10.25");
        assert_eq!(quote(usd("4.99"), &l).unwrap_err().code, "amount_too_small");
        assert_eq!(
            quote(usd("1000.01"), &l).unwrap_err().code,
            "amount_too_large"
        );
        assert_eq!(
            quote(usd("10.001"), &l).unwrap_err().code,
            "amount_too_precise"
        );
        assert_eq!(quote(usd("-10"), &l).unwrap_err().code, "invalid_amount");
    }

    #[test]
    fn rates_round_the_price_up_to_the_minor_unit() {
        let q = quote(usd("10.01"), &limits("cny", "7.3")).unwrap();
        assert_eq!(q.pay_minor, 7308); // 73.073 → 73.08
        let q = quote(usd("10"), &limits("jpy", "150.5")).unwrap();
        assert_eq!((q.pay_minor, q.decimals), (1505, 0));
        let q = quote(usd("10.01"), &limits("JPY", "150")).unwrap();
        assert_eq!((q.pay_minor, q.currency.as_str()), (1502, "jpy")); // 1501.5 → 1502
    }
}
