//! The email-links group, read the way a user reads it: request, open the mail (the outbox on the
//! embedded backend, the emulator's SES on AWS), follow the link or type the code.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use http::Method;
use latchkey::AppState;
use latchkey::ports::{Email, MailError, Mailer};
use latchkey_tests::on_both_backends;
use latchkey_tests::{Backend, SentMail, TestApp, TestResponse};
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery staple 42";
const NEW_PASSWORD: &str = "tangerine submarine quietly 1987";

on_both_backends!(
    a_magic_link_signs_the_user_in_with_the_email_link_method,
    a_magic_link_code_signs_the_user_in_once,
    known_and_unknown_addresses_get_identical_answers,
    a_newer_magic_link_voids_the_older_one,
    twenty_concurrent_uses_of_one_link_give_exactly_one_session,
    a_verification_link_marks_the_address_verified_once,
    a_password_reset_replaces_the_password_and_ends_every_session,
);

// ---- helpers -------------------------------------------------------------------------------

fn unique_email() -> String {
    format!("user-{}@example.com", uuid::Uuid::new_v4().simple())
}

/// A new account; answers its sign-up AuthResponse.
async fn sign_up(app: &TestApp, email: &str) -> Value {
    let response = app
        .post(
            "/auth/sign-up",
            &json!({ "email": email, "password": PASSWORD, "name": "Ada Lovelace" }),
        )
        .await;
    assert_eq!(response.status, 201, "sign-up: {}", response.text);
    response.json
}

async fn request_magic_link(app: &TestApp, email: &str) -> TestResponse {
    app.post("/auth/magic-link", &json!({ "email": email }))
        .await
}

/// The mail sent to `email`, oldest first.
async fn mail_to(app: &TestApp, email: &str) -> Vec<SentMail> {
    app.sent_mail()
        .await
        .into_iter()
        .filter(|mail| mail.to.iter().any(|to| to.eq_ignore_ascii_case(email)))
        .collect()
}

/// The latest mail sent to `email`.
async fn latest_mail_to(app: &TestApp, email: &str) -> SentMail {
    mail_to(app, email)
        .await
        .pop()
        .unwrap_or_else(|| panic!("no mail was sent to {email}"))
}

/// The one link of a mail.
fn link_in(mail: &SentMail) -> String {
    let links = mail.links();
    assert_eq!(links.len(), 1, "one link expected in: {}", mail.body);
    links.into_iter().next().unwrap()
}

/// A link on the app's public URL, as a path and query to send in-process.
fn path_of(app: &TestApp, link: &str) -> String {
    link.strip_prefix(&app.state.config.public_url)
        .unwrap_or_else(|| panic!("{link} is not on the public URL"))
        .to_owned()
}

fn token_in(link: &str) -> String {
    link.split(['?', '&'])
        .find_map(|pair| pair.strip_prefix("token="))
        .unwrap_or_else(|| panic!("no token in {link}"))
        .to_owned()
}

/// The latest magic link and code mailed to `email`.
async fn magic_link_and_code(app: &TestApp, email: &str) -> (String, String) {
    let mail = latest_mail_to(app, email).await;
    let code = mail.code().expect("a 6-digit code in the magic-link mail");
    (link_in(&mail), code)
}

async fn verify_code(app: &TestApp, email: &str, code: &str) -> TestResponse {
    app.post(
        "/users/auth/magic-link/verify",
        &json!({ "email": email, "code": code }),
    )
    .await
}

fn claims_of(access_token: &str) -> Value {
    let payload = access_token.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url claims");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

fn assert_signed_in(response: &TestResponse, email: &str) {
    assert_eq!(response.status, 200, "{}", response.text);
    assert_eq!(response.json["success"], true);
    assert!(
        response.json["access_token"].is_string(),
        "{}",
        response.text
    );
    assert_eq!(response.json["token"], response.json["access_token"]);
    assert!(response.json["refresh_token"].is_string());
    assert_eq!(response.json["user"]["email"], email);
    let claims = claims_of(response.json["access_token"].as_str().unwrap());
    assert_eq!(claims["amr"], json!(["email_link"]), "{claims}");
}

async fn bearer(app: &TestApp, method: Method, path: &str, token: &str) -> TestResponse {
    app.request(
        method,
        path,
        Some(&json!({})),
        &[("authorization", &format!("Bearer {token}"))],
    )
    .await
}

async fn bearer_get(app: &TestApp, path: &str, token: &str) -> TestResponse {
    app.request(
        Method::GET,
        path,
        None,
        &[("authorization", &format!("Bearer {token}"))],
    )
    .await
}

/// A mailer that always fails, as SES does when the sender is unverified or the quota is spent.
/// A mail server that is down. It keeps what it was asked to send, so a test can look for the
/// link and code in places they must not be.
#[derive(Default)]
struct BrokenMailer {
    refused: std::sync::Mutex<Vec<Email>>,
}

#[async_trait::async_trait]
impl Mailer for BrokenMailer {
    async fn send(&self, email: &Email) -> Result<(), MailError> {
        self.refused.lock().unwrap().push(email.clone());
        Err(MailError("the mail server is down".into()))
    }
}

// ---- magic links ---------------------------------------------------------------------------

async fn a_magic_link_signs_the_user_in_with_the_email_link_method(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let email = unique_email();
    sign_up(&app, &email).await;

    let response = request_magic_link(&app, &email).await;
    assert_eq!(response.status, 200, "{}", response.text);
    assert_eq!(
        response.json,
        json!({ "success": true, "message": "Magic link sent to your email" })
    );
    let (link, _code) = magic_link_and_code(&app, &email).await;
    assert!(
        link.starts_with("http://127.0.0.1:3000/auth/sign-in/token?token="),
        "{link}"
    );

    let signed_in = app.get(&path_of(&app, &link)).await;
    assert_signed_in(&signed_in, &email);
    assert_eq!(signed_in.json["user"]["email_verified"], true);
    assert!(signed_in.header("set-cookie").is_some());

    app.get(&path_of(&app, &link))
        .await
        .assert_error(400, "invalid_token");
}

async fn a_magic_link_code_signs_the_user_in_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let email = unique_email();
    sign_up(&app, &email).await;
    request_magic_link(&app, &email).await;
    let (link, code) = magic_link_and_code(&app, &email).await;

    // The seed-001 path, with the address typed in another case.
    let signed_in = verify_code(&app, &email.to_uppercase(), &code).await;
    assert_signed_in(&signed_in, &email);

    verify_code(&app, &email, &code)
        .await
        .assert_error(401, "invalid_code");
    // The link died with its code.
    app.get(&path_of(&app, &link))
        .await
        .assert_error(400, "invalid_token");
}

async fn known_and_unknown_addresses_get_identical_answers(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let known = unique_email();
    let unknown = unique_email();
    sign_up(&app, &known).await;

    for path in [
        "/auth/magic-link",
        "/users/auth/magic-link/request",
        "/auth/forgot-password",
        "/auth/password-reset",
    ] {
        let for_known = app.post(path, &json!({ "email": known })).await;
        let for_unknown = app.post(path, &json!({ "email": unknown })).await;
        assert_eq!(for_known.status, for_unknown.status, "{path}");
        assert_eq!(for_known.text, for_unknown.text, "{path}");
    }
    assert_eq!(mail_to(&app, &known).await.len(), 4);
    // The address without an account gets the notice, with no link and no code.
    let notices = mail_to(&app, &unknown).await;
    assert_eq!(notices.len(), 4);
    for notice in notices {
        assert!(notice.subject.starts_with("Sign-in request"), "{notice:?}");
        assert!(!notice.body.contains("token="), "{}", notice.body);
        assert_eq!(notice.code(), None);
    }
}

async fn a_newer_magic_link_voids_the_older_one(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let email = unique_email();
    sign_up(&app, &email).await;
    request_magic_link(&app, &email).await;
    let (old_link, old_code) = magic_link_and_code(&app, &email).await;
    request_magic_link(&app, &email).await;
    let (new_link, new_code) = magic_link_and_code(&app, &email).await;
    assert_ne!(old_link, new_link);

    app.get(&path_of(&app, &old_link))
        .await
        .assert_error(400, "invalid_token");
    if old_code != new_code {
        verify_code(&app, &email, &old_code)
            .await
            .assert_error(401, "invalid_code");
    }
    assert_signed_in(&app.get(&path_of(&app, &new_link)).await, &email);
}

async fn twenty_concurrent_uses_of_one_link_give_exactly_one_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let email = unique_email();
    sign_up(&app, &email).await;
    request_magic_link(&app, &email).await;
    let (link, _) = magic_link_and_code(&app, &email).await;
    let path = path_of(&app, &link);

    let answers = futures::future::join_all((0..20).map(|_| app.get(&path))).await;

    let successes = answers.iter().filter(|a| a.status == 200).count();
    assert_eq!(
        successes,
        1,
        "{:?}",
        answers.iter().map(|a| a.status).collect::<Vec<_>>()
    );
    for refused in answers.iter().filter(|a| a.status != 200) {
        refused.assert_error(400, "invalid_token");
    }
}

#[tokio::test]
async fn a_sixth_try_after_five_wrong_codes_fails_even_with_the_right_code() {
    let app = TestApp::spawn(Backend::Embedded).await;
    let email = unique_email();
    sign_up(&app, &email).await;
    request_magic_link(&app, &email).await;
    let (_, code) = magic_link_and_code(&app, &email).await;
    let wrong = format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000);

    for _ in 0..5 {
        verify_code(&app, &email, &wrong)
            .await
            .assert_error(401, "invalid_code");
    }
    verify_code(&app, &email, &code)
        .await
        .assert_error(401, "invalid_code");
}

#[tokio::test]
async fn a_right_code_after_four_wrong_ones_still_works() {
    let app = TestApp::spawn(Backend::Embedded).await;
    let email = unique_email();
    sign_up(&app, &email).await;
    request_magic_link(&app, &email).await;
    let (_, code) = magic_link_and_code(&app, &email).await;
    let wrong = format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000);

    for _ in 0..4 {
        verify_code(&app, &email, &wrong).await;
    }
    assert_signed_in(&verify_code(&app, &email, &code).await, &email);
}

#[tokio::test]
async fn a_spoofed_host_header_does_not_change_the_emailed_link() {
    let app = TestApp::spawn_with(Backend::Embedded, |config| {
        config.public_url = "https://auth.example.com".into();
    })
    .await;
    let email = unique_email();
    sign_up(&app, &email).await;

    app.request(
        Method::POST,
        "/auth/magic-link",
        Some(&json!({ "email": email })),
        &[
            ("host", "evil.example"),
            ("x-forwarded-host", "evil.example"),
            ("x-forwarded-proto", "http"),
        ],
    )
    .await;

    let mail = latest_mail_to(&app, &email).await;
    assert!(
        link_in(&mail).starts_with("https://auth.example.com/auth/sign-in/token?token="),
        "{}",
        mail.body
    );
    assert!(!mail.body.contains("evil.example"));
}

#[tokio::test]
async fn an_expired_magic_link_and_code_are_refused() {
    let app = TestApp::spawn_with(Backend::Embedded, |config| {
        config.email_token_ttl = Duration::from_secs(1);
    })
    .await;
    let email = unique_email();
    sign_up(&app, &email).await;
    request_magic_link(&app, &email).await;
    let (link, code) = magic_link_and_code(&app, &email).await;
    assert!(latest_mail_to(&app, &email).await.body.contains("1 second"));

    tokio::time::sleep(Duration::from_millis(2100)).await;

    app.get(&path_of(&app, &link))
        .await
        .assert_error(400, "invalid_token");
    verify_code(&app, &email, &code)
        .await
        .assert_error(401, "invalid_code");
}

/// A new account asks for a magic link with `redirect_url` and opens it: the landing's answer
/// and the account's email.
async fn open_a_magic_link_asking_for(app: &TestApp, redirect_url: &str) -> (TestResponse, String) {
    let email = unique_email();
    sign_up(app, &email).await;
    let answer = app
        .post(
            "/auth/magic-link",
            &json!({ "email": email, "redirect_url": redirect_url }),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let (link, _) = magic_link_and_code(app, &email).await;
    (app.get(&path_of(app, &link)).await, email)
}

#[tokio::test]
async fn a_magic_link_with_an_allowed_redirect_sets_cookies_and_redirects() {
    let app = TestApp::spawn_with(Backend::Embedded, |config| {
        config.redirect_allow_list = vec!["https://app.example.com/welcome".into()];
    })
    .await;

    let (response, _) = open_a_magic_link_asking_for(&app, "https://app.example.com/welcome").await;

    assert_eq!(response.status, 302, "{}", response.text);
    assert_eq!(
        response.header("location"),
        Some("https://app.example.com/welcome")
    );
    let cookies: Vec<_> = response.headers.get_all("set-cookie").iter().collect();
    assert_eq!(cookies.len(), 2, "{cookies:?}");
    assert!(response.text.is_empty());
}

#[tokio::test]
async fn a_magic_link_redirect_on_the_public_urls_origin_needs_no_allow_list() {
    let app = TestApp::spawn_with(Backend::Embedded, |config| {
        config.public_url = "https://auth.example.com".into();
        config.redirect_allow_list = Vec::new();
    })
    .await;

    let (response, _) =
        open_a_magic_link_asking_for(&app, "https://auth.example.com/welcome").await;

    assert_eq!(response.status, 302, "{}", response.text);
    assert_eq!(
        response.header("location"),
        Some("https://auth.example.com/welcome")
    );
}

#[tokio::test]
async fn a_redirect_off_the_allow_list_is_ignored() {
    let app = TestApp::spawn_with(Backend::Embedded, |config| {
        config.redirect_allow_list = vec!["https://app.example.com/welcome".into()];
    })
    .await;

    let (response, email) =
        open_a_magic_link_asking_for(&app, "https://evil.example/welcome").await;

    assert_signed_in(&response, &email);
    assert!(response.header("location").is_none());
}

#[tokio::test]
async fn a_failing_mailer_does_not_change_the_answers() {
    let app = TestApp::spawn(Backend::Embedded).await;
    let email = unique_email();
    sign_up(&app, &email).await;
    let unknown = unique_email();
    let healthy = app.state.clone();
    let broken = AppState {
        mailer: Arc::new(BrokenMailer::default()),
        ..healthy
    };
    let router = latchkey_local::app(broken);

    for path in ["/auth/magic-link", "/auth/forgot-password"] {
        let known = send(&router, path, &json!({ "email": email })).await;
        let other = send(&router, path, &json!({ "email": unknown })).await;
        assert!(known.status.is_success(), "{path}: {}", known.text);
        assert_eq!(known.status, other.status, "{path}");
        assert_eq!(known.text, other.text, "{path}");
    }
}

/// Log lines written while a test runs on this thread (tokio tests run on one thread).
#[derive(Clone, Default)]
struct CapturedLogs(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for CapturedLogs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_mail_failure_is_logged_without_the_token_the_link_or_the_code() {
    let app = TestApp::spawn(Backend::Embedded).await;
    let email = unique_email();
    sign_up(&app, &email).await;
    let mailer = Arc::new(BrokenMailer::default());
    let router = latchkey_local::app(AppState {
        mailer: mailer.clone(),
        ..app.state.clone()
    });
    let logs = CapturedLogs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    for path in ["/auth/magic-link", "/auth/forgot-password"] {
        send(&router, path, &json!({ "email": email })).await;
    }

    let logged = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        logged.contains("mail not sent"),
        "the failure is logged: {logged}"
    );
    let refused = mailer.refused.lock().unwrap().clone();
    assert_eq!(refused.len(), 2);
    for email in refused {
        let mail = SentMail {
            to: vec![email.to.clone()],
            subject: email.subject.clone(),
            body: email.text.clone(),
        };
        for link in mail.links() {
            let token = link.rsplit("token=").next().unwrap();
            assert!(
                !logged.contains(token),
                "the token of {link} is in the log: {logged}"
            );
        }
        if let Some(code) = mail.code() {
            assert!(!logged.contains(&code), "the code is in the log: {logged}");
        }
    }
}

async fn send(router: &axum::Router, path: &str, body: &Value) -> TestResponse {
    use tower::ServiceExt;
    let request = http::Request::post(path)
        .header("content-type", "application/json")
        .body(axum::body::Body::from(body.to_string()))
        .unwrap();
    TestResponse::read(router.clone().oneshot(request).await.unwrap()).await
}

#[tokio::test]
async fn mail_to_one_address_is_capped_without_changing_the_answer() {
    let app = TestApp::spawn(Backend::Embedded).await;
    let email = unique_email();
    sign_up(&app, &email).await;

    for _ in 0..7 {
        let response = request_magic_link(&app, &email).await;
        assert_eq!(response.status, 200, "{}", response.text);
        assert_eq!(response.json["message"], "Magic link sent to your email");
    }

    assert_eq!(mail_to(&app, &email).await.len(), 5);
}

#[tokio::test]
async fn too_many_requests_from_one_client_answer_429_with_retry_after() {
    let app = TestApp::spawn(Backend::Embedded).await;

    let mut last = None;
    for _ in 0..31 {
        last = Some(request_magic_link(&app, &unique_email()).await);
    }

    let last = last.unwrap();
    last.assert_error(429, "rate_limited");
    assert!(last.header("retry-after").is_some());
}

#[tokio::test]
async fn a_malformed_or_missing_token_is_refused_in_the_error_shape() {
    let app = TestApp::spawn(Backend::Embedded).await;
    app.get("/auth/sign-in/token")
        .await
        .assert_error(400, "invalid_request");
    app.get("/auth/sign-in/token?token=nope")
        .await
        .assert_error(400, "invalid_token");
    app.post("/auth/magic-link", &json!({ "email": "not-an-address" }))
        .await
        .assert_error(400, "invalid_request");
    app.post(
        "/users/auth/magic-link/verify",
        &json!({ "email": "a@b.co" }),
    )
    .await
    .assert_error(400, "invalid_request");
}

// ---- email verification --------------------------------------------------------------------

async fn a_verification_link_marks_the_address_verified_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let email = unique_email();
    let account = sign_up(&app, &email).await;
    assert_eq!(account["user"]["email_verified"], false);
    let access = account["access_token"].as_str().unwrap();

    let sent = bearer(&app, Method::POST, "/auth/send-verification", access).await;
    assert_eq!(sent.status, 202, "{}", sent.text);
    let link = link_in(&latest_mail_to(&app, &email).await);
    assert!(
        link.starts_with("http://127.0.0.1:3000/auth/verify-email?token="),
        "{link}"
    );

    let verified = app.get(&path_of(&app, &link)).await;
    assert_eq!(verified.status, 200, "{}", verified.text);
    assert_eq!(verified.json["email_verified"], true);
    let me = bearer_get(&app, "/auth/me", access).await;
    assert_eq!(me.json["user"]["email_verified"], true, "{}", me.text);
    assert_eq!(me.json["emails"][0]["verified"], true, "{}", me.text);
    app.post("/auth/verify-email", &json!({ "token": token_in(&link) }))
        .await
        .assert_error(400, "invalid_token");

    let signed_in = app
        .post(
            "/auth/sign-in",
            &json!({ "email": email, "password": PASSWORD }),
        )
        .await;
    assert_eq!(
        signed_in.json["user"]["email_verified"], true,
        "{}",
        signed_in.text
    );
    let claims = claims_of(signed_in.json["access_token"].as_str().unwrap());
    assert_eq!(claims["email_verified"], true);
}

#[tokio::test]
async fn verify_email_accepts_the_token_in_a_json_body() {
    let app = TestApp::spawn(Backend::Embedded).await;
    let email = unique_email();
    let account = sign_up(&app, &email).await;
    let access = account["access_token"].as_str().unwrap();
    bearer(&app, Method::POST, "/auth/send-verification", access).await;
    let link = link_in(&latest_mail_to(&app, &email).await);

    let verified = app
        .post("/auth/verify-email", &json!({ "token": token_in(&link) }))
        .await;

    assert_eq!(verified.status, 200, "{}", verified.text);
}

#[tokio::test]
async fn send_verification_needs_a_caller() {
    let app = TestApp::spawn(Backend::Embedded).await;
    app.post("/auth/send-verification", &json!({}))
        .await
        .assert_error(401, "authentication_required");
}

// ---- password reset ------------------------------------------------------------------------

async fn a_password_reset_replaces_the_password_and_ends_every_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let email = unique_email();
    let account = sign_up(&app, &email).await;
    let old_refresh = account["refresh_token"].as_str().unwrap().to_owned();
    let old_access = account["access_token"].as_str().unwrap().to_owned();

    let requested = app
        .post("/auth/forgot-password", &json!({ "email": email }))
        .await;
    assert_eq!(requested.status, 202, "{}", requested.text);
    assert_eq!(requested.json, json!({ "success": true }));
    let token = token_in(&link_in(&latest_mail_to(&app, &email).await));

    // A weak password is refused and does not spend the link.
    app.post(
        "/auth/reset-password",
        &json!({ "token": token, "new_password": "short" }),
    )
    .await
    .assert_error(400, "weak_password");
    let reset = app
        .post(
            "/auth/reset-password",
            &json!({ "token": token, "new_password": NEW_PASSWORD }),
        )
        .await;
    assert_eq!(reset.status, 200, "{}", reset.text);
    assert!(
        reset.json.get("access_token").is_none(),
        "no sign-in: {}",
        reset.text
    );

    app.post("/auth/refresh", &json!({ "refresh_token": old_refresh }))
        .await
        .assert_error(401, "invalid_token");
    assert_eq!(bearer_get(&app, "/auth/me", &old_access).await.status, 401);
    app.post(
        "/auth/sign-in",
        &json!({ "email": email, "password": PASSWORD }),
    )
    .await
    .assert_error(401, "invalid_credentials");
    let signed_in = app
        .post(
            "/auth/sign-in",
            &json!({ "email": email, "password": NEW_PASSWORD }),
        )
        .await;
    assert_eq!(signed_in.status, 200, "{}", signed_in.text);
    app.post(
        "/auth/reset-password",
        &json!({ "token": token, "new_password": "another fine passphrase 7" }),
    )
    .await
    .assert_error(400, "invalid_token");
}

#[tokio::test]
async fn a_newer_reset_link_voids_the_older_one() {
    let app = TestApp::spawn(Backend::Embedded).await;
    let email = unique_email();
    sign_up(&app, &email).await;
    app.post("/auth/password-reset", &json!({ "email": email }))
        .await;
    let old = token_in(&link_in(&latest_mail_to(&app, &email).await));
    app.post("/auth/forgot-password", &json!({ "email": email }))
        .await;

    app.post(
        "/auth/reset-password",
        &json!({ "token": old, "new_password": NEW_PASSWORD }),
    )
    .await
    .assert_error(400, "invalid_token");
}

#[tokio::test]
async fn a_reset_link_cannot_sign_in_and_a_magic_link_cannot_reset() {
    let app = TestApp::spawn(Backend::Embedded).await;
    let email = unique_email();
    sign_up(&app, &email).await;
    app.post("/auth/forgot-password", &json!({ "email": email }))
        .await;
    let reset_token = token_in(&link_in(&latest_mail_to(&app, &email).await));
    request_magic_link(&app, &email).await;
    let (magic_link, _) = magic_link_and_code(&app, &email).await;

    app.get(&format!("/auth/sign-in/token?token={reset_token}"))
        .await
        .assert_error(400, "invalid_token");
    app.post(
        "/auth/reset-password",
        &json!({ "token": token_in(&magic_link), "new_password": NEW_PASSWORD }),
    )
    .await
    .assert_error(400, "invalid_token");
}
