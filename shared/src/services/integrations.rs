//! Integrations, the registry and the keys: the provider registry (administrators write, anyone
//! signed in reads, a client secret is stored encrypted and never shown), the built-in Google and
//! GitHub entries from the oauth settings, users' manual provider API keys (encrypted, read back
//! by their owner only), and the Google search keys from configuration. OAuth connections and
//! `valid-token` are `services::connections`.
//!
//! Decisions API.md leaves open:
//! - Built-in entries (Google, GitHub, present when their client id is configured) are
//!   read-only: changing or deleting one, or creating a provider with its id, answers `409
//!   conflict` (they change with the settings).
//! - `PUT /auth/providers/{id}` takes any subset of the create body; fields given replace the
//!   stored ones, an omitted `oauth.client_secret` keeps the stored secret.
//! - A provider API key may be stored only for a provider in the registry (`404` otherwise).

use crate::domain::ids::UserId;
use std::collections::BTreeMap;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::config::{Config, check_endpoint_url};
use crate::domain::integrations::{
    self as domain, ConnectionType, MAX_AUTHORIZATION_PARAMS, MAX_CATEGORIES, MAX_CATEGORY_CHARS,
    MAX_CLIENT_ID_CHARS, MAX_CLIENT_SECRET_CHARS, MAX_ICON_CHARS, MAX_NAME_CHARS,
    MAX_PROVIDER_KEY_CHARS, MAX_SCOPE_CHARS, MAX_SCOPES, PROVIDERS_INDEX, ProviderKeyRecord,
    ProviderOAuth, ProviderRecord, RESERVED_AUTHORIZATION_PARAMS, is_provider_id,
};
use crate::domain::{MalformedItem, keys};
use crate::ports::{CipherError, Condition, StoreError};
use crate::services::plans::is_administrator;
use crate::services::tokens::AccessClaims;
use crate::{AppState, Error};

/// Google's endpoints when `LATCHKEY_GOOGLE_ISSUER` is Google itself.
pub const GOOGLE_ISSUER: &str = "https://accounts.google.com";
const GOOGLE_AUTHORIZATION_URL: &str = "https://accounts.google.com/o/oauth2/v2/auth";
const GOOGLE_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";
const GOOGLE_USERINFO_URL: &str = "https://openidconnect.googleapis.com/v1/userinfo";
const GOOGLE_REVOCATION_URL: &str = "https://oauth2.googleapis.com/revoke";

/// What can go wrong here; the edge turns each into the API error of API.md.
#[derive(Debug, thiserror::Error)]
pub enum IntegrationError {
    #[error("{field}: {problem}")]
    InvalidField {
        field: &'static str,
        problem: String,
    },
    #[error("only administrators change the provider registry")]
    NotAdministrator,
    #[error("no such provider")]
    UnknownProvider,
    #[error("a provider with this id exists")]
    ProviderExists,
    #[error("built-in providers follow the settings")]
    BuiltIn,
    #[error("no API key stored for this provider")]
    NoKey,
    #[error("google search keys are not configured")]
    SearchKeysUnset,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Malformed(#[from] MalformedItem),
    #[error(transparent)]
    Cipher(#[from] CipherError),
    #[error(transparent)]
    Api(#[from] Error),
}

impl From<IntegrationError> for Error {
    fn from(error: IntegrationError) -> Self {
        match error {
            IntegrationError::InvalidField { field, problem } => {
                Error::invalid_field(field, &problem)
            }
            IntegrationError::NotAdministrator => {
                Error::forbidden("Only administrators change the provider registry")
            }
            IntegrationError::UnknownProvider => Error::not_found("No provider with this id"),
            IntegrationError::ProviderExists => Error::conflict(
                crate::error::ErrorCode::Conflict,
                "A provider with this id already exists",
            ),
            IntegrationError::BuiltIn => Error::conflict(
                crate::error::ErrorCode::Conflict,
                "This provider is built in from the server's settings and cannot be changed here",
            ),
            IntegrationError::NoKey => Error::not_found("No API key stored for this provider"),
            IntegrationError::SearchKeysUnset => {
                Error::not_found("Google search keys are not configured")
            }
            IntegrationError::Store(error) => error.into(),
            IntegrationError::Malformed(error) => error.into(),
            IntegrationError::Cipher(error) => error.into(),
            IntegrationError::Api(error) => error,
        }
    }
}

type Result<T, E = IntegrationError> = std::result::Result<T, E>;

fn invalid(field: &'static str, problem: impl Into<String>) -> IntegrationError {
    IntegrationError::InvalidField {
        field,
        problem: problem.into(),
    }
}

// ----------------------------------------------------------------------------------------------
// Requests and answers
// ----------------------------------------------------------------------------------------------

/// Scopes as a list, or as one space-separated string.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum Scopes {
    List(Vec<String>),
    Text(String),
}

impl Scopes {
    fn into_list(self) -> Vec<String> {
        match self {
            Self::List(list) => list,
            Self::Text(text) => text.split_whitespace().map(str::to_owned).collect(),
        }
    }
}

/// `POST /auth/providers`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "id": "acme-crm", "name": "Acme CRM", "icon": "https://acme.example/icon.png",
    "categories": ["crm"], "connectionType": "oauth",
    "oauth": {"authorization_url": "https://acme.example/oauth/authorize",
        "token_url": "https://acme.example/oauth/token",
        "userinfo_url": "https://acme.example/oauth/userinfo",
        "client_id": "latchkey", "client_secret": "s3cret", "scopes": ["contacts.read"],
        "authorization_params": {"access_type": "offline"}}
}))]
pub struct NewProvider {
    /// 1 to 64 of `a-z 0-9 - _ .`; appears in paths and in the OAuth redirect URI.
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub icon: Option<String>,
    #[serde(default)]
    pub categories: Option<Vec<String>>,
    #[serde(rename = "connectionType")]
    pub connection_type: ConnectionType,
    /// Required when `connectionType` is `oauth`.
    #[serde(default)]
    pub oauth: Option<OAuthSettings>,
}

/// A provider's OAuth client, as an administrator gives it. URLs are https (http only on
/// loopback).
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OAuthSettings {
    pub authorization_url: String,
    pub token_url: String,
    #[serde(default)]
    pub userinfo_url: Option<String>,
    /// An RFC 7009 revocation endpoint: disconnecting revokes the tokens there.
    #[serde(default)]
    pub revocation_url: Option<String>,
    pub client_id: String,
    /// Stored encrypted, never shown again. Omit for a public client (PKCE only).
    #[serde(default)]
    pub client_secret: Option<String>,
    #[serde(default)]
    pub scopes: Option<Scopes>,
    /// Extra authorization parameters, e.g. `{"access_type": "offline", "prompt": "consent"}`.
    #[serde(default)]
    pub authorization_params: Option<BTreeMap<String, String>>,
}

/// `PUT /auth/providers/{id}`: any subset of the create body.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderChange {
    /// If given, must be the id in the path.
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub icon: Option<String>,
    #[serde(default)]
    pub categories: Option<Vec<String>>,
    #[serde(default, rename = "connectionType")]
    pub connection_type: Option<ConnectionType>,
    #[serde(default)]
    pub oauth: Option<OAuthChange>,
}

/// Changes to a provider's OAuth client; an omitted `client_secret` keeps the stored one.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OAuthChange {
    #[serde(default)]
    pub authorization_url: Option<String>,
    #[serde(default)]
    pub token_url: Option<String>,
    #[serde(default)]
    pub userinfo_url: Option<String>,
    #[serde(default)]
    pub revocation_url: Option<String>,
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub client_secret: Option<String>,
    #[serde(default)]
    pub scopes: Option<Scopes>,
    #[serde(default)]
    pub authorization_params: Option<BTreeMap<String, String>>,
}

/// A registry entry as listed (seed 001's shape).
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct ProviderSummary {
    pub id: String,
    pub name: String,
    pub icon: Option<String>,
    pub categories: Vec<String>,
    #[serde(rename = "connectionType")]
    pub connection_type: ConnectionType,
}

/// A registry entry in full: never the client secret.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct ProviderDetails {
    pub id: String,
    pub name: String,
    pub icon: Option<String>,
    pub categories: Vec<String>,
    #[serde(rename = "connectionType")]
    pub connection_type: ConnectionType,
    /// Built in from the server's settings (Google, GitHub): read-only here.
    pub builtin: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oauth: Option<OAuthView>,
    /// RFC 3339; absent for built-in entries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
}

/// A provider's OAuth client as shown: whether a secret is set, never the secret.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct OAuthView {
    pub authorization_url: String,
    pub token_url: String,
    pub userinfo_url: Option<String>,
    pub revocation_url: Option<String>,
    pub client_id: String,
    pub has_client_secret: bool,
    pub scopes: Vec<String>,
    pub authorization_params: BTreeMap<String, String>,
}

/// `GET /auth/apikeys/{providerId}`.
#[derive(Clone, Serialize, ToSchema)]
pub struct ProviderApiKey {
    #[schema(schema_with = crate::http::answers::always_true)]
    pub success: bool,
    /// The key, decrypted.
    #[serde(rename = "apiKey")]
    pub api_key: String,
}

/// `GET /auth/google-search-keys`.
#[derive(Clone, Serialize, ToSchema)]
pub struct GoogleSearchKeys {
    #[serde(rename = "apiKey")]
    pub api_key: String,
    #[serde(rename = "searchEngineId")]
    pub search_engine_id: String,
}

// ----------------------------------------------------------------------------------------------
// Providers as the flows use them
// ----------------------------------------------------------------------------------------------

/// Where a provider's client secret is.
#[derive(Clone)]
pub enum ClientSecret {
    None,
    /// From the settings (built-in entries).
    Configured(SecretString),
    /// Cipher output under `client_secret_context`, base64 (registry entries).
    Encrypted(String),
}

/// How to read the connected account's email after the token exchange.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EmailSource {
    None,
    /// An OIDC-style userinfo endpoint answering `{"email": ...}`.
    Userinfo(String),
    /// GitHub's REST API: `/user`, then `/user/emails` for the primary verified address.
    Github {
        api_url: String,
    },
}

/// A provider's OAuth client, resolved (built-in or stored).
#[derive(Clone)]
pub struct OAuthClient {
    pub authorization_url: String,
    pub token_url: String,
    pub revocation_url: Option<String>,
    pub client_id: String,
    pub client_secret: ClientSecret,
    pub scopes: Vec<String>,
    pub authorization_params: BTreeMap<String, String>,
    pub email: EmailSource,
    /// For Google under another issuer (tests, a proxy): the endpoints above are read from this
    /// issuer's discovery document on first use.
    pub discover_from: Option<String>,
}

/// A registry entry, built-in or stored.
#[derive(Clone)]
pub struct Provider {
    pub id: String,
    pub name: String,
    pub icon: Option<String>,
    pub categories: Vec<String>,
    pub connection_type: ConnectionType,
    pub oauth: Option<OAuthClient>,
    pub builtin: bool,
    pub created_at: Option<i64>,
    pub updated_at: Option<i64>,
}

impl Provider {
    pub fn summary(&self) -> ProviderSummary {
        ProviderSummary {
            id: self.id.clone(),
            name: self.name.clone(),
            icon: self.icon.clone(),
            categories: self.categories.clone(),
            connection_type: self.connection_type,
        }
    }

    pub fn details(&self) -> ProviderDetails {
        ProviderDetails {
            id: self.id.clone(),
            name: self.name.clone(),
            icon: self.icon.clone(),
            categories: self.categories.clone(),
            connection_type: self.connection_type,
            builtin: self.builtin,
            oauth: self.oauth.as_ref().map(|oauth| OAuthView {
                authorization_url: oauth.authorization_url.clone(),
                token_url: oauth.token_url.clone(),
                userinfo_url: match &oauth.email {
                    EmailSource::Userinfo(url) => Some(url.clone()),
                    EmailSource::Github { api_url } => Some(format!("{api_url}/user")),
                    EmailSource::None => None,
                },
                revocation_url: oauth.revocation_url.clone(),
                client_id: oauth.client_id.clone(),
                has_client_secret: !matches!(oauth.client_secret, ClientSecret::None),
                scopes: oauth.scopes.clone(),
                authorization_params: oauth.authorization_params.clone(),
            }),
            created_at: self.created_at.map(crate::domain::timestamp),
            updated_at: self.updated_at.map(crate::domain::timestamp),
        }
    }

    fn from_record(record: ProviderRecord) -> Self {
        Self {
            oauth: record.oauth.map(|oauth| OAuthClient {
                authorization_url: oauth.authorization_url,
                token_url: oauth.token_url,
                revocation_url: oauth.revocation_url,
                client_id: oauth.client_id,
                client_secret: oauth
                    .client_secret_ciphertext
                    .map_or(ClientSecret::None, ClientSecret::Encrypted),
                scopes: oauth.scopes,
                authorization_params: oauth.authorization_params,
                email: oauth
                    .userinfo_url
                    .map_or(EmailSource::None, EmailSource::Userinfo),
                discover_from: None,
            }),
            id: record.id,
            name: record.name,
            icon: record.icon,
            categories: record.categories,
            connection_type: record.connection_type,
            builtin: false,
            created_at: Some(record.created_at),
            updated_at: Some(record.updated_at),
        }
    }
}

/// The built-in entries: Google and GitHub, when their client ids are configured
/// (`config.oauth`, the social-login settings).
pub fn builtin_providers(config: &Config) -> Vec<Provider> {
    let configured = |secret: &Option<SecretString>| {
        secret
            .clone()
            .map_or(ClientSecret::None, ClientSecret::Configured)
    };
    let mut providers = Vec::new();
    if let Some(google) = &config.oauth.google {
        let own_issuer = google.issuer.trim_end_matches('/') == GOOGLE_ISSUER;
        let params = BTreeMap::from([
            // A refresh token, every time the user consents (Google sends one only on the
            // first consent otherwise).
            ("access_type".to_owned(), "offline".to_owned()),
            ("prompt".to_owned(), "consent".to_owned()),
        ]);
        providers.push(Provider {
            id: "google".into(),
            name: "Google".into(),
            icon: Some("https://www.google.com/favicon.ico".into()),
            categories: vec!["productivity".into()],
            connection_type: ConnectionType::Oauth,
            oauth: Some(OAuthClient {
                authorization_url: GOOGLE_AUTHORIZATION_URL.into(),
                token_url: GOOGLE_TOKEN_URL.into(),
                revocation_url: Some(GOOGLE_REVOCATION_URL.into()),
                client_id: google.client_id.clone(),
                client_secret: configured(&google.client_secret),
                scopes: google.scopes.clone(),
                authorization_params: params,
                email: EmailSource::Userinfo(GOOGLE_USERINFO_URL.into()),
                discover_from: (!own_issuer).then(|| google.issuer.clone()),
            }),
            builtin: true,
            created_at: None,
            updated_at: None,
        });
    }
    if let Some(github) = &config.oauth.github {
        providers.push(Provider {
            id: "github".into(),
            name: "GitHub".into(),
            icon: Some("https://github.com/favicon.ico".into()),
            categories: vec!["developer".into()],
            connection_type: ConnectionType::Oauth,
            oauth: Some(OAuthClient {
                authorization_url: github.authorize_url.clone(),
                token_url: github.token_url.clone(),
                // GitHub revokes through its REST API with the client's basic auth, not RFC
                // 7009: disconnecting deletes the stored token only.
                revocation_url: None,
                client_id: github.client_id.clone(),
                client_secret: configured(&github.client_secret),
                scopes: crate::config::GITHUB_SCOPES
                    .split_whitespace()
                    .map(str::to_owned)
                    .collect(),
                authorization_params: BTreeMap::new(),
                email: EmailSource::Github {
                    api_url: github.api_url.clone(),
                },
                discover_from: None,
            }),
            builtin: true,
            created_at: None,
            updated_at: None,
        });
    }
    providers
}

fn builtin(config: &Config, id: &str) -> Option<Provider> {
    builtin_providers(config).into_iter().find(|p| p.id == id)
}

/// One provider by id: built-in first, then the registry. `UnknownProvider` when neither has it.
pub async fn find(state: &AppState, id: &str) -> Result<Provider> {
    if let Some(provider) = builtin(&state.config, id) {
        return Ok(provider);
    }
    if !is_provider_id(id) {
        return Err(IntegrationError::UnknownProvider);
    }
    let item = state
        .table
        .get(&keys::provider(id))
        .await?
        .ok_or(IntegrationError::UnknownProvider)?;
    Ok(Provider::from_record(ProviderRecord::from_item(item)?))
}

/// The client secret of a provider in plain text, decrypted when it is stored.
pub async fn client_secret(
    state: &AppState,
    provider: &str,
    secret: &ClientSecret,
) -> Result<Option<SecretString>> {
    Ok(match secret {
        ClientSecret::None => None,
        ClientSecret::Configured(secret) => Some(secret.clone()),
        ClientSecret::Encrypted(ciphertext) => {
            let bytes = base64_decode(ciphertext).ok_or(CipherError::Undecryptable)?;
            let plain = state
                .cipher
                .decrypt(&bytes, &domain::client_secret_context(provider))
                .await?;
            let text = String::from_utf8(plain).map_err(|_| CipherError::Undecryptable)?;
            Some(SecretString::from(text))
        }
    })
}

// ----------------------------------------------------------------------------------------------
// The registry
// ----------------------------------------------------------------------------------------------

/// `GET /auth/providers`: built-in entries, then the stored ones, in id order.
pub async fn list(state: &AppState) -> Result<Vec<ProviderSummary>> {
    let builtins = builtin_providers(&state.config);
    let mut providers: Vec<ProviderSummary> = builtins.iter().map(Provider::summary).collect();
    for item in state.table.query_gsi1(PROVIDERS_INDEX, "PROVIDER#").await? {
        let record = ProviderRecord::from_item(item)?;
        // A stored entry an older configuration allowed is hidden by the built-in one.
        if !builtins.iter().any(|b| b.id == record.id) {
            providers.push(Provider::from_record(record).summary());
        }
    }
    providers.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(providers)
}

/// `GET /auth/providers/{id}`.
pub async fn get(state: &AppState, id: &str) -> Result<ProviderDetails> {
    Ok(find(state, id).await?.details())
}

fn require_administrator(state: &AppState, caller: &AccessClaims) -> Result<()> {
    if is_administrator(state, caller) {
        Ok(())
    } else {
        Err(IntegrationError::NotAdministrator)
    }
}

/// `POST /auth/providers` (administrators).
pub async fn create(
    state: &AppState,
    caller: &AccessClaims,
    new: NewProvider,
) -> Result<ProviderDetails> {
    require_administrator(state, caller)?;
    let id = new.id.trim().to_owned();
    if !is_provider_id(&id) {
        return Err(invalid(
            "id",
            "1 to 64 of a-z 0-9 - _ . starting with a letter or digit",
        ));
    }
    if builtin(&state.config, &id).is_some() {
        return Err(IntegrationError::ProviderExists);
    }
    let now = state.clock.unix();
    let oauth = match (new.connection_type, new.oauth) {
        (ConnectionType::Oauth, None) => {
            return Err(invalid("oauth", "required when connectionType is oauth"));
        }
        (ConnectionType::Oauth, Some(settings)) => {
            Some(oauth_record(state, &id, settings, None).await?)
        }
        (ConnectionType::ApiKey, Some(_)) => {
            return Err(invalid(
                "oauth",
                "only for connectionType oauth (an api_key provider has no OAuth client)",
            ));
        }
        (ConnectionType::ApiKey, None) => None,
    };
    let record = ProviderRecord {
        id,
        name: check_name(&new.name)?,
        icon: check_icon(new.icon)?,
        categories: check_categories(new.categories.unwrap_or_default())?,
        connection_type: new.connection_type,
        oauth,
        created_at: now,
        updated_at: now,
    };
    match state
        .table
        .put(record.to_item(), Some(Condition::NotExists))
        .await
    {
        Err(StoreError::ConditionFailed) => Err(IntegrationError::ProviderExists),
        other => other.map_err(IntegrationError::from),
    }?;
    Ok(Provider::from_record(record).details())
}

/// `PUT /auth/providers/{id}` (administrators).
pub async fn update(
    state: &AppState,
    caller: &AccessClaims,
    id: &str,
    change: ProviderChange,
) -> Result<ProviderDetails> {
    require_administrator(state, caller)?;
    if builtin(&state.config, id).is_some() {
        return Err(IntegrationError::BuiltIn);
    }
    if change.id.as_deref().is_some_and(|given| given.trim() != id) {
        return Err(invalid(
            "id",
            "must be the id in the path (ids do not change)",
        ));
    }
    if !is_provider_id(id) {
        return Err(IntegrationError::UnknownProvider);
    }
    let item = state
        .table
        .get(&keys::provider(id))
        .await?
        .ok_or(IntegrationError::UnknownProvider)?;
    let mut record = ProviderRecord::from_item(item)?;
    if let Some(name) = change.name {
        record.name = check_name(&name)?;
    }
    if change.icon.is_some() {
        record.icon = check_icon(change.icon)?;
    }
    if let Some(categories) = change.categories {
        record.categories = check_categories(categories)?;
    }
    if let Some(connection_type) = change.connection_type {
        record.connection_type = connection_type;
    }
    match record.connection_type {
        ConnectionType::ApiKey => {
            if change.oauth.is_some() {
                return Err(invalid(
                    "oauth",
                    "only for connectionType oauth (an api_key provider has no OAuth client)",
                ));
            }
            // No OAuth client, so no secret kept for nothing.
            record.oauth = None;
        }
        ConnectionType::Oauth => {
            record.oauth = match (record.oauth.take(), change.oauth) {
                (None, None) => {
                    return Err(invalid("oauth", "required when connectionType is oauth"));
                }
                (Some(stored), None) => Some(stored),
                (stored, Some(change)) => Some(merge_oauth(state, id, stored, change).await?),
            };
        }
    }
    record.updated_at = state.clock.unix();
    match state
        .table
        .put(record.to_item(), Some(Condition::Exists))
        .await
    {
        Err(StoreError::ConditionFailed) => Err(IntegrationError::UnknownProvider),
        other => other.map_err(IntegrationError::from),
    }?;
    Ok(Provider::from_record(record).details())
}

/// `DELETE /auth/providers/{id}` (administrators). Users' connections and keys for it stay
/// until they disconnect; `valid-token` for it answers `404`.
pub async fn delete(state: &AppState, caller: &AccessClaims, id: &str) -> Result<()> {
    require_administrator(state, caller)?;
    if builtin(&state.config, id).is_some() {
        return Err(IntegrationError::BuiltIn);
    }
    if !is_provider_id(id) {
        return Err(IntegrationError::UnknownProvider);
    }
    match state
        .table
        .delete(&keys::provider(id), Some(Condition::Exists))
        .await
    {
        Ok(_) => Ok(()),
        Err(StoreError::ConditionFailed) => Err(IntegrationError::UnknownProvider),
        Err(error) => Err(error.into()),
    }
}

async fn merge_oauth(
    state: &AppState,
    id: &str,
    stored: Option<ProviderOAuth>,
    change: OAuthChange,
) -> Result<ProviderOAuth> {
    let settings = match stored {
        // Switching an api_key provider to oauth: the change must be complete.
        None => OAuthSettings {
            authorization_url: change
                .authorization_url
                .ok_or_else(|| invalid("oauth.authorization_url", "required"))?,
            token_url: change
                .token_url
                .ok_or_else(|| invalid("oauth.token_url", "required"))?,
            userinfo_url: change.userinfo_url,
            revocation_url: change.revocation_url,
            client_id: change
                .client_id
                .ok_or_else(|| invalid("oauth.client_id", "required"))?,
            client_secret: change.client_secret,
            scopes: change.scopes,
            authorization_params: change.authorization_params,
        },
        Some(stored) => {
            let keep_secret = change.client_secret.is_none();
            let settings = OAuthSettings {
                authorization_url: change.authorization_url.unwrap_or(stored.authorization_url),
                token_url: change.token_url.unwrap_or(stored.token_url),
                userinfo_url: change.userinfo_url.or(stored.userinfo_url),
                revocation_url: change.revocation_url.or(stored.revocation_url),
                client_id: change.client_id.unwrap_or(stored.client_id),
                client_secret: change.client_secret,
                scopes: Some(change.scopes.unwrap_or(Scopes::List(stored.scopes))),
                authorization_params: Some(
                    change
                        .authorization_params
                        .unwrap_or(stored.authorization_params),
                ),
            };
            let kept = keep_secret
                .then_some(stored.client_secret_ciphertext)
                .flatten();
            return oauth_record(state, id, settings, kept).await;
        }
    };
    oauth_record(state, id, settings, None).await
}

/// A validated OAuth client with its secret encrypted (or `kept_secret`, already encrypted,
/// when no new secret is given).
async fn oauth_record(
    state: &AppState,
    id: &str,
    settings: OAuthSettings,
    kept_secret: Option<String>,
) -> Result<ProviderOAuth> {
    let url = |field: &'static str, value: String| -> Result<String> {
        let value = value.trim().to_owned();
        check_endpoint_url(&value).map_err(|problem| invalid(field, problem))?;
        Ok(value)
    };
    let authorization_url = url("oauth.authorization_url", settings.authorization_url)?;
    let token_url = url("oauth.token_url", settings.token_url)?;
    let userinfo_url = settings
        .userinfo_url
        .map(|u| url("oauth.userinfo_url", u))
        .transpose()?;
    let revocation_url = settings
        .revocation_url
        .map(|u| url("oauth.revocation_url", u))
        .transpose()?;
    let client_id = settings.client_id.trim().to_owned();
    if client_id.is_empty() || client_id.chars().count() > MAX_CLIENT_ID_CHARS {
        return Err(invalid(
            "oauth.client_id",
            format!("1 to {MAX_CLIENT_ID_CHARS} characters"),
        ));
    }
    if client_id.chars().any(char::is_control) {
        return Err(invalid("oauth.client_id", "no control characters"));
    }
    let scopes = settings.scopes.map(Scopes::into_list).unwrap_or_default();
    if scopes.len() > MAX_SCOPES {
        return Err(invalid("oauth.scopes", format!("at most {MAX_SCOPES}")));
    }
    if let Some(bad) = scopes.iter().find(|scope| {
        scope.is_empty()
            || scope.len() > MAX_SCOPE_CHARS
            || scope
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '\\')
    }) {
        return Err(invalid(
            "oauth.scopes",
            format!("`{bad}` is not a scope (printable, no spaces, quotes or backslashes)"),
        ));
    }
    let params = settings.authorization_params.unwrap_or_default();
    if params.len() > MAX_AUTHORIZATION_PARAMS {
        return Err(invalid(
            "oauth.authorization_params",
            format!("at most {MAX_AUTHORIZATION_PARAMS}"),
        ));
    }
    for (name, value) in &params {
        if RESERVED_AUTHORIZATION_PARAMS.contains(&name.as_str()) {
            return Err(invalid(
                "oauth.authorization_params",
                format!("`{name}` is set by the flow itself"),
            ));
        }
        if name.is_empty()
            || name.len() > 64
            || value.len() > 512
            || name.chars().chain(value.chars()).any(char::is_control)
        {
            return Err(invalid(
                "oauth.authorization_params",
                "names of 1 to 64 and values up to 512 printable characters",
            ));
        }
    }
    let client_secret_ciphertext = match settings.client_secret {
        Some(secret) => {
            if secret.is_empty() || secret.chars().count() > MAX_CLIENT_SECRET_CHARS {
                return Err(invalid(
                    "oauth.client_secret",
                    format!("1 to {MAX_CLIENT_SECRET_CHARS} characters"),
                ));
            }
            let ciphertext = state
                .cipher
                .encrypt(secret.as_bytes(), &domain::client_secret_context(id))
                .await?;
            Some(base64_encode(&ciphertext))
        }
        None => kept_secret,
    };
    Ok(ProviderOAuth {
        authorization_url,
        token_url,
        userinfo_url,
        revocation_url,
        client_id,
        client_secret_ciphertext,
        scopes,
        authorization_params: params,
    })
}

fn check_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(invalid("name", format!("1 to {MAX_NAME_CHARS} characters")));
    }
    if name.chars().any(char::is_control) {
        return Err(invalid("name", "no control characters"));
    }
    Ok(name.to_owned())
}

fn check_icon(icon: Option<String>) -> Result<Option<String>> {
    let Some(icon) = icon.map(|i| i.trim().to_owned()).filter(|i| !i.is_empty()) else {
        return Ok(None);
    };
    if icon.chars().count() > MAX_ICON_CHARS || icon.chars().any(char::is_control) {
        return Err(invalid(
            "icon",
            format!("up to {MAX_ICON_CHARS} printable characters"),
        ));
    }
    Ok(Some(icon))
}

fn check_categories(categories: Vec<String>) -> Result<Vec<String>> {
    if categories.len() > MAX_CATEGORIES {
        return Err(invalid("categories", format!("at most {MAX_CATEGORIES}")));
    }
    let mut checked = Vec::with_capacity(categories.len());
    for category in categories {
        let category = category.trim().to_owned();
        if category.is_empty()
            || category.chars().count() > MAX_CATEGORY_CHARS
            || category.chars().any(char::is_control)
        {
            return Err(invalid(
                "categories",
                format!("each 1 to {MAX_CATEGORY_CHARS} printable characters"),
            ));
        }
        if !checked.contains(&category) {
            checked.push(category);
        }
    }
    Ok(checked)
}

// ----------------------------------------------------------------------------------------------
// Provider API keys
// ----------------------------------------------------------------------------------------------

/// `POST /auth/apikeys/{providerId}`: store (or replace) the caller's key for a provider,
/// encrypted under `{user, provider, purpose}`.
pub async fn store_key(
    state: &AppState,
    user_id: &UserId,
    provider: &str,
    key: &str,
) -> Result<()> {
    let key = key.trim();
    if key.is_empty() || key.chars().count() > MAX_PROVIDER_KEY_CHARS {
        return Err(invalid(
            "apiKey",
            format!("1 to {MAX_PROVIDER_KEY_CHARS} characters"),
        ));
    }
    if key.chars().any(char::is_control) {
        return Err(invalid("apiKey", "no control characters"));
    }
    let provider = find(state, provider).await?.id;
    let ciphertext = state
        .cipher
        .encrypt(
            key.as_bytes(),
            &domain::provider_key_context(user_id, &provider),
        )
        .await?;
    let now = state.clock.unix();
    let record = ProviderKeyRecord {
        user_id: user_id.to_owned(),
        provider,
        key_ciphertext: base64_encode(&ciphertext),
        created_at: now,
        updated_at: now,
    };
    state.table.put(record.to_item(), None).await?;
    Ok(())
}

/// `GET /auth/apikeys/{providerId}`: the caller's own key, decrypted.
pub async fn read_key(
    state: &AppState,
    user_id: &UserId,
    provider: &str,
) -> Result<ProviderApiKey> {
    if !is_provider_id(provider) {
        return Err(IntegrationError::NoKey);
    }
    let item = state
        .table
        .get(&keys::provider_key(user_id, provider))
        .await?
        .ok_or(IntegrationError::NoKey)?;
    let record = ProviderKeyRecord::from_item(item)?;
    // The context names the user and provider of the item's key, not what the item says: a
    // ciphertext moved here from another user's item does not decrypt.
    let bytes = base64_decode(&record.key_ciphertext).ok_or(CipherError::Undecryptable)?;
    let plain = state
        .cipher
        .decrypt(&bytes, &domain::provider_key_context(user_id, provider))
        .await?;
    let api_key = String::from_utf8(plain).map_err(|_| CipherError::Undecryptable)?;
    Ok(ProviderApiKey {
        success: true,
        api_key,
    })
}

/// `GET /auth/google-search-keys`.
pub fn google_search_keys(state: &AppState) -> Result<GoogleSearchKeys> {
    let keys = state
        .config
        .google_search
        .as_ref()
        .ok_or(IntegrationError::SearchKeysUnset)?;
    Ok(GoogleSearchKeys {
        api_key: keys.api_key.clone(),
        search_engine_id: keys.engine_id.clone(),
    })
}

pub(crate) fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub(crate) fn base64_decode(text: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

/// A secret's text for a request to the provider.
pub fn expose(secret: &SecretString) -> &str {
    secret.expose_secret()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_come_as_a_list_or_a_spaced_string() {
        let list: Scopes = serde_json::from_str(r#"["a", "b"]"#).unwrap();
        let text: Scopes = serde_json::from_str(r#""a  b""#).unwrap();
        assert_eq!(list.into_list(), ["a", "b"]);
        assert_eq!(text.into_list(), ["a", "b"]);
    }

    #[test]
    fn builtins_follow_the_settings() {
        let mut config = Config::for_tests("/tmp/unused");
        assert!(builtin_providers(&config).is_empty());
        config.oauth.google = Some(crate::config::OidcProvider {
            name: "google".into(),
            issuer: GOOGLE_ISSUER.into(),
            client_id: "id".into(),
            client_secret: Some("s3cr3t-value".to_owned().into()),
            scopes: vec!["openid".into()],
        });
        let google = builtin(&config, "google").expect("google is built in");
        let details = google.details();
        assert!(details.builtin);
        let oauth = details.oauth.expect("an OAuth client");
        assert!(oauth.has_client_secret);
        assert_eq!(oauth.authorization_params["access_type"], "offline");
        let shown = serde_json::to_string(&google.details()).unwrap();
        assert!(!shown.contains("s3cr3t-value"), "{shown}");
        assert!(google.oauth.unwrap().discover_from.is_none());
    }
}
