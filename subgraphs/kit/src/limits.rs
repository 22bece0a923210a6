//! Limits a subgraph enforces on documents sent to it directly, as the router
//! does at the edge: depth and complexity (async-graphql's own, set in
//! `limit`), and, counted right after parsing and before validation, aliases
//! and fields (a fragment counted each time it is spread). Validation
//! compares every pair of same-named fields, so a document of thousands of
//! repeated fields must be refused before it runs.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, Selection, SelectionSet};
use async_graphql::{ErrorExtensions, ObjectType, SchemaBuilder, ServerError, SubscriptionType};

pub const MAX_DEPTH: usize = 16;
pub const MAX_COMPLEXITY: usize = 2_000;
pub const MAX_ALIASES: u64 = 60;
pub const MAX_FIELDS: u64 = 400;

/// The subgraph's schema with async-graphql's limits on; the others are
/// checked by `Documents::parse`, where every request's document is read.
pub fn limit<Q, M, S>(builder: SchemaBuilder<Q, M, S>) -> SchemaBuilder<Q, M, S>
where
    Q: ObjectType + 'static,
    M: ObjectType + 'static,
    S: SubscriptionType + 'static,
{
    builder.limit_depth(MAX_DEPTH).limit_complexity(MAX_COMPLEXITY)
}

/// How many distinct documents a subgraph keeps parsed.
const DOCUMENTS_KEPT: usize = 256;

/// Documents parsed once and kept: gateways send the same few documents
/// again and again, and parsing one cost a subgraph more than executing a
/// product page's SQL. Only documents within the limits are kept.
pub struct Documents(Mutex<lru::LruCache<String, Arc<ExecutableDocument>>>);

impl Default for Documents {
    fn default() -> Self {
        Documents(Mutex::new(lru::LruCache::new(NonZeroUsize::new(DOCUMENTS_KEPT).expect("more than none"))))
    }
}

impl Documents {
    /// The document `query` holds, once it parses and is within the field
    /// and alias limits; else the error the client gets.
    pub fn parse(&self, query: &str) -> Result<Arc<ExecutableDocument>, ServerError> {
        if let Some(document) = self.0.lock().expect("no panics under this lock").get(query) {
            return Ok(document.clone());
        }
        let document = async_graphql::parser::parse_query(query)?;
        let shape = Shape::of(&document, MAX_FIELDS.max(MAX_ALIASES));
        if shape.fields > MAX_FIELDS {
            return Err(refused("FIELD_LIMIT_EXCEEDED", format!("the document asks for more than {MAX_FIELDS} fields")));
        }
        if shape.aliases > MAX_ALIASES {
            return Err(refused("MAX_ALIASES_EXCEEDED", format!("the document uses more than {MAX_ALIASES} aliases")));
        }
        let document = Arc::new(document);
        self.0.lock().expect("no panics under this lock").put(query.to_string(), document.clone());
        Ok(document)
    }
}

fn refused(code: &'static str, message: String) -> ServerError {
    async_graphql::Error::new(message).extend_with(|_, e| e.set("code", code)).into_server_error(Default::default())
}

/// What executing a document would resolve, fragments expanded where
/// spread, each count stopping just past `limit` (so a fragment spread
/// exponentially many times costs no more than the limit to count).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Shape {
    fields: u64,
    aliases: u64,
}

impl Shape {
    fn of(document: &ExecutableDocument, limit: u64) -> Shape {
        let mut counter = Counter { document, sizes: HashMap::new(), ceiling: limit.saturating_add(1) };
        let operations: Vec<&SelectionSet> = match &document.operations {
            DocumentOperations::Single(operation) => vec![&operation.node.selection_set.node],
            DocumentOperations::Multiple(operations) => operations.values().map(|o| &o.node.selection_set.node).collect(),
        };
        let mut total = Shape::default();
        for selection in operations {
            let shape = counter.count(selection, 0);
            total = counter.add(total, shape);
        }
        total
    }
}

struct Counter<'d> {
    document: &'d ExecutableDocument,
    /// Each fragment's shape, counted once.
    sizes: HashMap<&'d str, Shape>,
    ceiling: u64,
}

impl<'d> Counter<'d> {
    fn add(&self, a: Shape, b: Shape) -> Shape {
        Shape { fields: a.fields.saturating_add(b.fields).min(self.ceiling), aliases: a.aliases.saturating_add(b.aliases).min(self.ceiling) }
    }

    /// `depth` counts nested spreads: a cycle (an invalid document, which
    /// validation refuses) counts as too big rather than looping.
    fn count(&mut self, selection: &'d SelectionSet, depth: usize) -> Shape {
        let mut total = Shape::default();
        for item in &selection.items {
            let shape = match &item.node {
                Selection::Field(field) => {
                    let own = Shape { fields: 1, aliases: u64::from(field.node.alias.is_some()) };
                    let below = self.count(&field.node.selection_set.node, depth);
                    self.add(own, below)
                }
                Selection::InlineFragment(fragment) => self.count(&fragment.node.selection_set.node, depth),
                Selection::FragmentSpread(spread) => self.fragment(spread.node.fragment_name.node.as_str(), depth),
            };
            total = self.add(total, shape);
        }
        total
    }

    fn fragment(&mut self, name: &'d str, depth: usize) -> Shape {
        if let Some(shape) = self.sizes.get(name) {
            return *shape;
        }
        let Some(fragment) = self.document.fragments.get(name) else {
            return Shape::default();
        };
        let shape = if depth > self.document.fragments.len() {
            Shape { fields: self.ceiling, aliases: self.ceiling }
        } else {
            self.count(&fragment.node.selection_set.node, depth + 1)
        };
        self.sizes.insert(name, shape);
        shape
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(query: &str) -> Shape {
        Shape::of(&async_graphql::parser::parse_query(query).unwrap(), 1000)
    }

    #[test]
    fn fields_and_aliases_are_counted_where_fragments_are_spread() {
        assert_eq!(shape("{ product(slug: \"a\") { slug name } }"), Shape { fields: 3, aliases: 0 });
        let spread = "{ a: product(slug: \"a\") { ...P } b: product(slug: \"b\") { ...P } } fragment P on Product { slug n: name }";
        assert_eq!(shape(spread), Shape { fields: 6, aliases: 4 });
    }

    #[test]
    fn a_document_over_a_limit_is_refused_and_one_within_is_kept() {
        let documents = Documents::default();
        let code = |error: ServerError| error.extensions.and_then(|e| e.get("code").cloned()).map(|code| code.to_string());
        let many = format!("{{ product(slug: \"a\") {{ {} }} }}", "slug ".repeat(400));
        assert_eq!(code(documents.parse(&many).unwrap_err()).as_deref(), Some("\"FIELD_LIMIT_EXCEEDED\""));
        let aliases: String = (0..61).map(|i| format!("a{i}: __typename ")).collect();
        assert_eq!(code(documents.parse(&format!("{{ {aliases} }}")).unwrap_err()).as_deref(), Some("\"MAX_ALIASES_EXCEEDED\""));
        assert!(documents.parse("{ product(").is_err(), "a document that does not parse");
        let kept = documents.parse("{ __typename }").unwrap();
        assert!(Arc::ptr_eq(&kept, &documents.parse("{ __typename }").unwrap()), "parsed once");
    }

    #[test]
    fn repeated_and_exponential_documents_count_to_just_past_the_limit() {
        let repeated = format!("{{ product(slug: \"a\") {{ {} }} }}", "slug ".repeat(4000));
        assert_eq!(shape(&repeated).fields, 1001);
        let mut bomb = String::from("{ ...F0 }");
        for i in 0..40 {
            bomb.push_str(&format!(" fragment F{i} on Query {{ ...F{} ...F{} }}", i + 1, i + 1));
        }
        bomb.push_str(" fragment F40 on Query { __typename }");
        assert_eq!(shape(&bomb).fields, 1001, "2^40 fields, counted in a moment");
        assert_eq!(shape("{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }").fields, 1001, "a cycle");
    }
}
