//! The operations clients send, read from folders of `.graphql` documents:
//! each validated against the new schema, and what each used in the old one.
//!
//! Every operation is checked on its own, with the fragments it spreads
//! (from any file of the folders). Its document is built from the original
//! files with everything else blanked out, so positions in errors are the
//! files' own lines.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use apollo_compiler::ExecutableDocument;
use apollo_compiler::ast::{Definition, Document, Selection};
use apollo_compiler::diagnostic::ToCliReport;
use apollo_compiler::validation::{DiagnosticList, Valid};
use serde::Serialize;

use super::graph::{Graph, Location};
use super::usage::coordinates_used;

/// One operation of a client's documents.
pub struct Operation {
    /// How reports name it.
    pub name: String,
    /// Its name in its document; None when it is anonymous.
    document_name: Option<String>,
    pub location: Location,
    /// The `#` comment lines right above it, which say how it behaves.
    pub comment: String,
    /// (file, text with only this operation and its fragments kept)
    sources: Vec<(String, String)>,
}

/// Why an operation no longer validates.
#[derive(Clone, Debug, Serialize)]
pub struct OperationError {
    pub operation: String,
    pub location: Location,
    pub message: String,
}

/// Reads every `.graphql` and `.gql` file under `folders`.
pub fn load(folders: &[PathBuf]) -> anyhow::Result<Vec<Operation>> {
    let mut files = Vec::new();
    for folder in folders {
        collect_documents(folder, &mut files).with_context(|| format!("reading the operations in {}", folder.display()))?;
    }
    let mut parsed = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let file = relative(&path);
        let document = Document::parse(&text, &file).map_err(|invalid| anyhow::anyhow!("{file} does not parse:\n{}", invalid.errors))?;
        parsed.push((file, text, document));
    }
    let mut fragments = HashMap::new();
    for (index, (_, _, document)) in parsed.iter().enumerate() {
        for definition in &document.definitions {
            if let Definition::FragmentDefinition(fragment) = definition {
                fragments.insert(fragment.name.to_string(), (index, definition));
            }
        }
    }
    let mut operations = Vec::new();
    for (index, (file, text, document)) in parsed.iter().enumerate() {
        for definition in &document.definitions {
            let Definition::OperationDefinition(operation) = definition else { continue };
            let document_name = operation.name.as_ref().map(|name| name.to_string());
            let name = document_name.clone().unwrap_or_else(|| "(anonymous)".to_string());
            let line = definition.location().and_then(|span| span.line_column(&document.sources)).map_or(1, |at| at.line);
            // What to keep of each file: this operation and every fragment it reaches.
            let mut kept: HashMap<usize, Vec<&Definition>> = HashMap::from([(index, vec![definition])]);
            let mut pending = spreads(definition);
            let mut reached = BTreeSet::new();
            while let Some(fragment) = pending.pop() {
                if !reached.insert(fragment.clone()) {
                    continue;
                }
                let Some((home, fragment_definition)) = fragments.get(&fragment) else { continue };
                kept.entry(*home).or_default().push(fragment_definition);
                pending.extend(spreads(fragment_definition));
            }
            let mut sources: Vec<(String, String)> =
                kept.into_iter().map(|(home, definitions)| (parsed[home].0.clone(), keep_only(&parsed[home].1, &definitions))).collect();
            sources.sort();
            operations.push(Operation { name, document_name, comment: comment_above(text, line), location: Location { file: file.clone(), line }, sources });
        }
    }
    Ok(operations)
}

/// A document that subgraph `subgraph` sends through the router (its
/// crate's `graph_reads`), located in the subgraph's source so that an error
/// points at the line that holds it.
pub fn graph_read(subgraph: &str, document: &str) -> anyhow::Result<Operation> {
    let folder = PathBuf::from(format!("subgraphs/{subgraph}/src"));
    let mut location = Location { file: folder.display().to_string(), line: 1 };
    if folder.is_dir() {
        for entry in std::fs::read_dir(&folder)? {
            let path = entry?.path();
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            if let Some(at) = text.find(document) {
                location = Location { file: relative(&path), line: text[..at].matches('\n').count() + 1 };
                break;
            }
        }
    }
    // Blank lines ahead of the document keep the compiler's line numbers true to the file.
    let text = format!("{}{document}", "\n".repeat(location.line - 1));
    let name = format!("the {subgraph} subgraph's read through the graph");
    Ok(Operation { name, document_name: None, comment: String::new(), sources: vec![(location.file.clone(), text)], location })
}

/// The `#` lines right above line `line` (1-based) of `text`, in order.
fn comment_above(text: &str, line: usize) -> String {
    let lines: Vec<&str> = text.lines().take(line.saturating_sub(1)).collect();
    let start = lines.iter().rposition(|l| !l.trim_start().starts_with('#')).map_or(0, |i| i + 1);
    lines[start..].iter().map(|l| format!("{l}\n")).collect()
}

/// `path` relative to the working directory when it is under it, as CI annotations want.
fn relative(path: &Path) -> String {
    let cwd = std::env::current_dir().unwrap_or_default();
    path.strip_prefix(&cwd).unwrap_or(path).display().to_string()
}

fn collect_documents(folder: &Path, files: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    if !folder.is_dir() {
        bail!("{} is not a folder", folder.display());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(folder)?.map(|entry| entry.map(|e| e.path())).collect::<Result<_, _>>()?;
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect_documents(&path, files)?;
        } else if path.extension().is_some_and(|ext| ext == "graphql" || ext == "gql") {
            files.push(path);
        }
    }
    Ok(())
}

/// The fragments `definition` spreads directly.
fn spreads(definition: &Definition) -> Vec<String> {
    fn walk(selections: &[Selection], found: &mut Vec<String>) {
        for selection in selections {
            match selection {
                Selection::Field(field) => walk(&field.selection_set, found),
                Selection::FragmentSpread(spread) => found.push(spread.fragment_name.to_string()),
                Selection::InlineFragment(inline) => walk(&inline.selection_set, found),
            }
        }
    }
    let mut found = Vec::new();
    match definition {
        Definition::OperationDefinition(operation) => walk(&operation.selection_set, &mut found),
        Definition::FragmentDefinition(fragment) => walk(&fragment.selection_set, &mut found),
        _ => {}
    }
    found
}

/// `text` with everything outside `definitions` blanked (newlines kept, so lines stay put).
fn keep_only(text: &str, definitions: &[&Definition]) -> String {
    let spans: Vec<(usize, usize)> = definitions.iter().filter_map(|d| d.location()).map(|span| (span.offset(), span.end_offset())).collect();
    text.char_indices()
        .map(|(offset, c)| if c == '\n' || spans.iter().any(|(start, end)| (*start..*end).contains(&offset)) { c } else { ' ' })
        .collect()
}

impl Operation {
    /// The files its document is made of, each with only its parts kept.
    pub fn sources(&self) -> &[(String, String)] {
        &self.sources
    }

    /// This operation's document against `graph`'s API schema.
    fn document(&self, graph: &Graph) -> Result<Valid<ExecutableDocument>, DiagnosticList> {
        let mut errors = DiagnosticList::new(Default::default());
        let mut builder = ExecutableDocument::builder(Some(&graph.api), &mut errors);
        for (file, text) in &self.sources {
            builder = builder.parse(text.as_str(), file);
        }
        let document = builder.build();
        if !errors.is_empty() {
            return Err(errors);
        }
        document.validate(&graph.api).map_err(|invalid| invalid.errors)
    }

    /// Why it does not validate against `graph`, one entry per problem.
    pub fn errors(&self, graph: &Graph) -> Vec<OperationError> {
        let Err(diagnostics) = self.document(graph) else { return vec![] };
        diagnostics
            .iter()
            .map(|diagnostic| {
                let at = diagnostic.error.location().and_then(|span| {
                    let file = diagnostic.sources.get(&span.file_id())?.path().display().to_string();
                    Some(Location { file, line: span.line_column(diagnostic.sources)?.line })
                });
                OperationError { operation: self.name.clone(), location: at.unwrap_or_else(|| self.location.clone()), message: diagnostic.error.to_string() }
            })
            .collect()
    }

    /// The coordinates it uses in `graph` (none when it does not validate there).
    pub fn coordinates(&self, graph: &Graph) -> BTreeSet<String> {
        match self.document(graph) {
            Ok(document) => coordinates_used(&graph.api, &document, self.document_name.as_deref()),
            Err(_) => BTreeSet::new(),
        }
    }
}
