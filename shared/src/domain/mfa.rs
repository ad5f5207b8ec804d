//! TOTP second factor and recovery codes: the stored records, the TOTP parameters every
//! authenticator app reads, and how recovery codes are made, normalized and hashed. No I/O.
//!
//! - TOTP (RFC 6238): SHA-1, 6 digits, 30-second steps, a 160-bit secret shown in base32, one
//!   step of clock drift either way. `totp-rs` computes the codes; refusing a step that was
//!   already accepted is ours (`MfaRecord::last_step`, moved forward by one conditional write).
//! - Recovery codes: ten per set, 50 random bits each (ten Crockford base32 characters, shown as
//!   `xxxxx-xxxxx`), stored only as SHA-256 under the user's partition, one item per unspent code.
//!
//! Items (keys in `keys`): `USER#<id>` / `MFA` (`MfaRecord`), `USER#<id>` / `RECOVERY#<hash>`
//! (`RecoveryCode`), `MFAPENDING#<jti>` / `MFAPENDING` (`PendingSecondFactor`).

use crate::domain::ids::UserId;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use totp_rs::{Algorithm, Builder, Totp};

use super::keys;
use super::{from_item, to_item};
use crate::ports::{EncryptionContext, Item, Key, Random, attr};

/// Bytes of a TOTP secret: 160 bits, as RFC 4226 recommends.
pub const SECRET_BYTES: usize = 20;
pub const CODE_DIGITS: u8 = 6;
pub const STEP_SECONDS: u64 = 30;
/// Steps of clock drift accepted either way.
pub const DRIFT_STEPS: u16 = 1;

/// Recovery codes in a set.
pub const RECOVERY_CODE_COUNT: usize = 10;
/// Characters of a recovery code (5 bits each: 50 bits).
const RECOVERY_CODE_CHARS: usize = 10;
/// Crockford's base32 alphabet, lower case: no `i`, `l`, `o`, `u` to misread.
const RECOVERY_ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// An enrolment waiting for its first code; it lapses if not confirmed in time.
pub const STATUS_PENDING: &str = "pending";
/// The second factor is on.
pub const STATUS_ENABLED: &str = "enabled";

/// How long an unconfirmed enrolment is kept.
pub const PENDING_SETUP_SECONDS: i64 = 60 * 60;

/// The Cipher context of a user's TOTP secret: the owner and the purpose, so the ciphertext is
/// useless on any other item.
pub fn secret_context(user_id: &UserId) -> EncryptionContext {
    EncryptionContext::new(user_id, "totp-secret")
}

/// `USER#<id>` / `MFA`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MfaRecord {
    pub user_id: UserId,
    /// `pending` or `enabled`.
    pub status: String,
    /// The TOTP secret, encrypted with the Cipher under `secret_context`, base64.
    pub secret_ciphertext: String,
    /// Names one enrolment, so a confirm cannot enable a secret replaced by a newer setup.
    pub setup_id: String,
    /// The last time step a code was accepted for; only later steps are accepted.
    pub last_step: i64,
    pub created_at: i64,
    #[serde(default)]
    pub enabled_at: Option<i64>,
    #[serde(default)]
    pub recovery_codes_generated_at: Option<i64>,
    /// Unix seconds after which a pending enrolment lapses (the item's `ttl`); none once enabled.
    #[serde(default)]
    pub expires_at: Option<i64>,
}

impl MfaRecord {
    pub fn key(&self) -> Key {
        keys::mfa(&self.user_id)
    }

    pub fn to_item(&self) -> Item {
        let mut item = to_item(&self.key(), self);
        if let Some(expires_at) = self.expires_at {
            item.insert(attr::TTL.into(), expires_at.into());
        }
        item
    }

    pub fn from_item(item: Item) -> Result<Self, super::MalformedItem> {
        from_item(item)
    }

    pub fn is_enabled(&self) -> bool {
        self.status == STATUS_ENABLED
    }
}

/// The TOTP generator for a secret; the issuer and account label only the otpauth URL.
pub fn totp(secret: &[u8], issuer: &str, account: &str) -> std::result::Result<Totp, String> {
    // The otpauth label separates issuer and account with `:`, so neither may hold one.
    let issuer = issuer.replace(':', " ");
    let account = account.replace(':', " ");
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(CODE_DIGITS)
        .with_step_duration(STEP_SECONDS)
        .with_skew(DRIFT_STEPS)
        .with_secret(secret.to_vec())
        .with_issuer(Some(issuer))
        .with_account_name(account)
        .build()
        .map_err(|e| format!("the TOTP parameters were refused: {e}"))
}

/// The time step a presented code is valid for at `now`, within the drift window; `None` for a
/// wrong or malformed code. Spaces a user typed (`123 456`) are ignored.
pub fn matching_step(totp: &Totp, presented: &str, now: i64) -> Option<i64> {
    let code: String = presented.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != usize::from(CODE_DIGITS) || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = u64::try_from(now).ok()?;
    totp.check(&code, now)
        .and_then(|step| i64::try_from(step).ok())
}

/// The time step of a Unix time.
pub fn step_at(now: i64) -> i64 {
    now.div_euclid(STEP_SECONDS as i64)
}

/// A new random TOTP secret.
pub fn generate_secret(random: &dyn Random) -> [u8; SECRET_BYTES] {
    let mut secret = [0u8; SECRET_BYTES];
    random.fill(&mut secret);
    secret
}

/// A set of fresh recovery codes, as shown to the user (`xxxxx-xxxxx`).
pub fn generate_recovery_codes(random: &dyn Random) -> Vec<String> {
    (0..RECOVERY_CODE_COUNT)
        .map(|_| {
            let mut bytes = [0u8; RECOVERY_CODE_CHARS];
            random.fill(&mut bytes);
            // 256 is a multiple of 32: the low five bits of a uniform byte are uniform.
            let chars: String = bytes
                .iter()
                .map(|b| RECOVERY_ALPHABET[usize::from(b & 31)] as char)
                .collect();
            format!("{}-{}", &chars[..5], &chars[5..])
        })
        .collect()
}

/// A presented recovery code in its canonical form: case, dashes and spaces ignored, and the
/// letters Crockford's base32 reads as digits (`o` as 0, `i`/`l` as 1) mapped. `None` when it
/// cannot be a recovery code.
pub fn normalize_recovery_code(presented: &str) -> Option<String> {
    let mut code = String::with_capacity(RECOVERY_CODE_CHARS);
    for c in presented.chars() {
        let c = match c.to_ascii_lowercase() {
            '-' | ' ' | '\t' => continue,
            'o' => '0',
            'i' | 'l' => '1',
            c => c,
        };
        if !c.is_ascii() || !RECOVERY_ALPHABET.contains(&(c as u8)) {
            return None;
        }
        code.push(c);
    }
    (code.len() == RECOVERY_CODE_CHARS).then_some(code)
}

/// The stored form of a recovery code: SHA-256 (hex) of the user id and the normalized code, so
/// one table of precomputed hashes does not serve every account.
pub fn recovery_code_hash(user_id: &UserId, normalized: &str) -> String {
    hex::encode(Sha256::digest(format!("{user_id}:{normalized}").as_bytes()))
}

/// `USER#<id>` / `RECOVERY#<hash>`: one unspent recovery code.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecoveryCode {
    pub user_id: UserId,
    pub code_hash: String,
    /// When its set was generated.
    pub generated_at: i64,
}

impl RecoveryCode {
    pub fn to_item(&self) -> Item {
        to_item(&keys::recovery_code(&self.user_id, &self.code_hash), self)
    }
}

/// `MFAPENDING#<jti>` / `MFAPENDING`: an `mfa_token` not yet spent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PendingSecondFactor {
    pub jti: String,
    pub user_id: UserId,
    pub expires_at: i64,
}

impl PendingSecondFactor {
    pub fn to_item(&self) -> Item {
        let mut item = to_item(&keys::mfa_pending(&self.jti), self);
        item.insert(attr::TTL.into(), self.expires_at.into());
        item
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::system::OsRandom;

    #[test]
    fn the_rfc_6238_sha1_test_vectors_verify() {
        // RFC 6238 appendix B, SHA-1, with the last six digits of each eight-digit value.
        let totp = totp(b"12345678901234567890", "Latchkey", "ada@example.com").unwrap();
        assert_eq!(matching_step(&totp, "287082", 59), Some(1));
        assert_eq!(
            matching_step(&totp, "081804", 1_111_111_109),
            Some(37_037_036)
        );
        assert_eq!(
            matching_step(&totp, "005924", 1_234_567_890),
            Some(41_152_263)
        );
        assert_eq!(
            matching_step(&totp, "005 924", 1_234_567_890),
            Some(41_152_263)
        );
    }

    #[test]
    fn one_step_of_drift_is_accepted_and_two_are_not() {
        let totp = totp(b"12345678901234567890", "Latchkey", "ada@example.com").unwrap();
        let at = 1_111_111_109;
        assert_eq!(matching_step(&totp, "081804", at + 30), Some(37_037_036));
        assert_eq!(matching_step(&totp, "081804", at - 30), Some(37_037_036));
        assert_eq!(matching_step(&totp, "081804", at + 60), None);
        assert_eq!(matching_step(&totp, "08180", at), None);
        assert_eq!(matching_step(&totp, "08180x", at), None);
    }

    #[test]
    fn the_otpauth_url_names_the_product_and_the_account() {
        let totp = totp(&[7u8; SECRET_BYTES], "Acme: Auth", "ada@example.com").unwrap();
        let url = totp.to_url().unwrap();
        assert!(
            url.starts_with("otpauth://totp/Acme%20%20Auth:ada%40example.com?secret="),
            "{url}"
        );
        assert!(url.contains("&issuer=Acme%20%20Auth"), "{url}");
    }

    #[test]
    fn recovery_codes_are_ten_distinct_grouped_codes_of_fifty_bits() {
        let codes = generate_recovery_codes(&OsRandom);
        assert_eq!(codes.len(), RECOVERY_CODE_COUNT);
        let mut unique = codes.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), RECOVERY_CODE_COUNT);
        for code in &codes {
            assert_eq!(code.len(), 11, "{code}");
            assert_eq!(&code[5..6], "-");
            assert_eq!(normalize_recovery_code(code).unwrap().len(), 10);
        }
        // 10 characters of a 32-letter alphabet: 50 bits.
        assert_eq!(
            RECOVERY_ALPHABET.len().ilog2() as usize * RECOVERY_CODE_CHARS,
            50
        );
    }

    #[test]
    fn recovery_codes_are_read_forgivingly_and_hashed_per_user() {
        assert_eq!(
            normalize_recovery_code(" AB0C1-d2e3F ").as_deref(),
            Some("ab0c1d2e3f")
        );
        assert_eq!(
            normalize_recovery_code("abOcl-d2e3f").as_deref(),
            Some("ab0c1d2e3f")
        );
        assert_eq!(normalize_recovery_code("abc"), None);
        assert_eq!(normalize_recovery_code("abcde-fghi!"), None);
        assert_ne!(
            recovery_code_hash(&"u1".into(), "ab0c1d2e3f"),
            recovery_code_hash(&"u2".into(), "ab0c1d2e3f")
        );
        assert_eq!(recovery_code_hash(&"u1".into(), "ab0c1d2e3f").len(), 64);
    }

    #[test]
    fn a_pending_enrolment_expires_and_an_enabled_one_does_not() {
        let mut record = MfaRecord {
            user_id: "u1".into(),
            status: STATUS_PENDING.into(),
            secret_ciphertext: "c".into(),
            setup_id: "s".into(),
            last_step: 0,
            created_at: 1,
            enabled_at: None,
            recovery_codes_generated_at: None,
            expires_at: Some(100),
        };
        assert_eq!(record.to_item()["ttl"], 100);
        record.status = STATUS_ENABLED.into();
        record.expires_at = None;
        let item = record.to_item();
        assert!(!item.contains_key("ttl"));
        assert_eq!(MfaRecord::from_item(item).unwrap(), record);
    }
}
