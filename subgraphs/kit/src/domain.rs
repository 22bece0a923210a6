//! The shop's inputs, parsed at the edge: each type has one `parse` that
//! either yields a valid value or the user error the client gets, so the code
//! behind a resolver can never hold an invalid sku, quantity or key.
//!
//! `field` names the input at fault as the client sent it (e.g.
//! "input.idempotencyKey"); it becomes the user error's `field` path.

use crate::error::UserError;

/// A stock-keeping unit: 1 to 100 printable characters, no spaces.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Sku(String);

impl Sku {
    pub const MAX_LENGTH: usize = 100;

    /// A malformed sku is answered as an unknown one: no variant could have it.
    pub fn parse(field: &str, text: &str) -> Result<Sku, UserError> {
        let well_formed = (1..=Self::MAX_LENGTH).contains(&text.len())
            && text.bytes().all(|b| b.is_ascii_graphic());
        if !well_formed {
            return Err(UserError::new("UNKNOWN_SKU", field, "no variant has this sku"));
        }
        Ok(Sku(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Units of one sku on a cart line: 1 to 50.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Quantity(i64);

impl Quantity {
    /// The most units of one sku a cart line may hold.
    pub const MAX: i64 = 50;

    pub fn parse(field: &str, units: i64) -> Result<Quantity, UserError> {
        if !(1..=Self::MAX).contains(&units) {
            return Err(Self::invalid(field));
        }
        Ok(Quantity(units))
    }

    /// The error for a quantity out of range, including a line that would grow past MAX.
    pub fn invalid(field: &str) -> UserError {
        UserError::new("INVALID_QUANTITY", field, format!("a line holds 1 to {} units", Self::MAX))
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

/// A client's idempotency key: 1 to 100 characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub const MAX_LENGTH: usize = 100;

    pub fn parse(field: &str, text: &str) -> Result<IdempotencyKey, UserError> {
        if !(1..=Self::MAX_LENGTH).contains(&text.chars().count()) {
            return Err(UserError::new(
                "INVALID_IDEMPOTENCY_KEY",
                field,
                format!("idempotencyKey must be 1 to {} characters", Self::MAX_LENGTH),
            ));
        }
        Ok(IdempotencyKey(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A review's stars: 1 to 5.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rating(i64);

impl Rating {
    pub fn parse(field: &str, stars: i64) -> Result<Rating, UserError> {
        if !(1..=5).contains(&stars) {
            return Err(UserError::new("INVALID_RATING", field, "rating must be 1 to 5"));
        }
        Ok(Rating(stars))
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

/// An email address: one '@' between a local part and a dotted domain, at most 254 characters, stored lower-cased.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(field: &str, text: &str) -> Result<Email, UserError> {
        let text = text.trim();
        let invalid = || UserError::new("INVALID_EMAIL", field, "this is not an email address");
        if text.len() > 254 || text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid());
        }
        let (local, domain) = text.split_once('@').ok_or_else(invalid)?;
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|label| !label.is_empty() && label.chars().all(|c| c.is_alphanumeric() || c == '-'));
        if local.is_empty() || local.len() > 64 || domain.contains('@') || !domain_ok {
            return Err(invalid());
        }
        Ok(Email(text.to_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An ISO 3166-1 alpha-2 country code, upper case ("US", "DE").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CountryCode([u8; 2]);

/// Every officially assigned ISO 3166-1 alpha-2 code.
const ISO_3166_ALPHA_2: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ \
    CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR \
    GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP \
    KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT \
    MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW \
    SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG \
    UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";

impl CountryCode {
    pub fn parse(field: &str, text: &str) -> Result<CountryCode, UserError> {
        let code = text.trim().to_ascii_uppercase();
        if code.len() != 2 || !ISO_3166_ALPHA_2.split_ascii_whitespace().any(|known| known == code) {
            return Err(UserError::new("INVALID_COUNTRY", field, "not an ISO 3166-1 alpha-2 country code"));
        }
        let bytes = code.as_bytes();
        Ok(CountryCode([bytes[0], bytes[1]]))
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("parsed from ASCII")
    }
}

/// A postal address on an order, as checkout validated it for its country:
/// a name, street, city and country always, and for US, GB, DE and FR the
/// postal code's shape (and the US state).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, async_graphql::SimpleObject)]
#[graphql(name = "PostalAddress")]
pub struct Address {
    /// Who receives it.
    pub name: String,
    /// Street and number.
    pub line1: String,
    /// Flat, floor, building.
    pub line2: Option<String>,
    /// City or town.
    pub city: String,
    /// State, county or province.
    pub region: Option<String>,
    /// Postal or ZIP code.
    pub postal_code: Option<String>,
    /// ISO 3166-1 alpha-2 country code.
    pub country: String,
}

/// The US states, DC and the territories a US address may name.
const US_STATES: &str = "AL AK AZ AR CA CO CT DE FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY NC ND OH OK OR PA \
    RI SC SD TN TX UT VT VA WA WV WI WY DC PR GU VI AS MP";

/// The US state (or DC, or a territory) `region` names, as its upper-case
/// two-letter code; None when it names none.
pub fn us_state(region: &str) -> Option<String> {
    let state = region.trim().to_ascii_uppercase();
    US_STATES.split_ascii_whitespace().any(|known| known == state).then_some(state)
}

impl Address {
    /// `field` is the input's path (e.g. "input.shippingAddress"); each error names the part at fault.
    #[allow(clippy::too_many_arguments)]
    pub fn parse(
        field: &str,
        name: &str,
        line1: &str,
        line2: Option<&str>,
        city: &str,
        region: Option<&str>,
        postal_code: Option<&str>,
        country: &str,
    ) -> Result<Address, UserError> {
        let country = CountryCode::parse(&format!("{field}.country"), country)?;
        let required = |part: &str, text: &str, max: usize| -> Result<String, UserError> {
            let text = text.trim();
            if text.is_empty() || text.chars().count() > max {
                return Err(UserError::new("INVALID_ADDRESS", &format!("{field}.{part}"), format!("{part} is required, at most {max} characters")));
            }
            Ok(text.to_string())
        };
        let optional = |part: &str, text: Option<&str>, max: usize| -> Result<Option<String>, UserError> {
            match text.map(str::trim).filter(|text| !text.is_empty()) {
                Some(text) => required(part, text, max).map(Some),
                None => Ok(None),
            }
        };
        let invalid = |part: &str, message: String| UserError::new("INVALID_ADDRESS", &format!("{field}.{part}"), message);
        let mut region = optional("region", region, 100)?;
        let mut postal_code = optional("postalCode", postal_code, 16)?.map(|code| code.to_ascii_uppercase());
        let digits = |code: &str, count: usize| code.len() == count && code.bytes().all(|b| b.is_ascii_digit());
        match country.as_str() {
            "US" => {
                let state = region.as_deref().and_then(us_state);
                region = Some(state.ok_or_else(|| invalid("region", "a US address needs its state's two-letter code, e.g. NY".into()))?);
                let zip = postal_code.as_deref().filter(|code| digits(code, 5) || (code.len() == 10 && digits(&code[..5], 5) && &code[5..6] == "-" && digits(&code[6..], 4)));
                if zip.is_none() {
                    return Err(invalid("postalCode", "a US ZIP code is 5 digits, or 5+4 like 10001-1234".into()));
                }
            }
            "GB" => {
                let compact: String = postal_code.as_deref().unwrap_or_default().chars().filter(|c| *c != ' ').collect();
                let (outward, inward) = compact.split_at(compact.len().saturating_sub(3));
                let inward_ok = inward.len() == 3 && inward.as_bytes()[0].is_ascii_digit() && inward.bytes().skip(1).all(|b| b.is_ascii_alphabetic());
                let outward_ok = (2..=4).contains(&outward.len()) && outward.as_bytes()[0].is_ascii_alphabetic() && outward.bytes().all(|b| b.is_ascii_alphanumeric());
                if !(inward_ok && outward_ok) {
                    return Err(invalid("postalCode", "a UK postcode looks like SW1A 1AA".into()));
                }
                postal_code = Some(format!("{outward} {inward}"));
            }
            "DE" | "FR" => {
                if !postal_code.as_deref().is_some_and(|code| digits(code, 5)) {
                    return Err(invalid("postalCode", format!("a postal code in {} is 5 digits", country.as_str())));
                }
            }
            _ => {}
        }
        Ok(Address {
            name: required("name", name, 100)?,
            line1: required("line1", line1, 200)?,
            line2: optional("line2", line2, 200)?,
            city: required("city", city, 100)?,
            region,
            postal_code,
            country: country.as_str().to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sku_accepts_catalog_skus_and_refuses_the_rest() {
        assert_eq!(Sku::parse("sku", "KIT-0001-M").unwrap().as_str(), "KIT-0001-M");
        for bad in ["", "has space", "ünïcode", &"X".repeat(101)] {
            assert_eq!(Sku::parse("sku", bad).unwrap_err().code, "UNKNOWN_SKU", "{bad}");
        }
    }

    #[test]
    fn quantity_is_one_to_fifty() {
        assert_eq!(Quantity::parse("quantity", 50).unwrap().get(), 50);
        for bad in [0, -1, 51] {
            assert_eq!(Quantity::parse("quantity", bad).unwrap_err().code, "INVALID_QUANTITY");
        }
    }

    #[test]
    fn idempotency_key_is_one_to_a_hundred_characters() {
        assert!(IdempotencyKey::parse("k", &"é".repeat(100)).is_ok());
        assert_eq!(IdempotencyKey::parse("k", "").unwrap_err().field, Some(vec!["k".to_string()]));
        assert_eq!(IdempotencyKey::parse("input.k", &"k".repeat(101)).unwrap_err().code, "INVALID_IDEMPOTENCY_KEY");
    }

    #[test]
    fn rating_is_one_to_five() {
        assert_eq!(Rating::parse("rating", 5).unwrap().get(), 5);
        assert!(Rating::parse("rating", 0).is_err() && Rating::parse("rating", 6).is_err());
    }

    #[test]
    fn email_needs_a_local_part_and_a_dotted_domain() {
        assert_eq!(Email::parse("email", " Ada@Example.COM ").unwrap().as_str(), "ada@example.com");
        for bad in ["", "ada", "ada@", "@example.com", "ada@example", "a b@example.com", "ada@@example.com", "ada@exa..com"] {
            assert_eq!(Email::parse("email", bad).unwrap_err().code, "INVALID_EMAIL", "{bad}");
        }
    }

    #[test]
    fn country_code_is_an_assigned_iso_code() {
        assert_eq!(CountryCode::parse("country", "de").unwrap().as_str(), "DE");
        for bad in ["", "D", "DEU", "XX", "ZZ"] {
            assert_eq!(CountryCode::parse("country", bad).unwrap_err().code, "INVALID_COUNTRY", "{bad}");
        }
    }

    #[test]
    fn addresses_are_checked_for_their_country() {
        let parse = |region: Option<&str>, postal: Option<&str>, country: &str| Address::parse("a", "Ada", "1 Main St", None, "Town", region, postal, country);
        assert_eq!(parse(Some("ny"), Some("10001"), "us").unwrap().region.as_deref(), Some("NY"));
        assert!(parse(Some("NY"), Some("10001-1234"), "US").is_ok());
        assert_eq!(parse(None, Some("10001"), "US").unwrap_err().field.unwrap().join("."), "a.region");
        assert_eq!(parse(Some("ZZ"), Some("10001"), "US").unwrap_err().field.unwrap().join("."), "a.region");
        assert_eq!(parse(Some("NY"), Some("1000"), "US").unwrap_err().field.unwrap().join("."), "a.postalCode");
        assert_eq!(parse(None, Some("sw1a1aa"), "GB").unwrap().postal_code.as_deref(), Some("SW1A 1AA"));
        assert_eq!(parse(None, Some("12345X"), "GB").unwrap_err().code, "INVALID_ADDRESS");
        assert!(parse(None, Some("10115"), "DE").is_ok());
        assert_eq!(parse(None, Some("7500"), "FR").unwrap_err().field.unwrap().join("."), "a.postalCode");
        assert!(parse(None, None, "JP").is_ok(), "elsewhere the postal code is free");
        assert_eq!(parse(None, None, "XX").unwrap_err().code, "INVALID_COUNTRY");
        assert_eq!(Address::parse("a", " ", "1 Main St", None, "Town", None, None, "JP").unwrap_err().field.unwrap().join("."), "a.name");
    }
}
