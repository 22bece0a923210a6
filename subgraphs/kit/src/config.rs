//! Tunables read from the environment, with the defaults a shop starts with.

use std::time::Duration;

use crate::server::AuthorizationDirectives;
use crate::work::Retry;

/// Tunables of the subgraphs and their checkout saga.
#[derive(Clone, Debug)]
pub struct Settings {
    /// How long an order may stay PENDING: then orders rejects it
    /// (RESERVATION_EXPIRED) and inventory releases the stock it held.
    pub reservation_ttl: Duration,
    /// How often orders looks for orders past that time.
    pub expiry_sweep: Duration,
    /// How long the sandbox gateway takes to answer `tok_slow`.
    pub sandbox_slow_delay: Duration,
    /// How a failed event delivery or publish is tried again before it
    /// becomes a dead letter.
    pub event_retry: Retry,
    /// Whether `_service { sdl }` declares the authorization directives.
    pub authorization_directives: AuthorizationDirectives,
    /// Where image paths are served from (MEDIA_BASE_URL, ending in `/`);
    /// unset, the products subgraph serves the demo images itself.
    pub media_base_url: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            reservation_ttl: Duration::from_secs(15 * 60),
            expiry_sweep: Duration::from_secs(5),
            sandbox_slow_delay: Duration::from_secs(3),
            event_retry: Retry::default(),
            authorization_directives: AuthorizationDirectives::Declared,
            media_base_url: None,
        }
    }
}

impl Settings {
    /// The defaults, overridden by RESERVATION_TTL, RESERVATION_SWEEP,
    /// SANDBOX_SLOW_DELAY and EVENT_RETRY_MAX_BACKOFF (durations like 90s,
    /// 15m), EVENT_RETRY_ATTEMPTS (a count), AUTHORIZATION_DIRECTIVES
    /// (declared or omitted) and MEDIA_BASE_URL.
    pub fn from_env() -> anyhow::Result<Self> {
        let mut settings = Settings::default();
        for (variable, target) in [
            ("RESERVATION_TTL", &mut settings.reservation_ttl),
            ("RESERVATION_SWEEP", &mut settings.expiry_sweep),
            ("SANDBOX_SLOW_DELAY", &mut settings.sandbox_slow_delay),
            ("EVENT_RETRY_MAX_BACKOFF", &mut settings.event_retry.max),
        ] {
            if let Ok(text) = std::env::var(variable) {
                *target = parse_duration(&text).map_err(|e| anyhow::anyhow!("{variable}: {e}"))?;
            }
        }
        if let Ok(text) = std::env::var("EVENT_RETRY_ATTEMPTS") {
            settings.event_retry.attempts = text.parse().ok().filter(|n| *n >= 1).ok_or_else(|| anyhow::anyhow!("EVENT_RETRY_ATTEMPTS: {text:?} is not a count of 1 or more"))?;
        }
        if let Ok(text) = std::env::var("MEDIA_BASE_URL") {
            settings.media_base_url = Some(if text.ends_with('/') { text } else { format!("{text}/") });
        }
        if let Ok(text) = std::env::var("AUTHORIZATION_DIRECTIVES") {
            settings.authorization_directives = AuthorizationDirectives::parse(&text)?;
        }
        Ok(settings)
    }
}

/// Parses "250ms", "90s", "15m", "2h", "7d" or plain seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let invalid = || format!("{text:?} is not a duration like 90s, 15m or 2h");
    let value: u64 = number.parse().map_err(|_| invalid())?;
    let millis_per_unit = match unit {
        "ms" => 1,
        "" | "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(invalid()),
    };
    value.checked_mul(millis_per_unit).map(Duration::from_millis).ok_or_else(invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_with_their_unit() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert!(parse_duration("15 minutes").is_err());
        assert!(parse_duration("99999999999999999d").is_err(), "overflow is an error, not a panic");
    }
}
