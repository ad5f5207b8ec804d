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
        .declare_aliased(
            routes!(auth::sign_up),
            &[alias("/auth/register", "register")],
        )
        .declare_aliased(routes!(auth::sign_in), &[alias("/auth/login", "login")])
        .declare(routes!(auth::refresh))
        .declare_aliased(
            routes!(auth::logout),
            &[alias("/users/logout", "usersLogout")],
        )
        .declare(routes!(profile::validate))
        .declare(routes!(profile::me))
        .declare(routes!(profile::status))
        .declare(routes!(discovery::check_email))
        .declare(routes!(
            discovery::login_methods,
            discovery::login_methods_post
        ))
        .declare(routes!(sessions::list))
        .declare(routes!(sessions::revoke))
        .declare(routes!(sessions::change_password))
        .declare(routes!(csrf::init))
        .declare(routes!(csrf::token))
}

pub fn router(state: AppState) -> Router {
    routes().router(state)
}
