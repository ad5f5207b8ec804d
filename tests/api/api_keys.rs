//! The api-keys group on both backends: keys minted, used as Bearer and `X-API-Key`, listed
//! without the secret, revoked and expired (401 at once), scope refusals, another user's id,
//! keys in a query string; and an administrator's plan change reaching refresh and keys.
//! The helpers here (`gated_app`, `promote`, `mint`) serve the gate tests too.

use http::Method;
use latchkey::domain::users::UserUpdate;
use latchkey::services::users;
use latchkey_tests::on_both_backends;
use latchkey_tests::{Backend, SignedIn, TestApp, TestResponse};
use serde_json::{Value, json};

pub const ADMIN_EMAIL: &str = "admin@latchkey.test";
pub const GATES: &str = r#"{"GET /reports/*": {"plan": "business"}, "POST /analytics": {"feature": "advanced_analytics"}}"#;
pub const PLAN_FEATURES: &str = r#"{"business": ["advanced_analytics"], "enterprise": ["sso"]}"#;

/// An app with the test gates, plan features and one administrator.
pub async fn gated_app(backend: Backend) -> TestApp {
    TestApp::spawn_with(backend, |config| {
        config.admin_emails = vec![ADMIN_EMAIL.to_owned()];
        config.gates = latchkey::domain::gates::Gates::parse(GATES).unwrap();
        config.plan_features = latchkey::domain::plans::PlanFeatures::parse(PLAN_FEATURES).unwrap();
    })
    .await
}

/// The administrator's access token: signed up, address marked verified (as the emailed link
/// would), signed in again.
pub async fn admin_token(app: &TestApp) -> String {
    let password = "Velvet-orbit-admin-tangerine";
    let response = latchkey_tests::sign_up(app, ADMIN_EMAIL, password).await;
    assert_eq!(response.status, 201, "{}", response.text);
    let user_id = response.json["user"]["id"].as_str().unwrap().to_owned();
    let user_id = latchkey::domain::ids::UserId::parse(&user_id).unwrap();
    let user = users::require(&app.state, &user_id).await.unwrap();
    users::update(&app.state, &user, UserUpdate::new().email_verified())
        .await
        .unwrap();
    let response = latchkey_tests::sign_in(app, ADMIN_EMAIL, password).await;
    assert_eq!(response.status, 200, "{}", response.text);
    response.json["access_token"].as_str().unwrap().to_owned()
}

/// `PUT /admin/users/{id}/plan` as the administrator.
pub async fn promote(app: &TestApp, admin: &str, user_id: &str, body: Value) -> TestResponse {
    app.with_bearer(
        Method::PUT,
        &format!("/admin/users/{user_id}/plan"),
        admin,
        Some(&body),
    )
    .await
}

/// Mint a key for the session; panics unless it answers 200.
pub async fn mint(app: &TestApp, session: &SignedIn, body: Value) -> TestResponse {
    let response = app
        .with_bearer(
            Method::POST,
            "/auth/api-keys",
            session.access_token(),
            Some(&body),
        )
        .await;
    assert_eq!(response.status, 200, "{}", response.text);
    response
}

pub fn key_of(response: &TestResponse) -> String {
    response.json["apiKey"].as_str().expect("apiKey").to_owned()
}

async fn me_with_x_api_key(app: &TestApp, key: &str) -> TestResponse {
    app.request(Method::GET, "/auth/me", None, &[("x-api-key", key)])
        .await
}

on_both_backends!(a_key_is_shown_once_works_as_bearer_and_x_api_key_and_lists_without_the_secret);
async fn a_key_is_shown_once_works_as_bearer_and_x_api_key_and_lists_without_the_secret(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let session = app.signed_up().await;

    let created = mint(&app, &session, json!({"name": "CI"})).await;
    let key = key_of(&created);
    assert!(
        key.starts_with("agnt_sk_") && key.len() >= "agnt_sk_".len() + 22,
        "{key}"
    );
    assert_eq!(created.json["success"], true);
    assert_eq!(created.json["name"], "CI");
    assert!(key.starts_with(created.json["prefix"].as_str().unwrap()));
    assert!(created.json["created_at"].as_str().unwrap().ends_with('Z'));
    assert!(created.json["expires_at"].is_null());

    let by_bearer = app.with_bearer(Method::GET, "/auth/me", &key, None).await;
    assert_eq!(by_bearer.status, 200, "{}", by_bearer.text);
    assert_eq!(by_bearer.json["user"]["id"], session.user_id());
    let by_header = me_with_x_api_key(&app, &key).await;
    assert_eq!(by_header.status, 200, "{}", by_header.text);
    let status = app
        .with_bearer(Method::GET, "/users/auth/status", &key, None)
        .await;
    assert_eq!(
        status.json["user"]["auth_type"], "api-key",
        "{}",
        status.text
    );

    let listed = app
        .with_bearer(Method::GET, "/auth/api-keys", session.access_token(), None)
        .await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    let keys = listed.json["apiKeys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["id"], created.json["id"]);
    assert!(keys[0]["last_used_at"].as_str().unwrap().ends_with('Z'));
    assert!(!listed.text.contains(&key), "the list shows the secret");
    // Stored only as a hash: the secret is nowhere in the table.
    let item = app
        .state
        .table
        .query_gsi1(&format!("USER#{}", session.user_id()), "APIKEY#")
        .await
        .unwrap();
    assert!(!serde_json::to_string(&item).unwrap().contains(&key));
}

on_both_backends!(a_revoked_key_answers_401_at_once_and_another_users_id_404);
async fn a_revoked_key_answers_401_at_once_and_another_users_id_404(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.signed_up().await;
    let stranger = app.signed_up().await;
    let created = mint(&app, &owner, json!({})).await;
    let key = key_of(&created);
    let path = format!("/auth/api-keys/{}", created.json["id"].as_str().unwrap());

    app.with_bearer(Method::DELETE, &path, stranger.access_token(), None)
        .await
        .assert_error(404, "not_found");
    assert_eq!(me_with_x_api_key(&app, &key).await.status, 200);

    let revoked = app
        .with_bearer(Method::DELETE, &path, owner.access_token(), None)
        .await;
    assert_eq!(revoked.status, 200, "{}", revoked.text);
    me_with_x_api_key(&app, &key)
        .await
        .assert_error(401, "invalid_token");
    app.with_bearer(Method::GET, "/auth/me", &key, None)
        .await
        .assert_error(401, "invalid_token");
    app.with_bearer(Method::DELETE, &path, owner.access_token(), None)
        .await
        .assert_error(404, "not_found");
}

on_both_backends!(an_expired_key_answers_401);
async fn an_expired_key_answers_401(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let session = app.signed_up().await;
    let soon = time::OffsetDateTime::now_utc() + time::Duration::seconds(2);
    let soon = soon
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let key = key_of(&mint(&app, &session, json!({"expires_at": soon})).await);
    assert_eq!(me_with_x_api_key(&app, &key).await.status, 200);

    tokio::time::sleep(std::time::Duration::from_millis(3100)).await;

    me_with_x_api_key(&app, &key)
        .await
        .assert_error(401, "invalid_token");
}

on_both_backends!(a_key_cannot_mint_keys_or_change_the_password_and_a_read_key_cannot_write);
async fn a_key_cannot_mint_keys_or_change_the_password_and_a_read_key_cannot_write(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let session = app.signed_up().await;
    let key = key_of(&mint(&app, &session, json!({})).await);
    let read_only = key_of(&mint(&app, &session, json!({"scopes": ["read"]})).await);

    app.with_bearer(Method::POST, "/auth/api-keys", &key, Some(&json!({})))
        .await
        .assert_error(403, "insufficient_scope");
    app.request(
        Method::POST,
        "/users/generate-api-key",
        None,
        &[("x-api-key", &key)],
    )
    .await
    .assert_error(403, "insufficient_scope");
    let change = json!({"current_password": session.user.password, "new_password": "Another-long-passphrase-42"});
    app.with_bearer(Method::POST, "/auth/password", &key, Some(&change))
        .await
        .assert_error(403, "insufficient_scope");

    assert_eq!(me_with_x_api_key(&app, &read_only).await.status, 200);
    app.with_bearer(Method::POST, "/auth/logout", &read_only, None)
        .await
        .assert_error(403, "insufficient_scope");
}

#[tokio::test]
async fn a_key_in_a_query_string_is_refused() {
    let app = TestApp::spawn(Backend::Embedded).await;
    let session = app.signed_up().await;
    let key = key_of(&mint(&app, &session, json!({})).await);

    app.get(&format!("/auth/me?api_key={key}"))
        .await
        .assert_error(401, "invalid_token");
    // Even beside a valid header: the key has leaked into a URL.
    app.request(
        Method::GET,
        &format!("/auth/me?apiKey={key}"),
        None,
        &[("x-api-key", &key)],
    )
    .await
    .assert_error(401, "invalid_token");
}

#[tokio::test]
async fn bad_key_requests_answer_400_naming_the_field() {
    let app = TestApp::spawn(Backend::Embedded).await;
    let session = app.signed_up().await;
    for (body, field) in [
        (json!({"scopes": []}), "scopes"),
        (json!({"scopes": ["Not A Scope"]}), "scopes"),
        (json!({"expires_at": "tomorrow"}), "expires_at"),
        (json!({"expires_at": "2001-01-01T00:00:00Z"}), "expires_at"),
    ] {
        let response = app
            .with_bearer(
                Method::POST,
                "/auth/api-keys",
                session.access_token(),
                Some(&body),
            )
            .await;
        response.assert_error(400, "invalid_request");
        assert_eq!(response.json["field"], field, "{}", response.text);
    }
}

#[tokio::test]
async fn last_used_at_is_written_at_most_once_a_minute() {
    let counts = std::sync::Arc::new(latchkey_tests::counting::Counts::default());
    let counted = counts.clone();
    let app = TestApp::spawn_wrapping(
        Backend::Embedded,
        |_| {},
        move |table| {
            std::sync::Arc::new(latchkey_tests::counting::CountingTable::new(table, counted))
        },
    )
    .await;
    let session = app.signed_up().await;
    let key = key_of(&mint(&app, &session, json!({})).await);
    let headers = [
        ("x-api-key", key.as_str()),
        ("x-forwarded-method", "GET"),
        ("x-forwarded-uri", "/x"),
    ];
    let check = || app.request(Method::GET, "/auth/check", None, &headers);
    // The first use writes last_used_at (and fills this instance's profile cache, which the
    // gate check's workspace-membership test reads from).
    assert_eq!(check().await.status, 200);

    counts.reset();
    let response = check().await;

    assert_eq!(response.status, 200, "{}", response.text);
    assert_eq!(
        counts.calls(),
        vec!["get"],
        "one read, no write within the minute"
    );
}

on_both_backends!(a_plan_change_reaches_the_next_refresh_and_the_users_keys);
async fn a_plan_change_reaches_the_next_refresh_and_the_users_keys(backend: Backend) {
    let app = gated_app(backend).await;
    let admin = admin_token(&app).await;
    let session = app.signed_up().await;
    let key = key_of(&mint(&app, &session, json!({})).await);
    let claims = latchkey::services::tokens::verify(&app.state, session.access_token())
        .await
        .unwrap();
    assert_eq!(claims.plan, "free");

    let changed = promote(
        &app,
        &admin,
        session.user_id(),
        json!({"plan": "business", "features": ["beta"]}),
    )
    .await;
    assert_eq!(changed.status, 200, "{}", changed.text);
    assert_eq!(changed.json["plan"], "business");
    assert_eq!(
        changed.json["features"],
        json!(["advanced_analytics", "beta"])
    );

    let refreshed = app.refresh(session.refresh_token()).await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.text);
    let token = refreshed.json["access_token"].as_str().unwrap();
    let claims = latchkey::services::tokens::verify(&app.state, token)
        .await
        .unwrap();
    assert_eq!(claims.plan, "business");
    assert_eq!(claims.features, vec!["advanced_analytics", "beta"]);

    let check = app
        .request(
            Method::GET,
            "/auth/check",
            None,
            &[
                ("x-api-key", &key),
                ("x-forwarded-method", "GET"),
                ("x-forwarded-uri", "/reports/1"),
            ],
        )
        .await;
    assert_eq!(check.status, 200, "{}", check.text);
    assert_eq!(check.json["plan"], "business");
}

#[tokio::test]
async fn only_verified_administrators_change_plans_and_bad_plans_answer_400() {
    let app = gated_app(Backend::Embedded).await;
    let user = app.signed_up().await;
    promote(
        &app,
        user.access_token(),
        user.user_id(),
        json!({"plan": "enterprise"}),
    )
    .await
    .assert_error(403, "forbidden");
    // The administrator's address, not yet verified, is not enough.
    let response = latchkey_tests::sign_up(&app, ADMIN_EMAIL, "Velvet-orbit-admin-tangerine").await;
    let unverified = response.json["access_token"].as_str().unwrap();
    promote(
        &app,
        unverified,
        user.user_id(),
        json!({"plan": "enterprise"}),
    )
    .await
    .assert_error(403, "forbidden");

    let admin = admin_token_for_existing(&app).await;
    let bad = promote(&app, &admin, user.user_id(), json!({"plan": "gold"})).await;
    bad.assert_error(400, "invalid_request");
    assert!(
        bad.json["message"].as_str().unwrap().contains("plan"),
        "{}",
        bad.text
    );
    promote(
        &app,
        &admin,
        "00000000-0000-4000-8000-000000000000",
        json!({"plan": "business"}),
    )
    .await
    .assert_error(404, "not_found");
}

/// The administrator already signed up: verify and sign in.
async fn admin_token_for_existing(app: &TestApp) -> String {
    let claim = app
        .state
        .table
        .get(&latchkey::domain::keys::email_claim(ADMIN_EMAIL))
        .await
        .unwrap()
        .unwrap();
    let user_id = latchkey::domain::ids::UserId::parse(claim["user_id"].as_str().unwrap()).unwrap();
    let user = users::require(&app.state, &user_id).await.unwrap();
    users::update(&app.state, &user, UserUpdate::new().email_verified())
        .await
        .unwrap();
    let response = latchkey_tests::sign_in(app, ADMIN_EMAIL, "Velvet-orbit-admin-tangerine").await;
    response.json["access_token"].as_str().unwrap().to_owned()
}

/// The budgets of issue 12: the gate check costs the session read with a JWT and the key read
/// with an API key, nothing more.
#[tokio::test]
async fn gate_check_round_trips() {
    let counts = std::sync::Arc::new(latchkey_tests::counting::Counts::default());
    let counted = counts.clone();
    let app = TestApp::spawn_wrapping(
        Backend::Embedded,
        |_| {},
        move |table| {
            std::sync::Arc::new(latchkey_tests::counting::CountingTable::new(table, counted))
        },
    )
    .await;
    let session = app.signed_up().await;
    let key = key_of(&mint(&app, &session, json!({})).await);
    let bearer = format!("Bearer {}", session.access_token());
    for credential in [
        ("authorization", bearer.as_str()),
        ("x-api-key", key.as_str()),
    ] {
        // Warm: signing keys cached, the key's last_used_at recorded.
        let guarded = [
            credential,
            ("x-forwarded-method", "GET"),
            ("x-forwarded-uri", "/x"),
        ];
        app.request(Method::GET, "/auth/check", None, &guarded)
            .await;
        counts.reset();
        let response = app
            .request(Method::GET, "/auth/check", None, &guarded)
            .await;
        assert_eq!(response.status, 200, "{}", response.text);
        assert_eq!(
            counts.round_trips(),
            1,
            "{:?}: {:?}",
            credential.0,
            counts.calls()
        );
    }
}
