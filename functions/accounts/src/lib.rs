//! The `accounts` endpoint group: sign-up, sign-in, refresh, logout, the caller's profile,
//! sessions, password change, sign-in discovery and CSRF tokens. Handlers are thin: parse, call a
//! service in `latchkey::services`, map the result.

mod auth;
mod csrf;
mod discovery;
mod profile;
mod sessions;

use axum::Router;
use latchkey::AppState;
use latchkey::http::{Routes, alias};
use utoipa_axum::routes;

/// Every route this group serves, each declared once (see `latchkey::http::routes`); aliases
/// are the same handler at another path.
pub fn routes() -> Routes {
    Routes::new()
        .add_aliased(
            routes!(auth::sign_up),
            &[alias("/auth/register", "register")],
        )
        .add_aliased(routes!(auth::sign_in), &[alias("/auth/login", "login")])
        .add(routes!(auth::refresh))
        .add_aliased(
            routes!(auth::logout),
            &[alias("/users/logout", "usersLogout")],
        )
        .add(routes!(profile::validate))
        .add(routes!(profile::me))
        .add(routes!(profile::status))
        .add(routes!(discovery::check_email))
        .add(routes!(
            discovery::login_methods,
            discovery::login_methods_post
        ))
        .add(routes!(sessions::list))
        .add(routes!(sessions::revoke))
        .add(routes!(sessions::change_password))
        .add(routes!(csrf::init))
        .add(routes!(csrf::token))
}

pub fn router(state: AppState) -> Router {
    routes().router(state)
}
