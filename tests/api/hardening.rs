//! Input and transport hardening (issue 17, items 7 and 8), over HTTP: addresses no mailer can
//! send to and names with control characters are refused naming the field (both backends, as
//! sign-up writes), HSTS on every answer, cross-site cookie writes refused even with a valid CSRF
//! token, trailing garbage after a JSON body refused, and the local backend's files owner-only.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use http::Method;
use latchkey::AppState;
use latchkey_tests::{Backend, TestApp, TestUser, sign_up};
use serde_json::json;

macro_rules! on_both_backends {
    ($scenario:ident) => {
        mod $scenario {
            use super::*;

            #[tokio::test]
            async fn on_the_embedded_store() {
                super::$scenario(Backend::Embedded).await;
            }

            #[tokio::test]
            async fn on_dynamodb() {
                super::$scenario(Backend::Aws).await;
            }
        }
    };
}

on_both_backends!(sign_up_refuses_addresses_a_mailer_cannot_send_to_naming_the_field);
on_both_backends!(sign_up_refuses_control_and_bidi_characters_in_the_name_naming_the_field);

async fn sign_up_refuses_addresses_a_mailer_cannot_send_to_naming_the_field(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let password = TestUser::generate().password;
    for address in [
        "\"a,b\"@example.com",
        "<a>@example.com",
        "x;y@example.com",
        "a(comment)@example.com",
        "\"quoted\"@example.com",
        "a\u{202E}b@example.com",
        "a\u{2066}b@example.com",
        "a\u{200B}b@example.com",
        "a\u{FEFF}b@example.com",
        "a\u{0}b@example.com",
        "a\u{1B}b@example.com",
    ] {
        let response = sign_up(&app, address, &password).await;
        response.assert_error(400, "invalid_request");
        assert_eq!(
            response.json["field"], "email",
            "{address:?}: {}",
            response.text
        );
    }
    // Nothing was made and nothing mailed for any of them.
    assert!(app.sent_mail().await.is_empty());
}

async fn sign_up_refuses_control_and_bidi_characters_in_the_name_naming_the_field(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    for name in [
        "Ada\u{0}",
        "Ada\u{0}Lovelace",
        "Ada\u{7}",
        "evil\u{202E}txt.exe",
    ] {
        let user = TestUser::generate();
        let response = app
            .post(
                "/auth/sign-up",
                &json!({"email": user.email, "password": user.password, "name": name}),
            )
            .await;
        response.assert_error(400, "invalid_request");
        assert_eq!(
            response.json["field"], "name",
            "{name:?}: {}",
            response.text
        );
        // The address stays free: nothing was written.
        app.signed_in_after_sign_up(&user).await;
    }
}

trait SignUpAgain {
    async fn signed_in_after_sign_up(&self, user: &TestUser);
}

impl SignUpAgain for TestApp {
    async fn signed_in_after_sign_up(&self, user: &TestUser) {
        let response = self.post("/auth/sign-up", &user.sign_up_body()).await;
        assert_eq!(response.status, 201, "{}", response.text);
    }
}

#[tokio::test]
async fn every_answer_carries_hsts_for_a_year_with_subdomains() {
    let app = TestApp::spawn(Backend::Embedded).await;
    let session = app.signed_up().await;
    let answers = [
        app.get("/health").await,
        app.get("/.well-known/jwks.json").await,
        app.get("/no/such/path").await,
        app.post("/auth/sign-in", &json!({"email": "nope"})).await,
        app.with_bearer(Method::GET, "/auth/me", session.access_token(), None)
            .await,
    ];
    for answer in answers {
        assert_eq!(
            answer.header("strict-transport-security"),
            Some("max-age=31536000; includeSubDomains"),
            "{} {}",
            answer.status,
            answer.text
        );
    }
}

#[tokio::test]
async fn a_cookie_write_from_another_site_is_refused_even_with_a_valid_csrf_token() {
    let app = TestApp::spawn_with(Backend::Embedded, |config| {
        config.cors_origins = vec!["https://app.example.org".into()];
    })
    .await;
    let session = app.signed_up().await;
    let csrf = app.get("/auth/csrf/token").await;
    let cookies = format!(
        "__Host-access_token={}; __Host-csrf={}",
        session.access_token(),
        csrf.cookie("__Host-csrf").unwrap()
    );
    let token = csrf.json["csrf_token"].as_str().unwrap().to_owned();
    let logout = |extra: (&'static str, &'static str)| {
        let cookies = cookies.clone();
        let token = token.clone();
        let app = &app;
        async move {
            app.request(
                Method::POST,
                "/auth/logout",
                None,
                &[("cookie", &cookies), ("x-csrf-token", &token), extra],
            )
            .await
        }
    };

    logout(("origin", "https://evil.example"))
        .await
        .assert_error(403, "csrf_failed");
    logout(("origin", "null"))
        .await
        .assert_error(403, "csrf_failed");
    logout(("sec-fetch-site", "cross-site"))
        .await
        .assert_error(403, "csrf_failed");
    // Our own site and a CORS-allowed origin still may (the last one ends the session).
    let public_origin = app.state.config.public_url.clone();
    let own = app
        .request(
            Method::DELETE,
            "/auth/sessions/no-such-session",
            None,
            &[
                ("cookie", &cookies),
                ("x-csrf-token", &token),
                ("origin", &public_origin),
            ],
        )
        .await;
    // Past authentication and the origin check: the session id is simply unknown.
    assert!(
        own.status != 403 && own.status != 401,
        "{} {}",
        own.status,
        own.text
    );
    let allowed = logout(("origin", "https://app.example.org")).await;
    assert_eq!(allowed.status, 200, "{}", allowed.text);
}

#[tokio::test]
async fn trailing_garbage_after_a_json_body_is_a_400() {
    let app = TestApp::spawn(Backend::Embedded).await;
    let user = TestUser::generate();
    for body in [
        format!("{}garbage", user.sign_up_body()),
        format!("{}{}", user.sign_up_body(), user.sign_up_body()),
    ] {
        let response = app
            .send(
                http::Request::builder()
                    .method(Method::POST)
                    .uri("/auth/sign-up")
                    .header("content-type", "application/json")
                    .body(axum::body::Body::from(body))
                    .unwrap(),
            )
            .await;
        response.assert_error(400, "invalid_request");
    }
    // Nothing was created: the same address signs up now.
    app.signed_in_after_sign_up(&user).await;
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test]
async fn the_local_backend_keeps_its_store_key_and_mail_owner_only() {
    let root = tempfile::tempdir().expect("temp dir");
    let data = root.path().join("data");
    let mut config = latchkey::Config::for_tests(&data);
    config.backend = latchkey::config::Backend::Local;
    let state = AppState::from_config(config).await.expect("local state");
    let app = latchkey_local::app(state);
    let user = TestUser::generate();
    let send = |path: &str, body: serde_json::Value| {
        let request = http::Request::builder()
            .method(Method::POST)
            .uri(path)
            .header("content-type", "application/json")
            .body(axum::body::Body::from(body.to_string()))
            .unwrap();
        tower::ServiceExt::oneshot(app.clone(), request)
    };
    let signed_up = send("/auth/sign-up", user.sign_up_body()).await.unwrap();
    assert_eq!(signed_up.status(), 201);
    let mailed = send("/auth/magic-link", json!({"email": user.email}))
        .await
        .unwrap();
    assert!(mailed.status().is_success());

    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("latchkey.redb")), 0o600);
    assert_eq!(mode(&data.join("local.key")), 0o600);
    let outbox = data.join("outbox");
    assert_eq!(mode(&outbox), 0o700);
    let mail: Vec<_> = std::fs::read_dir(&outbox)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    assert!(!mail.is_empty(), "the magic link was mailed");
    for file in mail {
        assert_eq!(mode(&file), 0o600, "{}", file.display());
    }
}

on_both_backends!(a_stored_code_hash_cannot_be_recomputed_from_the_table_alone);

/// Issue 17, item 8: the 6-digit code's stored hash is keyed by a server secret that the table
/// holds only encrypted, so reading the table and trying the 10^6 codes recovers nothing.
async fn a_stored_code_hash_cannot_be_recomputed_from_the_table_alone(backend: Backend) {
    use latchkey::domain::one_time_token::{CodeRecord, Purpose, hash_code};
    use latchkey::ports::EncryptionContext;
    use old_scheme::unkeyed_hash;

    let app = TestApp::spawn(backend).await;
    let session = app.signed_up().await;
    let response = app
        .post("/auth/magic-link", &json!({"email": session.user.email}))
        .await;
    assert!(response.status.is_success(), "{}", response.text);
    let mail = app.sent_mail().await;
    let code = mail
        .last()
        .and_then(|mail| mail.code())
        .expect("a code in the magic-link mail");

    // What a table read gives: the code item and the stored secret.
    let item = app
        .state
        .table
        .get(&CodeRecord::key(&session.user.email, Purpose::MagicLink))
        .await
        .unwrap()
        .expect("the code item");
    let code_hash = item["code_hash"].as_str().unwrap();
    let token_hash = item["token_hash"].as_str().unwrap();
    assert_ne!(code_hash, unkeyed_hash(token_hash, &code));
    let secret_item = app
        .state
        .table
        .get(&latchkey::domain::keys::code_secret())
        .await
        .unwrap()
        .expect("the code secret item");
    let stored = secret_item["ciphertext"].as_str().unwrap();
    use base64::Engine;
    let ciphertext = base64::engine::general_purpose::STANDARD
        .decode(stored)
        .unwrap();
    // Stored encrypted: longer than the secret, and only the Cipher turns it back.
    assert!(ciphertext.len() > 32);
    let secret = app
        .state
        .cipher
        .decrypt(
            &ciphertext,
            &EncryptionContext::new("SECRET#code-hmac", "code-hmac-key"),
        )
        .await
        .expect("the Cipher decrypts the secret");
    assert_eq!(hash_code(&secret, token_hash, &code), code_hash);

    // And the code still signs the user in.
    let verified = app
        .post(
            "/users/auth/magic-link/verify",
            &json!({"email": session.user.email, "code": code}),
        )
        .await;
    assert_eq!(verified.status, 200, "{}", verified.text);
}

/// The unkeyed hash the code used to be stored as (SHA-256 of `token_hash:code`).
mod old_scheme {
    pub fn unkeyed_hash(token_hash: &str, code: &str) -> String {
        let digest = aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            format!("{token_hash}:{code}").as_bytes(),
        );
        digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
    }
}
