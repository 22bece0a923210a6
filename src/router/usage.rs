//! Records which schema coordinates real traffic uses, so that `supergraph
//! check --usage` knows a field was queried lately even when no committed
//! document names it. Off unless a usage database is configured
//! (USAGE_DATABASE_URL: a SQLite file or PostgreSQL).
//!
//! A request costs a hash and a counter increment: the coordinates of each
//! distinct document are worked out once (the same walk the check makes,
//! `schema_check::usage::coordinates_used`), and the counts are written to
//! the database every `flush_interval` by a thread of their own.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use apollo_compiler::validation::Valid;
use apollo_compiler::{ExecutableDocument, Schema};
use hive_router::async_trait;
use hive_router::plugins::hooks::on_graphql_analysis::{OnGraphqlAnalysisHookPayload, OnGraphqlAnalysisHookResult};
use hive_router::plugins::hooks::on_plugin_init::{OnPluginInitPayload, OnPluginInitResult};
use hive_router::plugins::hooks::on_supergraph_load::{OnSupergraphLoadStartHookPayload, OnSupergraphLoadStartHookResult};
use hive_router::plugins::plugin_trait::{RouterPlugin, StartHookPayload};
use serde::Deserialize;

use crate::schema_check::graph::Graph;
use crate::schema_check::usage;

/// Distinct documents remembered; past this the memory starts over (a
/// client sending ever-new documents cannot grow it without bound).
const DOCUMENTS_REMEMBERED: usize = 10_000;

#[derive(Deserialize)]
pub struct UsageConfig {
    /// Where the counts go; unset leaves the plugin off.
    #[serde(default)]
    pub database_url: Option<String>,
    /// How often counts are written, e.g. 10s.
    pub flush_interval: String,
}

pub struct Usage {
    /// The client-facing schema of the supergraph being served.
    api: RwLock<Option<Arc<Valid<Schema>>>>,
    /// The coordinates of each distinct (document, operation name).
    documents: Mutex<HashMap<u64, Arc<[String]>>>,
    /// Requests per document since the last flush.
    pending: Arc<Mutex<Pending>>,
    /// Asks the flusher to write now, and hears when it has.
    flush_now: tokio::sync::mpsc::UnboundedSender<tokio::sync::oneshot::Sender<()>>,
}

/// Requests per distinct document, with the document's coordinates.
type Pending = HashMap<u64, (Arc<[String]>, u64)>;

#[async_trait]
impl RouterPlugin for Usage {
    type Config = UsageConfig;

    fn plugin_name() -> &'static str {
        "usage"
    }

    fn on_plugin_init(payload: OnPluginInitPayload<Self>) -> OnPluginInitResult<Self> {
        let config = payload.config()?;
        let Some(database_url) = config.database_url.filter(|url| !url.is_empty()) else {
            return Ok(None);
        };
        let every = kit::config::parse_duration(&config.flush_interval).map_err(|e| format!("usage.flush_interval: {e}"))?;
        let pending = Arc::new(Mutex::new(HashMap::new()));
        let (flush_now, flush_requests) = tokio::sync::mpsc::unbounded_channel();
        spawn_flusher(database_url, every, pending.clone(), flush_requests)?;
        payload.initialize_plugin(Usage { api: RwLock::new(None), documents: Mutex::new(HashMap::new()), pending, flush_now })
    }

    fn on_supergraph_reload<'exec>(&'exec self, payload: OnSupergraphLoadStartHookPayload) -> OnSupergraphLoadStartHookResult<'exec> {
        match Graph::from_sdl("the supergraph being loaded", &payload.new_ast.to_string(), vec![]) {
            Ok(graph) => {
                *self.api.write().expect("the schema lock") = Some(Arc::new(graph.api));
                self.documents.lock().expect("the documents lock").clear();
            }
            Err(error) => tracing::warn!(error = %format!("{error:#}"), "usage is not recorded: the supergraph has no API schema"),
        }
        payload.proceed()
    }

    async fn on_graphql_analysis<'exec>(&'exec self, payload: &mut OnGraphqlAnalysisHookPayload<'exec>) -> OnGraphqlAnalysisHookResult {
        let params = payload.graphql_params;
        if let Some(query) = &params.query {
            self.count(query, params.operation_name.as_deref());
        }
        OnGraphqlAnalysisHookResult::Proceed
    }

    /// The counts since the last flush are written before the router stops.
    async fn on_shutdown<'exec>(&'exec self) {
        let (written, heard) = tokio::sync::oneshot::channel();
        if self.flush_now.send(written).is_ok() {
            let _ = heard.await;
        }
    }
}

impl Usage {
    fn count(&self, query: &str, operation_name: Option<&str>) {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        (query, operation_name).hash(&mut hasher);
        let key = hasher.finish();
        let known = self.documents.lock().expect("the documents lock").get(&key).cloned();
        let coordinates = match known {
            Some(coordinates) => coordinates,
            None => {
                let Some(api) = self.api.read().expect("the schema lock").clone() else { return };
                let coordinates: Arc<[String]> = match ExecutableDocument::parse_and_validate(&api, query, "request.graphql") {
                    Ok(document) => usage::coordinates_used(&api, &document, operation_name).into_iter().collect(),
                    Err(_) => return,
                };
                let mut documents = self.documents.lock().expect("the documents lock");
                if documents.len() >= DOCUMENTS_REMEMBERED {
                    documents.clear();
                }
                documents.insert(key, coordinates.clone());
                coordinates
            }
        };
        self.pending.lock().expect("the counts lock").entry(key).or_insert_with(|| (coordinates, 0)).1 += 1;
    }
}

/// Writes the counts every `every`, and when asked to, on a thread with its
/// own runtime (the router's HTTP stack brings its own). A failed write
/// keeps the counts for the next round.
fn spawn_flusher(
    database_url: String,
    every: Duration,
    pending: Arc<Mutex<Pending>>,
    mut flush_requests: tokio::sync::mpsc::UnboundedReceiver<tokio::sync::oneshot::Sender<()>>,
) -> std::io::Result<()> {
    std::thread::Builder::new().name("usage".into()).spawn(move || {
        let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(runtime) => runtime,
            Err(error) => return tracing::error!(%error, "usage is not recorded: no runtime"),
        };
        runtime.block_on(async move {
            let db = match kit::db::connect(&database_url, vec![usage::migrator()]).await {
                Ok(db) => db,
                Err(error) => return tracing::error!(error = %format!("{error:#}"), "usage is not recorded: the usage database cannot be opened"),
            };
            let mut unwritten: HashMap<String, u64> = HashMap::new();
            loop {
                let asked = tokio::select! {
                    _ = tokio::time::sleep(every) => None,
                    asked = flush_requests.recv() => asked,
                };
                let drained = std::mem::take(&mut *pending.lock().expect("the counts lock"));
                for (coordinates, requests) in drained.into_values() {
                    for coordinate in coordinates.iter() {
                        *unwritten.entry(coordinate.clone()).or_default() += requests;
                    }
                }
                if !unwritten.is_empty() {
                    match usage::record(&db, &unwritten).await {
                        Ok(()) => unwritten.clear(),
                        Err(error) => tracing::warn!(error = %format!("{error:#}"), "recording usage failed; kept for the next round"),
                    }
                }
                if let Some(written) = asked {
                    let _ = written.send(());
                }
            }
        });
    })?;
    Ok(())
}
