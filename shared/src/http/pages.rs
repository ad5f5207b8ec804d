//! Server-rendered pages for the links we email (reset password, magic link, verify email), for a
//! person whose browser opened the link. No script; the product name; labels and errors next to
//! their field; a strict CSP (nothing loads, forms post only to us); `Referrer-Policy:
//! no-referrer` (every answer has it, so the token in the URL never leaks to another site).
//!
//! JSON clients keep the JSON API on the same paths: a `GET` link answers a page only when the
//! request's `Accept` names `text/html` (what a browser sends on a navigation), and the reset
//! form posts `application/x-www-form-urlencoded`, which the JSON API never takes.

use std::sync::OnceLock;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use minijinja::{Environment, Value};

use crate::config::Config;

/// Nothing loads but the page itself and its inline style; forms post only here.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; \
    form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Whether the client asked for a page: its `Accept` names `text/html` before any JSON type
/// (browsers send `text/html,...`; `curl` sends `*/*` and API clients `application/json`).
pub fn wants_html(headers: &HeaderMap) -> bool {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let html = accept.find("text/html");
    let json = accept.find("application/json");
    match (html, json) {
        (Some(html), Some(json)) => html < json,
        (Some(_), None) => true,
        _ => false,
    }
}

/// Whether a request body is a browser's form post.
pub fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

fn environment() -> &'static Environment<'static> {
    static ENVIRONMENT: OnceLock<Environment<'static>> = OnceLock::new();
    ENVIRONMENT.get_or_init(|| {
        let mut env = Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
        for (name, source) in [
            (
                "pages/layout.html.j2",
                include_str!("../../templates/pages/layout.html.j2"),
            ),
            (
                "pages/message.html.j2",
                include_str!("../../templates/pages/message.html.j2"),
            ),
            (
                "pages/reset_password.html.j2",
                include_str!("../../templates/pages/reset_password.html.j2"),
            ),
        ] {
            // Compiled in: a template that does not parse fails the unit test below, not a
            // request.
            let _ = env.add_template(name, source);
        }
        env
    })
}

/// A rendered page with its status and the page headers.
pub fn render(config: &Config, status: StatusCode, template: &str, context: Value) -> Response {
    let context = minijinja::context! { product_name => config.product_name.clone(), ..context };
    let body = environment()
        .get_template(template)
        .and_then(|t| t.render(context));
    let mut response = match body {
        Ok(html) => (status, Html(html)).into_response(),
        Err(error) => {
            tracing::error!(%error, template, "page not rendered");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Html("<!doctype html><title>Error</title><p>Something went wrong.</p>"),
            )
                .into_response()
        }
    };
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    response
}

/// A page that says one thing: a title, a message, an optional detail; `bad` marks a failure.
pub fn message(
    config: &Config,
    status: StatusCode,
    title: &str,
    message: &str,
    detail: Option<&str>,
    bad: bool,
) -> Response {
    render(
        config,
        status,
        "pages/message.html.j2",
        minijinja::context! { title, message, detail, bad },
    )
}

/// A browser that followed a sign-in link: the token cookies, on a page that shows no token.
pub fn signed_in(
    config: &Config,
    now: i64,
    body: crate::services::sessions::AuthResponse,
    detail: &str,
) -> Response {
    let with_cookies = crate::http::cookies::auth_response(config, now, StatusCode::OK, body);
    let mut answer = message(
        config,
        StatusCode::OK,
        "Signed in",
        "You are signed in.",
        Some(detail),
        false,
    );
    for cookie in with_cookies.headers().get_all(header::SET_COOKIE) {
        answer
            .headers_mut()
            .append(header::SET_COOKIE, cookie.clone());
    }
    answer
}

/// A browser that followed a sign-in link for an account with a second factor: the code is
/// entered in the app (the `mfa_token` is never put on a page).
pub fn second_factor_owed(config: &Config) -> Response {
    message(
        config,
        StatusCode::OK,
        "One more step",
        "This account uses two-factor authentication.",
        Some("Sign in from the app to enter a code from your authenticator."),
        false,
    )
}

/// The page for a refused link or form: the error's status and its (public) message.
pub fn refused(config: &Config, error: &crate::Error) -> Response {
    let status = error.status();
    let detail = if status == StatusCode::TOO_MANY_REQUESTS {
        "Too many tries from here; wait a few minutes and open the link again."
    } else {
        "Ask for a new link; each link works once and only for a short time."
    };
    message(
        config,
        status,
        "This link does not work",
        &error.message,
        Some(detail),
        true,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_renders_and_escapes_what_it_is_given() {
        let config = Config::for_tests("/tmp/unused");
        for template in ["pages/message.html.j2", "pages/reset_password.html.j2"] {
            let html = environment()
                .get_template(template)
                .unwrap()
                .render(minijinja::context! {
                    product_name => "Acme", title => "<b>t</b>", message => "m",
                    token => "\"x", csrf_token => "c", min_length => 10, error => "too short"
                })
                .unwrap();
            assert!(html.contains("Acme"), "{template}");
            assert!(!html.contains("<b>t</b>"), "{template} escapes");
            assert!(!html.contains("<script"), "{template}");
        }
        let page = render(
            &config,
            StatusCode::OK,
            "pages/message.html.j2",
            minijinja::context! { title => "x", message => "y" },
        );
        assert_eq!(
            page.headers()[header::CONTENT_SECURITY_POLICY],
            CONTENT_SECURITY_POLICY
        );
    }

    #[test]
    fn a_browser_navigation_wants_a_page_and_an_api_client_does_not() {
        let with = |accept: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::ACCEPT, accept.parse().unwrap());
            wants_html(&headers)
        };
        assert!(with(
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
        ));
        assert!(!with("application/json"));
        assert!(!with("*/*"));
        assert!(!with("application/json, text/html"));
        assert!(!wants_html(&HeaderMap::new()));
    }
}
