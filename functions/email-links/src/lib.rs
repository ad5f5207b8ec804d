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
//! - Browsers get pages (`latchkey::http::pages`) on the same paths: the emailed `GET` links
//!   answer HTML when `Accept` names `text/html` (signed in with cookies, never a token on the
//!   page), and `GET /auth/reset-password` is the reset form, which posts a form (CSRF token in a
//!   field) to `POST /auth/reset-password`; JSON clients are answered as before.

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequest, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use latchkey::domain::emails::EmailAddress;
use latchkey::domain::sessions::SessionContext;
use latchkey::domain::users::User;
use latchkey::http::answers::{ErrorResponse, SignedIn, Success, SuccessMessage, errors};
use latchkey::http::{Caller, Client, Json, Routes, alias, cookies, csrf, pages};
use latchkey::services::email_links::{self, MAGIC_LINK_SENT};
use latchkey::services::mfa::{self, SignInOutcome};
use latchkey::services::rate_limit::{self, Limit};
use latchkey::{AppState, Error, Result};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::routes;

/// Every route this group serves, each declared once (see `latchkey::http::routes`); aliases
/// are the same handler at another path.
pub fn routes() -> Routes {
    Routes::new()
        .declare_aliased(
            routes!(request_magic_link),
            &[alias(
                "/users/auth/magic-link/request",
                "usersRequestMagicLink",
            )],
        )
        .declare_aliased(
            routes!(verify_magic_code),
            &[alias("/auth/magic-link/verify", "verifyMagicCode")],
        )
        .declare(routes!(sign_in_with_token))
        .declare(routes!(send_verification))
        .declare(routes!(verify_email_from_link, verify_email))
        .declare_aliased(
            routes!(forgot_password),
            &[alias("/auth/password-reset", "passwordReset")],
        )
        .declare(routes!(reset_password_page, reset_password))
}

pub fn router(state: AppState) -> Router {
    routes().router(state)
}

/// A request that mails a link: the address, and where the link should lead (if allow-listed).
#[derive(Deserialize, ToSchema)]
struct MailLinkRequest {
    #[schema(format = Email)]
    email: String,
    /// Where to send the user after the link (for a password reset: the reset page, which gets
    /// `token` added to its query): kept only when exactly on `LATCHKEY_REDIRECT_ALLOW_LIST`,
    /// otherwise ignored (not refused). `redirect_to` and `redirectUrl` are accepted as aliases.
    #[serde(default, alias = "redirect_to", alias = "redirectUrl")]
    redirect_url: Option<String>,
}

/// `POST /auth/magic-link` (`/users/auth/magic-link/request`).
#[utoipa::path(post, path = "/auth/magic-link", operation_id = "requestMagicLink",
    tag = "email-links", summary = "Email a magic link and a 6-digit code",
    request_body = MailLinkRequest,
    responses(
        (status = 200, description = "The same answer whether or not the email has an account.",
            body = SuccessMessage,
            example = json!({"success": true, "message": "Magic link sent to your email"})),
        (status = 400, description = errors::BAD_REQUEST, body = ErrorResponse),
        (status = 413, description = errors::TOO_LARGE, body = ErrorResponse),
        (status = 415, description = errors::UNSUPPORTED, body = ErrorResponse),
        (status = 429, description = "`rate_limited`: too many email requests from this client \
            address (30 per 15 minutes).", body = ErrorResponse,
            headers(("Retry-After" = u32, description = "Seconds until the window ends."))),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ))]
async fn request_magic_link(
    State(state): State<AppState>,
    Client(client): Client,
    Json(body): Json<MailLinkRequest>,
) -> Result<Response> {
    limit_client(&state, email_links::MAIL_REQUESTS_PER_CLIENT, &client).await?;
    let email = EmailAddress::parse(&body.email)?;
    email_links::request_magic_link(&state, &email, body.redirect_url.as_deref()).await?;
    Ok(Json(SuccessMessage::new(MAGIC_LINK_SENT)).into_response())
}

#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"email": "ada@example.com", "code": "042137"}))]
struct MagicCode {
    #[schema(format = Email)]
    email: String,
    code: CodeValue,
}

/// The 6-digit code from the email, as a string, or as a number by clients that parsed the
/// digits (leading zeros are restored).
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

/// `POST /users/auth/magic-link/verify` (`/auth/magic-link/verify`).
#[utoipa::path(post, path = "/users/auth/magic-link/verify", operation_id = "usersVerifyMagicCode",
    tag = "email-links", summary = "Sign in with an emailed code",
    request_body = MagicCode,
    responses(
        (status = 200, description = "Signed in: the AuthResponse (token cookies set when \
            enabled), or the MFA step.", body = SignedIn),
        (status = 400, description = errors::BAD_REQUEST, body = ErrorResponse),
        (status = 401, description = "`invalid_code`: the code is wrong, used, expired or \
            voided (by a newer link or by 5 wrong tries).", body = ErrorResponse),
        (status = 413, description = errors::TOO_LARGE, body = ErrorResponse),
        (status = 415, description = errors::UNSUPPORTED, body = ErrorResponse),
        (status = 429, description = "`rate_limited`: too many redemptions from this client \
            address (60 per 15 minutes).", body = ErrorResponse,
            headers(("Retry-After" = u32, description = "Seconds until the window ends."))),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ))]
async fn verify_magic_code(
    State(state): State<AppState>,
    Client(client): Client,
    Json(body): Json<MagicCode>,
) -> Result<Response> {
    limit_client(&state, email_links::REDEMPTIONS_PER_CLIENT, &client).await?;
    let email = EmailAddress::parse(&body.email)?;
    let user = email_links::redeem_magic_code(&state, &email, &body.code.into_string()).await?;
    sign_in(&state, user, &client, None, false).await
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

/// `GET /auth/sign-in/token?token=`: the magic link.
#[utoipa::path(get, path = "/auth/sign-in/token", operation_id = "signInWithToken",
    tag = "email-links", summary = "Sign in with the one-time token of a magic link",
    params(("token" = String, Query, description = "The one-time token from the emailed link. \
        Single-use, stored only as a hash, 15 minutes by default; issuing a newer one of the \
        same kind voids it.")),
    responses(
        (status = 200, description = "Signed in: the AuthResponse (token cookies set when \
            enabled), or the MFA step. With `Accept: text/html` (a browser opening the link): a \
            page saying \"You are signed in\" (cookies set, no token on the page), or that the \
            second factor is owed; a refused link is a page with the error's status.",
            content((SignedIn = "application/json"), (String = "text/html"))),
        (status = 302, description = "Signed in; redirected to the URL stored with the link, \
            with the token cookies set. The tokens travel in the cookies only.",
            headers(("Location" = String, description = "The allow-listed redirect."))),
        (status = 400, description = "`invalid_request` with `field: token`: no token in the \
            query. `invalid_token`: the link is unknown, used, voided by a newer one, or \
            expired.", body = ErrorResponse),
        (status = 429, description = "`rate_limited`: too many redemptions from this client \
            address (60 per 15 minutes).", body = ErrorResponse,
            headers(("Retry-After" = u32, description = "Seconds until the window ends."))),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ))]
async fn sign_in_with_token(
    State(state): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    query: Result<Query<TokenQuery>, QueryRejection>,
) -> Result<Response> {
    let page = pages::wants_html(&headers);
    let answer = async {
        limit_client(&state, email_links::REDEMPTIONS_PER_CLIENT, &client).await?;
        let token = token_from(query)?;
        let signed_in = email_links::redeem_magic_link(&state, &token).await?;
        sign_in(&state, signed_in.user, &client, signed_in.redirect, page).await
    }
    .await;
    or_page(&state, page, answer)
}

/// For a browser, a refusal is a page too (logged as the JSON answer would be).
fn or_page(state: &AppState, page: bool, answer: Result<Response>) -> Result<Response> {
    match answer {
        Err(error) if page => {
            error.log();
            Ok(pages::refused(&state.config, &error))
        }
        answer => answer,
    }
}

#[derive(Deserialize, ToSchema)]
struct SendVerification {
    /// Must be the caller's address when given.
    #[serde(default)]
    #[schema(format = Email)]
    email: Option<String>,
}

/// `POST /auth/send-verification`.
#[utoipa::path(post, path = "/auth/send-verification", operation_id = "sendVerification",
    tag = "email-links", summary = "Email a link that verifies the caller's address",
    request_body(content = Option<SendVerification>),
    security(("bearerAuth" = []), ("apiKeyHeader" = []), ("cookieAuth" = [], "csrfToken" = [])),
    responses(
        (status = 202, description = "The verification email is on its way (or not needed).",
            body = SuccessMessage,
            example = json!({"success": true, "message": "Verification email sent"})),
        (status = 400, description = "`invalid_request` with `field: email`: not a valid \
            address, or not the address of this account.", body = ErrorResponse),
        (status = 401, description = errors::UNAUTHORIZED, body = ErrorResponse),
        (status = 403, description = errors::CSRF, body = ErrorResponse),
        (status = 413, description = errors::TOO_LARGE, body = ErrorResponse),
        (status = 415, description = errors::UNSUPPORTED, body = ErrorResponse),
        (status = 429, description = "`rate_limited`: too many email requests from this client \
            address (30 per 15 minutes).", body = ErrorResponse,
            headers(("Retry-After" = u32, description = "Seconds until the window ends."))),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ))]
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
        Json(SuccessMessage::new("Verification email sent")),
    )
        .into_response())
}

#[derive(Deserialize, ToSchema)]
struct TokenBody {
    token: String,
}

/// `GET /auth/verify-email?token=`: the emailed link.
#[utoipa::path(get, path = "/auth/verify-email", operation_id = "verifyEmailFromLink",
    tag = "email-links", summary = "Verify an address from the emailed link",
    params(("token" = String, Query, description = "The one-time token from the emailed link.")),
    responses(
        (status = 200, description = "The address is verified. With `Accept: text/html`: a page \
            saying so (a refused link is a page with the error's status).",
            content((EmailVerified = "application/json"), (String = "text/html"))),
        (status = 400, description = "`invalid_request` with `field: token`: no token in the \
            query. `invalid_token`: the link is unknown, used, voided by a newer one, or \
            expired.", body = ErrorResponse),
        (status = 429, description = errors::RATE_LIMITED, body = ErrorResponse,
            headers(("Retry-After" = u32, description = "Seconds until the window ends."))),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ))]
async fn verify_email_from_link(
    State(state): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    query: Result<Query<TokenQuery>, QueryRejection>,
) -> Result<Response> {
    let page = pages::wants_html(&headers);
    let answer = async {
        limit_client(&state, email_links::REDEMPTIONS_PER_CLIENT, &client).await?;
        let token = token_from(query)?;
        if !page {
            return email_verified(&state, &token).await;
        }
        let user = email_links::verify_email(&state, &token).await?;
        let detail = format!("{} is confirmed. You can close this page.", user.email);
        Ok(pages::message(
            &state.config,
            StatusCode::OK,
            "Email verified",
            "Your email address is verified.",
            Some(&detail),
            false,
        ))
    }
    .await;
    or_page(&state, page, answer)
}

/// `POST /auth/verify-email`.
#[utoipa::path(post, path = "/auth/verify-email", operation_id = "verifyEmail",
    tag = "email-links", summary = "Verify an address with the emailed token",
    request_body = TokenBody,
    responses(
        (status = 200, description = "The address is verified.", body = EmailVerified),
        (status = 400, description = "`invalid_request`: malformed body. `invalid_token`: the \
            token is unknown, used, voided by a newer one, or expired.", body = ErrorResponse),
        (status = 413, description = errors::TOO_LARGE, body = ErrorResponse),
        (status = 415, description = errors::UNSUPPORTED, body = ErrorResponse),
        (status = 429, description = errors::RATE_LIMITED, body = ErrorResponse,
            headers(("Retry-After" = u32, description = "Seconds until the window ends."))),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ))]
async fn verify_email(
    State(state): State<AppState>,
    Client(client): Client,
    Json(body): Json<TokenBody>,
) -> Result<Response> {
    limit_client(&state, email_links::REDEMPTIONS_PER_CLIENT, &client).await?;
    email_verified(&state, &body.token).await
}

#[derive(Serialize, ToSchema)]
struct EmailVerified {
    #[schema(schema_with = latchkey::http::answers::always_true)]
    success: bool,
    #[schema(examples("Email verified"))]
    message: &'static str,
    #[schema(format = Email)]
    email: String,
    email_verified: bool,
}

async fn email_verified(state: &AppState, token: &str) -> Result<Response> {
    let user = email_links::verify_email(state, token).await?;
    Ok(Json(EmailVerified {
        success: true,
        message: "Email verified",
        email: user.email,
        email_verified: user.email_verified,
    })
    .into_response())
}

/// `POST /auth/forgot-password` (`/auth/password-reset`).
#[utoipa::path(post, path = "/auth/forgot-password", operation_id = "forgotPassword",
    tag = "email-links", summary = "Email a password-reset link",
    request_body = MailLinkRequest,
    responses(
        (status = 202, description = "The same answer whether or not the email has an account.",
            body = Success),
        (status = 400, description = errors::BAD_REQUEST, body = ErrorResponse),
        (status = 413, description = errors::TOO_LARGE, body = ErrorResponse),
        (status = 415, description = errors::UNSUPPORTED, body = ErrorResponse),
        (status = 429, description = "`rate_limited`: too many email requests from this client \
            address (30 per 15 minutes).", body = ErrorResponse,
            headers(("Retry-After" = u32, description = "Seconds until the window ends."))),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ))]
async fn forgot_password(
    State(state): State<AppState>,
    Client(client): Client,
    Json(body): Json<MailLinkRequest>,
) -> Result<Response> {
    limit_client(&state, email_links::MAIL_REQUESTS_PER_CLIENT, &client).await?;
    let email = EmailAddress::parse(&body.email)?;
    email_links::forgot_password(&state, &email, body.redirect_url.as_deref()).await?;
    Ok((StatusCode::ACCEPTED, Json(Success::new())).into_response())
}

#[derive(Deserialize, ToSchema)]
struct ResetPassword {
    /// The token from the reset link.
    token: String,
    /// Checked against the password policy. `password` is accepted as an alias.
    #[serde(alias = "password")]
    new_password: String,
}

/// The reset form as a browser posts it.
#[derive(Deserialize, ToSchema)]
struct ResetPasswordForm {
    token: String,
    new_password: String,
    /// The CSRF token the form page put in a hidden field (bound to its `csrf` cookie).
    csrf_token: String,
}

/// `GET /auth/reset-password?token=`: the page the emailed reset link opens.
#[utoipa::path(get, path = "/auth/reset-password", operation_id = "resetPasswordPage",
    tag = "email-links", summary = "The reset-password page (HTML form) the emailed link opens",
    params(("token" = String, Query, description = "The one-time token from the emailed link.")),
    responses(
        (status = 200, description = "The form: a new password, posted (with a CSRF token bound \
            to the `csrf` cookie set here) to `POST /auth/reset-password`.",
            content_type = "text/html", body = String,
            headers(("Set-Cookie" = String, description = "The `csrf` cookie."))),
        (status = 400, description = "A page: the link is missing, unknown, used or expired.",
            content_type = "text/html", body = String),
        (status = 429, description = "A page: too many tries from this client address.",
            content_type = "text/html", body = String),
    ))]
async fn reset_password_page(
    State(state): State<AppState>,
    Client(client): Client,
    query: Result<Query<TokenQuery>, QueryRejection>,
) -> Result<Response> {
    let answer = async {
        limit_client(&state, email_links::REDEMPTIONS_PER_CLIENT, &client).await?;
        let token = token_from(query)?;
        email_links::check_reset_link(&state, &token).await?;
        Ok(reset_form(&state, StatusCode::OK, &token, None))
    }
    .await;
    or_page(&state, true, answer)
}

/// The form, with a fresh CSRF cookie and its token in a hidden field.
fn reset_form(state: &AppState, status: StatusCode, token: &str, error: Option<&str>) -> Response {
    let secret = csrf::new_secret(state.random.as_ref());
    let page = pages::render(
        &state.config,
        status,
        "pages/reset_password.html.j2",
        minijinja::context! {
            title => "Choose a new password",
            token => token,
            csrf_token => csrf::token_for(&state.config, &secret),
            min_length => state.config.password_min_length,
            error => error,
        },
    );
    cookies::with_cookie(page, csrf::cookie(&state.config, &secret))
}

/// `POST /auth/reset-password` from the form page: the outcome as a page.
async fn reset_password_from_form(
    state: &AppState,
    client: &SessionContext,
    request: Request,
) -> Result<Response> {
    let headers = request.headers().clone();
    let bytes = axum::body::Bytes::from_request(request, state)
        .await
        .map_err(|_| Error::bad_request("The form could not be read"))?;
    let form: ResetPasswordForm = serde_urlencoded::from_bytes(&bytes)
        .map_err(|_| Error::bad_request("The form is incomplete"))?;
    csrf::verify_form(&state.config, &headers, &form.csrf_token)?;
    limit_client(state, email_links::REDEMPTIONS_PER_CLIENT, client).await?;
    match email_links::reset_password(state, &form.token, form.new_password).await {
        Ok(()) => Ok(pages::message(
            &state.config,
            StatusCode::OK,
            "Password changed",
            "Your password has been reset.",
            Some("Sign in with the new password. Every other session has been signed out."),
            false,
        )),
        // A weak password keeps the link: the form again, the reason next to the field.
        Err(error) if error.code == latchkey::error::ErrorCode::WeakPassword => {
            error.log();
            Ok(reset_form(
                state,
                StatusCode::BAD_REQUEST,
                &form.token,
                Some(&error.message),
            ))
        }
        Err(error) => Err(error),
    }
}

/// `POST /auth/reset-password`.
#[utoipa::path(post, path = "/auth/reset-password", operation_id = "resetPassword",
    tag = "email-links", summary = "Set a new password with the emailed token",
    request_body(content((ResetPassword = "application/json"),
        (ResetPasswordForm = "application/x-www-form-urlencoded")),
        description = "JSON from an API client; a form from the reset page (answered with a \
            page: the outcome, or the form again with the error next to the field)."),
    responses(
        (status = 200, description = "The password is reset.", body = SuccessMessage,
            example = json!({"success": true,
                "message": "Password has been reset; sign in with the new password"})),
        (status = 400, description = "`invalid_request`: malformed body. `invalid_token`: the \
            token is unknown, used, voided by a newer one, or expired. `weak_password`: the new \
            password fails the policy (the token is not spent).", body = ErrorResponse),
        (status = 409, description = errors::CONFLICT, body = ErrorResponse),
        (status = 413, description = errors::TOO_LARGE, body = ErrorResponse),
        (status = 415, description = errors::UNSUPPORTED, body = ErrorResponse),
        (status = 429, description = "`rate_limited`: too many redemptions from this client \
            address (60 per 15 minutes).", body = ErrorResponse,
            headers(("Retry-After" = u32, description = "Seconds until the window ends."))),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ))]
async fn reset_password(
    State(state): State<AppState>,
    Client(client): Client,
    request: Request,
) -> Result<Response> {
    if pages::is_form(request.headers()) {
        let answer = reset_password_from_form(&state, &client, request).await;
        return or_page(&state, true, answer);
    }
    let Json(body) = Json::<ResetPassword>::from_request(request, &state).await?;
    limit_client(&state, email_links::REDEMPTIONS_PER_CLIENT, &client).await?;
    email_links::reset_password(&state, &body.token, body.new_password).await?;
    Ok(Json(SuccessMessage::new(
        "Password has been reset; sign in with the new password",
    ))
    .into_response())
}

/// The methods a magic link or its code proves.
const EMAIL_LINK_AMR: &[&str] = &["email_link"];

/// Count the request against a per-client-address limit; `429` with `Retry-After` over it.
async fn limit_client(state: &AppState, limit: Limit, client: &SessionContext) -> Result<()> {
    Ok(rate_limit::hit(state, limit, &client.ip).await?)
}

/// Finish the sign-in through the MFA step and answer: the AuthResponse (or the `mfa_token`) as JSON with the token
/// cookies, or, for a magic link stored with a redirect, `302` there with the cookies.
async fn sign_in(
    state: &AppState,
    user: User,
    client: &SessionContext,
    redirect: Option<String>,
    page: bool,
) -> Result<Response> {
    let outcome = mfa::finish_sign_in(state, &user, EMAIL_LINK_AMR, client).await?;
    let now = state.clock.unix();
    match (outcome, redirect) {
        // A browser without a redirect: the cookies, and a page that shows no token.
        (SignInOutcome::Authenticated(body), None) if page => Ok(pages::signed_in(
            &state.config,
            now,
            body,
            "You can close this page and go back to the app.",
        )),
        (SignInOutcome::MfaRequired(_), _) if page => Ok(pages::second_factor_owed(&state.config)),
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
