//! `supergraph check`: what a schema change does to the clients, offline.
//!
//! The schema the code composes (or `--supergraph FILE`) is compared with a
//! base: by default the supergraph.graphql of the merge base with the
//! default branch, or `--against FILE|REF`. Every change of the
//! client-facing schema is classified (`diff`), every operation of the
//! clients' documents is validated against the new schema and matched
//! against the breaking changes (`operations`), recorded traffic is
//! consulted when asked (`usage`), and the conventions are linted (`lint`).
//! The verdict: 0 pass, 1 a failure (composition, a stale file, an operation
//! that no longer validates, a breaking change that a client uses, or any
//! breaking change with `--strict`), 2 the check could not run.

mod base;
pub mod diff;
pub mod graph;
pub mod lint;
pub mod operations;
pub mod report;
pub mod usage;

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;

use anyhow::Context as _;

use crate::subgraphs::Subgraph;
use crate::{compose, trusted_documents};
use diff::Severity;
use graph::{Graph, SdlFile};
use operations::Operation;
use report::{AssessedChange, Format, OperationUse, Report};

pub struct CheckOptions {
    /// The committed supergraph (checked for staleness; the base's path in git).
    pub supergraph_path: PathBuf,
    /// Check this supergraph (or API schema) instead of composing the code's.
    pub supergraph: Option<PathBuf>,
    pub against: Option<String>,
    /// Folders of other clients' documents (the storefront's are always read).
    pub operations: Vec<PathBuf>,
    /// A usage database the router's `usage` plugin records into.
    pub usage: Option<String>,
    pub usage_days: u32,
    pub strict: bool,
    pub format: Format,
    /// router-config/: the storefront's operations (storefront/), the
    /// trusted documents router.yaml serves, schema-lint.yaml.
    pub config_dir: PathBuf,
}

/// Runs the check and prints its report; true when it passes. An error
/// means the check could not run (exit code 2).
pub fn run(options: &CheckOptions) -> anyhow::Result<bool> {
    let allowed = lint::Allowed::read(&options.config_dir.join("schema-lint.yaml"))?;
    let storefront = operations::load(&[options.config_dir.join("storefront")])?;
    let trusted = trusted_documents_served(&options.config_dir)?;
    let (new, composition_errors, mut stale_files) = match &options.supergraph {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            let label = path.display().to_string();
            (Some(Graph::from_sdl(&label, &text, vec![SdlFile::new(&label, None, &text)])?), vec![], vec![])
        }
        None => match compose::compose_subgraphs() {
            Ok(composed) => {
                let stale = composed.stale_files(&options.supergraph_path);
                (Some(composed_graph(&composed)?), vec![], stale)
            }
            Err(errors) => (None, errors, vec![]),
        },
    };
    // The storefront's manifest is compiled from its operations by `compose`.
    let ours = options.config_dir.join(trusted_documents::MANIFEST);
    if options.supergraph.is_none() && trusted.as_ref().is_some_and(|(path, _)| *path == ours) {
        let compiled = trusted_documents::manifest(&storefront)?;
        if std::fs::read_to_string(&ours).unwrap_or_default() != compiled {
            stale_files.push(format!("{} is not what the storefront operations compile to: run `cargo run -- compose` and commit the result", ours.display()));
        }
    }
    // The subgraphs read through the router that router.yaml configures: a
    // config dir without one (another graph's, a fixture) has no such client.
    let graph_reads: Vec<Operation> = match options.config_dir.join("router.yaml").exists() {
        true => Subgraph::ALL
            .iter()
            .flat_map(|subgraph| {
                let definition = subgraph.definition();
                definition.graph_reads.iter().map(|document| operations::graph_read(definition.name, document))
            })
            .collect::<anyhow::Result<_>>()?,
        false => vec![],
    };
    let operations: Vec<Operation> = storefront.into_iter().chain(graph_reads).chain(operations::load(&options.operations)?).collect();
    let mut report = Report {
        passed: false,
        new: new.as_ref().map_or_else(|| "the subgraphs' schemas".to_string(), |graph| graph.label.clone()),
        base: None,
        composition_errors,
        stale_files,
        changes: vec![],
        operations_checked: operations.len(),
        operation_errors: vec![],
        usage_days: options.usage.as_ref().map(|_| options.usage_days),
        warnings: vec![],
    };
    if let Some(new) = &new {
        let base = base::load(options.against.as_deref(), &options.supergraph_path)?;
        let traffic = match &options.usage {
            Some(url) => Some(read_usage(url, options.usage_days)?),
            None => None,
        };
        report.base = Some(base.label.clone());
        report.changes = assess(diff::compare(&base, new)?, &base, &operations, traffic.as_ref(), options.strict);
        report.operation_errors = operations.iter().flat_map(|operation| operation.errors(new)).collect();
        if let Some((path, documents)) = &trusted {
            report.operation_errors.extend(trusted_documents::errors(path, documents, &new.api)?);
        }
        report.warnings = lint::lint(new, &allowed);
    }
    report.passed = report.composition_errors.is_empty()
        && report.stale_files.is_empty()
        && report.operation_errors.is_empty()
        && !report.changes.iter().any(|change| change.blocking);
    report.print(options.format);
    Ok(report.passed)
}

/// The manifest of trusted documents router.yaml serves, when it serves one.
fn trusted_documents_served(config_dir: &std::path::Path) -> anyhow::Result<Option<(PathBuf, Vec<trusted_documents::TrustedDocument>)>> {
    let router_yaml = config_dir.join("router.yaml");
    if !router_yaml.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&router_yaml).with_context(|| format!("reading {}", router_yaml.display()))?;
    let config: serde_yaml::Value = serde_yaml::from_str(&text).with_context(|| format!("parsing {}", router_yaml.display()))?;
    let Some(path) = config["persisted_documents"]["storage"]["path"].as_str() else { return Ok(None) };
    let path = config_dir.join(path);
    let documents = trusted_documents::read(&path)?;
    Ok(Some((path, documents)))
}

/// The supergraph the code composes, its coordinates looked up in each
/// subgraph's committed SDL file.
fn composed_graph(composed: &compose::Composed) -> anyhow::Result<Graph> {
    let files = composed
        .subgraphs
        .iter()
        .map(|(subgraph, sdl)| SdlFile::new(subgraph.sdl_file().display().to_string(), Some(subgraph.name().to_string()), sdl))
        .collect();
    Graph::from_sdl("the supergraph composed from the subgraphs' code", &composed.supergraph, files)
}

/// `supergraph schema`: the client-facing SDL of the supergraph the code composes.
pub fn api_schema() -> anyhow::Result<String> {
    let composed = compose::compose_subgraphs().map_err(|errors| anyhow::anyhow!("composition fails:\n  {}", errors.join("\n  ")))?;
    Ok(composed_graph(&composed)?.api_sdl())
}

fn read_usage(url: &str, days: u32) -> anyhow::Result<HashMap<String, u64>> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let db = kit::db::connect(url, vec![usage::migrator()]).await?;
        let counts = usage::read(&db, days).await;
        db.close().await;
        counts
    })
}

/// Which known operations and recorded requests each breaking change
/// touches, and whether it fails the check.
fn assess(changes: Vec<diff::Change>, base: &Graph, operations: &[Operation], traffic: Option<&HashMap<String, u64>>, strict: bool) -> Vec<AssessedChange> {
    let used: Vec<BTreeSet<String>> = operations.iter().map(|operation| operation.coordinates(base)).collect();
    changes
        .into_iter()
        .map(|change| {
            if change.severity != Severity::Breaking {
                return AssessedChange { change, operations: vec![], requests: None, blocking: false };
            }
            let through = felt_through(&change, base);
            let operations: Vec<OperationUse> = operations
                .iter()
                .zip(&used)
                .filter(|(_, used)| through.iter().any(|coordinate| used.contains(coordinate)))
                .map(|(operation, _)| OperationUse { name: operation.name.clone(), location: operation.location.clone() })
                .collect();
            let requests = traffic.map(|traffic| through.iter().filter_map(|coordinate| traffic.get(coordinate)).copied().max().unwrap_or(0));
            let blocking = strict || !operations.is_empty() || requests.is_some_and(|n| n > 0);
            AssessedChange { change, operations, requests, blocking }
        })
        .collect()
}

/// The coordinates through which a client would feel `change`: itself;
/// the field, for an argument it must now pass; the type, for a change
/// inside an input object or an enum (every client sending or reading it).
fn felt_through(change: &diff::Change, base: &Graph) -> Vec<String> {
    let parts: Vec<&str> = change.coordinate.split('.').collect();
    let mut through = vec![change.coordinate.clone()];
    if change.kind == "FieldArgumentAdded" && parts.len() == 3 {
        through.push(format!("{}.{}", parts[0], parts[1]));
    }
    if parts.len() >= 2 && base.is_input_or_enum(parts[0]) {
        through.push(parts[0].to_string());
    }
    through
}
