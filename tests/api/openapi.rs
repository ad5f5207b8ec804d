//! The OpenAPI document (`functions/well-known/openapi.json`, served at `/openapi.json`) is written
//! by hand, so these tests hold it to the code: its operations are exactly the union of every
//! group's `ROUTES`, each is identified and answered, every `$ref` resolves, and an independent
//! validator (openapi-spec-validator) accepts it as OpenAPI 3.1.

use std::collections::{BTreeMap, BTreeSet};

use latchkey_tests::{Backend, TestApp, test_python};
use latchkey_well_known::OPENAPI_DOCUMENT;
use serde_json::Value;

use crate::routes::GROUPS;

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
fn the_document_describes_exactly_the_routes_every_group_serves() {
    let document = document();
    // A path item marked `x-latchkey-any-method` documents a route served for every method
    // (`ANY` in ROUTES, e.g. `/auth/check`) through a few representative operations.
    let documented: BTreeSet<(String, String)> = operations(&document)
        .into_iter()
        .map(|((method, path), _)| {
            if document["paths"][&path]["x-latchkey-any-method"] == true {
                ("ANY".to_owned(), path)
            } else {
                (method, path)
            }
        })
        .collect();
    let served: BTreeSet<(String, String)> = GROUPS
        .iter()
        .flat_map(|group| group.routes.iter())
        .map(|(method, path)| (method.to_ascii_uppercase(), openapi_path(path)))
        .collect();
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let not_served: Vec<_> = documented.difference(&served).collect();
    assert!(
        undocumented.is_empty() && not_served.is_empty(),
        "functions/well-known/openapi.json drifted from the groups' ROUTES.\n\
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
    let path = crate::routes::workspace_root().join("functions/well-known/openapi.json");
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
