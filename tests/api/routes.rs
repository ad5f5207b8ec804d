//! Route drift: each endpoint group's `ROUTES`, its router and its function's HttpApi events in
//! `template.yaml` must say the same thing. `ROUTES` is the source of truth; the template's route
//! blocks are generated from it (`LATCHKEY_UPDATE_TEMPLATE=1 ./tests/run.sh routes` rewrites them).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use axum::Router;
use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::http::HeaderValue;
use axum::middleware::{self, Next};
use axum::response::Response;
use latchkey::AppState;
use latchkey::http::middleware as latchkey_middleware;
use latchkey_tests::{Backend, TestApp, TestResponse};
use serde_yaml_ng::Value;
use tower::ServiceExt;

/// One endpoint group: a crate under `functions/`, one Lambda function in `template.yaml`.
pub struct Group {
    /// The crate's folder under `functions/`, and the folder of its events under `events/`.
    pub name: &'static str,
    /// The function's logical id in `template.yaml`.
    pub function: &'static str,
    pub routes: &'static [(&'static str, &'static str)],
    pub router: fn(AppState) -> Router,
}

/// Every endpoint group. A new crate under `functions/` fails
/// `every_function_crate_is_a_group_with_a_function_in_the_template` until it is listed here.
pub const GROUPS: &[Group] = &[
    Group {
        name: "well-known",
        function: "WellKnownFunction",
        routes: latchkey_well_known::ROUTES,
        router: latchkey_well_known::router,
    },
    Group {
        name: "accounts",
        function: "AccountsFunction",
        routes: latchkey_accounts::ROUTES,
        router: latchkey_accounts::router,
    },
    Group {
        name: "email-links",
        function: "EmailLinksFunction",
        routes: latchkey_email_links::ROUTES,
        router: latchkey_email_links::router,
    },
    Group {
        name: "api-keys",
        function: "ApiKeysFunction",
        routes: latchkey_api_keys::ROUTES,
        router: latchkey_api_keys::router,
    },
];

/// Crates under `functions/` that are not a Lambda function behind the HTTP API (the authorizer
/// is checked by `the_authorizer_is_a_function_in_the_template_without_routes`).
const NOT_GROUPS: &[&str] = &["local", "authorizer"];

#[test]
fn the_authorizer_is_a_function_in_the_template_without_routes() {
    let template = template();
    let resource = &template["Resources"]["AuthorizerFunction"];
    assert_eq!(resource["Type"], "AWS::Serverless::Function");
    assert_eq!(resource["Metadata"]["BuildMethod"], "rust-cargolambda");
    assert_eq!(
        resource["Metadata"]["BuildProperties"]["Binary"],
        "authorizer"
    );
    assert!(
        resource["Properties"]["Events"].is_null(),
        "API Gateway invokes the authorizer itself; it serves no route"
    );
}

pub fn group(name: &str) -> &'static Group {
    GROUPS
        .iter()
        .find(|group| group.name == name)
        .unwrap_or_else(|| panic!("no endpoint group named `{name}` in tests/api/routes.rs"))
}

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate is in the workspace")
        .to_path_buf()
}

fn template_path() -> PathBuf {
    workspace_root().join("template.yaml")
}

pub fn template() -> Value {
    let text = std::fs::read_to_string(template_path()).expect("read template.yaml");
    serde_yaml_ng::from_str(&text).expect("template.yaml is YAML")
}

/// An axum path (`/auth/sessions/{id}`, `/files/{*rest}`) in API Gateway's syntax
/// (`/auth/sessions/{id}`, `/files/{rest+}`).
pub fn api_gateway_path(axum_path: &str) -> String {
    axum_path
        .split('/')
        .map(|segment| match segment.strip_prefix("{*") {
            Some(rest) => format!("{{{}+}}", rest.trim_end_matches('}')),
            None => segment.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The event's logical id: `DELETE /auth/sessions/{id}` is `DeleteAuthSessionsId`.
fn event_name(method: &str, path: &str) -> String {
    let mut name = String::new();
    for word in std::iter::once(method).chain(path.split(|c: char| !c.is_ascii_alphanumeric())) {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            name.push(first.to_ascii_uppercase());
            name.extend(chars.map(|c| c.to_ascii_lowercase()));
        }
    }
    name
}

/// The template text between `# BEGIN ROUTES <function>` and `# END ROUTES <function>`.
fn route_block(group: &Group) -> String {
    if group.routes.is_empty() {
        return String::new();
    }
    let mut block = String::from("      Events:\n");
    for (method, path) in group.routes {
        block.push_str(&format!(
            "        {name}:\n          Type: HttpApi\n          Properties:\n            ApiId: !Ref HttpApi\n            Method: {method}\n            Path: {path}\n",
            name = event_name(method, path),
            path = api_gateway_path(path),
        ));
    }
    block
}

fn markers(group: &Group) -> (String, String) {
    (
        format!("      # BEGIN ROUTES {}\n", group.function),
        format!("      # END ROUTES {}\n", group.function),
    )
}

/// The current block of each group, and the template with every block regenerated.
fn regenerated_template() -> (String, String) {
    let original = std::fs::read_to_string(template_path()).expect("read template.yaml");
    let mut text = original.clone();
    for group in GROUPS {
        let (begin, end) = markers(group);
        let start = text.find(&begin).unwrap_or_else(|| {
            panic!(
                "template.yaml has no `{}` line in {}",
                begin.trim(),
                group.function
            )
        }) + begin.len();
        let stop = start
            + text[start..]
                .find(&end)
                .unwrap_or_else(|| panic!("template.yaml has no `{}` line", end.trim()));
        text.replace_range(start..stop, &route_block(group));
    }
    (original, text)
}

/// (METHOD, API Gateway path) of the function's HttpApi events in the parsed template.
fn template_routes(template: &Value, function: &str) -> BTreeSet<(String, String)> {
    let resource = &template["Resources"][function];
    assert!(
        resource.is_mapping(),
        "template.yaml has no resource `{function}`"
    );
    let Some(events) = resource["Properties"]["Events"].as_mapping() else {
        return BTreeSet::new();
    };
    events
        .iter()
        .filter(|(_, event)| event["Type"] == "HttpApi")
        .map(|(name, event)| {
            let properties = &event["Properties"];
            let api = match &properties["ApiId"] {
                Value::Tagged(tagged) if tagged.tag == "Ref" => tagged.value.as_str(),
                _ => None,
            };
            assert_eq!(
                api,
                Some("HttpApi"),
                "{function} event {name:?}: ApiId must be `!Ref HttpApi` (else SAM creates a second API)"
            );
            let method = properties["Method"]
                .as_str()
                .unwrap_or_else(|| panic!("{function} event {name:?} has no Method"));
            let path = properties["Path"]
                .as_str()
                .unwrap_or_else(|| panic!("{function} event {name:?} has no Path"));
            (method.to_ascii_uppercase(), path.to_owned())
        })
        .collect()
}

fn declared_routes(group: &Group) -> BTreeSet<(String, String)> {
    group
        .routes
        .iter()
        .map(|(method, path)| (method.to_ascii_uppercase(), api_gateway_path(path)))
        .collect()
}

#[test]
fn each_functions_http_api_events_are_exactly_its_crates_routes() {
    if std::env::var_os("LATCHKEY_UPDATE_TEMPLATE").is_some() {
        let (original, regenerated) = regenerated_template();
        if original != regenerated {
            std::fs::write(template_path(), regenerated).expect("rewrite template.yaml");
        }
    }
    let template = template();
    for group in GROUPS {
        let declared = declared_routes(group);
        assert_eq!(
            declared.len(),
            group.routes.len(),
            "{}::ROUTES lists a route twice",
            group.name
        );
        let in_template = template_routes(&template, group.function);
        let missing: Vec<_> = declared.difference(&in_template).collect();
        let extra: Vec<_> = in_template.difference(&declared).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{} in template.yaml drifted from the `{}` crate's ROUTES.\n\
             In ROUTES but not in the template: {missing:?}\n\
             In the template but not in ROUTES: {extra:?}\n\
             Regenerate with LATCHKEY_UPDATE_TEMPLATE=1 ./tests/run.sh routes",
            group.function,
            group.name,
        );
    }
}

#[test]
fn the_generated_route_blocks_in_the_template_are_up_to_date() {
    let (original, regenerated) = regenerated_template();
    assert!(
        original == regenerated,
        "template.yaml's `# BEGIN ROUTES` blocks are not what ROUTES generates; \
         run LATCHKEY_UPDATE_TEMPLATE=1 ./tests/run.sh routes and review the diff"
    );
}

#[test]
fn event_names_are_unique_within_each_function() {
    for group in GROUPS {
        let names: BTreeSet<_> = group
            .routes
            .iter()
            .map(|(method, path)| event_name(method, path))
            .collect();
        assert_eq!(
            names.len(),
            group.routes.len(),
            "two routes of {} map to one event name",
            group.name
        );
    }
}

#[test]
fn no_route_is_served_by_two_functions() {
    let mut seen = BTreeSet::new();
    for group in GROUPS {
        for route in declared_routes(group) {
            assert!(
                seen.insert(route.clone()),
                "{route:?} is in two groups' ROUTES; API Gateway can send it to only one"
            );
        }
    }
}

#[test]
fn every_function_crate_is_a_group_with_a_function_in_the_template() {
    let template = template();
    let functions = workspace_root().join("functions");
    let mut crates: Vec<String> = std::fs::read_dir(&functions)
        .expect("list functions/")
        .map(|entry| {
            entry
                .expect("a dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| !NOT_GROUPS.contains(&name.as_str()))
        .collect();
    crates.sort();
    for name in crates {
        let group = group(&name);
        let manifest = std::fs::read_to_string(functions.join(&name).join("Cargo.toml"))
            .expect("read the crate's Cargo.toml");
        let binary = bin_name(&manifest)
            .unwrap_or_else(|| panic!("functions/{name}/Cargo.toml has no [[bin]] name"));
        let resource = &template["Resources"][group.function];
        assert_eq!(
            resource["Type"], "AWS::Serverless::Function",
            "{}",
            group.function
        );
        assert_eq!(
            resource["Metadata"]["BuildMethod"], "rust-cargolambda",
            "{}",
            group.function
        );
        assert_eq!(
            resource["Metadata"]["BuildProperties"]["Binary"], binary,
            "{} must build functions/{name}'s binary",
            group.function
        );
        // `sam build` runs `cargo lambda build --bin <Binary>` in CodeUri: from the workspace root
        // only the default member (the local server) is searched for the binary.
        assert_eq!(
            resource["Properties"]["CodeUri"],
            format!("functions/{name}").as_str(),
            "{}",
            group.function
        );
    }
}

#[test]
fn the_template_gives_every_function_the_lambda_environment() {
    let template = template();
    let variables = &template["Globals"]["Function"]["Environment"]["Variables"];
    assert_eq!(variables["LATCHKEY_BACKEND"], "aws");
    assert_eq!(variables["AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH"], "true");
    for name in [
        "LATCHKEY_TABLE",
        "LATCHKEY_KMS_KEY_ID",
        "LATCHKEY_MAIL_FROM",
        "LATCHKEY_PUBLIC_URL",
    ] {
        assert!(!variables[name].is_null(), "Globals set no {name}");
    }
}

#[test]
fn axum_paths_become_api_gateway_paths() {
    assert_eq!(api_gateway_path("/health"), "/health");
    assert_eq!(
        api_gateway_path("/auth/sessions/{id}"),
        "/auth/sessions/{id}"
    );
    assert_eq!(api_gateway_path("/files/{*rest}"), "/files/{rest+}");
    assert_eq!(
        event_name("DELETE", "/auth/sessions/{id}"),
        "DeleteAuthSessionsId"
    );
    assert_eq!(
        event_name("GET", "/.well-known/jwks.json"),
        "GetWellKnownJwksJson"
    );
}

/// The `[[bin]]` name in a crate manifest.
fn bin_name(manifest: &str) -> Option<String> {
    let section = &manifest[manifest.find("[[bin]]")?..];
    let line = section
        .lines()
        .find(|line| line.trim_start().starts_with("name"))?;
    Some(line.split('"').nth(1)?.to_owned())
}

const MATCHED_ROUTE: &str = "x-test-matched-route";

/// Records which route (if any) the router matched, as a response header.
async fn record_matched_route(request: Request, next: Next) -> Response {
    let matched = request.extensions().get::<MatchedPath>().cloned();
    let mut response = next.run(request).await;
    if let Some(path) = matched {
        let value = HeaderValue::from_str(path.as_str()).expect("a route path is a header value");
        response.headers_mut().insert(MATCHED_ROUTE, value);
    }
    response
}

/// An axum path with every parameter filled: `{id}` with a UUID, `{*rest}` with two segments.
fn fill_parameters(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if segment.starts_with("{*") {
                "a/b".to_owned()
            } else if segment.starts_with('{') {
                uuid::Uuid::new_v4().to_string()
            } else {
                segment.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test]
async fn every_declared_route_is_served_by_its_groups_router() {
    let app = TestApp::spawn(Backend::Embedded).await;
    for group in GROUPS {
        let router = latchkey_middleware::apply(
            (group.router)(app.state.clone()).layer(middleware::from_fn(record_matched_route)),
            &app.state.config,
        );
        for (method, path) in group.routes {
            let body = if *method == "GET" || *method == "HEAD" {
                Body::empty()
            } else {
                Body::from("{}")
            };
            let request = http::Request::builder()
                .method(*method)
                .uri(fill_parameters(path))
                .header("content-type", "application/json")
                .body(body)
                .expect("a valid request");
            let response = TestResponse::read(
                router
                    .clone()
                    .oneshot(request)
                    .await
                    .expect("the router is infallible"),
            )
            .await;
            assert_eq!(
                response.header(MATCHED_ROUTE),
                Some(*path),
                "{method} {path} is in {}::ROUTES but its router does not route it: {} {}",
                group.name,
                response.status,
                response.text
            );
            assert_ne!(
                response.status.as_u16(),
                405,
                "{method} {path} is in {}::ROUTES but its router has no {method} handler there",
                group.name
            );
        }
    }
}
