//! The conventions this graph follows, reported as warnings:
//!
//! - `description`: every type and field clients see says what it is.
//! - `connection`: a list of entities (which grow in number) is a Relay
//!   connection (`edges`, `pageInfo`, taking `first` and `after`); a list
//!   with a known bound declares it with `@listSize(assumedSize:)`.
//! - `user-errors`: a mutation answers with a payload that has `userErrors`.
//! - `nullable-foreign`: a field another subgraph adds to an entity is
//!   nullable, so the owner's data survives that subgraph's outage.
//!
//! A warning the graph accepts is silenced in `schema-lint.yaml` (in the
//! router config folder) by rule and coordinate, with the reason.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context as _, bail};
use apollo_compiler::Schema;
use apollo_compiler::schema::{ExtendedType, FieldDefinition};
use serde::{Deserialize, Serialize};

use super::graph::{Graph, Location};

#[derive(Clone, Debug, Serialize)]
pub struct Warning {
    pub rule: &'static str,
    pub coordinate: String,
    pub message: String,
    pub location: Option<Location>,
}

/// `schema-lint.yaml`: the warnings this graph accepts.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Allowed {
    #[serde(default)]
    allow: Vec<Allowance>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Allowance {
    rule: String,
    coordinate: String,
    reason: String,
}

pub const RULES: [&str; 4] = ["description", "connection", "user-errors", "nullable-foreign"];

impl Allowed {
    /// Reads `path`; no file allows nothing.
    pub fn read(path: &Path) -> anyhow::Result<Allowed> {
        if !path.exists() {
            return Ok(Allowed::default());
        }
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let allowed: Allowed = serde_yaml::from_str(&text).with_context(|| format!("{} is not a list of allowances", path.display()))?;
        for allowance in &allowed.allow {
            if !RULES.contains(&allowance.rule.as_str()) {
                bail!("{}: unknown rule {:?} (the rules: {})", path.display(), allowance.rule, RULES.join(", "));
            }
            if allowance.reason.trim().is_empty() {
                bail!("{}: allowing {} {} needs a reason", path.display(), allowance.rule, allowance.coordinate);
            }
        }
        Ok(allowed)
    }

    fn allows(&self, warning: &Warning) -> bool {
        self.allow.iter().any(|a| a.rule == warning.rule && a.coordinate == warning.coordinate)
    }
}

/// The warnings for `graph`, less the allowed ones.
pub fn lint(graph: &Graph, allowed: &Allowed) -> Vec<Warning> {
    let mut found = Vec::new();
    for (name, ty) in graph.api.types.iter().filter(|(name, ty)| !ty.is_built_in() && !name.starts_with("__")) {
        if ty.description().is_none() {
            found.push((name.to_string(), "description", format!("type {name} has no description")));
        }
        for (field_name, field) in fields(ty) {
            let coordinate = format!("{name}.{field_name}");
            if field.description.is_none() {
                found.push((coordinate.clone(), "description", format!("{coordinate} has no description")));
            }
            if let Some(problem) = connection_problem(graph, name, field) {
                found.push((coordinate, "connection", problem));
            }
        }
        if let ExtendedType::InputObject(input) = ty {
            for (field_name, field) in &input.fields {
                if field.description.is_none() {
                    found.push((format!("{name}.{field_name}"), "description", format!("{name}.{field_name} has no description")));
                }
            }
        }
    }
    found.extend(mutations_without_user_errors(&graph.api));
    if let Some(supergraph) = &graph.supergraph {
        found.extend(non_null_foreign_fields(graph, supergraph));
    }
    found
        .into_iter()
        .map(|(coordinate, rule, message)| Warning { rule, location: graph.locate(&coordinate), coordinate, message })
        .filter(|warning| !allowed.allows(warning))
        .collect()
}

fn fields(ty: &ExtendedType) -> Vec<(&apollo_compiler::Name, &FieldDefinition)> {
    match ty {
        ExtendedType::Object(object) => object.fields.iter().map(|(name, field)| (name, &*field.node)).collect(),
        ExtendedType::Interface(interface) => interface.fields.iter().map(|(name, field)| (name, &*field.node)).collect(),
        _ => vec![],
    }
}

/// Why `field` of `type_name` breaks the connection rule, if it does.
fn connection_problem(graph: &Graph, type_name: &str, field: &FieldDefinition) -> Option<String> {
    let coordinate = format!("{type_name}.{}", field.name);
    let target = field.ty.inner_named_type();
    let of_records = matches!(graph.api.types.get(target), Some(ExtendedType::Object(_) | ExtendedType::Interface(_) | ExtendedType::Union(_)))
        && is_entity(graph, target);
    if target.ends_with("Connection") {
        let takes = |argument: &str| field.arguments.iter().any(|a| a.name == argument);
        let shaped = match graph.api.types.get(target) {
            Some(ExtendedType::Object(connection)) => connection.fields.contains_key("edges") && connection.fields.contains_key("pageInfo"),
            _ => false,
        };
        return match (shaped, takes("first") && takes("after")) {
            (false, _) => Some(format!("{coordinate} returns {target}, which lacks `edges` or `pageInfo`")),
            (true, false) => Some(format!("{coordinate} returns a connection but does not take `first` and `after`")),
            (true, true) => None,
        };
    }
    if !field.ty.is_list() || !of_records || type_name.ends_with("Connection") || has_assumed_size(graph, type_name, &field.name) {
        return None;
    }
    Some(format!("{coordinate} returns a list of {target} that can grow: make it a Relay connection, or declare its bound with @listSize(assumedSize:)"))
}

/// Whether `name` is an entity (it has a key): rows that grow in number,
/// unlike value types such as a payload's user errors. Without a
/// supergraph every object counts.
fn is_entity(graph: &Graph, name: &str) -> bool {
    let Some(supergraph) = &graph.supergraph else { return true };
    supergraph.types.get(name).is_some_and(|ty| ty.directives().get_all("join__type").any(|join| join.specified_argument_by_name("key").is_some()))
}

fn has_assumed_size(graph: &Graph, type_name: &str, field_name: &str) -> bool {
    let Some(supergraph) = &graph.supergraph else { return false };
    let field = match supergraph.types.get(type_name) {
        Some(ExtendedType::Object(object)) => object.fields.get(field_name).map(|f| &f.node),
        Some(ExtendedType::Interface(interface)) => interface.fields.get(field_name).map(|f| &f.node),
        _ => None,
    };
    field.is_some_and(|field| field.directives.get_all("listSize").any(|size| size.specified_argument_by_name("assumedSize").is_some()))
}

fn mutations_without_user_errors(api: &Schema) -> Vec<(String, &'static str, String)> {
    let Some(mutation) = api.root_operation(apollo_compiler::ast::OperationType::Mutation).and_then(|name| api.get_object(name)) else {
        return vec![];
    };
    mutation
        .fields
        .values()
        .filter(|field| {
            let payload = api.get_object(field.ty.inner_named_type());
            !payload.and_then(|payload| payload.fields.get("userErrors")).is_some_and(|errors| errors.ty.is_list())
        })
        .map(|field| {
            let coordinate = format!("{}.{}", mutation.name, field.name);
            (coordinate.clone(), "user-errors", format!("{coordinate} returns {}, which has no `userErrors` list", field.ty.inner_named_type()))
        })
        .collect()
}

/// Non-null fields of an entity that only a subgraph other than its owner
/// (the one that resolves most of its fields) resolves.
fn non_null_foreign_fields(graph: &Graph, supergraph: &Schema) -> Vec<(String, &'static str, String)> {
    let mut found = Vec::new();
    let roots: Vec<&apollo_compiler::Name> = graph.api.schema_definition.iter_root_operations().map(|(_, name)| &name.name).collect();
    for (name, ty) in &graph.api.types {
        let ExtendedType::Object(object) = ty else { continue };
        if roots.contains(&name) {
            continue;
        }
        let Some(ExtendedType::Object(joined)) = supergraph.types.get(name) else { continue };
        if joined.directives.get_all("join__type").count() < 2 {
            continue;
        }
        let owners_of: BTreeMap<&str, Vec<String>> =
            object.fields.keys().map(|field| (field.as_str(), graph.owners(&format!("{name}.{field}")))).collect();
        let mut resolved_by: BTreeMap<&str, usize> = BTreeMap::new();
        for subgraph in owners_of.values().flatten() {
            *resolved_by.entry(subgraph).or_default() += 1;
        }
        let Some((owner, _)) = resolved_by.iter().max_by_key(|(_, count)| **count) else { continue };
        for (field, owners) in &owners_of {
            let non_null = object.fields.get(*field).is_some_and(|f| f.ty.is_non_null());
            if non_null && !owners.iter().any(|subgraph| subgraph == owner) {
                let coordinate = format!("{name}.{field}");
                let message = format!("{coordinate} comes from {} but is non-null: an outage there would blank the whole {name}", owners.join(", "));
                found.push((coordinate, "nullable-foreign", message));
            }
        }
    }
    found
}
