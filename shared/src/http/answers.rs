//! The JSON answers more than one endpoint group gives, as types the OpenAPI document describes,
//! and the documented error answers (`ErrorResponse` and the descriptions every route shares).

use serde::Serialize;
use utoipa::ToSchema;
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};

use crate::services::accounts::MfaChallenge;
use crate::services::sessions::AuthResponse;

/// The schema of a field that is always `true` (`success` of every success answer).
pub fn always_true() -> Object {
    constant(Type::Boolean, true)
}

/// The schema of a field that is always `false` (`success` of every error).
pub fn always_false() -> Object {
    constant(Type::Boolean, false)
}

/// `token_type` of an AuthResponse.
pub fn bearer() -> Object {
    constant(Type::String, "bearer")
}

/// A one-value schema (JSON Schema's `const`, written as a one-value `enum`).
pub fn constant(kind: Type, value: impl Into<serde_json::Value>) -> Object {
    ObjectBuilder::new()
        .schema_type(kind)
        .enum_values(Some([value.into()]))
        .build()
}

/// `{"success": true, "message": ...}`.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct SuccessMessage {
    #[schema(schema_with = always_true)]
    pub success: bool,
    pub message: String,
}

impl SuccessMessage {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            success: true,
            message: message.into(),
        }
    }
}

/// `{"success": true}`.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Success {
    #[schema(schema_with = always_true)]
    pub success: bool,
}

impl Success {
    pub const fn new() -> Self {
        Self { success: true }
    }
}

impl Default for Success {
    fn default() -> Self {
        Self::new()
    }
}

/// A passed first factor: the AuthResponse, or the MFA step when the user has a second factor.
/// (For the document: the handlers answer one or the other.)
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum SignedIn {
    Authenticated(AuthResponse),
    MfaRequired(MfaChallenge),
}

/// The shape of every 4xx/5xx. `message` never leaks internals. (`error::Error::body` writes it;
/// the flow tests validate every error they meet against this schema.)
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "success": false, "error": "Invalid token", "code": "invalid_token",
    "message": "The access token has expired", "statusCode": 401,
    "timestamp": "2026-11-25T10:00:00Z"
}))]
pub struct ErrorResponse {
    #[schema(schema_with = always_false)]
    pub success: bool,
    /// Short human title ("Invalid token", "Authentication required", "Too Many Requests", ...).
    pub error: String,
    /// Stable snake_case machine code. Known codes: `invalid_request`, `weak_password`,
    /// `authentication_required`, `invalid_token`, `invalid_credentials`, `invalid_code`,
    /// `forbidden`, `insufficient_scope`, `csrf_failed`, `plan_required`, `feature_required`, `not_found`,
    /// `method_not_allowed`, `email_taken`, `conflict`, `last_owner`, `already_member`,
    /// `payload_too_large`, `unsupported_media_type`, `rate_limited`, `internal_error`,
    /// `service_unavailable`, `invalid_inbox_credentials`, `inbox_unreachable`.
    pub code: String,
    /// Safe, human-readable detail.
    pub message: String,
    /// The HTTP status, repeated.
    #[serde(rename = "statusCode")]
    pub status_code: u16,
    #[schema(format = DateTime)]
    pub timestamp: String,
    /// With `invalid_request` (and `invalid_credentials` on password change): the field at fault.
    /// With `invalid_inbox_credentials` and `inbox_unreachable`: the server at fault, `imap` or
    /// `smtp`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// With `plan_required` and `feature_required`: the caller's plan.
    #[serde(rename = "currentPlan", skip_serializing_if = "Option::is_none")]
    pub current_plan: Option<Plan>,
    /// With `plan_required`: the lowest plan that may call.
    #[serde(rename = "requiredPlan", skip_serializing_if = "Option::is_none")]
    pub required_plan: Option<Plan>,
    /// With `feature_required`: the feature the plan lacks.
    #[serde(rename = "requiredFeature", skip_serializing_if = "Option::is_none")]
    pub required_feature: Option<String>,
}

pub use crate::domain::plans::Plan;

/// The descriptions of the error answers most routes share; a route documents its own cases
/// with its own words.
pub mod errors {
    pub const BAD_REQUEST: &str = "`invalid_request`: malformed JSON, a wrong type, a missing \
        required field or an invalid value; `field` names it.";
    pub const UNAUTHORIZED: &str = "`authentication_required`: no credentials were presented. \
        `invalid_token`: the credentials are malformed, expired, forged, or their session has \
        ended.";
    pub const CSRF: &str =
        "`csrf_failed`: a cookie-authenticated write without a valid `X-CSRF-Token`.";
    /// For routes that change a credential (`Caller::require_credential_scope`).
    pub const PERSON_ONLY: &str = "`insufficient_scope`: an API key cannot change credentials; \
        sign in instead. `csrf_failed`: a cookie-authenticated write without a valid \
        `X-CSRF-Token`.";
    pub const CONFLICT: &str = "`conflict`: the account changed at the same time; try again.";
    pub const TOO_LARGE: &str = "`payload_too_large`: the body is over 64 KiB.";
    pub const UNSUPPORTED: &str =
        "`unsupported_media_type`: a body that is not `application/json`.";
    pub const RATE_LIMITED: &str =
        "`rate_limited`: over a rate limit; retry after `Retry-After` seconds.";
    pub const OTHER: &str = "Any other error in the error shape: `500 internal_error` (nothing \
        internal is shown), `503 service_unavailable` (a backend is unreachable; try again \
        later).";
}
