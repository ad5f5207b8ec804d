//! The Lambda path: every API Gateway event in `events/<group>/` is parsed by `lambda_http` (what
//! the runtime does with the payload API Gateway sends) and served by that group's router wrapped
//! exactly as `latchkey::lambda::run` wraps it, on fresh embedded state.
//!
//! Each group's expectations sit next to its events, in `events/<group>/expectations.json`:
//! `{"<event file>": {"route": "METHOD /path", "status": 200, "after": ["<group>/<file>"],
//! "body": {...}, "error": "<code>"}}`. `body` is a subset the answer must contain; `error` the
//! code of an error answer; every JSON answer is also validated against the OpenAPI schema of its
//! route and status. While an event's route is not declared yet (its implementation lands later),
//! the event must still parse and get our JSON 404; the full expectation applies from the moment
//! the route is declared.

use std::collections::{BTreeMap, BTreeSet};

use http::StatusCode;
use latchkey::AppState;
use latchkey::http::middleware;
use latchkey_local::template::api_gateway_path;
use latchkey_tests::{Backend, TestApp, TestResponse, schema, workspace_root};
use serde::Deserialize;
use serde_json::Value;
use tower::ServiceExt;

use crate::routes;

const EXPECTATIONS_FILE: &str = "expectations.json";

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expectation {
    /// Why this event exists, when its name does not say.
    #[serde(default)]
    #[allow(dead_code)]
    note: Option<String>,
    /// `METHOD /axum/path`: a route the group declares (or will).
    route: String,
    status: u16,
    /// Events sent first, on the same state (sign up before signing in).
    #[serde(default)]
    after: Vec<String>,
    /// A JSON value the answer must contain (objects: these keys with these values).
    #[serde(default)]
    body: Option<Value>,
    /// The error code of an error answer (any code when absent).
    #[serde(default)]
    error: Option<String>,
}

impl Expectation {
    fn method_and_path(&self) -> (&str, &str) {
        self.route
            .split_once(' ')
            .unwrap_or_else(|| panic!("route `{}` is not `METHOD /path`", self.route))
    }
}

fn events_dir() -> std::path::PathBuf {
    workspace_root().join("events")
}

/// Every group's expectations, keyed `<group>/<file>`.
fn expectations() -> BTreeMap<String, Expectation> {
    let mut all = BTreeMap::new();
    for folder in std::fs::read_dir(events_dir()).expect("list events/") {
        let folder = folder.expect("a dir entry");
        if !folder.file_type().expect("a file type").is_dir()
            || !is_http_group(&folder.file_name().to_string_lossy())
        {
            continue;
        }
        let group = folder.file_name().to_string_lossy().into_owned();
        let path = folder.path().join(EXPECTATIONS_FILE);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("events/{group}/ has no {EXPECTATIONS_FILE}: {e}"));
        let expectations: BTreeMap<String, Expectation> = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("events/{group}/{EXPECTATIONS_FILE}: {e}"));
        for (file, expectation) in expectations {
            all.insert(format!("{group}/{file}"), expectation);
        }
    }
    all
}

/// Whether the events folder `name` belongs to a group behind the HTTP API. The authorizer's
/// events (`events/authorizer/`) are not HTTP requests; `authorizer.rs` feeds them to it.
fn is_http_group(name: &str) -> bool {
    !matches!(
        routes::group(name).kind,
        latchkey_local::groups::Kind::Authorizer
    )
}

/// Every event file, as `<group>/<name>.json`.
fn event_files() -> BTreeSet<String> {
    let mut files = BTreeSet::new();
    for group in std::fs::read_dir(events_dir()).expect("list events/") {
        let group = group.expect("a dir entry");
        if !group.file_type().expect("a file type").is_dir()
            || !is_http_group(&group.file_name().to_string_lossy())
        {
            continue;
        }
        for file in std::fs::read_dir(group.path()).expect("list an events folder") {
            let file = file.expect("a dir entry").path();
            let name = file.file_name().expect("a file name").to_string_lossy();
            if file.extension().is_some_and(|ext| ext == "json") && name != EXPECTATIONS_FILE {
                files.insert(format!("{}/{name}", group.file_name().to_string_lossy()));
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

fn group_of(file: &str) -> &'static latchkey_local::groups::Group {
    routes::group(file.split('/').next().expect("a group folder"))
}

fn declares(file: &str, method: &str, path: &str) -> bool {
    group_of(file)
        .routes()
        .iter()
        .any(|route| route.method == method && route.path == path)
}

/// Parse an event as the Lambda runtime does and serve it with the group's router, wrapped as
/// `latchkey::lambda::run` wraps it.
async fn invoke(state: &AppState, file: &str) -> TestResponse {
    let text = std::fs::read_to_string(events_dir().join(file)).expect("read the event");
    let request = lambda_http::request::from_str(&text)
        .unwrap_or_else(|error| panic!("lambda_http cannot parse events/{file}: {error}"));
    let router = group_of(file)
        .router(state.clone())
        .unwrap_or_else(|| panic!("events/{file}: its group has no HTTP router"));
    let app = middleware::apply(router, &state.config);
    let response = app
        .oneshot(request)
        .await
        .expect("the router is infallible");
    TestResponse::read(response).await
}

/// Whether `actual` contains `expected`: equal, or for objects every expected key with a value
/// it contains.
fn contains(actual: &Value, expected: &Value) -> bool {
    match (actual, expected) {
        (Value::Object(actual), Value::Object(expected)) => expected
            .iter()
            .all(|(key, value)| actual.get(key).is_some_and(|a| contains(a, value))),
        _ => actual == expected,
    }
}

#[test]
fn every_event_file_has_an_expectation_and_every_expectation_a_file() {
    let files = event_files();
    let expected: BTreeSet<String> = expectations().into_keys().collect();
    let without: Vec<_> = files.difference(&expected).collect();
    let missing: Vec<_> = expected.difference(&files).collect();
    assert!(
        without.is_empty(),
        "event files with no entry in their folder's {EXPECTATIONS_FILE}: {without:?}"
    );
    assert!(
        missing.is_empty(),
        "expectations with no event file: {missing:?}"
    );
    for folder in std::fs::read_dir(events_dir()).expect("list events/") {
        let name = folder.expect("a dir entry").file_name();
        routes::group(&name.to_string_lossy());
    }
}

#[test]
fn every_http_api_event_names_its_route_in_the_route_key() {
    for (file, expectation) in expectations() {
        let text = std::fs::read_to_string(events_dir().join(&file)).expect("read");
        let event: Value = serde_json::from_str(&text).expect("the event is JSON");
        if event["version"] != "2.0" {
            continue;
        }
        let (method, path) = expectation.method_and_path();
        let route_key = format!("{method} {}", api_gateway_path(path));
        assert_eq!(event["routeKey"], route_key.as_str(), "{file}");
        assert_eq!(
            event["requestContext"]["routeKey"],
            route_key.as_str(),
            "{file}"
        );
        assert_eq!(event["requestContext"]["http"]["method"], method);
        assert_eq!(event["rawPath"], event["requestContext"]["http"]["path"]);
    }
}

#[tokio::test]
async fn every_event_is_answered_by_its_functions_router_as_expected() {
    require_the_functions_environment();
    let all = expectations();
    // Each event in its own task, so one failure does not hide the others.
    let tasks: Vec<_> = all
        .iter()
        .map(|(file, expectation)| {
            let task = tokio::spawn(check(file.clone(), expectation.clone(), all.clone()));
            (file.clone(), task)
        })
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
            "events whose route is not declared yet (checked only to reach our 404): {pending:?}"
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

async fn check(
    file: String,
    expectation: Expectation,
    all: BTreeMap<String, Expectation>,
) -> Served {
    let app = TestApp::spawn(Backend::Embedded).await;
    for earlier in &expectation.after {
        let response = invoke(&app.state, earlier).await;
        let (method, path) = all
            .get(earlier)
            .unwrap_or_else(|| panic!("{earlier} (before {file}) has no expectation"))
            .method_and_path();
        if declares(earlier, method, path) {
            assert!(
                response.status.is_success(),
                "{earlier} (before {file}): {} {}",
                response.status,
                response.text
            );
        }
    }
    let response = invoke(&app.state, &file).await;
    let (method, path) = expectation.method_and_path();
    if !declares(&file, method, path) {
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
    if response.is_json() {
        schema::check(method, path, expectation.status, &response.json);
    }
    if expectation.status >= 400 {
        let code = match &expectation.error {
            Some(code) => code.clone(),
            None => response.json["code"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        };
        assert!(!code.is_empty(), "events/{file}: {}", response.text);
        response.assert_error(expectation.status, &code);
    }
    if let Some(body) = &expectation.body {
        assert!(
            contains(&response.json, body),
            "events/{file}: the answer does not contain {body}: {}",
            response.text
        );
    }
    assert!(
        response.header("x-request-id").is_some(),
        "events/{file}: no x-request-id"
    );
    Served::Yes
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
