//! Prices from the config turned into exact costs: per-1M-token prices, flat per-call prices,
//! `:free` models and per-group multipliers.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer};

use crate::ledger::money::{Money, UNITS_PER_USD};

/// Suffix of models that never touch a balance.
pub const FREE_SUFFIX: &str = ":free";

/// A non-negative decimal read from a TOML string (or integer), never through a float.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rate(pub Decimal);

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Rate;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a decimal string such as \"0.15\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Rate, E> {
                let plain = !v.is_empty()
                    && v.bytes().all(|b| b.is_ascii_digit() || b == b'.')
                    && v.matches('.').count() <= 1
                    && !v.starts_with('.')
                    && !v.ends_with('.');
                if !plain {
                    return Err(E::custom(format!(
                        "`{v}` is not a non-negative decimal such as \"0.15\""
                    )));
                }
                Decimal::from_str(v)
                    .map(Rate)
                    .map_err(|_| E::custom(format!("`{v}` is too large or too precise")))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Rate, E> {
                if v < 0 {
                    return Err(E::custom("must not be negative"));
                }
                Ok(Rate(Decimal::from(v)))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Rate, E> {
                Err(E::custom(format!(
                    "write prices as strings (\"{v}\"), so they are read exactly"
                )))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// `[models."name"]`: USD per 1M input/output tokens, or a flat price per call.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelPrice {
    pub input: Option<Rate>,
    pub output: Option<Rate>,
    pub per_request: Option<Rate>,
}

/// `[groups]` entry: multiplier applied to every cost of that group's members.
pub type GroupRate = Rate;

impl ModelPrice {
    /// Config validation for one `[models]` entry.
    pub fn check(&self, name: &str) -> Result<(), String> {
        let tokens = self.input.is_some() || self.output.is_some();
        let free = name.ends_with(FREE_SUFFIX);
        if free && (tokens || self.per_request.is_some()) {
            return Err("a `:free` model is never charged; remove its prices".into());
        }
        if tokens && self.per_request.is_some() {
            return Err("set either input/output or per_request, not both".into());
        }
        if !free && !tokens && self.per_request.is_none() {
            return Err("has no price: set input and output, or per_request".into());
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PricingError {
    #[error("model `{0}` is not priced")]
    UnknownModel(String),
    #[error("cost of this request is too large to represent")]
    Overflow,
}

/// The price table the relay charges by: built once from the config, swapped on reload.
#[derive(Debug, Clone, Default)]
pub struct PriceTable {
    models: BTreeMap<String, ModelPrice>,
    groups: BTreeMap<String, Decimal>,
}

impl PriceTable {
    pub fn new(
        models: &BTreeMap<String, ModelPrice>,
        groups: &BTreeMap<String, GroupRate>,
    ) -> Self {
        Self {
            models: models.clone(),
            groups: groups.iter().map(|(k, v)| (k.clone(), v.0)).collect(),
        }
    }

    /// Whether a model can be served at all: priced, or free by name.
    pub fn is_served(&self, model: &str) -> bool {
        model.ends_with(FREE_SUFFIX) || self.models.contains_key(model)
    }

    pub fn is_free(&self, model: &str) -> bool {
        model.ends_with(FREE_SUFFIX)
    }

    /// The multiplier of a group; a group the config does not name costs the `default` rate, or 1.
    pub fn group_rate(&self, group: &str) -> Decimal {
        self.groups
            .get(group)
            .or_else(|| self.groups.get("default"))
            .copied()
            .unwrap_or(Decimal::ONE)
    }

    pub fn models(&self) -> &BTreeMap<String, ModelPrice> {
        &self.models
    }

    /// Exact cost of a request: (input × input price + output × output price) / 1M × group rate,
    /// or the flat price × group rate; computed exactly and rounded up to the next nano-dollar.
    /// The same function with the worst-case output gives the pre-hold.
    pub fn cost(
        &self,
        model: &str,
        group: &str,
        input_tokens: u64,
        output_tokens: u64,
    ) -> Result<Money, PricingError> {
        if model.ends_with(FREE_SUFFIX) {
            return Ok(Money::ZERO);
        }
        let price = self
            .models
            .get(model)
            .ok_or_else(|| PricingError::UnknownModel(model.to_string()))?;
        let rate = self.group_rate(group);
        let units_per_usd = Decimal::from(UNITS_PER_USD);
        let usd = match price.per_request {
            Some(flat) => Some(flat.0),
            None => {
                let per_million = |tokens: u64, price: Option<Rate>| -> Option<Decimal> {
                    let p = price.map(|r| r.0).unwrap_or(Decimal::ZERO);
                    Decimal::from(tokens).checked_mul(p)
                };
                let input = per_million(input_tokens, price.input);
                let output = per_million(output_tokens, price.output);
                input
                    .zip(output)
                    .and_then(|(i, o)| i.checked_add(o))
                    .and_then(|sum| sum.checked_div(Decimal::from(1_000_000u32)))
            }
        };
        let units = usd
            .and_then(|usd| usd.checked_mul(rate))
            .and_then(|usd| usd.checked_mul(units_per_usd))
            .ok_or(PricingError::Overflow)?;
        Money::from_units_ceil(units).ok_or(PricingError::Overflow)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn table() -> PriceTable {
        let config = Config::parse(
            r#"
[models."gpt-4o-mini"]
input = "0.15"
output = "0.60"
[models."cheap"]
input = "0.01"
output = "0.01"
[models."tiny"]
input = "0.0001"
[models."dall-e-3"]
per_request = "0.04"
[models."llama-3.1-8b:free"]
[groups]
default = "1"
vip = "0.8"
"#,
            "t",
        )
        .unwrap();
        PriceTable::new(&config.models, &config.groups)
    }

    #[test]
    fn cost_table() {
        let t = table();
        // (model, group, input, output, expected USD)
        let cases = [
            ("gpt-4o-mini", "default", 1_000_000, 0, "0.150000"),
            ("gpt-4o-mini", "default", 1000, 500, "0.000450"),
            ("gpt-4o-mini", "vip", 1000, 500, "0.000360"),
            ("gpt-4o-mini", "unknown-group", 1000, 500, "0.000450"),
            ("gpt-4o-mini", "default", 0, 0, "0.000000"),
            // $0.01 per 1M tokens, one token: 10 nano-dollars, not rounded away.
            ("cheap", "default", 1, 0, "0.00000001"),
            ("cheap", "vip", 1, 0, "0.000000008"),
            // $0.0001 per 1M, one token is 0.1 nano-dollar: rounded up to one unit.
            ("tiny", "default", 1, 0, "0.000000001"),
            ("tiny", "default", 10, 0, "0.000000001"),
            ("tiny", "default", 11, 0, "0.000000002"),
            ("dall-e-3", "default", 5000, 5000, "0.040000"),
            ("dall-e-3", "vip", 0, 0, "0.032000"),
            (
                "llama-3.1-8b:free",
                "default",
                1_000_000,
                1_000_000,
                "0.000000",
            ),
            ("unpriced:free", "vip", 10, 10, "0.000000"),
        ];
        for (model, group, input, output, want) in cases {
            let got = t.cost(model, group, input, output).unwrap();
            assert_eq!(got.to_string(), want, "{model} {group} {input} {output}");
        }
    }

    #[test]
    fn unpriced_models_are_not_served() {
        let t = table();
        assert!(!t.is_served("gpt-5"));
        assert_eq!(
            t.cost("gpt-5", "default", 1, 1),
            Err(PricingError::UnknownModel("gpt-5".into()))
        );
        assert!(t.is_served("anything:free"));
    }

    #[test]
    fn huge_token_counts_do_not_panic() {
        let t = table();
        assert_eq!(
            t.cost("gpt-4o-mini", "default", u64::MAX, u64::MAX),
            Err(PricingError::Overflow)
        );
    }

    #[test]
    fn bad_price_entries_are_config_errors() {
        for (text, needle) in [
            ("[models.x]\ninput = 0.15\n", "strings"),
            ("[models.x]\ninput = \"-1\"\n", "non-negative"),
            ("[models.x]\n", "no price"),
            ("[models.\"x:free\"]\ninput = \"1\"\n", "free"),
            (
                "[models.x]\ninput = \"1\"\nper_request = \"1\"\n",
                "not both",
            ),
            ("[models.x]\ninptu = \"1\"\n", "inptu"),
        ] {
            let e = Config::parse(text, "t").unwrap_err();
            assert!(e.0.contains(needle), "{text}: {e}");
            assert!(e.0.contains("line"), "{text}: {e}");
        }
    }
}
