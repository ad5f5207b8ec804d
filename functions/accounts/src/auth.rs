//! Sign-up, sign-in, refresh and logout.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use latchkey::domain::emails::EmailAddress;
use latchkey::domain::users::display_name;
use latchkey::http::{Caller, Client, Json, cookies, csrf};
use latchkey::services::accounts::{self, SignInOutcome, SignUp};
use latchkey::services::sessions;
use latchkey::{AppState, Error, Result};
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
pub struct SignUpBody {
    email: String,
    password: String,
    #[serde(default)]
    name: Option<String>,
}

/// `POST /auth/sign-up` (`/auth/register`): `201` AuthResponse.
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

#[derive(Deserialize)]
pub struct SignInBody {
    email: String,
    password: String,
}

/// `POST /auth/sign-in` (`/auth/login`): `200` AuthResponse, or the MFA step.
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

#[derive(Deserialize)]
pub struct RefreshBody {
    #[serde(default)]
    refresh_token: Option<String>,
}

/// `POST /auth/refresh`: the token from the body, else from the refresh cookie (then, as for any
/// cookie-authenticated write, with a CSRF token).
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
pub async fn logout(State(state): State<AppState>, caller: Caller) -> Result<Response> {
    sessions::revoke(&state, caller.user_id(), caller.session_id()).await?;
    let body = Json(json!({"success": true, "message": "Logged out successfully"}));
    Ok(cookies::clear_auth_cookies(
        &state.config,
        body.into_response(),
    ))
}
