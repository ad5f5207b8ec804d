//! The inboxes group (seed 000) against real mail servers: pymap (IMAP) and aiosmtpd (SMTP) on
//! loopback, TLS from the start and STARTTLS, started by the test command (`tests/mail_servers.py`).
//! Confirmation mail is read back from the outbox (embedded) or the emulator's SES (AWS).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use futures::future::join_all;
use http::{Method, Request};
use latchkey::config::OidcProvider;
use latchkey::domain::keys;
use latchkey::ports::{Item, Table};
use latchkey_tests::on_both_backends;
use latchkey_tests::{
    Backend, MailServers, MockProvider, SentMail, SignedIn, Tamper, TestApp, TestResponse,
    unique_email,
};
use serde_json::{Value, json};

// ---- helpers -------------------------------------------------------------------------------

/// A test app that trusts the mail servers' throw-away certificate.
async fn app_for(backend: Backend, servers: &MailServers) -> TestApp {
    let servers = servers.clone();
    TestApp::spawn_with(backend, move |config| servers.trust(config)).await
}

fn imap_body(email: &str, imap: Value, smtp: Value) -> Value {
    json!({
        "human_user_id": "human-1",
        "provider": "imap",
        "email_address": email,
        "imap": imap,
        "smtp": smtp,
    })
}

async fn post(app: &TestApp, who: &SignedIn, path: &str, body: &Value) -> TestResponse {
    app.with_bearer(Method::POST, path, who.access_token(), Some(body))
        .await
}

async fn get(app: &TestApp, who: &SignedIn, path: &str) -> TestResponse {
    app.with_bearer(Method::GET, path, who.access_token(), None)
        .await
}

async fn list(app: &TestApp, who: &SignedIn) -> Vec<Value> {
    let listed = get(app, who, "/human/v0/inboxes").await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    listed.json["inboxes"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The confirmation mail to `email`: its link (a path on our server) and its token.
async fn confirmation_for(app: &TestApp, email: &str) -> (SentMail, String, String) {
    let mail = app
        .sent_mail()
        .await
        .into_iter()
        .rev()
        .find(|mail| mail.to.iter().any(|to| to == email))
        .unwrap_or_else(|| panic!("no confirmation mail to {email}"));
    let link = mail
        .links()
        .into_iter()
        .find(|link| link.contains("/human/v0/auth/confirm?"))
        .unwrap_or_else(|| panic!("no confirmation link in {}", mail.body));
    let path = link[link.find("/human/").unwrap()..].to_owned();
    let token = query_value(&path, "confirmation_token").expect("the token in the link");
    assert!(
        mail.body.contains(&token),
        "the token itself is in the mail"
    );
    (mail, path, token)
}

fn query_value(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key == name).then(|| value.to_owned())
    })
}

/// Connect an inbox by IMAP/SMTP (STARTTLS for IMAP, TLS for SMTP); answers the pending inbox.
async fn connect(app: &TestApp, who: &SignedIn, servers: &MailServers, email: &str) -> Value {
    let body = imap_body(email, servers.imap(false), servers.smtp(true));
    let response = post(app, who, "/human/v0/auth/tokens", &body).await;
    assert_eq!(response.status, 200, "{}", response.text);
    response.json
}

// ---- IMAP/SMTP -----------------------------------------------------------------------------

async fn right_imap_credentials_are_checked_then_confirmed_by_the_emailed_link(backend: Backend) {
    let servers = MailServers::get();
    let app = app_for(backend, &servers).await;
    let platform = app.signed_up().await;
    let email = unique_email("inbox");

    let pending = connect(&app, &platform, &servers, &email).await;

    assert_eq!(pending["status"], "pending_confirmation");
    assert_eq!(pending["email_address"], email.as_str());
    let inbox_id = pending["inbox_id"].as_str().unwrap().to_owned();
    let listed = list(&app, &platform).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["status"], "pending_confirmation");
    assert_eq!(listed[0]["human_user_id"], "human-1");
    assert_eq!(listed[0]["provider"], "imap");

    let (mail, link, _token) = confirmation_for(&app, &email).await;
    assert!(mail.subject.contains(&email), "{}", mail.subject);
    let confirmed = app.get(&link).await;
    assert_eq!(confirmed.status, 200, "{}", confirmed.text);
    assert_eq!(confirmed.json, json!({}));

    let listed = list(&app, &platform).await;
    assert_eq!(listed[0]["inbox_id"], inbox_id.as_str());
    assert_eq!(listed[0]["status"], "active");

    // The link works once.
    app.get(&link).await.assert_error(400, "invalid_token");
}

async fn the_platform_confirms_by_post_with_tls_imap_and_starttls_smtp(backend: Backend) {
    let servers = MailServers::get();
    let app = app_for(backend, &servers).await;
    let platform = app.signed_up().await;
    let email = unique_email("inbox");
    let body = imap_body(&email, servers.imap(true), servers.smtp(false));
    let pending = post(&app, &platform, "/human/v0/auth/tokens", &body).await;
    assert_eq!(pending.status, 200, "{}", pending.text);
    let inbox_id = pending.json["inbox_id"].as_str().unwrap().to_owned();
    let (_, _, token) = confirmation_for(&app, &email).await;

    let confirm = json!({"confirmation_token": token, "inbox_id": inbox_id});
    let confirmed = post(&app, &platform, "/human/v0/auth/confirm", &confirm).await;

    assert_eq!(confirmed.status, 200, "{}", confirmed.text);
    assert_eq!(confirmed.json["status"], "active");
    assert_eq!(confirmed.json["provider"], "imap");
    assert_eq!(confirmed.json["inbox_id"], inbox_id.as_str());
    assert_eq!(confirmed.json["email_address"], email.as_str());
    assert!(
        confirmed.json["confirmed_at"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    post(&app, &platform, "/human/v0/auth/confirm", &confirm)
        .await
        .assert_error(400, "invalid_token");
}

async fn a_wrong_password_answers_400_and_stores_and_sends_nothing(backend: Backend) {
    let servers = MailServers::get();
    let app = app_for(backend, &servers).await;
    let platform = app.signed_up().await;
    let email = unique_email("inbox");
    let (good_imap, good_smtp) = (servers.imap(false), servers.smtp(true));
    let bad_imap = servers.server(servers.imap_starttls_port, false, "not-the-password");
    let bad_smtp = servers.server(servers.smtps_port, true, "not-the-password");

    let imap_refused = post(
        &app,
        &platform,
        "/human/v0/auth/tokens",
        &imap_body(&email, bad_imap, good_smtp),
    )
    .await;
    let smtp_refused = post(
        &app,
        &platform,
        "/human/v0/auth/tokens",
        &imap_body(&email, good_imap, bad_smtp),
    )
    .await;

    imap_refused.assert_error(400, "invalid_inbox_credentials");
    assert_eq!(imap_refused.json["field"], "imap", "{}", imap_refused.text);
    assert!(
        imap_refused.json["message"]
            .as_str()
            .unwrap()
            .contains("IMAP")
    );
    smtp_refused.assert_error(400, "invalid_inbox_credentials");
    assert_eq!(smtp_refused.json["field"], "smtp", "{}", smtp_refused.text);
    assert!(list(&app, &platform).await.is_empty(), "nothing stored");
    assert!(app.sent_mail().await.is_empty(), "no mail sent");
}

async fn an_unreachable_server_answers_inbox_unreachable_within_the_timeout(backend: Backend) {
    let servers = MailServers::get();
    let app = app_for(backend, &servers).await;
    let platform = app.signed_up().await;
    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let email = unique_email("inbox");

    let started = Instant::now();
    let closed = post(
        &app,
        &platform,
        "/human/v0/auth/tokens",
        &imap_body(
            &email,
            servers.server(closed_port, false, &servers.password),
            servers.smtp(true),
        ),
    )
    .await;
    let closed_took = started.elapsed();
    let started = Instant::now();
    let silent = post(
        &app,
        &platform,
        "/human/v0/auth/tokens",
        &imap_body(
            &email,
            servers.imap(true),
            servers.server(servers.silent_port, false, &servers.password),
        ),
    )
    .await;
    let silent_took = started.elapsed();

    closed.assert_error(400, "inbox_unreachable");
    assert_eq!(closed.json["field"], "imap");
    assert!(closed_took < Duration::from_secs(2), "{closed_took:?}");
    silent.assert_error(400, "inbox_unreachable");
    assert_eq!(silent.json["field"], "smtp");
    // The test app's login timeout is 2 s (production: 5 s).
    assert!(
        silent_took >= Duration::from_millis(1500) && silent_took < Duration::from_secs(4),
        "{silent_took:?}"
    );
    assert!(list(&app, &platform).await.is_empty());
}

/// Connects an IMAP inbox with the test servers' good settings (TLS from the first byte).
async fn connect_to_the_test_servers(
    app: &TestApp,
    platform: &SignedIn,
    servers: &MailServers,
) -> TestResponse {
    post(
        app,
        platform,
        "/human/v0/auth/tokens",
        &imap_body(
            &unique_email("inbox"),
            servers.imap(true),
            servers.smtp(true),
        ),
    )
    .await
}

async fn a_server_on_a_private_address_is_refused_outside_development(backend: Backend) {
    let servers = MailServers::get();
    let trusted = servers.clone();
    // A deployed service (its public URL is not on loopback): the test's mail servers, on
    // loopback, are what a caller must not make it connect to.
    let app = TestApp::spawn_with(backend, move |config| {
        trusted.trust(config);
        config.public_url = "https://auth.example.com".into();
        config.inbox_private_hosts = false;
    })
    .await;
    let platform = app.signed_up().await;
    let refused = connect_to_the_test_servers(&app, &platform, &servers).await;
    refused.assert_error(400, "inbox_unreachable");
    assert_eq!(refused.json["field"], "imap");
    assert!(
        refused.text.contains("is not a public address"),
        "{}",
        refused.text
    );
    assert!(list(&app, &platform).await.is_empty());
}

async fn an_untrusted_certificate_is_unreachable_not_accepted(backend: Backend) {
    let servers = MailServers::get();
    // No extra root: the throw-away certificate is just a stranger's self-signed one.
    let app = TestApp::spawn(backend).await;
    let platform = app.signed_up().await;
    let refused = connect_to_the_test_servers(&app, &platform, &servers).await;
    refused.assert_error(400, "inbox_unreachable");
}

async fn malformed_requests_name_the_field(backend: Backend) {
    let servers = MailServers::get();
    let app = app_for(backend, &servers).await;
    let platform = app.signed_up().await;
    let email = unique_email("inbox");
    let good = imap_body(&email, servers.imap(false), servers.smtp(true));
    let with = |pointer: &str, value: Value| {
        let mut body = good.clone();
        *body.pointer_mut(pointer).unwrap() = value;
        body
    };
    let without = |field: &str| {
        let mut body = good.clone();
        body.as_object_mut().unwrap().remove(field);
        body
    };
    let cases = [
        (with("/imap/port", json!(70000)), "imap.port"),
        (with("/imap/port", json!(0)), "imap.port"),
        (with("/smtp/port", json!("587")), "smtp.port"),
        (with("/imap/host", json!("")), "imap.host"),
        (with("/smtp/password", json!("")), "smtp.password"),
        (with("/provider", json!("pop3")), "provider"),
        (
            with("/email_address", json!("not an address")),
            "email_address",
        ),
        (
            with("/human_user_id", json!("x".repeat(257))),
            "human_user_id",
        ),
        (without("smtp"), "smtp"),
        (without("human_user_id"), "human_user_id"),
        (
            json!({"human_user_id": "h", "provider": "google_oauth", "email_address": email,
                   "oauth": {"access_token": "ya29.x", "expires_at": "tomorrow"}}),
            "oauth.expires_at",
        ),
        (
            json!({"human_user_id": "h", "provider": "google_oauth", "email_address": email}),
            "oauth",
        ),
    ];
    for (body, field) in cases {
        let refused = post(&app, &platform, "/human/v0/auth/tokens", &body).await;
        refused.assert_error(400, "invalid_request");
        assert_eq!(refused.json["field"], field, "{}", refused.text);
    }
    assert!(list(&app, &platform).await.is_empty());
}

async fn no_caller_answers_401_everywhere_but_the_emailed_link(backend: Backend) {
    let servers = MailServers::get();
    let app = app_for(backend, &servers).await;
    let email = unique_email("inbox");
    let some_id = "6f9619ff-8b86-4011-b42d-00c04fc964ff";
    let delete_path = format!("/human/v0/inboxes/{some_id}");
    let calls: [(Method, &str, Option<Value>); 5] = [
        (
            Method::POST,
            "/human/v0/auth/tokens",
            Some(imap_body(&email, servers.imap(false), servers.smtp(true))),
        ),
        (
            Method::POST,
            "/human/v0/auth/url",
            Some(json!({"human_user_id": "h", "provider": "imap"})),
        ),
        (
            Method::POST,
            "/human/v0/auth/confirm",
            Some(json!({"confirmation_token": "x", "inbox_id": some_id})),
        ),
        (Method::GET, "/human/v0/inboxes", None),
        (Method::DELETE, &delete_path, None),
    ];
    for (method, path, body) in calls {
        app.request(method, path, body.as_ref(), &[])
            .await
            .assert_error(401, "authentication_required");
    }
}

async fn an_expired_confirmation_token_is_refused(backend: Backend) {
    let servers = MailServers::get();
    let app = app_for(backend, &servers).await;
    let platform = app.signed_up().await;
    let email = unique_email("inbox");
    let pending = connect(&app, &platform, &servers, &email).await;
    let inbox_id = pending["inbox_id"].as_str().unwrap();
    let (_, link, token) = confirmation_for(&app, &email).await;
    // A day has passed: the stored expiry is behind us.
    let mut set = Item::new();
    set.insert(
        "confirmation_expires_at".into(),
        json!(app.state.clock.unix() - 1),
    );
    app.state
        .table
        .update(
            &keys::inbox(&latchkey::domain::ids::InboxId::parse(inbox_id).unwrap()),
            set,
            vec![],
            None,
        )
        .await
        .unwrap();

    app.get(&link).await.assert_error(400, "invalid_token");
    post(
        &app,
        &platform,
        "/human/v0/auth/confirm",
        &json!({"confirmation_token": token, "inbox_id": inbox_id}),
    )
    .await
    .assert_error(400, "invalid_token");
    assert_eq!(
        list(&app, &platform).await[0]["status"],
        "pending_confirmation"
    );
}

async fn another_workspaces_inbox_answers_404(backend: Backend) {
    let servers = MailServers::get();
    let app = app_for(backend, &servers).await;
    let owner = app.signed_up().await;
    let stranger = app.signed_up().await;
    let email = unique_email("inbox");
    let pending = connect(&app, &owner, &servers, &email).await;
    let inbox_id = pending["inbox_id"].as_str().unwrap();
    let (_, _, token) = confirmation_for(&app, &email).await;

    post(
        &app,
        &stranger,
        "/human/v0/auth/confirm",
        &json!({"confirmation_token": token, "inbox_id": inbox_id}),
    )
    .await
    .assert_error(404, "not_found");
    app.with_bearer(
        Method::DELETE,
        &format!("/human/v0/inboxes/{inbox_id}"),
        stranger.access_token(),
        None,
    )
    .await
    .assert_error(404, "not_found");
    assert!(list(&app, &stranger).await.is_empty());
    assert_eq!(
        list(&app, &owner).await.len(),
        1,
        "still there for its owner"
    );
}

async fn deleting_an_inbox_removes_it_and_its_credentials(backend: Backend) {
    let servers = MailServers::get();
    let app = app_for(backend, &servers).await;
    let platform = app.signed_up().await;
    let email = unique_email("inbox");
    let pending = connect(&app, &platform, &servers, &email).await;
    let inbox_id = pending["inbox_id"].as_str().unwrap();
    let path = format!("/human/v0/inboxes/{inbox_id}");

    let deleted = app
        .with_bearer(Method::DELETE, &path, platform.access_token(), None)
        .await;

    assert_eq!(deleted.status, 200, "{}", deleted.text);
    assert_eq!(deleted.json["success"], true);
    assert!(list(&app, &platform).await.is_empty());
    assert!(
        app.state
            .table
            .get(&keys::inbox(
                &latchkey::domain::ids::InboxId::parse(inbox_id).unwrap()
            ))
            .await
            .unwrap()
            .is_none(),
        "the item and its encrypted credentials are gone"
    );
    app.with_bearer(Method::DELETE, &path, platform.access_token(), None)
        .await
        .assert_error(404, "not_found");
    let (_, link, _) = confirmation_for(&app, &email).await;
    app.get(&link).await.assert_error(400, "invalid_token");
}

async fn google_tokens_given_by_the_platform_wait_for_their_confirmation(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let platform = app.signed_up().await;
    let email = unique_email("inbox");
    let body = json!({
        "human_user_id": "human-7", "provider": "google_oauth", "email_address": email,
        "enable_semantic_search": true,
        "oauth": {"access_token": "ya29.access-secret", "refresh_token": "1//refresh-secret",
                  "expires_at": "2026-12-01T10:00:00Z"},
    });
    let pending = post(&app, &platform, "/human/v0/auth/tokens", &body).await;
    assert_eq!(pending.status, 200, "{}", pending.text);
    assert_eq!(pending.json["status"], "pending_confirmation");
    let (_, link, _) = confirmation_for(&app, &email).await;
    assert_eq!(app.get(&link).await.status, 200);
    let listed = list(&app, &platform).await;
    assert_eq!(listed[0]["provider"], "google_oauth");
    assert_eq!(listed[0]["status"], "active");
}

async fn twenty_concurrent_confirmations_give_exactly_one_success(backend: Backend) {
    let servers = MailServers::get();
    let app = app_for(backend, &servers).await;
    let platform = app.signed_up().await;
    let email = unique_email("inbox");
    connect(&app, &platform, &servers, &email).await;
    let (_, link, _) = confirmation_for(&app, &email).await;

    let answers = join_all((0..20).map(|_| app.get(&link))).await;

    let statuses: Vec<u16> = answers.iter().map(|a| a.status.as_u16()).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 400),
        "{statuses:?}"
    );
}

async fn a_confirmation_redirect_is_followed_only_when_allowed(backend: Backend) {
    let servers = MailServers::get();
    let allowed = "https://platform.example/inbox-connected";
    let trusted = servers.clone();
    let app = TestApp::spawn_with(backend, move |config| {
        trusted.trust(config);
        config.redirect_allow_list = vec![allowed.to_owned()];
    })
    .await;
    let platform = app.signed_up().await;
    for (redirect, expected) in [(allowed, Some(allowed)), ("https://evil.example/", None)] {
        let email = unique_email("inbox");
        let mut body = imap_body(&email, servers.imap(false), servers.smtp(true));
        body["confirmation_redirect_url"] = json!(redirect);
        let pending = post(&app, &platform, "/human/v0/auth/tokens", &body).await;
        assert_eq!(pending.status, 200, "{}", pending.text);
        let (_, link, _) = confirmation_for(&app, &email).await;
        let confirmed = app.get(&link).await;
        match expected {
            Some(url) => {
                assert_eq!(confirmed.status, 302, "{}", confirmed.text);
                let location = confirmed.header("location").unwrap();
                assert!(location.starts_with(url), "{location}");
                assert!(location.contains("status=active"), "{location}");
            }
            None => assert_eq!(confirmed.status, 200, "{}", confirmed.text),
        }
    }
}

// ---- the hosted form -----------------------------------------------------------------------

fn form_encode(pairs: &[(&str, &str)]) -> String {
    let encode = |text: &str| {
        let mut out = String::new();
        for byte in text.bytes() {
            match byte {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    out.push(byte as char)
                }
                b' ' => out.push('+'),
                _ => out.push_str(&format!("%{byte:02X}")),
            }
        }
        out
    };
    pairs
        .iter()
        .map(|(name, value)| format!("{}={}", encode(name), encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The value of the hidden input named `name` in a page.
fn hidden(page: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.find(&marker)? + marker.len();
    let end = page[start..].find('"')? + start;
    Some(page[start..end].to_owned())
}

async fn post_form(app: &TestApp, body: String) -> TestResponse {
    let request = Request::builder()
        .method(Method::POST)
        .uri("/human/v0/auth/imap")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap();
    app.send(request).await
}

fn form_fields<'a>(
    servers: &'a MailServers,
    email: &'a str,
    imap_password: &'a str,
    ports: &'a (String, String),
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("email_address", email),
        ("imap_host", servers.host.as_str()),
        ("imap_port", ports.0.as_str()),
        ("imap_username", servers.username.as_str()),
        ("imap_password", imap_password),
        ("smtp_host", servers.host.as_str()),
        ("smtp_port", ports.1.as_str()),
        ("smtp_secure", "on"),
        ("smtp_username", servers.username.as_str()),
        ("smtp_password", servers.password.as_str()),
    ]
}

async fn the_hosted_form_connects_an_inbox_and_shows_the_confirmation_step(backend: Backend) {
    let servers = MailServers::get();
    let app = app_for(backend, &servers).await;
    let platform = app.signed_up().await;
    let email = unique_email("inbox");
    let url = post(
        &app,
        &platform,
        "/human/v0/auth/url",
        &json!({"human_user_id": "human-9", "provider": "imap", "email_address": email}),
    )
    .await;
    assert_eq!(url.status, 200, "{}", url.text);
    assert_eq!(url.json["provider"], "imap");
    let authorization_url = url.json["authorization_url"].as_str().unwrap();
    let state = url.json["state"].as_str().unwrap();
    assert!(authorization_url.ends_with(&format!("/human/v0/auth/imap?state={state}")));

    let page = app
        .get(&authorization_url[authorization_url.find("/human/").unwrap()..])
        .await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert!(
        page.header("content-security-policy")
            .unwrap()
            .contains("form-action 'self'")
    );
    assert!(page.text.contains("Latchkey"), "the product name");
    assert!(!page.text.contains("<script"), "no script");
    assert!(
        page.text.contains(&format!("value=\"{email}\"")),
        "the address is filled in"
    );
    let csrf = hidden(&page.text, "csrf_token").expect("a CSRF token in the form");
    assert_eq!(hidden(&page.text, "state").as_deref(), Some(state));

    let ports = (
        servers.imap_starttls_port.to_string(),
        servers.smtps_port.to_string(),
    );
    // Without its CSRF token: refused, nothing stored.
    let mut fields = form_fields(&servers, &email, &servers.password, &ports);
    fields.push(("state", state));
    let forged = post_form(&app, form_encode(&fields)).await;
    assert_eq!(forged.status, 403, "{}", forged.text);
    // A wrong password: the form again, the error next to the IMAP password, nothing stored.
    let mut fields = form_fields(&servers, &email, "wrong-password", &ports);
    fields.extend([("state", state), ("csrf_token", csrf.as_str())]);
    let refused = post_form(&app, form_encode(&fields)).await;
    assert_eq!(refused.status, 400, "{}", refused.text);
    assert!(
        refused.text.contains("id=\"imap_password-error\""),
        "{}",
        refused.text
    );
    assert!(
        !refused.text.contains("wrong-password"),
        "a password is never shown back"
    );
    assert!(list(&app, &platform).await.is_empty());

    let mut fields = form_fields(&servers, &email, &servers.password, &ports);
    fields.extend([("state", state), ("csrf_token", csrf.as_str())]);
    let sent = post_form(&app, form_encode(&fields)).await;

    assert_eq!(sent.status, 200, "{}", sent.text);
    assert!(
        sent.text.contains("id=\"confirmation-step\""),
        "{}",
        sent.text
    );
    assert!(sent.text.contains(&email));
    let listed = list(&app, &platform).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["human_user_id"], "human-9");
    assert_eq!(listed[0]["status"], "pending_confirmation");
    let (_, link, _) = confirmation_for(&app, &email).await;
    assert_eq!(app.get(&link).await.status, 200);
    // The form's state is spent: posting again does not connect a second inbox.
    let again = post_form(&app, form_encode(&fields)).await;
    assert_eq!(again.status, 400, "{}", again.text);
    assert_eq!(list(&app, &platform).await.len(), 1);
}

// ---- Google --------------------------------------------------------------------------------

/// A test app whose Google is the mock provider.
async fn app_with_google(backend: Backend, provider: &MockProvider, allowed: &str) -> TestApp {
    let issuer = provider.issuer.clone();
    let allowed = allowed.to_owned();
    TestApp::spawn_with(backend, move |config| {
        config.oauth.google = Some(OidcProvider {
            name: "google".into(),
            issuer,
            client_id: "latchkey-inboxes".into(),
            client_secret: Some("google-client-secret".to_owned().into()),
            scopes: vec!["openid".into(), "email".into(), "profile".into()],
        });
        config.redirect_allow_list = vec![allowed];
    })
    .await
}

async fn the_google_flow_connects_an_active_inbox_and_redirects_with_its_id(backend: Backend) {
    let provider = MockProvider::start().await;
    let email = unique_email("gmail");
    provider
        .set_claims(json!({"sub": "g-42", "email": email, "email_verified": true, "name": "Ada"}))
        .await;
    let after = "https://platform.example/inbox-connected";
    let app = app_with_google(backend, &provider, after).await;
    let platform = app.signed_up().await;

    let url = post(
        &app,
        &platform,
        "/human/v0/auth/url",
        &json!({"human_user_id": "human-g", "provider": "google_oauth",
                "email_address": email, "redirect_uri": after}),
    )
    .await;
    assert_eq!(url.status, 200, "{}", url.text);
    assert_eq!(url.json["provider"], "google_oauth");
    let authorization_url = url.json["authorization_url"].as_str().unwrap();
    assert!(
        authorization_url.starts_with(&provider.issuer),
        "{authorization_url}"
    );
    for part in [
        "access_type=offline",
        "code_challenge_method=S256",
        "https%3A%2F%2Fmail.google.com%2F",
        "prompt=consent",
    ] {
        assert!(
            authorization_url.contains(part),
            "{part} in {authorization_url}"
        );
    }
    let back = provider.consent(authorization_url).await;
    assert!(back.contains("/human/v0/auth/callback?"), "{back}");
    let callback = &back[back.find("/human/").unwrap()..];

    let finished = app.get(callback).await;

    assert_eq!(finished.status, 302, "{}", finished.text);
    let location = finished.header("location").unwrap();
    assert!(location.starts_with(after), "{location}");
    assert!(location.contains("status=active"), "{location}");
    let inbox_id = query_value(location, "inbox_id").expect("inbox_id in the redirect");
    let listed = list(&app, &platform).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["inbox_id"], inbox_id.as_str());
    assert_eq!(listed[0]["provider"], "google_oauth");
    assert_eq!(listed[0]["status"], "active");
    assert_eq!(listed[0]["email_address"], email.as_str());
    assert_eq!(listed[0]["human_user_id"], "human-g");
    assert_eq!(provider.token_requests("authorization_code").await, 1);
    // The state is spent: the same callback again is refused, and nothing more is stored.
    app.get(callback)
        .await
        .assert_error(400, "invalid_oauth_state");
    assert_eq!(list(&app, &platform).await.len(), 1);
}

async fn a_google_callback_without_a_redirect_answers_the_inbox(backend: Backend) {
    let provider = MockProvider::start().await;
    let email = unique_email("gmail");
    provider
        .set_claims(json!({"sub": "g-43", "email": email, "email_verified": true}))
        .await;
    let app = app_with_google(backend, &provider, "https://platform.example/x").await;
    let platform = app.signed_up().await;
    let url = post(
        &app,
        &platform,
        "/human/v0/auth/url",
        &json!({"human_user_id": "human-g", "provider": "google_oauth",
                "redirect_uri": "https://evil.example/"}),
    )
    .await;
    assert_eq!(url.status, 200, "{}", url.text);
    let back = provider
        .consent(url.json["authorization_url"].as_str().unwrap())
        .await;

    let finished = app.get(&back[back.find("/human/").unwrap()..]).await;

    assert_eq!(finished.status, 200, "{}", finished.text);
    assert_eq!(finished.json["status"], "active");
    assert_eq!(finished.json["provider"], "google_oauth");
    assert_eq!(finished.json["email_address"], email.as_str());
}

async fn google_refusals_store_nothing(backend: Backend) {
    let provider = MockProvider::start().await;
    provider
        .set_claims(json!({"sub": "g-44", "email": unique_email("gmail"), "email_verified": false}))
        .await;
    let app = app_with_google(backend, &provider, "https://platform.example/x").await;
    let platform = app.signed_up().await;
    let begin = || async {
        let url = post(
            &app,
            &platform,
            "/human/v0/auth/url",
            &json!({"human_user_id": "h", "provider": "google_oauth"}),
        )
        .await;
        assert_eq!(url.status, 200, "{}", url.text);
        let back = provider
            .consent(url.json["authorization_url"].as_str().unwrap())
            .await;
        back[back.find("/human/").unwrap()..].to_owned()
    };

    // An address Google does not vouch for.
    let unverified = app.get(&begin().await).await;
    // A tampered ID token.
    provider
        .set_claims(json!({"sub": "g-44", "email": unique_email("gmail"), "email_verified": true}))
        .await;
    let callback = begin().await;
    provider.spoil_next_id_token(Tamper::BadSignature).await;
    let forged = app.get(&callback).await;
    // Google refuses the code.
    let callback = begin().await;
    provider
        .fail_next_token_request(400, json!({"error": "invalid_grant"}))
        .await;
    let refused = app.get(&callback).await;
    // A state we never issued.
    let foreign = app
        .get("/human/v0/auth/callback?code=abc&state=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
        .await;

    unverified.assert_error(401, "invalid_id_token");
    forged.assert_error(401, "invalid_id_token");
    refused.assert_error(400, "oauth_refused");
    foreign.assert_error(400, "invalid_oauth_state");
    assert!(list(&app, &platform).await.is_empty());
}

async fn google_is_404_when_not_configured(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let platform = app.signed_up().await;
    post(
        &app,
        &platform,
        "/human/v0/auth/url",
        &json!({"human_user_id": "h", "provider": "google_oauth"}),
    )
    .await
    .assert_error(404, "not_found");
}

// ---- secrets at rest -----------------------------------------------------------------------

async fn no_mail_password_or_oauth_token_is_stored_in_plain_text(backend: Backend) {
    let servers = MailServers::get();
    let trusted = servers.clone();
    let (app, dynamo_name) = match backend {
        Backend::Embedded => (app_for(backend, &servers).await, None),
        Backend::Aws => {
            let (table, name) = latchkey_tests::named_dynamo_table("latchkey-inbox-scan").await;
            let app = TestApp::spawn_wrapping(
                backend,
                move |config| trusted.trust(config),
                move |_anonymous| -> Arc<dyn Table> { table },
            )
            .await;
            (app, Some(name))
        }
    };
    let platform = app.signed_up().await;
    let imap_email = unique_email("inbox");
    let pending = connect(&app, &platform, &servers, &imap_email).await;
    let (access, refresh) = (
        "ya29.a0-access-token-in-the-clear",
        "1//0refresh-token-in-the-clear",
    );
    let google = post(
        &app,
        &platform,
        "/human/v0/auth/tokens",
        &json!({"human_user_id": "h", "provider": "google_oauth", "email_address": unique_email("inbox"),
                "oauth": {"access_token": access, "refresh_token": refresh}}),
    )
    .await;
    assert_eq!(google.status, 200, "{}", google.text);
    let (_, _, token) = confirmation_for(&app, &imap_email).await;

    let (stored, _) = latchkey_tests::stored_text(&app, dynamo_name.as_deref()).await;

    assert!(
        stored.contains(pending["inbox_id"].as_str().unwrap()),
        "the scan sees the inbox"
    );
    for secret in [servers.password.as_str(), access, refresh, token.as_str()] {
        assert!(!stored.contains(secret), "{secret} is stored in plain text");
    }
}

on_both_backends!(
    right_imap_credentials_are_checked_then_confirmed_by_the_emailed_link,
    the_platform_confirms_by_post_with_tls_imap_and_starttls_smtp,
    a_wrong_password_answers_400_and_stores_and_sends_nothing,
    an_unreachable_server_answers_inbox_unreachable_within_the_timeout,
    a_server_on_a_private_address_is_refused_outside_development,
    an_untrusted_certificate_is_unreachable_not_accepted,
    malformed_requests_name_the_field,
    no_caller_answers_401_everywhere_but_the_emailed_link,
    an_expired_confirmation_token_is_refused,
    another_workspaces_inbox_answers_404,
    deleting_an_inbox_removes_it_and_its_credentials,
    google_tokens_given_by_the_platform_wait_for_their_confirmation,
    twenty_concurrent_confirmations_give_exactly_one_success,
    a_confirmation_redirect_is_followed_only_when_allowed,
    the_hosted_form_connects_an_inbox_and_shows_the_confirmation_step,
    the_google_flow_connects_an_active_inbox_and_redirects_with_its_id,
    a_google_callback_without_a_redirect_answers_the_inbox,
    google_refusals_store_nothing,
    google_is_404_when_not_configured,
    no_mail_password_or_oauth_token_is_stored_in_plain_text,
);

// ---- the hosted form in a real browser -------------------------------------------------------

fn required_env(name: &str, what: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "\n\n*** The browser test did NOT run: {name} is not set ({what}). ***\n\
             *** Run ./tests/run.sh, which installs and names it.                ***\n\n"
        )
    })
}

/// Headless Chromium (Debian's) fills in the hosted form with JavaScript off, submits it and
/// sees the confirmation step; the screenshots land in the test's temp dir (docs/ keeps one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hosted_form_works_in_headless_chromium() {
    let chromium = required_env("LATCHKEY_TEST_CHROMIUM", "Debian's chromium");
    let playwright = required_env("LATCHKEY_TEST_PLAYWRIGHT", "npm's playwright-core");
    let servers = MailServers::get();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let trusted = servers.clone();
    let public_url = base.clone();
    let app = TestApp::spawn_with(Backend::Embedded, move |config| {
        trusted.trust(config);
        config.public_url = public_url;
    })
    .await;
    let service = app
        .router
        .clone()
        .into_make_service_with_connect_info::<std::net::SocketAddr>();
    let server = tokio::spawn(async move { axum::serve(listener, service).await });
    let platform = app.signed_up().await;
    let email = unique_email("inbox");
    let url = post(
        &app,
        &platform,
        "/human/v0/auth/url",
        &json!({"human_user_id": "human-browser", "provider": "imap"}),
    )
    .await;
    assert_eq!(url.status, 200, "{}", url.text);
    let form_url = url.json["authorization_url"].as_str().unwrap().to_owned();
    assert!(form_url.starts_with(&base), "{form_url}");
    let fields = json!({
        "email_address": email,
        "imap_host": servers.host, "imap_port": servers.imaps_port, "imap_secure": true,
        "imap_username": servers.username, "imap_password": servers.password,
        "smtp_host": servers.host, "smtp_port": servers.smtp_starttls_port, "smtp_secure": false,
        "smtp_username": servers.username, "smtp_password": servers.password,
    });
    let fields_path = app.dir.path().join("fields.json");
    std::fs::write(&fields_path, fields.to_string()).unwrap();
    let screenshots = app.dir.path().join("imap-form");
    let script = latchkey_tests::workspace_root().join("tests/browser/imap_form.mjs");

    let output = tokio::time::timeout(
        Duration::from_secs(90),
        tokio::process::Command::new("node")
            .arg(&script)
            .arg(&playwright)
            .arg(&chromium)
            .arg(&form_url)
            .arg(&fields_path)
            .arg(&screenshots)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the browser finished within 90 s")
    .expect("node runs");
    server.abort();

    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "browser script failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let seen: Value = serde_json::from_str(stdout.trim()).expect("the script's JSON");
    assert_eq!(seen["confirmation_step"], true, "{seen}");
    assert_eq!(seen["email"], email.as_str(), "{seen}");
    assert!(screenshots.with_file_name("imap-form-sent.png").exists());
    let listed = list(&app, &platform).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["human_user_id"], "human-browser");
    confirmation_for(&app, &email).await;
    if let Ok(dir) = std::env::var("LATCHKEY_SCREENSHOT_DIR") {
        for name in ["imap-form-form.png", "imap-form-sent.png"] {
            std::fs::copy(
                screenshots.with_file_name(name),
                std::path::Path::new(&dir).join(name),
            )
            .unwrap();
        }
    }
}
