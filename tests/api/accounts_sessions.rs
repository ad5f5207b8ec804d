//! The caller's view: validate, me, status, sessions, password change, and how `Caller` treats
//! credentials (Bearer, API key, cookie + CSRF).

use http::Method;
use latchkey_tests::{Backend, TestApp, sign_in};
use serde_json::json;

#[tokio::test]
async fn validate_answers_the_user_and_their_personal_workspace() {
    let app = TestApp::spawn(Backend::Embedded).await;
    let session = app.signed_up().await;

    let response = app
        .with_bearer(Method::GET, "/auth/validate", session.access_token(), None)
        .await;

    assert_eq!(response.status, 200, "{}", response.text);
    assert_eq!(response.json["status"], "valid");
    assert_eq!(response.json["user"]["id"], session.user_id());
    assert_eq!(response.json["user"]["email"], session.user.email.as_str());
    assert_eq!(response.json["user"]["name"], "Test User");
    assert_eq!(response.json["user"]["has_password"], true);
    let workspaces = response.json["workspaces"].as_array().unwrap();
    assert_eq!(workspaces.len(), 1);
    assert_eq!(
        workspaces[0]["id"],
        session.response.json["user"]["organization_id"]
    );
    assert_eq!(workspaces[0]["role"], "owner");
    assert!(workspaces[0]["created_at"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test]
async fn me_answers_the_profile_emails_memberships_and_factors() {
    let app = TestApp::spawn(Backend::Embedded).await;
    let session = app.signed_up().await;

    let response = app
        .with_bearer(Method::GET, "/auth/me", session.access_token(), None)
        .await;

    assert_eq!(response.status, 200, "{}", response.text);
    assert_eq!(response.json["user"]["id"], session.user_id());
    assert_eq!(
        response.json["emails"],
        json!([{"email": session.user.email, "verified": false, "primary": true}])
    );
    assert_eq!(response.json["memberships"][0]["role"], "owner");
    assert_eq!(response.json["identities"], json!([]));
    assert_eq!(response.json["mfa"]["enabled"], false);
    assert_eq!(response.json["passkeys"]["count"], 0);
}

#[tokio::test]
async fn auth_status_says_who_is_signed_in() {
    let app = TestApp::spawn(Backend::Embedded).await;
    let session = app.signed_up().await;

    let response = app
        .with_bearer(
            Method::GET,
            "/users/auth/status",
            session.access_token(),
            None,
        )
        .await;

    assert_eq!(response.status, 200);
    assert_eq!(
        response.json,
        json!({"isAuthenticated": true, "user": {"id": session.user_id(), "email": session.user.email, "auth_type": "password"}})
    );
}

#[tokio::test]
async fn auth_status_answers_200_unauthenticated_without_or_with_a_bad_token() {
    let app = TestApp::spawn(Backend::Embedded).await;

    let missing = app.get("/users/auth/status").await;
    let invalid = app
        .with_bearer(Method::GET, "/users/auth/status", "not.a.jwt", None)
        .await;

    for response in [missing, invalid] {
        assert_eq!(response.status, 200);
        assert_eq!(response.json, json!({"isAuthenticated": false}));
    }
}

#[tokio::test]
async fn missing_credentials_are_401_authentication_required() {
    let app = TestApp::spawn(Backend::Embedded).await;

    app.get("/auth/me")
        .await
        .assert_error(401, "authentication_required");
}

#[tokio::test]
async fn a_forged_token_or_a_non_bearer_scheme_is_401_invalid_token() {
    let app = TestApp::spawn(Backend::Embedded).await;

    app.with_bearer(Method::GET, "/auth/me", "eyJhbGciOiJub25lIn0.e30.", None)
        .await
        .assert_error(401, "invalid_token");
    app.request(
        Method::GET,
        "/auth/me",
        None,
        &[("authorization", "Basic dXNlcjpwYXNz")],
    )
    .await
    .assert_error(401, "invalid_token");
}

#[tokio::test]
async fn unknown_api_keys_are_refused_as_invalid_tokens() {
    let app = TestApp::spawn(Backend::Embedded).await;

    app.with_bearer(Method::GET, "/auth/me", "agnt_sk_0123456789abcdef", None)
        .await
        .assert_error(401, "invalid_token");
    app.request(
        Method::GET,
        "/auth/me",
        None,
        &[("x-api-key", "agnt_sk_0123456789abcdef")],
    )
    .await
    .assert_error(401, "invalid_token");
}

#[tokio::test]
async fn the_access_cookie_authenticates_reads_without_csrf() {
    let app = TestApp::spawn(Backend::Embedded).await;
    let session = app.signed_up().await;
    let cookie = format!("__Host-access_token={}", session.access_token());

    let response = app
        .request(Method::GET, "/auth/me", None, &[("cookie", &cookie)])
        .await;

    assert_eq!(response.status, 200, "{}", response.text);
}

#[tokio::test]
async fn a_cookie_authenticated_post_needs_the_csrf_token_and_bearer_does_not() {
    let app = TestApp::spawn(Backend::Embedded).await;
    let session = app.signed_up().await;
    let access = format!("__Host-access_token={}", session.access_token());
    let csrf = app.get("/auth/csrf/token").await;
    let cookies = format!(
        "{access}; __Host-csrf={}",
        csrf.cookie("__Host-csrf").unwrap()
    );
    let token = csrf.json["csrf_token"].as_str().unwrap();

    let without = app
        .request(Method::POST, "/auth/logout", None, &[("cookie", &cookies)])
        .await;
    let wrong = app
        .request(
            Method::POST,
            "/auth/logout",
            None,
            &[("cookie", &cookies), ("x-csrf-token", "nope")],
        )
        .await;
    let bearer = app
        .with_bearer(Method::GET, "/auth/sessions", session.access_token(), None)
        .await;
    let with = app
        .request(
            Method::POST,
            "/auth/logout",
            None,
            &[("cookie", &cookies), ("x-csrf-token", token)],
        )
        .await;

    without.assert_error(403, "csrf_failed");
    wrong.assert_error(403, "csrf_failed");
    assert_eq!(bearer.status, 200);
    assert_eq!(with.status, 200, "{}", with.text);
}

#[tokio::test]
async fn a_bearer_post_needs_no_csrf_token() {
    let app = TestApp::spawn(Backend::Embedded).await;
    let session = app.signed_up().await;

    let response = app
        .with_bearer(Method::POST, "/auth/logout", session.access_token(), None)
        .await;

    assert_eq!(response.status, 200, "{}", response.text);
}

#[tokio::test]
async fn sessions_are_listed_with_the_current_one_flagged() {
    let app = TestApp::spawn(Backend::Embedded).await;
    let first = app.signed_up().await;
    let second = app.signed_in(&first.user).await;

    let response = app
        .with_bearer(Method::GET, "/auth/sessions", second.access_token(), None)
        .await;

    let sessions = response.json["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "{}", response.text);
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);
    assert_eq!(sessions[0]["ip"], "unknown");
    assert!(sessions[0]["created_at"].is_string() && sessions[0]["last_used_at"].is_string());
}

#[tokio::test]
async fn a_session_records_the_user_agent() {
    let app = TestApp::spawn(Backend::Embedded).await;
    let user = latchkey_tests::TestUser::generate();
    let signed_up = app
        .request(
            Method::POST,
            "/auth/sign-up",
            Some(&user.sign_up_body()),
            &[("user-agent", "latchkey-test/1.0")],
        )
        .await;

    let token = signed_up.json["access_token"].as_str().unwrap();
    let response = app
        .with_bearer(Method::GET, "/auth/sessions", token, None)
        .await;

    assert_eq!(
        response.json["sessions"][0]["user_agent"],
        "latchkey-test/1.0"
    );
}

#[tokio::test]
async fn a_revoked_sessions_access_and_refresh_tokens_stop_working_at_once() {
    let app = TestApp::spawn(Backend::Embedded).await;
    let first = app.signed_up().await;
    let second = app.signed_in(&first.user).await;
    let sessions = app
        .with_bearer(Method::GET, "/auth/sessions", second.access_token(), None)
        .await;
    let first_id = sessions.json["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == false)
        .and_then(|s| s["id"].as_str())
        .unwrap()
        .to_owned();

    let revoked = app
        .with_bearer(
            Method::DELETE,
            &format!("/auth/sessions/{first_id}"),
            second.access_token(),
            None,
        )
        .await;

    assert_eq!(revoked.status, 200, "{}", revoked.text);
    app.with_bearer(Method::GET, "/auth/validate", first.access_token(), None)
        .await
        .assert_error(401, "invalid_token");
    app.refresh(first.refresh_token())
        .await
        .assert_error(401, "invalid_token");
    let still = app
        .with_bearer(Method::GET, "/auth/validate", second.access_token(), None)
        .await;
    assert_eq!(still.status, 200);
}

#[tokio::test]
async fn another_users_session_id_answers_404() {
    let app = TestApp::spawn(Backend::Embedded).await;
    let alice = app.signed_up().await;
    let bob = app.signed_up().await;
    let bobs = app
        .with_bearer(Method::GET, "/auth/sessions", bob.access_token(), None)
        .await;
    let bob_session = bobs.json["sessions"][0]["id"].as_str().unwrap().to_owned();

    let response = app
        .with_bearer(
            Method::DELETE,
            &format!("/auth/sessions/{bob_session}"),
            alice.access_token(),
            None,
        )
        .await;

    response.assert_error(404, "not_found");
    let bob_still = app
        .with_bearer(Method::GET, "/auth/me", bob.access_token(), None)
        .await;
    assert_eq!(bob_still.status, 200);
}

#[tokio::test]
async fn a_malformed_session_id_answers_404() {
    let app = TestApp::spawn(Backend::Embedded).await;
    let session = app.signed_up().await;

    app.with_bearer(
        Method::DELETE,
        "/auth/sessions/not-a-uuid",
        session.access_token(),
        None,
    )
    .await
    .assert_error(404, "not_found");
}

#[tokio::test]
async fn changing_the_password_revokes_every_other_session() {
    let app = TestApp::spawn(Backend::Embedded).await;
    let first = app.signed_up().await;
    let second = app.signed_in(&first.user).await;
    let new_password = "Quartz-lantern-88-meadow";
    let body = json!({"current_password": first.user.password, "new_password": new_password});

    let response = app
        .with_bearer(
            Method::POST,
            "/auth/password",
            second.access_token(),
            Some(&body),
        )
        .await;

    assert_eq!(response.status, 200, "{}", response.text);
    assert_eq!(response.json["revoked_sessions"], 1);
    app.with_bearer(Method::GET, "/auth/me", first.access_token(), None)
        .await
        .assert_error(401, "invalid_token");
    app.refresh(first.refresh_token())
        .await
        .assert_error(401, "invalid_token");
    let current = app
        .with_bearer(Method::GET, "/auth/me", second.access_token(), None)
        .await;
    assert_eq!(current.status, 200);
    sign_in(&app, &first.user.email, &first.user.password)
        .await
        .assert_error(401, "invalid_credentials");
    assert_eq!(
        sign_in(&app, &first.user.email, new_password).await.status,
        200
    );
}

#[tokio::test]
async fn changing_the_password_needs_the_current_one_and_a_strong_new_one() {
    let app = TestApp::spawn(Backend::Embedded).await;
    let session = app.signed_up().await;
    let wrong = json!({"current_password": "Not-my-password-77", "new_password": "Quartz-lantern-88-meadow"});
    let weak = json!({"current_password": session.user.password, "new_password": "password"});

    app.with_bearer(
        Method::POST,
        "/auth/password",
        session.access_token(),
        Some(&wrong),
    )
    .await
    .assert_error(401, "invalid_credentials");
    app.with_bearer(
        Method::POST,
        "/auth/password",
        session.access_token(),
        Some(&weak),
    )
    .await
    .assert_error(400, "weak_password");
}
