//! The one error of the domain layer: which field was wrong and why.

/// A value rejected by a domain constructor or rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("status: an appointment cannot go from {from} to {to}")]
    IllegalTransition { from: &'static str, to: &'static str },
}

impl DomainError {
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        DomainError::Invalid { field, reason: reason.into() }
    }

    /// The name of the offending field, for API error bodies and tests.
    pub fn field(&self) -> &'static str {
        match self {
            DomainError::Invalid { field, .. } => field,
            DomainError::IllegalTransition { .. } => "status",
        }
    }
}
