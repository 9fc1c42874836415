//! The money type: an exact count of nano-dollars (10^-9 USD), parsed from and shown as decimal strings.

use std::fmt;
use std::str::FromStr;

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Decimal places of the storage unit: one unit is 10^-9 USD. The cheapest realistic price,
/// $0.01 per 1M tokens, is 10 units for one token, so no price a provider charges rounds away.
pub const SCALE: u32 = 9;
pub const UNITS_PER_USD: i64 = 1_000_000_000;

/// An amount of money in nano-dollars. Signed so that ledger rows can carry debits; where a
/// negative amount makes no sense the caller asks for [`Money::parse_positive`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Money(i64);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("`{0}` is not a decimal amount such as \"10.50\"")]
    NotDecimal(String),
    #[error("`{0}` has more than 9 decimal places")]
    TooPrecise(String),
    #[error("`{0}` is past the largest amount one operation may move, {max}", max = Money::MAX_AMOUNT.whole())]
    TooLarge(String),
    #[error("amount must be greater than zero")]
    NotPositive,
}

impl Money {
    pub const ZERO: Money = Money(0);

    /// The largest amount one operation moves, either way: a credit, a debit, a code, a top-up,
    /// a transfer, a key limit. $1,000,000,000 is far past any real top-up, and with the
    /// largest balance (`ledger::MAX_BALANCE`, the same) a sum of the two stays a ninth of
    /// what an i64 (and so a SQLite integer) holds, so no addition of them can overflow.
    pub const MAX_AMOUNT: Money = Money(1_000_000_000 * UNITS_PER_USD);

    pub const fn from_units(units: i64) -> Money {
        Money(units)
    }

    pub const fn units(self) -> i64 {
        self.0
    }

    /// Parses a plain decimal string (`"12"`, `"0.000150"`, `"-3.5"`): digits with an optional
    /// sign and point; no exponent, no separators, at most 9 decimal places (trailing zeros aside).
    pub fn parse(text: &str) -> Result<Money, MoneyError> {
        let s = text.trim();
        let digits = s.strip_prefix('-').unwrap_or(s);
        let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
        let well_formed = !whole.is_empty()
            && whole.bytes().all(|b| b.is_ascii_digit())
            && frac.bytes().all(|b| b.is_ascii_digit())
            && !(digits.contains('.') && frac.is_empty());
        if !well_formed {
            return Err(MoneyError::NotDecimal(text.to_string()));
        }
        if frac.trim_end_matches('0').len() > SCALE as usize {
            return Err(MoneyError::TooPrecise(text.to_string()));
        }
        let value = Decimal::from_str(s).map_err(|_| MoneyError::TooLarge(text.to_string()))?;
        Money::from_decimal_exact(value)
            .filter(|m| m.0.unsigned_abs() <= Money::MAX_AMOUNT.0.unsigned_abs())
            .ok_or_else(|| MoneyError::TooLarge(text.to_string()))
    }

    /// The whole dollars of an amount, for naming a limit in a message (`1000000000`).
    pub fn whole(self) -> i64 {
        self.0 / UNITS_PER_USD
    }

    /// Parses an amount that must be above zero (top-ups, codes, transfers).
    pub fn parse_positive(text: &str) -> Result<Money, MoneyError> {
        let m = Money::parse(text)?;
        if m.0 <= 0 {
            return Err(MoneyError::NotPositive);
        }
        Ok(m)
    }

    /// Converts a decimal with at most 9 places; `None` when it has more or overflows.
    pub fn from_decimal_exact(value: Decimal) -> Option<Money> {
        let units = value.checked_mul(Decimal::from(UNITS_PER_USD))?;
        if units.fract() != Decimal::ZERO {
            return None;
        }
        units.to_i64().map(Money)
    }

    /// Converts a fractional number of units, rounding up to the next whole unit: a charge is
    /// never rounded down to less than what was used. `None` on overflow.
    pub fn from_units_ceil(units: Decimal) -> Option<Money> {
        units
            .round_dp_with_strategy(0, RoundingStrategy::ToPositiveInfinity)
            .to_i64()
            .map(Money)
    }

    pub fn to_decimal(self) -> Decimal {
        Decimal::new(self.0, SCALE)
    }

    pub fn checked_add(self, other: Money) -> Option<Money> {
        self.0.checked_add(other.0).map(Money)
    }

    pub fn checked_sub(self, other: Money) -> Option<Money> {
        self.0.checked_sub(other.0).map(Money)
    }

    pub fn is_positive(self) -> bool {
        self.0 > 0
    }
}

/// At least six decimal places (`"0.000150"`, `"10.000000"`), more when the amount needs them.
impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let whole = abs / UNITS_PER_USD as u64;
        let frac = format!("{:09}", abs % UNITS_PER_USD as u64);
        let trimmed = frac.trim_end_matches('0');
        let shown = if trimmed.len() > 6 {
            trimmed
        } else {
            &frac[..6]
        };
        write!(f, "{sign}{whole}.{shown}")
    }
}

impl std::ops::Neg for Money {
    type Output = Money;
    fn neg(self) -> Money {
        Money(-self.0)
    }
}

impl FromStr for Money {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Money::parse(s)
    }
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Amounts arrive as decimal strings; a JSON number is refused rather than read through a float.
impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Money;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an amount as a decimal string, such as \"10.50\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Money, E> {
                Money::parse(v).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

/// In the OpenAPI document money is a decimal string, never a number: what `Serialize` writes
/// and `Deserialize` accepts. One named schema, so every amount field points at the same rule.
impl utoipa::PartialSchema for Money {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(r"^-?[0-9]+(\.[0-9]+)?$"))
            .description(Some(
                "An amount in USD as a decimal string: at least six decimal places when shown, \
                 at most nine accepted. JSON numbers are refused.",
            ))
            .examples([serde_json::json!("0.050000")])
            .into()
    }
}

impl utoipa::ToSchema for Money {
    fn name() -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed("Money")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_shows_exactly() {
        let cases = [
            ("0", "0.000000", 0),
            ("10", "10.000000", 10 * UNITS_PER_USD),
            ("0.00015", "0.000150", 150_000),
            ("0.000000001", "0.000000001", 1),
            ("-3.5", "-3.500000", -3_500_000_000),
            ("1.5000000000", "1.500000", 1_500_000_000),
            ("12.34567891", "12.34567891", 12_345_678_910),
        ];
        for (text, shown, units) in cases {
            let m = Money::parse(text).unwrap();
            assert_eq!(m.units(), units, "{text}");
            assert_eq!(m.to_string(), shown, "{text}");
        }
    }

    #[test]
    fn refuses_what_is_not_a_plain_decimal() {
        for bad in [
            "", "abc", "1e3", "1.", ".5", "+1", "1,5", "0x10", "1 000", "NaN",
        ] {
            assert!(Money::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            Money::parse("0.0000000001"),
            Err(MoneyError::TooPrecise("0.0000000001".into()))
        );
        assert!(Money::parse("99999999999999999999").is_err());
        assert_eq!(Money::parse("1000000000"), Ok(Money::MAX_AMOUNT));
        assert_eq!(Money::parse("-1000000000"), Ok(-Money::MAX_AMOUNT));
        for past in ["1000000000.000000001", "9000000000", "-9000000000"] {
            let e = Money::parse(past).unwrap_err();
            assert!(e.to_string().contains("1000000000"), "{past}: {e}");
        }
        assert_eq!(Money::parse_positive("0"), Err(MoneyError::NotPositive));
        assert_eq!(Money::parse_positive("-1"), Err(MoneyError::NotPositive));
    }

    #[test]
    fn json_numbers_are_refused() {
        assert!(serde_json::from_str::<Money>("1.5").is_err());
        assert_eq!(
            serde_json::from_str::<Money>("\"1.5\"").unwrap(),
            Money::from_units(1_500_000_000)
        );
        assert_eq!(
            serde_json::to_string(&Money::from_units(150_000)).unwrap(),
            "\"0.000150\""
        );
    }

    #[test]
    fn ceil_rounds_charges_up() {
        assert_eq!(Money::from_units_ceil(Decimal::new(1, 1)), Some(Money(1)));
        assert_eq!(Money::from_units_ceil(Decimal::new(10, 0)), Some(Money(10)));
        assert_eq!(Money::from_units_ceil(Decimal::ZERO), Some(Money(0)));
    }
}
