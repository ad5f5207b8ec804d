//! Integrations: the registry of external providers, a user's OAuth connection to one, and a
//! user's manual API key for one. The stored records, their encryption contexts, and the rules a
//! provider entry must follow. No I/O.
//!
//! Items (keys in `keys`): `PROVIDER#<id>` / `META` (`ProviderRecord`, listed through GSI1
//! `PROVIDERS`), `USER#<id>` / `CONNECTION#<provider>` (`ConnectionRecord`), `USER#<id>` /
//! `PROVIDERKEY#<provider>` (`ProviderKeyRecord`). Every secret among them (a provider's client
//! secret, a connection's tokens, a provider API key) is stored only as Cipher output under a
//! context naming the user (when there is one), the provider and the purpose: a ciphertext
//! copied onto another user's or provider's item does not decrypt there.

use crate::domain::ids::UserId;
use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::keys;
use super::{MalformedItem, from_item, to_item};
use crate::ports::{EncryptionContext, Item, Key, attr};

/// How a user connects to a provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionType {
    /// The OAuth 2 authorization-code flow (`/auth/connect/{provider}`).
    Oauth,
    /// A key the user pastes (`/auth/apikeys/{providerId}`).
    ApiKey,
}

/// The longest provider id, name, icon and category.
pub const MAX_ID_CHARS: usize = 64;
pub const MAX_NAME_CHARS: usize = 100;
pub const MAX_ICON_CHARS: usize = 2048;
pub const MAX_CATEGORY_CHARS: usize = 50;
pub const MAX_CATEGORIES: usize = 20;
pub const MAX_SCOPES: usize = 50;
pub const MAX_SCOPE_CHARS: usize = 200;
pub const MAX_AUTHORIZATION_PARAMS: usize = 20;
pub const MAX_CLIENT_ID_CHARS: usize = 512;
pub const MAX_CLIENT_SECRET_CHARS: usize = 2048;
/// The longest provider API key accepted (OpenAI's are ~160 characters; JWT-shaped keys longer).
pub const MAX_PROVIDER_KEY_CHARS: usize = 4096;

/// Authorization parameters the flow sets itself; a provider entry may not override them.
pub const RESERVED_AUTHORIZATION_PARAMS: &[&str] = &[
    "client_id",
    "redirect_uri",
    "response_type",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
];

/// GSI1 partition listing every stored provider.
pub const PROVIDERS_INDEX: &str = "PROVIDERS";

/// A provider id: 1 to 64 of `a-z 0-9 - _ .`, starting with a letter or digit (it appears in
/// paths and in the OAuth redirect URI).
pub fn is_provider_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_CHARS
        && id.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
        })
        && id.as_bytes()[0].is_ascii_alphanumeric()
}

/// The Cipher context of a provider's OAuth client secret.
pub fn client_secret_context(provider: &str) -> EncryptionContext {
    EncryptionContext::default()
        .with("provider", provider)
        .with("purpose", "provider-client-secret")
}

/// The Cipher context of a user's connection tokens at a provider.
pub fn connection_context(user_id: &UserId, provider: &str) -> EncryptionContext {
    EncryptionContext::default()
        .with("user", user_id)
        .with("provider", provider)
        .with("purpose", "provider-connection-tokens")
}

/// The Cipher context of a user's API key for a provider.
pub fn provider_key_context(user_id: &UserId, provider: &str) -> EncryptionContext {
    EncryptionContext::default()
        .with("user", user_id)
        .with("provider", provider)
        .with("purpose", "provider-api-key")
}

/// A registry entry an administrator made (`PROVIDER#<id>` / `META`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProviderRecord {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub icon: Option<String>,
    #[serde(default)]
    pub categories: Vec<String>,
    pub connection_type: ConnectionType,
    #[serde(default)]
    pub oauth: Option<ProviderOAuth>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A provider's OAuth client: endpoints, client id, the client secret encrypted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProviderOAuth {
    pub authorization_url: String,
    pub token_url: String,
    #[serde(default)]
    pub userinfo_url: Option<String>,
    /// An RFC 7009 revocation endpoint; disconnecting revokes there when set.
    #[serde(default)]
    pub revocation_url: Option<String>,
    pub client_id: String,
    /// The client secret, Cipher output under `client_secret_context`, base64. None for a
    /// public client (PKCE only).
    #[serde(default)]
    pub client_secret_ciphertext: Option<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Extra authorization parameters (Google's `access_type=offline`, `prompt=consent`).
    #[serde(default)]
    pub authorization_params: BTreeMap<String, String>,
}

impl ProviderRecord {
    pub fn key(&self) -> Key {
        keys::provider(&self.id)
    }

    pub fn to_item(&self) -> Item {
        let mut item = to_item(&self.key(), self);
        let (pk, sk) = keys::provider_gsi1(&self.id);
        item.insert(attr::GSI1PK.into(), pk.into());
        item.insert(attr::GSI1SK.into(), sk.into());
        item
    }

    pub fn from_item(item: Item) -> Result<Self, MalformedItem> {
        from_item(item)
    }
}

/// A user's connection to a provider (`USER#<id>` / `CONNECTION#<provider>`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConnectionRecord {
    pub user_id: UserId,
    pub provider: String,
    /// The address the provider's userinfo gave, when it gave one.
    #[serde(default)]
    pub email: Option<String>,
    pub connected_at: i64,
    /// `ConnectionTokens` as JSON, Cipher output under `connection_context`, base64.
    pub tokens_ciphertext: String,
    /// When the access token expires (Unix seconds); none when the provider did not say.
    #[serde(default)]
    pub expires_at: Option<i64>,
    #[serde(default)]
    pub scope: Option<String>,
    /// Changes on every write: the optimistic lock of the refresh (a write names the revision
    /// it read).
    pub revision: String,
    /// A refresh with the provider is in flight until then (Unix seconds); others wait for it
    /// rather than refresh a second time.
    #[serde(default)]
    pub refresh_lease_until: Option<i64>,
    /// The provider refused the refresh token: only connecting again helps.
    #[serde(default)]
    pub reconnect_required: bool,
}

impl ConnectionRecord {
    pub fn key(&self) -> Key {
        keys::connection(&self.user_id, &self.provider)
    }

    pub fn to_item(&self) -> Item {
        to_item(&self.key(), self)
    }

    pub fn from_item(item: Item) -> Result<Self, MalformedItem> {
        from_item(item)
    }

    /// Whether the access token must be refreshed before it is handed out: it expires within
    /// `margin` seconds of `now`.
    pub fn expires_within(&self, now: i64, margin: i64) -> bool {
        self.expires_at.is_some_and(|at| at <= now + margin)
    }
}

/// The plaintext inside `tokens_ciphertext`. Never printed.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectionTokens {
    pub access_token: String,
    #[serde(default)]
    pub refresh_token: Option<String>,
}

impl fmt::Debug for ConnectionTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionTokens")
            .field("access_token", &"<redacted>")
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// A user's API key for a provider (`USER#<id>` / `PROVIDERKEY#<provider>`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProviderKeyRecord {
    pub user_id: UserId,
    pub provider: String,
    /// The key, Cipher output under `provider_key_context`, base64.
    pub key_ciphertext: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl ProviderKeyRecord {
    pub fn key(&self) -> Key {
        keys::provider_key(&self.user_id, &self.provider)
    }

    pub fn to_item(&self) -> Item {
        to_item(&self.key(), self)
    }

    pub fn from_item(item: Item) -> Result<Self, MalformedItem> {
        from_item(item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_ids_are_path_safe() {
        for good in ["google", "custom-service", "open_ai", "a", "v2.api"] {
            assert!(is_provider_id(good), "{good}");
        }
        for bad in ["", "Google", "-x", "a/b", "a b", "a#b", &"x".repeat(65)] {
            assert!(!is_provider_id(bad), "{bad}");
        }
    }

    #[test]
    fn each_secret_has_a_context_naming_user_provider_and_purpose() {
        let tokens = connection_context(&"u1".into(), "google");
        assert_eq!(tokens.pairs()["user"], "u1");
        assert_eq!(tokens.pairs()["provider"], "google");
        assert_ne!(
            tokens,
            connection_context(&"u2".into(), "google"),
            "another user, another context"
        );
        assert_ne!(tokens, provider_key_context(&"u1".into(), "google"));
        assert_eq!(
            client_secret_context("google")
                .pairs()
                .keys()
                .collect::<Vec<_>>(),
            ["provider", "purpose"]
        );
    }

    #[test]
    fn a_token_expiring_within_the_margin_needs_a_refresh() {
        let mut record = ConnectionRecord {
            user_id: "u".into(),
            provider: "p".into(),
            email: None,
            connected_at: 0,
            tokens_ciphertext: String::new(),
            expires_at: Some(1_000),
            scope: None,
            revision: "r".into(),
            refresh_lease_until: None,
            reconnect_required: false,
        };
        assert!(!record.expires_within(900, 60));
        assert!(record.expires_within(940, 60));
        record.expires_at = None;
        assert!(!record.expires_within(i64::MAX / 2, 60));
    }

    #[test]
    fn tokens_never_print() {
        let tokens = ConnectionTokens {
            access_token: "secret-access".into(),
            refresh_token: Some("secret-refresh".into()),
        };
        let printed = format!("{tokens:?}");
        assert!(!printed.contains("secret"), "{printed}");
    }
}
