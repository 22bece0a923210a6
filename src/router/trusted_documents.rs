//! Who may send what when trusted documents are enforced
//! (`persisted_documents.require_id`): the router then serves only the
//! documents of the manifest, by id. This plugin lets through:
//!
//! - any operation from a token with the `explore` scope (partners in the
//!   playground, the back office's tools);
//! - the full text of a trusted document (a client that sends the text it
//!   shipped rather than its id), recognised with `__typename` selections
//!   and layout set aside. The subgraphs' own reads through the graph are
//!   trusted documents too: they are sent as text, some on a customer's
//!   behalf with the customer's token.
//!
//! Anyone else sending a document of their own gets
//! PERSISTED_DOCUMENT_ID_REQUIRED, worded for them. Introspection follows
//! the same rule (router.yaml's `introspection`, set where enforcement is).

use std::collections::HashSet;

use hive_router::async_trait;
use hive_router::config::persisted_documents::PersistedDocumentsStorageConfig;
use hive_router::config::primitives::value_or_expression::ValueOrExpression;
use hive_router::plugins::hooks::on_graphql_error::{OnGraphQLErrorHookPayload, OnGraphQLErrorHookResult};
use hive_router::plugins::hooks::on_graphql_params::{OnGraphQLParamsStartHookPayload, OnGraphQLParamsStartHookResult};
use hive_router::plugins::hooks::on_plugin_init::{OnPluginInitPayload, OnPluginInitResult};
use hive_router::plugins::plugin_trait::{RouterPlugin, StartHookPayload};
use kit::Viewer;
use serde::Deserialize;

use crate::subgraphs::Subgraph;
use crate::trusted_documents::{normalized, read};

#[derive(Deserialize)]
pub struct TrustedDocumentsConfig {
    /// The scope that may send any operation.
    pub explore_scope: String,
}

pub struct TrustedDocuments {
    explore_scope: String,
    /// The manifest's documents and the subgraphs' reads, as `normalized` prints them.
    trusted: HashSet<String>,
}

#[async_trait]
impl RouterPlugin for TrustedDocuments {
    type Config = TrustedDocumentsConfig;

    fn plugin_name() -> &'static str {
        "trusted_documents"
    }

    fn on_plugin_init(payload: OnPluginInitPayload<Self>) -> OnPluginInitResult<Self> {
        let persisted = &payload.router_config().persisted_documents;
        let enforced = persisted.enabled && !matches!(persisted.require_id, ValueOrExpression::Value(false));
        let manifest = match &persisted.storage {
            Some(PersistedDocumentsStorageConfig::File { config }) => Some(config.path.absolute.clone()),
            _ => None,
        };
        let (true, Some(manifest)) = (enforced, manifest) else { return Ok(None) };
        let manifest = read(std::path::Path::new(&manifest))?.into_iter().map(|document| document.body);
        let graph_reads = Subgraph::ALL.iter().flat_map(|subgraph| subgraph.definition().graph_reads).map(|read| read.to_string());
        let trusted = manifest.chain(graph_reads).filter_map(|document| normalized(&document)).collect();
        let config = payload.config()?;
        payload.initialize_plugin(TrustedDocuments { explore_scope: config.explore_scope, trusted })
    }

    async fn on_graphql_params<'exec>(&'exec self, payload: OnGraphQLParamsStartHookPayload<'exec>) -> OnGraphQLParamsStartHookResult<'exec> {
        let explores = matches!(
            payload.context.get_ref::<Viewer>().as_deref(),
            Some(Viewer::Authenticated(identity)) if identity.scopes.contains(&self.explore_scope)
        );
        let trusted_text = || sent_query(&payload).and_then(|query| normalized(&query)).is_some_and(|query| self.trusted.contains(&query));
        if explores || trusted_text() {
            match payload.request_context.write() {
                Ok(mut context) => {
                    context.persisted_documents().set_skip_enforcement(true);
                }
                Err(error) => tracing::warn!(%error, "could not let a trusted request through"),
            }
        }
        payload.proceed()
    }

    fn on_graphql_error<'req>(&'req self, mut payload: OnGraphQLErrorHookPayload<'req>) -> OnGraphQLErrorHookResult<'req> {
        if payload.error.extensions.code.as_deref() == Some("PERSISTED_DOCUMENT_ID_REQUIRED") {
            payload.error.message = format!(
                "this graph serves only its trusted documents: send the id of one (extensions.persistedQuery.sha256Hash or documentId), or a token with the {} scope to send your own",
                self.explore_scope
            );
        }
        payload.proceed()
    }
}

/// The document text the request carries: `query` in a JSON body, or in
/// the URL of a GET.
fn sent_query(payload: &OnGraphQLParamsStartHookPayload<'_>) -> Option<String> {
    if let Some(query) = payload.graphql_params.as_ref().and_then(|params| params.query.clone()) {
        return Some(query);
    }
    if !payload.body.is_empty() {
        let body: serde_json::Value = serde_json::from_slice(&payload.body).ok()?;
        return body["query"].as_str().map(str::to_string);
    }
    let query = payload.router_http_request.uri.query()?;
    url::form_urlencoded::parse(query.as_bytes()).find(|(key, _)| key == "query").map(|(_, value)| value.into_owned())
}
