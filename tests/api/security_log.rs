//! The log of a whole flow: one structured security event per outcome (target `security`, an
//! `event` name, the user id when known, the request id and client address from the request
//! span), and no password, token, code or link anywhere in it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::Method;
use latchkey_tests::{Backend, TestApp};
use serde_json::{Value, json};

/// Everything logged while the test runs on this thread (a current-thread runtime).
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// Captures this thread's log, in the Lambda format (JSON lines with the request span's
    /// fields), until the guard drops.
    fn start() -> (Self, tracing::subscriber::DefaultGuard) {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .finish();
        (captured, tracing::subscriber::set_default(subscriber))
    }

    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }

    fn lines(&self) -> Vec<Value> {
        self.text()
            .lines()
            .map(|line| {
                serde_json::from_str(line).unwrap_or_else(|_| panic!("a JSON line: {line}"))
            })
            .collect()
    }
}

#[tokio::test]
async fn a_flow_logs_one_event_per_security_outcome_and_no_secret() {
    let (captured, _guard) = Captured::start();

    let app = TestApp::spawn_with(Backend::Embedded, |config| {
        config.refresh_reuse_grace = Duration::ZERO;
    })
    .await;
    let mut secrets: Vec<String> = Vec::new();

    // Sign-up, a wrong password, an unknown address, a good sign-in.
    let ada = app.signed_up().await;
    secrets.extend([
        ada.user.password.clone(),
        ada.access_token().to_owned(),
        ada.refresh_token().to_owned(),
    ]);
    let wrong = json!({"email": ada.user.email, "password": "Wrong-password-123456"});
    secrets.push("Wrong-password-123456".into());
    assert_eq!(app.post("/auth/sign-in", &wrong).await.status, 401);
    let unknown = json!({"email": "nobody-here@example.com", "password": "Whatever-12345678"});
    assert_eq!(app.post("/auth/sign-in", &unknown).await.status, 401);
    let second = app.signed_in(&ada.user).await;
    secrets.extend([
        second.access_token().to_owned(),
        second.refresh_token().to_owned(),
    ]);

    // A refresh token used twice (no grace here): the session is revoked.
    let rotated = app.refresh(second.refresh_token()).await;
    assert_eq!(rotated.status, 200, "{}", rotated.text);
    secrets.push(rotated.json["refresh_token"].as_str().unwrap().to_owned());
    assert_eq!(app.refresh(second.refresh_token()).await.status, 401);

    // MFA setup started (the secret it answers must not be logged).
    let setup = app
        .with_bearer(Method::POST, "/auth/mfa/setup", ada.access_token(), None)
        .await;
    assert_eq!(setup.status, 200, "{}", setup.text);
    secrets.push(setup.json["secret"].as_str().unwrap().to_owned());

    // A session revoked from the list, then a password change and a logout.
    let third = app.signed_in(&ada.user).await;
    secrets.push(third.refresh_token().to_owned());
    let sessions = app
        .with_bearer(Method::GET, "/auth/sessions", ada.access_token(), None)
        .await;
    let other = sessions.json["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .find(|id| sid_of(ada.access_token()) != *id)
        .expect("another session");
    let revoked = app
        .with_bearer(
            Method::DELETE,
            &format!("/auth/sessions/{other}"),
            ada.access_token(),
            None,
        )
        .await;
    assert_eq!(revoked.status, 200, "{}", revoked.text);
    let new_password = "Another-velvet-orbit-98765";
    secrets.push(new_password.into());
    let changed = app
        .with_bearer(
            Method::POST,
            "/auth/password",
            ada.access_token(),
            Some(&json!({"current_password": ada.user.password, "new_password": new_password})),
        )
        .await;
    assert_eq!(changed.status, 200, "{}", changed.text);
    let logout = app
        .with_bearer(Method::POST, "/auth/logout", ada.access_token(), None)
        .await;
    assert_eq!(logout.status, 200, "{}", logout.text);

    // Emailed links: a reset (mail sent, password reset), a magic link, a bad link.
    let forgot = app
        .post("/auth/forgot-password", &json!({"email": ada.user.email}))
        .await;
    assert_eq!(forgot.status, 202);
    let reset_mail = app.sent_mail().await.pop().expect("the reset mail");
    let reset_link = reset_mail.links().into_iter().next().expect("a link");
    let reset_token = reset_link.rsplit("token=").next().unwrap().to_owned();
    let reset_password = "Third-velvet-orbit-24680";
    secrets.extend([
        reset_link.clone(),
        reset_token.clone(),
        reset_password.into(),
    ]);
    let reset = app
        .post(
            "/auth/reset-password",
            &json!({"token": reset_token, "new_password": reset_password}),
        )
        .await;
    assert_eq!(reset.status, 200, "{}", reset.text);
    assert_eq!(
        app.post("/auth/magic-link", &json!({"email": ada.user.email}))
            .await
            .status,
        200
    );
    let magic = app.sent_mail().await.pop().expect("the magic link mail");
    for link in magic.links() {
        secrets.push(link.rsplit("token=").next().unwrap().to_owned());
        secrets.push(link);
    }
    secrets.extend(magic.code());
    assert_eq!(
        app.get("/auth/sign-in/token?token=not-a-real-token")
            .await
            .status,
        400
    );

    // A lockout: eleven wrong passwords for another account.
    let bob = app.signed_up().await;
    let wrong = json!({"email": bob.user.email, "password": "Wrong-password-123456"});
    let mut statuses = Vec::new();
    for _ in 0..12 {
        statuses.push(app.post("/auth/sign-in", &wrong).await.status.as_u16());
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");

    let log = captured.text();
    let events: Vec<Value> = captured
        .lines()
        .into_iter()
        .filter(|event| event["target"] == "security")
        .collect();
    let named =
        |name: &str| -> Vec<&Value> { events.iter().filter(|e| e["event"] == name).collect() };
    let reasons: Vec<&str> = named("sign_in.failed")
        .iter()
        .filter_map(|e| e["reason"].as_str())
        .collect();
    for reason in ["wrong_password", "unknown_email", "invalid_token"] {
        assert!(reasons.contains(&reason), "{reason} in {reasons:?}");
    }
    let ada_id = ada.user_id();
    assert!(
        named("sign_in.failed")
            .iter()
            .any(|e| e["reason"] == "wrong_password" && e["user_id"] == ada_id),
        "a failed sign-in names the user when known"
    );
    for name in [
        "sign_in.succeeded",
        "sign_in.locked",
        "refresh.reused",
        "mfa.changed",
        "session.revoked",
        "password.changed",
        "session.logout",
        "email.sent",
        "password.reset",
    ] {
        assert!(!named(name).is_empty(), "no {name} event in:\n{log}");
    }
    // Each outcome carries the request it belongs to: the request span's id and client address.
    for event in &events {
        let span = &event["span"];
        assert!(
            span["request_id"].as_str().is_some_and(|id| !id.is_empty()),
            "no request id on {event}"
        );
        assert!(
            span["client"].as_str().is_some_and(|c| !c.is_empty()),
            "no client address on {event}"
        );
    }
    assert_eq!(named("refresh.reused").len(), 1);
    assert_eq!(named("session.logout").len(), 1);
    assert!(!log.contains('\u{1b}'), "no ANSI escapes");
    for secret in &secrets {
        assert!(!secret.is_empty());
        assert!(
            !log.contains(secret.as_str()),
            "a secret is in the log: {secret}"
        );
    }
    assert!(!log.contains("token="), "no link with a token in the log");
}

#[tokio::test]
async fn a_redirect_url_off_the_allow_list_is_ignored_with_a_warning_naming_the_reason() {
    let (captured, _guard) = Captured::start();
    let app = TestApp::spawn_with(Backend::Embedded, |config| {
        config.redirect_allow_list = vec!["https://app.example.com/welcome".into()];
    })
    .await;
    let ada = app.signed_up().await;
    let asked = app
        .post(
            "/auth/magic-link",
            &json!({"email": ada.user.email, "redirect_url": "https://evil.example/welcome"}),
        )
        .await;
    assert_eq!(asked.status, 200, "{}", asked.text);
    let link = app.sent_mail().await.pop().expect("the magic link mail");
    assert!(
        link.links().iter().all(|l| !l.contains("evil.example")),
        "{:?}",
        link.links()
    );

    let refused: Vec<Value> = captured
        .lines()
        .into_iter()
        .filter(|line| line["event"] == "redirect_refused")
        .collect();
    assert_eq!(refused.len(), 1, "{}", captured.text());
    let event = &refused[0];
    assert_eq!(event["level"], "WARN");
    assert_eq!(
        event["reason"],
        "neither on LATCHKEY_PUBLIC_URL's origin nor exactly on LATCHKEY_REDIRECT_ALLOW_LIST"
    );
    assert_eq!(event["redirect_url"], "https://evil.example/welcome");

    // An allowed one is kept, and says nothing.
    let allowed = app
        .post(
            "/auth/magic-link",
            &json!({"email": ada.user.email, "redirect_url": "https://app.example.com/welcome"}),
        )
        .await;
    assert_eq!(allowed.status, 200, "{}", allowed.text);
    let refused = captured
        .lines()
        .into_iter()
        .filter(|line| line["event"] == "redirect_refused")
        .count();
    assert_eq!(refused, 1, "no warning for an allowed redirect");
}

/// The session id (`sid`) of an access token, read without verifying it.
fn sid_of(token: &str) -> String {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    let claims: Value = serde_json::from_slice(&bytes).unwrap();
    claims["sid"].as_str().unwrap().to_owned()
}
