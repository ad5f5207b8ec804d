//! Where a request came from: the client address (for rate limits and the session record) and
//! its user agent.
//!
//! The address comes from what cannot be forged by the client: API Gateway's request context
//! (`sourceIp`) under Lambda, or the socket when the local server serves the request.
//! `X-Forwarded-For` is read only when `LATCHKEY_TRUST_PROXY` says a proxy we control sets it,
//! and then only the entry our outermost proxy appended (`LATCHKEY_TRUSTED_PROXY_HOPS` from the
//! right): everything left of it was written by the client and proves nothing.
//! Requests with none of these (in-process tests) share one `unknown` bucket.

use std::convert::Infallible;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderMap, header};
use lambda_http::request::RequestContext;

use crate::AppState;
use crate::domain::sessions::{SessionContext, UNKNOWN_ADDRESS};

/// The longest user agent kept on a session.
const MAX_USER_AGENT: usize = 512;

/// The request's `SessionContext`; never fails.
pub struct Client(pub SessionContext);

impl FromRequestParts<AppState> for Client {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Infallible> {
        let trusted_hops = state
            .config
            .trust_proxy
            .then_some(state.config.trusted_proxy_hops);
        Ok(Self(context_of(parts, trusted_hops)))
    }
}

/// The client's context from a request's parts; `trusted_hops` is how many proxies of ours
/// append to `X-Forwarded-For`, `None` when no proxy is trusted.
pub fn context_of(parts: &Parts, trusted_hops: Option<usize>) -> SessionContext {
    SessionContext {
        ip: address_of(&parts.headers, &parts.extensions, trusted_hops),
        user_agent: user_agent(&parts.headers),
    }
}

/// The client address of a request (the middleware puts it on the request's log span).
pub fn address_of(
    headers: &HeaderMap,
    extensions: &Extensions,
    trusted_hops: Option<usize>,
) -> String {
    if let Some(hops) = trusted_hops
        && let Some(forwarded) = forwarded_for(headers, hops)
    {
        return forwarded;
    }
    if let Some(context) = extensions.get::<RequestContext>()
        && let Some(ip) = gateway_source_ip(context)
    {
        return ip;
    }
    if let Some(ConnectInfo(address)) = extensions.get::<ConnectInfo<SocketAddr>>() {
        return address.ip().to_string();
    }
    UNKNOWN_ADDRESS.to_owned()
}

fn gateway_source_ip(context: &RequestContext) -> Option<String> {
    let ip = match context {
        RequestContext::ApiGatewayV2(context) => context.http.source_ip.clone(),
        RequestContext::ApiGatewayV1(context) => context.identity.source_ip.clone(),
        // Other event sources (ALB, WebSocket, ...) are not deployed; the enum is open.
        _ => None,
    };
    ip.filter(|ip| !ip.is_empty())
}

/// The address `hops` entries from the right of `X-Forwarded-For` (every header line, in order):
/// the peer our outermost proxy saw. Each proxy appends the address it was called from, so the
/// entries left of that one came from the client, who can write anything there.
fn forwarded_for(headers: &HeaderMap, hops: usize) -> Option<String> {
    let mut entries = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        entries.extend(value.to_str().ok()?.split(',').map(str::trim));
    }
    let index = entries.len().checked_sub(hops)?;
    entries
        .get(index)
        .filter(|ip| ip.parse::<std::net::IpAddr>().is_ok())
        .map(|ip| (*ip).to_owned())
}

fn user_agent(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|agent| agent.chars().take(MAX_USER_AGENT).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(build: impl FnOnce(&mut axum::http::Request<()>)) -> Parts {
        let mut request = axum::http::Request::new(());
        build(&mut request);
        request.into_parts().0
    }

    #[test]
    fn without_a_gateway_or_socket_the_address_is_unknown() {
        let parts = parts(|r| {
            r.headers_mut()
                .insert("x-forwarded-for", "203.0.113.9".parse().unwrap());
        });
        assert_eq!(context_of(&parts, None).ip, "unknown");
    }

    #[test]
    fn the_socket_address_is_used_when_served_locally() {
        let parts = parts(|r| {
            r.extensions_mut()
                .insert(ConnectInfo(SocketAddr::from(([192, 0, 2, 7], 5555))));
        });
        assert_eq!(context_of(&parts, None).ip, "192.0.2.7");
    }

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let parts = parts(|r| {
            r.headers_mut()
                .insert("x-forwarded-for", "203.0.113.9, 10.0.0.1".parse().unwrap());
            r.extensions_mut()
                .insert(ConnectInfo(SocketAddr::from(([10, 0, 0, 1], 1))));
        });
        assert_eq!(context_of(&parts, Some(1)).ip, "10.0.0.1");
        assert_eq!(context_of(&parts, Some(2)).ip, "203.0.113.9");
        assert_eq!(context_of(&parts, None).ip, "10.0.0.1");
    }

    #[test]
    fn the_client_written_left_most_entries_never_count() {
        let parts = parts(|r| {
            // The client sent `X-Forwarded-For: 198.51.100.1, 198.51.100.2`; our one proxy
            // appended the address it saw, on a line of its own.
            r.headers_mut().append(
                "x-forwarded-for",
                "198.51.100.1, 198.51.100.2".parse().unwrap(),
            );
            r.headers_mut()
                .append("x-forwarded-for", "203.0.113.9".parse().unwrap());
        });
        assert_eq!(context_of(&parts, Some(1)).ip, "203.0.113.9");
        assert_eq!(context_of(&parts, Some(2)).ip, "198.51.100.2");
    }

    #[test]
    fn fewer_entries_than_trusted_hops_or_garbage_fall_back_to_the_socket() {
        let parts = parts(|r| {
            r.headers_mut()
                .insert("x-forwarded-for", "not-an-ip".parse().unwrap());
            r.extensions_mut()
                .insert(ConnectInfo(SocketAddr::from(([10, 0, 0, 1], 1))));
        });
        assert_eq!(context_of(&parts, Some(1)).ip, "10.0.0.1");
        assert_eq!(context_of(&parts, Some(3)).ip, "10.0.0.1");
    }

    #[test]
    fn the_api_gateway_source_ip_is_used_under_lambda() {
        let mut context =
            lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext::default();
        context.http.source_ip = Some("198.51.100.4".into());
        let parts = parts(|r| {
            r.extensions_mut()
                .insert(RequestContext::ApiGatewayV2(context));
        });
        assert_eq!(context_of(&parts, None).ip, "198.51.100.4");
    }
}
