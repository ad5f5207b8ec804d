//! Route declarations: the one place an endpoint group says what it serves.
//!
//! A handler carries its declaration in `#[utoipa::path(...)]` (method, path, request and response
//! types, documented errors); a group lists its handlers once, in `Routes`, with `routes!` and the
//! alias paths each is also served at. The group's axum router, its route list (checked against
//! `template.yaml` and the events) and its part of the OpenAPI document are all read from that one
//! list. `Routes` has no way to add a route without a declaration, so nothing can be served that
//! the document and the template do not know about.

use axum::Router;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::{OpenApi, Paths};
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter};

use crate::AppState;

/// The extension that marks an alias operation with the `operationId` it is an alias of.
pub const ALIAS_OF: &str = "x-alias-of";

/// Another path the same handler answers at, with the alias operation's own `operationId`.
#[derive(Clone, Copy, Debug)]
pub struct Alias {
    pub path: &'static str,
    pub operation_id: &'static str,
}

/// `alias("/auth/register", "register")`.
pub const fn alias(path: &'static str, operation_id: &'static str) -> Alias {
    Alias { path, operation_id }
}

/// One (method, path) a group serves.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Route {
    /// Upper case: `GET`, `POST`, ...
    pub method: String,
    /// In axum's syntax (`/auth/sessions/{id}`), which is also OpenAPI's for plain parameters.
    pub path: String,
}

/// Every route of one endpoint group, each declared once.
pub struct Routes {
    inner: OpenApiRouter<AppState>,
}

impl Default for Routes {
    fn default() -> Self {
        Self::new()
    }
}

impl Routes {
    pub fn new() -> Self {
        Self {
            inner: OpenApiRouter::new(),
        }
    }

    /// The handlers of one path, from `routes!(a, b)`: each handler's `#[utoipa::path]` gives the
    /// method(s). (`routes!` over handlers of different paths would serve every method at every
    /// path; `one_path` refuses that.)
    pub fn declare(self, declared: UtoipaMethodRouter<AppState>) -> Self {
        one_path(&declared.1);
        Self {
            inner: self.inner.routes(declared),
        }
    }

    /// One handler of one method, also served at each alias path: the alias is the same operation
    /// under its own `operationId`, marked `x-alias-of` the original.
    pub fn declare_aliased(
        self,
        declared: UtoipaMethodRouter<AppState>,
        aliases: &[Alias],
    ) -> Self {
        let (path, item) = one_path(&declared.1);
        let operations = operations(item);
        assert!(
            operations.len() == 1,
            "{path}: an aliased declaration has one handler of one method"
        );
        let (method, operation) = operations[0];
        let original = operation.operation_id.clone().unwrap_or_default();
        let mut inner = self.inner;
        for alias in aliases {
            let mut paths = Paths::new();
            let mut operation = operation.clone();
            operation.operation_id = Some(alias.operation_id.to_owned());
            operation.summary = Some(format!(
                "{} (alias of {method} {path})",
                operation.summary.as_deref().unwrap_or(original.as_str())
            ));
            let mut extensions = operation.extensions.take().unwrap_or_default();
            extensions.insert(ALIAS_OF.to_owned(), original.clone().into());
            operation.extensions = Some(extensions);
            paths.paths.insert(
                alias.path.to_owned(),
                path_item(method, operation, item.parameters.clone()),
            );
            inner = inner.routes((Vec::new(), paths, declared.2.clone()));
        }
        Self {
            inner: inner.routes(declared),
        }
    }

    /// Every declared (method, path), sorted.
    pub fn list(&self) -> Vec<Route> {
        let mut routes: Vec<Route> = self
            .inner
            .get_openapi()
            .paths
            .paths
            .iter()
            .flat_map(|(path, item)| {
                operations(item).into_iter().map(|(method, _)| Route {
                    method: method.to_owned(),
                    path: path.clone(),
                })
            })
            .collect();
        routes.sort();
        routes
    }

    /// The axum router that serves exactly the declared routes.
    pub fn router(self, state: AppState) -> Router {
        let (router, _) = self.inner.split_for_parts();
        router.with_state(state)
    }

    /// This group's part of the OpenAPI document: its paths and the schemas they name.
    pub fn openapi(self) -> OpenApi {
        self.inner.into_openapi()
    }
}

/// The declaration's one path, or a panic naming the paths (caught by every test that builds a
/// router).
fn one_path(paths: &Paths) -> (&String, &PathItem) {
    let mut entries = paths.paths.iter();
    match (entries.next(), entries.next()) {
        (Some(entry), None) => entry,
        _ => panic!(
            "one `routes!` declares the handlers of one path; got {:?}",
            paths.paths.keys().collect::<Vec<_>>()
        ),
    }
}

/// The operations of a path item, as (METHOD, operation).
pub fn operations(item: &PathItem) -> Vec<(&'static str, &Operation)> {
    [
        ("GET", &item.get),
        ("PUT", &item.put),
        ("POST", &item.post),
        ("DELETE", &item.delete),
        ("OPTIONS", &item.options),
        ("HEAD", &item.head),
        ("PATCH", &item.patch),
        ("TRACE", &item.trace),
    ]
    .into_iter()
    .filter_map(|(method, operation)| Some((method, operation.as_ref()?)))
    .collect()
}

fn path_item(
    method: &str,
    operation: Operation,
    parameters: Option<Vec<utoipa::openapi::path::Parameter>>,
) -> PathItem {
    let mut item = PathItem::default();
    item.parameters = parameters;
    let slot = match method {
        "GET" => &mut item.get,
        "PUT" => &mut item.put,
        "POST" => &mut item.post,
        "DELETE" => &mut item.delete,
        "OPTIONS" => &mut item.options,
        "HEAD" => &mut item.head,
        "PATCH" => &mut item.patch,
        _ => &mut item.trace,
    };
    *slot = Some(operation);
    item
}
