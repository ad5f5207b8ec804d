//! `GET /auth/passkeys/demo`: a minimal page that runs both ceremonies in a browser, so a person
//! can try passkeys against a local server (a browser needs JavaScript to call WebAuthn; the JSON
//! endpoints alone cannot be tried with curl). Served only when `LATCHKEY_DEMO_PAGES` is on (by
//! default locally, never by default on Lambda).
//!
//! The page holds its access token in memory only (never in storage) and sends it as a Bearer
//! token. Its one script and one style sheet are inline, allowed by a nonce drawn per response:
//! the Content-Security-Policy allows nothing else (no other script, no frames, no form targets,
//! requests only to this origin).

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use latchkey::http::answers::{ErrorResponse, errors};
use latchkey::{AppState, Error, Result};

const PAGE: &str = include_str!("demo.html");

/// `GET /auth/passkeys/demo`: the demo page.
#[utoipa::path(get, path = "/auth/passkeys/demo", operation_id = "passkeyDemoPage",
    tag = "passkeys", summary = "A page to try passkeys in a browser",
    description = "Create an account or sign in with a password, add a passkey, sign in with \
        it (with an email, or with none for a discoverable passkey), list and remove passkeys. \
        Served only when `LATCHKEY_DEMO_PAGES` is on (the default locally, off on Lambda). Open \
        it at an origin listed in `LATCHKEY_WEBAUTHN_ORIGINS` (locally \
        `http://localhost:3000`: WebAuthn refuses IP addresses).",
    responses(
        (status = 200, description = "The page; its script runs under a nonce-based \
            Content-Security-Policy.", content_type = "text/html", body = String,
            headers(("Content-Security-Policy" = String, description = "`default-src 'none'`, \
                the inline script and style allowed by a per-response nonce, requests to this \
                origin only."))),
        (status = 404, description = "`not_found`: demo pages are off \
            (`LATCHKEY_DEMO_PAGES=false`).", body = ErrorResponse),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ))]
pub async fn page(State(state): State<AppState>) -> Result<Response> {
    if !state.config.demo_pages {
        return Err(Error::not_found("No such page"));
    }
    let mut bytes = [0u8; 18];
    state.random.fill(&mut bytes);
    let nonce = base64::engine::general_purpose::STANDARD.encode(bytes);
    let html = PAGE
        .replace("{{nonce}}", &nonce)
        .replace("{{product}}", &html_escape(&state.config.product_name))
        .replace("{{rp_id}}", &html_escape(&state.config.webauthn.rp_id));
    let policy = format!(
        "default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; \
         connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; \
         frame-ancestors 'none'"
    );
    let mut response = html.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_str(&policy).map_err(Error::internal_cause)?,
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    Ok(response)
}

fn html_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#x27;"),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_put_into_the_page_cannot_make_markup() {
        assert_eq!(
            html_escape("<b a=\"x\">&'"),
            "&lt;b a=&quot;x&quot;&gt;&amp;&#x27;"
        );
    }

    #[test]
    fn the_page_has_one_script_and_one_style_and_both_carry_the_nonce() {
        assert_eq!(PAGE.matches("<script").count(), 1);
        assert_eq!(PAGE.matches("<style").count(), 1);
        assert!(PAGE.contains("<script nonce=\"{{nonce}}\">"));
        assert!(PAGE.contains("<style nonce=\"{{nonce}}\">"));
        // Inline handlers would need 'unsafe-inline': the script binds its own listeners.
        assert!(!PAGE.contains(" onclick="));
    }
}
