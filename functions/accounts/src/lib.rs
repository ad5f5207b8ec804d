//! The `accounts` endpoint group: sign-up, sign-in, refresh, logout, the caller's profile,
//! sessions, password change, sign-in discovery and CSRF tokens. Handlers are thin: parse, call a
//! service in `latchkey::services`, map the result.

mod auth;
mod csrf;
mod discovery;
mod profile;
mod sessions;

use axum::Router;
use axum::routing::{delete, get, post};
use latchkey::AppState;

/// Every (method, path) this group serves, in axum's path syntax. `template.yaml` and the route
/// tests are checked against this list, so the three cannot drift apart.
pub const ROUTES: &[(&str, &str)] = &[
    ("POST", "/auth/sign-up"),
    ("POST", "/auth/register"),
    ("POST", "/auth/sign-in"),
    ("POST", "/auth/login"),
    ("POST", "/auth/refresh"),
    ("POST", "/auth/logout"),
    ("POST", "/users/logout"),
    ("GET", "/auth/validate"),
    ("GET", "/auth/me"),
    ("GET", "/users/auth/status"),
    ("POST", "/auth/check-email"),
    ("GET", "/auth/login-methods"),
    ("POST", "/auth/login-methods"),
    ("GET", "/auth/sessions"),
    ("DELETE", "/auth/sessions/{id}"),
    ("POST", "/auth/password"),
    ("GET", "/auth/csrf/init"),
    ("GET", "/auth/csrf/token"),
];

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/auth/sign-up", post(auth::sign_up))
        .route("/auth/register", post(auth::sign_up))
        .route("/auth/sign-in", post(auth::sign_in))
        .route("/auth/login", post(auth::sign_in))
        .route("/auth/refresh", post(auth::refresh))
        .route("/auth/logout", post(auth::logout))
        .route("/users/logout", post(auth::logout))
        .route("/auth/validate", get(profile::validate))
        .route("/auth/me", get(profile::me))
        .route("/users/auth/status", get(profile::status))
        .route("/auth/check-email", post(discovery::check_email))
        .route(
            "/auth/login-methods",
            get(discovery::login_methods).post(discovery::login_methods),
        )
        .route("/auth/sessions", get(sessions::list))
        .route("/auth/sessions/{id}", delete(sessions::revoke))
        .route("/auth/password", post(sessions::change_password))
        .route("/auth/csrf/init", get(csrf::init))
        .route("/auth/csrf/token", get(csrf::token))
        .with_state(state)
}
