//! Passkeys (WebAuthn credentials) as stored, and the challenge items of their ceremonies.
//!
//! - A passkey lives under its user (`USER#<id>` / `PASSKEY#<id>`) with a GSI1 entry on its
//!   credential id, which is how a sign-in finds it; a claim item on the credential id, written
//!   in the same transaction on condition that none exists, keeps each credential id to one
//!   passkey of one account (a GSI cannot refuse duplicates).
//! - The credential itself (public key, sign counter, backup flags, as `webauthn-rs` keeps it)
//!   is public-key material: stored as its JSON, never secret.
//! - A challenge (`CHALLENGE#<id>`) holds one ceremony's state between its two requests, so any
//!   function instance can finish what another began. It lives 5 minutes (its `ttl`; every read
//!   checks expiry too), is bound to its purpose and, for registration, to its user through one
//!   `binding` attribute, and is consumed by a delete on condition that the binding matches: of
//!   any number of concurrent finishes exactly one gets the state.

use crate::domain::ids::{PasskeyId, UserId};
use serde::{Deserialize, Serialize};

use super::{MalformedItem, from_item, keys, to_item};
use crate::ports::{Item, Key, attr};

/// How long a ceremony may take, challenge to finish.
pub const CHALLENGE_SECONDS: i64 = 5 * 60;

/// The longest passkey name accepted, in characters.
pub const NAME_MAX_CHARS: usize = 64;

/// What a challenge may finish.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// Adding a passkey to this user's account.
    Register,
    /// Signing in (restricted to one user's passkeys when the challenge named an email).
    Login,
}

impl Purpose {
    /// The `binding` a challenge of this purpose (and user) carries; consuming it is conditional
    /// on exactly this value, so a challenge of another purpose or user is never consumed.
    pub fn binding(self, user_id: Option<&UserId>) -> String {
        match (self, user_id) {
            (Self::Register, Some(user_id)) => format!("passkey-register:{user_id}"),
            (Self::Register, None) => "passkey-register".to_owned(),
            (Self::Login, _) => "passkey-login".to_owned(),
        }
    }
}

/// `CHALLENGE#<id>` / `CHALLENGE`: one WebAuthn ceremony between its challenge and its finish.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChallengeRecord {
    pub id: String,
    /// `Purpose::binding`: purpose, and the user for registration.
    pub binding: String,
    /// Registration: the user adding a passkey. Sign-in: the account the email named, if any
    /// (then only its passkeys may finish).
    #[serde(default)]
    pub user_id: Option<UserId>,
    /// The relying party's ceremony state (`webauthn-rs`), JSON.
    pub state: String,
    /// Unix seconds; also the item's `ttl`.
    pub expires_at: i64,
}

impl ChallengeRecord {
    pub fn key(&self) -> Key {
        keys::challenge(&self.id)
    }

    pub fn to_item(&self) -> Item {
        let mut item = to_item(&self.key(), self);
        item.insert(attr::TTL.into(), self.expires_at.into());
        item
    }

    pub fn from_item(item: Item) -> Result<Self, MalformedItem> {
        from_item(item)
    }
}

/// `USER#<id>` / `PASSKEY#<id>`: one registered passkey.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PasskeyRecord {
    pub id: PasskeyId,
    pub user_id: UserId,
    pub name: String,
    /// The WebAuthn credential id, base64url without padding.
    pub credential_id: String,
    /// The credential as `webauthn-rs` keeps it (public key, counter, flags), JSON.
    pub credential: String,
    /// The authenticator's signature counter after the last use (0: it keeps none). A sign-in
    /// writes its new value on condition that the stored one is still this.
    pub counter: u32,
    pub backup_eligible: bool,
    pub backup_state: bool,
    pub created_at: i64,
    #[serde(default)]
    pub last_used_at: Option<i64>,
}

impl PasskeyRecord {
    pub fn key(&self) -> Key {
        keys::passkey(&self.user_id, &self.id)
    }

    pub fn to_item(&self) -> Item {
        let mut item = to_item(&self.key(), self);
        let (gsi1pk, gsi1sk) = keys::passkey_gsi1(&self.credential_id);
        item.insert(attr::GSI1PK.into(), gsi1pk.into());
        item.insert(attr::GSI1SK.into(), gsi1sk.into());
        item
    }

    pub fn from_item(item: Item) -> Result<Self, MalformedItem> {
        from_item(item)
    }

    /// The claim item that keeps this credential id to this passkey.
    pub fn claim_item(&self) -> Item {
        let mut item = keys::passkey_credential(&self.credential_id).item();
        item.insert("user_id".into(), self.user_id.clone().into());
        item.insert("passkey_id".into(), self.id.clone().into());
        item
    }
}

/// A passkey name as given: trimmed, 1 to `NAME_MAX_CHARS` characters, no control characters.
pub fn valid_name(raw: &str) -> Option<String> {
    let name = raw.trim();
    let chars = name.chars().count();
    ((1..=NAME_MAX_CHARS).contains(&chars) && !name.chars().any(char::is_control))
        .then(|| name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_registration_challenge_is_bound_to_its_user_and_a_login_challenge_is_not() {
        assert_eq!(
            Purpose::Register.binding(Some(&"u1".into())),
            "passkey-register:u1"
        );
        assert_ne!(
            Purpose::Register.binding(Some(&"u1".into())),
            Purpose::Register.binding(Some(&"u2".into()))
        );
        assert_eq!(Purpose::Login.binding(Some(&"u1".into())), "passkey-login");
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(valid_name("  Laptop  ").as_deref(), Some("Laptop"));
        assert_eq!(valid_name("   "), None);
        assert_eq!(valid_name("a\u{7}b"), None);
        assert!(valid_name(&"x".repeat(NAME_MAX_CHARS)).is_some());
        assert_eq!(valid_name(&"x".repeat(NAME_MAX_CHARS + 1)), None);
    }

    #[test]
    fn a_passkey_item_is_found_by_its_credential_id_and_its_challenge_expires() {
        let record = PasskeyRecord {
            id: "p1".into(),
            user_id: "u1".into(),
            name: "Laptop".into(),
            credential_id: "AQID".into(),
            credential: "{}".into(),
            counter: 0,
            backup_eligible: false,
            backup_state: false,
            created_at: 1,
            last_used_at: None,
        };
        let item = record.to_item();
        assert_eq!(item[attr::GSI1PK], "PASSKEYCRED#AQID");
        assert_eq!(PasskeyRecord::from_item(item).unwrap(), record);
        let challenge = ChallengeRecord {
            id: "c1".into(),
            binding: Purpose::Login.binding(None),
            user_id: None,
            state: "{}".into(),
            expires_at: 300,
        };
        assert_eq!(challenge.to_item()[attr::TTL], 300);
    }
}
