//! Route drift, both directions: each group's declared routes (its `routes()`), its router, its
//! function's HttpApi events in `template.yaml`, and the registry must say the same thing. The
//! declarations are the source; `cargo run -p xtask -- template` writes the template's route
//! blocks, and these tests only check.

use std::collections::BTreeSet;

use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::http::HeaderValue;
use axum::middleware::{self, Next};
use axum::response::Response;
use latchkey::http::middleware as latchkey_middleware;
use latchkey_local::groups::{GROUPS, Group, Kind, NOT_GROUPS};
use latchkey_local::template::{TEMPLATE_PATH, api_gateway_path, event_name, regenerate};
use latchkey_tests::{Backend, TestApp, TestResponse, workspace_root};
use serde_yaml_ng::Value;
use tower::ServiceExt;

/// The registered group `name`, or a panic naming the registry.
pub fn group(name: &str) -> &'static Group {
    latchkey_local::groups::group(name).unwrap_or_else(|| {
        panic!("no endpoint group named `{name}` in functions/local/src/groups.rs")
    })
}

fn template_text() -> String {
    std::fs::read_to_string(workspace_root().join(TEMPLATE_PATH)).expect("read template.yaml")
}

pub fn template() -> Value {
    serde_yaml_ng::from_str(&template_text()).expect("template.yaml is YAML")
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
        .routes()
        .into_iter()
        .map(|route| (route.method, api_gateway_path(&route.path)))
        .collect()
}

#[test]
fn each_functions_http_api_events_are_exactly_its_declared_routes() {
    let template = template();
    for group in GROUPS {
        let declared = declared_routes(group);
        let in_template = template_routes(&template, group.function);
        let missing: Vec<_> = declared.difference(&in_template).collect();
        let extra: Vec<_> = in_template.difference(&declared).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{} in template.yaml drifted from the `{}` group's declared routes.\n\
             Declared but not in the template: {missing:?}\n\
             In the template but not declared: {extra:?}\n\
             Regenerate with `cargo run -p xtask -- template`",
            group.function,
            group.name,
        );
    }
}

#[test]
fn the_generated_route_blocks_in_the_template_are_up_to_date() {
    let original = template_text();
    let regenerated = regenerate(&original).unwrap_or_else(|error| panic!("{error}"));
    assert!(
        original == regenerated,
        "template.yaml's `# BEGIN ROUTES` blocks are not what the declarations generate; \
         run `cargo run -p xtask -- template` and review the diff"
    );
}

#[test]
fn an_authorizer_has_no_routes_and_no_router() {
    for group in GROUPS {
        if let Kind::Authorizer = group.kind {
            assert!(group.routes().is_empty(), "{}", group.name);
        }
    }
}

#[test]
fn event_names_are_unique_within_each_function() {
    for group in GROUPS {
        let routes = group.routes();
        let names: BTreeSet<_> = routes
            .iter()
            .map(|route| event_name(&route.method, &route.path))
            .collect();
        assert_eq!(
            names.len(),
            routes.len(),
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
                "{route:?} is declared by two groups; API Gateway can send it to only one"
            );
        }
    }
}

#[test]
fn every_function_crate_is_a_group_with_a_function_in_the_template() {
    let template = template();
    let functions = workspace_root().join("functions");
    assert!(
        GROUPS
            .iter()
            .all(|group| functions.join(group.name).is_dir()),
        "every registered group has a crate under functions/"
    );
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
        let Some(router) = group.router(app.state.clone()) else {
            continue;
        };
        let router = latchkey_middleware::apply(
            router.layer(middleware::from_fn(record_matched_route)),
            &app.state.config,
        );
        for route in group.routes() {
            let (method, path) = (route.method.as_str(), route.path.as_str());
            let body = if method == "GET" || method == "HEAD" {
                Body::empty()
            } else {
                Body::from("{}")
            };
            let request = http::Request::builder()
                .method(method)
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
                Some(path),
                "{method} {path} is declared by {} but its router does not route it: {} {}",
                group.name,
                response.status,
                response.text
            );
            assert_ne!(
                response.status.as_u16(),
                405,
                "{method} {path} is declared by {} but its router has no {method} handler there",
                group.name
            );
        }
    }
}

/// The other direction: a group's router is built only from its `Routes`, which has no way to
/// add an undeclared route; so no group source may build an axum router or route by hand.
#[test]
fn no_group_routes_a_handler_outside_its_declarations() {
    let forbidden = [
        "Router::new(",
        ".route(",
        ".route_service(",
        ".nest(",
        ".merge(",
        ".fallback(",
        "axum::routing",
        "OpenApiRouter",
    ];
    for group in GROUPS {
        let src = workspace_root()
            .join("functions")
            .join(group.name)
            .join("src");
        for entry in std::fs::read_dir(&src).expect("list a group's src/") {
            let path = entry.expect("a dir entry").path();
            let text = std::fs::read_to_string(&path).expect("read a source file");
            for pattern in forbidden {
                assert!(
                    !text.contains(pattern),
                    "{} uses `{pattern}`: a group serves only what its `routes()` declares \
                     (add a `#[utoipa::path]` handler to `Routes` instead)",
                    path.display()
                );
            }
        }
    }
}

/// And the router really is the declarations: a path that is not declared is our 404, whatever
/// the group.
#[tokio::test]
async fn an_undeclared_path_is_not_served_by_any_group() {
    let app = TestApp::spawn(Backend::Embedded).await;
    let response = app.get("/auth/not-a-declared-route").await;
    response.assert_error(404, "not_found");
}
