//! The oauth group over HTTP, on both backends, against a real OAuth 2 / OIDC provider
//! (oauth2-mock-server, `support::oauth`): as Google, as a generic OIDC provider and as GitHub
//! (its token endpoint, and `/user` + `/user/emails` from the same issuer). Sign-in, repeat
//! sign-in, automatic linking and its refusal, linking while signed in, listing, unlinking and the
//! last-method refusal, the aliases, the redirect allow-list, the MFA step, every refusal of the
//! acceptance list (state missing, reused, expired, foreign; a code replayed; each spoiled ID
//! token), key rotation, lazy discovery, and the round trips of a callback.

use std::sync::Arc;

use http::Method;
use latchkey::Config;
use latchkey::config::{GithubProvider, OidcProvider};
use latchkey::domain::emails::EmailAddress;
use latchkey::domain::keys;
use latchkey::services::oauth_flow;
use latchkey::services::users;
use latchkey_tests::counting::{CountingTable, Counts};
use latchkey_tests::oauth::{MockProvider, Tamper};
use latchkey_tests::{Backend, TestApp, TestResponse, TestUser, on_both_backends};
use serde_json::{Value, json};

const ALLOWED: &str = "https://app.example/after";

fn oidc(name: &str, mock: &MockProvider) -> OidcProvider {
    OidcProvider {
        name: name.into(),
        issuer: mock.issuer.clone(),
        client_id: format!("{name}-client"),
        client_secret: Some(format!("{name}-secret").into()),
        scopes: vec!["openid".into(), "email".into(), "profile".into()],
    }
}

fn github(mock: &MockProvider) -> GithubProvider {
    GithubProvider {
        client_id: "github-client".into(),
        client_secret: Some("github-secret".to_owned().into()),
        authorize_url: format!("{}/authorize", mock.issuer),
        token_url: format!("{}/token", mock.issuer),
        api_url: mock.issuer.clone(),
    }
}

/// Google, GitHub and `acme` (a generic OIDC provider), each its own issuer.
struct Providers {
    google: MockProvider,
    github: MockProvider,
    acme: MockProvider,
}

impl Providers {
    async fn start() -> Self {
        Self {
            google: MockProvider::start().await,
            github: MockProvider::start().await,
            acme: MockProvider::start().await,
        }
    }

    fn configure(&self, config: &mut Config) {
        config.oauth.google = Some(oidc("google", &self.google));
        config.oauth.github = Some(github(&self.github));
        config.oauth.oidc = vec![oidc("acme", &self.acme)];
        config.redirect_allow_list = vec![ALLOWED.into()];
    }

    fn mock(&self, name: &str) -> &MockProvider {
        match name {
            "google" => &self.google,
            "github" => &self.github,
            _ => &self.acme,
        }
    }
}

async fn app(backend: Backend) -> (TestApp, Providers) {
    let providers = Providers::start().await;
    let app = TestApp::spawn_with(backend, |config| providers.configure(config)).await;
    (app, providers)
}

fn person(sub: &str, email: &str, verified: bool) -> Value {
    json!({"sub": sub, "email": email, "email_verified": verified, "name": "Ada Lovelace"})
}

/// The path and query of one of our URLs.
fn local(url: &str) -> String {
    let parsed = url::Url::parse(url).expect("a URL");
    match parsed.query() {
        Some(query) => format!("{}?{query}", parsed.path()),
        None => parsed.path().to_owned(),
    }
}

fn query_of(url: &str) -> std::collections::HashMap<String, String> {
    url::Url::parse(url)
        .expect("a URL")
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The provider's redirect back to our callback (`url`, with code and state), and the flow
/// cookie held by the browser that began the flow (a `Cookie` header value).
struct Back {
    url: String,
    cookie: String,
}

impl Back {
    fn state(&self) -> String {
        query_of(&self.url)["state"].clone()
    }

    /// Our callback, from the browser that began the flow.
    async fn follow(&self, app: &TestApp) -> TestResponse {
        self.follow_with(app, &self.cookie).await
    }

    /// Our callback, from a browser holding `cookie`.
    async fn follow_with(&self, app: &TestApp, cookie: &str) -> TestResponse {
        app.request(Method::GET, &local(&self.url), None, &[("cookie", cookie)])
            .await
    }
}

fn flow_cookie_name(app: &TestApp) -> String {
    format!("{}oauth_flow", app.state.config.cookie_prefix)
}

/// The flow cookie a `/login` or `/link` answer sets, as the browser sends it back.
fn flow_cookie(app: &TestApp, begun: &TestResponse) -> String {
    let set = begun
        .set_cookie(&flow_cookie_name(app))
        .unwrap_or_else(|| panic!("no flow cookie in {:?}", begun.headers));
    set.split(';').next().unwrap().to_owned()
}

/// `GET path` (a `/login` or `/link`), checked to redirect to the provider; the provider's
/// redirect back (our callback URL with code and state) with the flow cookie.
async fn consent(app: &TestApp, mock: &MockProvider, path: &str, bearer: Option<&str>) -> Back {
    let auth = bearer.map(|token| format!("Bearer {token}"));
    let headers: Vec<(&str, &str)> = auth
        .as_deref()
        .map(|value| vec![("authorization", value)])
        .unwrap_or_default();
    let begun = app.request(Method::GET, path, None, &headers).await;
    assert_eq!(begun.status, 307, "{path}: {}", begun.text);
    let location = begun.header("location").expect("a Location").to_owned();
    assert!(location.starts_with(&mock.issuer), "{location}");
    Back {
        url: mock.consent(&location).await,
        cookie: flow_cookie(app, &begun),
    }
}

/// A whole sign-in: `/auth/<provider>/login`, consent, our callback.
async fn sign_in_with(app: &TestApp, providers: &Providers, name: &str) -> TestResponse {
    let back = consent(
        app,
        providers.mock(name),
        &format!("/auth/{name}/login"),
        None,
    )
    .await;
    back.follow(app).await
}

fn user_id(response: &TestResponse) -> String {
    response.json["user"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("an AuthResponse: {}", response.text))
        .to_owned()
}

async fn identities(app: &TestApp, token: &str) -> Vec<String> {
    let listed = app
        .with_bearer(Method::GET, "/auth/identities", token, None)
        .await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    listed.json["identities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["provider"].as_str().unwrap().to_owned())
        .collect()
}

async fn account_exists_for(app: &TestApp, email: &str) -> bool {
    let email = EmailAddress::parse(email).unwrap();
    users::find_by_email(&app.state, &email)
        .await
        .unwrap()
        .is_some()
}

fn unique_email() -> String {
    TestUser::generate().email
}

async fn google_sign_in_makes_an_oauth_only_account_and_signs_the_same_user_in_again(
    backend: Backend,
) {
    let (app, providers) = app(backend).await;
    let email = unique_email();
    providers
        .google
        .set_claims(person("g-100", &email, true))
        .await;

    let first = sign_in_with(&app, &providers, "google").await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.json["user"]["email"], email.as_str());
    assert_eq!(first.json["user"]["has_password"], false);
    assert_eq!(first.json["user"]["email_verified"], true);
    assert!(first.json["user"]["organization_id"].is_string());
    assert!(first.set_cookie("__Host-access_token").is_some());

    // The token says how the person signed in, and the personal workspace is theirs.
    let token = first.json["access_token"].as_str().unwrap();
    let validated = app
        .with_bearer(Method::GET, "/auth/validate", token, None)
        .await;
    assert_eq!(validated.status, 200, "{}", validated.text);
    assert_eq!(validated.json["workspaces"][0]["role"], "owner");
    assert_eq!(validated.json["user"]["has_password"], false);
    let claims = latchkey::services::tokens::verify(&app.state, token)
        .await
        .unwrap();
    assert_eq!(claims.amr, vec!["oauth".to_owned()]);

    let again = sign_in_with(&app, &providers, "google").await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(
        user_id(&again),
        user_id(&first),
        "the same identity, the same user"
    );
    assert_eq!(identities(&app, token).await, ["google"]);
}

async fn a_generic_oidc_provider_signs_in_like_google(backend: Backend) {
    let (app, providers) = app(backend).await;
    let email = unique_email();
    providers.acme.set_claims(person("a-1", &email, true)).await;
    let signed_in = sign_in_with(&app, &providers, "acme").await;
    assert_eq!(signed_in.status, 200, "{}", signed_in.text);
    assert_eq!(signed_in.json["user"]["email"], email.as_str());
    let token = signed_in.json["access_token"].as_str().unwrap();
    assert_eq!(identities(&app, token).await, ["acme"]);
    let asked = providers.acme.requests().await["last_authorize"].clone();
    assert_eq!(asked["code_challenge_method"], "S256");
    assert_eq!(asked["scope"], "openid email profile");
    assert!(asked["nonce"].is_string() && asked["state"].is_string());
}

async fn github_signs_in_through_its_token_endpoint_and_rest_api(backend: Backend) {
    let (app, providers) = app(backend).await;
    let email = unique_email();
    providers
        .github
        .set_claims(person("4242", &email, true))
        .await;
    let signed_in = sign_in_with(&app, &providers, "github").await;
    assert_eq!(signed_in.status, 200, "{}", signed_in.text);
    assert_eq!(signed_in.json["user"]["email"], email.as_str());
    assert_eq!(signed_in.json["user"]["email_verified"], true);
    let seen = providers.github.requests().await;
    assert_eq!(seen["github_user"], 1);
    assert_eq!(seen["github_emails"], 1);
    assert_eq!(seen["token"]["authorization_code"], 1);
    assert!(
        seen["last_authorize"].get("nonce").is_none(),
        "no nonce for plain OAuth 2"
    );
    let again = sign_in_with(&app, &providers, "github").await;
    assert_eq!(user_id(&again), user_id(&signed_in));
    let token = again.json["access_token"].as_str().unwrap();
    assert_eq!(identities(&app, token).await, ["github"]);
}

async fn the_seed_001_google_paths_and_the_authorize_alias_work(backend: Backend) {
    let (app, providers) = app(backend).await;
    providers
        .google
        .set_claims(person("g-7", &unique_email(), true))
        .await;
    let back = consent(&app, &providers.google, "/users/auth/google", None).await;
    assert!(
        back.url.starts_with(&format!(
            "{}/users/auth/google/callback?",
            app.state.config.public_url
        )),
        "{}",
        back.url
    );
    let signed_in = back.follow(&app).await;
    assert_eq!(signed_in.status, 200, "{}", signed_in.text);

    let back = consent(&app, &providers.google, "/auth/google/authorize", None).await;
    assert!(back.url.contains("/auth/google/callback?"), "{}", back.url);
    let again = back.follow(&app).await;
    assert_eq!(user_id(&again), user_id(&signed_in));
}

async fn a_verified_address_links_automatically_to_a_verified_account(backend: Backend) {
    let (app, providers) = app(backend).await;
    let existing = app.signed_up().await;
    let user = users::require(&app.state, existing.user_id())
        .await
        .unwrap();
    let email = user.email.clone();
    users::mark_email_verified(&app.state, user, &email)
        .await
        .unwrap();
    providers
        .google
        .set_claims(person("g-2", &email, true))
        .await;

    let signed_in = sign_in_with(&app, &providers, "google").await;
    assert_eq!(signed_in.status, 200, "{}", signed_in.text);
    assert_eq!(user_id(&signed_in), existing.user_id());
    assert_eq!(signed_in.json["user"]["has_password"], true);
    assert_eq!(identities(&app, existing.access_token()).await, ["google"]);
}

async fn an_unverified_address_on_either_side_never_links_and_changes_nothing(backend: Backend) {
    let (app, providers) = app(backend).await;
    let existing = app.signed_up().await;
    let before = users::require(&app.state, existing.user_id())
        .await
        .unwrap();

    // The account's address is not verified: a verified provider address does not link.
    providers
        .google
        .set_claims(person("g-3", &existing.user.email, true))
        .await;
    let refused = sign_in_with(&app, &providers, "google").await;
    refused.assert_error(409, "account_exists");
    assert!(refused.json["message"].as_str().unwrap().contains("link"));

    // Now the account is verified, but the provider does not vouch for the address.
    let email = before.email.clone();
    users::mark_email_verified(&app.state, before, &email)
        .await
        .unwrap();
    let verified = users::require(&app.state, existing.user_id())
        .await
        .unwrap();
    providers
        .google
        .set_claims(person("g-3", &existing.user.email, false))
        .await;
    let refused = sign_in_with(&app, &providers, "google").await;
    refused.assert_error(409, "account_exists");

    let after = users::require(&app.state, existing.user_id())
        .await
        .unwrap();
    assert_eq!(after, verified, "the existing user is unchanged");
    assert!(identities(&app, existing.access_token()).await.is_empty());
    assert!(
        app.state
            .table
            .get(&keys::identity("google", "g-3"))
            .await
            .unwrap()
            .is_none()
    );
    // The password still signs in.
    let signed_in = app.signed_in(&existing.user).await;
    assert_eq!(signed_in.response.status, 200);
}

async fn linking_ties_the_identity_to_the_caller_and_unlinking_keeps_a_way_in(backend: Backend) {
    let (app, providers) = app(backend).await;
    let ada = app.signed_up().await;
    providers
        .google
        .set_claims(person("g-ada", &unique_email(), false))
        .await;

    // Not signed in: no link.
    app.get("/auth/google/link")
        .await
        .assert_error(401, "authentication_required");

    let back = consent(
        &app,
        &providers.google,
        "/auth/google/link",
        Some(ada.access_token()),
    )
    .await;
    let linked = back.follow(&app).await;
    assert_eq!(linked.status, 200, "{}", linked.text);
    assert_eq!(linked.json["identity"]["provider"], "google");
    assert_eq!(identities(&app, ada.access_token()).await, ["google"]);
    // The linked identity now signs Ada in, even with an address the provider did not verify.
    let signed_in = sign_in_with(&app, &providers, "google").await;
    assert_eq!(user_id(&signed_in), ada.user_id());

    // Someone else cannot take it.
    let bob = app.signed_up().await;
    let back = consent(
        &app,
        &providers.google,
        "/auth/google/link",
        Some(bob.access_token()),
    )
    .await;
    back.follow(&app).await.assert_error(409, "identity_taken");
    assert!(identities(&app, bob.access_token()).await.is_empty());

    // Ada has a password: unlinking Google leaves her a way in.
    let unlinked = app
        .with_bearer(
            Method::DELETE,
            "/auth/identities/google",
            ada.access_token(),
            None,
        )
        .await;
    assert_eq!(unlinked.status, 200, "{}", unlinked.text);
    assert!(identities(&app, ada.access_token()).await.is_empty());
    app.with_bearer(
        Method::DELETE,
        "/auth/identities/google",
        ada.access_token(),
        None,
    )
    .await
    .assert_error(404, "not_found");

    // An OAuth-only account: its one identity is its last way in.
    providers
        .acme
        .set_claims(person("a-only", &unique_email(), true))
        .await;
    let only = sign_in_with(&app, &providers, "acme").await;
    assert_eq!(only.status, 200, "{}", only.text);
    let token = only.json["access_token"].as_str().unwrap().to_owned();
    app.with_bearer(Method::DELETE, "/auth/identities/acme", &token, None)
        .await
        .assert_error(409, "last_sign_in_method");
    // With GitHub linked too, either can go, but not both.
    providers
        .github
        .set_claims(person("77", &unique_email(), true))
        .await;
    let back = consent(&app, &providers.github, "/auth/github/link", Some(&token)).await;
    assert_eq!(back.follow(&app).await.status, 200);
    let mut listed = identities(&app, &token).await;
    listed.sort();
    assert_eq!(listed, ["acme", "github"]);
    let unlinked = app
        .with_bearer(Method::DELETE, "/auth/identities/acme", &token, None)
        .await;
    assert_eq!(unlinked.status, 200, "{}", unlinked.text);
    app.with_bearer(Method::DELETE, "/auth/identities/github", &token, None)
        .await
        .assert_error(409, "last_sign_in_method");
}

async fn redirects_go_only_to_the_allow_list_with_cookies(backend: Backend) {
    let (app, providers) = app(backend).await;
    providers
        .google
        .set_claims(person("g-r", &unique_email(), true))
        .await;
    let back = consent(
        &app,
        &providers.google,
        &format!("/auth/google/login?redirect_to={ALLOWED}"),
        None,
    )
    .await;
    let redirected = back.follow(&app).await;
    assert_eq!(redirected.status, 302, "{}", redirected.text);
    assert_eq!(redirected.header("location"), Some(ALLOWED));
    assert!(redirected.headers.get_all("set-cookie").iter().count() >= 2);

    let back = consent(
        &app,
        &providers.google,
        "/auth/google/login?redirect_to=https://evil.example/steal",
        None,
    )
    .await;
    let answered = back.follow(&app).await;
    assert_eq!(answered.status, 200, "an unlisted redirect is ignored");
    assert!(answered.header("location").is_none());
}

async fn a_refused_consent_answers_400_or_redirects_with_the_error(backend: Backend) {
    let (app, providers) = app(backend).await;
    let begun = app.get("/auth/google/login").await;
    let state = query_of(begun.header("location").unwrap())["state"].clone();
    app.get(&format!(
        "/auth/google/callback?error=access_denied&state={state}"
    ))
    .await
    .assert_error(400, "oauth_refused");
    // The refused flow is spent.
    app.get(&format!("/auth/google/callback?code=x&state={state}"))
        .await
        .assert_error(400, "invalid_oauth_state");

    let begun = app
        .get(&format!("/auth/google/login?redirect_to={ALLOWED}"))
        .await;
    let state = query_of(begun.header("location").unwrap())["state"].clone();
    let redirected = app
        .get(&format!(
            "/auth/google/callback?error=access_denied&state={state}"
        ))
        .await;
    assert_eq!(redirected.status, 302);
    assert_eq!(
        redirected.header("location"),
        Some(format!("{ALLOWED}?error=access_denied").as_str())
    );
    let _ = providers;
}

async fn missing_reused_expired_and_foreign_states_and_a_replayed_code_are_refused(
    backend: Backend,
) {
    let (app, providers) = app(backend).await;
    let email = unique_email();
    providers
        .google
        .set_claims(person("g-s", &email, true))
        .await;
    providers
        .github
        .set_claims(person("55", &email, true))
        .await;

    // Missing.
    app.get("/auth/google/callback?code=abc")
        .await
        .assert_error(400, "invalid_oauth_state");
    // Never issued (with a flow cookie that names it, so the state itself is what is refused).
    let never = "A".repeat(43);
    let cookie = format!(
        "{}={}",
        flow_cookie_name(&app),
        oauth_flow::hash_state(&never)
    );
    app.request(
        Method::GET,
        &format!("/auth/google/callback?code=abc&state={never}"),
        None,
        &[("cookie", &cookie)],
    )
    .await
    .assert_error(400, "invalid_oauth_state");
    // Foreign: a state of GitHub's flow at Google's callback, from the browser that began it.
    let back = consent(&app, &providers.github, "/auth/github/login", None).await;
    let github_state = back.state();
    app.request(
        Method::GET,
        &format!("/auth/google/callback?code=abc&state={github_state}"),
        None,
        &[("cookie", &back.cookie)],
    )
    .await
    .assert_error(400, "invalid_oauth_state");

    // Expired: the flow's ten minutes are over.
    let back = consent(&app, &providers.google, "/auth/google/login", None).await;
    let state = back.state();
    let mut set = latchkey::ports::Item::new();
    set.insert("ttl".into(), json!(app.state.clock.unix() - 1));
    app.state
        .table
        .update(
            &keys::oauth_flow(&oauth_flow::hash_state(&state)),
            set,
            vec![],
            None,
        )
        .await
        .unwrap();
    back.follow(&app)
        .await
        .assert_error(400, "invalid_oauth_state");

    // Reused: the same callback twice.
    let back = consent(&app, &providers.google, "/auth/google/login", None).await;
    let first = back.follow(&app).await;
    assert_eq!(first.status, 200, "{}", first.text);
    back.follow(&app)
        .await
        .assert_error(400, "invalid_oauth_state");

    // A code replayed under a fresh state: the provider refuses it (its PKCE challenge was
    // spent, and ours no longer matches).
    let code = query_of(&back.url)["code"].clone();
    let begun = app.get("/auth/google/login").await;
    let fresh = query_of(begun.header("location").unwrap())["state"].clone();
    app.request(
        Method::GET,
        &format!("/auth/google/callback?code={code}&state={fresh}"),
        None,
        &[("cookie", &flow_cookie(&app, &begun))],
    )
    .await
    .assert_error(400, "oauth_refused");
}

async fn every_spoiled_id_token_is_refused_and_creates_nothing(backend: Backend) {
    let (app, providers) = app(backend).await;
    for tamper in [
        Tamper::BadSignature,
        Tamper::AlgNone,
        Tamper::WrongIssuer,
        Tamper::WrongAudience,
        Tamper::WrongNonce,
        Tamper::Expired,
    ] {
        let email = unique_email();
        providers.acme.set_claims(person("a-t", &email, true)).await;
        providers.acme.spoil_next_id_token(tamper).await;
        let refused = sign_in_with(&app, &providers, "acme").await;
        assert_eq!(refused.status, 401, "{tamper:?}: {}", refused.text);
        refused.assert_error(401, "invalid_id_token");
        assert!(!account_exists_for(&app, &email).await, "{tamper:?}");
        assert!(
            app.state
                .table
                .get(&keys::identity("acme", "a-t"))
                .await
                .unwrap()
                .is_none(),
            "{tamper:?}"
        );
    }
    // The provider is fine again: the next token signs in.
    let email = unique_email();
    providers.acme.set_claims(person("a-t", &email, true)).await;
    assert_eq!(sign_in_with(&app, &providers, "acme").await.status, 200);
}

async fn discovery_is_lazy_and_cached_and_a_rotated_key_is_fetched_again(backend: Backend) {
    let (app, providers) = app(backend).await;
    let seen = providers.google.requests().await;
    assert_eq!(seen["discovery"], 0, "no call at start-up");
    assert_eq!(seen["jwks"], 0);
    providers
        .google
        .set_claims(person("g-k", &unique_email(), true))
        .await;
    let first = sign_in_with(&app, &providers, "google").await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(sign_in_with(&app, &providers, "google").await.status, 200);
    let seen = providers.google.requests().await;
    assert_eq!(seen["discovery"], 1, "discovery cached");
    assert_eq!(seen["jwks"], 1, "keys cached");

    providers.google.rotate_signing_key().await;
    let rotated = sign_in_with(&app, &providers, "google").await;
    assert_eq!(rotated.status, 200, "{}", rotated.text);
    assert_eq!(user_id(&rotated), user_id(&first));
    assert_eq!(providers.google.requests().await["jwks"], 2);
}

async fn with_mfa_on_the_callback_answers_the_mfa_step(backend: Backend) {
    let (app, providers) = app(backend).await;
    providers
        .google
        .set_claims(person("g-m", &unique_email(), true))
        .await;
    let first = sign_in_with(&app, &providers, "google").await;
    let id = user_id(&first);
    // MFA on, as `/auth/mfa/confirm` leaves it (its own tests cover turning it on).
    let mut set = latchkey::ports::Item::new();
    set.insert("mfa_enabled".into(), json!(true));
    app.state
        .table
        .update(&keys::user(&id), set, vec![], None)
        .await
        .unwrap();
    let stepped = sign_in_with(&app, &providers, "google").await;
    assert_eq!(stepped.status, 200, "{}", stepped.text);
    assert_eq!(stepped.json["mfa_required"], true);
    assert!(stepped.json["mfa_token"].is_string());
    assert!(stepped.json.get("access_token").is_none());
}

async fn login_methods_list_the_enabled_providers_and_others_are_not_found(backend: Backend) {
    let (app, _providers) = app(backend).await;
    let methods = app.get("/auth/login-methods").await;
    assert_eq!(methods.status, 200);
    let base = &app.state.config.public_url;
    let oauth: Vec<&Value> = methods.json["methods"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["type"] == "oauth")
        .collect();
    let names: Vec<&str> = oauth
        .iter()
        .map(|m| m["provider"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["google", "github", "acme"]);
    assert_eq!(
        oauth[0]["authorize_url"],
        format!("{base}/auth/google/login")
    );
    assert_eq!(
        oauth[0]["callback_url"],
        format!("{base}/auth/google/callback")
    );

    app.get("/auth/okta/login")
        .await
        .assert_error(404, "not_found");
    let plain = TestApp::spawn(app.backend).await;
    plain
        .get("/auth/google/login")
        .await
        .assert_error(404, "not_found");
    plain
        .get("/users/auth/google")
        .await
        .assert_error(404, "not_found");
    let methods = plain.get("/auth/login-methods").await;
    assert!(
        !methods.text.contains("\"oauth\""),
        "no provider enabled: {}",
        methods.text
    );
}

async fn an_unreachable_provider_answers_502(backend: Backend) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let app = TestApp::spawn_with(backend, |config| {
        config.oauth.google = Some(OidcProvider {
            name: "google".into(),
            issuer: dead,
            client_id: "c".into(),
            client_secret: None,
            scopes: vec!["openid".into()],
        });
    })
    .await;
    app.get("/auth/google/login")
        .await
        .assert_error(502, "provider_unavailable");
}

async fn a_callback_from_a_browser_that_did_not_begin_the_flow_is_refused_and_leaves_it(
    backend: Backend,
) {
    let (app, providers) = app(backend).await;
    // Mallory begins a link to her account and gets a victim's browser through the consent:
    // it comes back to our callback with the victim's code and Mallory's state.
    let mallory = app.signed_up().await;
    providers
        .google
        .set_claims(person("g-victim", &unique_email(), true))
        .await;
    let back = consent(
        &app,
        &providers.google,
        "/auth/google/link",
        Some(mallory.access_token()),
    )
    .await;

    // The victim's browser holds no flow cookie, or the cookie of a flow of its own.
    back.follow_with(&app, "")
        .await
        .assert_error(400, "invalid_oauth_state");
    let own = consent(&app, &providers.google, "/auth/google/login", None).await;
    back.follow_with(&app, &own.cookie)
        .await
        .assert_error(400, "invalid_oauth_state");
    assert!(identities(&app, mallory.access_token()).await.is_empty());

    // Refused before it was consumed: the browser that began it still finishes it, and the
    // binding is cleared.
    let linked = back.follow(&app).await;
    assert_eq!(linked.status, 200, "{}", linked.text);
    assert_eq!(identities(&app, mallory.access_token()).await, ["google"]);
    let cleared = linked
        .set_cookie(&flow_cookie_name(&app))
        .expect("the flow cookie is cleared");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
}

async fn the_flow_cookie_is_http_only_lax_and_lives_as_long_as_the_flow(backend: Backend) {
    let (app, _providers) = app(backend).await;
    let begun = app.get("/auth/google/login").await;
    assert_eq!(begun.status, 307, "{}", begun.text);
    let set = begun
        .set_cookie(&flow_cookie_name(&app))
        .expect("a flow cookie");
    let state = query_of(begun.header("location").unwrap())["state"].clone();
    assert_eq!(
        set,
        format!(
            "{}={}; HttpOnly; Secure; SameSite=Lax; Path=/; Max-Age={}",
            flow_cookie_name(&app),
            oauth_flow::hash_state(&state),
            oauth_flow::FLOW_TTL_SECONDS
        )
    );
    assert!(
        !set.contains(&state),
        "the state itself is not in the cookie"
    );
}

on_both_backends!(
    google_sign_in_makes_an_oauth_only_account_and_signs_the_same_user_in_again,
    a_generic_oidc_provider_signs_in_like_google,
    github_signs_in_through_its_token_endpoint_and_rest_api,
    the_seed_001_google_paths_and_the_authorize_alias_work,
    a_verified_address_links_automatically_to_a_verified_account,
    an_unverified_address_on_either_side_never_links_and_changes_nothing,
    linking_ties_the_identity_to_the_caller_and_unlinking_keeps_a_way_in,
    redirects_go_only_to_the_allow_list_with_cookies,
    a_refused_consent_answers_400_or_redirects_with_the_error,
    missing_reused_expired_and_foreign_states_and_a_replayed_code_are_refused,
    every_spoiled_id_token_is_refused_and_creates_nothing,
    discovery_is_lazy_and_cached_and_a_rotated_key_is_fetched_again,
    with_mfa_on_the_callback_answers_the_mfa_step,
    login_methods_list_the_enabled_providers_and_others_are_not_found,
    an_unreachable_provider_answers_502,
    a_callback_from_a_browser_that_did_not_begin_the_flow_is_refused_and_leaves_it,
    the_flow_cookie_is_http_only_lax_and_lives_as_long_as_the_flow,
);

/// The round trips of a callback (DESIGN.md budgets; stated in the README): a known identity
/// signing in, and a first sign-in that makes the account, each at most 4 including the session
/// writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_takes_at_most_four_table_round_trips() {
    let providers = Providers::start().await;
    let counts = Arc::new(Counts::default());
    let for_table = counts.clone();
    let app = TestApp::spawn_wrapping(
        Backend::Embedded,
        |config| providers.configure(config),
        move |inner| Arc::new(CountingTable::new(inner, for_table)),
    )
    .await;
    providers
        .google
        .set_claims(person("g-b", &unique_email(), true))
        .await;
    // A warm instance: the signing key is loaded (a cold one reads it once, whatever the route).
    app.signed_up().await;

    for what in ["first sign-in (account made)", "known identity"] {
        let back = consent(&app, &providers.google, "/auth/google/login", None).await;
        counts.reset();
        let answered = back.follow(&app).await;
        assert_eq!(answered.status, 200, "{}", answered.text);
        let round_trips = counts.round_trips();
        println!(
            "oauth callback, {what}: {round_trips} table round trips ({:?})",
            counts.calls()
        );
        assert!(round_trips <= 4, "{what}: {round_trips} round trips");
    }
}
