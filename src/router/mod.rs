//! The router: Hive Router embedded as a library, with our plugins
//! registered, configured by router-config/router.yaml.

mod rate_limit;
mod verify_token;

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use hive_router::{PluginRegistry, init_rustls_crypto_provider, ntex, router_entrypoint};
use serde_yaml::Value;

pub use rate_limit::RateLimit;
pub use verify_token::VerifyToken;

fn plugins() -> PluginRegistry {
    PluginRegistry::new().register::<VerifyToken>().register::<RateLimit>()
}

/// Runs the router on this thread until it is stopped (SIGINT or SIGTERM).
pub fn run(config_path: &Path) -> anyhow::Result<()> {
    // SAFETY: called before the router starts any thread of its own; the router
    // reads its configuration path from this variable and from nowhere else.
    unsafe { std::env::set_var("ROUTER_CONFIG_FILE_PATH", config_path) };
    init_rustls_crypto_provider();
    ntex::rt::System::build()
        .name("router")
        .build(ntex::rt::DefaultRuntime)
        .block_on(async { router_entrypoint(plugins()).await.map_err(|e| anyhow::anyhow!("router failed: {e}")) })
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
    pub port: u16,
    pub subgraph_urls: &'a [(String, String)],
    pub log_level: &'a str,
    /// Replaces router.yaml's per-client limit (requests per minute).
    pub rate_limit: Option<u64>,
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
    config["http"]["port"] = u64::from(deployment.port).into();
    config["log"]["level"] = deployment.log_level.into();
    for (name, url) in deployment.subgraph_urls {
        config["override_subgraph_urls"]["subgraphs"][name.as_str()] = serde_yaml::from_str(&format!("url: {url:?}"))?;
    }
    let jwks = config["plugins"]["verify_token"]["config"]["jwks_path"].as_str().context("verify_token.jwks_path")?.to_string();
    config["plugins"]["verify_token"]["config"]["jwks_path"] = absolute(&jwks).into();
    if let Some(limit) = deployment.rate_limit {
        config["plugins"]["rate_limit"]["config"]["requests_per_minute"] = limit.into();
    }
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
