//! The middleware every router gets: body limit, request ids, security headers (HSTS included),
//! CORS, panics and framework errors turned into our error shape, and a tracing span per request.

use std::any::Any;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::config::Config;
use crate::error::Error;
use crate::http::client;
use crate::http::json::BODY_LIMIT;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Wrap a group's router in the common middleware. Every function and the local server call this
/// once on their merged router.
pub fn apply(router: Router, config: &Config) -> Router {
    let trusted_hops = config.trust_proxy.then_some(config.trusted_proxy_hops);
    router
        .fallback(|| async { Error::not_found("No such endpoint") })
        .method_not_allowed_fallback(|| async { Error::method_not_allowed() })
        .layer(middleware::from_fn(error_shape))
        .layer(middleware::from_fn(security_headers))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(cors(config))
        .layer(TraceLayer::new_for_http().make_span_with(move |request: &Request| {
            let id = request.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
            // The address rate limits count, so a log line and a limit speak of the same client.
            let client = client::address_of(request.headers(), request.extensions(), trusted_hops);
            tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id = %id, client = %client)
        }))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

/// Every response: HTTPS only for a year on this host and its subdomains (browsers ignore it
/// over plain HTTP, so local use is unaffected), no caching of auth answers, no MIME sniffing, no
/// framing.
async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static("max-age=31536000; includeSubDomains"),
    );
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// Errors produced below our handlers (a body over the limit, a bad path parameter) come as plain
/// text; answer them in our JSON shape instead.
async fn error_shape(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    // JSON is our shape already; an HTML page is a browser's answer (`http::pages`).
    let is_ours = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with("text/html"));
    if !(status.is_client_error() || status.is_server_error()) || is_ours {
        return response;
    }
    let error = match status {
        StatusCode::PAYLOAD_TOO_LARGE => Error::payload_too_large(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => Error::unsupported_media_type(),
        StatusCode::NOT_FOUND => Error::not_found("No such endpoint"),
        StatusCode::METHOD_NOT_ALLOWED => Error::method_not_allowed(),
        status if status.is_client_error() => Error::bad_request("The request is malformed"),
        status => Error::internal(format!("framework answered {status}")),
    };
    let mut shaped = error.into_response();
    for (name, value) in response.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            shaped.headers_mut().insert(name.clone(), value.clone());
        }
    }
    shaped
}

/// A panic becomes a 500 in our shape; the panic text is logged, never sent.
fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response<Body> {
    let detail = panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "unknown panic".to_owned());
    Error::internal(format!("handler panicked: {detail}")).into_response()
}

fn cors(config: &Config) -> CorsLayer {
    let origins: Vec<HeaderValue> = config
        .cors_origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_credentials(true)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static("x-csrf-token"),
            HeaderName::from_static("x-api-key"),
        ])
        .expose_headers([REQUEST_ID, header::RETRY_AFTER])
}
