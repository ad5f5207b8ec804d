//! The caller's profile: `/auth/validate` (seed 004), `/auth/me` (seed 002) and
//! `/users/auth/status` (seed 001).

use axum::extract::State;
use latchkey::domain::sessions::auth_type;
use latchkey::domain::timestamp;
use latchkey::http::answers::{ErrorResponse, errors};
use latchkey::http::{Caller, Json, MaybeCaller};
use latchkey::services::accounts::{self, Membership};
use latchkey::services::{mfa, passkeys, profiles};
use latchkey::{AppState, Result};
use serde::Serialize;
use utoipa::ToSchema;

/// A workspace the caller belongs to and their role in it.
#[derive(Serialize, ToSchema)]
pub struct Workspace {
    #[schema(format = "uuid")]
    id: String,
    name: String,
    /// `owner`, `admin` or `member`.
    role: String,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
}

impl Workspace {
    fn of(membership: &Membership) -> Self {
        Self {
            id: membership.workspace.id.to_string(),
            name: membership.workspace.name.clone(),
            role: membership.role.clone(),
            created_at: timestamp(membership.workspace.created_at),
            updated_at: timestamp(membership.workspace.updated_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ValidateResponse {
    #[schema(schema_with = valid)]
    status: &'static str,
    user: ValidatedUser,
    workspaces: Vec<Workspace>,
}

fn valid() -> utoipa::openapi::Object {
    latchkey::http::answers::constant(utoipa::openapi::Type::String, "valid")
}

#[derive(Serialize, ToSchema)]
pub struct ValidatedUser {
    #[schema(format = "uuid")]
    id: String,
    #[schema(format = Email)]
    email: String,
    name: String,
    has_password: bool,
}

/// The 401 of `/auth/validate`: the shared cases, and a token whose workspace its holder left.
const VALIDATE_UNAUTHORIZED: &str = "`authentication_required`: no credentials were presented. \
    `invalid_token`: the credentials are malformed, expired, forged, or their session has ended, \
    or the holder is no longer a member of the token's workspace (`org`).";

/// `GET /auth/validate`: the token is valid, its session live and its holder still a member of
/// its workspace (`org`); the user and their workspaces (cached per instance for a few seconds:
/// `services::profiles`).
#[utoipa::path(get, path = "/auth/validate", operation_id = "validateToken", tag = "accounts",
    summary = "Check the token; the user and their workspaces",
    security(("bearerAuth" = []), ("apiKeyHeader" = []), ("cookieAuth" = [])),
    responses(
        (status = 200, description = "The token is valid.", body = ValidateResponse),
        (status = 401, description = VALIDATE_UNAUTHORIZED, body = ErrorResponse),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ))]
pub async fn validate(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<ValidateResponse>> {
    let profile = profiles::require_token_workspace_member(&state, &caller.claims).await?;
    let user = &profile.user;
    Ok(Json(ValidateResponse {
        status: "valid",
        user: ValidatedUser {
            has_password: user.has_password(),
            id: user.id.to_string(),
            email: user.email.clone(),
            name: user.name.clone(),
        },
        workspaces: profile.memberships.iter().map(Workspace::of).collect(),
    }))
}

/// The caller as `/auth/me` shows them.
#[derive(Serialize, ToSchema)]
#[schema(as = User)]
pub struct ProfileUser {
    #[schema(format = "uuid")]
    id: String,
    #[schema(format = Email)]
    email: String,
    name: String,
    email_verified: bool,
    has_password: bool,
    /// `free`, `personal`, `business` or `enterprise`.
    plan: String,
    features: Vec<String>,
    /// The active workspace of the presented token.
    #[schema(format = "uuid")]
    organization_id: Option<String>,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
}

/// An email credential; today the one primary address.
#[derive(Serialize, ToSchema)]
pub struct EmailCredential {
    #[schema(format = Email)]
    email: String,
    verified: bool,
    primary: bool,
}

#[derive(Serialize, ToSchema)]
#[schema(as = Membership)]
pub struct MembershipView {
    #[schema(format = "uuid")]
    workspace_id: String,
    name: String,
    /// `owner`, `admin` or `member`.
    role: String,
    /// The workspace made at sign-up.
    personal: bool,
    #[schema(format = DateTime)]
    joined_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct PasskeyCount {
    /// How many passkeys can sign in to the account (`GET /auth/passkeys` lists them).
    count: u32,
}

/// The session of the presented token.
#[derive(Serialize, ToSchema)]
pub struct CurrentSession {
    #[schema(format = "uuid")]
    id: String,
    /// The authentication methods used.
    amr: Vec<String>,
    aal: u8,
}

#[derive(Serialize, ToSchema)]
pub struct Profile {
    #[schema(schema_with = latchkey::http::answers::always_true)]
    success: bool,
    user: ProfileUser,
    /// Email credentials; today the one primary address.
    emails: Vec<EmailCredential>,
    memberships: Vec<MembershipView>,
    /// Linked social identities (as `GET /auth/identities` lists them).
    identities: Vec<latchkey::services::social::IdentityView>,
    mfa: mfa::MfaStatus,
    passkeys: PasskeyCount,
    session: CurrentSession,
}

/// `GET /auth/me`: the profile, email credentials, memberships, identities and second factors.
#[utoipa::path(get, path = "/auth/me", operation_id = "getMe", tag = "accounts",
    summary = "The caller's profile",
    security(("bearerAuth" = []), ("apiKeyHeader" = []), ("cookieAuth" = [])),
    responses(
        (status = 200, description = "The profile.", body = Profile),
        (status = 401, description = errors::UNAUTHORIZED, body = ErrorResponse),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ))]
pub async fn me(State(state): State<AppState>, caller: Caller) -> Result<Json<Profile>> {
    let (user, memberships, mfa, identities, passkey_count) = tokio::join!(
        accounts::require_user(&state, caller.user_id()),
        accounts::memberships(&state, caller.user_id()),
        mfa::status(&state, caller.user_id()),
        latchkey::services::social::list(&state, caller.user_id()),
        passkeys::count(&state, caller.user_id()),
    );
    let (user, memberships, mfa, identities, passkey_count) =
        (user?, memberships?, mfa?, identities?, passkey_count?);
    Ok(Json(Profile {
        success: true,
        emails: vec![EmailCredential {
            email: user.email.clone(),
            verified: user.email_verified,
            primary: true,
        }],
        memberships: memberships
            .iter()
            .map(|m| MembershipView {
                workspace_id: m.workspace.id.to_string(),
                name: m.workspace.name.clone(),
                role: m.role.clone(),
                personal: m.workspace.personal,
                joined_at: timestamp(m.joined_at),
            })
            .collect(),
        identities,
        mfa,
        passkeys: PasskeyCount {
            count: passkey_count,
        },
        session: CurrentSession {
            id: caller.session_id().to_owned(),
            amr: caller.claims.amr.clone(),
            aal: caller.claims.aal,
        },
        user: ProfileUser {
            has_password: user.has_password(),
            created_at: timestamp(user.created_at),
            updated_at: timestamp(user.updated_at),
            id: user.id.to_string(),
            email: user.email,
            name: user.name,
            email_verified: user.email_verified,
            plan: user.plan,
            features: user.features,
            organization_id: caller.claims.org.as_ref().map(String::from),
        },
    }))
}

/// Whether the request is authenticated; `user` only when it is.
#[derive(Serialize, ToSchema)]
pub struct AuthStatus {
    #[serde(rename = "isAuthenticated")]
    is_authenticated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<StatusUser>,
}

#[derive(Serialize, ToSchema)]
pub struct StatusUser {
    #[schema(format = "uuid")]
    id: String,
    #[schema(format = Email)]
    email: String,
    /// From the token's first `amr` entry: `password`, `magic-link`, `oauth`, `passkey`,
    /// `api-key` or `unknown`.
    #[schema(value_type = String)]
    auth_type: &'static str,
}

/// `GET /users/auth/status`: never an error for a missing or invalid token.
#[utoipa::path(get, path = "/users/auth/status", operation_id = "getAuthStatus", tag = "accounts",
    summary = "Whether the request is authenticated",
    security((), ("bearerAuth" = []), ("apiKeyHeader" = []), ("cookieAuth" = [])),
    responses(
        (status = 200, description = "The authentication status.", body = AuthStatus),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ))]
pub async fn status(MaybeCaller(caller): MaybeCaller) -> Json<AuthStatus> {
    Json(match caller {
        Some(caller) => AuthStatus {
            is_authenticated: true,
            user: Some(StatusUser {
                auth_type: auth_type(&caller.claims.amr),
                id: caller.claims.sub.to_string(),
                email: caller.claims.email,
            }),
        },
        None => AuthStatus {
            is_authenticated: false,
            user: None,
        },
    })
}
