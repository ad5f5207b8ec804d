//! The accounts group's core flow, on both backends: sign-up, sign-in, refresh, reuse detection,
//! logout; and the sign-up / sign-in rules on the embedded store.

use futures::future::join_all;
use http::Method;
use latchkey_tests::on_both_backends;
use latchkey_tests::{Backend, TestApp, TestUser, sign_in, sign_up};
use serde_json::json;

fn assert_auth_response(response: &latchkey_tests::TestResponse, email: &str) {
    let body = &response.json;
    assert_eq!(body["success"], true, "{}", response.text);
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["access_token"], body["token"]);
    assert_eq!(body["access_token"].as_str().unwrap().split('.').count(), 3);
    assert!(body["refresh_token"].as_str().unwrap().len() >= 22);
    assert!(body["expires_at"].as_i64().unwrap() < body["refresh_expires_at"].as_i64().unwrap());
    assert_eq!(body["user"]["email"], email);
    assert!(body["user"]["id"].is_string());
    assert!(body["user"]["organization_id"].is_string());
    assert_eq!(body["user"]["email_verified"], false);
    assert_eq!(body["user"]["has_password"], true);
}

async fn sign_up_answers_201_with_an_auth_response_and_cookies(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = TestUser::generate();

    let response = sign_up(&app, &user.email, &user.password).await;

    assert_eq!(response.status, 201, "{}", response.text);
    assert_auth_response(&response, &user.email);
    let access = response
        .set_cookie("__Host-access_token")
        .expect("access cookie");
    assert!(access.contains("HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age="));
    let max_age: i64 = access.rsplit("Max-Age=").next().unwrap().parse().unwrap();
    assert!((890..=900).contains(&max_age), "{access}");
    assert_eq!(
        response.cookie("__Host-refresh_token").as_deref(),
        response.json["refresh_token"].as_str()
    );
}
on_both_backends!(sign_up_answers_201_with_an_auth_response_and_cookies);

async fn sign_in_with_the_right_password_starts_a_new_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = app.signed_up().await;

    let response = sign_in(&app, &first.user.email.to_uppercase(), &first.user.password).await;

    assert_eq!(response.status, 200, "{}", response.text);
    assert_auth_response(&response, &first.user.email);
    assert_eq!(response.json["user"]["id"], first.user_id());
    assert_ne!(response.json["refresh_token"], first.refresh_token());
}
on_both_backends!(sign_in_with_the_right_password_starts_a_new_session);

async fn refresh_answers_new_tokens_and_retires_the_old_refresh_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let session = app.signed_up().await;

    let refreshed = app.refresh(session.refresh_token()).await;

    assert_eq!(refreshed.status, 200, "{}", refreshed.text);
    assert_auth_response(&refreshed, &session.user.email);
    assert_ne!(refreshed.json["refresh_token"], session.refresh_token());
    let validate = app
        .with_bearer(
            Method::GET,
            "/auth/validate",
            refreshed.json["access_token"].as_str().unwrap(),
            None,
        )
        .await;
    assert_eq!(validate.status, 200, "{}", validate.text);
}
on_both_backends!(refresh_answers_new_tokens_and_retires_the_old_refresh_token);

// Reuse after the grace, and concurrent reuse within it: tests/api/races.rs.

async fn logout_revokes_the_session_and_clears_the_cookies(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let session = app.signed_up().await;

    let response = app
        .with_bearer(Method::POST, "/auth/logout", session.access_token(), None)
        .await;

    assert_eq!(response.status, 200, "{}", response.text);
    assert_eq!(
        response.json,
        json!({"success": true, "message": "Logged out successfully"})
    );
    assert!(
        response
            .set_cookie("__Host-access_token")
            .unwrap()
            .contains("Max-Age=0")
    );
    assert!(
        response
            .set_cookie("__Host-refresh_token")
            .unwrap()
            .contains("Max-Age=0")
    );
    app.with_bearer(Method::GET, "/auth/validate", session.access_token(), None)
        .await
        .assert_error(401, "invalid_token");
    app.refresh(session.refresh_token())
        .await
        .assert_error(401, "invalid_token");
}
on_both_backends!(logout_revokes_the_session_and_clears_the_cookies);

async fn ten_concurrent_sign_ups_with_one_email_give_one_201_and_nine_409s(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = TestUser::generate();

    let responses = join_all((0..10).map(|i| {
        let email = if i % 2 == 0 {
            user.email.clone()
        } else {
            user.email.to_uppercase()
        };
        let app = &app;
        let password = user.password.clone();
        async move { sign_up(app, &email, &password).await }
    }))
    .await;

    let created = responses.iter().filter(|r| r.status == 201).count();
    assert_eq!(
        created,
        1,
        "{:?}",
        responses.iter().map(|r| &r.text).collect::<Vec<_>>()
    );
    for response in responses.iter().filter(|r| r.status != 201) {
        response.assert_error(409, "email_taken");
    }
}
on_both_backends!(ten_concurrent_sign_ups_with_one_email_give_one_201_and_nine_409s);

#[tokio::test]
async fn the_register_login_and_users_logout_aliases_serve_the_same_flow() {
    let app = TestApp::spawn(Backend::Embedded).await;
    let user = TestUser::generate();

    let registered = app.post("/auth/register", &user.sign_up_body()).await;
    let logged_in = app.post("/auth/login", &user.sign_in_body()).await;
    let token = logged_in.json["access_token"].as_str().unwrap_or_default();
    let logged_out = app
        .with_bearer(Method::POST, "/users/logout", token, None)
        .await;

    assert_eq!(registered.status, 201, "{}", registered.text);
    assert_eq!(logged_in.status, 200, "{}", logged_in.text);
    assert_eq!(logged_out.status, 200, "{}", logged_out.text);
}

#[tokio::test]
async fn sign_up_with_a_taken_email_in_another_case_answers_409_email_taken() {
    let app = TestApp::spawn(Backend::Embedded).await;
    let first = app.signed_up().await;

    let again = sign_up(
        &app,
        &format!("  {}  ", first.user.email.to_uppercase()),
        &first.user.password,
    )
    .await;

    again.assert_error(409, "email_taken");
}

#[tokio::test]
async fn sign_up_keeps_the_email_as_given_but_trimmed() {
    let app = TestApp::spawn(Backend::Embedded).await;
    let user = TestUser::generate();
    let given = user.email.replacen("user", "User", 1);

    let response = sign_up(&app, &format!(" {given} "), &user.password).await;

    assert_eq!(response.json["user"]["email"], given.as_str());
}

#[tokio::test]
async fn a_weak_password_is_refused_with_400_weak_password_and_a_reason() {
    let app = TestApp::spawn(Backend::Embedded).await;

    let short = sign_up(&app, "weak@example.com", "Xq7#p").await;
    let common = sign_up(&app, "weak@example.com", "password1234").await;

    short.assert_error(400, "weak_password");
    assert!(
        short.json["message"]
            .as_str()
            .unwrap()
            .contains("at least 10")
    );
    common.assert_error(400, "weak_password");
    assert!(
        common.json["message"]
            .as_str()
            .unwrap()
            .contains("too easy to guess")
    );
}

#[tokio::test]
async fn an_invalid_email_is_refused_naming_the_field() {
    let app = TestApp::spawn(Backend::Embedded).await;

    let response = sign_up(&app, "not-an-email", "Velvet-orbit-42-tangerine").await;

    response.assert_error(400, "invalid_request");
    assert_eq!(response.json["field"], "email");
}

#[tokio::test]
async fn a_body_without_the_password_is_a_400_naming_the_field() {
    let app = TestApp::spawn(Backend::Embedded).await;

    let response = app
        .post("/auth/sign-in", &json!({"email": "a@example.com"}))
        .await;

    response.assert_error(400, "invalid_request");
    assert_eq!(response.json["field"], "password");
}

#[tokio::test]
async fn malformed_json_is_a_400() {
    let app = TestApp::spawn(Backend::Embedded).await;
    let request = http::Request::post("/auth/sign-up")
        .header("content-type", "application/json")
        .body(axum::body::Body::from("{\"email\": \"a@example.com\", "))
        .unwrap();

    app.send(request).await.assert_error(400, "invalid_request");
}

#[tokio::test]
async fn a_wrongly_typed_field_is_a_400_naming_it() {
    let app = TestApp::spawn(Backend::Embedded).await;

    let response = app
        .post("/auth/sign-up", &json!({"email": 5, "password": "x"}))
        .await;

    response.assert_error(400, "invalid_request");
    assert_eq!(response.json["field"], "email");
}

#[tokio::test]
async fn a_text_plain_body_is_a_415() {
    let app = TestApp::spawn(Backend::Embedded).await;
    let request = http::Request::post("/auth/sign-in")
        .header("content-type", "text/plain")
        .body(axum::body::Body::from("email=a@example.com"))
        .unwrap();

    app.send(request)
        .await
        .assert_error(415, "unsupported_media_type");
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_email_get_identical_answers() {
    let app = TestApp::spawn(Backend::Embedded).await;
    let known = app.signed_up().await;

    let wrong_password = sign_in(&app, &known.user.email, "Wrong-password-123-xyz").await;
    let unknown_email = sign_in(&app, "nobody-here@example.com", "Wrong-password-123-xyz").await;

    wrong_password.assert_error(401, "invalid_credentials");
    assert_eq!(wrong_password.status, unknown_email.status);
    let strip = |mut body: serde_json::Value| {
        body.as_object_mut().unwrap().remove("timestamp");
        body
    };
    assert_eq!(
        strip(wrong_password.json.clone()),
        strip(unknown_email.json.clone())
    );
    assert_eq!(
        wrong_password.headers.get("set-cookie"),
        unknown_email.headers.get("set-cookie")
    );
}

#[tokio::test]
async fn repeated_sign_in_failures_for_one_account_answer_429_with_retry_after() {
    let app = TestApp::spawn(Backend::Embedded).await;
    let known = app.signed_up().await;
    for _ in 0..10 {
        sign_in(&app, &known.user.email, "Wrong-password-123-xyz")
            .await
            .assert_error(401, "invalid_credentials");
    }

    let limited = sign_in(&app, &known.user.email, &known.user.password).await;

    limited.assert_error(429, "rate_limited");
    let retry_after: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=900).contains(&retry_after), "{retry_after}");
}

#[tokio::test]
async fn unknown_emails_are_rate_limited_exactly_like_known_ones() {
    let app = TestApp::spawn(Backend::Embedded).await;
    for _ in 0..10 {
        sign_in(&app, "ghost@example.com", "Wrong-password-123-xyz").await;
    }

    sign_in(&app, "ghost@example.com", "Wrong-password-123-xyz")
        .await
        .assert_error(429, "rate_limited");
}

#[tokio::test]
async fn the_refresh_cookie_works_only_with_a_csrf_token() {
    let app = TestApp::spawn(Backend::Embedded).await;
    let session = app.signed_up().await;
    let refresh_cookie = format!("__Host-refresh_token={}", session.refresh_token());
    let csrf = app.get("/auth/csrf/token").await;
    let csrf_cookie = format!("__Host-csrf={}", csrf.cookie("__Host-csrf").unwrap());
    let token = csrf.json["csrf_token"].as_str().unwrap();

    let without = app
        .request(
            Method::POST,
            "/auth/refresh",
            None,
            &[("cookie", &refresh_cookie)],
        )
        .await;
    let cookies = format!("{refresh_cookie}; {csrf_cookie}");
    let with = app
        .request(
            Method::POST,
            "/auth/refresh",
            None,
            &[("cookie", &cookies), ("x-csrf-token", token)],
        )
        .await;

    without.assert_error(403, "csrf_failed");
    assert_eq!(with.status, 200, "{}", with.text);
    assert!(with.set_cookie("__Host-refresh_token").is_some());
}

#[tokio::test]
async fn refresh_without_any_token_names_the_field() {
    let app = TestApp::spawn(Backend::Embedded).await;

    let response = app.post("/auth/refresh", &json!({})).await;

    response.assert_error(400, "invalid_request");
    assert_eq!(response.json["field"], "refresh_token");
}

#[tokio::test]
async fn an_unknown_refresh_token_is_refused() {
    let app = TestApp::spawn(Backend::Embedded).await;

    app.refresh("not-a-token")
        .await
        .assert_error(401, "invalid_token");
}

#[tokio::test]
async fn cookies_can_be_turned_off() {
    let app = TestApp::spawn_with(Backend::Embedded, |c| c.cookies = false).await;
    let user = TestUser::generate();

    let response = sign_up(&app, &user.email, &user.password).await;

    assert_eq!(response.status, 201);
    assert!(response.headers.get("set-cookie").is_none());
}

async fn a_profile_change_made_here_shows_at_once_despite_the_validate_cache(backend: Backend) {
    use latchkey::domain::users::UserUpdate;
    use latchkey::services::{profiles, users};
    let app = TestApp::spawn(backend).await;
    let session = app.signed_up().await;
    let validated = app
        .with_bearer(Method::GET, "/auth/validate", session.access_token(), None)
        .await;
    assert_eq!(validated.status, 200, "{}", validated.text);
    let cached = profiles::profile(&app.state, &session.user())
        .await
        .unwrap();
    assert!(!cached.user.email_verified);

    users::update(&app.state, &cached.user, UserUpdate::new().email_verified())
        .await
        .unwrap();

    let fresh = profiles::profile(&app.state, &session.user())
        .await
        .unwrap();
    assert!(fresh.user.email_verified, "the cached profile was dropped");
    assert_eq!(fresh.memberships, cached.memberships);
}
on_both_backends!(a_profile_change_made_here_shows_at_once_despite_the_validate_cache);
