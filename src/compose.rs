//! Composition with Apollo's own rules (`apollo-federation`, Elastic-2.0).
//! The composed supergraph and each subgraph's SDL are committed
//! (supergraph.graphql, subgraphs/<name>/schema.graphql): reviewers see a
//! schema change in the pull request, and checks point at their lines.

use std::path::Path;

use anyhow::Context as _;
use apollo_federation::composition::{CompositionOptions, compose};
use apollo_federation::subgraph::typestate::Subgraph as FederationSubgraph;

use crate::subgraphs::Subgraph;

/// The five subgraphs' SDL and the supergraph composed from it.
pub struct Composed {
    pub supergraph: String,
    pub subgraphs: Vec<(Subgraph, String)>,
}

/// Composes the five subgraphs' SDL into the supergraph SDL the router
/// loads, or says why it cannot. Subgraph URLs are the `supergraph dev`
/// ones; the router overrides them per deployment.
pub fn compose_subgraphs() -> Result<Composed, Vec<String>> {
    compose_sdl(Subgraph::ALL.iter().map(|subgraph| (*subgraph, (subgraph.definition().sdl)())).collect())
}

/// Composes the given SDL of each subgraph (a test composes an edited one).
pub fn compose_sdl(subgraphs: Vec<(Subgraph, String)>) -> Result<Composed, Vec<String>> {
    let mut inputs = Vec::new();
    let mut errors = Vec::new();
    for (subgraph, sdl) in &subgraphs {
        let url = format!("http://127.0.0.1:{}/graphql", subgraph.default_port());
        match FederationSubgraph::parse(subgraph.name(), &url, sdl) {
            Ok(parsed) => inputs.push(parsed),
            Err(error) => errors.push(format!("subgraph {} does not parse: {error}", subgraph.name())),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    match compose(inputs, CompositionOptions::default()) {
        Ok(supergraph) => Ok(Composed { supergraph: supergraph.schema().schema().to_string(), subgraphs }),
        Err(failure) => Err(failure.errors.iter().map(|e| format!("[{:?}] {e}", e.code())).collect()),
    }
}

impl Composed {
    /// Which committed files differ from what the code composes, each with
    /// the first line that differs.
    pub fn stale_files(&self, supergraph_path: &Path) -> Vec<String> {
        let subgraph_files = self.subgraphs.iter().map(|(subgraph, sdl)| (subgraph.sdl_file(), sdl.as_str()));
        std::iter::once((supergraph_path.to_path_buf(), self.supergraph.as_str()))
            .chain(subgraph_files)
            .filter_map(|(path, composed)| {
                let committed = std::fs::read_to_string(&path).unwrap_or_default();
                let line = first_difference(&committed, composed)?;
                Some(format!("{} first differs from what the code composes at line {line}: run `cargo run -- compose` and commit the result", path.display()))
            })
            .collect()
    }
}

fn first_difference(committed: &str, composed: &str) -> Option<usize> {
    if committed == composed {
        return None;
    }
    let line = committed.lines().zip(composed.lines()).position(|(a, b)| a != b);
    Some(line.map_or_else(|| committed.lines().count().min(composed.lines().count()) + 1, |i| i + 1))
}

/// `supergraph compose`: writes the supergraph to `path`, each subgraph's
/// SDL beside its code, and the storefront's trusted documents (compiled
/// from `config_dir`/storefront) to `config_dir`/trusted-documents.json.
pub fn write(path: &Path, config_dir: &Path) -> anyhow::Result<()> {
    let composed = compose_subgraphs().map_err(|errors| anyhow::anyhow!("composition failed with {} error(s):\n  {}", errors.len(), errors.join("\n  ")))?;
    for (subgraph, sdl) in &composed.subgraphs {
        let file = subgraph.sdl_file();
        std::fs::write(&file, sdl).with_context(|| format!("writing {}", file.display()))?;
        println!("wrote {}", file.display());
    }
    std::fs::write(path, &composed.supergraph).with_context(|| format!("writing {}", path.display()))?;
    println!("wrote {}", path.display());
    let storefront = crate::schema_check::operations::load(&[config_dir.join("storefront")])?;
    let manifest = config_dir.join(crate::trusted_documents::MANIFEST);
    std::fs::write(&manifest, crate::trusted_documents::manifest(&storefront)?).with_context(|| format!("writing {}", manifest.display()))?;
    println!("wrote {}", manifest.display());
    Ok(())
}
