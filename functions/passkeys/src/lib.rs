//! The `passkeys` endpoint group: WebAuthn registration and sign-in, listing and removing
//! passkeys, and the demo page that runs both ceremonies in a browser. HTTP glue only; the rules
//! live in `latchkey::services::passkeys`.
//!
//! Decisions API.md leaves open:
//! - `options` is answered wrapped, `{"publicKey": {...}}` (the WebAuthn JSON form, binary
//!   fields base64url); `credential` is the `PublicKeyCredential` JSON a browser's `toJSON()`
//!   gives.
//! - A challenge that is unknown, spent, expired, or made for another purpose or user:
//!   `401 invalid_challenge`. An answer that does not verify (origin, RP ID, signature, user
//!   verification, a counter gone backwards) or names a passkey that is not registered:
//!   `401 invalid_credentials`. Either way the challenge is spent.
//! - A credential id already registered, to anyone: `409 passkey_already_registered`. Removing
//!   the last way to sign in: `409 last_sign_in_method`. Adding or removing with MFA on and a
//!   token at `aal: 1`: `403 second_factor_required`.
//! - `login-challenge` with an email that has no account answers like one without an email (a
//!   discoverable challenge), so it does not reveal which accounts exist.

mod demo;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use latchkey::domain::emails::EmailAddress;
use latchkey::domain::ids::PasskeyId;
use latchkey::http::answers::{ErrorResponse, SuccessMessage, always_true, errors};
use latchkey::http::{Caller, Client, Json, Routes, cookies};
use latchkey::services::passkeys::{self, Ceremony, PasskeyView};
use latchkey::services::sessions::AuthResponse;
use latchkey::{AppState, Result};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::routes;
use webauthn_rs::prelude::{PublicKeyCredential, RegisterPublicKeyCredential};

/// Every route this group serves, each declared once (see `latchkey::http::routes`).
pub fn routes() -> Routes {
    Routes::new()
        .declare(routes!(register_challenge))
        .declare(routes!(register))
        .declare(routes!(login_challenge))
        .declare(routes!(login))
        .declare(routes!(list))
        .declare(routes!(remove))
        .declare(routes!(demo::page))
}

pub fn router(state: AppState) -> Router {
    routes().router(state)
}

#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"challenge_id": "6f1c2b1e-8a57-4a4c-9b83-2f4f0e2a7d10",
    "credential": {"id": "...", "rawId": "...", "type": "public-key",
        "response": {"clientDataJSON": "...", "attestationObject": "..."}},
    "name": "Laptop"}))]
struct RegisterBody {
    /// From `/auth/passkeys/register-challenge`.
    challenge_id: String,
    /// The `PublicKeyCredential` from `navigator.credentials.create()`, as JSON (`toJSON()`).
    #[schema(value_type = Object)]
    credential: Box<RegisterPublicKeyCredential>,
    /// 1 to 64 characters. Default: "Passkey added <date>".
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"email": "ada@example.com"}))]
struct LoginChallengeBody {
    /// The account to sign in to; leave it out (or send no body) for a discoverable passkey,
    /// which names its account itself.
    #[serde(default)]
    #[schema(format = Email)]
    email: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"challenge_id": "6f1c2b1e-8a57-4a4c-9b83-2f4f0e2a7d10",
    "credential": {"id": "...", "rawId": "...", "type": "public-key",
        "response": {"clientDataJSON": "...", "authenticatorData": "...", "signature": "...",
            "userHandle": "..."}}}))]
struct LoginBody {
    /// From `/auth/passkeys/login-challenge`.
    challenge_id: String,
    /// The `PublicKeyCredential` from `navigator.credentials.get()`, as JSON (`toJSON()`).
    #[schema(value_type = Object)]
    credential: Box<PublicKeyCredential>,
}

#[derive(Serialize, ToSchema)]
struct PasskeyList {
    #[schema(schema_with = always_true)]
    success: bool,
    passkeys: Vec<PasskeyView>,
}

/// `POST /auth/passkeys/register-challenge`: the options to create a passkey for the caller.
#[utoipa::path(post, path = "/auth/passkeys/register-challenge",
    operation_id = "passkeyRegisterChallenge", tag = "passkeys",
    summary = "Start adding a passkey",
    description = "The options for `navigator.credentials.create()` (user verification \
        required, a discoverable credential preferred, the caller's passkeys excluded) and the \
        `challenge_id` to finish with within 5 minutes. With MFA on, the token must be at \
        `aal: 2`.",
    security(("bearerAuth" = []), ("cookieAuth" = [], "csrfToken" = [])),
    responses(
        (status = 200, description = "The challenge.", body = Ceremony),
        (status = 401, description = errors::UNAUTHORIZED, body = ErrorResponse),
        (status = 403, description = "`second_factor_required` (MFA on, a token at `aal: 1`), \
            `insufficient_scope` (an API key), or `csrf_failed`.", body = ErrorResponse),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ))]
async fn register_challenge(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Ceremony>> {
    caller.require_credential_scope()?;
    Ok(Json(
        passkeys::register_challenge(&state, &caller.claims).await?,
    ))
}

/// `POST /auth/passkeys/register`: verify the new credential and keep it.
#[utoipa::path(post, path = "/auth/passkeys/register", operation_id = "passkeyRegister",
    tag = "passkeys", summary = "Finish adding a passkey",
    description = "Verifies the authenticator's answer against the challenge (origin, RP ID, \
        user verification) and keeps the passkey. The challenge is spent either way. A security \
        email is sent.",
    request_body = RegisterBody,
    security(("bearerAuth" = []), ("cookieAuth" = [], "csrfToken" = [])),
    responses(
        (status = 200, description = "The passkey.", body = PasskeyView),
        (status = 400, description = errors::BAD_REQUEST, body = ErrorResponse),
        (status = 401, description = "`invalid_challenge` (unknown, spent, expired, or another \
            user's or purpose's), `invalid_credentials` (the answer did not verify), or the \
            caller's `authentication_required` / `invalid_token`.", body = ErrorResponse),
        (status = 403, description = "`second_factor_required` (MFA on, a token at `aal: 1`), \
            `insufficient_scope` (an API key), or `csrf_failed`.", body = ErrorResponse),
        (status = 409, description = "`passkey_already_registered`: this credential id is \
            already registered.", body = ErrorResponse),
        (status = 413, description = errors::TOO_LARGE, body = ErrorResponse),
        (status = 415, description = errors::UNSUPPORTED, body = ErrorResponse),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ))]
async fn register(
    State(state): State<AppState>,
    caller: Caller,
    Client(client): Client,
    Json(body): Json<RegisterBody>,
) -> Result<Json<PasskeyView>> {
    caller.require_credential_scope()?;
    Ok(Json(
        passkeys::register(
            &state,
            &caller.claims,
            &body.challenge_id,
            &body.credential,
            body.name.as_deref(),
            &client,
        )
        .await?,
    ))
}

/// `POST /auth/passkeys/login-challenge`: the options to sign in with a passkey.
#[utoipa::path(post, path = "/auth/passkeys/login-challenge",
    operation_id = "passkeyLoginChallenge", tag = "passkeys",
    summary = "Start a passkey sign-in",
    description = "The options for `navigator.credentials.get()` and the `challenge_id` to \
        finish with within 5 minutes. With an email, `allowCredentials` lists that account's \
        passkeys and only they can finish; without one (or with an email that has no account) \
        any discoverable passkey can.",
    request_body(content = Option<LoginChallengeBody>),
    responses(
        (status = 200, description = "The challenge.", body = Ceremony),
        (status = 400, description = errors::BAD_REQUEST, body = ErrorResponse),
        (status = 413, description = errors::TOO_LARGE, body = ErrorResponse),
        (status = 415, description = errors::UNSUPPORTED, body = ErrorResponse),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ))]
async fn login_challenge(
    State(state): State<AppState>,
    Json(body): Json<LoginChallengeBody>,
) -> Result<Json<Ceremony>> {
    let email = body.email.as_deref().map(EmailAddress::parse).transpose()?;
    Ok(Json(
        passkeys::login_challenge(&state, email.as_ref()).await?,
    ))
}

/// `POST /auth/passkeys/login`: verify the assertion; a whole sign-in.
#[utoipa::path(post, path = "/auth/passkeys/login", operation_id = "passkeyLogin",
    tag = "passkeys", summary = "Finish a passkey sign-in",
    description = "Verifies the authenticator's answer (origin, RP ID, signature, user \
        verification, signature counter) and signs in: `amr: [\"webauthn\"]`, `aal: 2` (user \
        verification is required). A passkey is two factors, so this never answers the MFA \
        step. The challenge is spent either way.",
    request_body = LoginBody,
    responses(
        (status = 200, description = "Signed in: the AuthResponse, with the token cookies set \
            when enabled.", body = AuthResponse,
            headers(("Set-Cookie" = String, description = "When cookies are enabled (the \
                default): the access and refresh tokens, `HttpOnly; Secure; SameSite=Strict`."))),
        (status = 400, description = errors::BAD_REQUEST, body = ErrorResponse),
        (status = 401, description = "`invalid_challenge` (unknown, spent, expired, or made for \
            registration), or `invalid_credentials` (the answer did not verify, the passkey is \
            not registered, or it belongs to another account than the challenge's email).",
            body = ErrorResponse),
        (status = 413, description = errors::TOO_LARGE, body = ErrorResponse),
        (status = 415, description = errors::UNSUPPORTED, body = ErrorResponse),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ))]
async fn login(
    State(state): State<AppState>,
    Client(client): Client,
    Json(body): Json<LoginBody>,
) -> Result<Response> {
    let response: AuthResponse =
        passkeys::login(&state, &body.challenge_id, &body.credential, &client).await?;
    Ok(cookies::auth_response(
        &state.config,
        state.clock.unix(),
        StatusCode::OK,
        response,
    ))
}

/// `GET /auth/passkeys`: the caller's passkeys.
#[utoipa::path(get, path = "/auth/passkeys", operation_id = "listPasskeys", tag = "passkeys",
    summary = "The caller's passkeys",
    security(("bearerAuth" = []), ("apiKeyHeader" = []), ("cookieAuth" = [])),
    responses(
        (status = 200, description = "The passkeys, oldest first.", body = PasskeyList),
        (status = 401, description = errors::UNAUTHORIZED, body = ErrorResponse),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ))]
async fn list(State(state): State<AppState>, caller: Caller) -> Result<Json<PasskeyList>> {
    Ok(Json(PasskeyList {
        success: true,
        passkeys: passkeys::list(&state, caller.user_id()).await?,
    }))
}

/// `DELETE /auth/passkeys/{passkey_id}`: remove one of the caller's passkeys.
#[utoipa::path(delete, path = "/auth/passkeys/{passkey_id}", operation_id = "deletePasskey",
    tag = "passkeys", summary = "Remove a passkey",
    description = "It can no longer sign in, at once. With MFA on, the token must be at \
        `aal: 2`. A security email is sent.",
    params(("passkey_id" = String, Path, format = "uuid", description = "The passkey's id, as \
        listed.")),
    security(("bearerAuth" = []), ("cookieAuth" = [], "csrfToken" = [])),
    responses(
        (status = 200, description = "Removed.", body = SuccessMessage),
        (status = 401, description = errors::UNAUTHORIZED, body = ErrorResponse),
        (status = 403, description = "`second_factor_required` (MFA on, a token at `aal: 1`), \
            `insufficient_scope` (an API key), or `csrf_failed`.", body = ErrorResponse),
        (status = 404, description = "`not_found`: no passkey with this id belongs to the \
            caller.", body = ErrorResponse),
        (status = 409, description = "`last_sign_in_method`: the account has no password, no \
            other passkey and no linked identity.", body = ErrorResponse),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ))]
async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Client(client): Client,
    Path(passkey_id): Path<String>,
) -> Result<Json<SuccessMessage>> {
    caller.require_credential_scope()?;
    // Not a passkey id at all: no such passkey.
    let passkey_id = PasskeyId::parse(&passkey_id).ok_or(passkeys::PasskeyError::NotFound)?;
    passkeys::delete(&state, &caller.claims, &passkey_id, &client).await?;
    Ok(Json(SuccessMessage::new("Passkey removed")))
}
