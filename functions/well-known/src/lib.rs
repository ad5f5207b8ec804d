//! The `well-known` endpoint group: health, and (with the token service) JWKS and OIDC discovery.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use latchkey::AppState;
use serde_json::json;

/// Every (method, path) this group serves, in axum's path syntax. `template.yaml` and the route
/// tests are checked against this list, so the three cannot drift apart.
pub const ROUTES: &[(&str, &str)] = &[("GET", "/health")];

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health))
        .with_state(state)
}

/// `GET /health`: 200 when the table answers, 503 (same shape) when it does not.
async fn health(State(state): State<AppState>) -> impl IntoResponse {
    let table = state.table.ping().await;
    if let Err(error) = &table {
        tracing::warn!(%error, "health check: table unreachable");
    }
    let status = if table.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if table.is_ok() { "ok" } else { "degraded" },
        "backend": state.config.backend.name(),
        "checks": { "table": { "backend": state.table.backend(), "reachable": table.is_ok() } },
    });
    (status, axum::Json(body))
}
