//! Prices from the config turned into exact costs, as providers bill them: per-1M-token prices for
//! fresh input, cache reads, 5-minute and 1-hour cache writes and output (reasoning included),
//! a flat per-request price that may come on top, long-context tiers chosen by the prompt's size,
//! `:free` models and per-group multipliers.

pub mod list;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize};

use crate::ledger::money::{Money, UNITS_PER_USD};
use crate::relay::usage::Usage;

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

/// `[models."name"]`: USD per 1M tokens of each kind, and a flat price per call. A missing cache
/// price bills those tokens at `input`; `per_request` may stand alone or come on top.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelPrice {
    pub input: Option<Rate>,
    pub output: Option<Rate>,
    /// Prompt tokens read from the provider's cache.
    pub cache_read: Option<Rate>,
    /// Prompt tokens written to a 5-minute cache.
    pub cache_write: Option<Rate>,
    /// Prompt tokens written to a 1-hour cache.
    pub cache_write_1h: Option<Rate>,
    pub per_request: Option<Rate>,
    /// Long-context prices: `[[models."name".tiers]]`, each for prompts above a size.
    #[serde(default)]
    pub tiers: Vec<Tier>,
}

/// A long-context tier: its prices apply to a request whose prompt (every kind of prompt token
/// together) has more than `above_input_tokens`; a price it does not set is the model's own.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    pub above_input_tokens: u64,
    pub input: Option<Rate>,
    pub output: Option<Rate>,
    pub cache_read: Option<Rate>,
    pub cache_write: Option<Rate>,
    pub cache_write_1h: Option<Rate>,
    pub per_request: Option<Rate>,
}

/// `[groups]` entry: multiplier applied to every cost of that group's members.
pub type GroupRate = Rate;

impl ModelPrice {
    /// Config validation for one `[models]` entry.
    pub fn check(&self, name: &str) -> Result<(), String> {
        let priced = self.input.is_some() || self.output.is_some() || self.per_request.is_some();
        let cache = self.cache_read.is_some()
            || self.cache_write.is_some()
            || self.cache_write_1h.is_some();
        let free = name.ends_with(FREE_SUFFIX);
        if free && (priced || cache || !self.tiers.is_empty()) {
            return Err("a `:free` model is never charged; remove its prices".into());
        }
        if !free && !priced {
            return Err("has no price: set input and output, or per_request".into());
        }
        let mut last = 0;
        for tier in &self.tiers {
            if tier.above_input_tokens <= last {
                return Err(
                    "tiers need above_input_tokens of at least 1, each larger than the one before"
                        .into(),
                );
            }
            last = tier.above_input_tokens;
            let sets_any = [
                tier.input,
                tier.output,
                tier.cache_read,
                tier.cache_write,
                tier.cache_write_1h,
                tier.per_request,
            ]
            .iter()
            .any(Option::is_some);
            if !sets_any {
                return Err(format!(
                    "the tier above {} input tokens sets no price",
                    tier.above_input_tokens
                ));
            }
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

/// The prices one request is billed at: a model's (or its tier's), every kind filled in, with the
/// group's multiplier. Written on the request's log row, so a charge can be checked by hand.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Sheet {
    pub input: Decimal,
    pub output: Decimal,
    pub cache_read: Decimal,
    pub cache_write: Decimal,
    pub cache_write_1h: Decimal,
    pub per_request: Decimal,
    pub multiplier: Decimal,
    /// The long-context tier used: its `above_input_tokens`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tier: Option<u64>,
}

impl Sheet {
    /// Cost = (Σ tokens of each kind × its price) / 1M + the flat price, × the multiplier,
    /// computed exactly and rounded up to the next nano-dollar once.
    pub fn cost(&self, usage: &Usage) -> Result<Money, PricingError> {
        let tokens = |n: u64, price: Decimal| Decimal::from(n).checked_mul(price);
        let per_million = [
            tokens(usage.input, self.input),
            tokens(usage.cache_read, self.cache_read),
            tokens(usage.cache_write_5m, self.cache_write),
            tokens(usage.cache_write_1h, self.cache_write_1h),
            tokens(usage.output, self.output),
        ]
        .into_iter()
        .try_fold(Decimal::ZERO, |sum, part| {
            part.and_then(|p| sum.checked_add(p))
        })
        .ok_or(PricingError::Overflow)?;
        let usd = per_million
            .checked_div(Decimal::from(1_000_000u32))
            .and_then(|tokens| tokens.checked_add(self.per_request))
            .and_then(|usd| usd.checked_mul(self.multiplier))
            .ok_or(PricingError::Overflow)?;
        to_money(usd)
    }

    /// The sheet as stored on log rows: canonical JSON of decimal strings.
    pub fn to_text(&self) -> String {
        let text = |d: Decimal| d.normalize().to_string();
        let mut out = serde_json::json!({
            "input": text(self.input),
            "output": text(self.output),
            "cache_read": text(self.cache_read),
            "cache_write": text(self.cache_write),
            "cache_write_1h": text(self.cache_write_1h),
            "per_request": text(self.per_request),
            "multiplier": text(self.multiplier),
        });
        if let Some(tier) = self.tier {
            out["tier"] = serde_json::json!(tier);
        }
        out.to_string()
    }
}

fn to_money(usd: Decimal) -> Result<Money, PricingError> {
    let units = usd
        .checked_mul(Decimal::from(UNITS_PER_USD))
        .ok_or(PricingError::Overflow)?;
    Money::from_units_ceil(units).ok_or(PricingError::Overflow)
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

    pub fn price(&self, model: &str) -> Option<&ModelPrice> {
        self.models.get(model)
    }

    /// The prices a request of `prompt_tokens` (every kind together) is billed at, or `None` for
    /// a free model.
    pub fn sheet(
        &self,
        model: &str,
        group: &str,
        prompt_tokens: u64,
    ) -> Result<Option<Sheet>, PricingError> {
        if self.is_free(model) {
            return Ok(None);
        }
        let price = self
            .models
            .get(model)
            .ok_or_else(|| PricingError::UnknownModel(model.to_string()))?;
        let tier = price
            .tiers
            .iter()
            .rev()
            .find(|t| prompt_tokens > t.above_input_tokens);
        Ok(Some(sheet_of(price, tier, self.group_rate(group))))
    }

    /// Exact cost of a request's usage (zero for a free model).
    pub fn cost(&self, model: &str, group: &str, usage: &Usage) -> Result<Money, PricingError> {
        match self.sheet(model, group, usage.prompt())? {
            Some(sheet) => sheet.cost(usage),
            None => Ok(Money::ZERO),
        }
    }

    /// The hold: a true worst case. Every prompt token at the highest prompt price that could
    /// apply to it (fresh input or either cache write, in any tier a prompt of `prompt_bound`
    /// tokens could reach), every output token of `output_bound` at the highest output price
    /// there, and the highest flat price; with the group's multiplier, rounded up.
    pub fn hold(
        &self,
        model: &str,
        group: &str,
        prompt_bound: u64,
        output_bound: u64,
    ) -> Result<Money, PricingError> {
        if self.is_free(model) {
            return Ok(Money::ZERO);
        }
        let price = self
            .models
            .get(model)
            .ok_or_else(|| PricingError::UnknownModel(model.to_string()))?;
        let rate = self.group_rate(group);
        let reachable = std::iter::once(None).chain(
            price
                .tiers
                .iter()
                .filter(|t| prompt_bound > t.above_input_tokens)
                .map(Some),
        );
        let mut worst = Sheet {
            tier: None,
            ..sheet_of(price, None, rate)
        };
        for tier in reachable {
            let s = sheet_of(price, tier, rate);
            worst.input = worst
                .input
                .max(s.input)
                .max(s.cache_read)
                .max(s.cache_write)
                .max(s.cache_write_1h);
            worst.output = worst.output.max(s.output);
            worst.per_request = worst.per_request.max(s.per_request);
        }
        worst.cost(&Usage {
            input: prompt_bound,
            output: output_bound,
            ..Usage::default()
        })
    }
}

/// A model's prices with a tier's over them, every kind filled in (a missing cache price is the
/// input price).
fn sheet_of(price: &ModelPrice, tier: Option<&Tier>, multiplier: Decimal) -> Sheet {
    let pick =
        |base: Option<Rate>, over: Option<Option<Rate>>| over.flatten().or(base).map(|r| r.0);
    let input = pick(price.input, tier.map(|t| t.input)).unwrap_or(Decimal::ZERO);
    Sheet {
        input,
        output: pick(price.output, tier.map(|t| t.output)).unwrap_or(Decimal::ZERO),
        cache_read: pick(price.cache_read, tier.map(|t| t.cache_read)).unwrap_or(input),
        cache_write: pick(price.cache_write, tier.map(|t| t.cache_write)).unwrap_or(input),
        cache_write_1h: pick(price.cache_write_1h, tier.map(|t| t.cache_write_1h)).unwrap_or(input),
        per_request: pick(price.per_request, tier.map(|t| t.per_request)).unwrap_or(Decimal::ZERO),
        multiplier,
        tier: tier.map(|t| t.above_input_tokens),
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
[models."claude"]
input = "3"
output = "15"
cache_read = "0.30"
cache_write = "3.75"
cache_write_1h = "6"
[[models."claude".tiers]]
above_input_tokens = 200000
input = "6"
output = "22.50"
cache_read = "0.60"
cache_write = "7.50"
cache_write_1h = "12"
[models."gpt-cached"]
input = "1.25"
output = "10"
cache_read = "0.125"
[models."search"]
input = "1"
output = "2"
per_request = "0.01"
[groups]
default = "1"
vip = "0.8"
"#,
            "t",
        )
        .unwrap();
        PriceTable::new(&config.models, &config.groups)
    }

    fn io(input: u64, output: u64) -> Usage {
        Usage {
            input,
            output,
            ..Usage::default()
        }
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
            // A flat price on top of token prices.
            ("search", "default", 1000, 1000, "0.013000"),
            ("search", "vip", 0, 0, "0.008000"),
        ];
        for (model, group, input, output, want) in cases {
            let got = t.cost(model, group, &io(input, output)).unwrap();
            assert_eq!(got.to_string(), want, "{model} {group} {input} {output}");
        }
    }

    #[test]
    fn every_kind_of_token_at_its_own_price() {
        let t = table();
        // Claude Code's typical turn: most of the prompt read from cache, some written for an
        // hour, a little fresh, and output with thinking.
        let usage = Usage {
            input: 120,
            cache_read: 40_000,
            cache_write_5m: 1_000,
            cache_write_1h: 2_000,
            output: 800,
            reasoning: 300,
        };
        // 120×3 + 40000×0.3 + 1000×3.75 + 2000×6 + 800×15 = 360 + 12000 + 3750 + 12000 + 12000
        assert_eq!(
            t.cost("claude", "default", &usage).unwrap().to_string(),
            "0.040110"
        );
        assert_eq!(
            t.cost("claude", "vip", &usage).unwrap().to_string(),
            "0.032088"
        );
        // OpenAI's cached input at its own price; no cache-write price set: billed at input.
        let usage = Usage {
            input: 2_000,
            cache_read: 8_000,
            cache_write_5m: 100,
            output: 100,
            ..Usage::default()
        };
        // 2000×1.25 + 8000×0.125 + 100×1.25 + 100×10 = 2500 + 1000 + 125 + 1000
        assert_eq!(
            t.cost("gpt-cached", "default", &usage).unwrap().to_string(),
            "0.004625"
        );
        // One cache-read token at the cheapest realistic price is not rounded away either.
        let one = Usage {
            cache_read: 1,
            ..Usage::default()
        };
        assert_eq!(
            t.cost("cheap", "default", &one).unwrap().to_string(),
            "0.00000001"
        );
    }

    #[test]
    fn long_context_tiers_start_just_above_their_boundary() {
        let t = table();
        let at = |prompt: u64| Usage {
            input: prompt - 100_000,
            cache_read: 100_000,
            output: 1_000,
            ..Usage::default()
        };
        // Exactly at the boundary: the base prices.
        let sheet = t.sheet("claude", "default", 200_000).unwrap().unwrap();
        assert_eq!(sheet.tier, None);
        // 100000×3 + 100000×0.3 + 1000×15 = 345000 per 1M
        assert_eq!(
            t.cost("claude", "default", &at(200_000))
                .unwrap()
                .to_string(),
            "0.345000"
        );
        // One token more: every token at the tier's prices.
        assert_eq!(
            t.sheet("claude", "default", 200_001).unwrap().unwrap().tier,
            Some(200_000)
        );
        // 100001×6 + 100000×0.6 + 1000×22.5 = 600006 + 60000 + 22500
        assert_eq!(
            t.cost("claude", "default", &at(200_001))
                .unwrap()
                .to_string(),
            "0.682506"
        );
    }

    #[test]
    fn the_hold_is_a_true_worst_case() {
        let t = table();
        let worst = |model: &str, prompt: u64, output: u64| {
            t.hold(model, "default", prompt, output).unwrap()
        };
        // Every prompt token as a 1-hour cache write, the dearest prompt price: 1000×6 + 100×15.
        assert_eq!(worst("claude", 1000, 100).to_string(), "0.007500");
        // A prompt that could reach the tier is held at the tier's prices: 200001×12 + 100×22.5.
        assert_eq!(worst("claude", 200_001, 100).to_string(), "2.402262");
        // Whatever the usage turns out to be within the bounds, its cost is not above the hold.
        for (input, cr, cw, cw1h, output) in [
            (1000, 0, 0, 0, 100),
            (0, 1000, 0, 0, 100),
            (0, 0, 1000, 0, 100),
            (0, 0, 0, 1000, 100),
            (200_001, 0, 0, 0, 100),
            (1, 0, 0, 200_000, 100),
        ] {
            let usage = Usage {
                input,
                cache_read: cr,
                cache_write_5m: cw,
                cache_write_1h: cw1h,
                output,
                reasoning: 0,
            };
            let prompt = usage.prompt();
            let cost = t.cost("claude", "default", &usage).unwrap();
            assert!(cost <= worst("claude", prompt, 100), "{usage:?}");
        }
        // The flat price is held too, and a free model holds nothing.
        assert_eq!(worst("search", 0, 0).to_string(), "0.010000");
        assert_eq!(worst("x:free", 10, 10), Money::ZERO);
    }

    #[test]
    fn unpriced_models_are_not_served() {
        let t = table();
        assert!(!t.is_served("gpt-5"));
        assert_eq!(
            t.cost("gpt-5", "default", &io(1, 1)),
            Err(PricingError::UnknownModel("gpt-5".into()))
        );
        assert!(t.is_served("anything:free"));
    }

    #[test]
    fn huge_token_counts_do_not_panic() {
        let t = table();
        assert_eq!(
            t.cost("gpt-4o-mini", "default", &io(u64::MAX, u64::MAX)),
            Err(PricingError::Overflow)
        );
        assert_eq!(
            t.hold("claude", "default", u64::MAX, u64::MAX),
            Err(PricingError::Overflow)
        );
    }

    #[test]
    fn the_sheet_is_stored_as_canonical_text() {
        let t = table();
        let sheet = t.sheet("claude", "vip", 300_000).unwrap().unwrap();
        assert_eq!(
            sheet.to_text(),
            r#"{"cache_read":"0.6","cache_write":"7.5","cache_write_1h":"12","input":"6","multiplier":"0.8","output":"22.5","per_request":"0","tier":200000}"#
        );
    }

    #[test]
    fn bad_price_entries_are_config_errors() {
        for (text, needle) in [
            ("[models.x]\ninput = 0.15\n", "strings"),
            ("[models.x]\ninput = \"-1\"\n", "non-negative"),
            ("[models.x]\n", "no price"),
            ("[models.x]\ncache_read = \"1\"\n", "no price"),
            ("[models.\"x:free\"]\ninput = \"1\"\n", "free"),
            ("[models.\"x:free\"]\ncache_read = \"1\"\n", "free"),
            ("[models.x]\ninptu = \"1\"\n", "inptu"),
            (
                "[models.x]\ninput = \"1\"\n[[models.x.tiers]]\nabove_input_tokens = 0\ninput = \"2\"\n",
                "at least 1",
            ),
            (
                "[models.x]\ninput = \"1\"\n[[models.x.tiers]]\nabove_input_tokens = 9\ninput = \"2\"\n[[models.x.tiers]]\nabove_input_tokens = 5\ninput = \"3\"\n",
                "larger",
            ),
            (
                "[models.x]\ninput = \"1\"\n[[models.x.tiers]]\nabove_input_tokens = 9\n",
                "sets no price",
            ),
            (
                "[models.x]\ninput = \"1\"\n[[models.x.tiers]]\nabove_input_tokens = 9\ninpt = \"2\"\n",
                "inpt",
            ),
        ] {
            let e = Config::parse(text, "t").unwrap_err();
            assert!(e.0.contains(needle), "{text}: {e}");
            assert!(e.0.contains("line"), "{text}: {e}");
        }
    }
}
