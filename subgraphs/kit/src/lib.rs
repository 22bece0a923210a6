//! The small library the five subgraphs share: money and the shop's input
//! types, errors, pagination, auth, database access (with idempotency keys and
//! leased work queues), the background loop and the HTTP server every
//! subgraph runs behind.
//!
//! Code lives here only when at least two subgraphs need exactly the same thing.

pub mod auth;
pub mod background;
pub mod config;
pub mod db;
pub mod directives;
pub mod domain;
pub mod error;
pub mod graph;
pub mod http;
pub mod idempotency;
pub mod limits;
pub mod metrics;
pub mod money;
pub mod page;
pub mod server;
#[cfg(feature = "testing")]
pub mod testing;
pub mod trace;
pub mod work;

pub use auth::{JwtVerifier, Viewer};
pub use error::{ApiError, UserError};
pub use money::{CurrencyCode, Decimal, Money, MoneyInput};
