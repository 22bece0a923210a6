//! Per-client rate limits: a fixed window of requests per minute for each
//! client (its bearer token, else its IP address). Counted in memory by
//! default, or in Redis when `redis_url` is set so that every router replica
//! shares one budget. Over the limit: 429 with Retry-After.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use hive_router::async_trait;
use hive_router::ntex::http::{Response, StatusCode};
use hive_router::plugins::hooks::on_http_request::{OnHttpRequestHookFuture, OnHttpRequestHookPayload};
use hive_router::plugins::hooks::on_plugin_init::{OnPluginInitPayload, OnPluginInitResult};
use hive_router::plugins::plugin_trait::{RouterPlugin, StartHookPayload};
use serde::Deserialize;
use tokio::sync::OnceCell;

const WINDOW_SECONDS: u64 = 60;

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
    Memory(Mutex<HashMap<String, (u64, u64)>>),
    Redis { client: redis::Client, connection: OnceCell<redis::aio::MultiplexedConnection> },
}

impl Counters {
    /// Counts one request for `client` in `window`; returns the count so far.
    async fn hit(&self, client: &str, window: u64) -> anyhow::Result<u64> {
        match self {
            Counters::Memory(counts) => {
                let mut counts = counts.lock().expect("no code panics while holding the counter lock");
                if counts.len() > 100_000 {
                    counts.retain(|_, (seen_window, _)| *seen_window == window);
                }
                let entry = counts.entry(client.to_string()).or_insert((window, 0));
                if entry.0 != window {
                    *entry = (window, 0);
                }
                entry.1 += 1;
                Ok(entry.1)
            }
            Counters::Redis { client: redis_client, connection } => {
                let connection = connection.get_or_try_init(|| redis_client.get_multiplexed_async_connection()).await?;
                let key = format!("ratelimit:{client}:{window}");
                let (count,): (u64,) = redis::pipe()
                    .atomic()
                    .incr(&key, 1)
                    .expire(&key, WINDOW_SECONDS as i64)
                    .ignore()
                    .query_async(&mut connection.clone())
                    .await?;
                Ok(count)
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
            let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
            let window = now / WINDOW_SECONDS;
            let count = match self.counters.hit(&client, window).await {
                Ok(count) => count,
                Err(error) => {
                    // Failing open: a broken counter store must not take the shop offline.
                    tracing::warn!(%error, "rate limit counter unavailable; request allowed");
                    return payload.proceed();
                }
            };
            if count <= self.limit {
                return payload.proceed();
            }
            let retry_after = (window + 1) * WINDOW_SECONDS - now;
            let body = serde_json::json!({
                "errors": [{ "message": "too many requests; retry later", "extensions": { "code": "RATE_LIMITED" } }]
            });
            let response = Response::build(StatusCode::TOO_MANY_REQUESTS)
                .content_type("application/json")
                .header("retry-after", retry_after.to_string())
                .body(body.to_string());
            payload.end_with_response(response)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_counters_reset_each_window() {
        let counters = Counters::Memory(Mutex::new(HashMap::new()));
        assert_eq!(counters.hit("a", 1).await.unwrap(), 1);
        assert_eq!(counters.hit("a", 1).await.unwrap(), 2);
        assert_eq!(counters.hit("b", 1).await.unwrap(), 1);
        assert_eq!(counters.hit("a", 2).await.unwrap(), 1);
    }

    #[tokio::test]
    async fn redis_counters_are_shared_between_instances() {
        let url = "redis://127.0.0.1:6379";
        let first = Counters::Redis { client: redis::Client::open(url).unwrap(), connection: OnceCell::new() };
        let second = Counters::Redis { client: redis::Client::open(url).unwrap(), connection: OnceCell::new() };
        let client = format!("test-{}", uuid::Uuid::new_v4());
        assert_eq!(first.hit(&client, 7).await.unwrap(), 1);
        assert_eq!(second.hit(&client, 7).await.unwrap(), 2);
        assert_eq!(first.hit(&client, 8).await.unwrap(), 1);
    }

    #[test]
    fn tokens_are_keyed_by_hash_not_value() {
        let key = client_key(Some(b"Bearer secret"), None);
        assert!(key.starts_with("token:") && !key.contains("secret"));
        assert_eq!(client_key(None, Some([127, 0, 0, 1].into())), "ip:127.0.0.1");
    }
}
