//! Sessions (one per signed-in device) and their refresh tokens.
//!
//! A refresh token is 256 random bits, base64url, shown to the client once and stored only as its
//! SHA-256. Each use rotates it: the old item is marked `rotated` (kept until the session's
//! absolute expiry so a replay is recognised), a new one is written, and the session's
//! `refresh_hash` moves to the new one, all in one conditional transaction.
//!
//! Concurrent or retried uses of one token (two tabs, a lost answer) must not sign the user out:
//! the retired item keeps its successor, encrypted with the Cipher, so a reuse within a short
//! grace answers the same successor. Outside the grace, or for an older ancestor, a reuse is a
//! replay and ends the session.
//!
//! Sessions and refresh items carry the user's credential epoch at their start; a password
//! change or reset moves the user's epoch on, which ends them all at once.

use crate::domain::ids::{SessionId, UserId, WorkspaceId};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::keys;
use super::users::User;
use super::{from_item, to_item};
use crate::ports::{Condition, Item, Key, Random, Write, attr};
use crate::services::tokens::Subject;

/// Random bytes in a refresh token (256 bits; the floor is 128).
pub const REFRESH_TOKEN_BYTES: usize = 32;

/// The scope of an ordinary access token.
pub const DEFAULT_SCOPE: &str = "openid profile email";

/// Where a request came from, recorded on the session it starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionContext {
    /// The client address, or `unknown` when none can be trusted.
    pub ip: String,
    pub user_agent: Option<String>,
}

impl SessionContext {
    pub fn unknown() -> Self {
        Self {
            ip: UNKNOWN_ADDRESS.to_owned(),
            user_agent: None,
        }
    }
}

/// The address bucket of requests whose client address is unknown.
pub const UNKNOWN_ADDRESS: &str = "unknown";

/// `USER#<user>` / `SESSION#<id>`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub id: SessionId,
    pub user_id: UserId,
    pub created_at: i64,
    pub last_used_at: i64,
    /// Absolute end of the session (created_at + refresh lifetime); never extended.
    pub expires_at: i64,
    pub ip: String,
    #[serde(default)]
    pub user_agent: Option<String>,
    /// SHA-256 of the one refresh token that may be rotated next.
    pub refresh_hash: String,
    pub amr: Vec<String>,
    pub aal: u8,
    /// The user's credential epoch when the session started (or was last confirmed).
    #[serde(default)]
    pub epoch: i64,
}

impl Session {
    pub fn to_item(&self) -> Item {
        let mut item = to_item(&Self::key(&self.user_id, &self.id), self);
        item.insert(attr::TTL.into(), self.expires_at.into());
        item
    }

    pub fn from_item(item: Item) -> Result<Self, super::MalformedItem> {
        from_item(item)
    }

    pub fn key(user_id: &UserId, session_id: &SessionId) -> Key {
        keys::session(user_id, session_id)
    }

    /// The session moves on to a new refresh token: conditional on it still pointing at the old
    /// one, so a revoked session or a concurrent rotation that won cancels the transaction.
    pub fn rotation(
        user_id: &UserId,
        session_id: &SessionId,
        old_hash: &str,
        new_hash: &str,
        now: i64,
        context: &SessionContext,
    ) -> Write {
        let mut set = Item::new();
        set.insert("refresh_hash".into(), new_hash.into());
        set.insert("last_used_at".into(), now.into());
        set.insert("ip".into(), context.ip.clone().into());
        if let Some(agent) = &context.user_agent {
            set.insert("user_agent".into(), agent.clone().into());
        }
        Write::Update {
            key: Self::key(user_id, session_id),
            set,
            remove: vec![],
            condition: Some(Condition::Equals("refresh_hash".into(), old_hash.into())),
        }
    }

    /// Carry the session and its current refresh token into a new credential epoch (the one
    /// session a password change keeps): conditional on the session still pointing at that
    /// token, so a rotation in between cancels the change rather than losing the session.
    pub fn new_epoch(session: &Session, epoch: i64) -> [Write; 2] {
        let mut set = Item::new();
        set.insert("epoch".into(), epoch.into());
        [
            Write::Update {
                key: Self::key(&session.user_id, &session.id),
                set: set.clone(),
                remove: vec![],
                condition: Some(Condition::Equals(
                    "refresh_hash".into(),
                    session.refresh_hash.clone().into(),
                )),
            },
            Write::Update {
                key: RefreshRecord::key(&session.refresh_hash),
                set,
                remove: vec![],
                condition: Some(Condition::Exists),
            },
        ]
    }

    /// Live at `now`: the store hides items past `ttl`, but every read checks too.
    pub fn is_live(&self, now: i64) -> bool {
        now < self.expires_at
    }

    /// Live at `now` and not ended by a credential change since it started.
    pub fn is_current(&self, now: i64, user: &User) -> bool {
        self.is_live(now) && self.epoch == user.credential_epoch
    }
}

/// What a new access token says about its user, frozen when the session starts.
///
/// Trade-off (DESIGN.md's budget: refresh in at most 2 round trips): a refresh mints its token
/// from this snapshot, kept on the refresh item, instead of re-reading the user and their
/// membership. A refresh therefore does not pick up a plan, role or email change; the next
/// sign-in (or a workspace switch, which starts a new snapshot) does. Seed 002 documents exactly
/// this: "the access token's contents are not changed by a refresh".
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClaimsSnapshot {
    pub user_id: UserId,
    pub email: String,
    pub email_verified: bool,
    pub name: String,
    pub has_password: bool,
    #[serde(default)]
    pub org: Option<WorkspaceId>,
    #[serde(default)]
    pub role: Option<String>,
    pub plan: String,
    pub features: Vec<String>,
    pub amr: Vec<String>,
    pub aal: u8,
    pub scope: String,
}

impl ClaimsSnapshot {
    pub fn of(user: &User, amr: &[&str], aal: u8) -> Self {
        Self {
            user_id: user.id.clone(),
            email: user.email.clone(),
            email_verified: user.email_verified,
            name: user.name.clone(),
            has_password: user.has_password(),
            org: user.active_workspace.clone(),
            role: user.active_role.clone(),
            plan: user.plan.clone(),
            features: user.features.clone(),
            amr: amr.iter().map(|m| (*m).to_owned()).collect(),
            aal,
            scope: DEFAULT_SCOPE.to_owned(),
        }
    }

    pub fn subject(&self, session_id: &SessionId) -> Subject {
        Subject {
            user_id: self.user_id.clone(),
            session_id: session_id.to_owned(),
            email: self.email.clone(),
            email_verified: self.email_verified,
            org: self.org.clone(),
            role: self.role.clone(),
            plan: self.plan.clone(),
            features: self.features.clone(),
            amr: self.amr.clone(),
            aal: self.aal,
            scope: self.scope.clone(),
        }
    }
}

pub const REFRESH_ACTIVE: &str = "active";
pub const REFRESH_ROTATED: &str = "rotated";

/// `REFRESH#<sha256>` / `REFRESH`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RefreshRecord {
    pub session_id: SessionId,
    pub user_id: UserId,
    /// `active` until used once, then `rotated`.
    pub state: String,
    /// The session's absolute expiry (also the item's `ttl`).
    pub expires_at: i64,
    pub snapshot: ClaimsSnapshot,
    /// The user's credential epoch when the session started: a refresh is conditional on the
    /// user's epoch still being this one.
    #[serde(default)]
    pub epoch: i64,
    /// When the token was used (rotated), and its successor encrypted with the Cipher (base64),
    /// so a reuse within the grace can answer the same successor.
    #[serde(default)]
    pub rotated_at: Option<i64>,
    #[serde(default)]
    pub successor: Option<String>,
}

impl RefreshRecord {
    pub fn to_item(&self, token_hash: &str) -> Item {
        let mut item = to_item(&Self::key(token_hash), self);
        item.insert(attr::TTL.into(), self.expires_at.into());
        item
    }

    pub fn from_item(item: Item) -> Result<Self, super::MalformedItem> {
        from_item(item)
    }

    pub fn key(token_hash: &str) -> Key {
        keys::refresh_token(token_hash)
    }

    /// Retire an active token: it stays, `rotated`, with its successor sealed, so a reuse is
    /// recognised (and within the grace answered). Conditional on it still being active: of
    /// concurrent uses, one wins.
    pub fn retirement(token_hash: &str, now: i64, sealed_successor: String) -> Write {
        let mut set = Item::new();
        set.insert("state".into(), REFRESH_ROTATED.into());
        set.insert("rotated_at".into(), now.into());
        set.insert("successor".into(), sealed_successor.into());
        Write::Update {
            key: Self::key(token_hash),
            set,
            remove: vec![],
            condition: Some(Condition::Equals("state".into(), REFRESH_ACTIVE.into())),
        }
    }
}

/// A new refresh token: the plaintext for the client and the hash to store.
pub struct NewRefreshToken {
    pub token: String,
    pub hash: String,
}

impl NewRefreshToken {
    pub fn generate(random: &dyn Random) -> Self {
        let mut bytes = [0u8; REFRESH_TOKEN_BYTES];
        random.fill(&mut bytes);
        let token = URL_SAFE_NO_PAD.encode(bytes);
        let hash = token_hash(&token);
        Self { token, hash }
    }
}

/// The stored form of any opaque token: SHA-256, hex.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The `auth_type` of `/users/auth/status` (seed 001) for a token's methods.
pub fn auth_type(amr: &[String]) -> &'static str {
    match amr.first().map(String::as_str) {
        Some("pwd") => "password",
        Some("email_link") | Some("otp") => "magic-link",
        Some("oauth") => "oauth",
        Some("webauthn") => "passkey",
        Some("api_key") => "api-key",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::system::OsRandom;

    #[test]
    fn a_refresh_token_carries_256_random_bits_in_base64url_and_is_stored_hashed() {
        let token = NewRefreshToken::generate(&OsRandom);
        assert_eq!(token.token.len(), 43);
        assert!(
            token
                .token
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_eq!(token.hash, token_hash(&token.token));
        assert_eq!(token.hash.len(), 64);
        assert_ne!(token.token, NewRefreshToken::generate(&OsRandom).token);
    }

    #[test]
    fn session_and_refresh_items_expire_with_the_session() {
        let snapshot = ClaimsSnapshot {
            user_id: "u1".into(),
            email: "a@b.co".into(),
            email_verified: false,
            name: "A".into(),
            has_password: true,
            org: Some("w1".into()),
            role: Some("owner".into()),
            plan: "free".into(),
            features: vec![],
            amr: vec!["pwd".into()],
            aal: 1,
            scope: DEFAULT_SCOPE.into(),
        };
        let record = RefreshRecord {
            session_id: "s1".into(),
            user_id: "u1".into(),
            state: REFRESH_ACTIVE.into(),
            expires_at: 99,
            snapshot: snapshot.clone(),
            epoch: 0,
            rotated_at: None,
            successor: None,
        };
        let item = record.to_item("h");
        assert_eq!(item["ttl"], 99);
        assert_eq!(RefreshRecord::from_item(item).unwrap(), record);
        let subject = snapshot.subject(&"s1".into());
        assert_eq!(subject.session_id.as_str(), "s1");
        assert_eq!(subject.org.as_ref().map(WorkspaceId::as_str), Some("w1"));
    }

    #[test]
    fn a_session_is_live_until_its_absolute_expiry() {
        let session = Session {
            id: "s".into(),
            user_id: "u".into(),
            created_at: 0,
            last_used_at: 0,
            expires_at: 10,
            ip: "unknown".into(),
            user_agent: None,
            refresh_hash: "h".into(),
            amr: vec!["pwd".into()],
            aal: 1,
            epoch: 0,
        };
        assert!(session.is_live(9));
        assert!(!session.is_live(10));
        assert_eq!(session.to_item()["ttl"], 10);
    }
}
