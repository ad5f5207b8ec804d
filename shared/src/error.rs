//! The one API error type and its JSON shape (API.md, "Error shape"), and the table of every
//! error code the API answers (`ErrorCode`: code, HTTP status, title), kept here and nowhere else.
//!
//! Domain and services return their own small error enums; each converts into `Error` next to
//! its definition (or here, for the ports' errors), keeping the real cause as the `source`.
//! `IntoResponse` turns an `Error` into the public body and logs the cause chain, which never
//! reaches the client.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::ports::{CipherError, MailError, StoreError};

/// Every error the API answers: its stable snake_case code, its HTTP status and its title.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// 400: the request is malformed; the message names the field.
    InvalidRequest,
    /// 400: the password fails the policy; the message says why.
    WeakPassword,
    /// 400: an emailed link's token is unknown, used, voided or expired (code `invalid_token`,
    /// like the 401, but the request itself is at fault).
    InvalidLink,
    /// 401: no credentials were presented.
    AuthenticationRequired,
    /// 401: a token was presented but is not valid (expired, forged, revoked).
    InvalidToken,
    /// 401: wrong email or password; the same answer for both.
    InvalidCredentials,
    /// 401: a wrong, spent or voided emailed code.
    InvalidCode,
    /// 403: the caller may not do this.
    Forbidden,
    /// 403: a cookie-authenticated write without a valid CSRF token.
    CsrfFailed,
    /// 403: the credential may not do this (an API key minting keys or changing credentials, or
    /// without the scope for the method).
    InsufficientScope,
    /// 403: the caller's plan is below the one required.
    PlanRequired,
    /// 403: the caller's plan lacks a feature.
    FeatureRequired,
    /// 404: nothing here (also for things that exist but belong to someone else).
    NotFound,
    /// 405: the path exists, the method does not.
    MethodNotAllowed,
    /// 409: an account with this email already exists.
    EmailTaken,
    /// 409: the record changed at the same time (optimistic locking lost twice).
    Conflict,
    /// 409: the workspace's last owner cannot leave or be demoted.
    LastOwner,
    /// 409: the address already belongs to a member of the workspace.
    AlreadyMember,
    /// 413: the body is over the limit.
    PayloadTooLarge,
    /// 415: the body is not JSON.
    UnsupportedMediaType,
    /// 429: over a rate limit.
    RateLimited,
    /// 500: something failed inside.
    Internal,
    /// 503: a backend is unreachable.
    ServiceUnavailable,
    /// 401: a TOTP code whose time step was already accepted (a replay).
    CodeAlreadyUsed,
    /// 403: a sensitive change by an account with MFA on needs a token at `aal: 2`.
    SecondFactorRequired,
    /// 409: MFA setup while MFA is on.
    MfaAlreadyEnabled,
    /// 409: an MFA operation while MFA is off.
    MfaNotEnabled,
    /// 409: MFA confirm with no setup pending.
    MfaSetupRequired,
    /// 400: the IMAP or SMTP server refused the inbox's login; the message says which.
    InvalidInboxCredentials,
    /// 400: the inbox's IMAP or SMTP server could not be reached (or offered no trusted TLS).
    InboxUnreachable,
    /// 400: an OAuth callback's `state` is missing, unknown, spent, expired or of another flow.
    InvalidOAuthState,
    /// 401: the provider's ID token fails a check (signature, `alg`, `iss`, `aud`, `exp`, `iat`,
    /// `nonce`).
    InvalidIdToken,
    /// 400: the OAuth provider refused (the person denied consent, the code was rejected).
    OAuthRefused,
    /// 502: the OAuth provider could not be reached or answered something unusable.
    ProviderUnavailable,
    /// 409: an account with the provider's email exists and cannot be linked automatically.
    AccountExists,
    /// 409: the provider identity is already linked to another user.
    IdentityTaken,
    /// 409: unlinking would leave the account without a way to sign in.
    LastSignInMethod,
    /// 409: the provider refused to refresh a connection's tokens; the user must connect again.
    ReconnectRequired,
    /// 401: a WebAuthn challenge that is unknown, spent, expired, or for another purpose or user.
    InvalidChallenge,
    /// 409: a passkey whose credential id is already registered (to anyone).
    PasskeyAlreadyRegistered,
}

impl ErrorCode {
    /// Every code, for tests and documentation.
    pub const ALL: [ErrorCode; 40] = [
        Self::InvalidRequest,
        Self::WeakPassword,
        Self::InvalidLink,
        Self::AuthenticationRequired,
        Self::InvalidToken,
        Self::InvalidCredentials,
        Self::InvalidCode,
        Self::Forbidden,
        Self::CsrfFailed,
        Self::InsufficientScope,
        Self::PlanRequired,
        Self::FeatureRequired,
        Self::NotFound,
        Self::MethodNotAllowed,
        Self::EmailTaken,
        Self::Conflict,
        Self::LastOwner,
        Self::AlreadyMember,
        Self::PayloadTooLarge,
        Self::UnsupportedMediaType,
        Self::RateLimited,
        Self::Internal,
        Self::ServiceUnavailable,
        Self::CodeAlreadyUsed,
        Self::SecondFactorRequired,
        Self::MfaAlreadyEnabled,
        Self::MfaNotEnabled,
        Self::MfaSetupRequired,
        Self::InvalidInboxCredentials,
        Self::InboxUnreachable,
        Self::InvalidOAuthState,
        Self::InvalidIdToken,
        Self::OAuthRefused,
        Self::ProviderUnavailable,
        Self::AccountExists,
        Self::IdentityTaken,
        Self::LastSignInMethod,
        Self::ReconnectRequired,
        Self::InvalidChallenge,
        Self::PasskeyAlreadyRegistered,
    ];

    /// The table: (machine code, HTTP status, title).
    const fn row(self) -> (&'static str, StatusCode, &'static str) {
        match self {
            Self::InvalidRequest => ("invalid_request", StatusCode::BAD_REQUEST, "Bad Request"),
            Self::WeakPassword => ("weak_password", StatusCode::BAD_REQUEST, "Weak password"),
            Self::InvalidLink => ("invalid_token", StatusCode::BAD_REQUEST, "Invalid token"),
            Self::AuthenticationRequired => (
                "authentication_required",
                StatusCode::UNAUTHORIZED,
                "Authentication required",
            ),
            Self::InvalidToken => ("invalid_token", StatusCode::UNAUTHORIZED, "Invalid token"),
            Self::InvalidCredentials => (
                "invalid_credentials",
                StatusCode::UNAUTHORIZED,
                "Invalid credentials",
            ),
            Self::InvalidCode => ("invalid_code", StatusCode::UNAUTHORIZED, "Invalid code"),
            Self::Forbidden => ("forbidden", StatusCode::FORBIDDEN, "Forbidden"),
            Self::CsrfFailed => ("csrf_failed", StatusCode::FORBIDDEN, "Forbidden"),
            Self::InsufficientScope => ("insufficient_scope", StatusCode::FORBIDDEN, "Forbidden"),
            Self::PlanRequired => ("plan_required", StatusCode::FORBIDDEN, "Upgrade required"),
            Self::FeatureRequired => (
                "feature_required",
                StatusCode::FORBIDDEN,
                "Feature not available",
            ),
            Self::NotFound => ("not_found", StatusCode::NOT_FOUND, "Not Found"),
            Self::MethodNotAllowed => (
                "method_not_allowed",
                StatusCode::METHOD_NOT_ALLOWED,
                "Method Not Allowed",
            ),
            Self::EmailTaken => ("email_taken", StatusCode::CONFLICT, "Conflict"),
            Self::Conflict => ("conflict", StatusCode::CONFLICT, "Conflict"),
            Self::LastOwner => ("last_owner", StatusCode::CONFLICT, "Conflict"),
            Self::AlreadyMember => ("already_member", StatusCode::CONFLICT, "Conflict"),
            Self::PayloadTooLarge => (
                "payload_too_large",
                StatusCode::PAYLOAD_TOO_LARGE,
                "Payload Too Large",
            ),
            Self::UnsupportedMediaType => (
                "unsupported_media_type",
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Unsupported Media Type",
            ),
            Self::RateLimited => (
                "rate_limited",
                StatusCode::TOO_MANY_REQUESTS,
                "Too Many Requests",
            ),
            Self::Internal => (
                "internal_error",
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal Server Error",
            ),
            Self::ServiceUnavailable => (
                "service_unavailable",
                StatusCode::SERVICE_UNAVAILABLE,
                "Service Unavailable",
            ),
            Self::CodeAlreadyUsed => (
                "code_already_used",
                StatusCode::UNAUTHORIZED,
                "Invalid code",
            ),
            Self::SecondFactorRequired => {
                ("second_factor_required", StatusCode::FORBIDDEN, "Forbidden")
            }
            Self::MfaAlreadyEnabled => ("mfa_already_enabled", StatusCode::CONFLICT, "Conflict"),
            Self::MfaNotEnabled => ("mfa_not_enabled", StatusCode::CONFLICT, "Conflict"),
            Self::MfaSetupRequired => ("mfa_setup_required", StatusCode::CONFLICT, "Conflict"),
            Self::InvalidInboxCredentials => (
                "invalid_inbox_credentials",
                StatusCode::BAD_REQUEST,
                "Invalid inbox credentials",
            ),
            Self::InboxUnreachable => (
                "inbox_unreachable",
                StatusCode::BAD_REQUEST,
                "Inbox unreachable",
            ),
            Self::InvalidOAuthState => (
                "invalid_oauth_state",
                StatusCode::BAD_REQUEST,
                "Invalid OAuth state",
            ),
            Self::InvalidIdToken => (
                "invalid_id_token",
                StatusCode::UNAUTHORIZED,
                "Invalid ID token",
            ),
            Self::OAuthRefused => ("oauth_refused", StatusCode::BAD_REQUEST, "OAuth refused"),
            Self::ProviderUnavailable => (
                "provider_unavailable",
                StatusCode::BAD_GATEWAY,
                "Bad Gateway",
            ),
            Self::AccountExists => ("account_exists", StatusCode::CONFLICT, "Conflict"),
            Self::IdentityTaken => ("identity_taken", StatusCode::CONFLICT, "Conflict"),
            Self::LastSignInMethod => ("last_sign_in_method", StatusCode::CONFLICT, "Conflict"),
            Self::ReconnectRequired => ("reconnect_required", StatusCode::CONFLICT, "Conflict"),
            Self::InvalidChallenge => (
                "invalid_challenge",
                StatusCode::UNAUTHORIZED,
                "Invalid challenge",
            ),
            Self::PasskeyAlreadyRegistered => (
                "passkey_already_registered",
                StatusCode::CONFLICT,
                "Conflict",
            ),
        }
    }

    /// The stable snake_case machine code of the body's `code`.
    pub const fn as_str(self) -> &'static str {
        self.row().0
    }

    pub const fn status(self) -> StatusCode {
        self.row().1
    }

    /// The short human title of the body's `error`.
    pub const fn title(self) -> &'static str {
        self.row().2
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The cause behind an error, for logs only.
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

/// An internal cause known only as text (a library's message, an invariant that broke).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Internal(pub String);

/// An error answered to the client. Build it with the constructors below; each names its code.
#[derive(Debug)]
pub struct Error {
    pub code: ErrorCode,
    /// Safe, human-readable detail.
    pub message: String,
    /// Extra top-level fields (the plan-gate fields, the bad `field`). Boxed: a JSON map is
    /// large when serde_json keeps insertion order (a feature some dependencies turn on), and
    /// every `Result` carries this type.
    pub extra: Box<Map<String, Value>>,
    /// Seconds for `Retry-After` (429, and 503 when the password hashers are saturated).
    pub retry_after: Option<u64>,
    /// The real cause, logged with its own sources at error level, never shown.
    cause: Option<Cause>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            extra: Box::default(),
            retry_after: None,
            cause: None,
        }
    }

    pub fn status(&self) -> StatusCode {
        self.code.status()
    }

    /// Keep `cause` as the error's source: logged, never shown.
    pub fn with_cause(mut self, cause: impl Into<Cause>) -> Self {
        self.cause = Some(cause.into());
        self
    }

    /// The cause chain as one line, outermost first, for logs.
    pub fn cause_chain(&self) -> Option<String> {
        let mut next: Option<&(dyn std::error::Error + 'static)> = self
            .cause
            .as_deref()
            .map(|c| c as &(dyn std::error::Error + 'static));
        let mut parts = Vec::new();
        while let Some(error) = next {
            parts.push(error.to_string());
            next = error.source();
        }
        (!parts.is_empty()).then(|| parts.join(": "))
    }

    /// 400: the request is malformed; the message names the field.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, message)
    }

    /// 400: a named field is invalid.
    pub fn invalid_field(field: &str, problem: &str) -> Self {
        Self::bad_request(format!("{field}: {problem}")).with_extra("field", field)
    }

    /// 400: the password fails the policy; the message says why.
    pub fn weak_password(reason: impl Into<String>) -> Self {
        Self::new(ErrorCode::WeakPassword, reason)
    }

    /// 401: no credentials were presented.
    pub fn unauthenticated() -> Self {
        Self::new(
            ErrorCode::AuthenticationRequired,
            "Sign in to use this endpoint",
        )
    }

    /// 401: a token was presented but is not valid (expired, forged, revoked).
    pub fn invalid_token(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidToken, message)
    }

    /// 401: wrong email or password; the same answer for both.
    pub fn invalid_credentials() -> Self {
        Self::new(
            ErrorCode::InvalidCredentials,
            "The email or password is incorrect",
        )
    }

    /// 403: the caller may not do this.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }

    /// 403: the credential may not do this (an API key minting keys or changing credentials, or
    /// lacking the scope for the method).
    pub fn insufficient_scope(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InsufficientScope, message)
    }

    /// 403: a cookie-authenticated write without a valid CSRF token.
    pub fn csrf() -> Self {
        Self::new(
            ErrorCode::CsrfFailed,
            "A valid X-CSRF-Token header is required",
        )
    }

    /// 403: the caller's plan is below the one required.
    pub fn plan_required(current: &str, required: &str) -> Self {
        Self::new(
            ErrorCode::PlanRequired,
            format!("This feature requires {required} plan or higher"),
        )
        .with_extra("currentPlan", current)
        .with_extra("requiredPlan", required)
    }

    /// 403: the caller's plan lacks a feature.
    pub fn feature_required(current: &str, feature: &str) -> Self {
        Self::new(
            ErrorCode::FeatureRequired,
            "This feature is not available on your current plan",
        )
        .with_extra("currentPlan", current)
        .with_extra("requiredFeature", feature)
    }

    /// 404: nothing here (also for things that exist but belong to someone else).
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    /// 405: the path exists, the method does not.
    pub fn method_not_allowed() -> Self {
        Self::new(
            ErrorCode::MethodNotAllowed,
            "This method is not allowed here",
        )
    }

    /// 409: the request conflicts with what exists (`EmailTaken`, `Conflict`).
    pub fn conflict(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(code, message)
    }

    /// 413: the body is over the limit.
    pub fn payload_too_large() -> Self {
        Self::new(
            ErrorCode::PayloadTooLarge,
            "The request body is larger than 64 KiB",
        )
    }

    /// 415: the body is not JSON.
    pub fn unsupported_media_type() -> Self {
        Self::new(
            ErrorCode::UnsupportedMediaType,
            "Send the body as application/json",
        )
    }

    /// 429: over a rate limit; try again after `retry_after` seconds.
    pub fn too_many_requests(retry_after: u64) -> Self {
        let mut error = Self::new(ErrorCode::RateLimited, "Too many requests; try again later");
        error.retry_after = Some(retry_after.max(1));
        error
    }

    /// 500: something failed inside; the text is the logged cause, never shown.
    pub fn internal(internal: impl Into<String>) -> Self {
        Self::internal_cause(Internal(internal.into()))
    }

    /// 500 with a typed cause (kept as the source chain, logged, never shown).
    pub fn internal_cause(cause: impl Into<Cause>) -> Self {
        Self::new(ErrorCode::Internal, "Something went wrong on our side").with_cause(cause)
    }

    /// 503: a backend is unavailable; the cause is logged, never shown.
    pub fn unavailable(cause: impl Into<Cause>) -> Self {
        Self::new(
            ErrorCode::ServiceUnavailable,
            "A backend is unavailable; try again later",
        )
        .with_cause(cause)
    }

    /// 503 with `Retry-After`: every slot for a bounded resource (the password hashers) is
    /// taken and the request waited its share; the client should retry shortly.
    pub fn overloaded(retry_after: u64, internal: impl Into<String>) -> Self {
        let mut error = Self::new(
            ErrorCode::ServiceUnavailable,
            "Too many requests are waiting for a password check; try again shortly",
        )
        .with_cause(Internal(internal.into()));
        error.retry_after = Some(retry_after.max(1));
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
        body.insert("error".into(), json!(self.code.title()));
        body.insert("code".into(), json!(self.code.as_str()));
        body.insert("message".into(), json!(self.message));
        for (key, value) in self.extra.iter() {
            body.insert(key.clone(), value.clone());
        }
        body.insert("statusCode".into(), json!(self.status().as_u16()));
        body.insert("timestamp".into(), json!(now_rfc3339()));
        Value::Object(body)
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status().as_u16(),
            self.code,
            self.message
        )
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.cause
            .as_deref()
            .map(|c| c as &(dyn std::error::Error + 'static))
    }
}

impl Error {
    /// The log line of an answered error (also when a page answers it instead of JSON).
    pub fn log(&self) {
        let status = self.status();
        if let Some(cause) = self.cause_chain() {
            tracing::error!(status = status.as_u16(), code = %self.code, cause = %cause, "request failed");
        } else if status.is_server_error() {
            tracing::error!(status = status.as_u16(), code = %self.code, "request failed");
        } else {
            // Every refusal, with its code (the reason) and the field it names; the message and
            // the request are not logged (they may quote what the client sent).
            let field = self
                .extra
                .get("field")
                .and_then(|v| v.as_str())
                .unwrap_or("-");
            tracing::info!(status = status.as_u16(), code = %self.code, field, "request refused");
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        self.log();
        let mut response = (status, axum::Json(self.body())).into_response();
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
            StoreError::Backend(_) => Self::unavailable(error),
            _ => Self::internal_cause(error),
        }
    }
}

impl From<CipherError> for Error {
    fn from(error: CipherError) -> Self {
        match error {
            // KMS unreachable or timed out: a backend is down, as with the table.
            CipherError::Backend(_) => Self::unavailable(error),
            CipherError::Undecryptable => Self::internal_cause(error),
        }
    }
}

impl From<MailError> for Error {
    fn from(error: MailError) -> Self {
        Self::internal_cause(error)
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

    #[test]
    fn every_code_has_one_status_and_title_and_a_snake_case_code() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            assert!(
                code.as_str()
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{code:?}"
            );
            assert!(!code.title().is_empty(), "{code:?}");
            assert!(
                seen.insert((code.as_str(), code.status())),
                "{code:?} repeats a code and status"
            );
        }
    }

    #[test]
    fn an_emailed_link_refusal_is_a_400_with_the_invalid_token_code() {
        let error = Error::new(ErrorCode::InvalidLink, "x");
        assert_eq!(error.status(), StatusCode::BAD_REQUEST);
        assert_eq!(error.body()["code"], "invalid_token");
        assert_eq!(error.body()["error"], "Invalid token");
    }

    #[test]
    fn the_cause_chain_is_kept_for_logs_and_absent_from_the_body() {
        let error = Error::from(StoreError::Backend("connection refused".into()));
        assert_eq!(error.code, ErrorCode::ServiceUnavailable);
        let chain = error.cause_chain().unwrap();
        assert!(chain.contains("connection refused"), "{chain}");
        assert!(std::error::Error::source(&error).is_some());
        assert!(!error.body().to_string().contains("connection refused"));
    }
}
