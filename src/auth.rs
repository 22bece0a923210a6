//! The one auth configuration, read by the router and by every subgraph:
//! router-config/router.yaml's `jwt` block, in the router's own format (JWKS
//! files or URLs, issuers, audiences, algorithms, the scopes claim), and the
//! clock leeway from its `verify_token` plugin.

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use hive_router::config::HiveRouterConfig;
use hive_router::config::jwt_auth::JwksProviderSourceConfig;
use kit::auth::{AuthConfig, JwksSource};
use serde::Deserialize;

/// How often a JWKS URL is fetched again when the router.yaml does not say.
const DEFAULT_JWKS_REFRESH: Duration = Duration::from_secs(600);

/// What router.yaml's `plugins.verify_token.config` holds.
#[derive(Deserialize, Default)]
pub struct VerifyTokenConfig {
    /// Clock skew allowed on `exp` and `nbf`, e.g. "30s".
    #[serde(default)]
    pub leeway: Option<String>,
}

/// Reads `config_dir/router.yaml` as the router does (environment values
/// resolved, paths relative to the file).
pub fn load_router_config(config_dir: &Path) -> anyhow::Result<HiveRouterConfig> {
    let path = config_dir.join("router.yaml");
    hive_router::config::load_config(Some(path.to_string_lossy().into_owned())).with_context(|| format!("reading {}", path.display()))
}

/// The auth configuration router.yaml describes.
pub fn auth_config(router: &HiveRouterConfig) -> anyhow::Result<AuthConfig> {
    let jwt = &router.jwt;
    anyhow::ensure!(jwt.enabled && !jwt.jwks_providers.is_empty(), "router.yaml must enable `jwt` with at least one JWKS provider");
    let jwks = jwt
        .jwks_providers
        .iter()
        .map(|provider| match provider {
            JwksProviderSourceConfig::File { file } => Ok(JwksSource::File(file.absolute.clone().into())),
            JwksProviderSourceConfig::Remote { url, polling_interval, .. } => {
                Ok(JwksSource::Url { url: url.clone(), refresh: polling_interval.unwrap_or(DEFAULT_JWKS_REFRESH) })
            }
            _ => anyhow::bail!("router.yaml names a JWKS provider this version does not read"),
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let plugin: VerifyTokenConfig = match router.plugins.get("verify_token") {
        Some(plugin) => serde_json::from_value(plugin.config.clone()).context("reading plugins.verify_token.config")?,
        None => VerifyTokenConfig::default(),
    };
    let leeway = match plugin.leeway.as_deref() {
        Some(text) => kit::config::parse_duration(text).map_err(|e| anyhow::anyhow!("plugins.verify_token.config.leeway: {e}"))?,
        None => Duration::from_secs(30),
    };
    Ok(AuthConfig {
        jwks,
        issuers: jwt.issuers.clone().unwrap_or_default(),
        audiences: jwt.audiences.clone().unwrap_or_default(),
        algorithms: jwt.allowed_algorithms.clone().unwrap_or_default(),
        leeway,
        scopes_claim: jwt.scopes_claim.clone(),
    })
}
