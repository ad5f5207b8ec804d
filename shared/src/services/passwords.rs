//! argon2id hashing and verification, off the async executor. Verifying for an unknown account
//! runs against a dummy hash (made once per parameter set, on first use), so the answer and its
//! timing do not reveal which emails have accounts.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, Block, Params, PasswordHasher, Version};
use subtle::ConstantTimeEq;

use crate::config::Argon2Params;
use crate::domain::passwords::Password;
use crate::{AppState, Error, Result};

const SALT_BYTES: usize = 16;

fn hasher(params: Argon2Params) -> Result<Argon2<'static>> {
    let params = Params::new(
        params.memory_kib,
        params.iterations,
        params.parallelism,
        None,
    )
    .map_err(|e| Error::internal(format!("argon2 parameters: {e}")))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// argon2's working memory (19 MiB with the default parameters), kept between hashes. A fresh
/// buffer is page-faulted in on every hash, which on a Firecracker VM (a Lambda instance, or this
/// project's development machines) costs 10-20 ms beyond the hash itself: a third of a sign-in.
/// Warm buffers remove that. At most `KEPT_BUFFERS` are kept, so idle memory stays bounded.
static MEMORY: Mutex<Vec<Vec<Block>>> = Mutex::new(Vec::new());
const KEPT_BUFFERS: usize = 2;

/// Run `hash` with at least `block_count` blocks of (preferably warm) argon2 memory.
fn with_memory<T>(block_count: usize, hash: impl FnOnce(&mut [Block]) -> T) -> T {
    let pooled = MEMORY.lock().ok().and_then(|mut pool| pool.pop());
    let mut memory = pooled
        .filter(|memory| memory.len() >= block_count)
        .unwrap_or_else(|| vec![Block::new(); block_count]);
    let result = hash(&mut memory);
    if let Ok(mut pool) = MEMORY.lock()
        && pool.len() < KEPT_BUFFERS
    {
        pool.push(memory);
    }
    result
}

/// Whether `password` matches the PHC string, under the hash's own parameters (so hashes made
/// under older settings still verify). Any malformed hash is a mismatch.
fn verify_blocking(password: &[u8], phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return false;
    };
    let (Ok(algorithm), Ok(params)) = (
        Algorithm::try_from(parsed.algorithm.as_str()),
        Params::try_from(&parsed),
    ) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from).transpose() {
        Ok(version) => version.unwrap_or_default(),
        Err(_) => return false,
    };
    let block_count = params.block_count();
    let argon2 = Argon2::new(algorithm, version, params);
    let mut computed = vec![0u8; expected.len()];
    let hashed = with_memory(block_count, |memory| {
        argon2.hash_password_into_with_memory(password, salt.as_ref(), &mut computed, memory)
    });
    hashed.is_ok() && bool::from(computed.ct_eq(expected.as_bytes()))
}

fn hash_blocking(params: Argon2Params, password: &str, salt: &[u8]) -> Result<String> {
    hasher(params)?
        .hash_password_with_salt(password.as_bytes(), salt)
        .map(|hash| hash.to_string())
        .map_err(|e| Error::internal(format!("argon2 hashing failed: {e}")))
}

/// A PHC string (`$argon2id$v=19$m=...`) for the password, with a fresh salt.
pub async fn hash(state: &AppState, password: Password) -> Result<String> {
    let params = state.config.argon2;
    let mut salt = [0u8; SALT_BYTES];
    state.random.fill(&mut salt);
    tokio::task::spawn_blocking(move || hash_blocking(params, password.expose(), &salt))
        .await
        .map_err(|e| Error::internal(format!("hashing task failed: {e}")))?
}

/// Whether the password matches the stored hash. With no hash (unknown account, or an account
/// without a password) a dummy hash of the same parameters is verified and the answer is `false`.
pub async fn verify(state: &AppState, password: Password, stored: Option<String>) -> Result<bool> {
    let params = state.config.argon2;
    let (hash, real) = match stored {
        Some(hash) => (hash, true),
        None => (dummy_hash(params).await?, false),
    };
    let matches =
        tokio::task::spawn_blocking(move || verify_blocking(password.expose().as_bytes(), &hash))
            .await
            .map_err(|e| Error::internal(format!("verification task failed: {e}")))?;
    Ok(real && matches)
}

/// The dummy hash for a parameter set, computed once per process on first use.
async fn dummy_hash(params: Argon2Params) -> Result<String> {
    type Cache = Mutex<HashMap<(u32, u32, u32), Arc<OnceLock<String>>>>;
    static DUMMIES: OnceLock<Cache> = OnceLock::new();
    let cell = DUMMIES
        .get_or_init(Cache::default)
        .lock()
        .expect("dummy hash cache")
        .entry((params.memory_kib, params.iterations, params.parallelism))
        .or_default()
        .clone();
    if let Some(hash) = cell.get() {
        return Ok(hash.clone());
    }
    tokio::task::spawn_blocking(move || {
        let hash = hash_blocking(
            params,
            "latchkey dummy password for unknown accounts",
            b"latchkey-dummy-salt",
        )?;
        Ok(cell.get_or_init(|| hash).clone())
    })
    .await
    .map_err(|e| Error::internal(format!("hashing task failed: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHEAP: Argon2Params = Argon2Params {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };

    #[test]
    fn hashes_are_argon2id_phc_strings_that_the_crates_own_verifier_accepts() {
        use argon2::PasswordVerifier;
        let hash = hash_blocking(CHEAP, "correct horse", b"0123456789abcdef").unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{hash}");
        let argon2 = hasher(CHEAP).unwrap();
        assert!(
            argon2
                .verify_password(b"correct horse", hash.as_str())
                .is_ok()
        );
        assert!(
            argon2
                .verify_password(b"wrong horse", hash.as_str())
                .is_err()
        );
    }

    #[test]
    fn our_verification_agrees_with_the_crates_own() {
        let hash = hash_blocking(CHEAP, "correct horse", b"0123456789abcdef").unwrap();
        assert!(verify_blocking(b"correct horse", &hash));
        assert!(!verify_blocking(b"wrong horse", &hash));
        // Again, now on warm pooled memory left by the calls above.
        assert!(verify_blocking(b"correct horse", &hash));
    }

    #[test]
    fn hashes_made_under_other_parameters_still_verify() {
        let older = Argon2Params {
            memory_kib: 128,
            iterations: 2,
            parallelism: 2,
        };
        let hash = hash_blocking(older, "correct horse", b"0123456789abcdef").unwrap();
        assert!(verify_blocking(b"correct horse", &hash));
        assert!(!verify_blocking(b"correct horsE", &hash));
    }

    #[test]
    fn malformed_hashes_never_verify() {
        let hash = hash_blocking(CHEAP, "correct horse", b"0123456789abcdef").unwrap();
        let truncated = &hash[..hash.len() - 4];
        for bad in [
            "",
            "plain",
            "$argon2id$v=19$m=64,t=1,p=1$",
            truncated,
            "$argon2x$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaA",
        ] {
            assert!(!verify_blocking(b"correct horse", bad), "{bad}");
        }
    }

    #[tokio::test]
    async fn the_dummy_hash_is_made_once_per_parameter_set() {
        let first = dummy_hash(CHEAP).await.unwrap();
        let second = dummy_hash(CHEAP).await.unwrap();
        assert_eq!(first, second);
    }
}
