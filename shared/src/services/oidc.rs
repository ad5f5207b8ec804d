//! OpenID Connect providers: the discovery document and the JWKS, fetched on first use and
//! cached for the life of the instance (no call at cold start), and the complete check of an ID
//! token: signature by a key of the provider's JWKS (fetched again once when the token names a
//! key we do not know: the provider rotated), `alg` from an allow-list of asymmetric algorithms
//! (never `none`, never HMAC: the client secret is not a signing key here), `iss`, `aud` (and
//! `azp` when there are several audiences), `exp`, `iat`, `nbf`, and the flow's `nonce`.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;
use serde_json::Value;

use crate::adapters::outbound::{self, OutboundError};
use crate::config::OidcProvider;
use crate::error::ErrorCode;
use crate::{AppState, Error};

/// Clock skew tolerated on `exp`, `nbf` and `iat`.
pub const LEEWAY_SECONDS: i64 = 60;
/// An ID token issued longer ago than this is refused even if unexpired (a replayed token).
pub const MAX_AGE_SECONDS: i64 = 600;
/// Discovery documents are read again after this long (keys are refreshed on rotation anyway).
pub const METADATA_TTL_SECONDS: i64 = 24 * 3600;
/// The longest ID token read.
const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// The signing algorithms accepted: asymmetric only.
const ALLOWED_ALGORITHMS: &[(&str, Algorithm)] = &[
    ("RS256", Algorithm::RS256),
    ("RS384", Algorithm::RS384),
    ("RS512", Algorithm::RS512),
    ("PS256", Algorithm::PS256),
    ("PS384", Algorithm::PS384),
    ("PS512", Algorithm::PS512),
    ("ES256", Algorithm::ES256),
    ("ES384", Algorithm::ES384),
    ("EdDSA", Algorithm::EdDSA),
];

/// How an OIDC step failed.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// The ID token fails a check; the text says which, for logs and the message.
    #[error("the ID token is not valid: {0}")]
    InvalidIdToken(&'static str),
    /// The discovery document or JWKS could not be read or is unusable.
    #[error(transparent)]
    Provider(#[from] OutboundError),
}

impl From<OidcError> for Error {
    fn from(error: OidcError) -> Self {
        match error {
            OidcError::InvalidIdToken(reason) => Error::new(
                ErrorCode::InvalidIdToken,
                format!("The identity provider's ID token is not valid ({reason})"),
            ),
            OidcError::Provider(error) => error.into(),
        }
    }
}

/// The parts of a discovery document we use.
#[derive(Clone, Debug, Deserialize)]
pub struct Metadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    #[serde(default)]
    pub revocation_endpoint: Option<String>,
    #[serde(default)]
    pub userinfo_endpoint: Option<String>,
}

/// What we believe from a verified ID token.
#[derive(Clone, Debug, PartialEq)]
pub struct IdClaims {
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
}

struct Cached {
    metadata: Arc<Metadata>,
    fetched_at: i64,
    keys: Arc<HashMap<String, (Algorithm, DecodingKey)>>,
    /// Keys without a `kid`, tried in turn when a token names none.
    unnamed: Arc<Vec<(Algorithm, DecodingKey)>>,
}

/// The per-instance cache of every OIDC provider's metadata and keys, by issuer.
#[derive(Default)]
pub struct OidcCache {
    providers: RwLock<HashMap<String, Cached>>,
    /// One discovery or JWKS fetch at a time per instance: a burst of first sign-ins makes one.
    fetching: tokio::sync::Mutex<()>,
}

impl OidcCache {
    fn get(&self, issuer: &str, now: i64) -> Option<Arc<Metadata>> {
        let providers = self
            .providers
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        providers
            .get(issuer)
            .filter(|c| now - c.fetched_at < METADATA_TTL_SECONDS)
            .map(|c| c.metadata.clone())
    }

    fn key(&self, issuer: &str, kid: Option<&str>) -> Option<Vec<(Algorithm, DecodingKey)>> {
        let providers = self
            .providers
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let cached = providers.get(issuer)?;
        match kid {
            Some(kid) => cached.keys.get(kid).map(|k| vec![k.clone()]),
            None if !cached.unnamed.is_empty() => Some(cached.unnamed.to_vec()),
            None => Some(cached.keys.values().cloned().collect()),
        }
    }
}

/// The provider's discovery document: cached, or fetched now (with its JWKS).
pub async fn metadata(
    state: &AppState,
    provider: &OidcProvider,
) -> Result<Arc<Metadata>, OidcError> {
    let now = state.clock.unix();
    if let Some(metadata) = state.oidc.get(&provider.issuer, now) {
        return Ok(metadata);
    }
    let _fetching = state.oidc.fetching.lock().await;
    if let Some(metadata) = state.oidc.get(&provider.issuer, now) {
        return Ok(metadata);
    }
    let url = format!(
        "{}/.well-known/openid-configuration",
        provider.issuer.trim_end_matches('/')
    );
    let metadata: Metadata = outbound::get_json(&url, None).await?;
    let malformed = |reason: String| OutboundError::Malformed {
        url: url.clone(),
        reason,
    };
    // OIDC Discovery 1.0 section 4.3: the document's issuer must be the one we asked.
    if metadata.issuer != provider.issuer {
        return Err(malformed(format!(
            "issuer {} is not the configured {}",
            metadata.issuer, provider.issuer
        ))
        .into());
    }
    for endpoint in [
        Some(&metadata.authorization_endpoint),
        Some(&metadata.token_endpoint),
        Some(&metadata.jwks_uri),
        metadata.revocation_endpoint.as_ref(),
        metadata.userinfo_endpoint.as_ref(),
    ]
    .into_iter()
    .flatten()
    {
        outbound::parse_allowed_url(endpoint)?;
    }
    let (keys, unnamed) = fetch_keys(&metadata.jwks_uri).await?;
    let metadata = Arc::new(metadata);
    state
        .oidc
        .providers
        .write()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(
            provider.issuer.clone(),
            Cached {
                metadata: metadata.clone(),
                fetched_at: now,
                keys: Arc::new(keys),
                unnamed: Arc::new(unnamed),
            },
        );
    Ok(metadata)
}

type Keys = (
    HashMap<String, (Algorithm, DecodingKey)>,
    Vec<(Algorithm, DecodingKey)>,
);

async fn fetch_keys(jwks_uri: &str) -> Result<Keys, OidcError> {
    let set: JwkSet = outbound::get_json(jwks_uri, None).await?;
    let mut named = HashMap::new();
    let mut unnamed = Vec::new();
    for jwk in &set.keys {
        // A key for encryption, or of an algorithm we do not accept, is skipped.
        if jwk
            .common
            .public_key_use
            .as_ref()
            .is_some_and(|u| *u != jsonwebtoken::jwk::PublicKeyUse::Signature)
        {
            continue;
        }
        let Ok(key) = DecodingKey::from_jwk(jwk) else {
            continue;
        };
        let algorithm = match jwk.common.key_algorithm.as_ref().map(|a| a.to_string()) {
            Some(name) => match allowed(&name) {
                Some(algorithm) => algorithm,
                None => continue,
            },
            // No `alg` on the key: the token's header names it, checked against the key's type.
            None => match &jwk.algorithm {
                jsonwebtoken::jwk::AlgorithmParameters::RSA(_) => Algorithm::RS256,
                jsonwebtoken::jwk::AlgorithmParameters::EllipticCurve(_) => Algorithm::ES256,
                jsonwebtoken::jwk::AlgorithmParameters::OctetKeyPair(_) => Algorithm::EdDSA,
                _ => continue,
            },
        };
        match &jwk.common.key_id {
            Some(kid) => {
                named.insert(kid.clone(), (algorithm, key));
            }
            None => unnamed.push((algorithm, key)),
        }
    }
    Ok((named, unnamed))
}

/// Fetch the JWKS again (the provider rotated its keys) and cache it.
async fn refresh_keys(state: &AppState, provider: &OidcProvider) -> Result<(), OidcError> {
    let metadata = metadata(state, provider).await?;
    let _fetching = state.oidc.fetching.lock().await;
    let (keys, unnamed) = fetch_keys(&metadata.jwks_uri).await?;
    if let Some(cached) = state
        .oidc
        .providers
        .write()
        .unwrap_or_else(PoisonError::into_inner)
        .get_mut(&provider.issuer)
    {
        cached.keys = Arc::new(keys);
        cached.unnamed = Arc::new(unnamed);
    }
    Ok(())
}

fn allowed(alg: &str) -> Option<Algorithm> {
    ALLOWED_ALGORITHMS
        .iter()
        .find(|(name, _)| *name == alg)
        .map(|(_, algorithm)| *algorithm)
}

/// Whether a key of algorithm `key_alg` may check a token signed with `token_alg` (an RSA key
/// serves every RS/PS algorithm; otherwise they must match).
fn compatible(key_alg: Algorithm, token_alg: Algorithm) -> bool {
    use jsonwebtoken::AlgorithmFamily as F;
    key_alg == token_alg || (key_alg.family() == F::Rsa && token_alg.family() == F::Rsa)
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    crit: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    aud: Audience,
    exp: i64,
    iat: i64,
    #[serde(default)]
    nbf: Option<i64>,
    #[serde(default)]
    azp: Option<String>,
    #[serde(default)]
    nonce: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    email_verified: Option<Value>,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

/// Verify an ID token from `provider` completely and answer what it says about the person.
/// `nonce` is the one the flow sent; the token must carry exactly it.
pub async fn verify_id_token(
    state: &AppState,
    provider: &OidcProvider,
    token: &str,
    nonce: Option<&str>,
) -> Result<IdClaims, OidcError> {
    use OidcError::InvalidIdToken as Invalid;
    if token.len() > MAX_TOKEN_BYTES {
        return Err(Invalid("too large"));
    }
    let mut parts = token.split('.');
    let (Some(header_part), Some(claims_part), Some(signature_part), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Invalid("malformed"));
    };
    let header: Header = URL_SAFE_NO_PAD
        .decode(header_part)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or(Invalid("malformed header"))?;
    let algorithm = allowed(&header.alg).ok_or(Invalid("signing algorithm not accepted"))?;
    if header.crit.is_some() {
        return Err(Invalid("unsupported critical header"));
    }
    if signature_part.is_empty() {
        return Err(Invalid("unsigned"));
    }

    let metadata = metadata(state, provider).await?;
    let kid = header.kid.as_deref();
    let candidates = match state.oidc.key(&provider.issuer, kid) {
        Some(keys) if !keys.is_empty() => keys,
        // A key we have not seen: the provider may have rotated. Fetch the JWKS once more.
        _ => {
            refresh_keys(state, provider).await?;
            state
                .oidc
                .key(&provider.issuer, kid)
                .filter(|keys| !keys.is_empty())
                .ok_or(Invalid("signed by an unknown key"))?
        }
    };
    let message = &token.as_bytes()[..header_part.len() + 1 + claims_part.len()];
    let signed = candidates.iter().any(|(key_alg, key)| {
        compatible(*key_alg, algorithm)
            && jsonwebtoken::crypto::verify(signature_part, message, key, algorithm)
                .unwrap_or(false)
    });
    if !signed {
        return Err(Invalid("bad signature"));
    }

    let claims: Claims = URL_SAFE_NO_PAD
        .decode(claims_part)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or(Invalid("malformed claims"))?;
    if claims.iss != metadata.issuer {
        return Err(Invalid("wrong issuer"));
    }
    let audiences = match &claims.aud {
        Audience::One(aud) => vec![aud.as_str()],
        Audience::Many(auds) => auds.iter().map(String::as_str).collect(),
    };
    if !audiences.contains(&provider.client_id.as_str()) {
        return Err(Invalid("wrong audience"));
    }
    // OIDC Core 3.1.3.7: with several audiences, the authorized party must be us.
    if audiences.len() > 1 && claims.azp.as_deref() != Some(provider.client_id.as_str()) {
        return Err(Invalid("wrong authorized party"));
    }
    let now = state.clock.unix();
    if claims.exp + LEEWAY_SECONDS <= now {
        return Err(Invalid("expired"));
    }
    if claims.iat > now + LEEWAY_SECONDS || claims.iat + MAX_AGE_SECONDS < now {
        return Err(Invalid("issued at an unacceptable time"));
    }
    if claims.nbf.is_some_and(|nbf| nbf > now + LEEWAY_SECONDS) {
        return Err(Invalid("not yet valid"));
    }
    if let Some(expected) = nonce
        && claims.nonce.as_deref() != Some(expected)
    {
        return Err(Invalid("wrong nonce"));
    }
    if claims.sub.is_empty() || claims.sub.len() > 255 {
        return Err(Invalid("bad subject"));
    }
    // Some providers send the flag as a string.
    let email_verified = match claims.email_verified {
        Some(Value::Bool(verified)) => verified,
        Some(Value::String(text)) => text.eq_ignore_ascii_case("true"),
        _ => false,
    };
    Ok(IdClaims {
        subject: claims.sub,
        email: claims.email.filter(|e| !e.trim().is_empty()),
        email_verified,
        name: claims.name.filter(|n| !n.trim().is_empty()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_asymmetric_algorithms_are_accepted() {
        for name in ["none", "None", "HS256", "HS512", ""] {
            assert!(allowed(name).is_none(), "{name}");
        }
        for name in ["RS256", "PS256", "ES256", "EdDSA"] {
            assert!(allowed(name).is_some(), "{name}");
        }
        assert!(compatible(Algorithm::RS256, Algorithm::PS384));
        assert!(!compatible(Algorithm::ES256, Algorithm::RS256));
    }
}
