//! The router: Hive Router embedded as a library, with our plugins
//! registered, configured by router-config/router.yaml.

mod field_limit;
mod landing;
mod metrics;
mod multipart;
mod playground;
mod rate_limit;
mod trusted_documents;
mod usage;
mod verify_token;

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use hive_router::{PluginRegistry, init_rustls_crypto_provider, ntex, router_entrypoint};
use serde_yaml::Value;

pub use field_limit::FieldLimit;
pub use landing::Landing;
pub use metrics::Metrics;
pub use multipart::Multipart;
pub use rate_limit::{RateLimit, SERVICE_SCOPE};
pub use trusted_documents::TrustedDocuments;
pub use usage::Usage;
pub use verify_token::VerifyToken;

/// Our plugins, in the order they run: landing answers paths outside the
/// GraphQL endpoint; verify_token leaves the viewer that rate_limit counts
/// by and trusted_documents reads the scopes of.
fn plugins() -> PluginRegistry {
    PluginRegistry::new()
        .register::<Landing>()
        .register::<VerifyToken>()
        .register::<RateLimit>()
        .register::<TrustedDocuments>()
        .register::<FieldLimit>()
        .register::<Metrics>()
        .register::<Usage>()
        .register::<Multipart>()
}

/// Runs the router on this thread until it is stopped (SIGINT or SIGTERM).
pub fn run(config_path: &Path) -> anyhow::Result<()> {
    // SAFETY: called before the router starts any thread of its own; the router
    // reads its configuration path from this variable and from nowhere else.
    unsafe { std::env::set_var("ROUTER_CONFIG_FILE_PATH", config_path) };
    init_rustls_crypto_provider();
    kit::auth::use_fast_crypto();
    ntex::rt::System::build()
        .name("router")
        .build(ntex::rt::DefaultRuntime)
        .block_on(async { router_entrypoint(plugins()).await.map_err(|e| anyhow::anyhow!("router failed: {e}")) })
}

/// `supergraph router`: the router alone, in front of the subgraphs at
/// PRODUCTS_URL, INVENTORY_URL, CART_URL, ORDERS_URL and REVIEWS_URL (each
/// required), presenting GATEWAY_TOKEN to them (in dev, a token minted with
/// the dev key), with its metrics on METRICS_ADDR.
pub fn run_standalone(config_dir: &Path, metrics_address: &str) -> anyhow::Result<()> {
    let mut subgraph_urls = Vec::new();
    for subgraph in crate::subgraphs::Subgraph::ALL {
        let variable = subgraph.url_variable();
        let url = std::env::var(&variable)
            .with_context(|| format!("{variable} is not set: the router needs the {} subgraph's GraphQL URL", subgraph.name()))?;
        subgraph_urls.push((subgraph.name().to_string(), url));
    }
    let gateway_token = match std::env::var("GATEWAY_TOKEN") {
        Ok(token) => token,
        Err(_) => crate::token::mint_gateway_token(config_dir)
            .context("minting a dev gateway token (set GATEWAY_TOKEN to your identity provider's)")?,
    };
    let out = std::env::temp_dir().join(format!("commerce-router-{}.yaml", std::process::id()));
    let otlp_endpoint = crate::telemetry::otlp_endpoint();
    let deployment = Deployment {
        port: None,
        workers: None,
        subgraph_urls: &subgraph_urls,
        log_level: None,
        rate_limit: None,
        gateway_token: &gateway_token,
        otlp_endpoint: otlp_endpoint.as_deref(),
        json_logs: crate::telemetry::json_logs(),
        usage_database_url: None,
        trusted_documents_only: crate::supergraph::trusted_documents_only()?,
        playground_headers: None,
    };
    write_config(config_dir, &out, &deployment)?;
    spawn_metrics_listener(metrics_address)?;
    run(&out)
}

/// Serves the process's metrics on `address`, on a thread of its own (the
/// router's HTTP stack brings its own runtime).
fn spawn_metrics_listener(address: &str) -> anyhow::Result<()> {
    let listener = std::net::TcpListener::bind(address).with_context(|| format!("binding the metrics listener to {address} (METRICS_ADDR)"))?;
    listener.set_nonblocking(true)?;
    std::thread::Builder::new().name("metrics".into()).spawn(move || {
        let served = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(anyhow::Error::from).and_then(|runtime| {
            runtime.block_on(async {
                // The listener lives as long as the process; nothing ever asks it to stop.
                let (_keep, never) = tokio::sync::watch::channel(false);
                kit::metrics::serve(tokio::net::TcpListener::from_std(listener)?, never).await
            })
        });
        if let Err(error) = served {
            tracing::error!(error = %format!("{error:#}"), "the metrics listener stopped");
        }
    })?;
    Ok(())
}

/// Starts the router on a thread of its own: its HTTP stack (ntex) brings its
/// own runtime, separate from the subgraphs' tokio runtime. The receiver
/// hears why the router stopped, if it ever does.
pub fn spawn(config_path: PathBuf) -> tokio::sync::oneshot::Receiver<anyhow::Result<()>> {
    let (stopped, stopped_signal) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("router".into())
        .spawn(move || {
            let _ = stopped.send(run(&config_path));
        })
        .expect("the OS can start a thread");
    stopped_signal
}

/// Where this process's router listens and finds its subgraphs.
pub struct Deployment<'a> {
    /// Replaces router.yaml's port (which PORT overrides too).
    pub port: Option<u16>,
    /// The router's HTTP worker threads, unless router.yaml sets them (its
    /// default: one per core).
    pub workers: Option<usize>,
    pub subgraph_urls: &'a [(String, String)],
    pub log_level: Option<&'a str>,
    /// Replaces router.yaml's per-client limit (requests per minute).
    pub rate_limit: Option<u64>,
    /// What the router presents to the subgraphs in `x-gateway-token`.
    pub gateway_token: &'a str,
    /// Where traces go (an OTLP/HTTP base URL), when they are exported.
    pub otlp_endpoint: Option<&'a str>,
    /// Logs as JSON lines.
    pub json_logs: bool,
    /// Where the usage plugin records traffic (else USAGE_DATABASE_URL, else nowhere).
    pub usage_database_url: Option<&'a str>,
    /// Serve only trusted documents (and introspection) to callers without
    /// the explore scope.
    pub trusted_documents_only: bool,
    /// What the playground's headers editor starts with.
    pub playground_headers: Option<&'a str>,
}

/// Writes `out`: router-config/router.yaml with this deployment's port and
/// subgraph URLs, and every path made absolute so the file works anywhere.
pub fn write_config(config_dir: &Path, out: &Path, deployment: &Deployment<'_>) -> anyhow::Result<()> {
    let base_path = config_dir.join("router.yaml");
    let text = std::fs::read_to_string(&base_path).with_context(|| format!("reading {}", base_path.display()))?;
    let mut config: Value = serde_yaml::from_str(&text).context("parsing router.yaml")?;
    let config_dir = std::fs::canonicalize(config_dir)?;
    let absolute = |relative: &str| config_dir.join(relative).to_string_lossy().into_owned();

    let supergraph = config["supergraph"]["path"].as_str().context("router.yaml names supergraph.path")?.to_string();
    config["supergraph"]["path"] = absolute(&supergraph).into();
    if let Some(port) = deployment.port {
        config["http"]["port"] = u64::from(port).into();
    }
    if let Some(level) = deployment.log_level {
        config["log"]["level"] = level.into();
    }
    if let Some(workers) = deployment.workers
        && config["http"]["workers"].is_null()
    {
        config["http"]["workers"] = (workers as u64).into();
    }
    for (name, url) in deployment.subgraph_urls {
        config["override_subgraph_urls"]["subgraphs"][name.as_str()] = serde_yaml::from_str(&format!("url: {url:?}"))?;
    }
    if let Some(providers) = config["jwt"]["jwks_providers"].as_sequence_mut() {
        for provider in providers {
            if let Some(path) = provider["path"].as_str().map(str::to_string) {
                provider["path"] = absolute(&path).into();
            }
        }
    }
    config["plugins"]["landing"]["config"]["config_dir"] = config_dir.to_string_lossy().into_owned().into();
    if let Some(headers) = deployment.playground_headers {
        config["plugins"]["landing"]["config"]["playground_headers"] = headers.into();
    }
    if let Some(path) = config["persisted_documents"]["storage"]["path"].as_str().map(str::to_string) {
        config["persisted_documents"]["storage"]["path"] = absolute(&path).into();
    }
    if deployment.trusted_documents_only {
        config["persisted_documents"]["require_id"] = true.into();
        let explore = config["plugins"]["trusted_documents"]["config"]["explore_scope"].as_str().context("router.yaml names the explore scope")?.to_string();
        config["introspection"] = serde_yaml::from_str(&format!("expression: 'includes(array(.request.jwt.scopes) ?? [], \"{explore}\")'"))?;
    }
    if let Some(limit) = deployment.rate_limit {
        config["plugins"]["rate_limit"]["config"]["requests_per_minute"] = limit.into();
    }
    if let Some(url) = deployment.usage_database_url {
        config["plugins"]["usage"]["config"]["database_url"] = url.into();
    }
    if deployment.json_logs {
        config["log"]["format"] = "json".into();
    }
    if let Some(endpoint) = deployment.otlp_endpoint {
        let tracing = format!(
            "resource: {{ attributes: {{ service.name: commerce-router }} }}
tracing:
  exporters:
    - kind: otlp
      protocol: http
      endpoint: {:?}
      batch_processor: {{ scheduled_delay: 1s }}",
            format!("{}/v1/traces", endpoint.trim_end_matches('/'))
        );
        config["telemetry"] = serde_yaml::from_str(&tracing)?;
    }
    // The router presents itself to the subgraphs as their trusted gateway.
    let gateway_token: Value = serde_yaml::from_str(&format!(
        "insert: {{ name: {}, value: {:?} }}",
        kit::server::GATEWAY_TOKEN_HEADER,
        deployment.gateway_token
    ))?;
    config["headers"]["all"]["request"].as_sequence_mut().context("router.yaml has headers.all.request rules")?.push(gateway_token);
    std::fs::write(out, serde_yaml::to_string(&config)?).with_context(|| format!("writing {}", out.display()))?;
    Ok(())
}

/// Waits until the router answers /readiness (its supergraph is loaded).
pub async fn wait_until_ready(base_url: &str) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    for _ in 0..600 {
        if let Ok(response) = client.get(format!("{base_url}/readiness")).send().await
            && response.status().is_success()
        {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    anyhow::bail!("the router at {base_url} did not become ready within 60 s")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(workers: Option<usize>) -> Deployment<'static> {
        Deployment {
            port: None,
            workers,
            subgraph_urls: &[],
            log_level: None,
            rate_limit: None,
            gateway_token: "token",
            otlp_endpoint: None,
            json_logs: false,
            usage_database_url: None,
            trusted_documents_only: false,
            playground_headers: None,
        }
    }

    /// The router's workers as written for `deployment`, from router.yaml
    /// with `http_extra` added to its `http` block.
    fn written_workers(http_extra: &str, deployment: &Deployment<'_>) -> Option<u64> {
        let dir = tempfile::tempdir().unwrap();
        let base = std::fs::read_to_string(crate::supergraph::config_dir().join("router.yaml")).unwrap();
        let base = base.replacen("  graphql_endpoint: /graphql\n", &format!("  graphql_endpoint: /graphql\n{http_extra}"), 1);
        std::fs::write(dir.path().join("router.yaml"), base).unwrap();
        let out = dir.path().join("out.yaml");
        write_config(dir.path(), &out, deployment).unwrap();
        let written: Value = serde_yaml::from_str(&std::fs::read_to_string(out).unwrap()).unwrap();
        written["http"]["workers"].as_u64()
    }

    #[test]
    fn a_deployment_sets_the_routers_workers_unless_router_yaml_does() {
        assert_eq!(written_workers("", &deployment(Some(1))), Some(1));
        assert_eq!(written_workers("", &deployment(None)), None);
        assert_eq!(written_workers("  workers: 3\n", &deployment(Some(1))), Some(3));
    }
}
