//! Agent inboxes (seed 000): a human's mailbox connected to a workspace's agent, by IMAP/SMTP
//! credentials or Google OAuth tokens. Records, the request's rules and the credential bundle;
//! no I/O.
//!
//! | item | PK | SK | attributes |
//! |---|---|---|---|
//! | inbox | `INBOX#<id>` | `META` | workspace, human user, address, provider, status, `credentials` (the Cipher's ciphertext of the bundle, base64), confirmation token hash and expiry while pending; GSI1 `INBOXES#<workspace>` / `HUMAN#<human user id>#<id>` |
//! | hosted-form flow | `CHALLENGE#<sha256 of state>` | `CHALLENGE` | (`kind: inbox_imap_form`) workspace, human user, address, redirect; `ttl` 30 min |

use crate::domain::ids::{InboxId, UserId, WorkspaceId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{MalformedItem, from_item, keys, to_item};
use crate::ports::{EncryptionContext, Item, Key};

/// An inbox's confirmation link and token live this long (API.md: 24 hours).
pub const CONFIRMATION_TTL_SECONDS: i64 = 24 * 3600;

/// The hosted IMAP form's `state` lives this long: long enough for a person to look up their
/// provider's IMAP settings, short enough that a leaked link soon goes stale.
pub const FORM_TTL_SECONDS: i64 = 30 * 60;

/// The longest `human_user_id` (API.md: any string up to 256 characters).
pub const MAX_HUMAN_USER_ID: usize = 256;

/// How an inbox is reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    GoogleOauth,
    Imap,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::GoogleOauth => "google_oauth",
            Self::Imap => "imap",
        }
    }
}

/// Where an inbox stands: waiting for the emailed confirmation, or in use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InboxStatus {
    PendingConfirmation,
    Active,
}

/// One mail server's settings and login, as given by the platform or the hosted form.
#[derive(Clone, Serialize, Deserialize)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    pub secure: bool,
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for ServerSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{} (secure: {})", self.host, self.port, self.secure)
    }
}

/// OAuth tokens of a Gmail inbox.
#[derive(Clone, Serialize, Deserialize)]
pub struct OauthTokens {
    pub access_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

impl std::fmt::Debug for OauthTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OauthTokens(..)")
    }
}

/// What is encrypted at rest: everything a client of the inbox needs to log in.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Credentials {
    Imap {
        imap: ServerSettings,
        smtp: ServerSettings,
    },
    GoogleOauth {
        oauth: OauthTokens,
    },
}

impl Credentials {
    pub fn provider(&self) -> Provider {
        match self {
            Self::Imap { .. } => Provider::Imap,
            Self::GoogleOauth { .. } => Provider::GoogleOauth,
        }
    }
}

/// The Cipher context of an inbox's credentials: a ciphertext moved to another inbox or
/// workspace does not decrypt.
pub fn credentials_context(workspace_id: &WorkspaceId, inbox_id: &InboxId) -> EncryptionContext {
    EncryptionContext::default()
        .with("workspace", workspace_id)
        .with("inbox", inbox_id)
        .with("purpose", "inbox-credentials")
}

/// A stored inbox.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Inbox {
    pub inbox_id: InboxId,
    pub workspace_id: WorkspaceId,
    /// The user whose token or API key connected it.
    pub created_by: UserId,
    pub human_user_id: String,
    pub email_address: String,
    pub provider: Provider,
    pub status: InboxStatus,
    pub created_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmed_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmation_sent_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmation_expires_at: Option<i64>,
    /// SHA-256 (hex) of the emailed token while the inbox waits for it; removed when spent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmation_token_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmation_redirect_url: Option<String>,
    #[serde(default)]
    pub enable_deep_backfill: bool,
    #[serde(default)]
    pub enable_semantic_search: bool,
    /// The Cipher's ciphertext of the `Credentials` JSON, base64.
    pub credentials: String,
}

/// The attribute holding the confirmation token's hash: the confirming write is conditional on it.
pub const CONFIRMATION_HASH_ATTRIBUTE: &str = "confirmation_token_hash";

impl Inbox {
    pub fn key(&self) -> Key {
        keys::inbox(&self.inbox_id)
    }

    pub fn to_item(&self) -> Item {
        let mut item = to_item(&self.key(), self);
        let (pk, sk) = keys::inbox_gsi1(&self.workspace_id, &self.human_user_id, &self.inbox_id);
        item.insert(crate::ports::attr::GSI1PK.into(), pk.into());
        item.insert(crate::ports::attr::GSI1SK.into(), sk.into());
        item
    }

    pub fn from_item(item: Item) -> Result<Self, MalformedItem> {
        from_item(item)
    }
}

/// The hosted IMAP form's flow: who asked for it, for which human and address.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FormFlow {
    /// Always `inbox_imap_form`: a challenge item of another kind never reads as a form flow.
    pub kind: String,
    pub workspace_id: WorkspaceId,
    pub created_by: UserId,
    pub human_user_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_uri: Option<String>,
    pub expires_at: i64,
    pub ttl: i64,
}

pub const FORM_FLOW_KIND: &str = "inbox_imap_form";

impl FormFlow {
    pub fn to_item(&self, state_hash: &str) -> Item {
        to_item(&keys::challenge(state_hash), self)
    }

    pub fn from_item(item: Item) -> Option<Self> {
        from_item::<Self>(item)
            .ok()
            .filter(|flow| flow.kind == FORM_FLOW_KIND)
    }
}

/// Why a mail server's settings are refused before any login is tried.
pub fn check_server(settings: &ServerSettings) -> Result<(), (&'static str, &'static str)> {
    let host = settings.host.trim();
    if host.is_empty() || host.len() > 253 {
        return Err(("host", "must be a host name or address"));
    }
    if !host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._:[]".contains(&b))
    {
        return Err(("host", "must be a host name or address"));
    }
    if settings.port == 0 {
        return Err(("port", "must be 1 to 65535"));
    }
    if settings.username.is_empty() || settings.username.len() > 512 {
        return Err(("username", "is required"));
    }
    if settings.password.is_empty() || settings.password.len() > 4096 {
        return Err(("password", "is required"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(host: &str, port: u16) -> ServerSettings {
        ServerSettings {
            host: host.into(),
            port,
            secure: true,
            username: "ada".into(),
            password: "secret".into(),
        }
    }

    #[test]
    fn a_port_of_zero_or_a_host_with_spaces_is_refused_naming_the_field() {
        assert_eq!(
            check_server(&server("imap.example.com", 0)).unwrap_err().0,
            "port"
        );
        assert_eq!(
            check_server(&server("imap example", 993)).unwrap_err().0,
            "host"
        );
        assert_eq!(check_server(&server("", 993)).unwrap_err().0, "host");
        assert!(check_server(&server("127.0.0.1", 993)).is_ok());
        assert!(check_server(&server("imap.example.com", 65535)).is_ok());
    }

    #[test]
    fn settings_never_print_their_password() {
        let printed = format!("{:?}", server("imap.example.com", 993));
        assert!(
            !printed.contains("secret") && !printed.contains("ada"),
            "{printed}"
        );
    }

    #[test]
    fn the_cipher_context_names_workspace_inbox_and_purpose() {
        let context = credentials_context(&"w1".into(), &"i1".into());
        assert_eq!(context.pairs()["workspace"], "w1");
        assert_eq!(context.pairs()["inbox"], "i1");
        assert_eq!(context.pairs()["purpose"], "inbox-credentials");
    }
}
