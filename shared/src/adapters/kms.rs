//! KMS cipher with encryption context. STUB.

use async_trait::async_trait;

use crate::ports::{Cipher, CipherError, EncryptionContext};

pub struct KmsCipher {
    _key_id: String,
}

impl KmsCipher {
    pub fn new(_client: aws_sdk_kms::Client, key_id: String) -> Self {
        Self { _key_id: key_id }
    }
}

#[async_trait]
impl Cipher for KmsCipher {
    async fn encrypt(
        &self,
        _plaintext: &[u8],
        _context: &EncryptionContext,
    ) -> Result<Vec<u8>, CipherError> {
        Err(CipherError::Backend("kms not implemented yet".into()))
    }
    async fn decrypt(
        &self,
        _ciphertext: &[u8],
        _context: &EncryptionContext,
    ) -> Result<Vec<u8>, CipherError> {
        Err(CipherError::Backend("kms not implemented yet".into()))
    }
}
