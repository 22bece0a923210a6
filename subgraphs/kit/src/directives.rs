//! Federation directives async-graphql does not write itself: who may ask
//! for a field (`@authenticated`) and what a field costs (`@cost`,
//! `@listSize`). They reach the supergraph, so the router refuses a request
//! before it calls any subgraph; `server::sdl` imports them from the
//! Federation spec. (`@requiresScopes` is async-graphql's own
//! `requires_scopes` attribute.)
//!
//! ```ignore
//! #[graphql(directive = kit::directives::authenticated::apply())]
//! // a connection paged by `first`:
//! #[graphql(directive = kit::directives::listSize::apply(None, Some(vec!["first".into()]), Some(vec!["edges".into()])))]
//! // a list of at most about 20 items:
//! #[graphql(directive = kit::directives::listSize::apply(Some(20), None, None))]
//! ```
#![allow(non_camel_case_types, non_snake_case)]

use async_graphql::TypeDirective;

// Only a caller with a verified token may ask for it. (Plain comments: a doc
// comment would become a description of a definition `server::sdl` drops.)
#[TypeDirective(location = "FieldDefinition", location = "Object")]
pub fn authenticated() {}

// What resolving it costs beyond an ordinary field.
#[TypeDirective(location = "FieldDefinition")]
pub fn cost(weight: i32) {}

// How long the list it returns may be: `assumedSize` items, or as many as
// the `slicingArguments` (e.g. `first`) ask for, counted on its `sizedFields`
// (e.g. a connection's `edges`).
#[TypeDirective(location = "FieldDefinition")]
pub fn listSize(assumedSize: Option<i32>, slicingArguments: Option<Vec<String>>, sizedFields: Option<Vec<String>>) {}
