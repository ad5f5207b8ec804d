//! Where a request came from: the client address (for rate limits and the session record) and
//! its user agent.
//!
//! The address comes from what cannot be forged by the client: API Gateway's request context
//! (`sourceIp`) under Lambda, or the socket when the local server serves the request.
//! `X-Forwarded-For` is read only when `LATCHKEY_TRUST_PROXY` says a proxy we control sets it.
//! Requests with none of these (in-process tests) share one `unknown` bucket.

use std::convert::Infallible;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
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
        Ok(Self(context_of(parts, state.config.trust_proxy)))
    }
}

/// The client's context from a request's parts.
pub fn context_of(parts: &Parts, trust_proxy: bool) -> SessionContext {
    SessionContext {
        ip: address_of(parts, trust_proxy),
        user_agent: user_agent(&parts.headers),
    }
}

fn address_of(parts: &Parts, trust_proxy: bool) -> String {
    if trust_proxy && let Some(forwarded) = forwarded_for(&parts.headers) {
        return forwarded;
    }
    if let Some(context) = parts.extensions.get::<RequestContext>()
        && let Some(ip) = gateway_source_ip(context)
    {
        return ip;
    }
    if let Some(ConnectInfo(address)) = parts.extensions.get::<ConnectInfo<SocketAddr>>() {
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

/// The left-most address of `X-Forwarded-For`: the client as seen by the first trusted proxy.
fn forwarded_for(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-forwarded-for")?
        .to_str()
        .ok()?
        .split(',')
        .next()
        .map(str::trim)
        .filter(|ip| ip.parse::<std::net::IpAddr>().is_ok())
        .map(str::to_owned)
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
        assert_eq!(context_of(&parts, false).ip, "unknown");
    }

    #[test]
    fn the_socket_address_is_used_when_served_locally() {
        let parts = parts(|r| {
            r.extensions_mut()
                .insert(ConnectInfo(SocketAddr::from(([192, 0, 2, 7], 5555))));
        });
        assert_eq!(context_of(&parts, false).ip, "192.0.2.7");
    }

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let parts = parts(|r| {
            r.headers_mut()
                .insert("x-forwarded-for", "203.0.113.9, 10.0.0.1".parse().unwrap());
            r.extensions_mut()
                .insert(ConnectInfo(SocketAddr::from(([10, 0, 0, 1], 1))));
        });
        assert_eq!(context_of(&parts, true).ip, "203.0.113.9");
        assert_eq!(context_of(&parts, false).ip, "10.0.0.1");
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
        assert_eq!(context_of(&parts, false).ip, "198.51.100.4");
    }
}
