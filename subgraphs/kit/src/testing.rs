//! Helpers for a subgraph's own tests: a fresh in-memory database and a way to
//! run a query as a given viewer.

use async_graphql::{ObjectType, Request, Schema, SubscriptionType, Variables};
use serde_json::Value;

use crate::auth::{Identity, Viewer};
use crate::db::{Batches, Db};
use crate::server::{Gateway, RequestData};

/// A private in-memory SQLite database with the shared tables and `migrators` applied.
pub async fn memory_db(migrators: Vec<sqlx::migrate::Migrator>) -> Db {
    let all = std::iter::once(crate::db::migrator()).chain(migrators).collect();
    crate::db::connect("sqlite::memory:", all).await.expect("an in-memory database")
}

/// Runs `query` as the router sends it (a trusted gateway) and returns the
/// response as JSON (data and errors).
pub async fn execute<Q, M, S>(schema: &Schema<Q, M, S>, request_data: &RequestData, query: &str, variables: Value, viewer: Viewer) -> Value
where
    Q: ObjectType + 'static,
    M: ObjectType + 'static,
    S: SubscriptionType + 'static,
{
    let request = Request::new(query).variables(Variables::from_json(variables)).data(viewer).data(Gateway { trusted: true });
    let response = Batches::run(|batches| schema.execute(request_data(request, &batches))).await;
    serde_json::to_value(response).expect("a response serializes")
}

/// A signed-in customer, as the server would put it in the request.
pub fn customer(id: &str) -> Viewer {
    Viewer::Authenticated(Identity { subject: id.into(), name: None, scopes: Vec::new() })
}
