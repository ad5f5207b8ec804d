//! The single table's item kinds and their key builders: every key of the accounts domain is
//! built here and nowhere else.
//!
//! | item | PK | SK | notes |
//! |---|---|---|---|
//! | user | `USER#<id>` | `PROFILE` | profile, password hash, plan, flags, `version` (optimistic locking) |
//! | email claim | `EMAIL#<normalized>` | `EMAIL` | user id; written in the user's transaction: uniqueness |
//! | session | `USER#<id>` | `SESSION#<id>` | device info, absolute expiry, current refresh hash, `ttl` |
//! | refresh token | `REFRESH#<sha256 hex>` | `REFRESH` | session, state (`active`/`rotated`), claims snapshot, `ttl` |
//! | workspace | `WORKSPACE#<id>` | `META` | name, owner, personal flag |
//! | member | `WORKSPACE#<id>` | `MEMBER#<user>` | role; GSI1 `USER#<user>` / `WORKSPACE#<id>` lists a user's workspaces |
//! | rate-limit counter | `RATE#<bucket>#<window start>` | `RATE` | `count` (atomic add), `ttl` at window end |
//! | API key | `APIKEY#<sha256 hex>` | `APIKEY` | owner, name, scopes, expiry (`ttl`), claims snapshot; GSI1 `USER#<owner>` / `APIKEY#<id>` |
//!
//! The other kinds of DESIGN.md (identities, one-time tokens, passkeys, API keys, MFA, ...) belong
//! to later groups and add their builders here.

use crate::ports::Key;

pub const PROFILE: &str = "PROFILE";
pub const SESSION_PREFIX: &str = "SESSION#";
pub const MEMBER_PREFIX: &str = "MEMBER#";
pub const WORKSPACE_PREFIX: &str = "WORKSPACE#";

/// The partition of everything a user owns (`USER#<id>`); also the GSI1 key of their
/// memberships.
pub fn user_partition(user_id: &str) -> String {
    format!("USER#{user_id}")
}

pub fn user(user_id: &str) -> Key {
    Key::new(user_partition(user_id), PROFILE)
}

pub fn email_claim(normalized_email: &str) -> Key {
    Key::new(format!("EMAIL#{normalized_email}"), "EMAIL")
}

pub fn session(user_id: &str, session_id: &str) -> Key {
    Key::new(
        user_partition(user_id),
        format!("{SESSION_PREFIX}{session_id}"),
    )
}

pub fn refresh_token(token_hash: &str) -> Key {
    Key::new(format!("REFRESH#{token_hash}"), "REFRESH")
}

pub fn workspace(workspace_id: &str) -> Key {
    Key::new(workspace_partition(workspace_id), "META")
}

pub fn workspace_partition(workspace_id: &str) -> String {
    format!("{WORKSPACE_PREFIX}{workspace_id}")
}

pub fn member(workspace_id: &str, user_id: &str) -> Key {
    Key::new(
        workspace_partition(workspace_id),
        format!("{MEMBER_PREFIX}{user_id}"),
    )
}

/// GSI1 of a member item: `(USER#<user>, WORKSPACE#<workspace>)`.
pub fn member_gsi1(workspace_id: &str, user_id: &str) -> (String, String) {
    (user_partition(user_id), workspace_partition(workspace_id))
}

pub const API_KEY_PK_PREFIX: &str = "APIKEY#";
pub const API_KEY_GSI1_PREFIX: &str = "APIKEY#";

/// An API key, found by the SHA-256 of the presented key.
pub fn api_key(key_hash: &str) -> Key {
    Key::new(format!("{API_KEY_PK_PREFIX}{key_hash}"), "APIKEY")
}

/// GSI1 of an API key: `(USER#<owner>, APIKEY#<id>)`, to list a user's keys and find one by id.
pub fn api_key_gsi1(user_id: &str, key_id: &str) -> (String, String) {
    (
        user_partition(user_id),
        format!("{API_KEY_GSI1_PREFIX}{key_id}"),
    )
}

/// A fixed-window counter. `bucket` must not contain `#` beyond the builder's own.
pub fn rate(bucket: &str, window_start: i64) -> Key {
    Key::new(format!("RATE#{bucket}#{window_start}"), "RATE")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_item_list() {
        assert_eq!(user("u1"), Key::new("USER#u1", "PROFILE"));
        assert_eq!(email_claim("a@b.co"), Key::new("EMAIL#a@b.co", "EMAIL"));
        assert_eq!(session("u1", "s1"), Key::new("USER#u1", "SESSION#s1"));
        assert_eq!(refresh_token("ab"), Key::new("REFRESH#ab", "REFRESH"));
        assert_eq!(workspace("w1"), Key::new("WORKSPACE#w1", "META"));
        assert_eq!(member("w1", "u1"), Key::new("WORKSPACE#w1", "MEMBER#u1"));
        assert_eq!(
            member_gsi1("w1", "u1"),
            ("USER#u1".to_owned(), "WORKSPACE#w1".to_owned())
        );
        assert_eq!(rate("signin:x", 60), Key::new("RATE#signin:x#60", "RATE"));
        assert_eq!(api_key("ab"), Key::new("APIKEY#ab", "APIKEY"));
        assert_eq!(
            api_key_gsi1("u1", "k1"),
            ("USER#u1".to_owned(), "APIKEY#k1".to_owned())
        );
    }

    #[test]
    fn a_users_sessions_share_the_user_partition_and_a_prefix() {
        let key = session("u1", "s1");
        assert_eq!(key.pk, user_partition("u1"));
        assert!(key.sk.starts_with(SESSION_PREFIX));
    }
}
