//! One side of a check: a supergraph (or a bare client-facing schema), its
//! API schema, which subgraph resolves each part of it, and the SDL files
//! its coordinates are written in.

use std::collections::BTreeSet;

use anyhow::{Context as _, anyhow};
use apollo_compiler::schema::ExtendedType;
use apollo_compiler::validation::Valid;
use apollo_compiler::{Node, Schema};
use apollo_federation::ApiSchemaOptions;
use serde::Serialize;

/// A schema coordinate in the comparator's notation: `Type`, `Type.field`,
/// `Type.field.argument`, `Enum.VALUE`, `Input.field`.
pub type Coordinate = str;

/// Where a coordinate is written: a file of the repository and a line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Location {
    pub file: String,
    pub line: usize,
}

/// An SDL text that coordinates can be found in.
pub struct SdlFile {
    /// The path shown in reports (relative to the repository).
    pub file: String,
    /// The subgraph whose SDL this is; None for a supergraph or API schema.
    pub subgraph: Option<String>,
    schema: Schema,
}

impl SdlFile {
    pub fn new(file: impl Into<String>, subgraph: Option<String>, text: &str) -> SdlFile {
        let file = file.into();
        // Subgraph SDL uses directives it imports through @link; parsing
        // without validation keeps every definition and its position.
        let schema = Schema::parse(text, &file).unwrap_or_else(|invalid| invalid.partial);
        SdlFile { file, subgraph, schema }
    }

    /// The line `coordinate` is written on, or its type's line when the member is not there.
    fn line_of(&self, coordinate: &Coordinate) -> Option<usize> {
        let mut parts = coordinate.split('.');
        let ty = self.schema.types.get(parts.next()?)?;
        let member = parts.next();
        let argument = parts.next();
        let span = member.and_then(|member| member_location(ty, member, argument)).or_else(|| ty.location())?;
        Some(span.line_column(&self.schema.sources)?.line)
    }
}

fn member_location(ty: &ExtendedType, member: &str, argument: Option<&str>) -> Option<apollo_compiler::parser::SourceSpan> {
    let field = match ty {
        ExtendedType::Object(object) => object.fields.get(member).map(|f| &f.node),
        ExtendedType::Interface(interface) => interface.fields.get(member).map(|f| &f.node),
        ExtendedType::Enum(enumeration) => return enumeration.values.get(member)?.location(),
        ExtendedType::InputObject(input) => return input.fields.get(member)?.location(),
        ExtendedType::Scalar(_) | ExtendedType::Union(_) => None,
    }?;
    match argument {
        Some(argument) => field.arguments.iter().find(|a| a.name == argument).and_then(Node::location).or_else(|| field.location()),
        None => field.location(),
    }
}

/// One side of a check.
pub struct Graph {
    /// What it is, for reports: "supergraph.graphql at 1a2b3c4 (merge base with origin/main)".
    pub label: String,
    pub api: Valid<Schema>,
    /// The supergraph, when the side is one (a bare API schema has no subgraphs).
    pub supergraph: Option<Valid<Schema>>,
    /// Where its coordinates are written, the owning subgraphs' files first.
    pub files: Vec<SdlFile>,
}

impl Graph {
    /// Reads `text`: a supergraph (it links the join spec) or a client-facing schema.
    pub fn from_sdl(label: impl Into<String>, text: &str, files: Vec<SdlFile>) -> anyhow::Result<Graph> {
        let label = label.into();
        if !text.contains("https://specs.apollo.dev/join/") {
            let api = Schema::parse_and_validate(text, &label).map_err(|invalid| anyhow!("{label} is not a valid schema:\n{}", invalid.errors))?;
            return Ok(Graph { label, api, supergraph: None, files });
        }
        let supergraph = apollo_federation::Supergraph::new_with_router_specs(text).with_context(|| format!("{label} is not a valid supergraph"))?;
        let api = supergraph.to_api_schema(ApiSchemaOptions::default()).with_context(|| format!("deriving the API schema of {label}"))?;
        Ok(Graph { label, api: api.schema().clone(), supergraph: Some(supergraph.schema.schema().clone()), files })
    }

    /// The client-facing SDL: no join__ or link__ machinery.
    pub fn api_sdl(&self) -> String {
        self.api.to_string()
    }

    /// The subgraphs that resolve `coordinate` (its type's, for a member
    /// that does not name its own), by their names.
    pub fn owners(&self, coordinate: &Coordinate) -> Vec<String> {
        let Some(supergraph) = &self.supergraph else { return vec![] };
        let mut parts = coordinate.split('.');
        let Some(ty) = parts.next().and_then(|name| supergraph.types.get(name)) else { return vec![] };
        let graphs = |directives: Vec<&apollo_compiler::ast::Directive>| -> BTreeSet<String> {
            directives.into_iter().filter_map(|directive| Some(directive.specified_argument_by_name("graph")?.as_enum()?.to_string())).collect()
        };
        let field_graphs = match (ty, parts.next()) {
            (ExtendedType::Object(object), Some(field)) => object.fields.get(field).map(|f| graphs(f.directives.get_all("join__field").map(|d| &**d).collect())),
            (ExtendedType::Interface(interface), Some(field)) => {
                interface.fields.get(field).map(|f| graphs(f.directives.get_all("join__field").map(|d| &**d).collect()))
            }
            _ => None,
        }
        .filter(|found| !found.is_empty());
        let graph_values = field_graphs.unwrap_or_else(|| graphs(ty.directives().get_all("join__type").map(|d| &***d).collect()));
        graph_values.iter().map(|value| subgraph_name(supergraph, value)).collect()
    }

    /// Where `coordinate` is written: in an owning subgraph's file when
    /// there is one, else in the first file that has it.
    pub fn locate(&self, coordinate: &Coordinate) -> Option<Location> {
        let owners = self.owners(coordinate);
        let owned = self.files.iter().filter(|file| file.subgraph.as_ref().is_some_and(|s| owners.contains(s)));
        let others = self.files.iter().filter(|file| !file.subgraph.as_ref().is_some_and(|s| owners.contains(s)));
        owned.chain(others).find_map(|file| Some(Location { file: file.file.clone(), line: file.line_of(coordinate)? }))
    }

    /// Whether `name` is an input object or an enum: a change inside one
    /// concerns every operation that uses the type, not only one field.
    pub fn is_input_or_enum(&self, name: &str) -> bool {
        matches!(self.api.types.get(name), Some(ExtendedType::InputObject(_) | ExtendedType::Enum(_)))
    }
}

/// The subgraph name a `join__Graph` value stands for (`PRODUCTS` → "products").
fn subgraph_name(supergraph: &Schema, graph_value: &str) -> String {
    let named = match supergraph.types.get("join__Graph") {
        Some(ExtendedType::Enum(graphs)) => graphs.values.get(graph_value).and_then(|value| {
            let name = value.directives.get("join__graph")?.specified_argument_by_name("name")?;
            name.as_str().map(str::to_string)
        }),
        _ => None,
    };
    named.unwrap_or_else(|| graph_value.to_lowercase())
}
