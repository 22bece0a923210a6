//! What changed between two API schemas, and how much it matters to
//! clients: Shopify's `bluejay-schema-comparator` (the rules of
//! graphql-schema_comparator, the lineage GraphQL Inspector follows) finds
//! and classifies every change; this module names the subgraph and the line
//! each one comes from.

use anyhow::anyhow;
use bluejay_parser::ast::Parse;
use bluejay_parser::ast::definition::{DefinitionDocument, SchemaDefinition};
use bluejay_schema_comparator::{Change as Compared, CriticalityLevel};
use serde::Serialize;

use super::graph::{Graph, Location};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Safe,
    Dangerous,
    Breaking,
}

/// One change of the client-facing schema.
#[derive(Clone, Debug, Serialize)]
pub struct Change {
    pub severity: Severity,
    /// The comparator's name for it: FieldRemoved, FieldArgumentAdded, ...
    pub kind: String,
    pub coordinate: String,
    pub message: String,
    /// The subgraphs that resolve (or resolved, for a removal) what changed.
    pub subgraphs: Vec<String>,
    /// Where the change is written in the new schema (for a removal, what
    /// held the removed part), else in the base.
    pub location: Option<Location>,
}

/// Every change from `base` to `new`, breaking first.
pub fn compare(base: &Graph, new: &Graph) -> anyhow::Result<Vec<Change>> {
    let (base_sdl, new_sdl) = (base.api_sdl(), new.api_sdl());
    let base_document = parse(&base_sdl, &base.label)?;
    let new_document = parse(&new_sdl, &new.label)?;
    let base_schema = schema(&base_document, &base.label)?;
    let new_schema = schema(&new_document, &new.label)?;
    let changes = bluejay_schema_comparator::compare(&base_schema, &new_schema).changes;
    let mut changes: Vec<Change> = changes.iter().map(|compared| describe(compared, base, new)).collect();
    changes.sort_by(|a, b| b.severity.cmp(&a.severity).then_with(|| a.coordinate.cmp(&b.coordinate)));
    Ok(changes)
}

fn parse<'a>(sdl: &'a str, label: &str) -> anyhow::Result<DefinitionDocument<'a>> {
    DefinitionDocument::parse(sdl).result.map_err(|errors| {
        let messages: Vec<&str> = errors.iter().map(|e| e.message()).collect();
        anyhow!("the API schema of {label} does not parse: {}", messages.join("; "))
    })
}

fn schema<'a>(document: &'a DefinitionDocument<'a>, label: &str) -> anyhow::Result<SchemaDefinition<'a>> {
    SchemaDefinition::try_from(document).map_err(|errors| {
        let messages: Vec<String> = errors.into_iter().map(|e| bluejay_parser::Error::from(e).message().to_string()).collect();
        anyhow!("the API schema of {label} is not a schema: {}", messages.join("; "))
    })
}

fn describe<'a>(compared: &Compared<'a, SchemaDefinition<'a>>, base: &Graph, new: &Graph) -> Change {
    let kind = compared.as_ref().to_string();
    let coordinate = compared.path();
    let removal = kind.ends_with("Removed") || kind.ends_with("Removal");
    let (side, other) = if removal { (base, new) } else { (new, base) };
    let mut subgraphs = side.owners(&coordinate);
    if subgraphs.is_empty() {
        subgraphs = other.owners(&coordinate);
    }
    // A removal is shown where what held it still stands in the new schema
    // (its type, or its field for an argument): that is the line a review sees.
    let location = match coordinate.rsplit_once('.') {
        Some((parent, _)) if removal => new.locate(parent),
        _ => None,
    };
    Change {
        severity: severity(compared, &kind),
        location: location.or_else(|| side.locate(&coordinate)).or_else(|| other.locate(&coordinate)),
        message: compared.message(),
        kind,
        coordinate,
        subgraphs,
    }
}

/// The comparator's level, except that removing `@deprecated` (taking a
/// deprecation back) breaks no client.
fn severity<'a>(compared: &Compared<'a, SchemaDefinition<'a>>, kind: &str) -> Severity {
    if kind == "DirectiveRemoved" && compared.path() == "deprecated" {
        return Severity::Safe;
    }
    match compared.criticality_level() {
        CriticalityLevel::Breaking => Severity::Breaking,
        CriticalityLevel::Dangerous => Severity::Dangerous,
        CriticalityLevel::Safe => Severity::Safe,
    }
}
