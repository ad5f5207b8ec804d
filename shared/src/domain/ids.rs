//! Identifiers: UUID strings (API.md, "IDs are UUID strings"), made from the `Random` port so the
//! OS CSPRNG backs every one.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ports::Random;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// A new random (version 4) id.
            pub fn generate(random: &dyn Random) -> Self {
                let mut bytes = [0u8; 16];
                random.fill(&mut bytes);
                Self(uuid::Builder::from_random_bytes(bytes).into_uuid().to_string())
            }

            /// An id from a client or a token: only a well-formed UUID, in canonical form.
            pub fn parse(raw: &str) -> Option<Self> {
                uuid::Uuid::parse_str(raw.trim())
                    .ok()
                    .map(|id| Self(id.hyphenated().to_string()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        /// Unit tests name ids by short literals (`"u1"`); only they may skip `parse`.
        #[cfg(test)]
        impl From<&str> for $name {
            fn from(raw: &str) -> Self {
                Self(raw.to_owned())
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        // An id goes into text freely (item attributes, encryption contexts, bodies); only
        // `parse`, `generate` and reading a stored record make one.
        impl From<$name> for String {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl From<&$name> for String {
            fn from(id: &$name) -> Self {
                id.0.clone()
            }
        }

        impl From<$name> for serde_json::Value {
            fn from(id: $name) -> Self {
                serde_json::Value::String(id.0)
            }
        }

        impl From<&$name> for serde_json::Value {
            fn from(id: &$name) -> Self {
                serde_json::Value::String(id.0.clone())
            }
        }
    };
}

uuid_id!(
    /// A user.
    UserId
);
impl UserId {
    /// The user of the tokens issued for an address without an account (so that the answer
    /// and its work look the same): never a real user, since it is not a UUID.
    pub fn no_account() -> Self {
        Self("no-account".to_owned())
    }
}

uuid_id!(
    /// A session (one signed-in device).
    SessionId
);
uuid_id!(
    /// A workspace (the `org` of a token).
    WorkspaceId
);
uuid_id!(
    /// A pending workspace invite.
    InviteId
);

uuid_id!(
    /// An API key (its public id; the key itself is a secret).
    ApiKeyId
);
uuid_id!(
    /// An agent inbox (seed 000).
    InboxId
);
uuid_id!(
    /// A registered passkey (ours; its WebAuthn credential id is the authenticator's).
    PasskeyId
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::system::OsRandom;

    #[test]
    fn generated_ids_are_distinct_uuids() {
        let a = UserId::generate(&OsRandom);
        let b = UserId::generate(&OsRandom);
        assert_ne!(a, b);
        assert_eq!(UserId::parse(a.as_str()), Some(a.clone()));
        assert_eq!(
            uuid::Uuid::parse_str(a.as_str()).unwrap().get_version_num(),
            4
        );
    }

    #[test]
    fn parsing_refuses_what_is_not_a_uuid_and_canonicalizes_case() {
        assert_eq!(SessionId::parse("nope"), None);
        assert_eq!(SessionId::parse("USER#x"), None);
        let upper = "6F9619FF-8B86-4011-B42D-00C04FC964FF";
        assert_eq!(
            SessionId::parse(upper).unwrap().as_str(),
            "6f9619ff-8b86-4011-b42d-00c04fc964ff"
        );
    }
}
