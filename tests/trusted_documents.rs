//! Trusted documents with enforcement on (TRUSTED_DOCUMENTS_ONLY=true): the
//! storefront's operations are served by id (router-config/trusted-documents.json,
//! compiled by `supergraph compose`); anonymous and customer callers may
//! send only those, a partner token with the explore scope anything.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{TestApp, customer_token, error_code, token_with_scopes};
use serde_json::{Value, json};

/// The storefront manifest's entry for `name`: (id, body).
fn trusted(name: &str) -> (String, String) {
    let manifest: Value = serde_json::from_str(&std::fs::read_to_string(commerce_supergraph::supergraph::config_dir().join("trusted-documents.json")).unwrap()).unwrap();
    let entry = manifest["operations"].as_array().unwrap().iter().find(|o| o["name"] == name).unwrap_or_else(|| panic!("{name} is trusted"));
    (entry["id"].as_str().unwrap().to_string(), entry["body"].as_str().unwrap().to_string())
}

async fn send(app: &TestApp, body: Value, token: Option<&str>) -> Value {
    app.post(&app.supergraph.graphql_url(), body, token).await.1
}

#[tokio::test(flavor = "multi_thread")]
async fn only_trusted_documents_are_served_to_the_public_and_partners_may_explore() {
    let app = common::spawn_app_trusted_documents_only().await;
    let (id, body) = trusted("Categories");

    // An id alone, as Apollo Client's persisted query link sends it, and as `documentId`.
    let by_hash = send(&app, json!({ "extensions": { "persistedQuery": { "version": 1, "sha256Hash": id } } }), None).await;
    assert_eq!(by_hash["data"]["categories"][0]["__typename"], "Category", "{by_hash}");
    let by_document_id = send(&app, json!({ "documentId": id }), None).await;
    assert_eq!(by_document_id["data"], by_hash["data"]);

    let unknown = send(&app, json!({ "documentId": "0".repeat(64) }), None).await;
    assert_eq!(error_code(&unknown), "PERSISTED_DOCUMENT_NOT_FOUND", "{unknown}");

    // The full text of a trusted document: as the manifest has it, and as the
    // storefront file has it (no __typename, its own layout).
    let full_text = send(&app, json!({ "query": body }), None).await;
    assert_eq!(full_text["data"], by_hash["data"], "{full_text}");
    let as_written = send(&app, json!({ "query": "query Categories {\n  categories { slug name productCount parent { slug } children { slug } }\n}" }), None).await;
    assert!(as_written["data"]["categories"].as_array().is_some_and(|c| !c.is_empty()), "{as_written}");

    let own_document = json!({ "query": "{ categories { slug } }" });
    for token in [None, Some(customer_token("shopper"))] {
        let refused = send(&app, own_document.clone(), token.as_deref()).await;
        assert_eq!(error_code(&refused), "PERSISTED_DOCUMENT_ID_REQUIRED", "{refused}");
        assert!(refused["errors"][0]["message"].as_str().unwrap().contains("only its trusted documents"), "{refused}");
        assert!(refused["data"].is_null());
    }
    let partner = token_with_scopes("partner-1", &["explore"]);
    let explored = send(&app, own_document, Some(&partner)).await;
    assert!(explored["data"]["categories"].as_array().is_some_and(|c| !c.is_empty()), "{explored}");

    // Introspection follows the same rule.
    let introspection = json!({ "query": "{ __schema { queryType { name } } }" });
    let refused = send(&app, introspection.clone(), None).await;
    assert_eq!(error_code(&refused), "PERSISTED_DOCUMENT_ID_REQUIRED", "{refused}");
    let introspected = send(&app, introspection, Some(&partner)).await;
    assert_eq!(introspected["data"]["__schema"]["queryType"]["name"], "Query", "{introspected}");
}

#[tokio::test(flavor = "multi_thread")]
async fn apollo_client_with_the_manifest_sends_ids_only_and_is_served() {
    let app = common::spawn_app_trusted_documents_only().await;
    let url = app.supergraph.graphql_url();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/js");
    let output = tokio::task::spawn_blocking(move || Command::new("node").args(["persisted.mjs", &url]).current_dir(dir).output().expect("node runs"))
        .await
        .unwrap();
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{printed}{}", String::from_utf8_lossy(&output.stderr));
    assert!(printed.lines().any(|line| line == "sent an id and no query"), "{printed}");
    assert!(printed.lines().any(|line| line.starts_with("categories: ")), "{printed}");
}

#[test]
fn the_check_fails_when_a_trusted_document_no_longer_validates() {
    // A shop's own manifest, in Code Generator's format, with a document
    // that asks for a field the graph does not have.
    let config = tempfile::tempdir().unwrap();
    std::fs::create_dir(config.path().join("storefront")).unwrap();
    let router_yaml = "persisted_documents:\n  enabled: true\n  storage: { type: file, path: persisted-documents.json }\n";
    std::fs::write(config.path().join("router.yaml"), router_yaml).unwrap();
    let (id, body) = trusted("Categories");
    let stale = "query Legacy { products(first: 1) { edges { node { legacyCode } } } }";
    let manifest = json!({ id: body, commerce_supergraph::trusted_documents::sha256(stale): stale });
    std::fs::write(config.path().join("persisted-documents.json"), serde_json::to_string_pretty(&manifest).unwrap()).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_supergraph"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["--config-dir", config.path().to_str().unwrap(), "check", "--supergraph", "supergraph.graphql", "--against", "supergraph.graphql", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", String::from_utf8_lossy(&output.stderr));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let errors = report["operation_errors"].as_array().unwrap();
    let stale_id = commerce_supergraph::trusted_documents::sha256(stale);
    assert!(errors.iter().all(|e| e["operation"] == format!("trusted document {stale_id}")), "only the stale document fails: {errors:#?}");
    assert!(errors.iter().any(|e| e["message"].as_str().unwrap().contains("legacyCode")), "{errors:#?}");
    assert!(errors[0]["location"]["file"].as_str().unwrap().ends_with("persisted-documents.json"));
}
