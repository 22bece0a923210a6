//! How failures reach clients. Business failures are `UserError`s inside a
//! mutation payload; everything else is a GraphQL error whose
//! `extensions.code` says what kind it is.

use async_graphql::{ErrorExtensions, SimpleObject};

/// A business rule said no. Nothing was changed.
#[derive(SimpleObject, Clone, Debug, PartialEq, Eq)]
#[graphql(shareable)]
pub struct UserError {
    /// SCREAMING_SNAKE code a client can branch on, e.g. INVALID_QUANTITY.
    pub code: String,
    /// Path to the input field at fault, e.g. ["quantity"].
    pub field: Option<Vec<String>>,
    /// Why the request was refused, in plain English a client may show its user.
    pub message: String,
}

impl UserError {
    pub fn new(code: &str, field: &str, message: impl Into<String>) -> Self {
        UserError {
            code: code.to_string(),
            field: Some(field.split('.').map(str::to_string).collect()),
            message: message.into(),
        }
    }
}

/// A failure that is not a business rule. Deliberately not `Display`:
/// async-graphql converts every `Display` type into a bare error, and these
/// must always carry their `extensions.code`.
#[derive(Debug)]
pub enum ApiError {
    /// The client gets UNAUTHENTICATED: no token, or a token that failed verification.
    Unauthenticated(String),
    /// The client gets FORBIDDEN with the missing permission named.
    Forbidden(String),
    /// The client gets BAD_USER_INPUT with the message as written.
    BadUserInput(String),
    /// The client gets INTERNAL_SERVER_ERROR and a generic message; the detail
    /// is logged, never returned, because it may reveal the database.
    Internal(anyhow::Error),
}

impl From<anyhow::Error> for ApiError {
    fn from(error: anyhow::Error) -> Self {
        ApiError::Internal(error)
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        ApiError::Internal(error.into())
    }
}

/// What batch loaders fail with: shared, because one failed batch answers many fields.
impl From<std::sync::Arc<sqlx::Error>> for ApiError {
    fn from(error: std::sync::Arc<sqlx::Error>) -> Self {
        ApiError::Internal(anyhow::Error::new(error))
    }
}

/// Amounts that cannot be combined in stored data are a bug, not a client's mistake.
impl From<crate::money::MoneyError> for ApiError {
    fn from(error: crate::money::MoneyError) -> Self {
        ApiError::Internal(error.into())
    }
}

impl ApiError {
    pub fn unauthenticated() -> Self {
        ApiError::Unauthenticated("a customer token is required".into())
    }

    /// The message a client may see.
    pub fn message(&self) -> String {
        match self {
            ApiError::Unauthenticated(m) | ApiError::Forbidden(m) | ApiError::BadUserInput(m) => m.clone(),
            ApiError::Internal(_) => "internal error".to_string(),
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthenticated(_) => "UNAUTHENTICATED",
            ApiError::Forbidden(_) => "FORBIDDEN",
            ApiError::BadUserInput(_) => "BAD_USER_INPUT",
            ApiError::Internal(_) => "INTERNAL_SERVER_ERROR",
        }
    }
}

impl From<ApiError> for async_graphql::Error {
    fn from(error: ApiError) -> Self {
        if let ApiError::Internal(detail) = &error {
            tracing::error!(error = ?detail, "internal error answered masked");
        }
        let code = error.code();
        async_graphql::Error::new(error.message()).extend_with(|_, e| e.set("code", code))
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
