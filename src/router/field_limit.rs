//! Refuses a document that asks for more fields than `max_fields` (a
//! fragment counts each time it is spread), right after parsing and before
//! the router validates it: validation compares every pair of same-named
//! fields in a selection, so its cost grows with the square of a document's
//! fields, and 4,000 copies of one field under every other limit cost the
//! router most of a second. Counting is linear in the document's size.

use std::collections::HashMap;

use hive_router::async_trait;
use hive_router::graphql_tools::static_graphql::query::{Definition, Document, OperationDefinition, Selection, SelectionSet};
use hive_router::http::StatusCode;
use hive_router::plugins::hooks::on_graphql_parse::{OnGraphQLParseHookResult, OnGraphQLParseStartHookPayload};
use hive_router::plugins::hooks::on_plugin_init::{OnPluginInitPayload, OnPluginInitResult};
use hive_router::plugins::plugin_trait::{EndHookPayload, RouterPlugin, StartHookPayload};
use hive_router::GraphQLError;
use serde::Deserialize;

#[derive(Deserialize)]
pub struct FieldLimitConfig {
    pub max_fields: u64,
}

pub struct FieldLimit {
    max_fields: u64,
}

#[async_trait]
impl RouterPlugin for FieldLimit {
    type Config = FieldLimitConfig;

    fn plugin_name() -> &'static str {
        "field_limit"
    }

    fn on_plugin_init(payload: OnPluginInitPayload<Self>) -> OnPluginInitResult<Self> {
        let config = payload.config()?;
        payload.initialize_plugin(FieldLimit { max_fields: config.max_fields })
    }

    async fn on_graphql_parse<'exec>(&'exec self, payload: OnGraphQLParseStartHookPayload<'exec>) -> OnGraphQLParseHookResult<'exec> {
        let max_fields = self.max_fields;
        payload.on_end(move |parsed| {
            let fields = fields_asked(&parsed.document, max_fields);
            if fields <= max_fields {
                return parsed.proceed();
            }
            let message = format!("the document asks for more than {max_fields} fields (fragments counted where they are spread)");
            parsed.end_with_graphql_error(GraphQLError::from_message_and_code(message, "FIELD_LIMIT_EXCEEDED"), StatusCode::BAD_REQUEST)
        })
    }
}

/// How many fields executing `document` would resolve, fragments expanded
/// where spread, counted up to just past `limit` (so a fragment spread
/// exponentially many times costs no more than the limit to count).
pub fn fields_asked(document: &Document, limit: u64) -> u64 {
    let fragments: HashMap<&str, &SelectionSet> = document
        .definitions
        .iter()
        .filter_map(|definition| match definition {
            Definition::Fragment(fragment) => Some((fragment.name.as_str(), &fragment.selection_set)),
            Definition::Operation(_) => None,
        })
        .collect();
    let mut counter = Counter { fragments, sizes: HashMap::new(), ceiling: limit.saturating_add(1) };
    document
        .definitions
        .iter()
        .filter_map(|definition| match definition {
            Definition::Operation(operation) => Some(operation_selection(operation)),
            Definition::Fragment(_) => None,
        })
        .fold(0, |total, selection| total.saturating_add(counter.count(selection, 0)).min(counter.ceiling))
}

fn operation_selection(operation: &OperationDefinition) -> &SelectionSet {
    match operation {
        OperationDefinition::SelectionSet(selection) => selection,
        OperationDefinition::Query(query) => &query.selection_set,
        OperationDefinition::Mutation(mutation) => &mutation.selection_set,
        OperationDefinition::Subscription(subscription) => &subscription.selection_set,
    }
}

struct Counter<'d> {
    fragments: HashMap<&'d str, &'d SelectionSet>,
    /// Each fragment's size, counted once.
    sizes: HashMap<&'d str, u64>,
    ceiling: u64,
}

impl<'d> Counter<'d> {
    /// `depth` counts nested fragment spreads: a cycle (an invalid document,
    /// which validation will refuse) counts as too big rather than looping.
    fn count(&mut self, selection: &'d SelectionSet, depth: usize) -> u64 {
        let mut total: u64 = 0;
        for item in &selection.items {
            let size = match item {
                Selection::Field(field) => 1 + self.count(&field.selection_set, depth),
                Selection::InlineFragment(fragment) => self.count(&fragment.selection_set, depth),
                Selection::FragmentSpread(spread) => self.fragment(&spread.fragment_name, depth),
            };
            total = total.saturating_add(size).min(self.ceiling);
        }
        total
    }

    fn fragment(&mut self, name: &'d str, depth: usize) -> u64 {
        if let Some(size) = self.sizes.get(name) {
            return *size;
        }
        let Some(selection) = self.fragments.get(name).copied() else {
            return 0;
        };
        let size = if depth > self.fragments.len() { self.ceiling } else { self.count(selection, depth + 1) };
        self.sizes.insert(name, size);
        size
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(query: &str) -> u64 {
        let document = hive_router::graphql_tools::parser::parse_query::<String>(query).unwrap().into_static();
        fields_asked(&document, 1000)
    }

    #[test]
    fn fields_are_counted_where_fragments_are_spread() {
        assert_eq!(count("{ product(slug: \"a\") { slug name } }"), 3);
        assert_eq!(count("{ a: product(slug: \"a\") { ...P } b: product(slug: \"b\") { ...P } } fragment P on Product { slug name }"), 6);
        assert_eq!(count("{ product(slug: \"a\") { ... on Product { slug } } }"), 2);
    }

    #[test]
    fn repeated_and_exponential_documents_count_to_just_past_the_limit() {
        let repeated = format!("{{ product(slug: \"a\") {{ {} }} }}", "slug ".repeat(4000));
        assert_eq!(count(&repeated), 1001);
        let mut bomb = String::from("{ ...F0 }");
        for i in 0..40 {
            bomb.push_str(&format!(" fragment F{i} on Query {{ ...F{} ...F{} }}", i + 1, i + 1));
        }
        bomb.push_str(" fragment F40 on Query { __typename }");
        assert_eq!(count(&bomb), 1001, "2^40 fields, counted in a moment");
    }

    #[test]
    fn a_fragment_cycle_counts_as_too_big() {
        assert_eq!(count("{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }"), 1001);
    }
}
