//! Sign-in discovery (seed 002): whether an email has an account, and which methods are enabled.

use axum::extract::State;
use latchkey::domain::emails::EmailAddress;
use latchkey::http::answers::{ErrorResponse, errors};
use latchkey::http::{Client, Json};
use latchkey::services::accounts::{self, EmailCheck};
use latchkey::{AppState, Error, Result};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
pub struct CheckEmailBody {
    #[schema(format = Email)]
    email: String,
}

/// `POST /auth/check-email`: `{exists, methods}`; rate-limited per client address; `404` when
/// disabled by configuration.
#[utoipa::path(post, path = "/auth/check-email", operation_id = "checkEmail", tag = "accounts",
    summary = "Whether an email has an account, and how it signs in",
    request_body = CheckEmailBody,
    responses(
        (status = 200, description = "Whether the account exists; `methods` is empty when it \
            does not.", body = EmailCheck),
        (status = 400, description = errors::BAD_REQUEST, body = ErrorResponse),
        (status = 404, description = "`not_found`: the endpoint is disabled by configuration.",
            body = ErrorResponse),
        (status = 413, description = errors::TOO_LARGE, body = ErrorResponse),
        (status = 415, description = errors::UNSUPPORTED, body = ErrorResponse),
        (status = 429, description = "`rate_limited`: over 20 calls per minute from this client \
            address.", body = ErrorResponse,
            headers(("Retry-After" = u32, description = "Seconds until the window ends."))),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ))]
pub async fn check_email(
    State(state): State<AppState>,
    Client(client): Client,
    Json(body): Json<CheckEmailBody>,
) -> Result<Json<EmailCheck>> {
    if !state.config.check_email_enabled {
        return Err(Error::not_found("No such endpoint"));
    }
    let email = EmailAddress::parse(&body.email)?;
    Ok(Json(accounts::check_email(&state, &email, &client).await?))
}

/// The enabled ways to sign in.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"methods": [
    {"type": "password", "submit_url": "https://auth.example.com/auth/sign-in"},
    {"type": "magic_link", "submit_url": "https://auth.example.com/auth/magic-link"},
    {"type": "oauth", "provider": "google",
     "authorize_url": "https://auth.example.com/auth/google/login",
     "callback_url": "https://auth.example.com/auth/google/callback"},
]}))]
pub struct LoginMethods {
    methods: Vec<LoginMethod>,
}

#[derive(Serialize, ToSchema)]
pub struct LoginMethod {
    /// `password`, `magic_link`, `oauth` or `passkey`.
    #[serde(rename = "type")]
    #[schema(value_type = String)]
    kind: &'static str,
    /// Where to POST (`password`, `magic_link`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = "uri")]
    submit_url: Option<String>,
    /// The provider's name (`oauth`): `google`, `github` or a configured OIDC provider.
    #[serde(skip_serializing_if = "Option::is_none")]
    provider: Option<String>,
    /// Where the browser starts the provider's sign-in (`oauth`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = "uri")]
    authorize_url: Option<String>,
    /// The redirect URI to register with the provider (`oauth`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = "uri")]
    callback_url: Option<String>,
    /// Where to POST for a WebAuthn assertion challenge (`passkey`; the passkeys group).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = "uri")]
    challenge_url: Option<String>,
}

impl LoginMethod {
    fn submit(kind: &'static str, submit_url: String) -> Self {
        Self {
            kind,
            submit_url: Some(submit_url),
            provider: None,
            authorize_url: None,
            callback_url: None,
            challenge_url: None,
        }
    }
}

/// `GET /auth/login-methods`: the enabled ways to sign in, with absolute URLs built from the
/// configured public URL (never the request's Host).
#[utoipa::path(get, path = "/auth/login-methods", operation_id = "getLoginMethods",
    tag = "accounts", summary = "The enabled ways to sign in",
    responses((status = 200, description = "The enabled sign-in methods.", body = LoginMethods)))]
pub async fn login_methods(State(state): State<AppState>) -> Json<LoginMethods> {
    let base = &state.config.public_url;
    let mut methods = vec![
        LoginMethod::submit("password", format!("{base}/auth/sign-in")),
        LoginMethod::submit("magic_link", format!("{base}/auth/magic-link")),
    ];
    // Each enabled social login provider (the oauth group serves them).
    methods.extend(
        state
            .config
            .oauth
            .names()
            .into_iter()
            .map(|name| LoginMethod {
                kind: "oauth",
                submit_url: None,
                provider: Some(name.to_owned()),
                authorize_url: Some(format!("{base}/auth/{name}/login")),
                callback_url: Some(format!("{base}/auth/{name}/callback")),
                challenge_url: None,
            }),
    );
    // Passkeys are always on: their relying party comes from the public URL by default.
    methods.push(LoginMethod {
        kind: "passkey",
        submit_url: None,
        provider: None,
        authorize_url: None,
        callback_url: None,
        challenge_url: Some(format!("{base}/auth/passkeys/login-challenge")),
    });
    Json(LoginMethods { methods })
}

/// `POST /auth/login-methods`: the same answer, for clients that POST.
#[utoipa::path(post, path = "/auth/login-methods", operation_id = "postLoginMethods",
    tag = "accounts", summary = "The enabled ways to sign in (POST form)",
    responses((status = 200, description = "The enabled sign-in methods.", body = LoginMethods)),
    extensions(("x-alias-of" = json!("getLoginMethods"))))]
pub async fn login_methods_post(state: State<AppState>) -> Json<LoginMethods> {
    login_methods(state).await
}
