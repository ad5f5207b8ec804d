//! Access tokens (RS256 JWTs any API Gateway JWT authorizer can verify) and the signing keys
//! behind them.
//!
//! Storage (partition `KEYS`; records in `domain::signing_keys`):
//! - `KEY#<kid>`: one RSA-2048 signing key: the private key (PKCS#8 DER) encrypted with the
//!   Cipher under the context `{owner: KEYS, purpose: jwt-signing-key, kid}`, the public JWK
//!   (`n`, `e`), `created_at`, and once rotated out `retired_at` and a `ttl` after which no token
//!   it signed can still be live, so it drops out of the JWKS by itself.
//! - `CURRENT`: the pointer to the key that signs new tokens. Created with a condition, so two
//!   instances racing to make the first key converge on one.
//!
//! The `kid` is the key's RFC 7638 JWK thumbprint, so it names exactly one public key.
//!
//! Each process caches what it has decrypted and parsed (`SigningKeys`): verification makes no
//! table round trip for a known `kid`, and signing none except a look at the `CURRENT` pointer
//! every few minutes, so a rotation made by another instance is picked up.

use crate::domain::ids::{SessionId, UserId, WorkspaceId};
use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize, PublicKeyComponents};
use aws_lc_rs::signature::KeyPair as _;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, Header};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::domain::MalformedItem;
use crate::domain::keys::{KEYS_PARTITION, SIGNING_KEY_PREFIX as KEY_SORT_PREFIX};
use crate::domain::signing_keys::{CurrentSigningKey, SigningKeyRecord};
use crate::ports::{CipherError, EncryptionContext, StoreError};
use crate::{AppState, Error};

/// How issuing or verifying a token, or keeping the signing keys, failed.
#[derive(Debug, thiserror::Error)]
pub enum AccessTokenError {
    /// The presented token is not valid (`401 invalid_token`); the text is public.
    #[error("{0}")]
    Invalid(&'static str),
    #[error("RSA key generation failed")]
    KeyGeneration(#[source] aws_lc_rs::error::Unspecified),
    #[error("the stored signing key is not an RSA key")]
    NotRsa(#[source] aws_lc_rs::error::KeyRejected),
    #[error("signing a {typ} token failed: {reason}")]
    Signing { typ: &'static str, reason: String },
    #[error("a signing or key-generation task failed")]
    Task(#[source] tokio::task::JoinError),
    /// The stored key named `kid` cannot be used (missing, no private key, another key).
    #[error("the signing key {kid} {problem}")]
    StoredKey { kid: String, problem: &'static str },
    /// Creating or rotating a key lost every attempt to concurrent writers.
    #[error("the signing key pointer kept changing: {0}")]
    KeptChanging(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Cipher(#[from] CipherError),
    #[error(transparent)]
    Malformed(#[from] MalformedItem),
}

impl From<AccessTokenError> for Error {
    fn from(error: AccessTokenError) -> Self {
        match error {
            AccessTokenError::Invalid(message) => Error::invalid_token(message),
            AccessTokenError::Store(error) => error.into(),
            AccessTokenError::Cipher(error) => error.into(),
            other => Error::internal_cause(other),
        }
    }
}

pub type Result<T, E = AccessTokenError> = std::result::Result<T, E>;

use AccessTokenError::Invalid;

/// The `typ` header of an access token (RFC 9068).
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";

/// How long JWKS consumers may cache the key set (`Cache-Control: max-age`).
pub const JWKS_MAX_AGE_SECONDS: u64 = 300;

/// Clock skew tolerated between the instance that signed a token and the one checking it.
const CLOCK_SKEW_LEEWAY_SECONDS: i64 = 30;

/// How long an instance signs with its cached current key before looking at the `CURRENT`
/// pointer again (one table read), so a rotation elsewhere reaches every instance.
const CURRENT_KEY_RECHECK_SECONDS: i64 = 300;

/// The least time between two reloads of the public keys caused by an unknown `kid`: a key
/// rotated by another instance is found, but garbage `kid`s cannot make every request hit the
/// table.
const UNKNOWN_KID_RELOAD_INTERVAL_SECONDS: i64 = 10;

/// How long a retired key stays published beyond the access-token lifetime: instances that have
/// not yet seen the rotation may sign with it for up to `CURRENT_KEY_RECHECK_SECONDS`, and
/// verifiers allow `CLOCK_SKEW_LEEWAY_SECONDS`.
const KEY_RETIREMENT_MARGIN_SECONDS: i64 = 600;

/// A real access token is well under 2 KiB; anything much longer is refused before any work.
const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// The largest decoded JOSE header we read (ours is about 100 bytes); it is decoded on the stack.
const MAX_HEADER_BYTES: usize = 512;

/// How often creating or rotating a key is tried when a concurrent writer wins the race.
const KEY_WRITE_ATTEMPTS: usize = 3;

/// The claims of an access token (API.md, "Access token").
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    /// The user id.
    pub sub: UserId,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    pub jti: String,
    /// The session id (`api_key:<key id>` for an API key's claims).
    pub sid: String,
    pub scope: String,
    /// The active workspace.
    pub org: Option<WorkspaceId>,
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
    pub user_id: UserId,
    pub session_id: SessionId,
    pub email: String,
    pub email_verified: bool,
    pub org: Option<WorkspaceId>,
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
pub struct SigningKeys {
    /// The key new tokens are signed with, and when the `CURRENT` pointer was last read.
    current: RwLock<Option<CurrentKey>>,
    /// Public keys by `kid`. A std lock: readers hold it for a map lookup only, never across an
    /// await, and verification must not queue behind an async lock.
    verifiers: RwLock<HashMap<String, Arc<DecodingKey>>>,
    /// Serializes table loads, key creation and rotation within this process, and remembers when
    /// the public keys were last reloaded.
    loading: tokio::sync::Mutex<LoadState>,
}

#[derive(Clone)]
struct CurrentKey {
    key: Arc<SigningKey>,
    checked_at: i64,
    /// The table's generation when the key was read or made: a table set up again since (an
    /// emulator restarted empty) no longer holds it, so the pointer must be read again.
    generation: u64,
}

#[derive(Default)]
struct LoadState {
    verifiers_loaded_at: Option<i64>,
}

/// A decrypted private key, parsed once and ready to sign. (jsonwebtoken's `EncodingKey` keeps
/// DER bytes and parses and checks the RSA key again on every signature, which cost more than
/// the signature itself: about 1 ms of the 2 ms of CPU a refresh took.)
struct SigningKey {
    kid: String,
    pair: Arc<KeyPair>,
}

/// A key pair made or decrypted here, with its public half in JWK form.
struct KeyMaterial {
    kid: String,
    /// base64url of the big-endian modulus and exponent, as in a JWK.
    n: String,
    e: String,
    pkcs8: Vec<u8>,
    pair: Arc<KeyPair>,
    decoding: DecodingKey,
}

impl KeyMaterial {
    /// Generate a fresh RSA-2048 key pair (CPU-heavy: call it off the async executor).
    fn generate() -> Result<Self> {
        let pair = KeyPair::generate(KeySize::Rsa2048).map_err(AccessTokenError::KeyGeneration)?;
        let pkcs8 = pair.as_der().map_err(AccessTokenError::KeyGeneration)?;
        Self::from_pkcs8(pkcs8.as_ref())
    }

    /// Parse a PKCS#8 RSA private key and derive its public JWK and `kid`.
    fn from_pkcs8(pkcs8: &[u8]) -> Result<Self> {
        let pair = KeyPair::from_pkcs8(pkcs8).map_err(AccessTokenError::NotRsa)?;
        let public = PublicKeyComponents::<Vec<u8>>::from(pair.public_key());
        let n = URL_SAFE_NO_PAD.encode(&public.n);
        let e = URL_SAFE_NO_PAD.encode(&public.e);
        Ok(Self {
            kid: jwk_thumbprint(&n, &e),
            decoding: DecodingKey::from_rsa_raw_components(&public.n, &public.e),
            n,
            e,
            pkcs8: pkcs8.to_vec(),
            pair: Arc::new(pair),
        })
    }

    fn signing_key(&self) -> Arc<SigningKey> {
        Arc::new(SigningKey {
            kid: self.kid.clone(),
            pair: self.pair.clone(),
        })
    }
}

/// The RFC 7638 thumbprint of an RSA JWK: SHA-256 over its required members in lexical order.
fn jwk_thumbprint(n: &str, e: &str) -> String {
    let canonical = format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

fn encryption_context(kid: &str) -> EncryptionContext {
    EncryptionContext::new(KEYS_PARTITION, "jwt-signing-key").with("kid", kid)
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    // A panic while holding these locks cannot leave the maps half-written (each write is one
    // assignment or insert), so a poisoned lock is still safe to use.
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

impl SigningKeys {
    /// The cached current key, if it was confirmed against the table recently enough.
    fn fresh_current(&self, now: i64, generation: u64) -> Option<Arc<SigningKey>> {
        read(&self.current)
            .as_ref()
            .filter(|c| {
                c.generation == generation
                    && now.saturating_sub(c.checked_at) < CURRENT_KEY_RECHECK_SECONDS
            })
            .map(|c| c.key.clone())
    }

    fn verifier(&self, kid: &str) -> Option<Arc<DecodingKey>> {
        read(&self.verifiers).get(kid).cloned()
    }

    fn install_current(
        &self,
        key: Arc<SigningKey>,
        decoding: DecodingKey,
        now: i64,
        generation: u64,
    ) {
        write(&self.verifiers).insert(key.kid.clone(), Arc::new(decoding));
        *write(&self.current) = Some(CurrentKey {
            key,
            checked_at: now,
            generation,
        });
    }
}

/// Sign an access token for the subject with the current key (created on first use).
pub async fn issue(state: &AppState, subject: Subject) -> Result<IssuedToken> {
    let key = current_signing_key(state).await?;
    let now = state.clock.unix();
    let lifetime = i64::try_from(state.config.access_token_ttl.as_secs()).unwrap_or(i64::MAX);
    let claims = AccessClaims {
        iss: state.config.issuer.clone(),
        aud: state.config.audience.clone(),
        sub: subject.user_id,
        exp: now.saturating_add(lifetime),
        iat: now,
        nbf: now,
        jti: uuid::Uuid::new_v4().to_string(),
        sid: subject.session_id.to_string(),
        scope: subject.scope,
        org: subject.org,
        role: subject.role,
        // The claim is every feature the plan grants now (LATCHKEY_PLAN_FEATURES) plus the
        // user's own; the snapshot keeps only the latter, so a new grant reaches the next token.
        features: state.config.plan_features.features_of(
            crate::domain::plans::Plan::lenient(&subject.plan),
            &subject.features,
        ),
        plan: subject.plan,
        email: subject.email,
        email_verified: subject.email_verified,
        amr: subject.amr,
        aal: subject.aal,
    };
    let (token, claims) = sign(key, ACCESS_TOKEN_TYPE, claims).await?;
    Ok(IssuedToken { token, claims })
}

/// Sign claims with a key, under a `typ` header.
async fn sign<C: Serialize + Send + 'static>(
    key: Arc<SigningKey>,
    typ: &'static str,
    claims: C,
) -> Result<(String, C)> {
    let mut header = Header::new(Algorithm::RS256);
    header.typ = Some(typ.to_owned());
    header.kid = Some(key.kid.clone());
    // An RSA signature takes most of a millisecond: too long to hold an executor thread that is
    // also verifying thousands of tokens a second.
    tokio::task::spawn_blocking(move || {
        let token = sign_jws(&key.pair, &header, &claims)
            .map_err(|reason| AccessTokenError::Signing { typ, reason })?;
        Ok((token, claims))
    })
    .await
    .map_err(AccessTokenError::Task)?
}

/// The compact JWS `base64url(header).base64url(claims).base64url(RS256 signature)`, as
/// `jsonwebtoken::encode` makes it, with a key pair parsed once instead of once per signature.
fn sign_jws<C: Serialize>(pair: &KeyPair, header: &Header, claims: &C) -> Result<String, String> {
    let header = serde_json::to_vec(header).map_err(|e| e.to_string())?;
    let claims = serde_json::to_vec(claims).map_err(|e| e.to_string())?;
    let mut token = URL_SAFE_NO_PAD.encode(header);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(claims, &mut token);
    let mut signature = vec![0; pair.public_modulus_len()];
    pair.sign(
        &aws_lc_rs::signature::RSA_PKCS1_SHA256,
        &aws_lc_rs::rand::SystemRandom::new(),
        token.as_bytes(),
        &mut signature,
    )
    .map_err(|e| e.to_string())?;
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(signature, &mut token);
    Ok(token)
}

/// The `typ` header of an `mfa_token`: a first factor passed, the second one still owed.
pub const MFA_TOKEN_TYPE: &str = "mfa+jwt";

/// How long an `mfa_token` lasts (API.md: 5 minutes).
pub const MFA_TOKEN_TTL_SECONDS: i64 = 5 * 60;

/// The claims of an `mfa_token`. Its audience is the access tokens' audience with `:mfa` added:
/// an API Gateway JWT authorizer checks `iss`, `aud` and the signature but not `typ`, so the
/// distinct audience is what keeps it from passing as an access token anywhere.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MfaTokenClaims {
    pub iss: String,
    pub aud: String,
    /// The user id.
    pub sub: UserId,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    /// Names the one-time item that makes the token single-use.
    pub jti: String,
    /// The first factor's methods.
    pub amr: Vec<String>,
}

/// The audience of `mfa_token`s.
pub fn mfa_audience(state: &AppState) -> String {
    format!("{}:mfa", state.config.audience)
}

/// Sign an `mfa_token` for a user who passed the first factor `amr`.
pub async fn issue_mfa_token(
    state: &AppState,
    user_id: &UserId,
    amr: &[&str],
) -> Result<(String, MfaTokenClaims)> {
    let key = current_signing_key(state).await?;
    let now = state.clock.unix();
    let claims = MfaTokenClaims {
        iss: state.config.issuer.clone(),
        aud: mfa_audience(state),
        sub: user_id.to_owned(),
        exp: now.saturating_add(MFA_TOKEN_TTL_SECONDS),
        iat: now,
        nbf: now,
        jti: uuid::Uuid::new_v4().to_string(),
        amr: amr.iter().map(|m| (*m).to_owned()).collect(),
    };
    sign(key, MFA_TOKEN_TYPE, claims).await
}

/// Verify an `mfa_token`: signature, `typ: mfa+jwt`, `iss`, its own `aud`, `exp`, `nbf`. Whether
/// it is still unspent is the MFA service's to check. Any failure is `401 invalid_token`.
pub async fn verify_mfa_token(state: &AppState, token: &str) -> Result<MfaTokenClaims> {
    let bytes = verified_claims(state, token, |typ| typ.eq_ignore_ascii_case(MFA_TOKEN_TYPE))
        .await
        .map_err(|error| match error {
            Invalid(_) => Invalid("The mfa_token is not valid"),
            other => other,
        })?;
    let claims: MfaTokenClaims =
        serde_json::from_slice(&bytes).map_err(|_| Invalid("The mfa_token is malformed"))?;
    check_registered(
        state,
        &claims.iss,
        &claims.aud,
        &mfa_audience(state),
        claims.exp,
        claims.nbf,
    )
    .map_err(|_| Invalid("The mfa_token has expired or is not valid here"))?;
    Ok(claims)
}

/// The `typ` a JWT's header names, without verifying anything (to route a Bearer credential to
/// the right check). `None` when it is not a readable JWT.
pub fn peek_type(token: &str) -> Option<String> {
    let header_part = token.split('.').next()?;
    let mut header_bytes = [0u8; MAX_HEADER_BYTES];
    let len = URL_SAFE_NO_PAD
        .decode_slice(header_part, &mut header_bytes)
        .ok()?;
    let header: TokenHeader<'_> = serde_json::from_slice(&header_bytes[..len]).ok()?;
    header.typ.map(str::to_owned)
}

/// The parts of the JOSE header we read; borrowed from the decoded bytes. Any other member
/// (`jku`, `jwk`, `x5u`, ...) is ignored: keys only ever come from our own table.
#[derive(Deserialize)]
struct TokenHeader<'a> {
    alg: &'a str,
    typ: Option<&'a str>,
    kid: Option<&'a str>,
    /// We understand no extension, so a token that marks one critical is refused (RFC 7515).
    crit: Option<serde::de::IgnoredAny>,
}

/// Verify signature (by `kid`, RS256 only), `typ`, `iss`, `aud`, `exp`, `nbf`. Any failure is
/// `401 invalid_token`. Makes no table round trip once the keys are cached.
///
/// The checks are ours rather than `jsonwebtoken::decode`'s so that time comes from the Clock
/// port and the hot path parses the header once, on the stack; the signature check itself is
/// jsonwebtoken's. A storage failure while looking up an unknown `kid` answers 503, not 401: the
/// token may well be good.
pub async fn verify(state: &AppState, token: &str) -> Result<AccessClaims> {
    let claims_bytes = verified_claims(state, token, is_access_token_type).await?;
    let claims: AccessClaims = serde_json::from_slice(&claims_bytes)
        .map_err(|_| Invalid("The access token is malformed"))?;
    check_claims(state, &claims)?;
    Ok(claims)
}

/// Check a JWT's header (RS256, a `typ` that `accepts`, no `crit`, a known `kid`) and signature;
/// answers the decoded claims, not yet checked.
async fn verified_claims(
    state: &AppState,
    token: &str,
    accepts: fn(&str) -> bool,
) -> Result<Vec<u8>> {
    let malformed = || Invalid("The access token is malformed");
    if token.len() > MAX_TOKEN_BYTES {
        return Err(malformed());
    }
    let mut parts = token.split('.');
    let (Some(header_part), Some(claims_part), Some(signature_part), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed());
    };

    let mut header_bytes = [0u8; MAX_HEADER_BYTES];
    let header_len = URL_SAFE_NO_PAD
        .decode_slice(header_part, &mut header_bytes)
        .map_err(|_| malformed())?;
    let header: TokenHeader<'_> =
        serde_json::from_slice(&header_bytes[..header_len]).map_err(|_| malformed())?;
    if header.alg != "RS256" {
        return Err(Invalid("The access token must be signed with RS256"));
    }
    if !header.typ.is_some_and(accepts) {
        return Err(Invalid("The token is not an access token"));
    }
    if header.crit.is_some() {
        return Err(Invalid("The access token uses an unsupported extension"));
    }
    let kid = header
        .kid
        .ok_or_else(|| Invalid("The access token names no signing key"))?;
    let key = match state.signing_keys.verifier(kid) {
        Some(key) => key,
        None => reload_for_unknown_kid(state, kid)
            .await?
            .ok_or_else(|| Invalid("The access token was signed by an unknown key"))?,
    };

    // The signed message is the header and claims exactly as sent, dot included.
    let message_len = header_part.len() + 1 + claims_part.len();
    let valid = jsonwebtoken::crypto::verify(
        signature_part,
        &token.as_bytes()[..message_len],
        &key,
        Algorithm::RS256,
    )
    .map_err(|_| malformed())?;
    if !valid {
        return Err(Invalid("The access token's signature is invalid"));
    }

    URL_SAFE_NO_PAD.decode(claims_part).map_err(|_| malformed())
}

/// RFC 9068: `at+jwt`, or the full media type; media types compare case-insensitively.
fn is_access_token_type(typ: &str) -> bool {
    typ.eq_ignore_ascii_case(ACCESS_TOKEN_TYPE) || typ.eq_ignore_ascii_case("application/at+jwt")
}

fn check_claims(state: &AppState, claims: &AccessClaims) -> Result<()> {
    check_registered(
        state,
        &claims.iss,
        &claims.aud,
        &state.config.audience,
        claims.exp,
        claims.nbf,
    )
}

/// The registered claims every token of ours carries: issuer, audience, expiry, not-before.
fn check_registered(
    state: &AppState,
    iss: &str,
    aud: &str,
    audience: &str,
    exp: i64,
    nbf: i64,
) -> Result<()> {
    if iss != state.config.issuer {
        return Err(Invalid("The access token was issued by another issuer"));
    }
    if aud != audience {
        return Err(Invalid("The access token is meant for another audience"));
    }
    let now = state.clock.unix();
    if now >= exp.saturating_add(CLOCK_SKEW_LEEWAY_SECONDS) {
        return Err(Invalid("The access token has expired"));
    }
    if nbf > now.saturating_add(CLOCK_SKEW_LEEWAY_SECONDS) {
        return Err(Invalid("The access token is not valid yet"));
    }
    Ok(())
}

/// Reload the public keys from the table, at most once per interval, and answer the key for
/// `kid` if it is there now.
async fn reload_for_unknown_kid(state: &AppState, kid: &str) -> Result<Option<Arc<DecodingKey>>> {
    let keys = &state.signing_keys;
    let mut load = keys.loading.lock().await;
    // Whoever held the lock before us may have loaded it.
    if let Some(key) = keys.verifier(kid) {
        return Ok(Some(key));
    }
    let now = state.clock.unix();
    if load
        .verifiers_loaded_at
        .is_some_and(|at| now.saturating_sub(at) < UNKNOWN_KID_RELOAD_INTERVAL_SECONDS)
    {
        return Ok(None);
    }
    load.verifiers_loaded_at = Some(now);
    let stored = published_keys(state).await?;
    let loaded: HashMap<String, Arc<DecodingKey>> = stored
        .into_iter()
        .filter_map(|record| {
            let key = DecodingKey::from_rsa_components(&record.n, &record.e).ok()?;
            Some((record.kid, Arc::new(key)))
        })
        .collect();
    // The table's view replaces ours, so a key an operator deleted stops verifying here too.
    *write(&keys.verifiers) = loaded;
    Ok(keys.verifier(kid))
}

/// The current signing key: from the cache, or the `CURRENT` pointer, or made now.
async fn current_signing_key(state: &AppState) -> Result<Arc<SigningKey>> {
    let keys = &state.signing_keys;
    let generation = state.table.generation();
    if let Some(key) = keys.fresh_current(state.clock.unix(), generation) {
        return Ok(key);
    }
    let _load = keys.loading.lock().await;
    let now = state.clock.unix();
    if let Some(key) = keys.fresh_current(now, generation) {
        return Ok(key);
    }
    let cached = read(&keys.current).clone();
    let current_kid = match current_kid(state).await {
        Ok(kid) => kid,
        Err(error) => {
            // Signing with a key we already hold beats failing every sign-in while the table is
            // unreachable; the pointer is read again on the next issue.
            if let Some(cached) = cached {
                tracing::warn!(%error, "cannot read the current signing key pointer; using the cached key");
                return Ok(cached.key);
            }
            return Err(error.into());
        }
    };
    match current_kid {
        Some(kid) => {
            if let Some(cached) = cached.filter(|c| c.key.kid == kid) {
                *write(&keys.current) = Some(CurrentKey {
                    key: cached.key.clone(),
                    checked_at: now,
                    generation,
                });
                return Ok(cached.key);
            }
            let material = load_key_material(state, &kid).await?;
            let key = material.signing_key();
            keys.install_current(key.clone(), material.decoding, now, generation);
            Ok(key)
        }
        None => create_first_key(state).await,
    }
}

/// The `kid` the `CURRENT` pointer names, if there is a readable pointer.
async fn current_kid(state: &AppState) -> Result<Option<String>, StoreError> {
    Ok(state
        .table
        .get(&CurrentSigningKey::key())
        .await?
        .and_then(|item| CurrentSigningKey::from_item(item).ok())
        .map(|pointer| pointer.kid))
}

/// Make the first signing key. Two instances may race here: the key and the pointer are written
/// in one transaction that requires the pointer to be absent, and the loser uses the winner's key.
/// The caller holds `SigningKeys::loading`.
async fn create_first_key(state: &AppState) -> Result<Arc<SigningKey>> {
    for _ in 0..KEY_WRITE_ATTEMPTS {
        let now = state.clock.unix();
        let material = generate_key_material().await?;
        let record = sealed_record(state, &material, now).await?;
        let pointer = CurrentSigningKey {
            kid: material.kid.clone(),
            updated_at: now,
        };
        let writes = vec![record.insertion(), pointer.creation()];
        match state.table.transact(writes).await {
            Ok(()) => {
                tracing::info!(kid = %material.kid, "created the first access-token signing key");
                let key = material.signing_key();
                state.signing_keys.install_current(
                    key.clone(),
                    material.decoding,
                    now,
                    state.table.generation(),
                );
                return Ok(key);
            }
            Err(StoreError::ConditionFailed) => {
                if let Some(kid) = current_kid(state).await? {
                    let material = load_key_material(state, &kid).await?;
                    let key = material.signing_key();
                    state.signing_keys.install_current(
                        key.clone(),
                        material.decoding,
                        state.clock.unix(),
                        state.table.generation(),
                    );
                    return Ok(key);
                }
                // The pointer vanished between the two calls (deleted by hand?): try again.
            }
            Err(error) => return Err(error.into()),
        }
    }
    Err(AccessTokenError::KeptChanging(
        "could not create the first signing key",
    ))
}

/// Generate a key pair on a blocking thread (RSA key generation takes tens of milliseconds).
async fn generate_key_material() -> Result<KeyMaterial> {
    tokio::task::spawn_blocking(KeyMaterial::generate)
        .await
        .map_err(AccessTokenError::Task)?
}

/// The stored record of new key material, its private key encrypted.
async fn sealed_record(
    state: &AppState,
    material: &KeyMaterial,
    now: i64,
) -> Result<SigningKeyRecord> {
    let ciphertext = state
        .cipher
        .encrypt(&material.pkcs8, &encryption_context(&material.kid))
        .await?;
    Ok(SigningKeyRecord::new_rsa(
        material.kid.clone(),
        material.n.clone(),
        material.e.clone(),
        STANDARD.encode(ciphertext),
        now,
    ))
}

/// The sealed private key of a stored record, if it has one.
fn sealed_private_key(record: &SigningKeyRecord) -> Option<Vec<u8>> {
    if record.private_key.is_empty() {
        return None;
    }
    STANDARD.decode(&record.private_key).ok()
}

/// For `/health`: the current signing key still decrypts with this cipher (a replaced local key
/// or KMS key makes every sign-in fail). Before the first key exists, a round trip through the
/// cipher stands in. Never cached, so it says what is true now; the reason is short and public.
pub async fn check_current_key(state: &AppState) -> std::result::Result<(), String> {
    let current = current_kid(state)
        .await
        .map_err(|_| "cannot read the signing-key pointer".to_owned())?;
    let Some(kid) = current else {
        let context = EncryptionContext::new(KEYS_PARTITION, "health-probe");
        let sealed = state
            .cipher
            .encrypt(b"probe", &context)
            .await
            .map_err(|_| "the cipher cannot encrypt".to_owned())?;
        return match state.cipher.decrypt(&sealed, &context).await {
            Ok(plain) if plain == b"probe" => Ok(()),
            _ => Err("the cipher cannot decrypt what it encrypted".into()),
        };
    };
    let item = state
        .table
        .get(&SigningKeyRecord::key(&kid))
        .await
        .map_err(|_| "cannot read the current signing key".to_owned())?
        .ok_or_else(|| "the current signing key is missing from the table".to_owned())?;
    let ciphertext = SigningKeyRecord::from_item(item)
        .ok()
        .as_ref()
        .and_then(sealed_private_key)
        .ok_or_else(|| "the current signing key has no private key".to_owned())?;
    match state
        .cipher
        .decrypt(&ciphertext, &encryption_context(&kid))
        .await
    {
        Ok(_) => Ok(()),
        Err(CipherError::Undecryptable) => Err("the current signing key does not decrypt with \
            this cipher (was the local key file or the KMS key replaced?)"
            .into()),
        Err(CipherError::Backend(_)) => {
            Err("the cipher failed while decrypting the signing key".into())
        }
    }
}

/// Read and decrypt the key named `kid`, checking it is the key the name says.
async fn load_key_material(state: &AppState, kid: &str) -> Result<KeyMaterial> {
    let unusable = |problem| AccessTokenError::StoredKey {
        kid: kid.to_owned(),
        problem,
    };
    let item = state
        .table
        .get(&SigningKeyRecord::key(kid))
        .await?
        .ok_or_else(|| unusable("is missing"))?;
    let record = SigningKeyRecord::from_item(item)?;
    let ciphertext = sealed_private_key(&record).ok_or_else(|| unusable("has no private key"))?;
    let pkcs8 = state
        .cipher
        .decrypt(&ciphertext, &encryption_context(kid))
        .await?;
    let material = KeyMaterial::from_pkcs8(&pkcs8)?;
    if material.kid != kid {
        return Err(unusable("is stored under another key's kid"));
    }
    Ok(material)
}

/// Every stored key with a public half, whether or not it still signs; items without one are
/// skipped.
async fn published_keys(state: &AppState) -> Result<Vec<SigningKeyRecord>> {
    let items = state.table.query(KEYS_PARTITION, KEY_SORT_PREFIX).await?;
    Ok(items
        .into_iter()
        .filter_map(|item| match SigningKeyRecord::from_item(item) {
            Ok(record)
                if !record.kid.is_empty() && !record.n.is_empty() && !record.e.is_empty() =>
            {
                Some(record)
            }
            Ok(record) => {
                tracing::warn!(
                    kid = record.kid,
                    "skipping a signing key item without a public key"
                );
                None
            }
            Err(error) => {
                tracing::warn!(%error, "skipping a signing key item without a public key");
                None
            }
        })
        .collect())
}

/// A stored key's public half as a JWK.
fn public_jwk(record: &SigningKeyRecord) -> Value {
    json!({
        "kty": "RSA",
        "kid": record.kid,
        "use": "sig",
        "alg": "RS256",
        "n": record.n,
        "e": record.e,
    })
}

/// The JWKS document: every key whose tokens may still be live.
///
/// The first call on a fresh deployment creates the first key, so the set is never published
/// empty (a consumer caching an empty set would refuse the first tokens). The current key comes
/// first, then the others newest first.
pub async fn jwks(state: &AppState) -> Result<Value> {
    current_signing_key(state).await?;
    let mut keys = published_keys(state).await?;
    keys.sort_by_key(|k| (k.retired_at.is_some(), std::cmp::Reverse(k.created_at)));
    Ok(json!({ "keys": keys.iter().map(public_jwk).collect::<Vec<_>>() }))
}

/// Make a new current signing key; the old one stays published until its tokens expire.
/// Answers the new `kid`.
///
/// One transaction writes the new key, moves the `CURRENT` pointer (on condition that it still
/// names the key we retire) and marks the old key retired with a `ttl`. Other instances pick the
/// new key up within `CURRENT_KEY_RECHECK_SECONDS`.
pub async fn rotate_signing_key(state: &AppState) -> Result<String> {
    let keys = &state.signing_keys;
    let _load = keys.loading.lock().await;
    let lifetime = i64::try_from(state.config.access_token_ttl.as_secs()).unwrap_or(i64::MAX);
    for _ in 0..KEY_WRITE_ATTEMPTS {
        let old_kid = current_kid(state).await?;
        let material = generate_key_material().await?;
        let now = state.clock.unix();
        let record = sealed_record(state, &material, now).await?;
        let pointer = CurrentSigningKey {
            kid: material.kid.clone(),
            updated_at: now,
        };
        let mut writes = vec![record.insertion()];
        match &old_kid {
            Some(old_kid) => {
                writes.push(pointer.replacing(old_kid));
                let ttl = now
                    .saturating_add(lifetime)
                    .saturating_add(KEY_RETIREMENT_MARGIN_SECONDS);
                writes.push(SigningKeyRecord::retirement(old_kid, now, ttl));
            }
            None => writes.push(pointer.creation()),
        }
        match state.table.transact(writes).await {
            Ok(()) => {
                tracing::info!(kid = %material.kid, retired = ?old_kid, "rotated the access-token signing key");
                keys.install_current(
                    material.signing_key(),
                    material.decoding,
                    now,
                    state.table.generation(),
                );
                return Ok(material.kid);
            }
            Err(StoreError::ConditionFailed) => continue,
            Err(error) => return Err(error.into()),
        }
    }
    Err(AccessTokenError::KeptChanging(
        "could not rotate the signing key (another rotation?)",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kid_is_the_rfc_7638_thumbprint() {
        // RFC 7638, section 3.1.
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        assert_eq!(
            jwk_thumbprint(n, "AQAB"),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn a_generated_key_survives_a_pkcs8_round_trip_with_the_same_kid() {
        let material = KeyMaterial::generate().unwrap();
        let again = KeyMaterial::from_pkcs8(&material.pkcs8).unwrap();
        assert_eq!(again.kid, material.kid);
        assert_eq!(again.n, material.n);
        assert_eq!(material.e, "AQAB");
        // 2048 bits = 256 bytes = 342 base64url characters.
        assert_eq!(material.n.len(), 342);
    }

    #[test]
    fn a_token_signed_with_a_generated_key_verifies_with_its_public_key() {
        let material = KeyMaterial::generate().unwrap();
        let mut header = Header::new(Algorithm::RS256);
        header.typ = Some(ACCESS_TOKEN_TYPE.into());
        let token = sign_jws(&material.pair, &header, &json!({"sub": "x"})).expect("sign");
        let (message, signature) = token.rsplit_once('.').unwrap();
        assert!(
            jsonwebtoken::crypto::verify(
                signature,
                message.as_bytes(),
                &material.decoding,
                Algorithm::RS256
            )
            .unwrap()
        );
        let from_jwk = DecodingKey::from_rsa_components(&material.n, &material.e).unwrap();
        assert!(
            jsonwebtoken::crypto::verify(
                signature,
                message.as_bytes(),
                &from_jwk,
                Algorithm::RS256
            )
            .unwrap()
        );
    }

    #[test]
    fn only_the_access_token_media_types_are_accepted() {
        assert!(is_access_token_type("at+jwt"));
        assert!(is_access_token_type("application/at+JWT"));
        assert!(!is_access_token_type("JWT"));
        assert!(!is_access_token_type("at+jwt "));
    }
}
