//! A sign-in identity at an OAuth / OIDC provider: keyed by (provider, subject), never by email,
//! and listed under its user through GSI1.
//!
//! | item | PK | SK | attributes |
//! |---|---|---|---|
//! | identity | `IDENTITY#<provider>#<subject>` | `IDENTITY` | user_id, provider, subject, email?, email_verified, linked_at; GSI1 `USER#<user>` / `IDENTITY#<provider>#<subject>` |

use crate::domain::ids::UserId;
use serde::{Deserialize, Serialize};

use super::{MalformedItem, from_item, keys, to_item};
use serde_json::Value;

use crate::ports::{Item, Key, attr};

/// The GSI1 sort-key prefix of a user's identities.
pub const GSI1_PREFIX: &str = "IDENTITY#";

/// One linked identity.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Identity {
    pub user_id: UserId,
    pub provider: String,
    /// The provider's stable id for the person (`sub`, GitHub's numeric id).
    pub subject: String,
    /// The address the provider gave when the identity was linked, if any.
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub email_verified: bool,
    /// Unix seconds.
    pub linked_at: i64,
}

impl Identity {
    pub fn key(&self) -> Key {
        keys::identity(&self.provider, &self.subject)
    }

    /// The item, with its GSI1 entry under the user.
    pub fn to_item(&self) -> Item {
        let mut item = to_item(&self.key(), self);
        let (pk, sk) = gsi1(&self.user_id, &self.provider, &self.subject);
        item.insert(attr::GSI1PK.into(), Value::String(pk));
        item.insert(attr::GSI1SK.into(), Value::String(sk));
        item
    }

    pub fn from_item(item: Item) -> Result<Self, MalformedItem> {
        from_item(item)
    }
}

/// GSI1 of an identity: `(USER#<user>, IDENTITY#<provider>#<subject>)`.
pub fn gsi1(user_id: &UserId, provider: &str, subject: &str) -> (String, String) {
    (
        keys::user_partition(user_id),
        format!("{GSI1_PREFIX}{provider}#{subject}"),
    )
}

/// The GSI1 sort-key prefix of a user's identities at one provider.
pub fn gsi1_prefix_of(provider: &str) -> String {
    format!("{GSI1_PREFIX}{provider}#")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_identity_is_keyed_by_provider_and_subject_and_indexed_under_its_user() {
        let identity = Identity {
            user_id: "u1".into(),
            provider: "google".into(),
            subject: "123".into(),
            email: Some("a@example.com".into()),
            email_verified: true,
            linked_at: 10,
        };
        let item = identity.to_item();
        assert_eq!(item["PK"], "IDENTITY#google#123");
        assert_eq!(item["SK"], "IDENTITY");
        assert_eq!(item["GSI1PK"], "USER#u1");
        assert_eq!(item["GSI1SK"], "IDENTITY#google#123");
        assert!(
            item["GSI1SK"]
                .as_str()
                .unwrap()
                .starts_with(&gsi1_prefix_of("google"))
        );
        assert_eq!(Identity::from_item(item).unwrap(), identity);
    }
}
