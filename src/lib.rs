//! The commerce supergraph: five subgraphs and the router in front of them.
//! `main.rs` is the command line; everything it runs lives here so that the
//! end-to-end tests start exactly what `cargo run` starts.
#![recursion_limit = "512"]

pub mod auth;
pub mod bench;
pub mod compose;
pub mod router;
pub mod saga;
pub mod schema_check;
pub mod seed;
pub mod subgraphs;
pub mod supergraph;
pub mod telemetry;
pub mod token;
pub mod trusted_documents;
