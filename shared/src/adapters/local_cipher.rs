//! Local AES-256-GCM cipher with a key file. STUB.

use std::path::Path;

use async_trait::async_trait;

use crate::ports::{Cipher, CipherError, EncryptionContext};

pub struct LocalCipher;

impl LocalCipher {
    pub fn open(_key_path: &Path) -> Result<Self, CipherError> {
        Ok(Self)
    }
}

#[async_trait]
impl Cipher for LocalCipher {
    async fn encrypt(
        &self,
        _plaintext: &[u8],
        _context: &EncryptionContext,
    ) -> Result<Vec<u8>, CipherError> {
        Err(CipherError::Backend(
            "local cipher not implemented yet".into(),
        ))
    }
    async fn decrypt(
        &self,
        _ciphertext: &[u8],
        _context: &EncryptionContext,
    ) -> Result<Vec<u8>, CipherError> {
        Err(CipherError::Backend(
            "local cipher not implemented yet".into(),
        ))
    }
}
