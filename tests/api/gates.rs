//! The gate check over HTTP (`/auth/check`, on both backends) and the axum gate layers
//! (`require_plan`, `require_feature`) in a tiny app of a platform's own: the same cases the
//! authorizer answers, through the other two doors.

use axum::Router;
use axum::body::Body;
use axum::routing::{get, post};
use http::{Method, Request};
use latchkey::domain::plans::Plan;
use latchkey::http::gates::{require_feature, require_plan};
use latchkey::services::gate::Allowed;
use latchkey_tests::{Backend, TestApp, TestResponse, on_both_backends};
use serde_json::json;
use tower::ServiceExt;

use crate::api_keys::{admin_token, gated_app, key_of, mint, promote};

async fn check(
    app: &TestApp,
    credential: &[(&str, &str)],
    method: &str,
    uri: &str,
) -> TestResponse {
    let mut headers = credential.to_vec();
    headers.push(("x-forwarded-method", method));
    headers.push(("x-forwarded-uri", uri));
    app.request(Method::GET, "/auth/check", None, &headers)
        .await
}

on_both_backends!(the_gate_check_allows_refuses_and_names_the_plan_or_feature);
async fn the_gate_check_allows_refuses_and_names_the_plan_or_feature(backend: Backend) {
    let app = gated_app(backend).await;
    let admin = admin_token(&app).await;
    let free = app.signed_up().await;
    let business = app.signed_up().await;
    let changed = promote(
        &app,
        &admin,
        business.user_id(),
        json!({"plan": "business"}),
    )
    .await;
    assert_eq!(changed.status, 200, "{}", changed.text);
    let business = app.signed_in(&business.user).await;
    let free_bearer = format!("Bearer {}", free.access_token());
    let business_bearer = format!("Bearer {}", business.access_token());

    // No caller; a forged token.
    check(&app, &[], "GET", "/reports/1")
        .await
        .assert_error(401, "authentication_required");
    check(
        &app,
        &[("authorization", "Bearer a.b.c")],
        "GET",
        "/anything",
    )
    .await
    .assert_error(401, "invalid_token");

    // An ungated route needs only a caller; the context comes as body and headers.
    let allowed = check(&app, &[("authorization", &free_bearer)], "GET", "/profile").await;
    assert_eq!(allowed.status, 200, "{}", allowed.text);
    assert_eq!(allowed.json["sub"], free.user_id());
    assert_eq!(allowed.json["plan"], "free");
    assert_eq!(allowed.json["amr"], json!(["pwd"]));
    assert_eq!(allowed.header("x-auth-user"), Some(free.user_id()));
    assert_eq!(allowed.header("x-auth-plan"), Some("free"));
    assert_eq!(
        allowed.header("x-auth-org"),
        free.response.json["user"]["organization_id"].as_str()
    );

    // Seed 001's bodies.
    let refused = check(
        &app,
        &[("authorization", &free_bearer)],
        "GET",
        "/reports/1?x=1",
    )
    .await;
    refused.assert_error(403, "plan_required");
    assert_eq!(refused.json["error"], "Upgrade required");
    assert_eq!(refused.json["currentPlan"], "free");
    assert_eq!(refused.json["requiredPlan"], "business");
    assert_eq!(
        refused.json["message"],
        "This feature requires business plan or higher"
    );
    let refused = check(
        &app,
        &[("authorization", &free_bearer)],
        "POST",
        "/analytics",
    )
    .await;
    refused.assert_error(403, "feature_required");
    assert_eq!(refused.json["error"], "Feature not available");
    assert_eq!(refused.json["requiredFeature"], "advanced_analytics");

    // The business plan passes both (its plan grants the feature).
    for (method, uri) in [("GET", "/reports/1"), ("POST", "/analytics")] {
        let passed = check(&app, &[("authorization", &business_bearer)], method, uri).await;
        assert_eq!(passed.status, 200, "{method} {uri}: {}", passed.text);
        assert_eq!(passed.header("x-auth-features"), Some("advanced_analytics"));
    }

    // nginx's header names work the same.
    let response = app
        .request(
            Method::GET,
            "/auth/check",
            None,
            &[
                ("authorization", &free_bearer),
                ("x-original-method", "GET"),
                ("x-original-uri", "/reports/9"),
            ],
        )
        .await;
    response.assert_error(403, "plan_required");

    // An API key acts as its owner; revoked, it fails at once.
    let created = mint(&app, &business, json!({})).await;
    let key = key_of(&created);
    let passed = check(&app, &[("x-api-key", &key)], "GET", "/reports/1").await;
    assert_eq!(passed.status, 200, "{}", passed.text);
    assert_eq!(passed.json["amr"], json!(["api_key"]));
    let path = format!("/auth/api-keys/{}", created.json["id"].as_str().unwrap());
    let revoked = app
        .with_bearer(Method::DELETE, &path, business.access_token(), None)
        .await;
    assert_eq!(revoked.status, 200);
    check(&app, &[("x-api-key", &key)], "GET", "/reports/1")
        .await
        .assert_error(401, "invalid_token");
}

#[tokio::test]
async fn the_gate_check_without_the_guarded_request_answers_400() {
    let app = gated_app(Backend::Embedded).await;
    let session = app.signed_up().await;
    let bearer = format!("Bearer {}", session.access_token());
    app.request(
        Method::GET,
        "/auth/check",
        None,
        &[("authorization", &bearer)],
    )
    .await
    .assert_error(400, "invalid_request");
    let response = app
        .request(
            Method::POST,
            "/auth/check",
            None,
            &[
                ("authorization", &bearer),
                ("x-forwarded-method", "GET"),
                ("x-forwarded-uri", "reports"),
            ],
        )
        .await;
    response.assert_error(400, "invalid_request");
    assert_eq!(response.json["field"], "X-Forwarded-Uri");
}

/// A platform's own service: reports for business plans, analytics for a feature.
fn platform_app(app: &TestApp) -> Router {
    async fn whoami(axum::Extension(allowed): axum::Extension<Allowed>) -> String {
        allowed.sub
    }
    Router::new()
        .route(
            "/reports",
            get(whoami).layer(require_plan(app.state.clone(), Plan::Business)),
        )
        .route(
            "/analytics",
            post(whoami).layer(require_feature(app.state.clone(), "advanced_analytics")),
        )
}

async fn call(
    router: &Router,
    method: Method,
    path: &str,
    credential: Option<&str>,
) -> TestResponse {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(credential) = credential {
        request = request.header("authorization", format!("Bearer {credential}"));
    }
    let response = router
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    TestResponse::read(response).await
}

#[tokio::test]
async fn the_gate_layers_guard_a_platforms_own_axum_routes() {
    let app = gated_app(Backend::Embedded).await;
    let admin = admin_token(&app).await;
    let free = app.signed_up().await;
    let business = app.signed_up().await;
    promote(
        &app,
        &admin,
        business.user_id(),
        json!({"plan": "business"}),
    )
    .await;
    let business = app.signed_in(&business.user).await;
    let platform = platform_app(&app);

    call(&platform, Method::GET, "/reports", None)
        .await
        .assert_error(401, "authentication_required");
    let refused = call(
        &platform,
        Method::GET,
        "/reports",
        Some(free.access_token()),
    )
    .await;
    refused.assert_error(403, "plan_required");
    assert_eq!(refused.json["requiredPlan"], "business");
    let refused = call(
        &platform,
        Method::POST,
        "/analytics",
        Some(free.access_token()),
    )
    .await;
    refused.assert_error(403, "feature_required");

    let passed = call(
        &platform,
        Method::GET,
        "/reports",
        Some(business.access_token()),
    )
    .await;
    assert_eq!(passed.status, 200, "{}", passed.text);
    assert_eq!(passed.text, business.user_id());
    let key = key_of(&mint(&app, &business, json!({})).await);
    let passed = call(&platform, Method::POST, "/analytics", Some(&key)).await;
    assert_eq!(passed.status, 200, "{}", passed.text);
}
