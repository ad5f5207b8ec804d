//! The server secret that keys the stored hash of every 6-digit code (HMAC-SHA256), so that a
//! read of the table alone cannot recover a live code by trying all 10^6 of them: the secret is
//! in the table only encrypted by the Cipher (KMS in AWS, the local key file locally), like the
//! signing keys.
//!
//! One random 32-byte secret per deployment, under `SECRET#code-hmac` / `SECRET`, made on first
//! use (two instances racing: a conditional put, the loser reads the winner's). Each process
//! caches it decrypted; a table set up again since (an emulator restarted empty) is read anew.

use std::sync::{Arc, PoisonError, RwLock};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

use crate::domain::keys;
use crate::ports::{Condition, EncryptionContext, Key, StoreError};
use crate::{AppState, Error, Result};

const SECRET_BYTES: usize = 32;
const PURPOSE: &str = "code-hmac-key";

/// The decrypted secret of this process, with the table generation it was read under.
#[derive(Default)]
pub struct CodeSecret {
    cached: RwLock<Option<(u64, Arc<[u8; SECRET_BYTES]>)>>,
    /// One load or creation at a time in this process.
    loading: tokio::sync::Mutex<()>,
}

impl CodeSecret {
    fn fresh(&self, generation: u64) -> Option<Arc<[u8; SECRET_BYTES]>> {
        let cached = self.cached.read().unwrap_or_else(PoisonError::into_inner);
        cached
            .as_ref()
            .filter(|(at, _)| *at == generation)
            .map(|(_, secret)| secret.clone())
    }
}

fn secret_key() -> Key {
    keys::code_secret()
}

fn context() -> EncryptionContext {
    EncryptionContext::new("SECRET#code-hmac", PURPOSE)
}

/// The secret that keys code hashes: cached, read from the table, or made now.
pub async fn get(state: &AppState) -> Result<Arc<[u8; SECRET_BYTES]>> {
    let generation = state.table.generation();
    if let Some(secret) = state.code_secret.fresh(generation) {
        return Ok(secret);
    }
    let _loading = state.code_secret.loading.lock().await;
    if let Some(secret) = state.code_secret.fresh(generation) {
        return Ok(secret);
    }
    let secret = match read(state).await? {
        Some(secret) => secret,
        None => create(state).await?,
    };
    let secret = Arc::new(secret);
    *state
        .code_secret
        .cached
        .write()
        .unwrap_or_else(PoisonError::into_inner) = Some((generation, secret.clone()));
    Ok(secret)
}

async fn read(state: &AppState) -> Result<Option<[u8; SECRET_BYTES]>> {
    let Some(item) = state.table.get(&secret_key()).await? else {
        return Ok(None);
    };
    let ciphertext = item
        .get("ciphertext")
        .and_then(Value::as_str)
        .and_then(|text| STANDARD.decode(text).ok())
        .ok_or_else(|| Error::internal("the code secret item has no readable ciphertext"))?;
    let plaintext = state.cipher.decrypt(&ciphertext, &context()).await?;
    let secret: [u8; SECRET_BYTES] = plaintext
        .try_into()
        .map_err(|_| Error::internal("the code secret is not 32 bytes"))?;
    Ok(Some(secret))
}

async fn create(state: &AppState) -> Result<[u8; SECRET_BYTES]> {
    let mut secret = [0u8; SECRET_BYTES];
    state.random.fill(&mut secret);
    let ciphertext = state.cipher.encrypt(&secret, &context()).await?;
    let mut item = secret_key().item();
    item.insert(
        "ciphertext".into(),
        Value::String(STANDARD.encode(ciphertext)),
    );
    item.insert("created_at".into(), Value::from(state.clock.unix()));
    match state.table.put(item, Some(Condition::NotExists)).await {
        Ok(()) => Ok(secret),
        // Another instance made one first: everyone uses theirs.
        Err(StoreError::ConditionFailed) => read(state)
            .await?
            .ok_or_else(|| Error::internal("the code secret vanished while being made")),
        Err(error) => Err(error.into()),
    }
}
