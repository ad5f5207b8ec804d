//! Response bodies against the OpenAPI document: the schema of (method, route, status) from the
//! generated document (the one `/openapi.json` serves; a test keeps the file equal to it),
//! checked with an independent JSON Schema 2020-12 validator (the `jsonschema` crate), with the
//! document's `components` at the root so `$ref: #/components/schemas/...` resolves.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use jsonschema::Validator;
use serde_json::{Value, json};

/// The generated document, as JSON.
static DOCUMENT: LazyLock<Value> = LazyLock::new(|| {
    serde_json::to_value(latchkey_local::openapi::document()).expect("the document is JSON")
});

/// One validator per (method, route, status), built on first use.
type Cache = Mutex<HashMap<(String, String, u16), Option<Arc<Validator>>>>;
static VALIDATORS: LazyLock<Cache> = LazyLock::new(Default::default);

/// The document's route (`/auth/sessions/{id}`) that a request path (`/auth/sessions/0f...`)
/// matches, for this method; `None` when no declared route does (our 404 / 405).
pub fn route_of(method: &str, path: &str) -> Option<String> {
    let path = path.split('?').next().unwrap_or(path);
    let paths = DOCUMENT["paths"].as_object()?;
    // A literal route wins over a parameterised one, as in axum.
    let mut candidates: Vec<&String> = paths
        .iter()
        .filter(|(_, item)| item.get(method.to_ascii_lowercase()).is_some())
        .map(|(route, _)| route)
        .filter(|route| matches(route, path))
        .collect();
    candidates.sort_by_key(|route| route.matches('{').count());
    candidates.first().map(|route| (*route).clone())
}

fn matches(route: &str, path: &str) -> bool {
    let (route, path): (Vec<&str>, Vec<&str>) =
        (route.split('/').collect(), path.split('/').collect());
    route.len() == path.len()
        && route
            .iter()
            .zip(&path)
            .all(|(r, p)| (r.starts_with('{') && r.ends_with('}') && !p.is_empty()) || r == p)
}

/// Check a JSON body against the documented answer of (method, route, status). Panics naming
/// the route when the status is not documented (and there is no `default`) or the body does not
/// validate. Answers that are not JSON, or documented without a JSON schema, are not checked.
pub fn check(method: &str, route: &str, status: u16, body: &Value) {
    let key = (method.to_ascii_uppercase(), route.to_owned(), status);
    // Built outside the lock: a refusal panics, and must not poison the cache for other tests.
    let cached = lock(&VALIDATORS).get(&key).cloned();
    let validator = match cached {
        Some(validator) => validator,
        None => {
            let validator = validator(method, route, status);
            lock(&VALIDATORS).insert(key, validator.clone());
            validator
        }
    };
    let Some(validator) = validator else {
        return;
    };
    let errors: Vec<String> = validator
        .iter_errors(body)
        .map(|error| format!("at `{}`: {error}", error.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{method} {route} answered {status} with a body its OpenAPI schema refuses:\n{}\nbody: {body}",
        errors.join("\n")
    );
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn validator(method: &str, route: &str, status: u16) -> Option<Arc<Validator>> {
    let operation = &DOCUMENT["paths"][route][method.to_ascii_lowercase()];
    assert!(
        operation.is_object(),
        "{method} {route} is not in the OpenAPI document"
    );
    let responses = &operation["responses"];
    let response = match &responses[status.to_string()] {
        Value::Null => &responses["default"],
        documented => documented,
    };
    assert!(
        !response.is_null(),
        "{method} {route} answered {status}, which its declaration does not document"
    );
    let schema = response["content"]["application/json"]["schema"].clone();
    if schema.is_null() {
        return None;
    }
    let root = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "components": DOCUMENT["components"],
        "allOf": [schema],
    });
    let validator = jsonschema::draft202012::new(&root).unwrap_or_else(|error| {
        panic!("the schema of {method} {route} {status} is not a valid JSON Schema: {error}")
    });
    Some(Arc::new(validator))
}
