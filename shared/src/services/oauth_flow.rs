//! The OAuth 2 authorization-code flow every group that sends someone to a provider shares
//! (social login, integrations, inboxes): `begin` makes the authorization URL (PKCE S256, a fresh
//! `state`, an OIDC `nonce` on request) and files the flow for ten minutes; `consume` takes it back
//! exactly once; `exchange`, `refresh` and `revoke` talk to the provider's token and revocation
//! endpoints through the one outbound client (`adapters::outbound`). Built on the `oauth2` crate.
//!
//! Nothing secret is stored: the flow item is keyed by the SHA-256 of the `state`, and the PKCE
//! verifier and the nonce are not stored at all but derived from the `state` with the server's
//! code secret (HMAC-SHA256, `services::code_secret`): whoever presents the state gets them back,
//! a reader of the table gets neither.
//!
//! Item: `OAUTHFLOW#<sha256 hex of state>` / `OAUTHFLOW` (purpose, provider, payload, `ttl`).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet,
    ExtraTokenFields, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken,
    RequestTokenError, Scope, StandardRevocableToken, StandardTokenResponse, TokenResponse,
    TokenUrl,
};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::adapters::outbound::{self, OutboundError};
use crate::domain::{self, keys};
use crate::error::ErrorCode;
use crate::ports::{Condition, StoreError};
use crate::services::code_secret;
use crate::{AppState, Error};

/// How long a flow may take from `begin` to the callback.
pub const FLOW_TTL_SECONDS: i64 = 600;

/// Random bytes in a `state`: 256 bits.
const STATE_BYTES: usize = 32;

/// How the client authenticates at the token endpoint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ClientAuth {
    /// `Authorization: Basic` (RFC 6749's preferred form; Google, most OIDC providers).
    #[default]
    BasicHeader,
    /// `client_id` and `client_secret` in the form body (GitHub, some older providers).
    RequestBody,
}

/// One provider's endpoints and our registration with it.
#[derive(Clone, Debug)]
pub struct Endpoints {
    /// Our name for the provider (`google`, `github`, a registry id); filed with the flow.
    pub provider: String,
    pub authorize_url: String,
    pub token_url: String,
    /// RFC 7009 revocation endpoint, when the provider has one.
    pub revocation_url: Option<String>,
    pub client_id: String,
    pub client_secret: Option<SecretString>,
    pub scopes: Vec<String>,
    /// Extra query parameters of the authorization URL (`access_type=offline`, `prompt=...`).
    pub extra_authorize_params: Vec<(String, String)>,
    /// Where the provider sends the browser back; must be registered with the provider.
    pub redirect_uri: String,
    pub client_auth: ClientAuth,
}

/// A flow just begun: send the browser to `authorization_url`.
#[derive(Clone, Debug)]
pub struct Started {
    pub authorization_url: String,
    /// The `state` in the URL (some APIs hand it back to their caller too).
    pub state: String,
    /// The OIDC nonce sent, when one was asked for.
    pub nonce: Option<String>,
    /// Unix seconds after which `consume` refuses the state.
    pub expires_at: i64,
}

/// A flow taken back at its callback.
#[derive(Clone, Debug)]
pub struct Flow<P> {
    pub provider: String,
    pub payload: P,
    /// The nonce the ID token must carry (OIDC flows only).
    pub nonce: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    verifier: SecretString,
}

/// What the token endpoint answered.
#[derive(Clone, Debug)]
pub struct Tokens {
    pub access_token: SecretString,
    pub refresh_token: Option<SecretString>,
    /// Seconds, as the provider said.
    pub expires_in: Option<u64>,
    /// The raw ID token (OIDC); verify it before believing a word of it.
    pub id_token: Option<SecretString>,
    /// The granted scopes, space-separated, when the provider said (else those asked for).
    pub scope: Option<String>,
}

/// Which kind of token `revoke` is given (RFC 7009's `token_type_hint`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    Access,
    Refresh,
}

/// How a flow failed.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    /// The `state` is missing, malformed, unknown, spent, expired or of another purpose: all
    /// look the same from outside.
    #[error("the OAuth state is invalid or has expired")]
    InvalidState,
    /// The provider answered an OAuth error (`invalid_grant` for a replayed or expired code, a
    /// refused refresh token...). `error` is the provider's code, safe to show.
    #[error("the provider refused: {error}")]
    Refused {
        error: String,
        description: Option<String>,
    },
    /// The provider could not be reached or answered something unusable.
    #[error(transparent)]
    Provider(#[from] OutboundError),
    /// An endpoint of the configuration is not a usable URL.
    #[error("OAuth configuration: {0}")]
    Config(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The code secret (which derives the verifier and nonce) could not be read, or a stored
    /// flow does not read back.
    #[error(transparent)]
    Internal(#[from] Error),
}

impl From<FlowError> for Error {
    fn from(error: FlowError) -> Self {
        match error {
            FlowError::InvalidState => Error::new(
                ErrorCode::InvalidOAuthState,
                "The sign-in attempt is invalid or has expired; start again",
            ),
            FlowError::Refused { ref error, .. } => {
                let message = format!("The provider refused the request ({error})");
                Error::new(ErrorCode::OAuthRefused, message)
            }
            FlowError::Provider(error) => error.into(),
            FlowError::Config(_) => Error::internal_cause(error),
            FlowError::Store(error) => error.into(),
            FlowError::Internal(error) => error,
        }
    }
}

pub type Result<T, E = FlowError> = std::result::Result<T, E>;

/// The stored form of a pending flow.
#[derive(Serialize, Deserialize)]
struct FlowRecord {
    purpose: String,
    provider: String,
    payload: Value,
    oidc: bool,
    created_at: i64,
    ttl: i64,
}

/// Begin a flow for `purpose` (`sign-in`, `link`, `integration`, `inbox`...): file it with its
/// payload for ten minutes and answer the provider's authorization URL. With `oidc_nonce`, a
/// nonce goes into the URL and comes back from `consume` to check the ID token against.
pub async fn begin<P: Serialize>(
    state: &AppState,
    endpoints: &Endpoints,
    purpose: &str,
    payload: &P,
    oidc_nonce: bool,
) -> Result<Started> {
    let client = oauth_client(endpoints)?;
    let secret = code_secret::get(state).await?;

    let mut bytes = [0u8; STATE_BYTES];
    state.random.fill(&mut bytes);
    let state_param = URL_SAFE_NO_PAD.encode(bytes);
    let verifier = derive(secret.as_slice(), "pkce", &state_param);
    let nonce = oidc_nonce.then(|| derive(secret.as_slice(), "nonce", &state_param));

    let challenge = PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(verifier));
    let returned_state = state_param.clone();
    let mut request = client
        .authorize_url(move || CsrfToken::new(returned_state))
        .add_scopes(endpoints.scopes.iter().cloned().map(Scope::new))
        .set_pkce_challenge(challenge);
    for (name, value) in &endpoints.extra_authorize_params {
        request = request.add_extra_param(name.clone(), value.clone());
    }
    if let Some(nonce) = &nonce {
        request = request.add_extra_param("nonce", nonce.clone());
    }
    let (url, _) = request.url();

    let now = state.clock.unix();
    let expires_at = now + FLOW_TTL_SECONDS;
    let record = FlowRecord {
        purpose: purpose.to_owned(),
        provider: endpoints.provider.clone(),
        payload: serde_json::to_value(payload)
            .map_err(|e| FlowError::Config(format!("payload: {e}")))?,
        oidc: oidc_nonce,
        created_at: now,
        ttl: expires_at,
    };
    let key = keys::oauth_flow(&hash_state(&state_param));
    state
        .table
        .put(domain::to_item(&key, &record), Some(Condition::NotExists))
        .await?;
    Ok(Started {
        authorization_url: url.to_string(),
        state: state_param,
        nonce,
        expires_at,
    })
}

/// Take back the flow a callback's `state` names, exactly once: one conditional delete, so of
/// two callbacks racing with the same state one wins. A state that is missing, malformed,
/// unknown, spent, expired or filed for another purpose is `InvalidState` (and a state of
/// another purpose is left alone).
pub async fn consume<P: DeserializeOwned>(
    state: &AppState,
    state_param: &str,
    purpose: &str,
) -> Result<Flow<P>> {
    let state_param = state_param.trim();
    if !looks_like_state(state_param) {
        return Err(FlowError::InvalidState);
    }
    let key = keys::oauth_flow(&hash_state(state_param));
    let condition = Condition::Equals("purpose".into(), Value::from(purpose));
    let item = match state.table.delete(&key, Some(condition)).await {
        Ok(Some(item)) => item,
        Ok(None) | Err(StoreError::ConditionFailed) => return Err(FlowError::InvalidState),
        Err(error) => return Err(error.into()),
    };
    let record: FlowRecord = domain::from_item(item).map_err(Error::from)?;
    if record.ttl <= state.clock.unix() {
        return Err(FlowError::InvalidState);
    }
    let payload = serde_json::from_value(record.payload)
        .map_err(|e| Error::internal(format!("OAuth flow payload: {e}")))?;
    let secret = code_secret::get(state).await?;
    Ok(Flow {
        provider: record.provider,
        payload,
        nonce: record
            .oidc
            .then(|| derive(secret.as_slice(), "nonce", state_param)),
        created_at: record.created_at,
        verifier: derive(secret.as_slice(), "pkce", state_param).into(),
    })
}

/// Trade the callback's `code` for tokens, with the flow's PKCE verifier.
pub async fn exchange<P>(endpoints: &Endpoints, code: &str, flow: &Flow<P>) -> Result<Tokens> {
    let client = oauth_client(endpoints)?;
    let http = outbound::client()?;
    let response = client
        .exchange_code(AuthorizationCode::new(code.to_owned()))
        .set_pkce_verifier(PkceCodeVerifier::new(
            flow.verifier.expose_secret().to_owned(),
        ))
        .request_async(http)
        .await
        .map_err(|e| token_error(&endpoints.token_url, e))?;
    Ok(tokens_of(response, &endpoints.scopes))
}

/// A new access token for a refresh token. A provider that refuses (`invalid_grant`: revoked,
/// expired) answers `Refused`; the caller decides what that means (reconnect, sign in again).
pub async fn refresh(endpoints: &Endpoints, refresh_token: &str) -> Result<Tokens> {
    let client = oauth_client(endpoints)?;
    let http = outbound::client()?;
    let token = RefreshToken::new(refresh_token.to_owned());
    let response = client
        .exchange_refresh_token(&token)
        .request_async(http)
        .await
        .map_err(|e| token_error(&endpoints.token_url, e))?;
    Ok(tokens_of(response, &endpoints.scopes))
}

/// Revoke a token at the provider's RFC 7009 endpoint. Answers `false` when the provider has
/// none (nothing to do). Done by hand rather than through `oauth2`, which refuses any
/// non-https revocation URL, loopback included (our tests' provider).
pub async fn revoke(endpoints: &Endpoints, token: &str, kind: TokenKind) -> Result<bool> {
    let Some(url) = &endpoints.revocation_url else {
        return Ok(false);
    };
    let parsed = outbound::parse_allowed_url(url)?;
    let hint = match kind {
        TokenKind::Access => "access_token",
        TokenKind::Refresh => "refresh_token",
    };
    let mut form = vec![
        ("token", token.to_owned()),
        ("token_type_hint", hint.into()),
    ];
    let mut request = outbound::client()?
        .post(parsed)
        .header(reqwest::header::ACCEPT, "application/json");
    let secret = endpoints.client_secret.as_ref().map(|s| s.expose_secret());
    match endpoints.client_auth {
        ClientAuth::BasicHeader => {
            request =
                request.basic_auth(form_encode(&endpoints.client_id), secret.map(form_encode));
        }
        ClientAuth::RequestBody => {
            form.push(("client_id", endpoints.client_id.clone()));
            if let Some(secret) = secret {
                form.push(("client_secret", secret.to_owned()));
            }
        }
    }
    let response = request
        .form(&form)
        .send()
        .await
        .map_err(|e| OutboundError::Unreachable {
            url: url.clone(),
            reason: if e.is_timeout() {
                "timed out".into()
            } else {
                "request failed".into()
            },
        })?;
    let status = response.status();
    if status.is_success() {
        return Ok(true);
    }
    let body = outbound::read_capped(url, response)
        .await
        .unwrap_or_default();
    match serde_json::from_slice::<ProviderError>(&body) {
        Ok(refusal) => Err(FlowError::Refused {
            error: refusal.error,
            description: refusal.error_description,
        }),
        Err(_) => Err(OutboundError::Status {
            url: url.clone(),
            status: status.as_u16(),
        }
        .into()),
    }
}

/// The SHA-256 (hex) of a `state`: the flow item's key.
pub fn hash_state(state_param: &str) -> String {
    hex::encode(Sha256::digest(state_param.as_bytes()))
}

/// Whether a presented `state` can be one of ours at all (43 base64url characters).
fn looks_like_state(state_param: &str) -> bool {
    state_param.len() == 43
        && state_param
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A per-flow value derived from the state with the server secret: the PKCE verifier or the
/// nonce (43 base64url characters, within PKCE's 43..=128 unreserved characters).
fn derive(secret: &[u8], label: &str, state_param: &str) -> String {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
    let mut context = aws_lc_rs::hmac::Context::with_key(&key);
    context.update(b"latchkey-oauth-v1\0");
    context.update(label.as_bytes());
    context.update(b"\0");
    context.update(state_param.as_bytes());
    URL_SAFE_NO_PAD.encode(context.sign().as_ref())
}

/// RFC 6749 section 2.3.1: the Basic credentials are form-encoded first.
fn form_encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// The `id_token` of an OIDC token response, which `oauth2`'s basic response drops.
#[derive(Clone, Debug, Deserialize, Serialize)]
struct IdTokenField {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id_token: Option<String>,
}
impl ExtraTokenFields for IdTokenField {}

type ProviderTokenResponse = StandardTokenResponse<IdTokenField, BasicTokenType>;

/// A client before its endpoints are set.
type BareClient = oauth2::Client<
    BasicErrorResponse,
    ProviderTokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
>;

/// A client with its authorization and token endpoints.
type ProviderClient = oauth2::Client<
    BasicErrorResponse,
    ProviderTokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

fn oauth_client(endpoints: &Endpoints) -> Result<ProviderClient> {
    let url = |name: &str, value: &str| {
        outbound::parse_allowed_url(value)
            .map_err(|_| FlowError::Config(format!("{name} {value} is not an https:// URL")))
    };
    let mut client = BareClient::new(ClientId::new(endpoints.client_id.clone()))
        .set_auth_uri(AuthUrl::from_url(url(
            "authorize URL",
            &endpoints.authorize_url,
        )?))
        .set_token_uri(TokenUrl::from_url(url("token URL", &endpoints.token_url)?))
        .set_redirect_uri(
            RedirectUrl::new(endpoints.redirect_uri.clone())
                .map_err(|e| FlowError::Config(format!("redirect URI: {e}")))?,
        )
        .set_auth_type(match endpoints.client_auth {
            ClientAuth::BasicHeader => oauth2::AuthType::BasicAuth,
            ClientAuth::RequestBody => oauth2::AuthType::RequestBody,
        });
    if let Some(secret) = &endpoints.client_secret {
        client = client.set_client_secret(ClientSecret::new(secret.expose_secret().to_owned()));
    }
    Ok(client)
}

fn tokens_of(response: ProviderTokenResponse, asked: &[String]) -> Tokens {
    let scope = match response.scopes() {
        Some(scopes) => Some(
            scopes
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(" "),
        ),
        None if asked.is_empty() => None,
        None => Some(asked.join(" ")),
    };
    Tokens {
        access_token: response.access_token().secret().clone().into(),
        refresh_token: response.refresh_token().map(|t| t.secret().clone().into()),
        expires_in: response.expires_in().map(|d| d.as_secs()),
        id_token: response.extra_fields().id_token.clone().map(Into::into),
        scope,
    }
}

/// An OAuth error body (RFC 6749 section 5.2).
#[derive(Deserialize)]
struct ProviderError {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

fn token_error<RE: std::error::Error + 'static>(
    url: &str,
    error: RequestTokenError<RE, BasicErrorResponse>,
) -> FlowError {
    match error {
        RequestTokenError::ServerResponse(refusal) => FlowError::Refused {
            error: refusal.error().to_string(),
            description: refusal.error_description().cloned(),
        },
        // GitHub answers a refused code with `200 {"error": ...}`, which does not parse as
        // tokens: read it as the refusal it is.
        RequestTokenError::Parse(parse, body) => {
            match serde_json::from_slice::<ProviderError>(&body) {
                Ok(refusal) => FlowError::Refused {
                    error: refusal.error,
                    description: refusal.error_description,
                },
                Err(_) => OutboundError::Malformed {
                    url: url.to_owned(),
                    reason: parse.to_string(),
                }
                .into(),
            }
        }
        RequestTokenError::Request(error) => OutboundError::Unreachable {
            url: url.to_owned(),
            reason: error.to_string(),
        }
        .into(),
        RequestTokenError::Other(reason) => OutboundError::Malformed {
            url: url.to_owned(),
            reason,
        }
        .into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_is_43_base64url_characters() {
        assert!(looks_like_state(&"a".repeat(43)));
        assert!(looks_like_state(
            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ-_01234"
        ));
        assert!(!looks_like_state(&"a".repeat(42)));
        assert!(!looks_like_state(&format!("{}=", "a".repeat(42))));
        assert!(!looks_like_state(""));
    }

    #[test]
    fn the_verifier_and_nonce_are_derived_per_state_and_differ() {
        let secret = [7u8; 32];
        let state = "a".repeat(43);
        let verifier = derive(&secret, "pkce", &state);
        assert_eq!(verifier, derive(&secret, "pkce", &state));
        assert_eq!(verifier.len(), 43);
        assert_ne!(verifier, derive(&secret, "nonce", &state));
        assert_ne!(verifier, derive(&secret, "pkce", &"b".repeat(43)));
        assert_ne!(verifier, derive(&[8u8; 32], "pkce", &state));
    }

    #[test]
    fn a_provider_error_body_reads_as_a_refusal() {
        let body = br#"{"error":"invalid_grant","error_description":"code used"}"#.to_vec();
        let parse = serde_path_to_error::deserialize::<_, ProviderTokenResponse>(
            &mut serde_json::Deserializer::from_slice(&body),
        )
        .unwrap_err();
        let error =
            token_error::<std::io::Error>("https://p/token", RequestTokenError::Parse(parse, body));
        assert!(
            matches!(error, FlowError::Refused { ref error, .. } if error == "invalid_grant"),
            "{error:?}"
        );
    }
}
