//! Sign-in discovery (seed 002): whether an email has an account, and which methods are enabled.

use axum::extract::State;
use latchkey::domain::emails::EmailAddress;
use latchkey::http::{Client, Json};
use latchkey::services::accounts::{self, EmailCheck};
use latchkey::{AppState, Error, Result};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
pub struct CheckEmailBody {
    email: String,
}

/// `POST /auth/check-email`: `{exists, methods}`; rate-limited per client address; `404` when
/// disabled by configuration.
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

/// `GET, POST /auth/login-methods`: the enabled ways to sign in, with absolute URLs built from the
/// configured public URL (never the request's Host).
pub async fn login_methods(State(state): State<AppState>) -> Json<Value> {
    let base = &state.config.public_url;
    Json(json!({
        "methods": [
            {"type": "password", "submit_url": format!("{base}/auth/sign-in")},
            {"type": "magic_link", "submit_url": format!("{base}/auth/magic-link")},
        ]
    }))
}
