//! Failures of calls to Okta, classified by HTTP status and error code, never by text.

use std::time::Duration;

use http::StatusCode;

/// A failed call to Okta.
#[derive(Debug, thiserror::Error)]
pub enum OktaError {
    /// Okta could not be reached, or did not respond in time.
    #[error("{endpoint} call failed: {source}")]
    Transport {
        endpoint: &'static str,
        #[source]
        source: reqwest::Error,
    },
    /// Okta returned a 5xx status.
    #[error("{endpoint} answered HTTP {status}")]
    Server {
        endpoint: &'static str,
        status: StatusCode,
        request_id: Option<String>,
    },
    /// Okta returned 429 Too Many Requests.
    #[error("{endpoint} is rate limited")]
    RateLimited {
        endpoint: &'static str,
        retry_after: Option<Duration>,
        request_id: Option<String>,
    },
    /// Okta rejected the request with an OAuth or management error code.
    #[error("{endpoint} answered HTTP {status} {code}")]
    Rejected {
        endpoint: &'static str,
        status: StatusCode,
        /// The OAuth `error` or the management `errorCode`.
        code: String,
        request_id: Option<String>,
    },
    /// Okta answered something the gateway cannot read.
    #[error("{endpoint} answered an unreadable body: {reason}")]
    InvalidResponse {
        endpoint: &'static str,
        reason: String,
    },
}

impl OktaError {
    /// Returns true when the failure is unrelated to the credential and the call
    /// may succeed later: transport errors, timeouts, 5xx and unreadable bodies.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            OktaError::Transport { .. }
                | OktaError::Server { .. }
                | OktaError::InvalidResponse { .. }
        )
    }

    /// Returns the OAuth error code of a rejection.
    pub fn code(&self) -> Option<&str> {
        match self {
            OktaError::Rejected { code, .. } => Some(code),
            _ => None,
        }
    }

    pub fn status(&self) -> Option<StatusCode> {
        match self {
            OktaError::Server { status, .. } | OktaError::Rejected { status, .. } => Some(*status),
            OktaError::RateLimited { .. } => Some(StatusCode::TOO_MANY_REQUESTS),
            _ => None,
        }
    }
}
