//! The one API error type and its JSON shape (API.md, "Error shape"). Services return `Error`;
//! `IntoResponse` turns it into the public body and logs the internal cause, which never reaches
//! the client.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::ports::{CipherError, MailError, StoreError};

/// An error answered to the client. Build it with the constructors below; each names its status.
#[derive(Debug)]
pub struct Error {
    pub status: StatusCode,
    /// Short human title ("Invalid token").
    pub title: &'static str,
    /// Stable snake_case machine code.
    pub code: &'static str,
    /// Safe, human-readable detail.
    pub message: String,
    /// Extra top-level fields (the plan-gate fields).
    pub extra: Map<String, Value>,
    /// Seconds for `Retry-After` on 429.
    pub retry_after: Option<u64>,
    /// The internal cause, logged at error level, never shown.
    pub internal: Option<String>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(
        status: StatusCode,
        title: &'static str,
        code: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            status,
            title,
            code,
            message: message.into(),
            extra: Map::new(),
            retry_after: None,
            internal: None,
        }
    }

    /// 400: the request is malformed; the message names the field.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "Bad Request",
            "invalid_request",
            message,
        )
    }

    /// 400: a named field is invalid.
    pub fn invalid_field(field: &str, problem: &str) -> Self {
        Self::bad_request(format!("{field}: {problem}")).with_extra("field", field)
    }

    /// 400: the password fails the policy; the message says why.
    pub fn weak_password(reason: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "Weak password",
            "weak_password",
            reason,
        )
    }

    /// 401: no credentials were presented.
    pub fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "Authentication required",
            "authentication_required",
            "Sign in to use this endpoint",
        )
    }

    /// 401: a token was presented but is not valid (expired, forged, revoked).
    pub fn invalid_token(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "Invalid token",
            "invalid_token",
            message,
        )
    }

    /// 401: wrong email or password; the same answer for both.
    pub fn invalid_credentials() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "Invalid credentials",
            "invalid_credentials",
            "The email or password is incorrect",
        )
    }

    /// 403: the caller may not do this.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "Forbidden", "forbidden", message)
    }

    /// 403: the credential may not do this (an API key minting keys or changing credentials, or
    /// lacking the scope for the method).
    pub fn insufficient_scope(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "insufficient_scope",
            message,
        )
    }

    /// 403: a cookie-authenticated write without a valid CSRF token.
    pub fn csrf() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "csrf_failed",
            "A valid X-CSRF-Token header is required",
        )
    }

    /// 403: the caller's plan is below the one required.
    pub fn plan_required(current: &str, required: &str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "Upgrade required",
            "plan_required",
            format!("This feature requires {required} plan or higher"),
        )
        .with_extra("currentPlan", current)
        .with_extra("requiredPlan", required)
    }

    /// 403: the caller's plan lacks a feature.
    pub fn feature_required(current: &str, feature: &str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "Feature not available",
            "feature_required",
            "This feature is not available on your current plan",
        )
        .with_extra("currentPlan", current)
        .with_extra("requiredFeature", feature)
    }

    /// 404: nothing here (also for things that exist but belong to someone else).
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "Not Found", "not_found", message)
    }

    /// 405: the path exists, the method does not.
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "Method Not Allowed",
            "method_not_allowed",
            "This method is not allowed here",
        )
    }

    /// 409: the request conflicts with what exists.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "Conflict", code, message)
    }

    /// 413: the body is over the limit.
    pub fn payload_too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Payload Too Large",
            "payload_too_large",
            "The request body is larger than 64 KiB",
        )
    }

    /// 415: the body is not JSON.
    pub fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported Media Type",
            "unsupported_media_type",
            "Send the body as application/json",
        )
    }

    /// 429: over a rate limit; try again after `retry_after` seconds.
    pub fn too_many_requests(retry_after: u64) -> Self {
        let mut error = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "Too Many Requests",
            "rate_limited",
            "Too many requests; try again later",
        );
        error.retry_after = Some(retry_after.max(1));
        error
    }

    /// 500: something failed inside; `internal` is logged, never shown.
    pub fn internal(internal: impl Into<String>) -> Self {
        let mut error = Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal Server Error",
            "internal_error",
            "Something went wrong on our side",
        );
        error.internal = Some(internal.into());
        error
    }

    /// 503: a backend is unreachable.
    pub fn unavailable(internal: impl Into<String>) -> Self {
        let mut error = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Service Unavailable",
            "service_unavailable",
            "A backend is unavailable; try again later",
        );
        error.internal = Some(internal.into());
        error
    }

    pub fn with_extra(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.extra.insert(key.to_owned(), value.into());
        self
    }

    /// The public JSON body.
    pub fn body(&self) -> Value {
        let mut body = Map::new();
        body.insert("success".into(), Value::Bool(false));
        body.insert("error".into(), json!(self.title));
        body.insert("code".into(), json!(self.code));
        body.insert("message".into(), json!(self.message));
        for (key, value) in &self.extra {
            body.insert(key.clone(), value.clone());
        }
        body.insert("statusCode".into(), json!(self.status.as_u16()));
        body.insert("timestamp".into(), json!(now_rfc3339()));
        Value::Object(body)
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl std::error::Error for Error {}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        if let Some(internal) = &self.internal {
            tracing::error!(status = self.status.as_u16(), code = self.code, cause = %internal, "request failed");
        } else if self.status.is_server_error() {
            tracing::error!(
                status = self.status.as_u16(),
                code = self.code,
                "request failed"
            );
        }
        let mut response = (self.status, axum::Json(self.body())).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<StoreError> for Error {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Backend(_) => Self::unavailable(error.to_string()),
            _ => Self::internal(error.to_string()),
        }
    }
}

impl From<CipherError> for Error {
    fn from(error: CipherError) -> Self {
        Self::internal(error.to_string())
    }
}

impl From<MailError> for Error {
    fn from(error: MailError) -> Self {
        Self::internal(error.to_string())
    }
}

/// Now as RFC 3339 UTC with seconds precision, the timestamp form of every JSON body.
pub fn now_rfc3339() -> String {
    rfc3339(OffsetDateTime::now_utc())
}

/// A time as RFC 3339 UTC with seconds precision.
pub fn rfc3339(at: OffsetDateTime) -> String {
    let at = at
        .to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .unwrap_or(at);
    at.format(&Rfc3339).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_body_has_the_api_shape() {
        let body = Error::invalid_token("The access token has expired").body();
        assert_eq!(body["success"], false);
        assert_eq!(body["error"], "Invalid token");
        assert_eq!(body["code"], "invalid_token");
        assert_eq!(body["message"], "The access token has expired");
        assert_eq!(body["statusCode"], 401);
        let timestamp = body["timestamp"].as_str().unwrap();
        assert!(
            OffsetDateTime::parse(timestamp, &Rfc3339).is_ok(),
            "{timestamp}"
        );
        assert!(timestamp.ends_with('Z'), "{timestamp}");
    }

    #[test]
    fn plan_gates_carry_the_current_and_required_plan() {
        let body = Error::plan_required("personal", "business").body();
        assert_eq!(body["currentPlan"], "personal");
        assert_eq!(body["requiredPlan"], "business");
        assert_eq!(
            body["message"],
            "This feature requires business plan or higher"
        );
    }

    #[test]
    fn internal_errors_never_show_their_cause() {
        let body = Error::internal("dynamodb said: ResourceNotFoundException table xyz").body();
        assert!(!body.to_string().contains("dynamodb"));
        assert_eq!(body["statusCode"], 500);
    }
}
