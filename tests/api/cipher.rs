//! The cipher port against its real peers: the local AES-256-GCM key file, and KMS on the
//! emulator. Each scenario runs on both.

use latchkey::ports::{CipherError, EncryptionContext};
use latchkey_tests::{Backend, fresh_cipher};

const SECRET: &[u8] = b"sk-provider-key-0123456789";

fn context() -> EncryptionContext {
    EncryptionContext::new("USER#01HZY", "provider-key").with("provider", "openai")
}

fn undecryptable<T>(result: &Result<T, CipherError>) -> bool {
    matches!(result, Err(CipherError::Undecryptable))
}

async fn a_secret_round_trips(backend: Backend) {
    let dir = tempfile::tempdir().expect("temp dir");
    let cipher = fresh_cipher(backend, dir.path()).await;

    let ciphertext = cipher.encrypt(SECRET, &context()).await.expect("encrypt");

    assert!(
        !ciphertext.windows(SECRET.len()).any(|w| w == SECRET),
        "the plaintext shows in the ciphertext"
    );
    let plaintext = cipher
        .decrypt(&ciphertext, &context())
        .await
        .expect("decrypt");
    assert_eq!(plaintext, SECRET);
}

#[tokio::test]
async fn a_secret_round_trips_through_the_local_key() {
    a_secret_round_trips(Backend::Embedded).await;
}

#[tokio::test]
async fn a_secret_round_trips_through_kms() {
    a_secret_round_trips(Backend::Aws).await;
}

async fn a_ciphertext_does_not_decrypt_under_another_encryption_context(backend: Backend) {
    let dir = tempfile::tempdir().expect("temp dir");
    let cipher = fresh_cipher(backend, dir.path()).await;
    let ciphertext = cipher.encrypt(SECRET, &context()).await.expect("encrypt");

    let others = [
        EncryptionContext::new("USER#OTHER", "provider-key").with("provider", "openai"),
        EncryptionContext::new("USER#01HZY", "totp").with("provider", "openai"),
        EncryptionContext::new("USER#01HZY", "provider-key"),
        context().with("extra", "pair"),
        EncryptionContext::default(),
    ];
    for other in others {
        assert!(
            undecryptable(&cipher.decrypt(&ciphertext, &other).await),
            "decrypted under {other:?}"
        );
    }
}

#[tokio::test]
async fn a_ciphertext_does_not_decrypt_under_another_encryption_context_locally() {
    a_ciphertext_does_not_decrypt_under_another_encryption_context(Backend::Embedded).await;
}

#[tokio::test]
async fn a_ciphertext_does_not_decrypt_under_another_encryption_context_on_kms() {
    a_ciphertext_does_not_decrypt_under_another_encryption_context(Backend::Aws).await;
}

async fn a_tampered_ciphertext_is_refused(backend: Backend) {
    let dir = tempfile::tempdir().expect("temp dir");
    let cipher = fresh_cipher(backend, dir.path()).await;
    let ciphertext = cipher.encrypt(SECRET, &context()).await.expect("encrypt");

    let mut flipped = ciphertext.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0x01;
    let truncated = &ciphertext[..ciphertext.len() - 1];

    assert!(undecryptable(&cipher.decrypt(&flipped, &context()).await));
    assert!(undecryptable(&cipher.decrypt(truncated, &context()).await));
    assert!(undecryptable(&cipher.decrypt(&[], &context()).await));
}

#[tokio::test]
async fn a_tampered_ciphertext_is_refused_locally() {
    a_tampered_ciphertext_is_refused(Backend::Embedded).await;
}

#[tokio::test]
async fn a_tampered_ciphertext_is_refused_on_kms() {
    a_tampered_ciphertext_is_refused(Backend::Aws).await;
}

async fn encrypting_twice_gives_different_ciphertexts(backend: Backend) {
    let dir = tempfile::tempdir().expect("temp dir");
    let cipher = fresh_cipher(backend, dir.path()).await;

    let first = cipher.encrypt(SECRET, &context()).await.expect("encrypt");
    let second = cipher.encrypt(SECRET, &context()).await.expect("encrypt");

    assert_ne!(first, second);
    for ciphertext in [first, second] {
        assert_eq!(
            cipher
                .decrypt(&ciphertext, &context())
                .await
                .expect("decrypt"),
            SECRET
        );
    }
}

#[tokio::test]
async fn encrypting_the_same_secret_twice_gives_different_ciphertexts_locally() {
    encrypting_twice_gives_different_ciphertexts(Backend::Embedded).await;
}

#[tokio::test]
async fn encrypting_the_same_secret_twice_gives_different_ciphertexts_on_kms() {
    encrypting_twice_gives_different_ciphertexts(Backend::Aws).await;
}

async fn a_ciphertext_from_another_key_does_not_decrypt(backend: Backend) {
    let first_dir = tempfile::tempdir().expect("temp dir");
    let second_dir = tempfile::tempdir().expect("temp dir");
    let first = fresh_cipher(backend, first_dir.path()).await;
    let second = fresh_cipher(backend, second_dir.path()).await;
    let ciphertext = first.encrypt(SECRET, &context()).await.expect("encrypt");

    let result = second.decrypt(&ciphertext, &context()).await;

    match backend {
        Backend::Embedded => assert!(undecryptable(&result), "{result:?}"),
        // Real KMS answers IncorrectKeyException (mapped to Undecryptable); moto answers
        // AccessDeniedException, which stays a backend error because in AWS it means a policy
        // problem that must not be hidden. Either way it must not decrypt: that proves the
        // adapter names its key on Decrypt.
        Backend::Aws => assert!(
            matches!(
                &result,
                Err(CipherError::Undecryptable) | Err(CipherError::Backend(_))
            ),
            "{result:?}"
        ),
    }
}

#[tokio::test]
async fn a_ciphertext_from_another_key_does_not_decrypt_locally() {
    a_ciphertext_from_another_key_does_not_decrypt(Backend::Embedded).await;
}

#[tokio::test]
async fn a_ciphertext_from_another_key_does_not_decrypt_on_kms() {
    a_ciphertext_from_another_key_does_not_decrypt(Backend::Aws).await;
}
