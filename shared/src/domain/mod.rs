//! Users, workspaces, sessions, credentials: types and rules, no I/O.
//!
//! - `keys`: every item kind of the single table and its key builders, in one place.
//! - `to_item` / `from_item`: records to and from items (serde_json; `None` fields left out).
//! - `ids`: UUID newtypes generated from the `Random` port.
//! - `emails`: `EmailAddress::parse` (trimmed, normalized key for uniqueness).
//! - `passwords`: the password policy and a `Password` that never prints.
//! - `users`, `workspaces`, `sessions`: the stored records and their item forms.
//! - `one_time_token`: emailed tokens and codes (made, hashed, keyed).
//! - `mfa`: the TOTP second factor and recovery codes (records, parameters, code forms).
//! - `plans`: plans, their order, and the features they grant.
//! - `gates`: the route table of required plans and features (`LATCHKEY_GATES`).
//! - `identities`: sign-in identities at OAuth/OIDC providers, keyed by (provider, subject).
//! - `api_keys`: API keys (made, hashed, stored) and their scopes.
//! - `integrations`: the provider registry, OAuth connections and provider API keys (records,
//!   encryption contexts, id rules).
//! - `inboxes`: agent inboxes (IMAP/SMTP or Google), their credential bundle and the hosted form's flow.
//! - `passkeys`: stored passkeys and WebAuthn ceremony challenges.
//! - `signing_keys`: the access-token signing keys and the pointer to the current one.

pub mod api_keys;
pub mod emails;
pub mod gates;
pub mod identities;
pub mod ids;
pub mod inboxes;
pub mod integrations;
pub mod keys;
pub mod mfa;
pub mod one_time_token;
pub mod passkeys;
pub mod passwords;
pub mod plans;
pub mod sessions;
pub mod signing_keys;
pub mod users;
pub mod workspaces;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Error;
use crate::ports::{Item, Key};

/// A stored item that does not read as its record: a bug or a hand edit, never the client's fault.
#[derive(Debug, thiserror::Error)]
#[error("malformed item {key}")]
pub struct MalformedItem {
    pub key: String,
    #[source]
    pub source: serde_json::Error,
}

impl From<MalformedItem> for Error {
    fn from(error: MalformedItem) -> Self {
        Error::internal_cause(error)
    }
}

/// A record as a table item: the key, then the record's fields (`None` fields left out).
pub fn to_item<T: Serialize>(key: &Key, record: &T) -> Item {
    let mut item = key.item();
    if let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(record) {
        for (name, value) in fields {
            if !value.is_null() {
                item.insert(name, value);
            }
        }
    }
    item
}

/// A table item read back as a record.
pub fn from_item<T: DeserializeOwned>(item: Item) -> Result<T, MalformedItem> {
    let key = Key::of(&item).map(|k| k.to_string()).unwrap_or_default();
    serde_json::from_value(serde_json::Value::Object(item))
        .map_err(|source| MalformedItem { key, source })
}

/// Unix seconds as an RFC 3339 UTC timestamp, the form of every time in a JSON body.
pub fn timestamp(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .map(crate::error::rfc3339)
        .unwrap_or_default()
}
