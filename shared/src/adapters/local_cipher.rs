//! Local encryption at rest: AES-256-GCM under a 32-byte key kept in a file of the data dir
//! (created on first use, readable by its owner only), with the encryption context as associated
//! data so a ciphertext only decrypts for the owner and purpose it was made for.
//!
//! Ciphertext layout: version byte (1) || 12-byte random nonce || AES-GCM ciphertext and tag.

use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use async_trait::async_trait;
use rand::TryRngCore;

use crate::ports::{Cipher, CipherError, EncryptionContext};

const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// Leaves room to change the algorithm or key later while still reading old ciphertexts.
const VERSION: u8 = 1;

pub struct LocalCipher {
    aead: Aes256Gcm,
}

impl LocalCipher {
    /// Open the key file, creating it with a fresh random key (mode 0600) if it does not exist.
    pub fn open(key_path: &Path) -> Result<Self, CipherError> {
        let key = match fs::read(key_path) {
            Ok(key) => key,
            Err(e) if e.kind() == ErrorKind::NotFound => create_key(key_path)?,
            Err(e) => return Err(io_error("cannot read the key file", key_path, e)),
        };
        if key.len() != KEY_LEN {
            return Err(CipherError::Backend(format!(
                "the key file {} holds {} bytes, not {KEY_LEN}; it is not a Latchkey key \
                 (moving it away starts a new key, and secrets encrypted so far become unreadable)",
                key_path.display(),
                key.len()
            )));
        }
        if let Ok(metadata) = fs::metadata(key_path)
            && metadata.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(
                path = %key_path.display(),
                "the local key file is readable by other users; chmod 600 it"
            );
        }
        let aead = Aes256Gcm::new_from_slice(&key)
            .map_err(|_| CipherError::Backend("AES-256-GCM refused a 32-byte key".into()))?;
        Ok(Self { aead })
    }
}

/// Create the key file with a fresh key. The key is written in full to a private temporary file
/// and then hard-linked into place, which fails if the file exists: a process racing us either
/// wins and we read its key, or sees our whole key, never a half-written file.
fn create_key(path: &Path) -> Result<Vec<u8>, CipherError> {
    let mut key = vec![0u8; KEY_LEN];
    rand::rngs::OsRng
        .try_fill_bytes(&mut key)
        .map_err(|e| CipherError::Backend(format!("the OS random number generator failed: {e}")))?;

    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        crate::adapters::private_files::create_dir(parent)
            .map_err(|e| io_error("cannot create the key file's dir", parent, e))?;
    }
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(format!(".{}.tmp", uuid::Uuid::new_v4().simple()));
    let temporary = Path::new(&temporary);

    let written = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(temporary)
        .and_then(|mut file| {
            file.write_all(&key)?;
            file.sync_all()
        });
    if let Err(e) = written {
        let _ = fs::remove_file(temporary);
        return Err(io_error("cannot write a new key file", temporary, e));
    }
    let linked = fs::hard_link(temporary, path);
    let _ = fs::remove_file(temporary);
    match linked {
        Ok(()) => {
            tracing::info!(path = %path.display(), "created a new local encryption key");
            Ok(key)
        }
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            fs::read(path).map_err(|e| io_error("cannot read the key file", path, e))
        }
        Err(e) => Err(io_error("cannot create the key file", path, e)),
    }
}

fn io_error(what: &str, path: &Path, error: std::io::Error) -> CipherError {
    CipherError::Backend(format!("{what} {}: {error}", path.display()))
}

#[async_trait]
impl Cipher for LocalCipher {
    async fn encrypt(
        &self,
        plaintext: &[u8],
        context: &EncryptionContext,
    ) -> Result<Vec<u8>, CipherError> {
        // A random 96-bit nonce per message; safe for far more secrets than this store will hold.
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.try_fill_bytes(&mut nonce).map_err(|e| {
            CipherError::Backend(format!("the OS random number generator failed: {e}"))
        })?;
        let aad = context.canonical_bytes();
        let sealed = self
            .aead
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .map_err(|_| CipherError::Backend("AES-GCM encryption failed".into()))?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    async fn decrypt(
        &self,
        ciphertext: &[u8],
        context: &EncryptionContext,
    ) -> Result<Vec<u8>, CipherError> {
        if ciphertext.len() < 1 + NONCE_LEN + TAG_LEN || ciphertext[0] != VERSION {
            return Err(CipherError::Undecryptable);
        }
        let (nonce, sealed) = ciphertext[1..].split_at(NONCE_LEN);
        let aad = context.canonical_bytes();
        self.aead
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: &aad,
                },
            )
            // GCM cannot tell a wrong key from a wrong context or a damaged ciphertext; all are
            // the same answer to the caller.
            .map_err(|_| CipherError::Undecryptable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context() -> EncryptionContext {
        EncryptionContext::new("USER#1", "totp")
    }

    #[test]
    fn a_new_key_file_holds_32_bytes_readable_by_its_owner_only() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("data").join("local.key");
        LocalCipher::open(&path).expect("open");
        let metadata = fs::metadata(&path).expect("key file");
        assert_eq!(metadata.len(), 32);
        assert_eq!(metadata.permissions().mode() & 0o777, 0o600);
        let leftovers: Vec<_> = fs::read_dir(path.parent().expect("parent"))
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(leftovers, ["local.key"], "no temporary file is left behind");
    }

    #[tokio::test]
    async fn reopening_the_same_key_file_decrypts_old_ciphertexts() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("local.key");
        let ciphertext = LocalCipher::open(&path)
            .expect("open")
            .encrypt(b"secret", &context())
            .await
            .expect("encrypt");
        let reopened = LocalCipher::open(&path).expect("reopen");
        assert_eq!(
            reopened
                .decrypt(&ciphertext, &context())
                .await
                .expect("decrypt"),
            b"secret"
        );
    }

    #[tokio::test]
    async fn another_key_file_does_not_decrypt() {
        let dir = tempfile::tempdir().expect("temp dir");
        let first = LocalCipher::open(&dir.path().join("first.key")).expect("open");
        let second = LocalCipher::open(&dir.path().join("second.key")).expect("open");
        let ciphertext = first.encrypt(b"secret", &context()).await.expect("encrypt");
        assert!(matches!(
            second.decrypt(&ciphertext, &context()).await,
            Err(CipherError::Undecryptable)
        ));
    }

    #[test]
    fn a_key_file_of_the_wrong_length_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("local.key");
        fs::write(&path, b"too short").expect("write");
        match LocalCipher::open(&path) {
            Err(CipherError::Backend(message)) => {
                assert!(message.contains("9 bytes, not 32"), "{message}")
            }
            Err(other) => panic!("expected a backend error, got {other:?}"),
            Ok(_) => panic!("a 9-byte key was accepted"),
        }
        assert_eq!(
            fs::read(&path).expect("read"),
            b"too short",
            "left untouched"
        );
    }

    #[tokio::test]
    async fn processes_opening_a_missing_key_file_at_once_share_one_key() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("local.key");
        let openers: Vec<_> = (0..8)
            .map(|_| {
                let path = path.clone();
                std::thread::spawn(move || LocalCipher::open(&path))
            })
            .collect();
        let ciphers: Vec<LocalCipher> = openers
            .into_iter()
            .map(|t| t.join().expect("thread").expect("open"))
            .collect();
        let ciphertext = ciphers[0]
            .encrypt(b"secret", &context())
            .await
            .expect("encrypt");
        for cipher in &ciphers {
            assert_eq!(
                cipher
                    .decrypt(&ciphertext, &context())
                    .await
                    .expect("decrypt"),
                b"secret"
            );
        }
    }

    #[tokio::test]
    async fn short_or_unknown_version_ciphertexts_are_undecryptable() {
        let dir = tempfile::tempdir().expect("temp dir");
        let cipher = LocalCipher::open(&dir.path().join("local.key")).expect("open");
        let mut ciphertext = cipher.encrypt(b"", &context()).await.expect("encrypt");
        for short in [
            &[][..],
            &ciphertext[..1],
            &ciphertext[..ciphertext.len() - 1],
        ] {
            assert!(matches!(
                cipher.decrypt(short, &context()).await,
                Err(CipherError::Undecryptable)
            ));
        }
        ciphertext[0] = 2;
        assert!(matches!(
            cipher.decrypt(&ciphertext, &context()).await,
            Err(CipherError::Undecryptable)
        ));
    }
}
