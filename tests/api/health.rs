//! `/health` tells the truth: each dependency a request needs is checked and named, and a broken
//! one answers `503` naming that check (a missing KMS key, an unverified SES sender, a replaced
//! key, a store that refuses writes, an outbox that cannot be written). `/health/live` calls
//! nothing.

use std::sync::Arc;

use async_trait::async_trait;
use latchkey::AppState;
use latchkey::adapters::{kms::KmsCipher, ses::SesMailer};
use latchkey::ports::{Condition, Item, Key, StoreError, Table, Write};
use latchkey_tests::on_both_backends;
use latchkey_tests::{Backend, TestApp, TestResponse, aws_sdk_config, fresh_cipher, unique};
use tower::ServiceExt;

async fn health_of(state: AppState) -> TestResponse {
    let router = latchkey_local::app(state);
    let request = http::Request::get("/health")
        .body(axum::body::Body::empty())
        .unwrap();
    let response = TestResponse::read(router.oneshot(request).await.unwrap()).await;
    latchkey_tests::schema::check("GET", "/health", response.status.as_u16(), &response.json);
    response
}

fn failing_checks(response: &TestResponse) -> Vec<String> {
    response.json["checks"]
        .as_object()
        .expect("checks")
        .iter()
        .filter(|(_, check)| check["status"] != "ok")
        .map(|(name, _)| name.clone())
        .collect()
}

async fn health_names_each_check_and_all_pass(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.signed_up().await;
    let response = app.get("/health").await;
    assert_eq!(response.status, 200, "{}", response.text);
    assert_eq!(response.json["status"], "ok");
    for check in ["store", "signing_key", "cipher", "mail"] {
        assert_eq!(
            response.json["checks"][check]["status"], "ok",
            "{check}: {}",
            response.text
        );
    }
    let live = app.get("/health/live").await;
    assert_eq!(live.status, 200);
    assert_eq!(live.json["status"], "ok");
}

/// A replaced local key file (or KMS key): the stored signing key no longer decrypts, so every
/// sign-in would fail.
async fn a_replaced_key_fails_the_signing_key_check(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.signed_up().await;
    let elsewhere = tempfile::tempdir().unwrap();
    let replaced = AppState {
        cipher: fresh_cipher(backend, elsewhere.path()).await,
        ..app.state.clone()
    };
    let response = health_of(replaced).await;
    assert_eq!(response.status, 503, "{}", response.text);
    assert_eq!(response.json["status"], "degraded");
    assert_eq!(
        failing_checks(&response),
        ["signing_key"],
        "{}",
        response.text
    );
    let reason = response.json["checks"]["signing_key"]["reason"]
        .as_str()
        .unwrap();
    assert!(reason.contains("decrypt"), "{reason}");
}

/// A table decorator whose writes all fail, as an embedded store does after a failed commit.
struct RefusingWrites(Arc<dyn Table>);

#[async_trait]
impl Table for RefusingWrites {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.0.get(key).await
    }
    async fn put(&self, _: Item, _: Option<Condition>) -> Result<(), StoreError> {
        Err(StoreError::Backend("disk I/O error".into()))
    }
    async fn update(
        &self,
        _: &Key,
        _: Item,
        _: Vec<String>,
        _: Option<Condition>,
    ) -> Result<Item, StoreError> {
        Err(StoreError::Backend("disk I/O error".into()))
    }
    async fn delete(&self, _: &Key, _: Option<Condition>) -> Result<Option<Item>, StoreError> {
        Err(StoreError::Backend("disk I/O error".into()))
    }
    async fn transact(&self, _: Vec<Write>) -> Result<(), StoreError> {
        Err(StoreError::Backend("disk I/O error".into()))
    }
    async fn add(&self, _: &Key, _: &str, _: i64, _: Option<i64>) -> Result<i64, StoreError> {
        Err(StoreError::Backend("disk I/O error".into()))
    }
    async fn query(&self, pk: &str, sk_prefix: &str) -> Result<Vec<Item>, StoreError> {
        self.0.query(pk, sk_prefix).await
    }
    async fn query_gsi1(&self, pk: &str, sk_prefix: &str) -> Result<Vec<Item>, StoreError> {
        self.0.query_gsi1(pk, sk_prefix).await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        self.0.ping().await
    }
    fn backend(&self) -> &'static str {
        self.0.backend()
    }
}

async fn a_store_that_refuses_writes_fails_the_store_check(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let broken = AppState {
        table: Arc::new(RefusingWrites(app.state.table.clone())),
        ..app.state.clone()
    };
    let response = health_of(broken).await;
    assert_eq!(response.status, 503, "{}", response.text);
    assert!(
        failing_checks(&response).contains(&"store".to_owned()),
        "{}",
        response.text
    );
    assert_eq!(
        response.json["checks"]["store"]["reason"],
        "the store does not take writes"
    );
    assert!(
        !response.text.contains("disk I/O"),
        "no internals: {}",
        response.text
    );
}

on_both_backends!(
    health_names_each_check_and_all_pass,
    a_replaced_key_fails_the_signing_key_check,
    a_store_that_refuses_writes_fails_the_store_check,
);

#[tokio::test]
async fn a_data_dir_whose_outbox_cannot_be_written_fails_the_mail_check() {
    let app = TestApp::spawn(Backend::Embedded).await;
    // The tests run as root, for whom permissions do not stop a write: a plain file where the
    // outbox folder should be does.
    let outbox = app.dir.path().join("outbox");
    let _ = std::fs::remove_dir_all(&outbox);
    std::fs::write(&outbox, b"not a folder").unwrap();
    let response = app.get("/health").await;
    assert_eq!(response.status, 503, "{}", response.text);
    assert_eq!(failing_checks(&response), ["mail"], "{}", response.text);
}

#[tokio::test]
async fn a_missing_kms_key_fails_the_cipher_check() {
    let app = TestApp::spawn(Backend::Aws).await;
    let client = aws_sdk_kms::Client::new(&aws_sdk_config().await);
    let missing = AppState {
        cipher: Arc::new(KmsCipher::new(client, unique("alias/missing"))),
        ..app.state.clone()
    };
    let response = health_of(missing).await;
    assert_eq!(response.status, 503, "{}", response.text);
    let failing = failing_checks(&response);
    assert!(failing.contains(&"cipher".to_owned()), "{}", response.text);
    let reason = response.json["checks"]["cipher"]["reason"]
        .as_str()
        .unwrap();
    assert!(reason.contains("NotFoundException"), "{reason}");
}

#[tokio::test]
async fn an_unverified_ses_sender_fails_the_mail_check() {
    let app = TestApp::spawn(Backend::Aws).await;
    let client = aws_sdk_sesv2::Client::new(&aws_sdk_config().await);
    let sender = format!("Latchkey <no-reply@{}.example>", unique("unverified"));
    let unverified = AppState {
        mailer: Arc::new(SesMailer::new(client, sender)),
        ..app.state.clone()
    };
    let response = health_of(unverified).await;
    assert_eq!(response.status, 503, "{}", response.text);
    assert_eq!(failing_checks(&response), ["mail"], "{}", response.text);
}

#[tokio::test]
async fn health_is_cached_for_a_few_seconds() {
    let app = TestApp::spawn(Backend::Embedded).await;
    assert_eq!(app.get("/health").await.status, 200);
    // Broken after the first report: the cached report still answers for a few seconds.
    let outbox = app.dir.path().join("outbox");
    let _ = std::fs::remove_dir_all(&outbox);
    std::fs::write(&outbox, b"not a folder").unwrap();
    assert_eq!(app.get("/health").await.status, 200);
}

#[tokio::test]
async fn the_index_page_names_what_the_server_offers_without_script() {
    let app = TestApp::spawn(Backend::Embedded).await;
    let page = app.get("/").await;
    assert_eq!(page.status, 200);
    assert!(
        page.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert_eq!(page.headers["referrer-policy"], "no-referrer");
    for link in [
        "/openapi.json",
        "/health",
        "/.well-known/jwks.json",
        "outbox",
    ] {
        assert!(page.text.contains(link), "{link}");
    }
    assert!(!page.text.contains("<script"));
}
