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
    };
}

uuid_id!(
    /// A user.
    UserId
);
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
