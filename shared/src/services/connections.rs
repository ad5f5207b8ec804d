//! Integrations, the connections: a user connects their account at a provider of the registry
//! over OAuth (`connect` -> the provider -> `finish`), the provider's tokens are kept encrypted
//! under `{user, provider, purpose}`, listed without them (`connected`), handed to agents fresh
//! (`valid_token`), and revoked and deleted (`disconnect`). The flow itself (PKCE, state, token
//! endpoint calls) is `services::oauth_flow`.
//!
//! `valid_token` refreshes when the access token expires within 60 seconds. Concurrent callers
//! make one refresh request between them: a caller first claims the refresh with an
//! optimistic-lock write (the connection's `revision` must be the one it read; the claim writes
//! a new revision and a short lease), so exactly one claim wins; the others re-read until the
//! winner has stored the new tokens (or the lease lapses, when a crashed winner is replaced).
//! A provider that refuses the refresh token marks the connection `reconnect_required`.

use crate::domain::ids::UserId;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::adapters::outbound;
use crate::domain::integrations::{
    self as domain, ConnectionRecord, ConnectionTokens, ConnectionType, is_provider_id,
};
use crate::domain::{MalformedItem, keys, timestamp};
use crate::error::ErrorCode;
use crate::ports::{CipherError, Condition, Item, StoreError};
use crate::services::email_links::allowed_redirect;
use crate::services::integrations::{
    self, EmailSource, IntegrationError, OAuthClient, Provider, base64_decode, base64_encode,
};
use crate::services::oauth_flow::{self, ClientAuth, Endpoints, FlowError, TokenKind};
use crate::services::plans::is_administrator;
use crate::services::tokens::AccessClaims;
use crate::{AppState, Error};

/// The flow purpose of a connection (`oauth_flow::begin`/`consume`).
pub const PURPOSE: &str = "integration";
/// An access token expiring within this many seconds is refreshed before it is handed out.
pub const REFRESH_MARGIN_SECONDS: i64 = 60;
/// How long a claimed refresh may take before another caller may claim it: the outbound
/// request's 5-second limit, a KMS call and two writes, with room to spare.
pub const REFRESH_LEASE_SECONDS: i64 = 15;
/// How long a caller waits for another's refresh before giving up with `503`.
const WAIT_FOR_REFRESH: Duration = Duration::from_secs(REFRESH_LEASE_SECONDS as u64 + 5);

/// What can go wrong; the edge turns each into the API error of API.md.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    #[error(transparent)]
    Registry(#[from] IntegrationError),
    #[error("{field}: {problem}")]
    InvalidField {
        field: &'static str,
        problem: String,
    },
    /// The provider connects with an API key, not OAuth.
    #[error("the provider does not connect over OAuth")]
    NotOauth,
    #[error("no connection to this provider")]
    NotConnected,
    /// The provider refused the refresh token: the user must connect again.
    #[error("the provider refused to refresh; connect again")]
    ReconnectRequired,
    /// Another user's token, asked for by someone who is not an administrator.
    #[error("only administrators read another user's tokens")]
    NotAdministrator,
    /// Another caller's refresh neither finished nor lapsed in time.
    #[error("a refresh by another request did not finish in time")]
    RefreshBusy,
    #[error(transparent)]
    Flow(#[from] FlowError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Malformed(#[from] MalformedItem),
    #[error(transparent)]
    Cipher(#[from] CipherError),
    #[error(transparent)]
    Api(#[from] Error),
}

impl From<ConnectionError> for Error {
    fn from(error: ConnectionError) -> Self {
        match error {
            ConnectionError::Registry(error) => error.into(),
            ConnectionError::InvalidField { field, problem } => {
                Error::invalid_field(field, &problem)
            }
            ConnectionError::NotOauth => Error::invalid_field(
                "provider",
                "this provider connects with an API key (POST /auth/apikeys/{providerId})",
            ),
            ConnectionError::NotConnected => {
                Error::not_found("No connection to this provider; connect it first")
            }
            ConnectionError::ReconnectRequired => Error::new(
                ErrorCode::ReconnectRequired,
                "The provider no longer accepts this connection; connect it again",
            ),
            ConnectionError::NotAdministrator => {
                Error::forbidden("Only administrators read another user's provider tokens")
            }
            ConnectionError::RefreshBusy => Error::unavailable(crate::error::Internal(
                "a concurrent refresh did not finish in time".into(),
            )),
            ConnectionError::Flow(error) => error.into(),
            ConnectionError::Store(error) => error.into(),
            ConnectionError::Malformed(error) => error.into(),
            ConnectionError::Cipher(error) => error.into(),
            ConnectionError::Api(error) => error,
        }
    }
}

type Result<T, E = ConnectionError> = std::result::Result<T, E>;

/// What a pending connection flow remembers.
#[derive(Serialize, Deserialize)]
struct FlowPayload {
    user_id: UserId,
    #[serde(default)]
    redirect_to: Option<String>,
}

/// `GET /auth/connect/{provider}`.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ConnectStarted {
    /// Send the person here; the provider comes back to `/auth/callback/{provider}`.
    #[serde(rename = "authUrl")]
    pub auth_url: String,
}

/// A finished connection.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Connected {
    #[schema(schema_with = crate::http::answers::always_true)]
    pub success: bool,
    pub provider: String,
    /// Where the flow asked to go afterwards (allow-listed); not part of the answer.
    #[serde(skip)]
    pub redirect_to: Option<String>,
}

/// One connection as listed: never a token.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ConnectedApp {
    pub provider: String,
    /// The account's address at the provider, when its userinfo gave one.
    pub email: Option<String>,
    #[serde(rename = "connectedAt")]
    #[schema(format = DateTime)]
    pub connected_at: String,
    /// The provider refused the last refresh: connect again.
    #[serde(rename = "reconnectRequired")]
    pub reconnect_required: bool,
}

/// `GET /auth/connected`.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ConnectedApps {
    #[schema(schema_with = crate::http::answers::always_true)]
    pub success: bool,
    #[serde(rename = "connectedApps")]
    pub connected_apps: Vec<ConnectedApp>,
}

/// `GET /auth/valid-token`.
#[derive(Clone, Serialize, ToSchema)]
pub struct ValidToken {
    /// The provider's access token, valid for at least another minute when the provider says
    /// how long its tokens live.
    pub access_token: String,
    /// Unix seconds, when the provider said.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}

/// The redirect URI registered with a provider for connections.
pub fn redirect_uri(state: &AppState, provider: &str) -> String {
    format!("{}/auth/callback/{provider}", state.config.public_url)
}

/// The flow's view of a provider; the client secret only when the step sends it (connect does
/// not, so it costs no decryption).
async fn endpoints(state: &AppState, provider: &Provider, with_secret: bool) -> Result<Endpoints> {
    let oauth = oauth_of(provider)?;
    let mut authorize_url = oauth.authorization_url.clone();
    let mut token_url = oauth.token_url.clone();
    let mut revocation_url = oauth.revocation_url.clone();
    if oauth.discover_from.is_some()
        && let Some(google) = &state.config.oauth.google
    {
        let metadata = crate::services::oidc::metadata(state, google)
            .await
            .map_err(Error::from)?;
        authorize_url = metadata.authorization_endpoint.clone();
        token_url = metadata.token_endpoint.clone();
        revocation_url = metadata.revocation_endpoint.clone();
    }
    let client_secret = if with_secret {
        integrations::client_secret(state, &provider.id, &oauth.client_secret).await?
    } else {
        None
    };
    Ok(Endpoints {
        provider: provider.id.clone(),
        authorize_url,
        token_url,
        revocation_url,
        client_id: oauth.client_id.clone(),
        client_secret,
        scopes: oauth.scopes.clone(),
        extra_authorize_params: oauth
            .authorization_params
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        redirect_uri: redirect_uri(state, &provider.id),
        // GitHub reads the client's credentials from the form; everyone else from Basic.
        client_auth: match oauth.email {
            EmailSource::Github { .. } => ClientAuth::RequestBody,
            _ => ClientAuth::BasicHeader,
        },
    })
}

fn oauth_of(provider: &Provider) -> Result<&OAuthClient> {
    match (&provider.connection_type, &provider.oauth) {
        (ConnectionType::Oauth, Some(oauth)) => Ok(oauth),
        _ => Err(ConnectionError::NotOauth),
    }
}

/// `GET /auth/connect/{provider}`: the authorization URL (state + PKCE, filed for 10 minutes).
pub async fn connect(
    state: &AppState,
    user_id: &UserId,
    provider: &str,
    redirect_to: Option<&str>,
) -> Result<ConnectStarted> {
    let provider = integrations::find(state, provider).await?;
    let endpoints = endpoints(state, &provider, false).await?;
    let payload = FlowPayload {
        user_id: user_id.to_owned(),
        redirect_to: allowed_redirect(&state.config, redirect_to),
    };
    let started = oauth_flow::begin(state, &endpoints, PURPOSE, &payload, false).await?;
    Ok(ConnectStarted {
        auth_url: started.authorization_url,
    })
}

/// The callbacks: trade the code for tokens and store them encrypted. `path_provider` is the
/// provider of `GET /auth/callback/{provider}`; `caller`, the signed-in caller if any. A state
/// that is unknown, spent, expired, of another provider or of another user is
/// `invalid_oauth_state` (and is spent either way).
pub async fn finish(
    state: &AppState,
    path_provider: Option<&str>,
    caller: Option<&UserId>,
    code: &str,
    state_param: &str,
) -> Result<Connected> {
    let flow = oauth_flow::consume::<FlowPayload>(state, state_param, PURPOSE).await?;
    if path_provider.is_some_and(|p| p != flow.provider)
        || caller.is_some_and(|c| *c != flow.payload.user_id)
    {
        return Err(FlowError::InvalidState.into());
    }
    let code = code.trim();
    if code.is_empty() || code.len() > 2048 {
        return Err(ConnectionError::InvalidField {
            field: "code",
            problem: "required, at most 2048 characters".into(),
        });
    }
    let provider = integrations::find(state, &flow.provider).await?;
    let endpoints = endpoints(state, &provider, true).await?;
    let tokens = oauth_flow::exchange(&endpoints, code, &flow).await?;
    let access_token = tokens.access_token.expose_secret().to_owned();
    let email = account_email(&oauth_of(&provider)?.email, &access_token).await;
    let user_id = flow.payload.user_id;
    let plain = ConnectionTokens {
        access_token,
        refresh_token: tokens.refresh_token.map(|t| t.expose_secret().to_owned()),
    };
    let now = state.clock.unix();
    let record = ConnectionRecord {
        tokens_ciphertext: encrypt_tokens(state, &user_id, &provider.id, &plain).await?,
        user_id,
        provider: provider.id.clone(),
        email,
        connected_at: now,
        expires_at: tokens.expires_in.map(|s| now + s as i64),
        scope: tokens.scope,
        revision: new_revision(state),
        refresh_lease_until: None,
        reconnect_required: false,
    };
    // A reconnection replaces the old connection (and its revision, so a refresh in flight on
    // the old one cannot write over the new tokens).
    state.table.put(record.to_item(), None).await?;
    Ok(Connected {
        success: true,
        provider: provider.id,
        redirect_to: flow.payload.redirect_to,
    })
}

/// The connected account's address, best effort: a provider without userinfo, or one that
/// fails to answer, leaves it unknown rather than failing the connection.
async fn account_email(source: &EmailSource, access_token: &str) -> Option<String> {
    let found = match source {
        EmailSource::None => return None,
        EmailSource::Userinfo(url) => outbound::get_json::<Value>(url, Some(access_token))
            .await
            .map(|info| info["email"].as_str().map(str::to_owned)),
        EmailSource::Github { api_url } => github_email(api_url, access_token).await,
    };
    match found {
        Ok(email) => email,
        Err(error) => {
            tracing::warn!(error = %error, "could not read the connected account's email");
            None
        }
    }
}

async fn github_email(
    api_url: &str,
    access_token: &str,
) -> Result<Option<String>, outbound::OutboundError> {
    #[derive(Deserialize)]
    struct GithubEmail {
        email: String,
        #[serde(default)]
        primary: bool,
        #[serde(default)]
        verified: bool,
    }
    let user: Value = outbound::get_json(&format!("{api_url}/user"), Some(access_token)).await?;
    if let Some(email) = user["email"].as_str() {
        return Ok(Some(email.to_owned()));
    }
    let emails: Vec<GithubEmail> =
        outbound::get_json(&format!("{api_url}/user/emails"), Some(access_token)).await?;
    Ok(emails
        .into_iter()
        .find(|e| e.primary && e.verified)
        .map(|e| e.email))
}

/// `GET /auth/connected`: the caller's connections, never a token.
pub async fn connected(state: &AppState, user_id: &UserId) -> Result<ConnectedApps> {
    let items = state
        .table
        .query(&keys::user_partition(user_id), keys::CONNECTION_PREFIX)
        .await?;
    let mut connected_apps = Vec::with_capacity(items.len());
    for item in items {
        let record = ConnectionRecord::from_item(item)?;
        connected_apps.push(ConnectedApp {
            provider: record.provider,
            email: record.email,
            connected_at: timestamp(record.connected_at),
            reconnect_required: record.reconnect_required,
        });
    }
    Ok(ConnectedApps {
        success: true,
        connected_apps,
    })
}

/// `POST /auth/disconnect/{provider}`: revoke at the provider when it has a revocation endpoint
/// (best effort), then delete the stored tokens in any case.
pub async fn disconnect(state: &AppState, user_id: &UserId, provider_id: &str) -> Result<()> {
    if !is_provider_id(provider_id) {
        return Err(ConnectionError::NotConnected);
    }
    let key = keys::connection(user_id, provider_id);
    let Some(item) = state.table.get(&key).await? else {
        return Err(ConnectionError::NotConnected);
    };
    let record = ConnectionRecord::from_item(item)?;
    let owner = Owner {
        user_id,
        provider: provider_id,
    };
    if let Err(error) = revoke(state, &owner, &record).await {
        // The user asked to be disconnected: the stored tokens go whatever the provider says.
        tracing::warn!(provider = %provider_id, error = %error, "revocation at the provider failed");
    }
    state.table.delete(&key, None).await?;
    Ok(())
}

async fn revoke(state: &AppState, owner: &Owner<'_>, record: &ConnectionRecord) -> Result<()> {
    let provider = match integrations::find(state, owner.provider).await {
        Ok(provider) => provider,
        // Removed from the registry: nowhere to revoke.
        Err(IntegrationError::UnknownProvider) => return Ok(()),
        Err(error) => return Err(error.into()),
    };
    let endpoints = endpoints(state, &provider, true).await?;
    if endpoints.revocation_url.is_none() {
        return Ok(());
    }
    let tokens = decrypt_tokens(state, owner, record).await?;
    // Revoking the refresh token ends the whole grant (RFC 7009 section 2.1); without one,
    // the access token is all there is.
    match &tokens.refresh_token {
        Some(refresh) => oauth_flow::revoke(&endpoints, refresh, TokenKind::Refresh).await?,
        None => oauth_flow::revoke(&endpoints, &tokens.access_token, TokenKind::Access).await?,
    };
    Ok(())
}

/// `GET /auth/valid-token`: the access token of `user_id`'s connection (the caller's own unless
/// an administrator names another user), refreshed first when it expires within a minute.
pub async fn valid_token(
    state: &AppState,
    caller: &AccessClaims,
    provider_id: &str,
    user_id: Option<&str>,
) -> Result<ValidToken> {
    let provider_id = provider_id.trim();
    if provider_id.is_empty() {
        return Err(ConnectionError::InvalidField {
            field: "providerId",
            problem: "is required".into(),
        });
    }
    let user_id = match user_id.map(str::trim).filter(|u| !u.is_empty()) {
        Some(other) if other != caller.sub.as_str() => {
            if !is_administrator(state, caller) {
                return Err(ConnectionError::NotAdministrator);
            }
            // Not a user id at all: nobody has such a connection.
            UserId::parse(other).ok_or(ConnectionError::NotConnected)?
        }
        _ => caller.sub.clone(),
    };
    if !is_provider_id(provider_id) {
        return Err(ConnectionError::NotConnected);
    }
    let owner = Owner {
        user_id: &user_id,
        provider: provider_id,
    };
    let key = keys::connection(&user_id, provider_id);
    let deadline = tokio::time::Instant::now() + WAIT_FOR_REFRESH;
    let mut pause = Duration::from_millis(25);
    loop {
        let item = state
            .table
            .get(&key)
            .await?
            .ok_or(ConnectionError::NotConnected)?;
        let record = ConnectionRecord::from_item(item)?;
        if record.reconnect_required {
            return Err(ConnectionError::ReconnectRequired);
        }
        let now = state.clock.unix();
        if !record.expires_within(now, REFRESH_MARGIN_SECONDS) {
            let tokens = decrypt_tokens(state, &owner, &record).await?;
            return Ok(ValidToken {
                access_token: tokens.access_token,
                expires_at: record.expires_at,
            });
        }
        let leased = record.refresh_lease_until.is_some_and(|until| until > now);
        if !leased && let Some(refreshed) = claim_and_refresh(state, &owner, &record).await? {
            return Ok(refreshed);
        }
        // Another request holds the refresh (or just won the claim): read again shortly.
        if tokio::time::Instant::now() + pause > deadline {
            return Err(ConnectionError::RefreshBusy);
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(250));
    }
}

/// Claim the refresh of `record` (the revision read must still be current) and, having won,
/// refresh with the provider and store the new tokens. `None` when another request won the
/// claim: the caller re-reads.
async fn claim_and_refresh(
    state: &AppState,
    owner: &Owner<'_>,
    record: &ConnectionRecord,
) -> Result<Option<ValidToken>> {
    let key = keys::connection(owner.user_id, owner.provider);
    let claimed = new_revision(state);
    let mut set = Item::new();
    set.insert("revision".into(), claimed.clone().into());
    set.insert(
        "refresh_lease_until".into(),
        (state.clock.unix() + REFRESH_LEASE_SECONDS).into(),
    );
    match state
        .table
        .update(
            &key,
            set,
            Vec::new(),
            Some(Condition::Equals(
                "revision".into(),
                record.revision.clone().into(),
            )),
        )
        .await
    {
        Ok(_) => {}
        Err(StoreError::ConditionFailed) => return Ok(None),
        Err(error) => return Err(error.into()),
    }

    let outcome = refresh_with_provider(state, owner, record).await;
    let mut set = Item::new();
    set.insert("revision".into(), new_revision(state).into());
    let mut remove = vec!["refresh_lease_until".to_owned()];
    let answer = match outcome {
        Ok((tokens, expires_at, scope)) => {
            set.insert(
                "tokens_ciphertext".into(),
                encrypt_tokens(state, owner.user_id, owner.provider, &tokens)
                    .await?
                    .into(),
            );
            match expires_at {
                Some(at) => {
                    set.insert("expires_at".into(), at.into());
                }
                None => remove.push("expires_at".to_owned()),
            }
            if let Some(scope) = scope {
                set.insert("scope".into(), scope.into());
            }
            Ok(ValidToken {
                access_token: tokens.access_token,
                expires_at,
            })
        }
        Err(ConnectionError::ReconnectRequired) => {
            set.insert("reconnect_required".into(), true.into());
            Err(ConnectionError::ReconnectRequired)
        }
        // Could not reach the provider: release the claim so the next request tries again.
        Err(error) => Err(error),
    };
    match state
        .table
        .update(
            &key,
            set,
            remove,
            Some(Condition::Equals("revision".into(), claimed.into())),
        )
        .await
    {
        Ok(_) => {}
        // Reconnected (or disconnected) while we refreshed: what is stored now is newer than
        // what we got; the access token we got is still good to hand out.
        Err(StoreError::ConditionFailed) => {
            tracing::warn!(provider = %record.provider, "connection changed during a refresh");
        }
        Err(error) => return Err(error.into()),
    }
    answer.map(Some)
}

/// Refresh with the provider: the new tokens (a rotated refresh token replaces the old one),
/// their expiry and scope. A refusal is `ReconnectRequired`.
async fn refresh_with_provider(
    state: &AppState,
    owner: &Owner<'_>,
    record: &ConnectionRecord,
) -> Result<(ConnectionTokens, Option<i64>, Option<String>)> {
    let old = decrypt_tokens(state, owner, record).await?;
    let Some(refresh_token) = old.refresh_token.clone() else {
        return Err(ConnectionError::ReconnectRequired);
    };
    let provider = match integrations::find(state, owner.provider).await {
        Ok(provider) => provider,
        Err(IntegrationError::UnknownProvider) => return Err(ConnectionError::NotConnected),
        Err(error) => return Err(error.into()),
    };
    let endpoints = endpoints(state, &provider, true).await?;
    let fresh = match oauth_flow::refresh(&endpoints, &refresh_token).await {
        Ok(fresh) => fresh,
        Err(FlowError::Refused { error, .. }) => {
            tracing::info!(provider = %record.provider, refusal = %error, "the provider refused a refresh");
            return Err(ConnectionError::ReconnectRequired);
        }
        Err(error) => return Err(error.into()),
    };
    let now = state.clock.unix();
    let tokens = ConnectionTokens {
        access_token: fresh.access_token.expose_secret().to_owned(),
        refresh_token: Some(
            fresh
                .refresh_token
                .as_ref()
                .map_or(refresh_token, |t| t.expose_secret().to_owned()),
        ),
    };
    Ok((
        tokens,
        fresh.expires_in.map(|s| now + s as i64),
        fresh.scope,
    ))
}

async fn encrypt_tokens(
    state: &AppState,
    user_id: &UserId,
    provider: &str,
    tokens: &ConnectionTokens,
) -> Result<String> {
    let plain = SecretString::from(
        serde_json::to_string(tokens).map_err(|e| Error::internal(e.to_string()))?,
    );
    let ciphertext = state
        .cipher
        .encrypt(
            plain.expose_secret().as_bytes(),
            &domain::connection_context(user_id, provider),
        )
        .await?;
    Ok(base64_encode(&ciphertext))
}

/// The tokens of the connection read under `key`. The context names the user and provider the
/// request asked for (the item's key), never what the item says of itself, so a ciphertext
/// copied from another user's connection does not decrypt here.
async fn decrypt_tokens(
    state: &AppState,
    key: &Owner<'_>,
    record: &ConnectionRecord,
) -> Result<ConnectionTokens> {
    let bytes = base64_decode(&record.tokens_ciphertext).ok_or(CipherError::Undecryptable)?;
    let plain = state
        .cipher
        .decrypt(
            &bytes,
            &domain::connection_context(key.user_id, key.provider),
        )
        .await?;
    serde_json::from_slice(&plain).map_err(|_| CipherError::Undecryptable.into())
}

/// Whose connection an item is, as the request named it.
struct Owner<'a> {
    user_id: &'a UserId,
    provider: &'a str,
}

fn new_revision(state: &AppState) -> String {
    let mut bytes = [0u8; 16];
    state.random.fill(&mut bytes);
    hex::encode(bytes)
}
