//! The `api-keys` endpoint group: API keys (mint, list, revoke), the gate check for reverse
//! proxies (`/auth/check`), and an administrator's plan change. Handlers are thin: parse, call a
//! service in `latchkey::services`, map the result.

mod check;
mod keys;
mod plans;

use axum::Router;
use latchkey::AppState;
use latchkey::http::{Routes, alias};
use utoipa_axum::routes;

/// Every route this group serves, each declared once (see `latchkey::http::routes`). The gate
/// check answers every method a proxy may send with the guarded request's own (nginx's
/// `auth_request` keeps it); HEAD comes with GET.
pub fn routes() -> Routes {
    Routes::new()
        .declare_aliased(
            routes!(keys::create),
            &[alias("/users/generate-api-key", "generateApiKey")],
        )
        .declare(routes!(keys::list))
        .declare(routes!(keys::revoke))
        .declare(routes!(
            check::check_get,
            check::check_post,
            check::check_put,
            check::check_patch,
            check::check_delete
        ))
        .declare(routes!(plans::set_plan))
}

pub fn router(state: AppState) -> Router {
    routes().router(state)
}
