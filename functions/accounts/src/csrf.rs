//! CSRF cookie and token (seed 002).

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use latchkey::AppState;
use latchkey::http::{Json, cookies, csrf};
use serde::Serialize;
use utoipa::ToSchema;

/// The request's CSRF cookie value, or a new one with the `Set-Cookie` that plants it.
fn secret(state: &AppState, headers: &HeaderMap) -> (String, Option<String>) {
    match csrf::secret_of(&state.config, headers) {
        Some(secret) => (secret, None),
        None => {
            let secret = csrf::new_secret(state.random.as_ref());
            let cookie = csrf::cookie(&state.config, &secret);
            (secret, Some(cookie))
        }
    }
}

/// `GET /auth/csrf/init`: set the CSRF cookie; answer a script that fetches the token, keeps it
/// in `window.csrfToken` and announces it with a `csrf-token` event.
#[utoipa::path(get, path = "/auth/csrf/init", operation_id = "initCsrf", tag = "accounts",
    summary = "Set the CSRF cookie; a script that fetches the token",
    security((), ("csrfCookie" = [])),
    responses(
        (status = 200, description = "The script: it fetches `/auth/csrf/token`, keeps the token \
            in `window.csrfToken` and dispatches a `csrf-token` event.",
            content_type = "application/javascript", body = String,
            headers(("Set-Cookie" = String, description = "The CSRF cookie `__Host-csrf` \
                (`HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=86400`)."))),
    ))]
pub async fn init(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let (secret, _) = secret(&state, &headers);
    let url = serde_json::to_string(&format!("{}/auth/csrf/token", state.config.public_url))
        .unwrap_or_default();
    let script = format!(
        "(function () {{\n  fetch({url}, {{ credentials: \"include\" }})\n    .then(function (r) {{ return r.json(); }})\n    .then(function (body) {{\n      window.csrfToken = body.csrf_token;\n      document.dispatchEvent(new CustomEvent(\"csrf-token\", {{ detail: body.csrf_token }}));\n    }});\n}})();\n"
    );
    let mut response = script.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/javascript; charset=utf-8"),
    );
    cookies::with_cookie(response, csrf::cookie(&state.config, &secret))
}

#[derive(Serialize, ToSchema)]
pub struct CsrfToken {
    /// Send as `X-CSRF-Token`.
    csrf_token: String,
}

/// `GET /auth/csrf/token`: the token bound to the CSRF cookie (planting one if absent).
#[utoipa::path(get, path = "/auth/csrf/token", operation_id = "getCsrfToken", tag = "accounts",
    summary = "The CSRF token bound to the CSRF cookie",
    security((), ("csrfCookie" = [])),
    responses(
        (status = 200, description = "The token.", body = CsrfToken,
            headers(("Set-Cookie" = String, description = "The CSRF cookie `__Host-csrf`, when \
                the request had none."))),
    ))]
pub async fn token(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let (secret, new_cookie) = secret(&state, &headers);
    let response = Json(CsrfToken {
        csrf_token: csrf::token_for(&state.config, &secret),
    })
    .into_response();
    match new_cookie {
        Some(cookie) => cookies::with_cookie(response, cookie),
        None => response,
    }
}
