//! Access tokens (RS256 JWTs any API Gateway JWT authorizer can verify) and the signing keys
//! behind them. STUB: the interface is fixed; the bodies are to be written.

use serde::{Deserialize, Serialize};

use crate::{AppState, Error, Result};

/// The claims of an access token (API.md, "Access token").
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    /// The user id.
    pub sub: String,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    pub jti: String,
    /// The session id.
    pub sid: String,
    pub scope: String,
    /// The active workspace.
    pub org: Option<String>,
    pub role: Option<String>,
    pub plan: String,
    pub features: Vec<String>,
    pub email: String,
    pub email_verified: bool,
    /// Methods used: `pwd`, `otp`, `mfa`, `webauthn`, `oauth`, `email_link`, `api_key`.
    pub amr: Vec<String>,
    pub aal: u8,
}

/// Who a token is for; `issue` adds the registered claims.
#[derive(Clone, Debug)]
pub struct Subject {
    pub user_id: String,
    pub session_id: String,
    pub email: String,
    pub email_verified: bool,
    pub org: Option<String>,
    pub role: Option<String>,
    pub plan: String,
    pub features: Vec<String>,
    pub amr: Vec<String>,
    pub aal: u8,
    pub scope: String,
}

/// A signed token and its claims.
#[derive(Clone, Debug)]
pub struct IssuedToken {
    pub token: String,
    pub claims: AccessClaims,
}

/// The per-process cache of signing keys (private key decrypted once per instance).
#[derive(Default)]
pub struct SigningKeys {}

/// Sign an access token for the subject with the current key (created on first use).
pub async fn issue(_state: &AppState, _subject: Subject) -> Result<IssuedToken> {
    Err(Error::internal("tokens::issue not implemented yet"))
}

/// Verify signature (by `kid`, RS256 only), `typ`, `iss`, `aud`, `exp`, `nbf`. Any failure is
/// `401 invalid_token`. Makes no table round trip once the keys are cached.
pub async fn verify(_state: &AppState, _token: &str) -> Result<AccessClaims> {
    Err(Error::invalid_token("tokens::verify not implemented yet"))
}

/// The JWKS document: every key whose tokens may still be live.
pub async fn jwks(_state: &AppState) -> Result<serde_json::Value> {
    Err(Error::internal("tokens::jwks not implemented yet"))
}

/// Make a new current signing key; the old one stays published until its tokens expire.
/// Answers the new `kid`.
pub async fn rotate_signing_key(_state: &AppState) -> Result<String> {
    Err(Error::internal(
        "tokens::rotate_signing_key not implemented yet",
    ))
}
