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
}
