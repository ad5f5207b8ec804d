//! The cipher port against its real peers: the local AES-256-GCM key file, and KMS on the
//! emulator. Each scenario runs on both.

use latchkey::ports::{CipherError, EncryptionContext};
use latchkey_tests::on_both_backends;
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

on_both_backends!(a_secret_round_trips);

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

on_both_backends!(a_ciphertext_does_not_decrypt_under_another_encryption_context);

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

on_both_backends!(a_tampered_ciphertext_is_refused);

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

on_both_backends!(encrypting_twice_gives_different_ciphertexts);

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

on_both_backends!(a_ciphertext_from_another_key_does_not_decrypt);
