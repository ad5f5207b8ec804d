//! Sign-up, sign-in, refresh and logout.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use latchkey::domain::emails::EmailAddress;
use latchkey::domain::users::display_name;
use latchkey::http::answers::{ErrorResponse, SignedIn, SuccessMessage, errors};
use latchkey::http::{Caller, Client, Json, cookies, csrf};
use latchkey::services::accounts::{self, SignInOutcome, SignUp};
use latchkey::services::sessions::{self, AuthResponse};
use latchkey::{AppState, Error, Result};
use serde::Deserialize;
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"email": "ada@example.com", "password": "correct horse battery staple", "name": "Ada Lovelace"}))]
pub struct SignUpBody {
    #[schema(format = Email)]
    email: String,
    /// At least 10 characters by default (`LATCHKEY_PASSWORD_MIN_LENGTH`), at most 256 bytes,
    /// zxcvbn score 3 or more.
    password: String,
    /// Optional; without it, the email's local part. Trimmed; at most 200 characters are kept.
    #[serde(default)]
    name: Option<String>,
}

/// `POST /auth/sign-up` (`/auth/register`): `201` AuthResponse.
#[utoipa::path(post, path = "/auth/sign-up", operation_id = "signUp", tag = "accounts",
    summary = "Create an account",
    request_body = SignUpBody,
    responses(
        (status = 201, description = "The account is created and signed in: the AuthResponse, \
            with the token cookies set when enabled.", body = AuthResponse,
            headers(("Set-Cookie" = String, description = "When cookies are enabled (the default): \
                the access and refresh tokens as `__Host-access_token` and \
                `__Host-refresh_token`, `HttpOnly; Secure; SameSite=Strict; Path=/`, `Max-Age` \
                until each expires."))),
        (status = 400, description = "`invalid_request`: a field is missing, of the wrong type, \
            or the email is not valid (`field` names it). `weak_password`: the password fails \
            the policy.", body = ErrorResponse),
        (status = 409, description = "`email_taken`: an account with this email already exists.",
            body = ErrorResponse),
        (status = 413, description = errors::TOO_LARGE, body = ErrorResponse),
        (status = 415, description = errors::UNSUPPORTED, body = ErrorResponse),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ))]
pub async fn sign_up(
    State(state): State<AppState>,
    Client(client): Client,
    Json(body): Json<SignUpBody>,
) -> Result<Response> {
    let email = EmailAddress::parse(&body.email)?;
    let name = display_name(body.name.as_deref(), &email)?;
    let request = SignUp {
        email,
        name,
        password: body.password,
    };
    let response = accounts::sign_up(&state, request, &client).await?;
    Ok(cookies::auth_response(
        &state.config,
        state.clock.unix(),
        StatusCode::CREATED,
        response,
    ))
}

#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"email": "ada@example.com", "password": "correct horse battery staple"}))]
pub struct SignInBody {
    #[schema(format = Email)]
    email: String,
    password: String,
}

/// `POST /auth/sign-in` (`/auth/login`): `200` AuthResponse, or the MFA step.
#[utoipa::path(post, path = "/auth/sign-in", operation_id = "signIn", tag = "accounts",
    summary = "Sign in with email and password",
    request_body = SignInBody,
    responses(
        (status = 200, description = "The first factor passed: the AuthResponse (token cookies \
            set when enabled), or, when the user has MFA enabled, the MFA step (no tokens, no \
            cookies).", body = SignedIn,
            headers(("Set-Cookie" = String, description = "When cookies are enabled (the default): \
                the access and refresh tokens as `__Host-access_token` and \
                `__Host-refresh_token`, `HttpOnly; Secure; SameSite=Strict; Path=/`, `Max-Age` \
                until each expires."))),
        (status = 400, description = errors::BAD_REQUEST, body = ErrorResponse),
        (status = 401, description = "`invalid_credentials`: wrong email or password (the same \
            answer for both).", body = ErrorResponse),
        (status = 403, description = "`forbidden`: an operator disabled the account \
            (`latchkey users disable`).", body = ErrorResponse),
        (status = 413, description = errors::TOO_LARGE, body = ErrorResponse),
        (status = 415, description = errors::UNSUPPORTED, body = ErrorResponse),
        (status = 429, description = "`rate_limited`: too many failed sign-ins for this account \
            (10 per 15 minutes) or from this client address (50 per 15 minutes).",
            body = ErrorResponse,
            headers(("Retry-After" = u32, description = "Seconds until the window ends."))),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ))]
pub async fn sign_in(
    State(state): State<AppState>,
    Client(client): Client,
    Json(body): Json<SignInBody>,
) -> Result<Response> {
    let email = EmailAddress::parse(&body.email)?;
    match accounts::sign_in(&state, &email, body.password, &client).await? {
        SignInOutcome::Authenticated(response) => Ok(cookies::auth_response(
            &state.config,
            state.clock.unix(),
            StatusCode::OK,
            response,
        )),
        SignInOutcome::MfaRequired(challenge) => Ok(Json(challenge).into_response()),
    }
}

/// May be left out when the refresh cookie is sent (with `X-CSRF-Token`).
#[derive(Deserialize, ToSchema)]
pub struct RefreshBody {
    /// The refresh token; when absent or blank, the refresh cookie is used.
    #[serde(default)]
    refresh_token: Option<String>,
}

/// `POST /auth/refresh`: the token from the body, else from the refresh cookie (then, as for any
/// cookie-authenticated write, with a CSRF token).
#[utoipa::path(post, path = "/auth/refresh", operation_id = "refreshTokens", tag = "accounts",
    summary = "Exchange a refresh token for new tokens",
    request_body(content = Option<RefreshBody>,
        description = "May be left out when the refresh cookie is sent (with `X-CSRF-Token`)."),
    security((), ("refreshCookie" = [], "csrfToken" = [])),
    responses(
        (status = 200, description = "Signed in: the AuthResponse, with the token cookies set \
            when enabled.", body = AuthResponse,
            headers(("Set-Cookie" = String, description = "When cookies are enabled (the default): \
                the access and refresh tokens as `__Host-access_token` and \
                `__Host-refresh_token`, `HttpOnly; Secure; SameSite=Strict; Path=/`, `Max-Age` \
                until each expires."))),
        (status = 400, description = "`invalid_request` with `field: refresh_token`: no refresh \
            token in the body nor in the cookie.", body = ErrorResponse),
        (status = 401, description = "`invalid_token`: the refresh token is unknown, expired, \
            already used (the session is then revoked), or its session has ended.",
            body = ErrorResponse),
        (status = 403, description = errors::CSRF, body = ErrorResponse),
        (status = 413, description = errors::TOO_LARGE, body = ErrorResponse),
        (status = 415, description = errors::UNSUPPORTED, body = ErrorResponse),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ))]
pub async fn refresh(
    State(state): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    Json(body): Json<RefreshBody>,
) -> Result<Response> {
    let token = match body.refresh_token.filter(|t| !t.trim().is_empty()) {
        Some(token) => token,
        None => {
            let cookie_name = cookies::name(&state.config, cookies::REFRESH_COOKIE);
            let token = cookies::read(&headers, &cookie_name).ok_or_else(|| {
                Error::invalid_field("refresh_token", "is required (in the body or the cookie)")
            })?;
            csrf::verify(&state.config, &headers)?;
            token
        }
    };
    let response = sessions::refresh(&state, &token, &client).await?;
    Ok(cookies::auth_response(
        &state.config,
        state.clock.unix(),
        StatusCode::OK,
        response,
    ))
}

/// `POST /auth/logout` (`/users/logout`): ends the caller's session and clears the cookies.
#[utoipa::path(post, path = "/auth/logout", operation_id = "logout", tag = "accounts",
    summary = "End the caller's session",
    security(("bearerAuth" = []), ("apiKeyHeader" = []), ("cookieAuth" = [], "csrfToken" = [])),
    responses(
        (status = 200, description = "The session is revoked and the token cookies cleared.",
            body = SuccessMessage,
            headers(("Set-Cookie" = String, description = "When cookies are enabled: both token \
                cookies cleared (`Max-Age=0`).")),
            example = json!({"success": true, "message": "Logged out successfully"})),
        (status = 401, description = errors::UNAUTHORIZED, body = ErrorResponse),
        (status = 403, description = errors::CSRF, body = ErrorResponse),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ))]
pub async fn logout(State(state): State<AppState>, caller: Caller) -> Result<Response> {
    // An API key has no session to end; its cookies (none) are cleared all the same.
    if let Some(session_id) = caller.session() {
        sessions::revoke(&state, caller.user_id(), &session_id).await?;
        latchkey::audit::session_ended(caller.user_id(), &session_id, "logout");
    }
    let body = Json(SuccessMessage::new("Logged out successfully"));
    Ok(cookies::clear_auth_cookies(
        &state.config,
        body.into_response(),
    ))
}
