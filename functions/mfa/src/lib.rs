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
use latchkey::http::answers::{ErrorResponse, SuccessMessage, errors};
use latchkey::http::{Caller, Client, Json, Routes, alias, cookies};
use latchkey::services::mfa::{self, Enrolment, RecoveryCodes};
use latchkey::services::sessions::AuthResponse;
use latchkey::services::tokens::{self, MFA_TOKEN_TYPE};
use latchkey::{AppState, Error, Result};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::routes;

/// Every route this group serves, each declared once (see `latchkey::http::routes`); the
/// recovery-codes alias is the same handler at seed 004's other path.
pub fn routes() -> Routes {
    Routes::new()
        .declare(routes!(setup))
        .declare(routes!(confirm))
        .declare(routes!(verify))
        .declare(routes!(recovery_verify))
        .declare(routes!(disable))
        .declare_aliased(
            routes!(regenerate),
            &[alias(
                "/auth/mfa/recovery-codes/regenerate",
                "regenerateRecoveryCodesAlias",
            )],
        )
}

pub fn router(state: AppState) -> Router {
    routes().router(state)
}

/// A 6-digit TOTP code as a string, or as a number by clients that parsed the digits (leading
/// zeros are restored); for recovery-verify, a recovery code (`xxxxx-xxxxx`; case, dashes and
/// spaces ignored).
#[derive(Deserialize, ToSchema)]
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

#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"code": "123456"}))]
struct CodeBody {
    code: CodeValue,
}

#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"code": "123456"}))]
struct OptionalCodeBody {
    /// A current TOTP code. Without one, the caller's token must be at `aal: 2`.
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
#[utoipa::path(post, path = "/auth/mfa/setup", operation_id = "setupMfa", tag = "mfa",
    summary = "Start TOTP enrolment",
    description = "A new secret, pending until /auth/mfa/confirm (it lapses after an hour). \
        Setting up again before confirming replaces it. The secret is stored encrypted and never \
        shown again.",
    security(("bearerAuth" = []), ("cookieAuth" = [], "csrfToken" = [])),
    responses(
        (status = 200, description = "The secret, its otpauth URL and QR code.", body = Enrolment),
        (status = 401, description = errors::UNAUTHORIZED, body = ErrorResponse),
        (status = 403, description = errors::PERSON_ONLY, body = ErrorResponse),
        (status = 409, description = "`mfa_already_enabled`.", body = ErrorResponse),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ))]
async fn setup(State(state): State<AppState>, caller: Caller) -> Result<Json<Enrolment>> {
    caller.require_credential_scope()?;
    Ok(Json(mfa::setup(&state, caller.user_id()).await?))
}

/// `POST /auth/mfa/confirm`: a code from the new secret turns MFA on; the recovery codes, once.
#[utoipa::path(post, path = "/auth/mfa/confirm", operation_id = "confirmMfa", tag = "mfa",
    summary = "Confirm TOTP enrolment; MFA on",
    description = "A code from the pending secret turns MFA on and answers the first set of \
        recovery codes. A security email is sent.",
    request_body = CodeBody,
    security(("bearerAuth" = []), ("cookieAuth" = [], "csrfToken" = [])),
    responses(
        (status = 200, description = "The recovery codes, shown once.", body = RecoveryCodes),
        (status = 400, description = errors::BAD_REQUEST, body = ErrorResponse),
        (status = 401, description = "`invalid_code`, or the caller's `authentication_required` \
            / `invalid_token`.", body = ErrorResponse),
        (status = 403, description = errors::PERSON_ONLY, body = ErrorResponse),
        (status = 409, description = "`mfa_setup_required` (nothing pending), \
            `mfa_already_enabled`, `conflict`.", body = ErrorResponse),
        (status = 413, description = errors::TOO_LARGE, body = ErrorResponse),
        (status = 415, description = errors::UNSUPPORTED, body = ErrorResponse),
        (status = 429, description = "`rate_limited`: five wrong codes for the account within 15 \
            minutes.", body = ErrorResponse,
            headers(("Retry-After" = u32, description = "Seconds until the window ends."))),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ))]
async fn confirm(
    State(state): State<AppState>,
    caller: Caller,
    Client(client): Client,
    Json(body): Json<CodeBody>,
) -> Result<Json<RecoveryCodes>> {
    caller.require_credential_scope()?;
    let code = body.code.into_string();
    Ok(Json(
        mfa::confirm(&state, caller.user_id(), &code, &client).await?,
    ))
}

/// `POST /auth/mfa/verify`: a TOTP code with the `mfa_token` (finishes a sign-in) or with an
/// ordinary token (step-up); the AuthResponse at `aal: 2`, cookies set.
#[utoipa::path(post, path = "/auth/mfa/verify", operation_id = "verifyMfa", tag = "mfa",
    summary = "Second step of a sign-in, or step-up",
    description = "With the `mfa_token` as Bearer: a TOTP code finishes the sign-in (`aal: 2`, \
        `amr` + `otp`); the token is spent. With an ordinary caller credential: step-up, the \
        caller's session is replaced by one at `aal: 2`. A code is accepted once (its time step \
        must be later than the last accepted).",
    request_body = CodeBody,
    security(("mfaToken" = []), ("bearerAuth" = []), ("cookieAuth" = [], "csrfToken" = [])),
    responses(
        (status = 200, description = "Signed in at `aal: 2`: the AuthResponse, with the token \
            cookies set when enabled.", body = AuthResponse,
            headers(("Set-Cookie" = String, description = "When cookies are enabled (the \
                default): the access and refresh tokens, `HttpOnly; Secure; SameSite=Strict`."))),
        (status = 400, description = errors::BAD_REQUEST, body = ErrorResponse),
        (status = 401, description = "`invalid_code`, `code_already_used` (a replayed time \
            step), or `invalid_token` (the mfa_token expired, spent or forged).",
            body = ErrorResponse),
        (status = 403, description = errors::PERSON_ONLY, body = ErrorResponse),
        (status = 409, description = "`mfa_not_enabled`.", body = ErrorResponse),
        (status = 413, description = errors::TOO_LARGE, body = ErrorResponse),
        (status = 415, description = errors::UNSUPPORTED, body = ErrorResponse),
        (status = 429, description = "`rate_limited`: five wrong codes for this mfa_token or \
            account within 15 minutes.", body = ErrorResponse,
            headers(("Retry-After" = u32, description = "Seconds until the window ends."))),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ))]
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
            caller.require_credential_scope()?;
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
#[utoipa::path(post, path = "/auth/mfa/recovery-verify", operation_id = "recoveryVerifyMfa",
    tag = "mfa", summary = "Second step of a sign-in with a recovery code",
    description = "With the `mfa_token` as Bearer: an unspent recovery code finishes the sign-in \
        (`aal: 2`, `amr` + `mfa`) and is spent. A security email is sent.",
    request_body = CodeBody,
    security(("mfaToken" = [])),
    responses(
        (status = 200, description = "Signed in at `aal: 2`: the AuthResponse, with the token \
            cookies set when enabled.", body = AuthResponse,
            headers(("Set-Cookie" = String, description = "When cookies are enabled (the \
                default): the access and refresh tokens, `HttpOnly; Secure; SameSite=Strict`."))),
        (status = 400, description = errors::BAD_REQUEST, body = ErrorResponse),
        (status = 401, description = "`invalid_code` (wrong or spent), or `invalid_token`.",
            body = ErrorResponse),
        (status = 409, description = "`mfa_not_enabled`.", body = ErrorResponse),
        (status = 413, description = errors::TOO_LARGE, body = ErrorResponse),
        (status = 415, description = errors::UNSUPPORTED, body = ErrorResponse),
        (status = 429, description = "`rate_limited`: five wrong codes for this mfa_token or \
            account within 15 minutes.", body = ErrorResponse,
            headers(("Retry-After" = u32, description = "Seconds until the window ends."))),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ))]
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

/// `POST /auth/mfa/disable`: with a current code (or an `aal: 2` token); the secret and every
/// recovery code are deleted.
#[utoipa::path(post, path = "/auth/mfa/disable", operation_id = "disableMfa", tag = "mfa",
    summary = "Turn MFA off",
    description = "With a current TOTP code, or without one from a caller at `aal: 2`. The \
        secret and every recovery code are deleted. A security email is sent.",
    request_body(content = Option<OptionalCodeBody>),
    security(("bearerAuth" = []), ("cookieAuth" = [], "csrfToken" = [])),
    responses(
        (status = 200, description = "MFA is off.", body = SuccessMessage),
        (status = 401, description = "`invalid_code`, `code_already_used`, or the caller's \
            `authentication_required` / `invalid_token`.", body = ErrorResponse),
        (status = 403, description = "`second_factor_required` (no code, and a token at \
            `aal: 1`), `insufficient_scope` (an API key), or `csrf_failed`.", body = ErrorResponse),
        (status = 409, description = "`mfa_not_enabled`, `conflict`.", body = ErrorResponse),
        (status = 413, description = errors::TOO_LARGE, body = ErrorResponse),
        (status = 415, description = errors::UNSUPPORTED, body = ErrorResponse),
        (status = 429, description = errors::RATE_LIMITED, body = ErrorResponse,
            headers(("Retry-After" = u32, description = "Seconds until the window ends."))),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ))]
async fn disable(
    State(state): State<AppState>,
    caller: Caller,
    Client(client): Client,
    Json(body): Json<OptionalCodeBody>,
) -> Result<Json<SuccessMessage>> {
    caller.require_credential_scope()?;
    let code = body.code.map(CodeValue::into_string);
    mfa::disable(&state, &caller.claims, code.as_deref(), &client).await?;
    Ok(Json(SuccessMessage::new(
        "Two-factor authentication is off",
    )))
}

/// `POST /auth/mfa/recovery-codes` (`/regenerate`): a new set; the previous one is void.
#[utoipa::path(post, path = "/auth/mfa/recovery-codes", operation_id = "regenerateRecoveryCodes",
    tag = "mfa", summary = "A new set of recovery codes",
    description = "Needs a token at `aal: 2`. The previous set stops working.",
    security(("bearerAuth" = []), ("cookieAuth" = [], "csrfToken" = [])),
    responses(
        (status = 200, description = "The recovery codes, shown once.", body = RecoveryCodes),
        (status = 401, description = errors::UNAUTHORIZED, body = ErrorResponse),
        (status = 403, description = "`second_factor_required` (a token at `aal: 1`), \
            `insufficient_scope` (an API key), or `csrf_failed`.", body = ErrorResponse),
        (status = 409, description = "`mfa_not_enabled`, `conflict`.", body = ErrorResponse),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ))]
async fn regenerate(State(state): State<AppState>, caller: Caller) -> Result<Json<RecoveryCodes>> {
    caller.require_credential_scope()?;
    Ok(Json(
        mfa::regenerate_recovery_codes(&state, &caller.claims).await?,
    ))
}
