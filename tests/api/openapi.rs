//! The OpenAPI document (`functions/well-known/openapi.json`, served at `/openapi.json`) is
//! generated from the groups' declarations by `cargo run -p xtask -- openapi`. These tests check
//! that the file is what the declarations generate, that its operations are exactly the declared
//! routes, each identified and answered, every `$ref` resolves, and an independent validator
//! (openapi-spec-validator) accepts it as OpenAPI 3.1. (Every flow test's JSON answers are
//! validated against it by the harness: `latchkey_tests::schema`.)

use std::collections::{BTreeMap, BTreeSet};

use latchkey_local::groups::GROUPS;
use latchkey_local::openapi::{DOCUMENT_PATH, document_json};
use latchkey_tests::{Backend, TestApp, test_python, workspace_root};
use latchkey_well_known::OPENAPI_DOCUMENT;
use serde_json::Value;

const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn document() -> Value {
    serde_json::from_str(OPENAPI_DOCUMENT).expect("openapi.json is JSON")
}

/// An axum path in OpenAPI's syntax: `{id}` is the same in both; a wildcard `{*rest}` is `{rest}`.
fn openapi_path(axum_path: &str) -> String {
    axum_path.replace("{*", "{")
}

/// Every operation of the document: (METHOD, path) and the operation object.
fn operations(document: &Value) -> Vec<((String, String), &Value)> {
    let paths = document["paths"].as_object().expect("`paths` is an object");
    paths
        .iter()
        .flat_map(|(path, item)| {
            let item = item.as_object().expect("a path item is an object");
            item.iter()
                .filter(|(key, _)| METHODS.contains(&key.as_str()))
                .map(|(method, operation)| ((method.to_ascii_uppercase(), path.clone()), operation))
        })
        .collect()
}

/// A local `$ref` followed to what it names.
fn resolve<'a>(document: &'a Value, reference: &str) -> Option<&'a Value> {
    document.pointer(reference.strip_prefix('#')?)
}

/// Every `$ref` string in a JSON value, with where it was found.
fn references(value: &Value, at: &str, found: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                if key == "$ref"
                    && let Value::String(reference) = child
                {
                    found.push((at.to_owned(), reference.clone()));
                }
                references(child, &format!("{at}/{key}"), found);
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                references(child, &format!("{at}/{index}"), found);
            }
        }
        _ => {}
    }
}

#[test]
fn the_served_document_is_what_the_declarations_generate() {
    assert!(
        OPENAPI_DOCUMENT == document_json(),
        "{DOCUMENT_PATH} is stale: run `cargo run -p xtask -- openapi` and review the diff"
    );
}

#[test]
fn the_license_is_the_crates_license() {
    assert_eq!(
        document()["info"]["license"]["identifier"],
        env!("CARGO_PKG_LICENSE")
    );
}

#[test]
fn the_document_describes_exactly_the_routes_every_group_serves() {
    let document = document();
    let documented: BTreeSet<(String, String)> = operations(&document)
        .into_iter()
        .map(|(route, _)| route)
        .collect();
    let served: BTreeSet<(String, String)> = GROUPS
        .iter()
        .flat_map(|group| group.routes())
        .map(|route| (route.method, openapi_path(&route.path)))
        .collect();
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let not_served: Vec<_> = documented.difference(&served).collect();
    assert!(
        undocumented.is_empty() && not_served.is_empty(),
        "functions/well-known/openapi.json drifted from the groups' declared routes.\n\
         Served but not documented: {undocumented:?}\n\
         Documented but not served: {not_served:?}"
    );
}

#[test]
fn every_operation_has_a_unique_operation_id_and_at_least_one_response() {
    let document = document();
    let mut ids: BTreeMap<String, (String, String)> = BTreeMap::new();
    for (route, operation) in operations(&document) {
        let id = operation["operationId"]
            .as_str()
            .filter(|id| !id.is_empty())
            .unwrap_or_else(|| panic!("{route:?} has no operationId"));
        if let Some(first) = ids.insert(id.to_owned(), route.clone()) {
            panic!("operationId `{id}` is used by both {first:?} and {route:?}");
        }
        let responses = operation["responses"]
            .as_object()
            .unwrap_or_else(|| panic!("{route:?} has no responses"));
        assert!(!responses.is_empty(), "{route:?} has no responses");
        assert!(
            responses
                .keys()
                .any(|status| status.starts_with('2') || status.starts_with('3')),
            "{route:?} documents no success answer"
        );
    }
}

#[test]
fn every_alias_names_an_operation_that_exists() {
    let document = document();
    let operations = operations(&document);
    let ids: BTreeSet<&str> = operations
        .iter()
        .filter_map(|(_, operation)| operation["operationId"].as_str())
        .collect();
    for (route, operation) in &operations {
        if let Some(target) = operation.get("x-alias-of") {
            let target = target.as_str().expect("x-alias-of is an operationId");
            assert!(
                ids.contains(target) && operation["operationId"] != target,
                "{route:?} is an alias of `{target}`, which is not another operation here"
            );
        }
    }
}

#[test]
fn every_ref_resolves_within_the_document() {
    let document = document();
    let mut found = Vec::new();
    references(&document, "#", &mut found);
    assert!(!found.is_empty(), "the document uses no $ref at all?");
    let broken: Vec<_> = found
        .iter()
        .filter(|(_, reference)| resolve(&document, reference).is_none())
        .collect();
    assert!(
        broken.is_empty(),
        "$refs that name nothing in the document (where, $ref): {broken:?}"
    );
}

#[test]
fn every_path_parameter_is_declared_on_its_operation() {
    let document = document();
    for ((method, path), operation) in operations(&document) {
        let declared: BTreeSet<String> = operation["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .chain(
                document["paths"][&path]["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten(),
            )
            .map(|parameter| match parameter["$ref"].as_str() {
                Some(reference) => resolve(&document, reference).unwrap_or(&Value::Null),
                None => parameter,
            })
            .filter(|parameter| parameter["in"] == "path")
            .filter_map(|parameter| parameter["name"].as_str().map(str::to_owned))
            .collect();
        let in_path: BTreeSet<String> = path
            .split('/')
            .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
            .map(str::to_owned)
            .collect();
        assert_eq!(
            declared, in_path,
            "{method} {path}: the path parameters declared are not those in the path"
        );
    }
}

#[tokio::test]
async fn the_served_document_is_the_embedded_openapi_3_1_json_and_is_cacheable() {
    let app = TestApp::spawn(Backend::Embedded).await;

    let response = app.get("/openapi.json").await;

    assert_eq!(response.status, 200, "{}", response.text);
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(
        response.header("cache-control"),
        Some("public, max-age=300")
    );
    let version = response.json["openapi"].as_str().unwrap_or_default();
    assert!(version.starts_with("3.1."), "openapi is {version:?}");
    assert_eq!(response.json, document());
}

const VALIDATE: &str = r#"
import json, sys
from openapi_spec_validator import validate

with open(sys.argv[1], encoding="utf-8") as document:
    spec = json.load(document)
try:
    validate(spec)
except Exception as error:
    print(f"{type(error).__name__}: {error}", file=sys.stderr)
    sys.exit(1)
"#;

#[test]
fn openapi_spec_validator_accepts_the_document() {
    let path = workspace_root().join(DOCUMENT_PATH);
    let python = test_python();

    let output = std::process::Command::new(&python)
        .args(["-c", VALIDATE])
        .arg(&path)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}; run ./tests/run.sh", python.display()));

    assert!(
        output.status.success(),
        "openapi-spec-validator refused {}:\n{}",
        path.display(),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The harness checks every JSON answer with this; it must refuse what the schema refuses.
#[test]
#[should_panic(expected = "body its OpenAPI schema refuses")]
fn the_response_validator_refuses_a_body_its_schema_does_not_allow() {
    latchkey_tests::schema::check(
        "GET",
        "/health",
        200,
        &serde_json::json!({"status": "ok", "backend": "local"}),
    );
}

#[test]
fn the_response_validator_follows_refs_and_accepts_a_conforming_body() {
    latchkey_tests::schema::check(
        "GET",
        "/health",
        503,
        &serde_json::json!({"status": "degraded", "backend": "aws",
            "checks": {"store": {"status": "failing", "reason": "the store does not take writes"},
                "mail": {"status": "ok"}}}),
    );
    assert_eq!(
        latchkey_tests::schema::route_of("DELETE", "/auth/sessions/6f9619ff").as_deref(),
        Some("/auth/sessions/{id}")
    );
}

#[test]
#[should_panic(expected = "does not document")]
fn the_response_validator_refuses_a_status_the_declaration_does_not_document() {
    latchkey_tests::schema::check("GET", "/auth/login-methods", 500, &serde_json::json!({}));
}
