//! Trusted documents: the operations a storefront ships, compiled into a
//! manifest the router serves by id (its `persisted_documents`), so that
//! with enforcement on a client can send only those.
//!
//! The manifest is Apollo's format (what `generate-persisted-query-manifest`
//! writes and `@apollo/persisted-query-lists` reads): each operation's body
//! is the operation and the fragments it spreads, with `__typename` in every
//! selection set below the root as Apollo Client's cache asks for it, and
//! its id is the body's sha256. The router also reads GraphQL Code
//! Generator's `persisted-documents.json` (`{ "<id>": "<body>" }`), so a
//! shop's own manifest works too.

use std::path::Path;

use anyhow::{Context as _, bail};
use apollo_compiler::ast::{Definition, Document, Selection};
use apollo_compiler::validation::Valid;
use apollo_compiler::{ExecutableDocument, Name, Node, Schema};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::schema_check::graph::Location;
use crate::schema_check::operations::{Operation, OperationError};

/// One trusted document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustedDocument {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub operation_type: Option<String>,
    pub body: String,
}

#[derive(Serialize, Deserialize)]
struct ApolloManifest {
    format: String,
    version: u32,
    operations: Vec<TrustedDocument>,
}

const APOLLO_FORMAT: &str = "apollo-persisted-query-manifest";

/// The storefront's manifest, in router-config/, written by `compose`.
pub const MANIFEST: &str = "trusted-documents.json";

/// Why each of `documents` (read from `path`) does not validate against `api`.
pub fn errors(path: &Path, documents: &[TrustedDocument], api: &Valid<Schema>) -> anyhow::Result<Vec<OperationError>> {
    let text = std::fs::read_to_string(path)?;
    let file = path.display().to_string();
    let mut errors = Vec::new();
    for document in documents {
        let Err(invalid) = ExecutableDocument::parse_and_validate(api, document.body.as_str(), &file) else { continue };
        // Shown on the line of the manifest that holds its id.
        let line = text.find(&document.id).map_or(1, |at| text[..at].lines().count().max(1));
        let operation = document.name.clone().unwrap_or_else(|| format!("trusted document {}", document.id));
        for diagnostic in invalid.errors.iter() {
            errors.push(OperationError { operation: operation.clone(), location: Location { file: file.clone(), line }, message: diagnostic.error.to_string() });
        }
    }
    Ok(errors)
}

/// The manifest of `operations`, in Apollo's format.
pub fn manifest(operations: &[Operation]) -> anyhow::Result<String> {
    let documents = operations
        .iter()
        .map(|operation| {
            let (operation_type, body) = operation_body(operation)?;
            Ok(TrustedDocument { id: sha256(&body), name: Some(operation.name.clone()), operation_type: Some(operation_type), body })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let manifest = ApolloManifest { format: APOLLO_FORMAT.into(), version: 1, operations: documents };
    Ok(serde_json::to_string_pretty(&manifest)? + "\n")
}

/// Reads a manifest in Apollo's format or Code Generator's `{ id: body }`.
pub fn read(path: &Path) -> anyhow::Result<Vec<TrustedDocument>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    if let Ok(manifest) = serde_json::from_str::<ApolloManifest>(&text) {
        if manifest.format != APOLLO_FORMAT || manifest.version != 1 {
            bail!("{}: format {:?} version {} is not {APOLLO_FORMAT} version 1", path.display(), manifest.format, manifest.version);
        }
        return Ok(manifest.operations);
    }
    let pairs: std::collections::BTreeMap<String, String> = serde_json::from_str(&text)
        .with_context(|| format!("{} is neither an Apollo persisted query manifest nor a map of ids to documents", path.display()))?;
    Ok(pairs.into_iter().map(|(id, body)| TrustedDocument { id, name: None, operation_type: None, body }).collect())
}

pub fn sha256(text: &str) -> String {
    Sha256::digest(text.as_bytes()).iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The operation and its fragments as one document, `__typename` added.
fn operation_body(operation: &Operation) -> anyhow::Result<(String, String)> {
    let mut definitions = Vec::new();
    for (file, text) in operation.sources() {
        let document = Document::parse(text, file).map_err(|invalid| anyhow::anyhow!("{file} does not parse:\n{}", invalid.errors))?;
        definitions.extend(document.definitions);
    }
    // The operation first, then its fragments.
    definitions.sort_by_key(|definition| !matches!(definition, Definition::OperationDefinition(_)));
    let mut operation_type = String::new();
    for definition in &mut definitions {
        match definition {
            Definition::OperationDefinition(operation) => {
                let operation = operation.make_mut();
                operation_type = operation.operation_type.name().to_string();
                for selection in &mut operation.selection_set {
                    add_typename_below(selection);
                }
            }
            Definition::FragmentDefinition(fragment) => add_typename(&mut fragment.make_mut().selection_set),
            _ => {}
        }
    }
    let mut document = Document::new();
    document.definitions = definitions;
    Ok((operation_type, document.to_string()))
}

/// Adds `__typename` to `selections` unless it is there, and below.
fn add_typename(selections: &mut Vec<Selection>) {
    let typename = Name::new_static_unchecked("__typename");
    let present = selections.iter().any(|selection| matches!(selection, Selection::Field(field) if field.alias.is_none() && field.name == typename));
    for selection in selections.iter_mut() {
        add_typename_below(selection);
    }
    if !present {
        let field = apollo_compiler::ast::Field { alias: None, name: typename, arguments: vec![], directives: Default::default(), selection_set: vec![] };
        selections.push(Selection::Field(Node::new(field)));
    }
}

fn add_typename_below(selection: &mut Selection) {
    match selection {
        Selection::Field(field) if !field.selection_set.is_empty() => add_typename(&mut field.make_mut().selection_set),
        Selection::InlineFragment(inline) => add_typename(&mut inline.make_mut().selection_set),
        Selection::Field(_) | Selection::FragmentSpread(_) => {}
    }
}

/// `text` printed the one way, without `__typename` selections: two
/// documents that ask for the same data print the same.
pub fn normalized(text: &str) -> Option<String> {
    let mut document = Document::parse(text, "request.graphql").ok()?;
    for definition in &mut document.definitions {
        match definition {
            Definition::OperationDefinition(operation) => drop_typename(&mut operation.make_mut().selection_set),
            Definition::FragmentDefinition(fragment) => drop_typename(&mut fragment.make_mut().selection_set),
            _ => return None,
        }
    }
    Some(document.to_string())
}

fn drop_typename(selections: &mut Vec<Selection>) {
    selections.retain(|selection| !matches!(selection, Selection::Field(field) if field.alias.is_none() && field.name == "__typename"));
    for selection in selections.iter_mut() {
        match selection {
            Selection::Field(field) => drop_typename(&mut field.make_mut().selection_set),
            Selection::InlineFragment(inline) => drop_typename(&mut inline.make_mut().selection_set),
            Selection::FragmentSpread(_) => {}
        }
    }
}
