//! Emailed one-time tokens and codes: how they are made, hashed and keyed, with no I/O.
//!
//! A token is 256 random bits (base64url, 43 characters); only its SHA-256 is ever stored. A
//! magic link also carries a 6-digit code, bound to its token by hashing the two together, so a
//! code is worthless once its token is gone.
//!
//! Items (their keys are built in `domain::keys`, with every other kind's):
//!
//! | item | PK | SK | attributes |
//! |---|---|---|---|
//! | one-time token | `TOKEN#<sha256>` | `TOKEN` | purpose, user_id, email, redirect?, expires_at, `ttl` |
//! | current token of a kind | `USER#<id>` | `EMAILTOKEN#<purpose>` | token_hash, `ttl` |
//! | code of a magic link | `CODE#<normalized email>` | `CODE#<purpose>` | code_hash, token_hash, user_id, attempts, `ttl` |

use crate::domain::ids::UserId;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use serde::{Deserialize, Serialize};

use super::{from_item, keys, to_item};
use crate::ports::{Condition, Item, Key, Random, attr};

/// Random bytes in every emailed token: 256 bits, well over the 128-bit floor.
pub const TOKEN_BYTES: usize = 32;

/// Wrong codes tolerated before a code is void; the next try fails even with the right code.
pub const MAX_CODE_ATTEMPTS: i64 = 5;

/// What an emailed token is for. A token of one purpose is never accepted for another.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Purpose {
    /// Sign in without a password (link or code).
    MagicLink,
    /// Prove ownership of the account's email address.
    VerifyEmail,
    /// Set a new password without the old one.
    PasswordReset,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MagicLink => "magic_link",
            Self::VerifyEmail => "verify_email",
            Self::PasswordReset => "password_reset",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Self::MagicLink, Self::VerifyEmail, Self::PasswordReset]
            .into_iter()
            .find(|purpose| purpose.as_str() == value)
    }
}

/// A freshly made token: the secret goes into the email, the hash into the table.
#[derive(Clone)]
pub struct OneTimeToken {
    secret: String,
    hash: String,
}

impl OneTimeToken {
    pub fn generate(random: &dyn Random) -> Self {
        use base64::Engine;
        let mut bytes = [0u8; TOKEN_BYTES];
        random.fill(&mut bytes);
        let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let hash = hash_token(&secret);
        Self { secret, hash }
    }

    /// The token as it goes into a link; never logged, never stored.
    pub fn secret(&self) -> &str {
        &self.secret
    }

    pub fn hash(&self) -> &str {
        &self.hash
    }
}

impl std::fmt::Debug for OneTimeToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OneTimeToken")
            .field("hash", &self.hash)
            .finish_non_exhaustive()
    }
}

/// The stored form of a token: hex SHA-256 of what the link carries.
pub fn hash_token(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Whether a presented string can be one of our tokens at all (cheap refusal before any lookup).
pub fn looks_like_token(secret: &str) -> bool {
    secret.len() == 43
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A uniformly random 6-digit code (leading zeros kept).
pub fn generate_code(random: &dyn Random) -> String {
    // Rejection sampling: 4_294_000_000 is the largest multiple of 10^6 below 2^32, so every code
    // is equally likely.
    loop {
        let mut bytes = [0u8; 4];
        random.fill(&mut bytes);
        let value = u32::from_be_bytes(bytes);
        if value < 4_294_000_000 {
            return format!("{:06}", value % 1_000_000);
        }
    }
}

/// The stored form of a code: HMAC-SHA256 under the server's code secret
/// (`services::code_secret`), so a copy of the table is not enough to try the 10^6 codes, and
/// bound to its token, so the same digits under another token differ.
pub fn hash_code(secret: &[u8], token_hash: &str, code: &str) -> String {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
    let mut context = aws_lc_rs::hmac::Context::with_key(&key);
    context.update(b"latchkey-code-v2\0");
    context.update(token_hash.as_bytes());
    context.update(b":");
    context.update(code.trim().as_bytes());
    hex::encode(context.sign().as_ref())
}

/// Whether a presented code matches the stored hash, in constant time.
pub fn code_matches(
    secret: &[u8],
    stored_code_hash: &str,
    token_hash: &str,
    presented: &str,
) -> bool {
    let presented = presented.trim();
    let well_formed = presented.len() == 6 && presented.bytes().all(|b| b.is_ascii_digit());
    let candidate = hash_code(secret, token_hash, presented);
    let equal: bool = candidate
        .as_bytes()
        .ct_eq(stored_code_hash.as_bytes())
        .into();
    well_formed && equal
}

/// Emails are trimmed and compared case-insensitively (API.md, Conventions).
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// `TOKEN#<sha256>` / `TOKEN`: what an emailed token was issued for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// `Purpose::as_str`.
    pub purpose: String,
    pub user_id: UserId,
    /// The address the token was mailed to, as given.
    pub email: String,
    /// The allow-listed redirect stored with the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect: Option<String>,
    /// Unix seconds; also the item's `ttl`.
    pub expires_at: i64,
}

impl TokenRecord {
    pub fn to_item(&self, token_hash: &str) -> Item {
        let mut item = to_item(&keys::one_time_token(token_hash), self);
        item.insert(attr::TTL.into(), self.expires_at.into());
        item
    }

    /// The record, if the item is one (a malformed item counts as no token).
    pub fn from_item(item: Item) -> Option<Self> {
        from_item(item).ok()
    }

    /// Live for `purpose` at `now`.
    pub fn is_live_for(&self, purpose: Purpose, now: i64) -> bool {
        self.purpose == purpose.as_str() && now < self.expires_at
    }
}

/// `USER#<id>` / `EMAILTOKEN#<purpose>`: the one live token of a purpose.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrentToken {
    pub token_hash: String,
}

impl CurrentToken {
    pub fn key(user_id: &UserId, purpose: Purpose) -> Key {
        keys::current_one_time_token(user_id, purpose.as_str())
    }

    pub fn to_item(&self, user_id: &UserId, purpose: Purpose, expires_at: i64) -> Item {
        let mut item = to_item(&Self::key(user_id, purpose), self);
        item.insert(attr::TTL.into(), expires_at.into());
        item
    }

    pub fn from_item(item: Item) -> Option<Self> {
        from_item(item).ok()
    }

    /// The pointer still names this token.
    pub fn names(token_hash: &str) -> Condition {
        Condition::Equals("token_hash".into(), token_hash.into())
    }
}

/// `CODE#<normalized email>` / `CODE#<purpose>`: the code of the latest magic link to an address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeRecord {
    /// `hash_code(token_hash, code)`.
    pub code_hash: String,
    pub token_hash: String,
    pub user_id: UserId,
    /// Tries so far (atomic add, `ATTEMPTS`).
    pub attempts: i64,
    /// Unix seconds after which the code is void.
    pub ttl: i64,
}

impl CodeRecord {
    /// The counter of tries.
    pub const ATTEMPTS: &'static str = "attempts";

    pub fn key(email: &str, purpose: Purpose) -> Key {
        keys::one_time_code(&normalize_email(email), purpose.as_str())
    }

    pub fn to_item(&self, email: &str, purpose: Purpose) -> Item {
        to_item(&Self::key(email, purpose), self)
    }

    pub fn from_item(item: Item) -> Option<Self> {
        from_item(item).ok()
    }

    /// The code item is still this code.
    pub fn is_code(code_hash: &str) -> Condition {
        Condition::Equals("code_hash".into(), code_hash.into())
    }

    /// The code item still belongs to this token.
    pub fn of_token(token_hash: &str) -> Condition {
        Condition::Equals("token_hash".into(), token_hash.into())
    }
}

/// Words for a lifetime, as emails say it: "15 minutes", "1 hour", "7 days".
pub fn lifetime_in_words(seconds: u64) -> String {
    fn unit(n: u64, singular: &str) -> String {
        if n == 1 {
            format!("1 {singular}")
        } else {
            format!("{n} {singular}s")
        }
    }
    match seconds {
        s if s >= 86_400 && s % 86_400 == 0 => unit(s / 86_400, "day"),
        s if s >= 3_600 && s % 3_600 == 0 => unit(s / 3_600, "hour"),
        s if s >= 60 && s % 60 == 0 => unit(s / 60, "minute"),
        s if s >= 60 => unit(s.div_ceil(60), "minute"),
        s => unit(s, "second"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::system::OsRandom;

    /// A random source that replays the given bytes (then zeros).
    struct Replay(std::sync::Mutex<Vec<u8>>);

    impl Random for Replay {
        fn fill(&self, bytes: &mut [u8]) {
            let mut source = self.0.lock().unwrap();
            for byte in bytes.iter_mut() {
                *byte = if source.is_empty() {
                    0
                } else {
                    source.remove(0)
                };
            }
        }
    }

    #[test]
    fn a_token_has_256_bits_and_is_stored_only_as_its_sha256() {
        let token = OneTimeToken::generate(&OsRandom);
        assert!(looks_like_token(token.secret()), "{}", token.secret());
        assert_eq!(token.hash().len(), 64);
        assert_eq!(token.hash(), hash_token(token.secret()));
        assert_ne!(token.hash(), token.secret());
        assert!(!format!("{token:?}").contains(token.secret()));
    }

    #[test]
    fn two_tokens_differ() {
        let a = OneTimeToken::generate(&OsRandom);
        let b = OneTimeToken::generate(&OsRandom);
        assert_ne!(a.secret(), b.secret());
    }

    #[test]
    fn codes_have_six_digits_and_keep_leading_zeros() {
        let zero = Replay(std::sync::Mutex::new(vec![0, 0, 0, 7]));
        assert_eq!(generate_code(&zero), "000007");
        for _ in 0..100 {
            let code = generate_code(&OsRandom);
            assert_eq!(code.len(), 6);
            assert!(code.bytes().all(|b| b.is_ascii_digit()));
        }
    }

    #[test]
    fn codes_out_of_the_uniform_range_are_redrawn() {
        let source = Replay(std::sync::Mutex::new(vec![
            0xff, 0xff, 0xff, 0xff, 0, 0, 0, 42,
        ]));
        assert_eq!(generate_code(&source), "000042");
    }

    #[test]
    fn a_code_matches_only_under_its_own_token_and_secret() {
        let secret = [7u8; 32];
        let stored = hash_code(&secret, "token-a", "123456");
        assert!(code_matches(&secret, &stored, "token-a", "123456"));
        assert!(code_matches(&secret, &stored, "token-a", " 123456 "));
        assert!(!code_matches(&secret, &stored, "token-b", "123456"));
        assert!(!code_matches(&secret, &stored, "token-a", "123457"));
        assert!(!code_matches(&secret, &stored, "token-a", ""));
        assert!(!code_matches(&[8u8; 32], &stored, "token-a", "123456"));
    }

    #[test]
    fn the_stored_hash_is_not_the_unkeyed_hash_a_table_read_could_recompute() {
        let stored = hash_code(&[7u8; 32], "token-a", "042042");
        let mut unkeyed = Sha256::new();
        unkeyed.update(b"token-a:042042");
        assert_ne!(hex::encode(unkeyed.finalize()), stored);
        assert_ne!(hash_code(&[], "token-a", "042042"), stored);
    }

    #[test]
    fn lifetimes_read_as_words() {
        assert_eq!(lifetime_in_words(900), "15 minutes");
        assert_eq!(lifetime_in_words(60), "1 minute");
        assert_eq!(lifetime_in_words(3600), "1 hour");
        assert_eq!(lifetime_in_words(7 * 86_400), "7 days");
        assert_eq!(lifetime_in_words(2), "2 seconds");
        assert_eq!(lifetime_in_words(90), "2 minutes");
    }

    #[test]
    fn purposes_round_trip() {
        for purpose in [
            Purpose::MagicLink,
            Purpose::VerifyEmail,
            Purpose::PasswordReset,
        ] {
            assert_eq!(Purpose::parse(purpose.as_str()), Some(purpose));
        }
        assert_eq!(Purpose::parse("invite"), None);
    }

    #[test]
    fn keys_follow_the_table_design() {
        assert_eq!(
            CurrentToken::key(&"u1".into(), Purpose::PasswordReset).to_string(),
            "USER#u1|EMAILTOKEN#password_reset"
        );
        assert_eq!(
            CodeRecord::key(" A@B.c ", Purpose::MagicLink).to_string(),
            "CODE#a@b.c|CODE#magic_link"
        );
    }

    #[test]
    fn a_token_record_round_trips_and_expires_with_its_item() {
        let record = TokenRecord {
            purpose: Purpose::MagicLink.as_str().into(),
            user_id: "u1".into(),
            email: "a@b.co".into(),
            redirect: None,
            expires_at: 50,
        };
        let item = record.to_item("h");
        assert_eq!(item["ttl"], 50);
        assert_eq!(item["PK"], "TOKEN#h");
        assert!(!item.contains_key("redirect"));
        let back = TokenRecord::from_item(item).unwrap();
        assert_eq!(back, record);
        assert!(back.is_live_for(Purpose::MagicLink, 49));
        assert!(!back.is_live_for(Purpose::MagicLink, 50));
        assert!(!back.is_live_for(Purpose::VerifyEmail, 49));
    }
}
