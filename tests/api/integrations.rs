//! The integrations group over HTTP, on both backends: the provider registry (administrators
//! write, everyone signed in reads, the client secret never shows), built-in Google and GitHub
//! entries, provider API keys (encrypted, owner only, a copied ciphertext does not decrypt), the
//! Google search keys; OAuth connections against a real provider (npm's oauth2-mock-server):
//! connect, both callbacks, connected, valid-token with refresh (one refresh request for ten
//! concurrent calls), reconnect_required, disconnect with revocation; and a scan of the stored
//! items for any secret in plain text.

use http::Method;
use latchkey_tests::on_both_backends;
use latchkey_tests::{Backend, MockProvider, TestApp, TestResponse};
use serde_json::{Value, json};

use crate::api_keys::{ADMIN_EMAIL, admin_token};

/// An app with one administrator.
async fn app_with_admin(backend: Backend) -> TestApp {
    TestApp::spawn_with(backend, |config| {
        config.admin_emails = vec![ADMIN_EMAIL.to_owned()];
    })
    .await
}

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<&Value>,
) -> TestResponse {
    app.with_bearer(method, path, token, body).await
}

const CLIENT_SECRET: &str = "acme-client-secret-6c1f0e2b9d";

fn acme_oauth() -> Value {
    json!({
        "id": "acme-crm",
        "name": "Acme CRM",
        "icon": "https://acme.example/icon.png",
        "categories": ["crm", "sales"],
        "connectionType": "oauth",
        "oauth": {
            "authorization_url": "https://acme.example/oauth/authorize",
            "token_url": "https://acme.example/oauth/token",
            "userinfo_url": "https://acme.example/oauth/userinfo",
            "client_id": "latchkey-client",
            "client_secret": CLIENT_SECRET,
            "scopes": "contacts.read deals.read",
            "authorization_params": {"access_type": "offline"}
        }
    })
}

async fn administrators_create_read_update_and_delete_providers(backend: Backend) {
    let app = app_with_admin(backend).await;
    let admin = admin_token(&app).await;
    let user = app.signed_up().await;

    let created = call(
        &app,
        Method::POST,
        "/auth/providers",
        &admin,
        Some(&acme_oauth()),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.json["id"], "acme-crm");
    assert_eq!(created.json["connectionType"], "oauth");
    assert_eq!(created.json["builtin"], false);
    assert_eq!(
        created.json["oauth"]["scopes"],
        json!(["contacts.read", "deals.read"])
    );
    assert_eq!(created.json["oauth"]["has_client_secret"], true);
    let api_key_provider = json!({"id": "openai", "name": "OpenAI", "connectionType": "api_key"});
    let created = call(
        &app,
        Method::POST,
        "/auth/providers",
        &admin,
        Some(&api_key_provider),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.text);

    // Anyone signed in reads the registry; no listing or detail shows the secret.
    let listed = call(
        &app,
        Method::GET,
        "/auth/providers",
        user.access_token(),
        None,
    )
    .await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    assert_eq!(
        listed.json,
        json!([
            {"id": "acme-crm", "name": "Acme CRM", "icon": "https://acme.example/icon.png",
             "categories": ["crm", "sales"], "connectionType": "oauth"},
            {"id": "openai", "name": "OpenAI", "icon": null, "categories": [],
             "connectionType": "api_key"}
        ])
    );
    let one = call(
        &app,
        Method::GET,
        "/auth/providers/acme-crm",
        user.access_token(),
        None,
    )
    .await;
    assert_eq!(one.status, 200, "{}", one.text);
    assert_eq!(one.json["oauth"]["client_id"], "latchkey-client");
    for answer in [&listed, &one] {
        assert!(!answer.text.contains(CLIENT_SECRET), "{}", answer.text);
    }

    // A partial change keeps the secret it does not mention.
    let changed = call(
        &app,
        Method::PUT,
        "/auth/providers/acme-crm",
        &admin,
        Some(&json!({"name": "Acme", "oauth": {"scopes": ["contacts.read"]}})),
    )
    .await;
    assert_eq!(changed.status, 200, "{}", changed.text);
    assert_eq!(changed.json["name"], "Acme");
    assert_eq!(changed.json["oauth"]["scopes"], json!(["contacts.read"]));
    assert_eq!(changed.json["oauth"]["has_client_secret"], true);
    assert_eq!(
        changed.json["oauth"]["token_url"],
        "https://acme.example/oauth/token"
    );

    let again = call(
        &app,
        Method::POST,
        "/auth/providers",
        &admin,
        Some(&acme_oauth()),
    )
    .await;
    again.assert_error(409, "conflict");

    let deleted = call(
        &app,
        Method::DELETE,
        "/auth/providers/acme-crm",
        &admin,
        None,
    )
    .await;
    assert_eq!(deleted.status, 200, "{}", deleted.text);
    assert_eq!(deleted.json, json!({"success": true}));
    let gone = call(
        &app,
        Method::GET,
        "/auth/providers/acme-crm",
        user.access_token(),
        None,
    )
    .await;
    gone.assert_error(404, "not_found");
    let deleted = call(
        &app,
        Method::DELETE,
        "/auth/providers/acme-crm",
        &admin,
        None,
    )
    .await;
    deleted.assert_error(404, "not_found");
}
on_both_backends!(administrators_create_read_update_and_delete_providers);

async fn only_administrators_change_the_registry(backend: Backend) {
    let app = app_with_admin(backend).await;
    let admin = admin_token(&app).await;
    let user = app.signed_up().await;
    let token = user.access_token();

    let created = call(
        &app,
        Method::POST,
        "/auth/providers",
        token,
        Some(&acme_oauth()),
    )
    .await;
    created.assert_error(403, "forbidden");
    let created = call(
        &app,
        Method::POST,
        "/auth/providers",
        &admin,
        Some(&acme_oauth()),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let changed = call(
        &app,
        Method::PUT,
        "/auth/providers/acme-crm",
        token,
        Some(&json!({"name": "Mine now"})),
    )
    .await;
    changed.assert_error(403, "forbidden");
    let deleted = call(
        &app,
        Method::DELETE,
        "/auth/providers/acme-crm",
        token,
        None,
    )
    .await;
    deleted.assert_error(403, "forbidden");

    // An administrator's address that is not verified proves nothing.
    let unverified = TestApp::spawn_with(backend, |config| {
        config.admin_emails = vec!["boss@latchkey.test".to_owned()];
    })
    .await;
    let signed =
        latchkey_tests::sign_up(&unverified, "boss@latchkey.test", "Velvet-orbit-boss-42x").await;
    assert_eq!(signed.status, 201, "{}", signed.text);
    let token = signed.json["access_token"].as_str().unwrap();
    let created = call(
        &unverified,
        Method::POST,
        "/auth/providers",
        token,
        Some(&acme_oauth()),
    )
    .await;
    created.assert_error(403, "forbidden");

    let anonymous = app.get("/auth/providers").await;
    anonymous.assert_error(401, "authentication_required");
}
on_both_backends!(only_administrators_change_the_registry);

#[tokio::test]
async fn bad_provider_entries_answer_400_naming_the_field() {
    let app = app_with_admin(Backend::Embedded).await;
    let admin = admin_token(&app).await;
    let with = |change: &dyn Fn(&mut Value)| {
        let mut body = acme_oauth();
        change(&mut body);
        body
    };
    let cases: Vec<(Value, &str)> = vec![
        (with(&|b| b["id"] = json!("Acme CRM")), "id"),
        (with(&|b| b["id"] = json!("")), "id"),
        (with(&|b| b["name"] = json!("  ")), "name"),
        (
            with(&|b| b["connectionType"] = json!("magic")),
            "connectionType",
        ),
        (with(&|b| b["categories"] = json!("crm")), "categories"),
        (
            with(&|b| b["oauth"]["token_url"] = json!("http://acme.example/token")),
            "oauth.token_url",
        ),
        (
            with(&|b| b["oauth"]["authorization_url"] = json!("not a url")),
            "oauth.authorization_url",
        ),
        (
            with(&|b| b["oauth"]["userinfo_url"] = json!("javascript:alert(1)")),
            "oauth.userinfo_url",
        ),
        (
            with(&|b| b["oauth"]["client_id"] = json!("")),
            "oauth.client_id",
        ),
        (
            with(&|b| {
                b["oauth"]["authorization_params"] = json!({"redirect_uri": "https://evil.example"})
            }),
            "oauth.authorization_params",
        ),
        (
            with(&|b| b["oauth"]["scopes"] = json!(["ok", "has space"])),
            "oauth.scopes",
        ),
        (with(&|b| b["oauth"] = Value::Null), "oauth"),
        (
            with(&|b| {
                b["connectionType"] = json!("api_key");
            }),
            "oauth",
        ),
    ];
    for (body, field) in cases {
        let response = call(&app, Method::POST, "/auth/providers", &admin, Some(&body)).await;
        response.assert_error(400, "invalid_request");
        assert!(
            response.json["field"]
                .as_str()
                .is_some_and(|named| named.starts_with(field)),
            "{field}: {}",
            response.text
        );
    }
    let unknown = call(
        &app,
        Method::POST,
        "/auth/providers",
        &admin,
        Some(&with(&|b| b["oauth"]["clientSecret"] = json!("x"))),
    )
    .await;
    unknown.assert_error(400, "invalid_request");

    // http on loopback is accepted (local development and these tests).
    let local = with(&|b| {
        b["id"] = json!("local-idp");
        b["oauth"]["token_url"] = json!("http://127.0.0.1:9/token");
    });
    let response = call(&app, Method::POST, "/auth/providers", &admin, Some(&local)).await;
    assert_eq!(response.status, 201, "{}", response.text);
}

#[tokio::test]
async fn built_in_google_and_github_appear_when_configured_and_are_read_only() {
    let app = TestApp::spawn_with(Backend::Embedded, |config| {
        config.admin_emails = vec![ADMIN_EMAIL.to_owned()];
        config.oauth.google = Some(latchkey::config::OidcProvider {
            name: "google".into(),
            issuer: "https://accounts.google.com".into(),
            client_id: "google-client".into(),
            client_secret: Some("google-secret-9f8e7d".to_owned().into()),
            scopes: vec!["openid".into(), "email".into(), "profile".into()],
        });
        config.oauth.github = Some(latchkey::config::GithubProvider {
            client_id: "github-client".into(),
            client_secret: Some("github-secret-1a2b3c".to_owned().into()),
            authorize_url: "https://github.com/login/oauth/authorize".into(),
            token_url: "https://github.com/login/oauth/access_token".into(),
            api_url: "https://api.github.com".into(),
        });
    })
    .await;
    let admin = admin_token(&app).await;
    let listed = call(&app, Method::GET, "/auth/providers", &admin, None).await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    let ids: Vec<&str> = listed
        .json
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["github", "google"]);
    let google = call(&app, Method::GET, "/auth/providers/google", &admin, None).await;
    assert_eq!(google.status, 200, "{}", google.text);
    assert_eq!(google.json["builtin"], true);
    assert_eq!(google.json["oauth"]["client_id"], "google-client");
    assert_eq!(
        google.json["oauth"]["authorization_params"]["access_type"],
        "offline"
    );
    assert_eq!(
        google.json["oauth"]["authorization_params"]["prompt"],
        "consent"
    );
    for answer in [&listed, &google] {
        assert!(!answer.text.contains("google-secret"), "{}", answer.text);
        assert!(!answer.text.contains("github-secret"), "{}", answer.text);
    }

    let change = call(
        &app,
        Method::PUT,
        "/auth/providers/google",
        &admin,
        Some(&json!({"name": "Gooogle"})),
    )
    .await;
    change.assert_error(409, "conflict");
    let delete = call(&app, Method::DELETE, "/auth/providers/github", &admin, None).await;
    delete.assert_error(409, "conflict");
    let mut shadow = acme_oauth();
    shadow["id"] = json!("google");
    let create = call(&app, Method::POST, "/auth/providers", &admin, Some(&shadow)).await;
    create.assert_error(409, "conflict");
}

async fn provider_keys_are_read_back_by_their_owner_only(backend: Backend) {
    let app = app_with_admin(backend).await;
    let admin = admin_token(&app).await;
    let openai = json!({"id": "openai", "name": "OpenAI", "connectionType": "api_key"});
    let created = call(&app, Method::POST, "/auth/providers", &admin, Some(&openai)).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let alice = app.signed_up().await;
    let bob = app.signed_up().await;

    let key = "sk-alice-0123456789abcdef0123456789abcdef";
    let stored = call(
        &app,
        Method::POST,
        "/auth/apikeys/openai",
        alice.access_token(),
        Some(&json!({"apiKey": key})),
    )
    .await;
    assert_eq!(stored.status, 200, "{}", stored.text);
    assert_eq!(stored.json, json!({"success": true}));

    let read = call(
        &app,
        Method::GET,
        "/auth/apikeys/openai",
        alice.access_token(),
        None,
    )
    .await;
    assert_eq!(read.status, 200, "{}", read.text);
    assert_eq!(read.json, json!({"success": true, "apiKey": key}));

    // Bob has none; there is no way to name Alice's.
    let read = call(
        &app,
        Method::GET,
        "/auth/apikeys/openai",
        bob.access_token(),
        None,
    )
    .await;
    read.assert_error(404, "not_found");
    assert!(!read.text.contains(key));

    // A new key replaces the old one.
    let newer = "sk-alice-rotated-fedcba9876543210";
    call(
        &app,
        Method::POST,
        "/auth/apikeys/openai",
        alice.access_token(),
        Some(&json!({"apiKey": newer})),
    )
    .await;
    let read = call(
        &app,
        Method::GET,
        "/auth/apikeys/openai",
        alice.access_token(),
        None,
    )
    .await;
    assert_eq!(read.json["apiKey"], newer);

    let unknown = call(
        &app,
        Method::POST,
        "/auth/apikeys/nobody-knows",
        alice.access_token(),
        Some(&json!({"apiKey": key})),
    )
    .await;
    unknown.assert_error(404, "not_found");
    let empty = call(
        &app,
        Method::POST,
        "/auth/apikeys/openai",
        alice.access_token(),
        Some(&json!({"apiKey": "  "})),
    )
    .await;
    empty.assert_error(400, "invalid_request");
    assert_eq!(empty.json["field"], "apiKey");
}
on_both_backends!(provider_keys_are_read_back_by_their_owner_only);

/// On KMS in the emulator and on the local cipher: the encryption context names the user and
/// the provider, so Alice's ciphertext written onto Bob's item (or onto another provider's)
/// does not decrypt there.
async fn a_provider_key_ciphertext_copied_to_another_item_does_not_decrypt(backend: Backend) {
    use latchkey::domain::keys;
    let app = app_with_admin(backend).await;
    let admin = admin_token(&app).await;
    for id in ["openai", "anthropic"] {
        let provider = json!({"id": id, "name": id, "connectionType": "api_key"});
        let created = call(
            &app,
            Method::POST,
            "/auth/providers",
            &admin,
            Some(&provider),
        )
        .await;
        assert_eq!(created.status, 201, "{}", created.text);
    }
    let alice = app.signed_up().await;
    let bob = app.signed_up().await;
    let key = "sk-alice-copied-5555aaaa6666bbbb";
    for (user, provider, value) in [
        (&alice, "openai", key),
        (&bob, "openai", "sk-bob-own-key-0000"),
        (&alice, "anthropic", "sk-alice-anthropic-1111"),
    ] {
        let stored = call(
            &app,
            Method::POST,
            &format!("/auth/apikeys/{provider}"),
            user.access_token(),
            Some(&json!({"apiKey": value})),
        )
        .await;
        assert_eq!(stored.status, 200, "{}", stored.text);
    }
    let alices = app
        .state
        .table
        .get(&keys::provider_key(&alice.user(), "openai"))
        .await
        .unwrap()
        .unwrap();
    let ciphertext = alices["key_ciphertext"].clone();
    for (owner, provider) in [(bob.user(), "openai"), (alice.user(), "anthropic")] {
        let key_of_item = keys::provider_key(&owner, provider);
        let mut item = app.state.table.get(&key_of_item).await.unwrap().unwrap();
        item.insert("key_ciphertext".into(), ciphertext.clone());
        app.state.table.put(item, None).await.unwrap();
    }

    let bobs = call(
        &app,
        Method::GET,
        "/auth/apikeys/openai",
        bob.access_token(),
        None,
    )
    .await;
    assert!(bobs.status.is_server_error(), "{}", bobs.text);
    assert!(!bobs.text.contains(key), "{}", bobs.text);
    let other = call(
        &app,
        Method::GET,
        "/auth/apikeys/anthropic",
        alice.access_token(),
        None,
    )
    .await;
    assert!(other.status.is_server_error(), "{}", other.text);
    assert!(!other.text.contains(key), "{}", other.text);
    // The original still reads.
    let own = call(
        &app,
        Method::GET,
        "/auth/apikeys/openai",
        alice.access_token(),
        None,
    )
    .await;
    assert_eq!(own.json["apiKey"], key, "{}", own.text);
}
on_both_backends!(a_provider_key_ciphertext_copied_to_another_item_does_not_decrypt);

#[tokio::test]
async fn google_search_keys_come_from_configuration_and_404_when_unset() {
    let unset = TestApp::spawn(Backend::Embedded).await;
    let user = unset.signed_up().await;
    let response = call(
        &unset,
        Method::GET,
        "/auth/google-search-keys",
        user.access_token(),
        None,
    )
    .await;
    response.assert_error(404, "not_found");

    let set = TestApp::spawn_with(Backend::Embedded, |config| {
        config.google_search = Some(latchkey::config::GoogleSearchKeys {
            api_key: "AIza-search-key".into(),
            engine_id: "0123456789:abc".into(),
        });
    })
    .await;
    let user = set.signed_up().await;
    let response = call(
        &set,
        Method::GET,
        "/auth/google-search-keys",
        user.access_token(),
        None,
    )
    .await;
    assert_eq!(response.status, 200, "{}", response.text);
    assert_eq!(
        response.json,
        json!({"apiKey": "AIza-search-key", "searchEngineId": "0123456789:abc"})
    );
    set.get("/auth/google-search-keys")
        .await
        .assert_error(401, "authentication_required");
}

// ------------------------------------------------------------------------------------------------
// OAuth connections against a real provider (oauth2-mock-server)
// ------------------------------------------------------------------------------------------------

const MOCK_CLIENT_SECRET: &str = "mock-client-secret-7d41c0b2";

/// A provider of the registry backed by its own mock issuer.
struct Connectable {
    app: TestApp,
    admin: String,
    mock: MockProvider,
    id: &'static str,
}

async fn connectable(backend: Backend) -> Connectable {
    connectable_on(app_with_admin(backend).await).await
}

async fn connectable_on(app: TestApp) -> Connectable {
    let admin = admin_token(&app).await;
    let mock = MockProvider::start().await;
    mock.set_claims(
        json!({"sub": "acct-1", "email": "owner@provider.example", "email_verified": true}),
    )
    .await;
    let issuer = &mock.issuer;
    let provider = json!({
        "id": "mockdrive",
        "name": "Mock Drive",
        "categories": ["storage"],
        "connectionType": "oauth",
        "oauth": {
            "authorization_url": format!("{issuer}/authorize"),
            "token_url": format!("{issuer}/token"),
            "userinfo_url": format!("{issuer}/userinfo"),
            "revocation_url": format!("{issuer}/revoke"),
            "client_id": "latchkey-integrations",
            "client_secret": MOCK_CLIENT_SECRET,
            "scopes": ["openid", "email", "files.read"],
            "authorization_params": {"access_type": "offline", "prompt": "consent"}
        }
    });
    let created = call(
        &app,
        Method::POST,
        "/auth/providers",
        &admin,
        Some(&provider),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.text);
    Connectable {
        app,
        admin,
        mock,
        id: "mockdrive",
    }
}

impl Connectable {
    /// `GET /auth/connect/{provider}` as `token`: the authorization URL.
    async fn auth_url(&self, token: &str, query: &str) -> String {
        let response = call(
            &self.app,
            Method::GET,
            &format!("/auth/connect/{}{query}", self.id),
            token,
            None,
        )
        .await;
        assert_eq!(response.status, 200, "{}", response.text);
        response.json["authUrl"].as_str().unwrap().to_owned()
    }

    /// Consent at the provider: the path and query of our callback it redirects to.
    async fn consent(&self, auth_url: &str) -> String {
        let location = self.mock.consent(auth_url).await;
        let expected = format!("http://127.0.0.1:3000/auth/callback/{}?", self.id);
        assert!(location.starts_with(&expected), "{location}");
        location["http://127.0.0.1:3000".len()..].to_owned()
    }

    /// Connect `token`'s user through the GET callback; panics unless it answers 200.
    async fn connect(&self, token: &str) {
        let auth_url = self.auth_url(token, "").await;
        let callback = self.consent(&auth_url).await;
        let finished = self.app.get(&callback).await;
        assert_eq!(finished.status, 200, "{}", finished.text);
        assert_eq!(finished.json, json!({"success": true, "provider": self.id}));
    }

    async fn valid_token(&self, token: &str) -> TestResponse {
        call(
            &self.app,
            Method::GET,
            &format!("/auth/valid-token?providerId={}", self.id),
            token,
            None,
        )
        .await
    }

    /// Make the stored access token look about to expire (as time passing would).
    async fn expire_stored_token(&self, user_id: &str) {
        let user_id = latchkey::domain::ids::UserId::parse(user_id).expect("a user id");
        let key = latchkey::domain::keys::connection(&user_id, self.id);
        let mut set = latchkey::ports::Item::new();
        set.insert(
            "expires_at".into(),
            json!(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_secs()
                    + 30
            ),
        );
        self.app
            .state
            .table
            .update(
                &key,
                set,
                Vec::new(),
                Some(latchkey::ports::Condition::Exists),
            )
            .await
            .expect("the connection exists");
    }
}

fn query_of(url: &str) -> std::collections::HashMap<String, String> {
    reqwest::Url::parse(url)
        .expect("a URL")
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

async fn a_connection_is_made_used_refreshed_and_disconnected(backend: Backend) {
    let provider = connectable(backend).await;
    let app = &provider.app;
    let user = app.signed_up().await;
    let token = user.access_token();

    // Connect: the authorization URL carries state, PKCE S256 and the entry's parameters.
    let auth_url = provider.auth_url(token, "").await;
    let query = query_of(&auth_url);
    assert_eq!(query["client_id"], "latchkey-integrations");
    assert_eq!(query["response_type"], "code");
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(query["access_type"], "offline");
    assert_eq!(query["prompt"], "consent");
    assert_eq!(query["scope"], "openid email files.read");
    assert_eq!(
        query["redirect_uri"],
        "http://127.0.0.1:3000/auth/callback/mockdrive"
    );
    assert!(query["state"].len() >= 43);
    let callback = provider.consent(&auth_url).await;
    let finished = app.get(&callback).await;
    assert_eq!(finished.status, 200, "{}", finished.text);
    assert_eq!(
        finished.json,
        json!({"success": true, "provider": "mockdrive"})
    );
    assert_eq!(provider.mock.token_requests("authorization_code").await, 1);

    let listed = call(app, Method::GET, "/auth/connected", token, None).await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    let apps = listed.json["connectedApps"].as_array().unwrap();
    assert_eq!(apps.len(), 1, "{}", listed.text);
    assert_eq!(apps[0]["provider"], "mockdrive");
    assert_eq!(apps[0]["email"], "owner@provider.example");
    assert!(apps[0]["connectedAt"].as_str().unwrap().ends_with('Z'));

    // A fresh token is handed out as stored: no refresh.
    let first = provider.valid_token(token).await;
    assert_eq!(first.status, 200, "{}", first.text);
    let first_token = first.json["access_token"].as_str().unwrap().to_owned();
    assert!(!first_token.is_empty());
    assert_eq!(provider.mock.token_requests("refresh_token").await, 0);
    assert!(
        !listed.text.contains(&first_token),
        "the listing shows no token"
    );

    // About to expire: refreshed first (the mock's tokens differ by the second they are made).
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    provider.expire_stored_token(user.user_id()).await;
    let refreshed = provider.valid_token(token).await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.text);
    let refreshed_token = refreshed.json["access_token"].as_str().unwrap().to_owned();
    assert_ne!(refreshed_token, first_token);
    assert_eq!(provider.mock.token_requests("refresh_token").await, 1);
    // Stored: the next call answers the same token without asking the provider.
    let again = provider.valid_token(token).await;
    assert_eq!(again.json["access_token"], refreshed_token.as_str());
    assert_eq!(provider.mock.token_requests("refresh_token").await, 1);

    // The provider rotated the refresh token: the next refresh sends the new one.
    provider.expire_stored_token(user.user_id()).await;
    let third = provider.valid_token(token).await;
    assert_eq!(third.status, 200, "{}", third.text);
    let sent = provider.mock.requests().await["refresh_tokens"].clone();
    let sent: Vec<&str> = sent
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_ne!(
        sent[0], sent[1],
        "the rotated refresh token replaced the old one"
    );

    // Disconnect: revoked at the provider, gone here.
    let revocations = provider.mock.requests().await["revoke"].as_u64().unwrap();
    let disconnected = call(app, Method::POST, "/auth/disconnect/mockdrive", token, None).await;
    assert_eq!(disconnected.status, 200, "{}", disconnected.text);
    assert_eq!(disconnected.json, json!({"success": true}));
    assert_eq!(
        provider.mock.requests().await["revoke"].as_u64().unwrap(),
        revocations + 1
    );
    let listed = call(app, Method::GET, "/auth/connected", token, None).await;
    assert_eq!(listed.json["connectedApps"], json!([]));
    provider
        .valid_token(token)
        .await
        .assert_error(404, "not_found");
    call(app, Method::POST, "/auth/disconnect/mockdrive", token, None)
        .await
        .assert_error(404, "not_found");
}
on_both_backends!(a_connection_is_made_used_refreshed_and_disconnected);

async fn the_post_callback_finishes_for_the_user_who_began(backend: Backend) {
    let provider = connectable(backend).await;
    let app = &provider.app;
    let alice = app.signed_up().await;
    let bob = app.signed_up().await;

    let auth_url = provider.auth_url(alice.access_token(), "").await;
    let callback = provider.consent(&auth_url).await;
    let query = query_of(&format!("http://x{callback}"));
    let body = json!({"code": query["code"], "state": query["state"]});

    // Bob cannot finish Alice's flow (and the state is spent by trying).
    let stolen = call(
        app,
        Method::POST,
        "/auth/callback",
        bob.access_token(),
        Some(&body),
    )
    .await;
    stolen.assert_error(400, "invalid_oauth_state");
    let replay = call(
        app,
        Method::POST,
        "/auth/callback",
        alice.access_token(),
        Some(&body),
    )
    .await;
    replay.assert_error(400, "invalid_oauth_state");

    let auth_url = provider.auth_url(alice.access_token(), "").await;
    let callback = provider.consent(&auth_url).await;
    let query = query_of(&format!("http://x{callback}"));
    let body = json!({"code": query["code"], "state": query["state"]});
    let finished = call(
        app,
        Method::POST,
        "/auth/callback",
        alice.access_token(),
        Some(&body),
    )
    .await;
    assert_eq!(finished.status, 200, "{}", finished.text);
    assert_eq!(
        finished.json,
        json!({"success": true, "provider": "mockdrive"})
    );
    let bobs = call(
        app,
        Method::GET,
        "/auth/connected",
        bob.access_token(),
        None,
    )
    .await;
    assert_eq!(bobs.json["connectedApps"], json!([]));
    let alices = call(
        app,
        Method::GET,
        "/auth/connected",
        alice.access_token(),
        None,
    )
    .await;
    assert_eq!(alices.json["connectedApps"][0]["provider"], "mockdrive");
}
on_both_backends!(the_post_callback_finishes_for_the_user_who_began);

async fn reused_forged_and_foreign_states_are_refused(backend: Backend) {
    let provider = connectable(backend).await;
    let app = &provider.app;
    let user = app.signed_up().await;
    let token = user.access_token();

    let auth_url = provider.auth_url(token, "").await;
    let callback = provider.consent(&auth_url).await;
    assert_eq!(app.get(&callback).await.status, 200);
    // The same callback again: the state was consumed.
    app.get(&callback)
        .await
        .assert_error(400, "invalid_oauth_state");

    // A state we never issued.
    let forged = format!("/auth/callback/mockdrive?code=abc&state={}", "A".repeat(43));
    app.get(&forged)
        .await
        .assert_error(400, "invalid_oauth_state");
    app.get("/auth/callback/mockdrive?code=abc&state=provider:origin")
        .await
        .assert_error(400, "invalid_oauth_state");

    // A state issued for this provider, presented at another provider's callback.
    let auth_url = provider.auth_url(token, "").await;
    let callback = provider.consent(&auth_url).await;
    let elsewhere = callback.replace("/auth/callback/mockdrive", "/auth/callback/otherdrive");
    app.get(&elsewhere)
        .await
        .assert_error(400, "invalid_oauth_state");

    // Missing pieces name the field.
    let missing = app.get("/auth/callback/mockdrive?code=abc").await;
    missing.assert_error(400, "invalid_request");
    assert_eq!(missing.json["field"], "state");

    // An api_key provider does not connect over OAuth; an unknown one does not exist.
    let openai = json!({"id": "openai", "name": "OpenAI", "connectionType": "api_key"});
    call(
        app,
        Method::POST,
        "/auth/providers",
        &provider.admin,
        Some(&openai),
    )
    .await;
    let refused = call(app, Method::GET, "/auth/connect/openai", token, None).await;
    refused.assert_error(400, "invalid_request");
    assert_eq!(refused.json["field"], "provider");
    call(app, Method::GET, "/auth/connect/nowhere", token, None)
        .await
        .assert_error(404, "not_found");
    // Nothing was connected by any of it but the first callback.
    assert_eq!(provider.mock.token_requests("authorization_code").await, 1);
}
on_both_backends!(reused_forged_and_foreign_states_are_refused);

#[tokio::test]
async fn the_get_callback_redirects_to_an_allow_listed_redirect_to() {
    let app = TestApp::spawn_with(Backend::Embedded, |config| {
        config.admin_emails = vec![ADMIN_EMAIL.to_owned()];
        config.redirect_allow_list = vec!["https://app.example/integrations".to_owned()];
    })
    .await;
    let provider = connectable_on(app).await;
    let user = provider.app.signed_up().await;
    let auth_url = provider
        .auth_url(
            user.access_token(),
            "?redirect_to=https%3A%2F%2Fapp.example%2Fintegrations",
        )
        .await;
    let callback = provider.consent(&auth_url).await;
    let finished = provider.app.get(&callback).await;
    assert_eq!(finished.status, 302, "{}", finished.text);
    assert_eq!(
        finished.header("location"),
        Some("https://app.example/integrations")
    );
    // Anything off the list is ignored: JSON instead of a redirect.
    let auth_url = provider
        .auth_url(
            user.access_token(),
            "?redirect_to=https%3A%2F%2Fevil.example%2F",
        )
        .await;
    let callback = provider.consent(&auth_url).await;
    let finished = provider.app.get(&callback).await;
    assert_eq!(finished.status, 200, "{}", finished.text);
}

async fn another_users_token_is_for_administrators_only(backend: Backend) {
    let provider = connectable(backend).await;
    let app = &provider.app;
    let alice = app.signed_up().await;
    let bob = app.signed_up().await;
    provider.connect(alice.access_token()).await;
    let alices = provider.valid_token(alice.access_token()).await;
    assert_eq!(alices.status, 200, "{}", alices.text);

    let path = format!(
        "/auth/valid-token?providerId=mockdrive&userId={}",
        alice.user_id()
    );
    let by_bob = call(app, Method::GET, &path, bob.access_token(), None).await;
    by_bob.assert_error(403, "forbidden");
    assert!(
        !by_bob
            .text
            .contains(alices.json["access_token"].as_str().unwrap())
    );
    let by_admin = call(app, Method::GET, &path, &provider.admin, None).await;
    assert_eq!(by_admin.status, 200, "{}", by_admin.text);
    assert_eq!(by_admin.json["access_token"], alices.json["access_token"]);

    // Bob's own: none.
    provider
        .valid_token(bob.access_token())
        .await
        .assert_error(404, "not_found");
    let no_provider = call(
        app,
        Method::GET,
        "/auth/valid-token",
        bob.access_token(),
        None,
    )
    .await;
    no_provider.assert_error(400, "invalid_request");
    assert_eq!(no_provider.json["field"], "providerId");

    // Alice's ciphertext copied onto Bob's connection does not decrypt there.
    provider.connect(bob.access_token()).await;
    let alice_item = app
        .state
        .table
        .get(&latchkey::domain::keys::connection(
            &alice.user(),
            "mockdrive",
        ))
        .await
        .unwrap()
        .unwrap();
    let bob_key = latchkey::domain::keys::connection(&bob.user(), "mockdrive");
    let mut bob_item = app.state.table.get(&bob_key).await.unwrap().unwrap();
    bob_item.insert(
        "tokens_ciphertext".into(),
        alice_item["tokens_ciphertext"].clone(),
    );
    app.state.table.put(bob_item, None).await.unwrap();
    let copied = provider.valid_token(bob.access_token()).await;
    assert!(copied.status.is_server_error(), "{}", copied.text);
    assert!(
        !copied
            .text
            .contains(alices.json["access_token"].as_str().unwrap())
    );
}
on_both_backends!(another_users_token_is_for_administrators_only);

async fn a_refused_refresh_answers_409_reconnect_required(backend: Backend) {
    let provider = connectable(backend).await;
    let app = &provider.app;
    let user = app.signed_up().await;
    let token = user.access_token();
    provider.connect(token).await;
    provider.expire_stored_token(user.user_id()).await;
    provider
        .mock
        .fail_next_token_request(400, json!({"error": "invalid_grant"}))
        .await;

    provider
        .valid_token(token)
        .await
        .assert_error(409, "reconnect_required");
    assert_eq!(provider.mock.token_requests("refresh_token").await, 1);
    // Marked: the next call does not ask the provider again.
    provider
        .valid_token(token)
        .await
        .assert_error(409, "reconnect_required");
    assert_eq!(provider.mock.token_requests("refresh_token").await, 1);
    let listed = call(app, Method::GET, "/auth/connected", token, None).await;
    assert_eq!(listed.json["connectedApps"][0]["reconnectRequired"], true);

    // Connecting again clears it.
    provider.connect(token).await;
    let fresh = provider.valid_token(token).await;
    assert_eq!(fresh.status, 200, "{}", fresh.text);
}
on_both_backends!(a_refused_refresh_answers_409_reconnect_required);

/// Ten agents ask at once for an expiring token: the provider sees one refresh request and all
/// ten get its token.
async fn ten_concurrent_valid_token_calls_make_one_refresh(backend: Backend) {
    let provider = std::sync::Arc::new(connectable(backend).await);
    let user = provider.app.signed_up().await;
    let token = user.access_token().to_owned();
    provider.connect(&token).await;
    provider.expire_stored_token(user.user_id()).await;
    let before = provider.mock.token_requests("refresh_token").await;

    let calls = (0..10).map(|_| {
        let provider = provider.clone();
        let token = token.clone();
        tokio::spawn(async move { provider.valid_token(&token).await })
    });
    let answers = futures::future::join_all(calls).await;
    let mut tokens = std::collections::BTreeSet::new();
    for answer in answers {
        let answer = answer.expect("the call finished");
        assert_eq!(answer.status, 200, "{}", answer.text);
        tokens.insert(answer.json["access_token"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        provider.mock.token_requests("refresh_token").await - before,
        1,
        "exactly one refresh request reached the provider"
    );
    assert_eq!(tokens.len(), 1, "all ten got the same token: {tokens:?}");
}
on_both_backends!(ten_concurrent_valid_token_calls_make_one_refresh);

async fn no_provider_token_key_or_client_secret_is_stored_in_plain_text(backend: Backend) {
    let (app, dynamo_name) = match backend {
        Backend::Embedded => (app_with_admin(backend).await, None),
        Backend::Aws => {
            let (table, name) =
                latchkey_tests::named_dynamo_table("latchkey-integrations-scan").await;
            let app = TestApp::spawn_wrapping(
                backend,
                |config| config.admin_emails = vec![ADMIN_EMAIL.to_owned()],
                move |_anonymous| -> std::sync::Arc<dyn latchkey::ports::Table> { table },
            )
            .await;
            (app, Some(name))
        }
    };
    let provider = connectable_on(app).await;
    let app = &provider.app;
    let user = app.signed_up().await;
    let token = user.access_token();
    let openai = json!({"id": "openai", "name": "OpenAI", "connectionType": "api_key"});
    call(
        app,
        Method::POST,
        "/auth/providers",
        &provider.admin,
        Some(&openai),
    )
    .await;
    let provider_key = "sk-scan-me-3f9a1c7e5b2d4f6a8c0e";
    let stored = call(
        app,
        Method::POST,
        "/auth/apikeys/openai",
        token,
        Some(&json!({"apiKey": provider_key})),
    )
    .await;
    assert_eq!(stored.status, 200, "{}", stored.text);
    provider.connect(token).await;
    let first = provider.valid_token(token).await;
    let first_access = first.json["access_token"].as_str().unwrap().to_owned();
    let before_refresh = latchkey_tests::stored_text(app, dynamo_name.as_deref())
        .await
        .0;

    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    provider.expire_stored_token(user.user_id()).await;
    let refreshed = provider.valid_token(token).await;
    let second_access = refreshed.json["access_token"].as_str().unwrap().to_owned();
    // The refresh token stored until the refresh is the one the provider was sent.
    let first_refresh = provider.mock.requests().await["refresh_tokens"][0]
        .as_str()
        .unwrap()
        .to_owned();
    let after_refresh = latchkey_tests::stored_text(app, dynamo_name.as_deref())
        .await
        .0;

    assert!(
        before_refresh.contains(user.user_id()) && after_refresh.contains("mockdrive"),
        "the scan sees the items"
    );
    for (what, secret) in [
        ("the client secret", MOCK_CLIENT_SECRET),
        ("the provider API key", provider_key),
        ("the first access token", first_access.as_str()),
        ("the first refresh token", first_refresh.as_str()),
    ] {
        assert!(
            !before_refresh.contains(secret),
            "{what} is stored in plain text"
        );
    }
    for (what, secret) in [
        ("the client secret", MOCK_CLIENT_SECRET),
        ("the provider API key", provider_key),
        ("the refreshed access token", second_access.as_str()),
    ] {
        assert!(
            !after_refresh.contains(secret),
            "{what} is stored in plain text"
        );
    }
    // Not even a JWT's signature part of an access token.
    let signature = second_access.rsplit('.').next().unwrap();
    assert!(!after_refresh.contains(signature));
}
on_both_backends!(no_provider_token_key_or_client_secret_is_stored_in_plain_text);
