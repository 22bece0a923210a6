//! Money is integer minor units plus an ISO currency code. Both supported
//! currencies have two decimal places, so `Decimal` always carries two.

use async_graphql::{Enum, InputObject, InputValueError, InputValueResult, Object, Scalar, ScalarType, Value};
use serde::{Deserialize, Serialize};

/// The largest amount the shop accepts anywhere: 10 million in major units.
pub const MAX_MINOR_UNITS: i64 = 1_000_000_000;

/// The ISO 4217 code of the currency an amount is in; the shop sells in US dollars and euros.
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq, Serialize, Deserialize)]
pub enum CurrencyCode {
    USD,
    EUR,
}

impl CurrencyCode {
    pub fn as_str(self) -> &'static str {
        match self {
            CurrencyCode::USD => "USD",
            CurrencyCode::EUR => "EUR",
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        match code {
            "USD" => Some(CurrencyCode::USD),
            "EUR" => Some(CurrencyCode::EUR),
            _ => None,
        }
    }
}

/// A decimal amount with two places, exchanged as a string ("19.99") so that no
/// client ever rounds it through a float. Input may also be a JSON number.
#[derive(Copy, Clone, Debug, Eq, PartialEq, Ord, PartialOrd)]
pub struct Decimal(pub i64);

impl Decimal {
    /// Parses "19.99", "19.9" or "19" into minor units; more than two decimal
    /// places, signs other than a leading '-', and exponents are refused.
    pub fn parse(text: &str) -> Option<Decimal> {
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
        if whole.is_empty() || whole.len() > 12 || fraction.len() > 2 {
            return None;
        }
        if !whole.bytes().all(|b| b.is_ascii_digit()) || !fraction.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let whole: i64 = whole.parse().ok()?;
        let cents: i64 = format!("{fraction:0<2}").parse().ok()?;
        let minor = whole.checked_mul(100)?.checked_add(cents)?;
        Some(Decimal(if negative { -minor } else { minor }))
    }
}

impl std::fmt::Display for Decimal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

/// An amount in major units, written as a string with two decimal places such as
/// "19.99" so that no client rounds it through a float (input may also be a JSON number).
#[Scalar(name = "Decimal")]
impl ScalarType for Decimal {
    fn parse(value: Value) -> InputValueResult<Self> {
        let text = match &value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => return Err(InputValueError::custom("a Decimal is a string with at most two decimal places, like \"19.99\"")),
        };
        Decimal::parse(&text)
            .ok_or_else(|| InputValueError::custom(format!("\"{text}\" is not a decimal amount with at most two decimal places")))
    }

    fn to_value(&self) -> Value {
        Value::String(self.to_string())
    }
}

#[derive(Copy, Clone, Debug, Eq, PartialEq, Serialize, Deserialize)]
pub struct Money {
    pub minor_units: i64,
    pub currency: CurrencyCode,
}

impl Money {
    pub fn new(minor_units: i64, currency: CurrencyCode) -> Self {
        Money { minor_units, currency }
    }

    /// Money as stored: minor units and a currency code column.
    pub fn from_stored(minor_units: i64, currency: &str) -> anyhow::Result<Money> {
        let currency = CurrencyCode::parse(currency).ok_or_else(|| anyhow::anyhow!("stored currency {currency:?} is not supported"))?;
        Ok(Money::new(minor_units, currency))
    }

    /// The sum of two amounts of one currency.
    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        if self.currency != other.currency {
            return Err(MoneyError::CurrencyMismatch(self.currency, other.currency));
        }
        let minor_units = self.minor_units.checked_add(other.minor_units).ok_or(MoneyError::Overflow)?;
        Ok(Money::new(minor_units, self.currency))
    }

    /// This amount `quantity` times over.
    pub fn times(self, quantity: i64) -> Result<Money, MoneyError> {
        Ok(Money::new(self.minor_units.checked_mul(quantity).ok_or(MoneyError::Overflow)?, self.currency))
    }

    /// Adds up `amounts`, all of one currency; nothing adds up to zero `empty`.
    pub fn sum(amounts: impl IntoIterator<Item = Money>, empty: CurrencyCode) -> Result<Money, MoneyError> {
        let mut amounts = amounts.into_iter();
        let Some(first) = amounts.next() else {
            return Ok(Money::new(0, empty));
        };
        amounts.try_fold(first, Money::checked_add)
    }
}

/// Why two amounts could not be combined.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("cannot add {1:?} to {0:?}: one sum holds one currency")]
    CurrencyMismatch(CurrencyCode, CurrencyCode),
    #[error("the amount is too large")]
    Overflow,
}

/// An amount of money. Every subgraph that returns money returns this same shape.
#[Object(shareable)]
impl Money {
    /// The amount in major units of the currency, e.g. "19.99".
    async fn amount(&self) -> Decimal {
        Decimal(self.minor_units)
    }

    /// The currency the amount is in.
    async fn currency_code(&self) -> CurrencyCode {
        self.currency
    }
}

// `into_price` is the parse-at-the-edge step.
/// An amount of money as a client sends it, e.g. a new price.
#[derive(InputObject, Copy, Clone, Debug)]
pub struct MoneyInput {
    /// The amount in major units of the currency, at most two decimal places, e.g. "19.99".
    pub amount: Decimal,
    /// The currency the amount is in.
    pub currency_code: CurrencyCode,
}

impl MoneyInput {
    /// A price: strictly positive and at most MAX_MINOR_UNITS.
    pub fn into_price(self) -> Result<Money, String> {
        if self.amount.0 <= 0 {
            return Err("a price must be greater than zero".into());
        }
        if self.amount.0 > MAX_MINOR_UNITS {
            return Err(format!("a price must be at most {}", Decimal(MAX_MINOR_UNITS)));
        }
        Ok(Money::new(self.amount.0, self.currency_code))
    }

    pub fn into_money(self) -> Money {
        Money::new(self.amount.0, self.currency_code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_adds_only_within_one_currency() {
        let usd = |minor| Money::new(minor, CurrencyCode::USD);
        assert_eq!(usd(150).checked_add(usd(250)), Ok(usd(400)));
        assert_eq!(usd(1).checked_add(Money::new(1, CurrencyCode::EUR)), Err(MoneyError::CurrencyMismatch(CurrencyCode::USD, CurrencyCode::EUR)));
        assert_eq!(usd(i64::MAX).checked_add(usd(1)), Err(MoneyError::Overflow));
        assert_eq!(usd(250).times(3), Ok(usd(750)));
        assert_eq!(usd(i64::MAX).times(2), Err(MoneyError::Overflow));
        assert_eq!(Money::sum([usd(1), usd(2), usd(3)], CurrencyCode::EUR), Ok(usd(6)));
        assert_eq!(Money::sum([], CurrencyCode::EUR), Ok(Money::new(0, CurrencyCode::EUR)));
    }

    #[test]
    fn decimal_parses_two_places_and_refuses_more() {
        assert_eq!(Decimal::parse("19.99"), Some(Decimal(1999)));
        assert_eq!(Decimal::parse("19.9"), Some(Decimal(1990)));
        assert_eq!(Decimal::parse("19"), Some(Decimal(1900)));
        assert_eq!(Decimal::parse("-0.05"), Some(Decimal(-5)));
        assert_eq!(Decimal::parse("19.999"), None);
        assert_eq!(Decimal::parse("1e3"), None);
        assert_eq!(Decimal::parse(""), None);
        assert_eq!(Decimal::parse(".5"), None);
        assert_eq!(Decimal::parse("9999999999999"), None);
    }

    #[test]
    fn decimal_prints_two_places() {
        assert_eq!(Decimal(1999).to_string(), "19.99");
        assert_eq!(Decimal(5).to_string(), "0.05");
        assert_eq!(Decimal(-150).to_string(), "-1.50");
    }
}
