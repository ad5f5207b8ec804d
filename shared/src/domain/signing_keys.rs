//! The access-token signing keys as stored (the tokens service owns what they sign and how they
//! are cached).
//!
//! | item | PK | SK | attributes |
//! |---|---|---|---|
//! | signing key | `KEYS` | `KEY#<kid>` | kid, kty, alg, n, e, private_key (PKCS#8 encrypted with the Cipher, base64), created_at; retired_at and `ttl` once rotated out |
//! | current signing key | `KEYS` | `CURRENT` | kid, updated_at |

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{MalformedItem, from_item, keys, to_item};
use crate::ports::{Condition, Item, Key, Write, attr};

/// One RSA signing key: its public JWK and its private key sealed by the Cipher.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SigningKeyRecord {
    /// The RFC 7638 thumbprint of the public key.
    pub kid: String,
    #[serde(default)]
    pub kty: String,
    #[serde(default)]
    pub alg: String,
    /// base64url of the big-endian modulus and exponent, as in a JWK.
    pub n: String,
    pub e: String,
    /// The PKCS#8 DER private key encrypted with the Cipher, standard base64. Empty when missing
    /// (the public half still verifies).
    #[serde(default)]
    pub private_key: String,
    #[serde(default)]
    pub created_at: i64,
    /// When the key was rotated out; it stays published until its `ttl`.
    #[serde(default)]
    pub retired_at: Option<i64>,
}

impl SigningKeyRecord {
    /// A new RSA key, not yet retired.
    pub fn new_rsa(kid: String, n: String, e: String, private_key: String, now: i64) -> Self {
        Self {
            kid,
            kty: "RSA".into(),
            alg: "RS256".into(),
            n,
            e,
            private_key,
            created_at: now,
            retired_at: None,
        }
    }

    pub fn key(kid: &str) -> Key {
        keys::signing_key(kid)
    }

    pub fn to_item(&self) -> Item {
        to_item(&Self::key(&self.kid), self)
    }

    pub fn from_item(item: Item) -> Result<Self, MalformedItem> {
        from_item(item)
    }

    /// The write that stores a new key, on condition that no key has its `kid`.
    pub fn insertion(&self) -> Write {
        Write::Put {
            item: self.to_item(),
            condition: Some(Condition::NotExists),
        }
    }

    /// Retire the key `kid` at `now`: it drops out of the table (and the JWKS) at `ttl`.
    pub fn retirement(kid: &str, now: i64, ttl: i64) -> Write {
        let mut set = Item::new();
        set.insert("retired_at".into(), Value::from(now));
        set.insert(attr::TTL.into(), Value::from(ttl));
        Write::Update {
            key: Self::key(kid),
            set,
            remove: Vec::new(),
            condition: Some(Condition::Exists),
        }
    }
}

/// The pointer to the key that signs new tokens.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CurrentSigningKey {
    pub kid: String,
    #[serde(default)]
    pub updated_at: i64,
}

impl CurrentSigningKey {
    pub fn key() -> Key {
        keys::current_signing_key()
    }

    pub fn to_item(&self) -> Item {
        to_item(&Self::key(), self)
    }

    pub fn from_item(item: Item) -> Result<Self, MalformedItem> {
        from_item(item)
    }

    /// The first pointer, on condition that there is none yet (two instances racing to make the
    /// first key converge on one).
    pub fn creation(&self) -> Write {
        Write::Put {
            item: self.to_item(),
            condition: Some(Condition::NotExists),
        }
    }

    /// Move the pointer here, on condition that it still names `old_kid`.
    pub fn replacing(&self, old_kid: &str) -> Write {
        let mut set = Item::new();
        set.insert("kid".into(), Value::String(self.kid.clone()));
        set.insert("updated_at".into(), Value::from(self.updated_at));
        Write::Update {
            key: Self::key(),
            set,
            remove: Vec::new(),
            condition: Some(Condition::Equals(
                "kid".into(),
                Value::String(old_kid.to_owned()),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signing_key_item_holds_the_public_jwk_and_the_sealed_private_key() {
        let record = SigningKeyRecord::new_rsa(
            "k1".into(),
            "nn".into(),
            "AQAB".into(),
            "c2VhbGVk".into(),
            7,
        );
        let item = record.to_item();
        assert_eq!(item["PK"], "KEYS");
        assert_eq!(item["SK"], "KEY#k1");
        assert_eq!(item["kty"], "RSA");
        assert_eq!(item["alg"], "RS256");
        assert_eq!(item["private_key"], "c2VhbGVk");
        assert!(item.get("retired_at").is_none());
        assert_eq!(SigningKeyRecord::from_item(item).unwrap(), record);
    }

    #[test]
    fn the_current_pointer_names_one_kid() {
        let pointer = CurrentSigningKey {
            kid: "k1".into(),
            updated_at: 3,
        };
        let item = pointer.to_item();
        assert_eq!(item["PK"], "KEYS");
        assert_eq!(item["SK"], "CURRENT");
        assert_eq!(CurrentSigningKey::from_item(item).unwrap(), pointer);
    }
}
