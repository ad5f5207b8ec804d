//! Encryption at rest in AWS: KMS `Encrypt`/`Decrypt` under one key, with the encryption context
//! (owner and purpose) that KMS binds to the ciphertext and records in CloudTrail.

use std::collections::HashMap;

use async_trait::async_trait;

use crate::adapters::aws::LazyClient;
use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kms::operation::decrypt::DecryptError;
use aws_sdk_kms::primitives::Blob;

use crate::ports::{Cipher, CipherError, EncryptionContext};

pub struct KmsCipher {
    client: LazyClient<aws_sdk_kms::Client>,
    key_id: String,
}

impl KmsCipher {
    pub fn new(client: aws_sdk_kms::Client, key_id: String) -> Self {
        Self::with_client(LazyClient::ready(client), key_id)
    }

    /// One whose client is built on its first call.
    pub fn with_client(client: LazyClient<aws_sdk_kms::Client>, key_id: String) -> Self {
        Self { client, key_id }
    }
}

fn context_map(context: &EncryptionContext) -> HashMap<String, String> {
    context
        .pairs()
        .iter()
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect()
}

#[async_trait]
impl Cipher for KmsCipher {
    async fn encrypt(
        &self,
        plaintext: &[u8],
        context: &EncryptionContext,
    ) -> Result<Vec<u8>, CipherError> {
        let output = self
            .client
            .get()
            .await
            .encrypt()
            .key_id(&self.key_id)
            .plaintext(Blob::new(plaintext))
            .set_encryption_context(Some(context_map(context)))
            .send()
            .await
            .map_err(|error| backend("Encrypt", &self.key_id, error))?;
        output
            .ciphertext_blob
            .map(Blob::into_inner)
            .ok_or_else(|| CipherError::Backend("KMS Encrypt answered no ciphertext".into()))
    }

    async fn decrypt(
        &self,
        ciphertext: &[u8],
        context: &EncryptionContext,
    ) -> Result<Vec<u8>, CipherError> {
        // KMS refuses an empty blob as a malformed request; to the caller it is just undecryptable.
        if ciphertext.is_empty() {
            return Err(CipherError::Undecryptable);
        }
        let output = self
            .client
            .get()
            .await
            .decrypt()
            // Naming the key makes KMS refuse a ciphertext made under any other key, rather than
            // decrypting with whatever key the blob names.
            .key_id(&self.key_id)
            .ciphertext_blob(Blob::new(ciphertext))
            .set_encryption_context(Some(context_map(context)))
            .send()
            .await
            .map_err(|error| match &error {
                SdkError::ServiceError(service)
                    if matches!(
                        service.err(),
                        DecryptError::InvalidCiphertextException(_)
                            | DecryptError::IncorrectKeyException(_)
                    ) =>
                {
                    CipherError::Undecryptable
                }
                _ => backend("Decrypt", &self.key_id, error),
            })?;
        output
            .plaintext
            .map(Blob::into_inner)
            .ok_or_else(|| CipherError::Backend("KMS Decrypt answered no plaintext".into()))
    }

    async fn check(&self) -> Result<(), String> {
        self.describe().await
    }
}

impl KmsCipher {
    /// `DescribeKey`: the key exists and is enabled for encryption.
    async fn describe(&self) -> Result<(), String> {
        let output = self
            .client
            .get()
            .await
            .describe_key()
            .key_id(&self.key_id)
            .send()
            .await
            .map_err(|error| {
                let reason = match error.code() {
                    Some(code) => code.to_owned(),
                    None => crate::adapters::aws::describe_unanswered(&error),
                };
                tracing::warn!(key_id = %self.key_id, %reason, "health: KMS DescribeKey failed");
                format!("KMS DescribeKey failed: {reason}")
            })?;
        let metadata = output
            .key_metadata
            .ok_or_else(|| "KMS DescribeKey answered no metadata".to_owned())?;
        if !metadata.enabled {
            let state = metadata
                .key_state
                .map(|s| s.as_str().to_owned())
                .unwrap_or_else(|| "disabled".into());
            return Err(format!("the KMS key is not enabled ({state})"));
        }
        Ok(())
    }
}

/// A log-worthy account of a failed call: the key and what KMS said, never the data.
fn backend<E, R>(operation: &str, key_id: &str, error: SdkError<E, R>) -> CipherError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let reason = match &error {
        SdkError::ServiceError(service) => {
            let inner = service.err();
            format!(
                "{}: {}",
                inner.code().unwrap_or("unknown error"),
                inner.message().unwrap_or("no message")
            )
        }
        other => crate::adapters::aws::describe_unanswered(other),
    };
    CipherError::Backend(format!(
        "KMS {operation} with key {key_id} failed: {reason}"
    ))
}
