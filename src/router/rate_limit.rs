//! Per-client rate limits: each client (its bearer token, else its IP
//! address) may send `requests_per_minute` requests in a window that opens
//! with its first request. Counted in memory by default, or in Redis when
//! `redis_url` is set so that every router replica shares one budget. Over
//! the limit: 429 with Retry-After, the seconds until the window closes.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hive_router::async_trait;
use hive_router::ntex::http::{Response, StatusCode};
use hive_router::plugins::hooks::on_http_request::{OnHttpRequestHookFuture, OnHttpRequestHookPayload};
use hive_router::plugins::hooks::on_plugin_init::{OnPluginInitPayload, OnPluginInitResult};
use hive_router::plugins::plugin_trait::{RouterPlugin, StartHookPayload};
use serde::Deserialize;
use tokio::sync::OnceCell;

const WINDOW: Duration = Duration::from_secs(60);

#[derive(Deserialize)]
pub struct RateLimitConfig {
    pub requests_per_minute: u64,
    /// Shared counters for many router replicas, e.g. redis://127.0.0.1:6379.
    #[serde(default)]
    pub redis_url: Option<String>,
}

pub struct RateLimit {
    limit: u64,
    counters: Counters,
}

enum Counters {
    Memory(Mutex<HashMap<String, (Instant, u64)>>),
    Redis { client: redis::Client, connection: OnceCell<redis::aio::MultiplexedConnection> },
}

/// A client's requests in its current window, and when that window closes.
#[derive(Debug, PartialEq, Eq)]
struct Usage {
    count: u64,
    resets_in: Duration,
}

impl Counters {
    /// Counts one request for `client` at `now`.
    async fn hit(&self, client: &str, now: Instant) -> anyhow::Result<Usage> {
        match self {
            Counters::Memory(counts) => {
                let mut counts = counts.lock().expect("no code panics while holding the counter lock");
                if counts.len() > 100_000 {
                    counts.retain(|_, (opened, _)| now.duration_since(*opened) < WINDOW);
                }
                let entry = counts.entry(client.to_string()).or_insert((now, 0));
                if now.duration_since(entry.0) >= WINDOW {
                    *entry = (now, 0);
                }
                entry.1 += 1;
                Ok(Usage { count: entry.1, resets_in: WINDOW.saturating_sub(now.duration_since(entry.0)) })
            }
            Counters::Redis { client: redis_client, connection } => {
                let connection = connection.get_or_try_init(|| redis_client.get_multiplexed_async_connection()).await?;
                let key = format!("ratelimit:{client}");
                // The first request of a window sets its expiry; the others only count.
                let (count, millis): (u64, i64) = redis::pipe()
                    .atomic()
                    .incr(&key, 1)
                    .cmd("PEXPIRE")
                    .arg(&key)
                    .arg(WINDOW.as_millis() as u64)
                    .arg("NX")
                    .ignore()
                    .pttl(&key)
                    .query_async(&mut connection.clone())
                    .await?;
                Ok(Usage { count, resets_in: Duration::from_millis(millis.max(0) as u64) })
            }
        }
    }
}

/// Who a request counts against. Tokens are hashed so that no credential is
/// kept in memory or written to Redis.
fn client_key(authorization: Option<&[u8]>, peer: Option<std::net::IpAddr>) -> String {
    match (authorization, peer) {
        (Some(token), _) => {
            let mut hasher = DefaultHasher::new();
            token.hash(&mut hasher);
            format!("token:{:016x}", hasher.finish())
        }
        (None, Some(ip)) => format!("ip:{ip}"),
        (None, None) => "ip:unknown".to_string(),
    }
}

#[async_trait]
impl RouterPlugin for RateLimit {
    type Config = RateLimitConfig;

    fn plugin_name() -> &'static str {
        "rate_limit"
    }

    fn on_plugin_init(payload: OnPluginInitPayload<Self>) -> OnPluginInitResult<Self> {
        let config = payload.config()?;
        let counters = match config.redis_url {
            Some(url) => Counters::Redis { client: redis::Client::open(url)?, connection: OnceCell::new() },
            None => Counters::Memory(Mutex::new(HashMap::new())),
        };
        payload.initialize_plugin(RateLimit { limit: config.requests_per_minute, counters })
    }

    fn on_http_request<'req>(&'req self, payload: OnHttpRequestHookPayload<'req>) -> OnHttpRequestHookFuture<'req> {
        Box::pin(async move {
            let request = &payload.router_http_request;
            if matches!(request.path(), "/health" | "/readiness") {
                return payload.proceed();
            }
            let client = client_key(request.headers().get("authorization").map(|v| v.as_bytes()), request.peer_addr().map(|a| a.ip()));
            let usage = match self.counters.hit(&client, Instant::now()).await {
                Ok(usage) => usage,
                Err(error) => {
                    // Failing open: a broken counter store must not take the shop offline.
                    tracing::warn!(%error, "rate limit counter unavailable; request allowed");
                    return payload.proceed();
                }
            };
            if usage.count <= self.limit {
                return payload.proceed();
            }
            let body = serde_json::json!({
                "errors": [{ "message": "too many requests; retry later", "extensions": { "code": "RATE_LIMITED" } }]
            });
            let response = Response::build(StatusCode::TOO_MANY_REQUESTS)
                .content_type("application/json")
                .header("retry-after", usage.resets_in.as_secs().max(1).to_string())
                .body(body.to_string());
            payload.end_with_response(response)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_clients_window_opens_with_its_first_request() {
        let counters = Counters::Memory(Mutex::new(HashMap::new()));
        let opened = Instant::now();
        let at = |seconds: u64| opened + Duration::from_secs(seconds);
        assert_eq!(counters.hit("a", at(0)).await.unwrap(), Usage { count: 1, resets_in: WINDOW });
        assert_eq!(counters.hit("a", at(20)).await.unwrap(), Usage { count: 2, resets_in: Duration::from_secs(40) });
        assert_eq!(counters.hit("b", at(20)).await.unwrap().count, 1, "another client has its own window");
        assert_eq!(counters.hit("a", at(60)).await.unwrap(), Usage { count: 1, resets_in: WINDOW });
    }

    #[tokio::test]
    async fn redis_counters_are_shared_between_routers() {
        let url = "redis://127.0.0.1:6379";
        let first = Counters::Redis { client: redis::Client::open(url).unwrap(), connection: OnceCell::new() };
        let second = Counters::Redis { client: redis::Client::open(url).unwrap(), connection: OnceCell::new() };
        let client = format!("test-{}", uuid::Uuid::new_v4());
        assert_eq!(first.hit(&client, Instant::now()).await.unwrap().count, 1);
        let usage = second.hit(&client, Instant::now()).await.unwrap();
        assert_eq!(usage.count, 2);
        assert!(usage.resets_in > Duration::ZERO && usage.resets_in <= WINDOW, "{usage:?}");
    }

    #[test]
    fn tokens_are_keyed_by_hash_not_value() {
        let key = client_key(Some(b"Bearer secret"), None);
        assert!(key.starts_with("token:") && !key.contains("secret"));
        assert_eq!(client_key(None, Some([127, 0, 0, 1].into())), "ip:127.0.0.1");
    }
}
