//! The small library the five subgraphs share: money, errors, pagination, auth,
//! database access and the HTTP server every subgraph runs behind.
//!
//! Code lives here only when at least two subgraphs need exactly the same thing.

pub mod auth;
pub mod db;
pub mod error;
pub mod events;
pub mod graph;
pub mod money;
pub mod page;
pub mod server;
pub mod testing;

pub use auth::{JwtVerifier, Viewer};
pub use error::{ApiError, UserError};
pub use money::{CurrencyCode, Decimal, Money, MoneyInput};
