//! API keys (seed 001's `agnt_sk_...`): made, hashed, stored.
//!
//! A key is the configured prefix and 256 random bits in base64url. Only its SHA-256 is stored,
//! under `APIKEY#<sha256>` / `APIKEY`, so authenticating a key is one read; GSI1
//! (`USER#<owner>`, `APIKEY#<id>`) lists a user's keys and finds one by id. The record carries a
//! snapshot of the owner's claims (plan, features, workspace...), so a request made with a key
//! needs no second read; a plan change updates the snapshots of the owner's keys.

use crate::domain::ids::{ApiKeyId, UserId};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use super::keys;
use super::sessions::{ClaimsSnapshot, token_hash};
use super::{MalformedItem, from_item, to_item};
use crate::ports::{Item, Random, attr};

/// Random bytes in a key (256 bits; the floor is 128).
pub const API_KEY_BYTES: usize = 32;

/// How many characters of a key are kept in clear to recognise it in a list (the prefix and a
/// few random characters: far too few to guess the rest).
pub const DISPLAY_PREFIX_RANDOM_CHARS: usize = 4;

/// The amr of a request made with a key.
pub const API_KEY_AMR: &str = "api_key";

/// Scopes Latchkey itself reads: `read` allows GET/HEAD/OPTIONS, `write` the other methods. A
/// key made without `scopes` gets both; other scope names pass through to the platform (claims,
/// authorizer context) untouched.
pub const SCOPE_READ: &str = "read";
pub const SCOPE_WRITE: &str = "write";
pub const DEFAULT_SCOPES: [&str; 2] = [SCOPE_READ, SCOPE_WRITE];

/// The most scopes, and the longest scope name, a key may carry.
pub const MAX_SCOPES: usize = 20;
pub const MAX_SCOPE_CHARS: usize = 64;

/// The longest key name kept.
pub const MAX_NAME_CHARS: usize = 100;

/// Whether a scope name is well formed (`[a-z0-9_.:-]`, 1 to 64): scopes travel space-separated
/// in the `scope` claim.
pub fn is_scope_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_SCOPE_CHARS
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.:-".contains(&b))
}

/// `APIKEY#<sha256>` / `APIKEY`; GSI1 `USER#<owner>` / `APIKEY#<id>`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApiKeyRecord {
    pub id: ApiKeyId,
    pub user_id: UserId,
    pub name: String,
    /// The first characters of the key, shown in lists.
    pub prefix: String,
    pub scopes: Vec<String>,
    pub created_at: i64,
    #[serde(default)]
    pub expires_at: Option<i64>,
    #[serde(default)]
    pub last_used_at: Option<i64>,
    /// The owner's claims when the key was made or their plan last changed; `amr` is `api_key`.
    pub snapshot: ClaimsSnapshot,
}

impl ApiKeyRecord {
    pub fn to_item(&self, key_hash: &str) -> Item {
        let mut item = to_item(&keys::api_key(key_hash), self);
        let (gsi1pk, gsi1sk) = keys::api_key_gsi1(&self.user_id, self.id.as_str());
        item.insert(attr::GSI1PK.into(), gsi1pk.into());
        item.insert(attr::GSI1SK.into(), gsi1sk.into());
        if let Some(expires_at) = self.expires_at {
            // The store hides (and DynamoDB later deletes) an expired key by itself.
            item.insert(attr::TTL.into(), expires_at.into());
        }
        item
    }

    pub fn from_item(item: Item) -> Result<Self, MalformedItem> {
        from_item(item)
    }

    /// The hash the record is stored under, read back from its key.
    pub fn hash_of(item: &Item) -> Option<&str> {
        item.get(attr::PK)?
            .as_str()?
            .strip_prefix(keys::API_KEY_PK_PREFIX)
    }

    pub fn is_live(&self, now: i64) -> bool {
        self.expires_at.is_none_or(|at| now < at)
    }

    /// Whether the key may be used with this method (`read` / `write` scopes).
    pub fn allows_method(scopes: &[String], method: &str) -> bool {
        let safe = matches!(
            method.to_ascii_uppercase().as_str(),
            "GET" | "HEAD" | "OPTIONS"
        );
        let needed = if safe { SCOPE_READ } else { SCOPE_WRITE };
        scopes.iter().any(|s| s == needed)
    }
}

/// A new key: the plaintext for the client (shown once), its hash and its display prefix.
pub struct NewApiKey {
    pub key: String,
    pub hash: String,
    pub display_prefix: String,
}

impl NewApiKey {
    pub fn generate(random: &dyn Random, prefix: &str) -> Self {
        let mut bytes = [0u8; API_KEY_BYTES];
        random.fill(&mut bytes);
        let key = format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes));
        let hash = token_hash(&key);
        let display_prefix = key
            .chars()
            .take(prefix.chars().count() + DISPLAY_PREFIX_RANDOM_CHARS)
            .collect();
        Self {
            key,
            hash,
            display_prefix,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::system::OsRandom;

    #[test]
    fn a_key_has_the_prefix_and_256_random_bits_and_is_stored_as_its_hash() {
        let key = NewApiKey::generate(&OsRandom, "agnt_sk_");
        assert!(key.key.starts_with("agnt_sk_"));
        assert_eq!(key.key.len(), "agnt_sk_".len() + 43);
        assert_eq!(key.hash, token_hash(&key.key));
        assert_eq!(key.display_prefix.len(), "agnt_sk_".len() + 4);
        assert_ne!(NewApiKey::generate(&OsRandom, "agnt_sk_").key, key.key);
    }

    #[test]
    fn read_scopes_allow_safe_methods_and_write_scopes_the_others() {
        let read = vec![SCOPE_READ.to_owned()];
        assert!(ApiKeyRecord::allows_method(&read, "GET"));
        assert!(!ApiKeyRecord::allows_method(&read, "POST"));
        let write = vec![SCOPE_WRITE.to_owned()];
        assert!(ApiKeyRecord::allows_method(&write, "delete"));
        assert!(!ApiKeyRecord::allows_method(&write, "HEAD"));
    }
}
