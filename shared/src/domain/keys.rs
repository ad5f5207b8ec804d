//! The single table's item kinds and their key builders: every key of every group is built here
//! and nowhere else (DESIGN.md, "Storage"). Each kind's record type lives with its domain
//! (`users`, `sessions`, `workspaces`, `one_time_token`, `signing_keys`, ...) and builds its key
//! through this module.
//!
//! | item | PK | SK | notes |
//! |---|---|---|---|
//! | user | `USER#<id>` | `PROFILE` | profile, password hash, plan, flags, `version` (optimistic locking) |
//! | email claim | `EMAIL#<normalized>` | `EMAIL` | user id; written in the user's transaction: uniqueness |
//! | session | `USER#<id>` | `SESSION#<id>` | device info, absolute expiry, current refresh hash, `ttl` |
//! | refresh token | `REFRESH#<sha256 hex>` | `REFRESH` | session, state (`active`/`rotated`), claims snapshot, `ttl` |
//! | one-time token | `TOKEN#<sha256>` | `TOKEN` | purpose, user_id, email, redirect?, expires_at, `ttl` |
//! | current token of a kind | `USER#<id>` | `EMAILTOKEN#<purpose>` | token_hash, `ttl` |
//! | code of a magic link | `CODE#<normalized email>` | `CODE#<purpose>` | code_hash, token_hash, user_id, attempts, `ttl` |
//! | workspace | `WORKSPACE#<id>` | `META` | name, owner, personal flag |
//! | member | `WORKSPACE#<id>` | `MEMBER#<user>` | role; GSI1 `USER#<user>` / `WORKSPACE#<id>` lists a user's workspaces |
//! | invite | `WORKSPACE#<id>` | `INVITE#<id>` | email, role, inviter, token hash, `ttl` at expiry |
//! | invite token | `INVITETOKEN#<sha256>` | `INVITETOKEN` | a copy of its invite, found by the emailed token; consumed by a conditional delete |
//! | waitlist signup | `WORKSPACE#<id>` | `WAITLIST#<feature>` | who signed the workspace up, when |
//! | rate-limit counter | `RATE#<bucket>#<window start>` | `RATE` | `count` (atomic add), `ttl` at window end |
//! | signing key | `KEYS` | `KEY#<kid>` | private key encrypted with the Cipher, public JWK, `retired_at`/`ttl` once rotated out |
//! | current signing key | `KEYS` | `CURRENT` | `kid` of the key that signs new tokens |
//! | identity | `IDENTITY#<provider>#<subject>` | `IDENTITY` | (oauth group) user id, email, linked_at; GSI1 `USER#<user>` / `IDENTITY#<provider>#<subject>` lists a user's identities |
//! | passkey | `USER#<id>` | `PASSKEY#<id>` | (passkeys group) GSI1 on the credential id |
//! | passkey credential claim | `PASSKEYCRED#<credential id>` | `PASSKEYCRED` | user and passkey id; written with the passkey on condition that none exists: one account per credential id |
//! | API key | `APIKEY#<sha256>` | `APIKEY` | (api-keys group) listed through GSI1 under the user |
//! | MFA | `USER#<id>` | `MFA` | TOTP secret encrypted with the Cipher, `status` (`pending`/`enabled`), `last_step`, `setup_id`; `ttl` while pending |
//! | recovery code | `USER#<id>` | `RECOVERY#<sha256 hex>` | one unspent code of the current set; consumed by a conditional delete |
//! | pending second factor | `MFAPENDING#<jti>` | `MFAPENDING` | the `mfa_token` with that `jti` is unspent; `ttl` at its expiry |
//! | provider, connection, provider key | `PROVIDER#<id>` / `USER#<id>` | `META` / `CONNECTION#<p>` / `PROVIDERKEY#<p>` | (integrations group) secrets encrypted; providers listed through GSI1 `PROVIDERS` / `PROVIDER#<id>` |
//! | inbox | `INBOX#<id>` | `META` | (inboxes group) credentials encrypted; GSI1 `INBOXES#<workspace>` / `HUMAN#<human user id>#<id>` lists a workspace's inboxes |
//! | challenge | `CHALLENGE#<id>` | `CHALLENGE` | (passkeys, oauth) ceremony state, `ttl` 5 min, consumed once |
//! | OAuth flow | `OAUTHFLOW#<sha256 hex of state>` | `OAUTHFLOW` | purpose, provider, payload, `ttl` 10 min; consumed once by a conditional delete |

use crate::domain::ids::{InboxId, InviteId, PasskeyId, SessionId, UserId, WorkspaceId};
use crate::ports::Key;

pub const PROFILE: &str = "PROFILE";
pub const META: &str = "META";
pub const SESSION_PREFIX: &str = "SESSION#";
pub const MEMBER_PREFIX: &str = "MEMBER#";
pub const INVITE_PREFIX: &str = "INVITE#";
pub const WAITLIST_PREFIX: &str = "WAITLIST#";
pub const WORKSPACE_PREFIX: &str = "WORKSPACE#";
pub const PASSKEY_PREFIX: &str = "PASSKEY#";
pub const CONNECTION_PREFIX: &str = "CONNECTION#";
pub const PROVIDER_KEY_PREFIX: &str = "PROVIDERKEY#";
/// The partition of the access-token signing keys.
pub const KEYS_PARTITION: &str = "KEYS";
/// The sort-key prefix of each signing key under `KEYS`.
pub const SIGNING_KEY_PREFIX: &str = "KEY#";

/// The partition of everything a user owns (`USER#<id>`); also the GSI1 key of their
/// memberships.
pub fn user_partition(user_id: &UserId) -> String {
    format!("USER#{user_id}")
}

pub fn user(user_id: &UserId) -> Key {
    Key::new(user_partition(user_id), PROFILE)
}

/// The deployment's secret that keys the hashes of emailed 6-digit codes.
pub fn code_secret() -> Key {
    Key::new("SECRET#code-hmac", "SECRET")
}

pub fn email_claim(normalized_email: &str) -> Key {
    Key::new(format!("EMAIL#{normalized_email}"), "EMAIL")
}

pub fn session(user_id: &UserId, session_id: &SessionId) -> Key {
    Key::new(
        user_partition(user_id),
        format!("{SESSION_PREFIX}{session_id}"),
    )
}

pub fn refresh_token(token_hash: &str) -> Key {
    Key::new(format!("REFRESH#{token_hash}"), "REFRESH")
}

/// An emailed one-time token, by the SHA-256 of its secret.
pub fn one_time_token(token_hash: &str) -> Key {
    Key::new(format!("TOKEN#{token_hash}"), "TOKEN")
}

/// The per-user pointer to the one live emailed token of a purpose (`magic_link`, ...); issuing a
/// new token replaces it, so the older token is void.
pub fn current_one_time_token(user_id: &UserId, purpose: &str) -> Key {
    Key::new(user_partition(user_id), format!("EMAILTOKEN#{purpose}"))
}

/// The 6-digit code of the latest magic link mailed to an address.
pub fn one_time_code(normalized_email: &str, purpose: &str) -> Key {
    Key::new(
        format!("CODE#{normalized_email}"),
        format!("CODE#{purpose}"),
    )
}

pub fn workspace(workspace_id: &WorkspaceId) -> Key {
    Key::new(workspace_partition(workspace_id), META)
}

pub fn workspace_partition(workspace_id: &WorkspaceId) -> String {
    format!("{WORKSPACE_PREFIX}{workspace_id}")
}

pub fn member(workspace_id: &WorkspaceId, user_id: &UserId) -> Key {
    Key::new(
        workspace_partition(workspace_id),
        format!("{MEMBER_PREFIX}{user_id}"),
    )
}

/// GSI1 of a member item: `(USER#<user>, WORKSPACE#<workspace>)`.
pub fn member_gsi1(workspace_id: &WorkspaceId, user_id: &UserId) -> (String, String) {
    (user_partition(user_id), workspace_partition(workspace_id))
}

pub fn invite(workspace_id: &WorkspaceId, invite_id: &InviteId) -> Key {
    Key::new(
        workspace_partition(workspace_id),
        format!("{INVITE_PREFIX}{invite_id}"),
    )
}

pub const RECOVERY_PREFIX: &str = "RECOVERY#";

/// One unspent recovery code of a user, by the SHA-256 (hex) of its normalized form.
pub fn recovery_code(user_id: &UserId, code_hash: &str) -> Key {
    Key::new(
        user_partition(user_id),
        format!("{RECOVERY_PREFIX}{code_hash}"),
    )
}

/// An unspent `mfa_token`, by its `jti`: deleting it (on condition that it exists) spends it.
pub fn mfa_pending(jti: &str) -> Key {
    Key::new(format!("MFAPENDING#{jti}"), "MFAPENDING")
}

/// An invite, by the SHA-256 of its emailed token.
pub fn invite_token(token_hash: &str) -> Key {
    Key::new(format!("INVITETOKEN#{token_hash}"), "INVITETOKEN")
}

/// A workspace's signup on a feature's waitlist.
pub fn waitlist(workspace_id: &WorkspaceId, feature: &str) -> Key {
    Key::new(
        workspace_partition(workspace_id),
        format!("{WAITLIST_PREFIX}{feature}"),
    )
}

pub const API_KEY_PK_PREFIX: &str = "APIKEY#";
pub const API_KEY_GSI1_PREFIX: &str = "APIKEY#";

/// GSI1 of an API key: `(USER#<owner>, APIKEY#<id>)`, to list a user's keys and find one by id.
pub fn api_key_gsi1(user_id: &UserId, key_id: &str) -> (String, String) {
    (
        user_partition(user_id),
        format!("{API_KEY_GSI1_PREFIX}{key_id}"),
    )
}

/// A fixed-window counter. `bucket` must not contain `#` beyond the builder's own.
pub fn rate(bucket: &str, window_start: i64) -> Key {
    Key::new(format!("RATE#{bucket}#{window_start}"), "RATE")
}

/// One access-token signing key, by its `kid`.
pub fn signing_key(kid: &str) -> Key {
    Key::new(KEYS_PARTITION, format!("{SIGNING_KEY_PREFIX}{kid}"))
}

/// The item `/health` writes and reads back to prove the table takes writes.
pub fn health_probe() -> Key {
    Key::new("HEALTH", "PROBE")
}

/// The pointer to the key that signs new access tokens.
pub fn current_signing_key() -> Key {
    Key::new(KEYS_PARTITION, "CURRENT")
}

/// A sign-in identity at an OAuth/OIDC provider.
pub fn identity(provider: &str, subject: &str) -> Key {
    Key::new(format!("IDENTITY#{provider}#{subject}"), "IDENTITY")
}

pub fn passkey(user_id: &UserId, passkey_id: &PasskeyId) -> Key {
    Key::new(
        user_partition(user_id),
        format!("{PASSKEY_PREFIX}{passkey_id}"),
    )
}

/// The copies of a user's linked identities under the user (oauth group): a passkey is not the
/// last way to sign in while one exists.
pub const IDENTITY_PREFIX: &str = "IDENTITY#";

/// The claim that makes a WebAuthn credential id (base64url) belong to one passkey of one user.
pub fn passkey_credential(credential_id: &str) -> Key {
    Key::new(format!("PASSKEYCRED#{credential_id}"), "PASSKEYCRED")
}

/// GSI1 of a passkey item: `(PASSKEYCRED#<credential id>, PASSKEY)`, how a sign-in finds it.
pub fn passkey_gsi1(credential_id: &str) -> (String, String) {
    (format!("PASSKEYCRED#{credential_id}"), "PASSKEY".to_owned())
}

/// An API key, by the SHA-256 of its secret.
pub fn api_key(key_hash: &str) -> Key {
    Key::new(format!("APIKEY#{key_hash}"), "APIKEY")
}

/// A user's TOTP factor.
pub fn mfa(user_id: &UserId) -> Key {
    Key::new(user_partition(user_id), "MFA")
}

pub fn provider(provider_id: &str) -> Key {
    Key::new(format!("PROVIDER#{provider_id}"), META)
}

/// GSI1 of a registry entry: `(PROVIDERS, PROVIDER#<id>)`, to list the registry in id order.
pub fn provider_gsi1(provider_id: &str) -> (String, String) {
    (
        super::integrations::PROVIDERS_INDEX.to_owned(),
        format!("PROVIDER#{provider_id}"),
    )
}

pub fn connection(user_id: &UserId, provider: &str) -> Key {
    Key::new(
        user_partition(user_id),
        format!("{CONNECTION_PREFIX}{provider}"),
    )
}

pub fn provider_key(user_id: &UserId, provider: &str) -> Key {
    Key::new(
        user_partition(user_id),
        format!("{PROVIDER_KEY_PREFIX}{provider}"),
    )
}

pub fn inbox(inbox_id: &InboxId) -> Key {
    Key::new(format!("INBOX#{inbox_id}"), META)
}

/// The GSI1 partition of a workspace's inboxes.
pub fn inboxes_gsi1_partition(workspace_id: &WorkspaceId) -> String {
    format!("INBOXES#{workspace_id}")
}

/// GSI1 of an inbox: `(INBOXES#<workspace>, HUMAN#<human user id>#<inbox id>)`, to list a
/// workspace's inboxes, grouped by the platform's human user.
pub fn inbox_gsi1(
    workspace_id: &WorkspaceId,
    human_user_id: &str,
    inbox_id: &InboxId,
) -> (String, String) {
    (
        inboxes_gsi1_partition(workspace_id),
        format!("HUMAN#{human_user_id}#{inbox_id}"),
    )
}

/// A WebAuthn ceremony or an OAuth state, consumed once.
/// A pending OAuth authorization-code flow, by the SHA-256 (hex) of its `state`.
pub fn oauth_flow(state_hash: &str) -> Key {
    Key::new(format!("OAUTHFLOW#{state_hash}"), "OAUTHFLOW")
}

/// A WebAuthn ceremony, consumed once.
pub fn challenge(challenge_id: &str) -> Key {
    Key::new(format!("CHALLENGE#{challenge_id}"), "CHALLENGE")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_item_list() {
        assert_eq!(user(&"u1".into()), Key::new("USER#u1", "PROFILE"));
        assert_eq!(email_claim("a@b.co"), Key::new("EMAIL#a@b.co", "EMAIL"));
        assert_eq!(
            session(&"u1".into(), &"s1".into()),
            Key::new("USER#u1", "SESSION#s1")
        );
        assert_eq!(refresh_token("ab"), Key::new("REFRESH#ab", "REFRESH"));
        assert_eq!(one_time_token("ab"), Key::new("TOKEN#ab", "TOKEN"));
        assert_eq!(
            current_one_time_token(&"u1".into(), "password_reset"),
            Key::new("USER#u1", "EMAILTOKEN#password_reset")
        );
        assert_eq!(
            one_time_code("a@b.c", "magic_link"),
            Key::new("CODE#a@b.c", "CODE#magic_link")
        );
        assert_eq!(workspace(&"w1".into()), Key::new("WORKSPACE#w1", "META"));
        assert_eq!(
            member(&"w1".into(), &"u1".into()),
            Key::new("WORKSPACE#w1", "MEMBER#u1")
        );
        assert_eq!(
            member_gsi1(&"w1".into(), &"u1".into()),
            ("USER#u1".to_owned(), "WORKSPACE#w1".to_owned())
        );
        assert_eq!(
            invite(&"w1".into(), &"i1".into()),
            Key::new("WORKSPACE#w1", "INVITE#i1")
        );
        assert_eq!(
            invite_token("ab"),
            Key::new("INVITETOKEN#ab", "INVITETOKEN")
        );
        assert_eq!(
            waitlist(&"w1".into(), "beta"),
            Key::new("WORKSPACE#w1", "WAITLIST#beta")
        );
        assert_eq!(rate("signin:x", 60), Key::new("RATE#signin:x#60", "RATE"));
        assert_eq!(signing_key("k1"), Key::new("KEYS", "KEY#k1"));
        assert_eq!(current_signing_key(), Key::new("KEYS", "CURRENT"));
        assert_eq!(
            identity("google", "123"),
            Key::new("IDENTITY#google#123", "IDENTITY")
        );
        assert_eq!(
            passkey(&"u1".into(), &"p1".into()),
            Key::new("USER#u1", "PASSKEY#p1")
        );
        assert_eq!(
            passkey_credential("AQID"),
            Key::new("PASSKEYCRED#AQID", "PASSKEYCRED")
        );
        assert_eq!(
            passkey_gsi1("AQID"),
            ("PASSKEYCRED#AQID".to_owned(), "PASSKEY".to_owned())
        );
        assert_eq!(api_key("ab"), Key::new("APIKEY#ab", "APIKEY"));
        assert_eq!(mfa(&"u1".into()), Key::new("USER#u1", "MFA"));
        assert_eq!(provider("p1"), Key::new("PROVIDER#p1", "META"));
        assert_eq!(
            provider_gsi1("p1"),
            ("PROVIDERS".to_owned(), "PROVIDER#p1".to_owned())
        );
        assert_eq!(
            connection(&"u1".into(), "github"),
            Key::new("USER#u1", "CONNECTION#github")
        );
        assert_eq!(
            provider_key(&"u1".into(), "openai"),
            Key::new("USER#u1", "PROVIDERKEY#openai")
        );
        assert_eq!(inbox(&"i1".into()), Key::new("INBOX#i1", "META"));
        assert_eq!(
            inbox_gsi1(&"w1".into(), "h1", &"i1".into()),
            ("INBOXES#w1".to_owned(), "HUMAN#h1#i1".to_owned())
        );
        assert_eq!(challenge("c1"), Key::new("CHALLENGE#c1", "CHALLENGE"));
        assert_eq!(oauth_flow("ab"), Key::new("OAUTHFLOW#ab", "OAUTHFLOW"));
        assert_eq!(
            recovery_code(&"u1".into(), "ab"),
            Key::new("USER#u1", "RECOVERY#ab")
        );
        assert_eq!(mfa_pending("j1"), Key::new("MFAPENDING#j1", "MFAPENDING"));
        assert_eq!(
            api_key_gsi1(&"u1".into(), "k1"),
            ("USER#u1".to_owned(), "APIKEY#k1".to_owned())
        );
    }

    #[test]
    fn a_users_sessions_share_the_user_partition_and_a_prefix() {
        let key = session(&"u1".into(), &"s1".into());
        assert_eq!(key.pk, user_partition(&"u1".into()));
        assert!(key.sk.starts_with(SESSION_PREFIX));
    }
}
