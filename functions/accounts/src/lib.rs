//! The `accounts` endpoint group: sign-up, sign-in, refresh, sessions.

use axum::Router;
use latchkey::AppState;

/// Every (method, path) this group serves, in axum's path syntax. `template.yaml` and the route
/// tests are checked against this list, so the three cannot drift apart.
pub const ROUTES: &[(&str, &str)] = &[];

pub fn router(state: AppState) -> Router {
    Router::new().with_state(state)
}
