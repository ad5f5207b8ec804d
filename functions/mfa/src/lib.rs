//! The `mfa` endpoint group: TOTP setup and confirmation, the second step of a sign-in (a TOTP
//! or recovery code with the `mfa_token`), step-up, disabling, and recovery-code sets. HTTP glue
//! only; the rules live in `latchkey::services::mfa`.
//!
//! Decisions API.md leaves open:
//! - `/auth/mfa/verify` takes the `mfa_token` as Bearer, or any ordinary caller credential
//!   (Bearer access token, or the cookie with its CSRF token) for step-up; step-up replaces the
//!   caller's session with one at `aal: 2`. `/auth/mfa/recovery-verify` takes only the
//!   `mfa_token`.
//! - `/auth/mfa/disable` takes `{code}` (a current TOTP code); without one, the caller's token
//!   must be at `aal: 2`. `/auth/mfa/recovery-codes` needs `aal: 2`. Otherwise
//!   `403 second_factor_required`.
//! - Wrong code `401 invalid_code`; a code whose time step was already used `401
//!   code_already_used`; a spent, expired or foreign `mfa_token` `401 invalid_token`; setup while
//!   on `409 mfa_already_enabled`; confirm with nothing pending `409 mfa_setup_required`; verify,
//!   disable or regenerate while off `409 mfa_not_enabled`.

use axum::Router;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::Response;
use axum::routing::post;
use latchkey::http::{Caller, Client, Json, cookies};
use latchkey::services::mfa::{self, Enrolment, RecoveryCodes};
use latchkey::services::tokens::{self, MFA_TOKEN_TYPE};
use latchkey::{AppState, Error, Result};
use serde::{Deserialize, Serialize};

/// Every (method, path) this group serves, in axum's path syntax. `template.yaml` and the route
/// tests are checked against this list, so the three cannot drift apart.
pub const ROUTES: &[(&str, &str)] = &[
    ("POST", "/auth/mfa/setup"),
    ("POST", "/auth/mfa/confirm"),
    ("POST", "/auth/mfa/verify"),
    ("POST", "/auth/mfa/recovery-verify"),
    ("POST", "/auth/mfa/disable"),
    ("POST", "/auth/mfa/recovery-codes"),
    ("POST", "/auth/mfa/recovery-codes/regenerate"),
];

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/auth/mfa/setup", post(setup))
        .route("/auth/mfa/confirm", post(confirm))
        .route("/auth/mfa/verify", post(verify))
        .route("/auth/mfa/recovery-verify", post(recovery_verify))
        .route("/auth/mfa/disable", post(disable))
        .route("/auth/mfa/recovery-codes", post(regenerate))
        .route("/auth/mfa/recovery-codes/regenerate", post(regenerate))
        .with_state(state)
}

/// A code as a string, or as a number by clients that parsed the digits (leading zeros restored).
#[derive(Deserialize)]
#[serde(untagged)]
enum CodeValue {
    Text(String),
    Number(u32),
}

impl CodeValue {
    fn into_string(self) -> String {
        match self {
            Self::Text(text) => text,
            Self::Number(number) => format!("{number:06}"),
        }
    }
}

#[derive(Deserialize)]
struct CodeBody {
    code: CodeValue,
}

#[derive(Deserialize)]
struct OptionalCodeBody {
    #[serde(default)]
    code: Option<CodeValue>,
}

/// Who presents the second factor: the holder of an `mfa_token` (a sign-in half done), or an
/// ordinary caller stepping up.
enum SecondFactorHolder {
    MfaToken(String),
    Caller(Box<Caller>),
}

impl FromRequestParts<AppState> for SecondFactorHolder {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        if let Some(token) = bearer(parts).filter(|token| {
            tokens::peek_type(token).is_some_and(|typ| typ.eq_ignore_ascii_case(MFA_TOKEN_TYPE))
        }) {
            return Ok(Self::MfaToken(token.to_owned()));
        }
        Caller::from_request_parts(parts, state)
            .await
            .map(|caller| Self::Caller(Box::new(caller)))
    }
}

fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts
        .headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .trim();
    let (scheme, credential) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| credential.trim())
        .filter(|credential| !credential.is_empty())
}

/// `POST /auth/mfa/setup`: a new TOTP secret, its otpauth URL and QR code; pending until confirmed.
async fn setup(State(state): State<AppState>, caller: Caller) -> Result<Json<Enrolment>> {
    Ok(Json(mfa::setup(&state, caller.user_id()).await?))
}

/// `POST /auth/mfa/confirm`: a code from the new secret turns MFA on; the recovery codes, once.
async fn confirm(
    State(state): State<AppState>,
    caller: Caller,
    Client(client): Client,
    Json(body): Json<CodeBody>,
) -> Result<Json<RecoveryCodes>> {
    let code = body.code.into_string();
    Ok(Json(
        mfa::confirm(&state, caller.user_id(), &code, &client).await?,
    ))
}

/// `POST /auth/mfa/verify`: a TOTP code with the `mfa_token` (finishes a sign-in) or with an
/// ordinary token (step-up); the AuthResponse at `aal: 2`, cookies set.
async fn verify(
    State(state): State<AppState>,
    holder: SecondFactorHolder,
    Client(client): Client,
    Json(body): Json<CodeBody>,
) -> Result<Response> {
    let code = body.code.into_string();
    let response = match holder {
        SecondFactorHolder::MfaToken(token) => mfa::verify(&state, &token, &code, &client).await?,
        SecondFactorHolder::Caller(caller) => {
            mfa::step_up(&state, &caller.claims, &code, &client).await?
        }
    };
    Ok(cookies::auth_response(
        &state.config,
        state.clock.unix(),
        StatusCode::OK,
        response,
    ))
}

/// `POST /auth/mfa/recovery-verify`: a recovery code with the `mfa_token`; the code is spent.
async fn recovery_verify(
    State(state): State<AppState>,
    holder: SecondFactorHolder,
    Client(client): Client,
    Json(body): Json<CodeBody>,
) -> Result<Response> {
    let SecondFactorHolder::MfaToken(token) = holder else {
        return Err(Error::invalid_token(
            "Present the mfa_token from the sign-in as the Bearer token",
        ));
    };
    let code = body.code.into_string();
    let response = mfa::recovery_verify(&state, &token, &code, &client).await?;
    Ok(cookies::auth_response(
        &state.config,
        state.clock.unix(),
        StatusCode::OK,
        response,
    ))
}

#[derive(Serialize)]
struct Disabled {
    success: bool,
    message: &'static str,
}

/// `POST /auth/mfa/disable`: with a current code (or an `aal: 2` token); the secret and every
/// recovery code are deleted.
async fn disable(
    State(state): State<AppState>,
    caller: Caller,
    Client(client): Client,
    Json(body): Json<OptionalCodeBody>,
) -> Result<Json<Disabled>> {
    let code = body.code.map(CodeValue::into_string);
    mfa::disable(&state, &caller.claims, code.as_deref(), &client).await?;
    Ok(Json(Disabled {
        success: true,
        message: "Two-factor authentication is off",
    }))
}

/// `POST /auth/mfa/recovery-codes` (`/regenerate`): a new set; the previous one is void.
async fn regenerate(State(state): State<AppState>, caller: Caller) -> Result<Json<RecoveryCodes>> {
    Ok(Json(
        mfa::regenerate_recovery_codes(&state, &caller.claims).await?,
    ))
}
