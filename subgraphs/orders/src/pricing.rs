//! What an order costs beyond its lines: shipping, by method, destination and
//! order value, and tax, by destination, as the orders database configures
//! them (seeded by migrations/orders/0005). One quote serves the checkout page
//! and placeOrder, so the total a shopper is shown is the total they are charged.
//!
//! total = subtotal + shipping + tax when the currency's prices exclude tax
//! (USD); total = subtotal + shipping when they include it (EUR), and `tax` is
//! the part of that total which is tax. Tax is charged on shipping too, and is
//! computed once on the whole, rounded half up to the minor unit.

use kit::db::Db;
use kit::error::UserError;
use kit::money::Money;

/// Where an order ships, as far as rates and tax care.
#[derive(Clone, Copy, Debug)]
pub struct Destination<'a> {
    /// ISO 3166-1 alpha-2, already checked.
    pub country: &'a str,
    /// The state, for the US.
    pub region: Option<&'a str>,
}

/// A way to ship an order, with what it costs for this order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShippingOption {
    pub code: String,
    pub name: String,
    pub carrier: String,
    pub min_days: i64,
    pub max_days: i64,
    pub price: Money,
}

/// What the order costs, all in the cart's currency.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Totals {
    pub subtotal: Money,
    pub shipping: Money,
    pub tax: Money,
    /// The tax is part of subtotal and shipping, not added to them.
    pub taxes_included: bool,
    pub total: Money,
}

/// The shipping choices for an order, the one taken, and the totals with it.
#[derive(Clone, Debug)]
pub struct Quote {
    pub options: Vec<ShippingOption>,
    pub chosen: Option<ShippingOption>,
    pub totals: Totals,
}

/// Quotes an order of `subtotal` to `destination` by `method` (the cheapest
/// when not given). Without a destination nothing is shipped and no tax is
/// known: the total is the subtotal. A user error on `field` when the method
/// does not ship there, or nothing does.
pub async fn quote(db: &Db, subtotal: Money, destination: Option<Destination<'_>>, method: Option<&str>, field: &str) -> Result<Result<Quote, UserError>, sqlx::Error> {
    let taxes_included = taxes_included(db, subtotal).await?;
    let Some(destination) = destination else {
        let zero = Money::new(0, subtotal.currency);
        let totals = Totals { subtotal, shipping: zero, tax: zero, taxes_included, total: subtotal };
        return Ok(Ok(Quote { options: vec![], chosen: None, totals }));
    };
    let options = shipping_options(db, destination, subtotal).await?;
    let chosen = match method {
        None => options.first().cloned(),
        Some(code) => options.iter().find(|option| option.code == code).cloned(),
    };
    let Some(chosen) = chosen else {
        let message = match method {
            Some(code) => format!("shipping method {code} does not ship to {} in {}", destination.country, subtotal.currency.as_str()),
            None => format!("nothing ships to {} in {}", destination.country, subtotal.currency.as_str()),
        };
        return Ok(Err(UserError::new("SHIPPING_METHOD_UNAVAILABLE", field, message)));
    };
    let rate = tax_rate(db, destination).await?;
    let totals = totals(subtotal, chosen.price.minor_units, rate, taxes_included);
    Ok(Ok(Quote { options, chosen: Some(chosen), totals }))
}

/// Adds shipping and tax (at `rate_basis_points`) to the subtotal.
fn totals(subtotal: Money, shipping_minor: i64, rate_basis_points: i64, taxes_included: bool) -> Totals {
    let currency = subtotal.currency;
    let taxed = subtotal.minor_units + shipping_minor;
    let (tax, total) = if taxes_included {
        (rounded(taxed * rate_basis_points, 10_000 + rate_basis_points), taxed)
    } else {
        let tax = rounded(taxed * rate_basis_points, 10_000);
        (tax, taxed + tax)
    };
    Totals {
        subtotal,
        shipping: Money::new(shipping_minor, currency),
        tax: Money::new(tax, currency),
        taxes_included,
        total: Money::new(total, currency),
    }
}

/// numerator / denominator, both non-negative, rounded half up.
fn rounded(numerator: i64, denominator: i64) -> i64 {
    (2 * numerator + denominator) / (2 * denominator)
}

async fn taxes_included(db: &Db, amount: Money) -> Result<bool, sqlx::Error> {
    let included: Option<i64> = sqlx::query_scalar("SELECT taxes_included FROM currency_tax_display WHERE currency = $1")
        .bind(amount.currency.as_str())
        .fetch_optional(db)
        .await?;
    Ok(included == Some(1))
}

/// The destination's rate in basis points: its region's, else its country's, else none.
async fn tax_rate(db: &Db, destination: Destination<'_>) -> Result<i64, sqlx::Error> {
    let rates: Vec<(String, i64)> = sqlx::query_as("SELECT region, rate_basis_points FROM tax_rates WHERE country = $1 AND region IN ('', $2)")
        .bind(destination.country)
        .bind(destination.region.unwrap_or_default())
        .fetch_all(db)
        .await?;
    let of_region = rates.iter().find(|(region, _)| !region.is_empty());
    Ok(of_region.or(rates.first()).map_or(0, |(_, rate)| *rate))
}

/// Every method that ships to `destination` for an order of `subtotal`,
/// cheapest first: per method, the destination's own rates before the
/// catch-all '*', and among those the highest value band reached.
async fn shipping_options(db: &Db, destination: Destination<'_>, subtotal: Money) -> Result<Vec<ShippingOption>, sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct Rate {
        code: String,
        name: String,
        carrier: String,
        min_days: i64,
        max_days: i64,
        rate_minor: i64,
    }
    // Most specific first: the destination's own rows, then the highest band.
    let rates: Vec<Rate> = sqlx::query_as(
        "SELECT m.code, m.name, m.carrier, m.min_days, m.max_days, r.rate_minor \
         FROM shipping_rates r JOIN shipping_methods m ON m.code = r.method_code \
         WHERE r.currency = $1 AND r.country IN ($2, '*') AND r.min_subtotal_minor <= $3 \
         ORDER BY m.code, CASE WHEN r.country = '*' THEN 1 ELSE 0 END, r.min_subtotal_minor DESC",
    )
    .bind(subtotal.currency.as_str())
    .bind(destination.country)
    .bind(subtotal.minor_units)
    .fetch_all(db)
    .await?;
    let mut options: Vec<ShippingOption> = Vec::new();
    for rate in rates {
        if options.last().is_some_and(|option| option.code == rate.code) {
            continue;
        }
        options.push(ShippingOption {
            price: Money::new(rate.rate_minor, subtotal.currency),
            code: rate.code,
            name: rate.name,
            carrier: rate.carrier,
            min_days: rate.min_days,
            max_days: rate.max_days,
        });
    }
    options.sort_by(|a, b| a.price.minor_units.cmp(&b.price.minor_units).then(a.min_days.cmp(&b.min_days)));
    Ok(options)
}

#[cfg(test)]
mod tests {
    use kit::money::CurrencyCode;

    use super::*;

    fn usd(minor: i64) -> Money {
        Money::new(minor, CurrencyCode::USD)
    }

    #[test]
    fn exclusive_tax_is_added_on_lines_and_shipping() {
        // $100.00 + $5.99 shipping at 7.25%: 7.68425 rounds to $7.68.
        let totals = totals(usd(10_000), 599, 725, false);
        assert_eq!((totals.tax, totals.total), (usd(768), usd(10_000 + 599 + 768)));
    }

    #[test]
    fn inclusive_tax_is_the_part_of_the_total_that_is_tax() {
        // €119.00 at 19% VAT holds €19.00 of it.
        let eur = |minor| Money::new(minor, CurrencyCode::EUR);
        let totals = totals(eur(11_400), 500, 1900, true);
        assert_eq!((totals.tax, totals.total), (eur(1900), eur(11_900)));
    }

    #[test]
    fn halves_round_up() {
        assert_eq!(rounded(5, 10), 1);
        assert_eq!(rounded(4, 10), 0);
        assert_eq!(rounded(0, 10_000), 0);
    }

    async fn seeded() -> Db {
        kit::db::connect("sqlite::memory:", vec![kit::db::migrator(), events::migrator(), crate::migrator()]).await.unwrap()
    }

    fn to(country: &str) -> Option<Destination<'_>> {
        Some(Destination { country, region: None })
    }

    #[tokio::test]
    async fn a_destination_gets_its_own_rates_before_the_catch_all_and_the_band_its_value_reaches() {
        let db = seeded().await;
        let codes = |quote: &Quote| quote.options.iter().map(|o| (o.code.clone(), o.price.minor_units)).collect::<Vec<_>>();
        let small = quote(&db, usd(5_000), to("US"), None, "f").await.unwrap().unwrap();
        assert_eq!(codes(&small), [("STANDARD".into(), 599), ("FREIGHT".into(), 1499), ("EXPRESS".into(), 1999)]);
        let large = quote(&db, usd(25_000), to("US"), None, "f").await.unwrap().unwrap();
        assert_eq!(codes(&large)[0], ("STANDARD".into(), 0), "standard is free from $75");
        let far = quote(&db, usd(5_000), to("JP"), None, "f").await.unwrap().unwrap();
        assert_eq!(codes(&far), [("FREIGHT".into(), 1499), ("STANDARD".into(), 2999)], "no express to Japan");
    }

    #[tokio::test]
    async fn a_us_state_pays_its_own_rate_and_a_method_that_does_not_ship_there_is_refused() {
        let db = seeded().await;
        let california = Some(Destination { country: "US", region: Some("CA") });
        let quoted = quote(&db, usd(10_000), california, Some("STANDARD"), "f").await.unwrap().unwrap();
        assert_eq!(quoted.totals.tax, usd(725), "7.25% of $100.00, shipping free");
        let oregon = Some(Destination { country: "US", region: Some("OR") });
        assert_eq!(quote(&db, usd(10_000), oregon, None, "f").await.unwrap().unwrap().totals.tax, usd(0));
        let refused = quote(&db, usd(10_000), to("JP"), Some("EXPRESS"), "input.shippingMethod").await.unwrap().unwrap_err();
        assert_eq!(refused.code, "SHIPPING_METHOD_UNAVAILABLE");
        assert_eq!(refused.field, Some(vec!["input".to_string(), "shippingMethod".to_string()]));
    }
}
