//! The `email-links` endpoint group: magic links (link or code), email verification, password
//! reset. HTTP glue only; the rules live in `latchkey::services::email_links`.
//!
//! Decisions API.md leaves open:
//! - A `redirect_url` not exactly on `LATCHKEY_REDIRECT_ALLOW_LIST` is ignored, not refused, so
//!   the answer is the same as without one.
//! - An unusable link (unknown, used, voided by a newer one, expired) answers
//!   `400 invalid_token`; a wrong or voided code answers `401 invalid_code`.
//! - `GET /auth/sign-in/token` answers `302` to the redirect stored with the magic link (cookies
//!   set) when there is one, else `200` AuthResponse.

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use latchkey::domain::emails::EmailAddress;
use latchkey::domain::sessions::SessionContext;
use latchkey::domain::users::User;
use latchkey::http::{Caller, Client, Json, cookies};
use latchkey::services::email_links::{self, MAGIC_LINK_SENT};
use latchkey::services::mfa::{self, SignInOutcome};
use latchkey::services::rate_limit::{self, Limit};
use latchkey::{AppState, Error, Result};
use serde::Deserialize;
use serde_json::json;

/// Every (method, path) this group serves, in axum's path syntax. `template.yaml` and the route
/// tests are checked against this list, so the three cannot drift apart.
pub const ROUTES: &[(&str, &str)] = &[
    ("POST", "/auth/magic-link"),
    ("POST", "/users/auth/magic-link/request"),
    ("POST", "/users/auth/magic-link/verify"),
    ("POST", "/auth/magic-link/verify"),
    ("GET", "/auth/sign-in/token"),
    ("POST", "/auth/send-verification"),
    ("GET", "/auth/verify-email"),
    ("POST", "/auth/verify-email"),
    ("POST", "/auth/forgot-password"),
    ("POST", "/auth/password-reset"),
    ("POST", "/auth/reset-password"),
];

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/auth/magic-link", post(request_magic_link))
        .route("/users/auth/magic-link/request", post(request_magic_link))
        .route("/users/auth/magic-link/verify", post(verify_magic_code))
        .route("/auth/magic-link/verify", post(verify_magic_code))
        .route("/auth/sign-in/token", get(sign_in_with_token))
        .route("/auth/send-verification", post(send_verification))
        .route(
            "/auth/verify-email",
            get(verify_email_from_link).post(verify_email),
        )
        .route("/auth/forgot-password", post(forgot_password))
        .route("/auth/password-reset", post(forgot_password))
        .route("/auth/reset-password", post(reset_password))
        .with_state(state)
}

/// A request that mails a link: the address, and where the link should lead (if allow-listed).
#[derive(Deserialize)]
struct MailLinkRequest {
    email: String,
    #[serde(default, alias = "redirect_to", alias = "redirectUrl")]
    redirect_url: Option<String>,
}

async fn request_magic_link(
    State(state): State<AppState>,
    Client(client): Client,
    Json(body): Json<MailLinkRequest>,
) -> Result<Response> {
    limit_client(&state, email_links::MAIL_REQUESTS_PER_CLIENT, &client).await?;
    let email = EmailAddress::parse(&body.email)?;
    email_links::request_magic_link(&state, &email, body.redirect_url.as_deref()).await?;
    Ok(Json(json!({ "success": true, "message": MAGIC_LINK_SENT })).into_response())
}

#[derive(Deserialize)]
struct MagicCode {
    email: String,
    code: CodeValue,
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

async fn verify_magic_code(
    State(state): State<AppState>,
    Client(client): Client,
    Json(body): Json<MagicCode>,
) -> Result<Response> {
    limit_client(&state, email_links::REDEMPTIONS_PER_CLIENT, &client).await?;
    let email = EmailAddress::parse(&body.email)?;
    let user = email_links::redeem_magic_code(&state, &email, &body.code.into_string()).await?;
    sign_in(&state, user, &client, None).await
}

#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

fn token_from(query: Result<Query<TokenQuery>, QueryRejection>) -> Result<String> {
    let Query(query) =
        query.map_err(|_| Error::bad_request("The query string could not be read"))?;
    query
        .token
        .filter(|token| !token.trim().is_empty())
        .ok_or_else(|| Error::invalid_field("token", "is required"))
}

async fn sign_in_with_token(
    State(state): State<AppState>,
    Client(client): Client,
    query: Result<Query<TokenQuery>, QueryRejection>,
) -> Result<Response> {
    limit_client(&state, email_links::REDEMPTIONS_PER_CLIENT, &client).await?;
    let token = token_from(query)?;
    let signed_in = email_links::redeem_magic_link(&state, &token).await?;
    sign_in(&state, signed_in.user, &client, signed_in.redirect).await
}

#[derive(Deserialize)]
struct SendVerification {
    #[serde(default)]
    email: Option<String>,
}

async fn send_verification(
    State(state): State<AppState>,
    caller: Caller,
    Client(client): Client,
    Json(body): Json<SendVerification>,
) -> Result<Response> {
    limit_client(&state, email_links::MAIL_REQUESTS_PER_CLIENT, &client).await?;
    let email = body.email.as_deref().map(EmailAddress::parse).transpose()?;
    email_links::send_verification(&state, caller.user_id(), email.as_ref()).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "success": true, "message": "Verification email sent" })),
    )
        .into_response())
}

#[derive(Deserialize)]
struct TokenBody {
    token: String,
}

async fn verify_email_from_link(
    State(state): State<AppState>,
    Client(client): Client,
    query: Result<Query<TokenQuery>, QueryRejection>,
) -> Result<Response> {
    limit_client(&state, email_links::REDEMPTIONS_PER_CLIENT, &client).await?;
    let token = token_from(query)?;
    email_verified(&state, &token).await
}

async fn verify_email(
    State(state): State<AppState>,
    Client(client): Client,
    Json(body): Json<TokenBody>,
) -> Result<Response> {
    limit_client(&state, email_links::REDEMPTIONS_PER_CLIENT, &client).await?;
    email_verified(&state, &body.token).await
}

async fn email_verified(state: &AppState, token: &str) -> Result<Response> {
    let user = email_links::verify_email(state, token).await?;
    Ok(Json(json!({
        "success": true,
        "message": "Email verified",
        "email": user.email,
        "email_verified": user.email_verified,
    }))
    .into_response())
}

async fn forgot_password(
    State(state): State<AppState>,
    Client(client): Client,
    Json(body): Json<MailLinkRequest>,
) -> Result<Response> {
    limit_client(&state, email_links::MAIL_REQUESTS_PER_CLIENT, &client).await?;
    let email = EmailAddress::parse(&body.email)?;
    email_links::forgot_password(&state, &email, body.redirect_url.as_deref()).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "success": true }))).into_response())
}

#[derive(Deserialize)]
struct ResetPassword {
    token: String,
    #[serde(alias = "password")]
    new_password: String,
}

async fn reset_password(
    State(state): State<AppState>,
    Client(client): Client,
    Json(body): Json<ResetPassword>,
) -> Result<Response> {
    limit_client(&state, email_links::REDEMPTIONS_PER_CLIENT, &client).await?;
    email_links::reset_password(&state, &body.token, body.new_password).await?;
    Ok(Json(json!({
        "success": true,
        "message": "Password has been reset; sign in with the new password"
    }))
    .into_response())
}

/// The methods a magic link or its code proves.
const EMAIL_LINK_AMR: &[&str] = &["email_link"];

/// Count the request against a per-client-address limit; `429` with `Retry-After` over it.
async fn limit_client(state: &AppState, limit: Limit, client: &SessionContext) -> Result<()> {
    rate_limit::hit(state, limit, &client.ip).await
}

/// Finish the sign-in through the MFA step and answer: the AuthResponse (or the `mfa_token`) as JSON with the token
/// cookies, or, for a magic link stored with a redirect, `302` there with the cookies.
async fn sign_in(
    state: &AppState,
    user: User,
    client: &SessionContext,
    redirect: Option<String>,
) -> Result<Response> {
    let outcome = mfa::finish_sign_in(state, &user, EMAIL_LINK_AMR, client).await?;
    let now = state.clock.unix();
    match (outcome, redirect) {
        (SignInOutcome::Authenticated(body), None) => Ok(cookies::auth_response(
            &state.config,
            now,
            StatusCode::OK,
            body,
        )),
        (SignInOutcome::Authenticated(body), Some(redirect)) => {
            let mut response = cookies::auth_response(&state.config, now, StatusCode::FOUND, body);
            // The tokens travel in the cookies only; the body of a redirect is never read.
            *response.body_mut() = axum::body::Body::empty();
            response.headers_mut().remove(header::CONTENT_TYPE);
            response.headers_mut().remove(header::CONTENT_LENGTH);
            let location = HeaderValue::from_str(&redirect)
                .map_err(|_| Error::internal("an allow-listed redirect is not a header value"))?;
            response.headers_mut().insert(header::LOCATION, location);
            Ok(response)
        }
        // The second factor is answered as JSON whatever the redirect: the client must ask for it.
        (SignInOutcome::MfaRequired(challenge), _) => Ok(Json(challenge).into_response()),
    }
}
