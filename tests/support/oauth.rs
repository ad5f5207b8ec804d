//! A real OAuth 2 / OpenID Connect provider per test: npm's `oauth2-mock-server`, started by
//! `tests/run.sh` behind the control API of `tests/oauth_mock.mjs` (see its header). Each
//! `MockProvider::start()` is an issuer of its own on its own port, so what one test does to its
//! provider (a tampered ID token, a refused refresh, a rotated key) never reaches another test.
//!
//! The issuer serves OIDC discovery, `/authorize` (redirects at once with a code, like a person
//! who consents), `/token`, `/userinfo`, `/jwks`, `/revoke`, and GitHub's `/user` and
//! `/user/emails` as a stand-in for GitHub's REST API.

use serde_json::{Value, json};

/// The control server's address, exported by `tests/run.sh`.
pub fn oauth_mock_control() -> String {
    std::env::var("LATCHKEY_TEST_OAUTH_MOCK").unwrap_or_else(|_| {
        panic!(
            "\n\n*** The OAuth tests did NOT run: LATCHKEY_TEST_OAUTH_MOCK is not set.       ***\n\
             *** Run ./tests/run.sh, which installs and starts oauth2-mock-server.          ***\n\n"
        )
    })
}

/// How the next ID token is spoiled (`MockProvider::spoil_next_id_token`).
#[derive(Clone, Copy, Debug)]
pub enum Tamper {
    BadSignature,
    AlgNone,
    WrongIssuer,
    WrongAudience,
    WrongNonce,
    Expired,
}

impl Tamper {
    fn name(self) -> &'static str {
        match self {
            Tamper::BadSignature => "bad_signature",
            Tamper::AlgNone => "alg_none",
            Tamper::WrongIssuer => "wrong_iss",
            Tamper::WrongAudience => "wrong_aud",
            Tamper::WrongNonce => "wrong_nonce",
            Tamper::Expired => "expired",
        }
    }
}

/// One issuer of the mock server, for one test.
pub struct MockProvider {
    control: String,
    id: String,
    /// The issuer URL (`http://127.0.0.1:<port>`), also the base of every endpoint.
    pub issuer: String,
    client: reqwest::Client,
}

impl MockProvider {
    /// A new issuer whose identity is `sub` with no email until `set_claims`.
    pub async fn start() -> MockProvider {
        let control = oauth_mock_control();
        let client = crate::http_client();
        let created: Value = client
            .post(format!("{control}/issuers"))
            .send()
            .await
            .expect("the OAuth mock's control server answers")
            .json()
            .await
            .expect("JSON from the OAuth mock");
        MockProvider {
            id: created["id"].as_str().expect("issuer id").to_owned(),
            issuer: created["issuer"].as_str().expect("issuer url").to_owned(),
            control,
            client,
        }
    }

    async fn post(&self, action: &str, body: Value) -> Value {
        let response = self
            .client
            .post(format!("{}/issuers/{}/{action}", self.control, self.id))
            .json(&body)
            .send()
            .await
            .expect("the OAuth mock's control server answers");
        assert!(
            response.status().is_success(),
            "OAuth mock {action}: {}",
            response.status()
        );
        response.json().await.expect("JSON from the OAuth mock")
    }

    /// The identity in every later ID token, userinfo and GitHub answer, e.g.
    /// `json!({"sub": "g-1", "email": "a@example.com", "email_verified": true, "name": "A"})`.
    /// GitHub's `/user` answers `id` from the digits of `sub`, `login` from `login`.
    pub async fn set_claims(&self, claims: Value) {
        self.post("claims", claims).await;
    }

    /// The next ID token from the token endpoint comes spoiled this way.
    pub async fn spoil_next_id_token(&self, tamper: Tamper) {
        self.post("next-id-token", json!({"tamper": tamper.name()}))
            .await;
    }

    /// The next token endpoint answer is this error instead, e.g.
    /// `(400, json!({"error": "invalid_grant"}))` to refuse a refresh.
    pub async fn fail_next_token_request(&self, status: u16, body: Value) {
        self.post("next-token-error", json!({"status": status, "body": body}))
            .await;
    }

    /// Later access tokens say they expire in this many seconds.
    pub async fn set_access_token_lifetime(&self, seconds: u64) {
        self.post("settings", json!({"expires_in": seconds})).await;
    }

    /// A new signing key replaces the old one (the old kid leaves the JWKS).
    pub async fn rotate_signing_key(&self) {
        self.post("rotate-key", json!({})).await;
    }

    /// What the issuer has seen: `{token: {<grant_type>: n}, refresh_tokens: [..], revoke: n,
    /// userinfo: n, jwks: n, discovery: n, github_user: n, github_emails: n,
    /// last_authorize: {<query of the last /authorize>}}`.
    pub async fn requests(&self) -> Value {
        self.client
            .get(format!("{}/issuers/{}/requests", self.control, self.id))
            .send()
            .await
            .expect("the OAuth mock's control server answers")
            .json()
            .await
            .expect("JSON from the OAuth mock")
    }

    /// Token endpoint requests of one grant type so far (e.g. `"refresh_token"`).
    pub async fn token_requests(&self, grant_type: &str) -> u64 {
        self.requests().await["token"][grant_type]
            .as_u64()
            .unwrap_or(0)
    }

    /// Follows the provider's `/authorize` as a consenting person would: GET the authorization URL
    /// our service produced and return the `Location` the provider redirects to (our callback,
    /// with `code` and `state`).
    pub async fn consent(&self, authorization_url: &str) -> String {
        let client = crate::http_client_builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let response = client
            .get(authorization_url)
            .send()
            .await
            .expect("the provider's /authorize answers");
        assert!(
            response.status().is_redirection(),
            "/authorize answered {} for {authorization_url}",
            response.status()
        );
        response.headers()["location"]
            .to_str()
            .expect("ascii location")
            .to_owned()
    }
}
