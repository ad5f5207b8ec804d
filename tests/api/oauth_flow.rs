//! The shared OAuth 2 authorization-code flow (`services::oauth_flow`) against a real provider
//! (oauth2-mock-server, `support::oauth`), on both backends: the authorization URL (PKCE S256,
//! state, nonce), the flow consumed once, the code exchanged, a refresh, a revocation, and the
//! provider's refusals; OIDC discovery and an ID token verified (`services::oidc`).

use latchkey::config::OidcProvider;
use latchkey::services::oauth_flow::{self, ClientAuth, Endpoints, FlowError, TokenKind};
use latchkey::services::oidc;
use latchkey_tests::oauth::MockProvider;
use latchkey_tests::{Backend, TestApp, on_both_backends};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Payload {
    user_id: String,
    redirect_to: Option<String>,
}

fn endpoints(provider: &MockProvider, auth: ClientAuth) -> Endpoints {
    Endpoints {
        provider: "mock".into(),
        authorize_url: format!("{}/authorize", provider.issuer),
        token_url: format!("{}/token", provider.issuer),
        revocation_url: Some(format!("{}/revoke", provider.issuer)),
        client_id: "latchkey-client".into(),
        client_secret: Some("s3cret".to_owned().into()),
        scopes: vec!["openid".into(), "email".into()],
        extra_authorize_params: vec![("access_type".into(), "offline".into())],
        redirect_uri: "http://127.0.0.1:9/auth/mock/callback".into(),
        client_auth: auth,
    }
}

fn query(url: &str) -> std::collections::HashMap<String, String> {
    url::Url::parse(url)
        .expect("a URL")
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn payload() -> Payload {
    Payload {
        user_id: "u-1".into(),
        redirect_to: Some("https://app.example/after".into()),
    }
}

async fn a_flow_runs_from_authorization_url_to_tokens_and_is_consumed_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let provider = MockProvider::start().await;
    provider
        .set_claims(json!({"sub": "s-1", "email": "a@example.com", "email_verified": true}))
        .await;
    let endpoints = endpoints(&provider, ClientAuth::BasicHeader);

    let started = oauth_flow::begin(&app.state, &endpoints, "test", &payload(), true)
        .await
        .expect("begin");
    let asked = query(&started.authorization_url);
    assert_eq!(asked["response_type"], "code");
    assert_eq!(asked["client_id"], "latchkey-client");
    assert_eq!(asked["code_challenge_method"], "S256");
    assert_eq!(asked["state"], started.state);
    assert_eq!(asked["scope"], "openid email");
    assert_eq!(asked["access_type"], "offline");
    assert_eq!(asked["redirect_uri"], endpoints.redirect_uri);
    let nonce = started.nonce.clone().expect("a nonce");
    assert_eq!(asked["nonce"], nonce);

    let back = query(&provider.consent(&started.authorization_url).await);
    assert_eq!(back["state"], started.state);

    // Another purpose cannot take the flow, and leaves it for its own.
    let foreign = oauth_flow::consume::<Payload>(&app.state, &started.state, "other").await;
    assert!(
        matches!(foreign, Err(FlowError::InvalidState)),
        "{foreign:?}"
    );

    let flow = oauth_flow::consume::<Payload>(&app.state, &started.state, "test")
        .await
        .expect("consume");
    assert_eq!(flow.payload, payload());
    assert_eq!(flow.provider, "mock");
    assert_eq!(flow.nonce.as_deref(), Some(nonce.as_str()));

    let again = oauth_flow::consume::<Payload>(&app.state, &started.state, "test").await;
    assert!(matches!(again, Err(FlowError::InvalidState)), "{again:?}");

    let tokens = oauth_flow::exchange(&endpoints, &back["code"], &flow)
        .await
        .expect("exchange");
    assert!(!tokens.access_token.expose_secret().is_empty());
    assert!(
        tokens.id_token.is_some(),
        "an OIDC provider answers an id_token"
    );
    assert_eq!(provider.token_requests("authorization_code").await, 1);

    let refresh_token = tokens.refresh_token.expect("a refresh token");
    let refreshed = oauth_flow::refresh(&endpoints, refresh_token.expose_secret())
        .await
        .expect("refresh");
    assert!(!refreshed.access_token.expose_secret().is_empty());
    assert_eq!(provider.token_requests("refresh_token").await, 1);

    let revoked = oauth_flow::revoke(
        &endpoints,
        refreshed.access_token.expose_secret(),
        TokenKind::Access,
    )
    .await
    .expect("revoke");
    assert!(revoked);
    assert_eq!(provider.requests().await["revoke"], 1);
}

async fn a_state_never_issued_or_malformed_is_invalid(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for state in ["", "short", &"a".repeat(43), &"é".repeat(22)] {
        let result = oauth_flow::consume::<Payload>(&app.state, state, "test").await;
        assert!(matches!(result, Err(FlowError::InvalidState)), "{state}");
    }
}

async fn a_refused_code_or_refresh_is_a_refusal_not_a_failure(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let provider = MockProvider::start().await;
    let endpoints = endpoints(&provider, ClientAuth::RequestBody);
    let started = oauth_flow::begin(&app.state, &endpoints, "test", &payload(), false)
        .await
        .expect("begin");
    assert!(started.nonce.is_none());
    assert!(!query(&started.authorization_url).contains_key("nonce"));
    let back = query(&provider.consent(&started.authorization_url).await);
    let flow = oauth_flow::consume::<Payload>(&app.state, &back["state"], "test")
        .await
        .expect("consume");
    assert!(flow.nonce.is_none());

    provider
        .fail_next_token_request(400, json!({"error": "invalid_grant"}))
        .await;
    let refused = oauth_flow::exchange(&endpoints, &back["code"], &flow).await;
    assert!(
        matches!(refused, Err(FlowError::Refused { ref error, .. }) if error == "invalid_grant"),
        "{refused:?}"
    );
    let error: latchkey::Error = refused.unwrap_err().into();
    assert_eq!(error.status(), 400);

    // GitHub's way: 200 with an error body.
    provider
        .fail_next_token_request(200, json!({"error": "bad_verification_code"}))
        .await;
    let refused = oauth_flow::refresh(&endpoints, "some-refresh-token").await;
    assert!(
        matches!(refused, Err(FlowError::Refused { ref error, .. }) if error == "bad_verification_code"),
        "{refused:?}"
    );
}

async fn an_unreachable_provider_is_a_provider_error(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let endpoints = Endpoints {
        provider: "dead".into(),
        authorize_url: format!("{dead}/authorize"),
        token_url: format!("{dead}/token"),
        revocation_url: None,
        client_id: "c".into(),
        client_secret: None,
        scopes: vec![],
        extra_authorize_params: vec![],
        redirect_uri: "http://127.0.0.1:9/cb".into(),
        client_auth: ClientAuth::BasicHeader,
    };
    let started = oauth_flow::begin(&app.state, &endpoints, "test", &payload(), false)
        .await
        .expect("begin makes no call to the provider");
    let flow = oauth_flow::consume::<Payload>(&app.state, &started.state, "test")
        .await
        .unwrap();
    let failed = oauth_flow::exchange(&endpoints, "code", &flow).await;
    assert!(matches!(failed, Err(FlowError::Provider(_))), "{failed:?}");
    let error: latchkey::Error = failed.unwrap_err().into();
    assert_eq!(error.status(), 502);
    assert!(
        !oauth_flow::revoke(&endpoints, "t", TokenKind::Refresh)
            .await
            .unwrap(),
        "no revocation endpoint: nothing to do"
    );
}

async fn a_plain_http_provider_off_loopback_is_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut endpoints = endpoints(&MockProvider::start().await, ClientAuth::BasicHeader);
    endpoints.token_url = "http://provider.example/token".into();
    let refused = oauth_flow::begin(&app.state, &endpoints, "test", &payload(), false).await;
    assert!(matches!(refused, Err(FlowError::Config(_))), "{refused:?}");
}

async fn an_oidc_provider_is_discovered_lazily_and_its_id_token_verified(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let provider = MockProvider::start().await;
    provider
        .set_claims(json!({"sub": "s-9", "email": "o@example.com", "email_verified": true}))
        .await;
    let oidc_provider = OidcProvider {
        name: "mock".into(),
        issuer: provider.issuer.clone(),
        client_id: "latchkey-client".into(),
        client_secret: Some("s3cret".to_owned().into()),
        scopes: vec!["openid".into(), "email".into()],
    };
    assert_eq!(provider.requests().await["discovery"], 0);
    let metadata = oidc::metadata(&app.state, &oidc_provider)
        .await
        .expect("discovery");
    assert_eq!(metadata.issuer, provider.issuer);
    let endpoints = Endpoints {
        provider: "mock".into(),
        authorize_url: metadata.authorization_endpoint.clone(),
        token_url: metadata.token_endpoint.clone(),
        revocation_url: metadata.revocation_endpoint.clone(),
        client_id: oidc_provider.client_id.clone(),
        client_secret: oidc_provider.client_secret.clone(),
        scopes: oidc_provider.scopes.clone(),
        extra_authorize_params: vec![],
        redirect_uri: "http://127.0.0.1:9/cb".into(),
        client_auth: ClientAuth::BasicHeader,
    };
    let started = oauth_flow::begin(&app.state, &endpoints, "test", &payload(), true)
        .await
        .unwrap();
    let back = query(&provider.consent(&started.authorization_url).await);
    let flow = oauth_flow::consume::<Payload>(&app.state, &back["state"], "test")
        .await
        .unwrap();
    let tokens = oauth_flow::exchange(&endpoints, &back["code"], &flow)
        .await
        .unwrap();
    let id_token = tokens.id_token.expect("an id_token");
    let claims = oidc::verify_id_token(
        &app.state,
        &oidc_provider,
        id_token.expose_secret(),
        flow.nonce.as_deref(),
    )
    .await
    .expect("a valid ID token");
    assert_eq!(claims.subject, "s-9");
    assert_eq!(claims.email.as_deref(), Some("o@example.com"));
    assert!(claims.email_verified);
    // Another nonce (a token from someone else's flow) is refused.
    let refused = oidc::verify_id_token(
        &app.state,
        &oidc_provider,
        id_token.expose_secret(),
        Some("x"),
    )
    .await;
    assert!(
        matches!(refused, Err(oidc::OidcError::InvalidIdToken(_))),
        "{refused:?}"
    );
    let seen = provider.requests().await;
    assert_eq!(seen["discovery"], 1);
    assert_eq!(seen["jwks"], 1);
}

on_both_backends!(
    an_oidc_provider_is_discovered_lazily_and_its_id_token_verified,
    a_flow_runs_from_authorization_url_to_tokens_and_is_consumed_once,
    a_state_never_issued_or_malformed_is_invalid,
    a_refused_code_or_refresh_is_a_refusal_not_a_failure,
    an_unreachable_provider_is_a_provider_error,
    a_plain_http_provider_off_loopback_is_refused,
);
