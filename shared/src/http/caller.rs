//! Who is calling: `Caller` for endpoints that need someone, `MaybeCaller` for those that answer
//! either way (`/users/auth/status`).
//!
//! Identity, in order: `Authorization: Bearer <access JWT | API key>`, `X-API-Key`, the access
//! token cookie. A JWT is verified by signature (no table round trip), then its session is read
//! so that logout, revocation and password changes stop it at once on our own endpoints. An API
//! key (recognised by `LATCHKEY_API_KEY_PREFIX`) is one read of its record; a key in the query
//! string is refused outright, since URLs end up in logs. Cookie-authenticated requests that
//! change state must carry a valid `X-CSRF-Token`.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, Uri, header};

use crate::domain::api_keys::ApiKeyRecord;
use crate::domain::ids::{ApiKeyId, SessionId, UserId};
use crate::http::{cookies, csrf};
use crate::services::tokens::{self, AccessClaims};
use crate::services::{api_keys, sessions};
use crate::{AppState, Error, Result};

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
    /// The API key's id when the caller came with one.
    pub api_key_id: Option<ApiKeyId>,
}

impl Caller {
    pub fn user_id(&self) -> &UserId {
        &self.claims.sub
    }

    pub fn session_id(&self) -> &str {
        &self.claims.sid
    }

    /// The caller's session: `None` for an API key (its `sid` names the key, not a session).
    pub fn session(&self) -> Option<SessionId> {
        SessionId::parse(&self.claims.sid)
    }

    /// Minting API keys and changing credentials (password, MFA, passkeys, identities) need a
    /// person, not a key: `403 insufficient_scope` for an API key. Every such handler calls this
    /// first.
    pub fn require_credential_scope(&self) -> Result<()> {
        if self.source == CredentialSource::ApiKey {
            return Err(Error::insufficient_scope(
                "An API key cannot mint API keys or change credentials; sign in instead",
            ));
        }
        Ok(())
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
        return Ok(Some(
            if credential.starts_with(&state.config.api_key_prefix) {
                Presented::ApiKey(credential.to_owned())
            } else {
                Presented::Jwt(credential.to_owned(), CredentialSource::Bearer)
            },
        ));
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

/// Authenticate an API key (one read); its scopes must allow the method.
async fn authenticate_api_key(state: &AppState, key: &str, method: &Method) -> Result<Caller> {
    let key = api_keys::authenticate(state, key).await?;
    let scopes: Vec<String> = key
        .claims
        .scope
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if !ApiKeyRecord::allows_method(&scopes, method.as_str()) {
        return Err(Error::insufficient_scope(format!(
            "This API key's scopes do not allow {method} requests"
        )));
    }
    Ok(Caller {
        claims: key.claims,
        source: CredentialSource::ApiKey,
        api_key_id: Some(key.key_id),
    })
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
    // The `sid` of a token we signed is always a session id; anything else has no session.
    let session = match SessionId::parse(&claims.sid) {
        Some(session_id) => sessions::find(state, &claims.sub, &session_id).await?,
        None => None,
    };
    if session.is_none() {
        return Err(Error::invalid_token("The session has ended"));
    }
    Ok(Caller {
        claims,
        source,
        api_key_id: None,
    })
}

/// Who makes a request with this method, URI and headers: the one authentication every door
/// shares (extractors, `/auth/check`, the authorizer, the gate layers). For a guarded request
/// (`/auth/check`, the authorizer) pass the guarded method and URI.
pub async fn authenticate_request(
    state: &AppState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<Caller> {
    if uri
        .query()
        .is_some_and(|query| query.contains(state.config.api_key_prefix.as_str()))
    {
        return Err(Error::invalid_token(
            "API keys are never accepted in a query string; send the X-API-Key header",
        ));
    }
    let caller = match presented(state, headers)? {
        None => return Err(Error::unauthenticated()),
        Some(Presented::ApiKey(key)) => authenticate_api_key(state, &key, method).await?,
        Some(Presented::Jwt(token, source)) => authenticate_jwt(state, &token, source).await?,
    };
    if caller.source == CredentialSource::Cookie && !is_safe(method) {
        csrf::verify(&state.config, headers)?;
    }
    Ok(caller)
}

async fn authenticate(state: &AppState, parts: &Parts) -> Result<Caller> {
    authenticate_request(state, &parts.method, &parts.uri, &parts.headers).await
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
