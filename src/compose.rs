//! Composition with Apollo's own rules (`apollo-federation`, Elastic-2.0; it
//! is used only here, in the compose and check commands).

use std::path::Path;

use anyhow::{Context as _, bail};
use apollo_federation::composition::{CompositionOptions, compose};
use apollo_federation::subgraph::typestate::Subgraph as FederationSubgraph;

use crate::subgraphs::Subgraph;

/// Composes the five subgraphs' SDL into the supergraph SDL the router loads.
/// Subgraph URLs are the `supergraph dev` ones; the router overrides them per
/// deployment.
pub fn compose_supergraph() -> anyhow::Result<String> {
    let mut inputs = Vec::new();
    let mut errors = Vec::new();
    for subgraph in Subgraph::ALL {
        let url = format!("http://127.0.0.1:{}/graphql", subgraph.default_port());
        match FederationSubgraph::parse(subgraph.name(), &url, &(subgraph.definition().sdl)()) {
            Ok(parsed) => inputs.push(parsed),
            Err(error) => errors.push(format!("subgraph {}: {error}", subgraph.name())),
        }
    }
    if !errors.is_empty() {
        bail!("these subgraphs do not parse:\n  {}", errors.join("\n  "));
    }
    match compose(inputs, CompositionOptions::default()) {
        Ok(supergraph) => Ok(supergraph.schema().schema().to_string()),
        Err(failure) => {
            let report: Vec<String> = failure.errors.iter().map(|e| format!("[{:?}] {e}", e.code())).collect();
            bail!("composition failed with {} error(s):\n  {}", report.len(), report.join("\n  "))
        }
    }
}

/// `supergraph compose`: writes the composed schema.
pub fn write(path: &Path) -> anyhow::Result<()> {
    let sdl = compose_supergraph()?;
    std::fs::write(path, sdl).with_context(|| format!("writing {}", path.display()))?;
    println!("wrote {}", path.display());
    Ok(())
}

/// `supergraph check`: fails when composition fails or `path` is stale.
pub fn check(path: &Path) -> anyhow::Result<()> {
    let composed = compose_supergraph()?;
    let committed = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    if committed != composed {
        let line = committed
            .lines()
            .zip(composed.lines())
            .position(|(a, b)| a != b)
            .map_or_else(|| committed.lines().count().min(composed.lines().count()) + 1, |i| i + 1);
        bail!(
            "{} is stale: it first differs from the composed schema at line {line}.\n  run `cargo run -- compose` and commit the result",
            path.display()
        );
    }
    println!("{} is up to date and composes cleanly", path.display());
    Ok(())
}
