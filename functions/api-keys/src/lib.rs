//! The `api-keys` endpoint group: API keys (mint, list, revoke), the gate check for reverse
//! proxies (`/auth/check`), and an administrator's plan change. Handlers are thin: parse, call a
//! service in `latchkey::services`, map the result.

mod check;
mod keys;
mod plans;

use axum::Router;
use axum::routing::{any, delete, post, put};
use latchkey::AppState;

/// Every (method, path) this group serves, in axum's path syntax. `template.yaml` and the route
/// tests are checked against this list. `/auth/check` answers any method: a proxy may send the
/// guarded request's own.
pub const ROUTES: &[(&str, &str)] = &[
    ("POST", "/auth/api-keys"),
    ("POST", "/users/generate-api-key"),
    ("GET", "/auth/api-keys"),
    ("DELETE", "/auth/api-keys/{id}"),
    ("ANY", "/auth/check"),
    ("PUT", "/admin/users/{id}/plan"),
];

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/auth/api-keys", post(keys::create).get(keys::list))
        .route("/users/generate-api-key", post(keys::create))
        .route("/auth/api-keys/{id}", delete(keys::revoke))
        .route("/auth/check", any(check::check))
        .route("/admin/users/{id}/plan", put(plans::set_plan))
        .with_state(state)
}
