//! The `accounts` endpoint group: sign-up, sign-in, refresh, sessions.

use axum::Router;
use latchkey::AppState;

pub fn router(state: AppState) -> Router {
    Router::new().with_state(state)
}
