//! argon2id hashing and verification, off the async executor. Verifying for an unknown account
//! runs against a dummy hash (made once per parameter set, on first use), so the answer and its
//! timing do not reveal which emails have accounts.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};

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
    let matches = tokio::task::spawn_blocking(move || {
        // The hash's own parameters are used, so hashes made under older settings still verify.
        hasher(params)
            .map(|argon2| {
                argon2
                    .verify_password(password.expose().as_bytes(), hash.as_str())
                    .is_ok()
            })
            .unwrap_or(false)
    })
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
    fn hashes_are_argon2id_phc_strings_that_verify() {
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

    #[tokio::test]
    async fn the_dummy_hash_is_made_once_per_parameter_set() {
        let first = dummy_hash(CHEAP).await.unwrap();
        let second = dummy_hash(CHEAP).await.unwrap();
        assert_eq!(first, second);
    }
}
