//! The Lambda path: every API Gateway event in `events/<group>/` is parsed by `lambda_http` (what
//! the runtime does with the payload API Gateway sends) and served by that group's router wrapped
//! exactly as `latchkey::lambda::run` wraps it, on fresh embedded state.
//!
//! Each event file has one expectation below. An expectation names the route the event is for;
//! while that route is not in the group's `ROUTES` yet (its implementation lands later), the event
//! must still parse and get our JSON 404, and the full expectation applies from the moment the
//! route is declared.

use std::collections::BTreeSet;

use http::StatusCode;
use latchkey::AppState;
use latchkey::http::middleware;
use latchkey_tests::{Backend, TestApp, TestResponse};
use serde_json::Value;
use tower::ServiceExt;

use crate::routes;

struct Expectation {
    /// The file under `events/`; its folder names the function.
    file: &'static str,
    /// Events sent first, on the same state (sign up before signing in).
    after: &'static [&'static str],
    /// The (method, axum path) the event is for: an entry of the group's `ROUTES`.
    route: (&'static str, &'static str),
    status: u16,
    body: fn(&TestResponse),
}

const EXPECTATIONS: &[Expectation] = &[
    // well-known
    Expectation {
        file: "well-known/health.json",
        after: &[],
        route: ("GET", "/health"),
        status: 200,
        body: health_is_ok,
    },
    Expectation {
        // A REST API (payload v1) with the stage `prod`: must still reach `/health`.
        file: "well-known/health-rest-v1-prod-stage.json",
        after: &[],
        route: ("GET", "/health"),
        status: 200,
        body: health_is_ok,
    },
    Expectation {
        file: "well-known/jwks.json",
        after: &[],
        route: ("GET", "/.well-known/jwks.json"),
        status: 200,
        body: |response| {
            let keys = response.json["keys"]
                .as_array()
                .expect("`keys` is an array");
            for key in keys {
                assert_eq!(key["kty"], "RSA", "{key}");
                assert_eq!(key["alg"], "RS256", "{key}");
                assert_eq!(key["use"], "sig", "{key}");
                assert!(key["kid"].is_string() && key["n"].is_string() && key["e"].is_string());
            }
        },
    },
    Expectation {
        file: "well-known/openid-configuration.json",
        after: &[],
        route: ("GET", "/.well-known/openid-configuration"),
        status: 200,
        body: |response| {
            assert!(response.json["issuer"].is_string(), "{}", response.text);
            assert!(
                response.json["jwks_uri"]
                    .as_str()
                    .is_some_and(|uri| uri.ends_with("/.well-known/jwks.json")),
                "{}",
                response.text
            );
        },
    },
    Expectation {
        file: "well-known/openapi.json",
        after: &[],
        route: ("GET", "/openapi.json"),
        status: 200,
        body: |response| {
            assert!(
                response.json["openapi"]
                    .as_str()
                    .is_some_and(|v| v.starts_with("3.1")),
                "{}",
                response.text
            );
            assert!(response.json["paths"].is_object(), "{}", response.text);
        },
    },
    // accounts
    Expectation {
        file: "accounts/sign-up.json",
        after: &[],
        route: ("POST", "/auth/sign-up"),
        status: 201,
        body: |response| auth_response_for(response, "ada@example.com"),
    },
    Expectation {
        file: "accounts/register.json",
        after: &[],
        route: ("POST", "/auth/register"),
        status: 201,
        body: |response| auth_response_for(response, "grace@example.com"),
    },
    Expectation {
        file: "accounts/sign-in.json",
        after: &["accounts/sign-up.json"],
        route: ("POST", "/auth/sign-in"),
        status: 200,
        body: |response| auth_response_for(response, "ada@example.com"),
    },
    Expectation {
        file: "accounts/login.json",
        after: &["accounts/sign-up.json"],
        route: ("POST", "/auth/login"),
        status: 200,
        body: |response| auth_response_for(response, "ada@example.com"),
    },
    Expectation {
        file: "accounts/refresh.json",
        after: &[],
        route: ("POST", "/auth/refresh"),
        status: 401,
        body: error_shape,
    },
    Expectation {
        file: "accounts/logout.json",
        after: &[],
        route: ("POST", "/auth/logout"),
        status: 401,
        body: error_shape,
    },
    Expectation {
        file: "accounts/validate.json",
        after: &[],
        route: ("GET", "/auth/validate"),
        status: 401,
        body: error_shape,
    },
    Expectation {
        file: "accounts/me.json",
        after: &[],
        route: ("GET", "/auth/me"),
        status: 401,
        body: error_shape,
    },
    Expectation {
        file: "accounts/auth-status.json",
        after: &[],
        route: ("GET", "/users/auth/status"),
        status: 200,
        body: |response| assert_eq!(response.json["isAuthenticated"], false, "{}", response.text),
    },
    Expectation {
        file: "accounts/check-email.json",
        after: &[],
        route: ("POST", "/auth/check-email"),
        status: 200,
        body: |response| assert_eq!(response.json["exists"], false, "{}", response.text),
    },
    Expectation {
        file: "accounts/login-methods.json",
        after: &[],
        route: ("GET", "/auth/login-methods"),
        status: 200,
        body: |response| {
            let methods = response.json["methods"].as_array().expect("`methods`");
            assert!(
                methods.iter().any(|method| method["type"] == "password"),
                "{}",
                response.text
            );
        },
    },
    Expectation {
        file: "accounts/sessions.json",
        after: &[],
        route: ("GET", "/auth/sessions"),
        status: 401,
        body: error_shape,
    },
    Expectation {
        file: "accounts/delete-session.json",
        after: &[],
        route: ("DELETE", "/auth/sessions/{id}"),
        status: 401,
        body: error_shape,
    },
    Expectation {
        file: "accounts/csrf-token.json",
        after: &[],
        route: ("GET", "/auth/csrf/token"),
        status: 200,
        body: |response| assert!(response.json["csrf_token"].is_string(), "{}", response.text),
    },
    // email-links
    Expectation {
        file: "email-links/magic-link.json",
        after: &["accounts/sign-up.json"],
        route: ("POST", "/auth/magic-link"),
        status: 200,
        body: success,
    },
    Expectation {
        // Unknown emails get the same answer.
        file: "email-links/magic-link-request.json",
        after: &[],
        route: ("POST", "/users/auth/magic-link/request"),
        status: 200,
        body: success,
    },
    Expectation {
        file: "email-links/magic-link-verify.json",
        after: &[],
        route: ("POST", "/users/auth/magic-link/verify"),
        status: 401,
        body: |response| response.assert_error(401, "invalid_code"),
    },
    Expectation {
        file: "email-links/sign-in-token.json",
        after: &[],
        route: ("GET", "/auth/sign-in/token"),
        status: 400,
        body: |response| response.assert_error(400, "invalid_token"),
    },
    Expectation {
        file: "email-links/verify-email.json",
        after: &[],
        route: ("GET", "/auth/verify-email"),
        status: 400,
        body: |response| response.assert_error(400, "invalid_token"),
    },
    Expectation {
        file: "email-links/forgot-password.json",
        after: &["accounts/sign-up.json"],
        route: ("POST", "/auth/forgot-password"),
        status: 202,
        body: success,
    },
    Expectation {
        file: "email-links/reset-password.json",
        after: &[],
        route: ("POST", "/auth/reset-password"),
        status: 400,
        body: |response| response.assert_error(400, "invalid_token"),
    },
    // api-keys (a fresh state has no caller: each event reaches its handler and is refused)
    Expectation {
        file: "api-keys/create-api-key.json",
        after: &[],
        route: ("POST", "/auth/api-keys"),
        status: 401,
        body: |response| response.assert_error(401, "invalid_token"),
    },
    Expectation {
        file: "api-keys/generate-api-key.json",
        after: &[],
        route: ("POST", "/users/generate-api-key"),
        status: 401,
        body: |response| response.assert_error(401, "invalid_token"),
    },
    Expectation {
        file: "api-keys/list-api-keys.json",
        after: &[],
        route: ("GET", "/auth/api-keys"),
        status: 401,
        body: |response| response.assert_error(401, "invalid_token"),
    },
    Expectation {
        file: "api-keys/revoke-api-key.json",
        after: &[],
        route: ("DELETE", "/auth/api-keys/{id}"),
        status: 401,
        body: |response| response.assert_error(401, "invalid_token"),
    },
    Expectation {
        file: "api-keys/check.json",
        after: &[],
        route: ("ANY", "/auth/check"),
        status: 401,
        body: |response| response.assert_error(401, "authentication_required"),
    },
    Expectation {
        file: "api-keys/set-plan.json",
        after: &[],
        route: ("PUT", "/admin/users/{id}/plan"),
        status: 401,
        body: |response| response.assert_error(401, "invalid_token"),
    },
];

/// Folders of `events/` that hold events for a function that is not an HTTP router: the
/// authorizer's are tested in `authorizer.rs`.
const NOT_ROUTER_EVENTS: &[&str] = &["authorizer"];

fn success(response: &TestResponse) {
    assert_eq!(response.json["success"], true, "{}", response.text);
}

fn health_is_ok(response: &TestResponse) {
    assert_eq!(response.json["status"], "ok", "{}", response.text);
    assert_eq!(response.json["checks"]["table"]["reachable"], true);
}

fn auth_response_for(response: &TestResponse, email: &str) {
    let json = &response.json;
    assert_eq!(json["success"], true, "{}", response.text);
    assert!(json["access_token"].is_string(), "{}", response.text);
    assert_eq!(json["token"], json["access_token"], "{}", response.text);
    assert!(json["refresh_token"].is_string(), "{}", response.text);
    assert_eq!(json["token_type"], "bearer", "{}", response.text);
    assert_eq!(json["user"]["email"], email, "{}", response.text);
}

/// API.md's error shape, whatever the code.
fn error_shape(response: &TestResponse) {
    let code = response.json["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    response.assert_error(response.status.as_u16(), &code);
    assert!(!code.is_empty(), "{}", response.text);
}

fn events_dir() -> std::path::PathBuf {
    routes::workspace_root().join("events")
}

/// Every event file, as `<group>/<name>.json`.
fn event_files() -> BTreeSet<String> {
    let mut files = BTreeSet::new();
    for group in std::fs::read_dir(events_dir()).expect("list events/") {
        let group = group.expect("a dir entry");
        if !group.file_type().expect("a file type").is_dir()
            || NOT_ROUTER_EVENTS.contains(&group.file_name().to_string_lossy().as_ref())
        {
            continue;
        }
        for file in std::fs::read_dir(group.path()).expect("list an events folder") {
            let file = file.expect("a dir entry").path();
            if file.extension().is_some_and(|ext| ext == "json") {
                files.insert(format!(
                    "{}/{}",
                    group.file_name().to_string_lossy(),
                    file.file_name().expect("a file name").to_string_lossy()
                ));
            }
        }
    }
    files
}

/// The stage of REST (v1) events reaches the path unless this is set, as `template.yaml` sets
/// it for every function. `tests/run.sh` exports it for the test process: setting it here would
/// race with the other tests' threads reading the environment.
fn require_the_functions_environment() {
    assert!(
        std::env::var_os("AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH").is_some(),
        "\n\n*** AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH is not set: run ./tests/run.sh, which sets it \
         as template.yaml does for every function. ***\n"
    );
}

/// Parse an event as the Lambda runtime does and serve it with the group's router, wrapped as
/// `latchkey::lambda::run` wraps it.
async fn invoke(state: &AppState, file: &str) -> TestResponse {
    let group = routes::group(file.split('/').next().expect("a group folder"));
    let text = std::fs::read_to_string(events_dir().join(file)).expect("read the event");
    let request = lambda_http::request::from_str(&text)
        .unwrap_or_else(|error| panic!("lambda_http cannot parse events/{file}: {error}"));
    let app = middleware::apply((group.router)(state.clone()), &state.config);
    let response = app
        .oneshot(request)
        .await
        .expect("the router is infallible");
    TestResponse::read(response).await
}

#[test]
fn every_event_file_has_an_expectation_and_every_expectation_a_file() {
    let files = event_files();
    let expected: BTreeSet<String> = EXPECTATIONS.iter().map(|e| e.file.to_owned()).collect();
    let without: Vec<_> = files.difference(&expected).collect();
    let missing: Vec<_> = expected.difference(&files).collect();
    assert!(
        without.is_empty(),
        "event files with no expectation in tests/api/lambda_events.rs: {without:?}"
    );
    assert!(
        missing.is_empty(),
        "expectations with no event file: {missing:?}"
    );
    for folder in std::fs::read_dir(events_dir()).expect("list events/") {
        let name = folder.expect("a dir entry").file_name();
        if !NOT_ROUTER_EVENTS.contains(&name.to_string_lossy().as_ref()) {
            routes::group(&name.to_string_lossy());
        }
    }
}

#[test]
fn every_http_api_event_names_its_route_in_the_route_key() {
    for expectation in EXPECTATIONS {
        let text = std::fs::read_to_string(events_dir().join(expectation.file)).expect("read");
        let event: Value = serde_json::from_str(&text).expect("the event is JSON");
        if event["version"] != "2.0" {
            continue;
        }
        let (method, path) = expectation.route;
        let route_key = format!("{method} {}", routes::api_gateway_path(path));
        assert_eq!(
            event["routeKey"],
            route_key.as_str(),
            "{}",
            expectation.file
        );
        assert_eq!(
            event["requestContext"]["routeKey"],
            route_key.as_str(),
            "{}",
            expectation.file
        );
        // An `ANY` route is sent with the request's own method.
        if method != "ANY" {
            assert_eq!(event["requestContext"]["http"]["method"], method);
        }
        assert_eq!(event["rawPath"], event["requestContext"]["http"]["path"]);
    }
}

#[tokio::test]
async fn every_event_is_answered_by_its_functions_router_as_expected() {
    require_the_functions_environment();
    // Each event in its own task, so one failure does not hide the others.
    let tasks: Vec<_> = EXPECTATIONS
        .iter()
        .map(|expectation| (expectation.file, tokio::spawn(check(expectation))))
        .collect();
    let mut failed = Vec::new();
    let mut pending = Vec::new();
    for (file, task) in tasks {
        match task.await {
            Ok(Served::Yes) => {}
            Ok(Served::NotYet) => pending.push(file),
            Err(_) => failed.push(file),
        }
    }
    if !pending.is_empty() {
        eprintln!(
            "events whose route is not in ROUTES yet (checked only to reach our 404): {pending:?}"
        );
    }
    assert!(
        failed.is_empty(),
        "events not answered as expected (details above): {failed:?}"
    );
}

enum Served {
    Yes,
    NotYet,
}

async fn check(expectation: &'static Expectation) -> Served {
    let file = expectation.file;
    let group = routes::group(file.split('/').next().expect("a group folder"));
    let app = TestApp::spawn(Backend::Embedded).await;
    for earlier in expectation.after {
        let response = invoke(&app.state, earlier).await;
        let earlier_group = routes::group(earlier.split('/').next().expect("a group folder"));
        if earlier_group.routes.contains(&earlier_route(earlier)) {
            assert!(
                response.status.is_success(),
                "{earlier} (before {file}): {} {}",
                response.status,
                response.text
            );
        }
    }
    let response = invoke(&app.state, file).await;
    let (method, path) = expectation.route;
    if !group.routes.contains(&expectation.route) {
        // Not served yet: the event still goes through the whole stack to our fallback.
        response.assert_error(StatusCode::NOT_FOUND.as_u16(), "not_found");
        return Served::NotYet;
    }
    assert_eq!(
        response.status.as_u16(),
        expectation.status,
        "events/{file} ({method} {path}): {}",
        response.text
    );
    (expectation.body)(&response);
    assert!(
        response.header("x-request-id").is_some(),
        "events/{file}: no x-request-id"
    );
    Served::Yes
}

fn earlier_route(file: &str) -> (&'static str, &'static str) {
    EXPECTATIONS
        .iter()
        .find(|expectation| expectation.file == file)
        .unwrap_or_else(|| panic!("{file} has no expectation"))
        .route
}

#[test]
fn a_rest_api_event_carrying_its_stage_reaches_the_path_without_it() {
    require_the_functions_environment();
    let file = "well-known/health-rest-v1-prod-stage.json";
    let text = std::fs::read_to_string(events_dir().join(file)).expect("read the event");
    let event: Value = serde_json::from_str(&text).expect("the event is JSON");
    assert_eq!(event["requestContext"]["stage"], "prod");
    assert_eq!(event["requestContext"]["path"], "/prod/health");
    let request = lambda_http::request::from_str(&text).expect("a REST API event");
    // Without the setting lambda_http would route `/prod/health`.
    assert_eq!(request.uri().path(), "/health");
}
