//! Sign-in discovery (check-email, login-methods), CSRF endpoints, and the route list.

use http::Method;
use latchkey_tests::{Backend, TestApp};
use serde_json::json;

#[tokio::test]
async fn check_email_says_whether_an_account_exists_and_how_to_sign_in() {
    let app = TestApp::spawn(Backend::Embedded).await;
    let session = app.signed_up().await;

    let known = app
        .post(
            "/auth/check-email",
            &json!({"email": session.user.email.to_uppercase()}),
        )
        .await;
    let unknown = app
        .post("/auth/check-email", &json!({"email": "nobody@example.com"}))
        .await;

    assert_eq!(
        known.json,
        json!({"exists": true, "methods": ["password", "magic_link"]})
    );
    assert_eq!(unknown.json, json!({"exists": false, "methods": []}));
}

#[tokio::test]
async fn check_email_is_rate_limited_per_client_address() {
    let app = TestApp::spawn(Backend::Embedded).await;
    for i in 0..20 {
        let response = app
            .post(
                "/auth/check-email",
                &json!({"email": format!("u{i}@example.com")}),
            )
            .await;
        assert_eq!(response.status, 200, "{}", response.text);
    }

    let limited = app
        .post("/auth/check-email", &json!({"email": "last@example.com"}))
        .await;

    limited.assert_error(429, "rate_limited");
    assert!(limited.header("retry-after").is_some());
}

#[tokio::test]
async fn check_email_answers_404_when_disabled() {
    let app = TestApp::spawn_with(Backend::Embedded, |c| c.check_email_enabled = false).await;

    app.post("/auth/check-email", &json!({"email": "a@example.com"}))
        .await
        .assert_error(404, "not_found");
}

#[tokio::test]
async fn login_methods_lists_password_magic_link_and_passkeys_with_absolute_urls() {
    let app = TestApp::spawn_with(Backend::Embedded, |c| {
        c.public_url = "https://auth.example.com".into()
    })
    .await;

    let get = app.get("/auth/login-methods").await;
    let post = app
        .request(Method::POST, "/auth/login-methods", None, &[])
        .await;

    assert_eq!(get.status, 200);
    assert_eq!(get.json, post.json);
    assert_eq!(
        get.json,
        json!({"methods": [
            {"type": "password", "submit_url": "https://auth.example.com/auth/sign-in"},
            {"type": "magic_link", "submit_url": "https://auth.example.com/auth/magic-link"},
            {"type": "passkey",
             "challenge_url": "https://auth.example.com/auth/passkeys/login-challenge"},
        ]})
    );
}

#[tokio::test]
async fn csrf_init_sets_the_cookie_and_answers_a_script_that_fetches_the_token() {
    let app = TestApp::spawn(Backend::Embedded).await;

    let response = app.get("/auth/csrf/init").await;

    assert_eq!(response.status, 200);
    assert!(
        response
            .header("content-type")
            .unwrap()
            .starts_with("application/javascript")
    );
    assert!(response.text.contains("/auth/csrf/token"));
    let cookie = response.set_cookie("__Host-csrf").expect("a CSRF cookie");
    assert!(cookie.contains("HttpOnly; Secure; SameSite=Strict; Path=/"));
}

#[tokio::test]
async fn the_csrf_token_is_bound_to_the_csrf_cookie() {
    let app = TestApp::spawn(Backend::Embedded).await;
    let init = app.get("/auth/csrf/init").await;
    let cookie = format!("__Host-csrf={}", init.cookie("__Host-csrf").unwrap());

    let first = app
        .request(
            Method::GET,
            "/auth/csrf/token",
            None,
            &[("cookie", &cookie)],
        )
        .await;
    let second = app
        .request(
            Method::GET,
            "/auth/csrf/token",
            None,
            &[("cookie", &cookie)],
        )
        .await;
    let other = app.get("/auth/csrf/token").await;

    assert_eq!(first.status, 200);
    assert!(first.json["csrf_token"].as_str().unwrap().len() >= 32);
    assert_eq!(first.json, second.json);
    assert!(first.set_cookie("__Host-csrf").is_none());
    assert_ne!(first.json["csrf_token"], other.json["csrf_token"]);
}

#[tokio::test]
async fn every_listed_route_is_served() {
    let app = TestApp::spawn(Backend::Embedded).await;
    let routes = latchkey_accounts::routes().list();
    assert!(routes.len() >= 18);
    for route in routes {
        let path = route
            .path
            .replace("{id}", "6f9619ff-8b86-4011-b42d-00c04fc964ff");
        let method = route.method;
        let method = Method::from_bytes(method.as_bytes()).unwrap();

        let response = app.request(method.clone(), &path, None, &[]).await;

        assert_ne!(response.status, 405, "{method} {path}");
        assert_ne!(
            response.json["message"], "No such endpoint",
            "{method} {path}"
        );
    }
}
