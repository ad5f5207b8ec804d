//! Who is calling: `Caller` for endpoints that need someone, `MaybeCaller` for those that answer
//! either way (`/users/auth/status`).
//!
//! Identity, in order: `Authorization: Bearer <access JWT | API key>`, `X-API-Key`, the access
//! token cookie. A JWT is verified by signature (no table round trip), then its session is read
//! so that logout, revocation and password changes stop it at once on our own endpoints.
//! Cookie-authenticated requests that change state must carry a valid `X-CSRF-Token`.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};

use crate::http::{cookies, csrf};
use crate::services::sessions;
use crate::services::tokens::{self, AccessClaims};
use crate::{AppState, Error, Result};

/// The prefix that marks an API key (seed 001).
pub const API_KEY_PREFIX: &str = "agnt_sk_";

/// How the caller presented their credentials.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CredentialSource {
    Bearer,
    ApiKey,
    Cookie,
}

/// An authenticated caller with a live session.
#[derive(Clone, Debug)]
pub struct Caller {
    pub claims: AccessClaims,
    pub source: CredentialSource,
}

impl Caller {
    pub fn user_id(&self) -> &str {
        &self.claims.sub
    }

    pub fn session_id(&self) -> &str {
        &self.claims.sid
    }
}

/// A caller if valid credentials came with the request; `None` for missing or invalid ones.
#[derive(Clone, Debug)]
pub struct MaybeCaller(pub Option<Caller>);

enum Presented {
    Jwt(String, CredentialSource),
    ApiKey(String),
}

/// The credentials a request presents, in the documented order; `Err(invalid_token)` for an
/// `Authorization` header that is not a bearer credential.
fn presented(state: &AppState, headers: &HeaderMap) -> Result<Option<Presented>> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let value = value
            .to_str()
            .map_err(|_| Error::invalid_token("The Authorization header is malformed"))?
            .trim();
        let (scheme, credential) = value.split_once(' ').unwrap_or((value, ""));
        let credential = credential.trim();
        if !scheme.eq_ignore_ascii_case("bearer") || credential.is_empty() {
            return Err(Error::invalid_token(
                "Use Authorization: Bearer <access token or API key>",
            ));
        }
        return Ok(Some(if credential.starts_with(API_KEY_PREFIX) {
            Presented::ApiKey(credential.to_owned())
        } else {
            Presented::Jwt(credential.to_owned(), CredentialSource::Bearer)
        }));
    }
    if let Some(key) = headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        return Ok(Some(Presented::ApiKey(key.trim().to_owned())));
    }
    let cookie = cookies::read(
        headers,
        &cookies::name(&state.config, cookies::ACCESS_COOKIE),
    );
    Ok(cookie.map(|token| Presented::Jwt(token, CredentialSource::Cookie)))
}

/// Authenticate an API key. API keys arrive with the api-keys group; until then every key is
/// refused as an invalid token.
async fn authenticate_api_key(_state: &AppState, _key: &str) -> Result<Caller> {
    Err(Error::invalid_token("The API key is not valid"))
}

/// Verify an access token and that its session is still live.
pub async fn authenticate_jwt(
    state: &AppState,
    token: &str,
    source: CredentialSource,
) -> Result<Caller> {
    // An `mfa_token` (`typ: mfa+jwt`, its own audience) fails here: only the two MFA verify
    // endpoints read it, through `tokens::verify_mfa_token`.
    let claims = tokens::verify(state, token).await?;
    if sessions::find(state, &claims.sub, &claims.sid)
        .await?
        .is_none()
    {
        return Err(Error::invalid_token("The session has ended"));
    }
    Ok(Caller { claims, source })
}

async fn authenticate(state: &AppState, parts: &Parts) -> Result<Caller> {
    let caller = match presented(state, &parts.headers)? {
        None => return Err(Error::unauthenticated()),
        Some(Presented::ApiKey(key)) => authenticate_api_key(state, &key).await?,
        Some(Presented::Jwt(token, source)) => authenticate_jwt(state, &token, source).await?,
    };
    if caller.source == CredentialSource::Cookie && !is_safe(&parts.method) {
        csrf::verify(&state.config, &parts.headers)?;
    }
    Ok(caller)
}

/// Methods that change nothing and so need no CSRF token.
pub fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        authenticate(state, parts).await
    }
}

impl FromRequestParts<AppState> for MaybeCaller {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        match authenticate(state, parts).await {
            Ok(caller) => Ok(Self(Some(caller))),
            // A backend failure is not "signed out": say so.
            Err(error) if error.status().is_server_error() => Err(error),
            Err(_) => Ok(Self(None)),
        }
    }
}
