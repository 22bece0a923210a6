//! A client for the graph, for the few places where a subgraph must read
//! another's data synchronously (is this sku real? what does this cart
//! cost?). It goes through the router like any client, or, for checkout's
//! reads, straight to the subgraphs that own the data (`Peers`); never to
//! another subgraph's database. It identifies itself with the subgraph's
//! service token (scope `service`), which has a rate budget of its own at the router.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::{Context as _, anyhow};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

#[derive(Clone)]
pub struct GraphClient {
    http: reqwest::Client,
    url: String,
    /// `Bearer <service token>`, when the subgraph has one.
    service_authorization: Option<String>,
}

impl GraphClient {
    /// `url` is a GraphQL endpoint: the router's, e.g. http://127.0.0.1:4000/graphql, or a subgraph's.
    pub fn new(url: impl Into<String>, service_token: Option<String>) -> Self {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .expect("a client with only a timeout set always builds");
        GraphClient { http, url: url.into(), service_authorization: service_token.map(|token| format!("Bearer {token}")) }
    }

    /// Runs `query` and decodes `data` into `T`; any GraphQL error is an error
    /// here too. `on_behalf_of` is a caller's own Authorization header, passed
    /// on so the graph sees the same customer; otherwise the subgraph asks as itself.
    #[tracing::instrument(skip(self, query, variables, on_behalf_of))]
    pub async fn query<T: DeserializeOwned>(&self, query: &str, variables: Value, on_behalf_of: Option<&str>) -> anyhow::Result<T> {
        let mut request = self.http.post(&self.url).json(&json!({ "query": query, "variables": variables }));
        if let Some(authorization) = on_behalf_of.or(self.service_authorization.as_deref()) {
            request = request.header(reqwest::header::AUTHORIZATION, authorization);
        }
        // The read is part of the trace of the work that asks for it.
        if let Some(traceparent) = crate::trace::current_traceparent(None) {
            request = request.header("traceparent", traceparent);
        }
        let body: Value = request
            .send()
            .await
            .with_context(|| format!("calling {}", self.url))?
            .json()
            .await
            .with_context(|| format!("reading the answer of {}", self.url))?;
        if let Some(errors) = body.get("errors").filter(|e| e.as_array().is_some_and(|a| !a.is_empty())) {
            return Err(anyhow!("{} answered with errors: {errors}", self.url));
        }
        serde_json::from_value(body.get("data").cloned().unwrap_or(Value::Null)).with_context(|| format!("decoding the data of {}", self.url))
    }
}

/// The subgraphs' own GraphQL endpoints, by name, for a read that goes
/// straight to the subgraph owning the data: the fetches the router would
/// make, without the router's hop (placeOrder's read of the cart and its
/// prices, which every order pays).
#[derive(Clone, Default)]
pub struct Peers(Arc<HashMap<String, GraphClient>>);

impl Peers {
    /// `urls`: each subgraph's name and GraphQL endpoint.
    pub fn new(urls: &[(String, String)], service_token: Option<&str>) -> Self {
        let clients = urls.iter().map(|(name, url)| (name.clone(), GraphClient::new(url.as_str(), service_token.map(str::to_string)))).collect();
        Peers(Arc::new(clients))
    }

    /// The client of the subgraph called `name`: the process that starts a
    /// subgraph gives it every subgraph's endpoint.
    pub fn client(&self, name: &str) -> GraphClient {
        self.0.get(name).cloned().unwrap_or_else(|| panic!("no endpoint was given for the {name} subgraph"))
    }
}
