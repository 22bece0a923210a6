//! Per-client rate limits: each client may send `requests_per_minute`
//! requests in a window that opens with its first request. A client is the
//! verified subject of its token (left in the request's context by
//! verify_token, so two tokens of one customer share one budget), or for
//! anonymous callers their address, read from `X-Forwarded-For` only when the
//! request comes through one of `trusted_proxies`. The subgraphs' own reads
//! through the graph carry a service token (scope `service`) and have a
//! budget of their own, `service_requests_per_minute`. Counted in memory by
//! default, or in Redis when `redis_url` is set so that every router replica
//! shares one budget. Over the limit: 429 with Retry-After, the seconds until
//! the window closes.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hive_router::async_trait;
use hive_router::ntex::http::{Response, StatusCode};
use hive_router::plugins::hooks::on_http_request::{OnHttpRequestHookFuture, OnHttpRequestHookPayload};
use hive_router::plugins::hooks::on_plugin_init::{OnPluginInitPayload, OnPluginInitResult};
use hive_router::plugins::plugin_trait::{RouterPlugin, StartHookPayload};
use kit::Viewer;
use serde::Deserialize;
use tokio::sync::OnceCell;

const WINDOW: Duration = Duration::from_secs(60);

/// The scope of the service tokens subgraphs read the graph with.
pub const SERVICE_SCOPE: &str = "service";

#[derive(Deserialize)]
pub struct RateLimitConfig {
    pub requests_per_minute: u64,
    pub service_requests_per_minute: u64,
    /// Proxies (load balancers) whose `X-Forwarded-For` is believed.
    #[serde(default)]
    pub trusted_proxies: Vec<IpAddr>,
    /// Shared counters for many router replicas, e.g. redis://127.0.0.1:6379.
    #[serde(default)]
    pub redis_url: Option<String>,
}

pub struct RateLimit {
    limit: u64,
    service_limit: u64,
    trusted_proxies: Vec<IpAddr>,
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

/// Who a request counts against, and with which budget.
fn client_key(viewer: Option<&Viewer>, address: Option<IpAddr>) -> (String, bool) {
    match viewer {
        Some(Viewer::Authenticated(identity)) => (format!("subject:{}", identity.subject), identity.scopes.iter().any(|s| s == SERVICE_SCOPE)),
        _ => (address.map_or_else(|| "address:unknown".to_string(), |ip| format!("address:{ip}")), false),
    }
}

/// The caller's address: the peer, unless the peer is a trusted proxy; then
/// the nearest address in `X-Forwarded-For` that is not one of ours.
fn client_address(peer: Option<IpAddr>, forwarded_for: Option<&str>, trusted_proxies: &[IpAddr]) -> Option<IpAddr> {
    let peer = peer?;
    if !trusted_proxies.contains(&peer) {
        return Some(peer);
    }
    let hops = forwarded_for.unwrap_or_default().split(',').rev().map(|hop| hop.trim().parse::<IpAddr>());
    for hop in hops {
        match hop {
            Ok(address) if trusted_proxies.contains(&address) => continue,
            Ok(address) => return Some(address),
            // A forged or garbled entry: the proxy that added it is all we can trust.
            Err(_) => return Some(peer),
        }
    }
    Some(peer)
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
        payload.initialize_plugin(RateLimit {
            limit: config.requests_per_minute,
            service_limit: config.service_requests_per_minute,
            trusted_proxies: config.trusted_proxies,
            counters,
        })
    }

    fn on_http_request<'req>(&'req self, payload: OnHttpRequestHookPayload<'req>) -> OnHttpRequestHookFuture<'req> {
        Box::pin(async move {
            let request = &payload.router_http_request;
            if matches!(request.path(), "/health" | "/readiness") {
                return payload.proceed();
            }
            let forwarded_for = request.headers().get("x-forwarded-for").and_then(|v| v.to_str().ok());
            let address = client_address(request.peer_addr().map(|a| a.ip()), forwarded_for, &self.trusted_proxies);
            let (client, service) = client_key(payload.context.get_ref::<Viewer>().as_deref(), address);
            let limit = if service { self.service_limit } else { self.limit };
            let usage = match self.counters.hit(&client, Instant::now()).await {
                Ok(usage) => usage,
                Err(error) => {
                    // Failing open: a broken counter store must not take the shop offline.
                    tracing::warn!(%error, "rate limit counter unavailable; request allowed");
                    return payload.proceed();
                }
            };
            if usage.count <= limit {
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

    fn viewer(subject: &str, scopes: &[&str]) -> Viewer {
        Viewer::Authenticated(kit::auth::Identity { subject: subject.into(), name: None, scopes: scopes.iter().map(|s| s.to_string()).collect() })
    }

    #[test]
    fn signed_in_callers_are_counted_by_subject_and_services_apart() {
        let address = Some(IpAddr::from([10, 0, 0, 1]));
        assert_eq!(client_key(Some(&viewer("ada", &[])), address), ("subject:ada".to_string(), false));
        assert_eq!(client_key(Some(&viewer("cart", &[SERVICE_SCOPE])), address), ("subject:cart".to_string(), true));
        assert_eq!(client_key(Some(&Viewer::Anonymous), address), ("address:10.0.0.1".to_string(), false));
    }

    #[test]
    fn forwarded_for_is_believed_only_from_a_trusted_proxy() {
        let proxy: IpAddr = [10, 0, 0, 2].into();
        let client: IpAddr = [203, 0, 113, 7].into();
        assert_eq!(client_address(Some(client), Some("1.2.3.4"), &[proxy]), Some(client), "a client cannot name itself");
        assert_eq!(client_address(Some(proxy), Some("1.2.3.4, 203.0.113.7"), &[proxy]), Some(client), "the hop the proxy saw");
        assert_eq!(client_address(Some(proxy), Some("garbage"), &[proxy]), Some(proxy));
        assert_eq!(client_address(Some(proxy), None, &[proxy]), Some(proxy));
    }
}
