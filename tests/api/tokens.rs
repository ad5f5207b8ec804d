//! Access tokens and the discovery endpoints: issue and verify, the JWKS, rotation, first-use
//! races between instances, forgeries refused, and an independent JOSE library (PyJWT) verifying
//! our tokens from the published JWKS alone.

use std::sync::Arc;
use tower::ServiceExt;

use aws_lc_rs::encoding::AsDer;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey};
use latchkey::adapters::system::ManualClock;
use latchkey::domain::ids::{SessionId, UserId, WorkspaceId};
use latchkey::ports::{Clock, EncryptionContext, Key};
use latchkey::services::tokens::{self, AccessClaims, Subject};
use latchkey::{AppState, Config};
use latchkey_tests::counting::{CountingTable, Counts};
use latchkey_tests::on_both_backends;
use latchkey_tests::{Backend, TestApp, fresh_cipher, fresh_mailer, fresh_table, test_python};
use serde_json::{Value, json};

fn subject() -> Subject {
    Subject {
        user_id: UserId::parse("3f0c2a0e-6a55-4c11-9a0b-5b1df0d1e001").unwrap(),
        session_id: SessionId::parse("a1b2c3d4-0000-4000-8000-000000000001").unwrap(),
        email: "ada@example.com".into(),
        email_verified: true,
        org: Some(WorkspaceId::parse("9d5e7f00-0000-4000-8000-000000000002").unwrap()),
        role: Some("owner".into()),
        plan: "business".into(),
        features: vec!["advanced_analytics".into()],
        amr: vec!["pwd".into(), "mfa".into()],
        aal: 2,
        scope: "openid profile".into(),
    }
}

/// A second function instance over the same table and key: its own, empty key cache.
fn another_instance(state: &AppState) -> AppState {
    let mut other = state.clone();
    other.signing_keys = Arc::default();
    other
}

/// The same instance seen through a clock the test moves.
fn with_clock(state: &AppState, clock: Arc<dyn Clock>) -> AppState {
    let mut moved = state.clone();
    moved.clock = clock;
    moved
}

fn header_of(token: &str) -> Value {
    let header = token.split('.').next().expect("a header part");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).expect("base64url")).expect("JSON")
}

fn kid_of(token: &str) -> String {
    header_of(token)["kid"].as_str().expect("a kid").to_owned()
}

fn b64_json(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

/// A token with exactly this header and these claims, signed by `key` with `alg`.
fn sign(header: &Value, claims: &Value, key: &EncodingKey, alg: Algorithm) -> String {
    let message = format!("{}.{}", b64_json(header), b64_json(claims));
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), key, alg).expect("sign");
    format!("{message}.{signature}")
}

/// Claims that would pass every check, issued now.
fn valid_claims(state: &AppState) -> Value {
    let now = state.clock.unix();
    json!({
        "iss": state.config.issuer, "aud": state.config.audience,
        "sub": "3f0c2a0e-6a55-4c11-9a0b-5b1df0d1e001", "exp": now + 900, "iat": now, "nbf": now,
        "jti": "0b7c5d0e-0000-4000-8000-000000000003", "sid": "a1b2c3d4-0000-4000-8000-000000000001",
        "scope": "", "org": null, "role": null, "plan": "free", "features": [],
        "email": "ada@example.com", "email_verified": true, "amr": ["pwd"], "aal": 1,
    })
}

fn good_header(kid: &str) -> Value {
    json!({"typ": "at+jwt", "alg": "RS256", "kid": kid})
}

/// The real private key of `kid`, read from the table and decrypted as the service does: lets a
/// test sign tokens that differ from good ones in exactly one respect.
async fn stored_private_key(state: &AppState, kid: &str) -> EncodingKey {
    let item = state
        .table
        .get(&Key::new("KEYS", format!("KEY#{kid}")))
        .await
        .expect("read the key item")
        .expect("the key item exists");
    let ciphertext = STANDARD
        .decode(item["private_key"].as_str().expect("private_key"))
        .expect("base64");
    let context = EncryptionContext::new("KEYS", "jwt-signing-key").with("kid", kid);
    let pkcs8 = state
        .cipher
        .decrypt(&ciphertext, &context)
        .await
        .expect("decrypt");
    EncodingKey::from_rsa_pem(pem("PRIVATE KEY", &pkcs8).as_bytes()).expect("an RSA key")
}

fn pem(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).expect("ASCII"))
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

/// The JWKS entry for `kid`, as served.
async fn published_key(app: &TestApp, kid: &str) -> Value {
    let jwks = app.get("/.well-known/jwks.json").await;
    jwks.json["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["kid"] == kid)
        .cloned()
        .unwrap_or_else(|| panic!("{kid} is not published: {}", jwks.text))
}

/// An app with one token issued, its key, and that key's private half.
async fn app_with_key() -> (TestApp, String, EncodingKey) {
    let app = TestApp::spawn(Backend::Embedded).await;
    let issued = tokens::issue(&app.state, subject()).await.expect("issue");
    let kid = kid_of(&issued.token);
    let key = stored_private_key(&app.state, &kid).await;
    (app, kid, key)
}

async fn assert_refused(state: &AppState, token: &str, message_has: &str) {
    let error = latchkey::Error::from(
        tokens::verify(state, token)
            .await
            .expect_err("the token must be refused"),
    );
    assert_eq!(error.status().as_u16(), 401, "{error}");
    assert_eq!(
        error.code,
        latchkey::error::ErrorCode::InvalidToken,
        "{error}"
    );
    assert!(
        error.message.contains(message_has),
        "expected a message with {message_has:?}, got {:?}",
        error.message
    );
    // And over HTTP, as a client sees it: 401 in the error shape.
    let request = http::Request::get("/auth/validate")
        .header("authorization", format!("Bearer {token}"))
        .body(axum::body::Body::empty())
        .expect("request");
    let response = latchkey_local::app(state.clone())
        .oneshot(request)
        .await
        .expect("infallible");
    latchkey_tests::TestResponse::read(response)
        .await
        .assert_error(401, "invalid_token");
}

// Issue and verify.

async fn an_issued_token_verifies_and_carries_the_subjects_claims(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let before = app.state.clock.unix();

    let issued = tokens::issue(&app.state, subject()).await.expect("issue");
    let claims = tokens::verify(&app.state, &issued.token)
        .await
        .expect("verify");

    assert_eq!(claims, issued.claims);
    let expected = subject();
    assert_eq!(claims.iss, app.state.config.issuer);
    assert_eq!(claims.aud, app.state.config.audience);
    assert_eq!(claims.sub, expected.user_id);
    assert_eq!(claims.sid, expected.session_id.as_str());
    assert_eq!(claims.email, expected.email);
    assert!(claims.email_verified);
    assert_eq!(claims.org, expected.org);
    assert_eq!(claims.role, expected.role);
    assert_eq!(claims.plan, expected.plan);
    assert_eq!(claims.features, expected.features);
    assert_eq!(claims.amr, expected.amr);
    assert_eq!(claims.aal, 2);
    assert_eq!(claims.scope, expected.scope);
    assert!(claims.iat >= before && claims.iat <= before + 5);
    assert_eq!(claims.nbf, claims.iat);
    assert_eq!(claims.exp, claims.iat + 900);
    assert!(uuid::Uuid::parse_str(&claims.jti).is_ok_and(|id| id.get_version_num() == 4));

    let header = header_of(&issued.token);
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["typ"], "at+jwt");
    assert!(header["kid"].as_str().is_some_and(|kid| kid.len() == 43));
}
on_both_backends!(an_issued_token_verifies_and_carries_the_subjects_claims);

#[tokio::test]
async fn every_token_gets_its_own_jti() {
    let app = TestApp::spawn(Backend::Embedded).await;
    let first = tokens::issue(&app.state, subject()).await.expect("issue");
    let second = tokens::issue(&app.state, subject()).await.expect("issue");
    assert_ne!(first.claims.jti, second.claims.jti);
    assert_eq!(kid_of(&first.token), kid_of(&second.token));
}

async fn the_private_key_is_stored_encrypted_under_its_kid(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let issued = tokens::issue(&app.state, subject()).await.expect("issue");
    let kid = kid_of(&issued.token);

    let item = app
        .state
        .table
        .get(&Key::new("KEYS", format!("KEY#{kid}")))
        .await
        .expect("read")
        .expect("the key item");
    let ciphertext = STANDARD
        .decode(item["private_key"].as_str().expect("private_key"))
        .expect("base64");
    let wrong_context = EncryptionContext::new("KEYS", "jwt-signing-key").with("kid", "another");
    assert!(
        app.state
            .cipher
            .decrypt(&ciphertext, &wrong_context)
            .await
            .is_err(),
        "the private key must only decrypt under its own kid"
    );
    let pointer = app
        .state
        .table
        .get(&Key::new("KEYS", "CURRENT"))
        .await
        .expect("read")
        .expect("the pointer");
    assert_eq!(pointer["kid"], kid.as_str());
    assert!(item.get("retired_at").is_none() && item.get("ttl").is_none());
}
on_both_backends!(the_private_key_is_stored_encrypted_under_its_kid);

// The JWKS and discovery endpoints.

async fn the_jwks_publishes_the_signing_key_and_may_be_cached(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let issued = tokens::issue(&app.state, subject()).await.expect("issue");
    let kid = kid_of(&issued.token);

    let response = app.get("/.well-known/jwks.json").await;

    assert_eq!(response.status, 200, "{}", response.text);
    assert_eq!(
        response.header("cache-control"),
        Some("public, max-age=300")
    );
    let keys = response.json["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), 1, "{}", response.text);
    let key = &keys[0];
    assert_eq!(key["kid"], kid.as_str());
    assert_eq!(key["kty"], "RSA");
    assert_eq!(key["use"], "sig");
    assert_eq!(key["alg"], "RS256");
    assert_eq!(key["e"], "AQAB");
    assert_eq!(key["n"].as_str().map(str::len), Some(342));
    let members: Vec<&String> = key.as_object().expect("object").keys().collect();
    assert_eq!(
        members.len(),
        6,
        "nothing private is published: {members:?}"
    );
}
on_both_backends!(the_jwks_publishes_the_signing_key_and_may_be_cached);

#[tokio::test]
async fn the_jwks_of_a_fresh_deployment_already_holds_the_first_key() {
    let app = TestApp::spawn(Backend::Embedded).await;
    let response = app.get("/.well-known/jwks.json").await;
    assert_eq!(response.status, 200, "{}", response.text);
    let kid = response.json["keys"][0]["kid"]
        .as_str()
        .expect("a key")
        .to_owned();

    let issued = tokens::issue(&app.state, subject()).await.expect("issue");
    assert_eq!(kid_of(&issued.token), kid);
}

#[tokio::test]
async fn the_openid_configuration_points_at_the_jwks() {
    let app = TestApp::spawn_with(Backend::Embedded, |config| {
        config.public_url = "https://auth.example.com".into();
        config.issuer = "https://auth.example.com".into();
    })
    .await;

    let response = app.get("/.well-known/openid-configuration").await;

    assert_eq!(response.status, 200, "{}", response.text);
    let document = &response.json;
    assert_eq!(document["issuer"], "https://auth.example.com");
    assert_eq!(
        document["jwks_uri"],
        "https://auth.example.com/.well-known/jwks.json"
    );
    assert_eq!(
        document["token_endpoint"],
        "https://auth.example.com/auth/sign-in"
    );
    assert_eq!(
        document["id_token_signing_alg_values_supported"],
        json!(["RS256"])
    );
    assert!(document["response_types_supported"].is_array());
    assert_eq!(document["subject_types_supported"], json!(["public"]));
    assert!(
        response
            .header("cache-control")
            .is_some_and(|v| v.starts_with("public"))
    );
}

#[tokio::test]
async fn the_well_known_routes_list_names_every_route_it_serves() {
    let app = TestApp::spawn(Backend::Embedded).await;
    for route in latchkey_well_known::routes().list() {
        let (method, path) = (route.method, route.path);
        let response = app
            .request(method.parse().expect("a method"), &path, None, &[])
            .await;
        assert_eq!(response.status, 200, "{method} {path}: {}", response.text);
    }
}

// Rotation.

async fn rotation_keeps_the_old_key_published_until_its_tokens_expire(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let old = tokens::issue(&app.state, subject()).await.expect("issue");
    let old_kid = kid_of(&old.token);

    let new_kid = tokens::rotate_signing_key(&app.state)
        .await
        .expect("rotate");

    assert_ne!(new_kid, old_kid);
    let new = tokens::issue(&app.state, subject()).await.expect("issue");
    assert_eq!(kid_of(&new.token), new_kid);
    tokens::verify(&app.state, &old.token)
        .await
        .expect("a token signed before the rotation still verifies");
    tokens::verify(&app.state, &new.token)
        .await
        .expect("a token signed after the rotation verifies");
    tokens::verify(&another_instance(&app.state), &old.token)
        .await
        .expect("another instance verifies the old token too");

    let jwks = app.get("/.well-known/jwks.json").await;
    let kids: Vec<&str> = jwks.json["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .filter_map(|k| k["kid"].as_str())
        .collect();
    assert_eq!(
        kids,
        [new_kid.as_str(), old_kid.as_str()],
        "current key first"
    );

    let retired = app
        .state
        .table
        .get(&Key::new("KEYS", format!("KEY#{old_kid}")))
        .await
        .expect("read")
        .expect("the old key is still stored");
    let retired_at = retired["retired_at"].as_i64().expect("retired_at");
    let ttl = retired["ttl"].as_i64().expect("ttl");
    assert!(
        ttl > old.claims.exp + 30 && ttl >= retired_at + 900,
        "the old key outlives its tokens: ttl {ttl}, last exp {}",
        old.claims.exp
    );
    assert!(ttl <= retired_at + 900 + 3600, "but not by much: ttl {ttl}");
}
on_both_backends!(rotation_keeps_the_old_key_published_until_its_tokens_expire);

#[tokio::test]
async fn rotating_a_fresh_deployment_makes_its_first_key() {
    let app = TestApp::spawn(Backend::Embedded).await;
    let kid = tokens::rotate_signing_key(&app.state)
        .await
        .expect("rotate");
    let issued = tokens::issue(&app.state, subject()).await.expect("issue");
    assert_eq!(kid_of(&issued.token), kid);
    published_key(&app, &kid).await;
}

#[tokio::test]
async fn a_retired_key_drops_out_of_the_jwks_once_its_tokens_have_expired() {
    let app = TestApp::spawn(Backend::Embedded).await;
    let old = tokens::issue(&app.state, subject()).await.expect("issue");
    tokens::rotate_signing_key(&app.state)
        .await
        .expect("rotate");
    let retired = app
        .state
        .table
        .get(&Key::new("KEYS", format!("KEY#{}", kid_of(&old.token))))
        .await
        .expect("read")
        .expect("stored");
    let ttl = retired["ttl"].as_i64().expect("ttl");

    // Stand in for time passing: the store treats an item past its `ttl` as absent.
    let mut expired = retired.clone();
    expired.insert("ttl".into(), json!(app.state.clock.unix() - 1));
    app.state
        .table
        .put(expired, None)
        .await
        .expect("age the key");
    assert!(ttl > app.state.clock.unix());

    let jwks = app.get("/.well-known/jwks.json").await;
    assert_eq!(
        jwks.json["keys"].as_array().map(Vec::len),
        Some(1),
        "{}",
        jwks.text
    );
}

async fn an_instance_picks_up_a_key_rotated_by_another(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let clock = Arc::new(ManualClock::new());
    let other = with_clock(&another_instance(&app.state), clock.clone());
    let before = tokens::issue(&app.state, subject()).await.expect("issue");
    tokens::verify(&other, &before.token)
        .await
        .expect("a cold instance loads the public keys");
    let own = tokens::issue(&other, subject()).await.expect("issue");
    assert_eq!(kid_of(&own.token), kid_of(&before.token));

    let new_kid = tokens::rotate_signing_key(&app.state)
        .await
        .expect("rotate");
    let after = tokens::issue(&app.state, subject()).await.expect("issue");

    // Verifying: an unknown kid reloads the keys, but at most once per ten seconds, and the
    // other instance loaded them a moment ago.
    assert_refused(&other, &after.token, "unknown key").await;
    clock.advance(time::Duration::seconds(11));
    tokens::verify(&other, &after.token)
        .await
        .expect("the reloaded keys include the new one");

    // Signing: the other instance keeps its cached key for a few minutes, then reads the pointer.
    let still_old = tokens::issue(&other, subject()).await.expect("issue");
    assert_eq!(kid_of(&still_old.token), kid_of(&before.token));
    clock.advance(time::Duration::minutes(5));
    let renewed = tokens::issue(&other, subject()).await.expect("issue");
    assert_eq!(kid_of(&renewed.token), new_kid);
}
on_both_backends!(an_instance_picks_up_a_key_rotated_by_another);

// Racing instances.

async fn instances_racing_to_make_the_first_key_converge_on_one(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = another_instance(&app.state);
    let second = another_instance(&app.state);

    let (a, b, c) = tokio::join!(
        tokens::issue(&first, subject()),
        tokens::issue(&second, subject()),
        tokens::issue(&first, subject()),
    );
    let kids = [a, b, c].map(|issued| kid_of(&issued.expect("issue").token));

    assert_eq!(kids[0], kids[1], "both instances sign with one key");
    assert_eq!(kids[0], kids[2]);
    let stored = app.state.table.query("KEYS", "KEY#").await.expect("query");
    assert_eq!(stored.len(), 1, "the loser leaves no key behind");
    let jwks = app.get("/.well-known/jwks.json").await;
    assert_eq!(jwks.json["keys"][0]["kid"], kids[0].as_str());
}
on_both_backends!(instances_racing_to_make_the_first_key_converge_on_one);

// Round trips: verification is a signature check once the keys are cached.

async fn counting_state() -> (AppState, Arc<Counts>, tempfile::TempDir) {
    let clock: Arc<dyn Clock> = Arc::new(latchkey::adapters::system::SystemClock);
    let (inner, dir) = fresh_table(Backend::Embedded, clock.clone()).await;
    let counts = Arc::new(Counts::default());
    let table = Arc::new(CountingTable::new(inner, counts.clone()));
    let config = Config::for_tests(dir.path());
    let cipher = fresh_cipher(Backend::Embedded, dir.path()).await;
    let mailer = fresh_mailer(Backend::Embedded, dir.path(), &config.mail_from).await;
    let state = AppState::new(config, table, mailer, cipher, clock);
    (state, counts, dir)
}

#[tokio::test]
async fn verifying_with_a_cached_key_makes_no_table_round_trip() {
    let (state, table, _dir) = counting_state().await;
    let issued = tokens::issue(&state, subject()).await.expect("issue");
    let after_first_issue = table.calls().len();

    for _ in 0..20 {
        tokens::verify(&state, &issued.token).await.expect("verify");
    }
    tokens::issue(&state, subject()).await.expect("issue");

    assert_eq!(table.calls().len(), after_first_issue);
}

#[tokio::test]
async fn a_cold_instance_loads_the_public_keys_once_to_verify() {
    let (state, table, _dir) = counting_state().await;
    let issued = tokens::issue(&state, subject()).await.expect("issue");
    let cold = another_instance(&state);
    let before = table.calls().len();

    for _ in 0..5 {
        tokens::verify(&cold, &issued.token).await.expect("verify");
    }

    assert_eq!(table.calls().len(), before + 1);
}

#[tokio::test]
async fn unknown_kids_cannot_make_every_request_hit_the_table() {
    let (state, table, _dir) = counting_state().await;
    let issued = tokens::issue(&state, subject()).await.expect("issue");
    let key = stored_private_key(&state, &kid_of(&issued.token)).await;
    let before = table.calls().len();

    for n in 0..20 {
        let token = sign(
            &good_header(&format!("garbage-{n}")),
            &valid_claims(&state),
            &key,
            Algorithm::RS256,
        );
        assert_refused(&state, &token, "unknown key").await;
    }

    assert_eq!(
        table.calls().len(),
        before + 1,
        "one reload, then none for a while"
    );
}

// Forgeries and bad tokens: each differs from a good token in one respect.

#[tokio::test]
async fn a_token_signed_like_a_good_one_by_hand_verifies() {
    // The control for the tests below: the forging helpers make good tokens when told to.
    let (app, kid, key) = app_with_key().await;
    let token = sign(
        &good_header(&kid),
        &valid_claims(&app.state),
        &key,
        Algorithm::RS256,
    );
    tokens::verify(&app.state, &token).await.expect("verify");
}

#[tokio::test]
async fn a_token_with_alg_none_is_refused() {
    let (app, kid, _) = app_with_key().await;
    let header = json!({"typ": "at+jwt", "alg": "none", "kid": kid});
    let unsigned = format!(
        "{}.{}.",
        b64_json(&header),
        b64_json(&valid_claims(&app.state))
    );
    assert_refused(&app.state, &unsigned, "RS256").await;
    let header = json!({"typ": "at+jwt", "alg": "None", "kid": kid});
    let unsigned = format!(
        "{}.{}",
        b64_json(&header),
        b64_json(&valid_claims(&app.state))
    );
    assert_refused(&app.state, &unsigned, "malformed").await;
}

#[tokio::test]
async fn a_token_signed_with_hs256_keyed_by_the_public_key_is_refused() {
    let (app, kid, _) = app_with_key().await;
    let jwk = published_key(&app, &kid).await;
    let n = jwk["n"].as_str().expect("n");
    let e = jwk["e"].as_str().expect("e");
    let components = aws_lc_rs::rsa::PublicKeyComponents {
        n: URL_SAFE_NO_PAD.decode(n).expect("n"),
        e: URL_SAFE_NO_PAD.decode(e).expect("e"),
    };
    let spki = components.as_der().expect("SPKI DER");
    let public_pem = pem("PUBLIC KEY", spki.as_ref());
    let header = json!({"typ": "at+jwt", "alg": "HS256", "kid": kid});

    for secret in [public_pem.as_bytes(), spki.as_ref(), n.as_bytes()] {
        let forged = sign(
            &header,
            &valid_claims(&app.state),
            &EncodingKey::from_secret(secret),
            Algorithm::HS256,
        );
        assert_refused(&app.state, &forged, "RS256").await;
    }
}

#[tokio::test]
async fn a_token_with_a_flipped_signature_byte_is_refused() {
    let app = TestApp::spawn(Backend::Embedded).await;
    let issued = tokens::issue(&app.state, subject()).await.expect("issue");
    let (message, signature) = issued.token.rsplit_once('.').expect("three parts");
    let mut bytes = URL_SAFE_NO_PAD.decode(signature).expect("base64url");
    for index in [0, bytes.len() / 2, bytes.len() - 1] {
        let mut flipped = bytes.clone();
        flipped[index] ^= 0x01;
        let forged = format!("{message}.{}", URL_SAFE_NO_PAD.encode(&flipped));
        assert_refused(&app.state, &forged, "signature").await;
    }
    bytes.truncate(bytes.len() - 1);
    let truncated = format!("{message}.{}", URL_SAFE_NO_PAD.encode(&bytes));
    assert_refused(&app.state, &truncated, "signature").await;
}

#[tokio::test]
async fn a_token_with_changed_claims_is_refused() {
    let app = TestApp::spawn(Backend::Embedded).await;
    let issued = tokens::issue(&app.state, subject()).await.expect("issue");
    let mut parts = issued.token.split('.');
    let (header, _, signature) = (parts.next(), parts.next(), parts.next());
    let mut claims = serde_json::to_value(&issued.claims).expect("claims");
    claims["plan"] = json!("enterprise");
    let forged = format!(
        "{}.{}.{}",
        header.expect("header"),
        b64_json(&claims),
        signature.expect("signature")
    );
    assert_refused(&app.state, &forged, "signature").await;
}

#[tokio::test]
async fn a_token_signed_by_a_key_we_never_published_is_refused() {
    let (app, kid, _) = app_with_key().await;
    let foreign =
        aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("generate");
    let pkcs8 = foreign.as_der().expect("PKCS#8");
    let foreign = EncodingKey::from_rsa_pem(pem("PRIVATE KEY", pkcs8.as_ref()).as_bytes())
        .expect("an RSA key");
    let claims = valid_claims(&app.state);

    let unknown = sign(
        &good_header("attacker-key"),
        &claims,
        &foreign,
        Algorithm::RS256,
    );
    assert_refused(&app.state, &unknown, "unknown key").await;
    let impostor = sign(&good_header(&kid), &claims, &foreign, Algorithm::RS256);
    assert_refused(&app.state, &impostor, "signature").await;
    let no_kid = sign(
        &json!({"typ": "at+jwt", "alg": "RS256"}),
        &claims,
        &foreign,
        Algorithm::RS256,
    );
    assert_refused(&app.state, &no_kid, "no signing key").await;
}

#[tokio::test]
async fn a_token_of_another_type_is_refused() {
    let (app, kid, key) = app_with_key().await;
    let claims = valid_claims(&app.state);
    for header in [
        json!({"typ": "JWT", "alg": "RS256", "kid": kid}),
        json!({"alg": "RS256", "kid": kid}),
        json!({"typ": "mfa+jwt", "alg": "RS256", "kid": kid}),
    ] {
        let token = sign(&header, &claims, &key, Algorithm::RS256);
        assert_refused(&app.state, &token, "not an access token").await;
    }
    let full_media_type = sign(
        &json!({"typ": "application/at+jwt", "alg": "RS256", "kid": kid}),
        &claims,
        &key,
        Algorithm::RS256,
    );
    tokens::verify(&app.state, &full_media_type)
        .await
        .expect("RFC 9068 allows the full media type");
}

#[tokio::test]
async fn a_token_with_another_signature_algorithm_is_refused() {
    let (app, kid, key) = app_with_key().await;
    for alg in [Algorithm::RS512, Algorithm::PS256] {
        let header = json!({"typ": "at+jwt", "alg": format!("{alg:?}"), "kid": kid});
        let token = sign(&header, &valid_claims(&app.state), &key, alg);
        assert_refused(&app.state, &token, "RS256").await;
    }
}

#[tokio::test]
async fn a_token_marking_an_extension_critical_is_refused() {
    let (app, kid, key) = app_with_key().await;
    let header = json!({"typ": "at+jwt", "alg": "RS256", "kid": kid, "crit": ["exp"]});
    let token = sign(&header, &valid_claims(&app.state), &key, Algorithm::RS256);
    assert_refused(&app.state, &token, "extension").await;
}

#[tokio::test]
async fn a_token_for_another_audience_or_issuer_is_refused() {
    let (app, kid, key) = app_with_key().await;
    let mut claims = valid_claims(&app.state);
    claims["aud"] = json!("another-service");
    let token = sign(&good_header(&kid), &claims, &key, Algorithm::RS256);
    assert_refused(&app.state, &token, "audience").await;

    let mut claims = valid_claims(&app.state);
    claims["aud"] = json!([app.state.config.audience]);
    let token = sign(&good_header(&kid), &claims, &key, Algorithm::RS256);
    assert_refused(&app.state, &token, "malformed").await;

    let mut claims = valid_claims(&app.state);
    claims["iss"] = json!("https://evil.example.com");
    let token = sign(&good_header(&kid), &claims, &key, Algorithm::RS256);
    assert_refused(&app.state, &token, "issuer").await;
}

#[tokio::test]
async fn expired_and_not_yet_valid_tokens_are_refused() {
    let (app, kid, key) = app_with_key().await;
    let now = app.state.clock.unix();

    let mut claims = valid_claims(&app.state);
    claims["iat"] = json!(now - 1000);
    claims["nbf"] = json!(now - 1000);
    claims["exp"] = json!(now - 100);
    let expired = sign(&good_header(&kid), &claims, &key, Algorithm::RS256);
    assert_refused(&app.state, &expired, "expired").await;

    let mut claims = valid_claims(&app.state);
    claims["nbf"] = json!(now + 600);
    claims["exp"] = json!(now + 1500);
    let early = sign(&good_header(&kid), &claims, &key, Algorithm::RS256);
    assert_refused(&app.state, &early, "not valid yet").await;

    let mut claims = valid_claims(&app.state);
    claims.as_object_mut().expect("object").remove("exp");
    let endless = sign(&good_header(&kid), &claims, &key, Algorithm::RS256);
    assert_refused(&app.state, &endless, "malformed").await;
}

#[tokio::test]
async fn a_token_expires_after_its_lifetime() {
    let app = TestApp::spawn(Backend::Embedded).await;
    let clock = Arc::new(ManualClock::new());
    let state = with_clock(&app.state, clock.clone());
    let issued = tokens::issue(&state, subject()).await.expect("issue");

    clock.advance(time::Duration::seconds(899));
    tokens::verify(&state, &issued.token)
        .await
        .expect("valid until it expires");
    // Past `exp` by more than the 30 s allowed for clock skew.
    clock.advance(time::Duration::seconds(32));
    assert_refused(&state, &issued.token, "expired").await;
}

#[tokio::test]
async fn malformed_tokens_are_refused() {
    let app = TestApp::spawn(Backend::Embedded).await;
    let issued = tokens::issue(&app.state, subject()).await.expect("issue");
    let too_long = format!("{}{}", issued.token, "A".repeat(10_000));
    let padded = issued.token.replacen('.', "=.", 1);
    for token in [
        "",
        "...",
        "not-a-jwt",
        "a.b",
        "a.b.c.d",
        "!!!.@@@.###",
        &format!("{}.extra", issued.token),
        &too_long,
        &padded,
    ] {
        assert_refused(&app.state, token, "malformed").await;
    }
}

// An independent implementation agrees.

const PYJWT_VERIFY: &str = r#"
import json, sys
import jwt

jwks, token, audience, issuer = sys.argv[1:5]
key_set = jwt.PyJWKSet.from_dict(json.loads(jwks))
kid = jwt.get_unverified_header(token)["kid"]
claims = jwt.decode(
    token,
    key=key_set[kid].key,
    algorithms=["RS256"],
    audience=audience,
    issuer=issuer,
    options={"require": ["exp", "iat", "nbf", "sub", "iss", "aud"]},
)
print(json.dumps(claims))
"#;

fn verify_with_pyjwt(
    jwks: &str,
    token: &str,
    audience: &str,
    issuer: &str,
) -> Result<Value, String> {
    let python = test_python();
    let output = std::process::Command::new(&python)
        .args(["-c", PYJWT_VERIFY, jwks, token, audience, issuer])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}; run ./tests/run.sh", python.display()));
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    serde_json::from_slice(&output.stdout).map_err(|e| e.to_string())
}

async fn pyjwt_verifies_our_token_from_the_published_jwks_alone(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let issued = tokens::issue(&app.state, subject()).await.expect("issue");
    let jwks = app.get("/.well-known/jwks.json").await;
    let config = &app.state.config;

    let claims = verify_with_pyjwt(&jwks.text, &issued.token, &config.audience, &config.issuer)
        .expect("PyJWT accepts the token");

    assert_eq!(claims["sub"], subject().user_id.as_str());
    let ours: AccessClaims = serde_json::from_value(claims).expect("the same claims");
    assert_eq!(ours, issued.claims);

    let refused = verify_with_pyjwt(&jwks.text, &issued.token, "another-service", &config.issuer);
    assert!(
        refused.is_err_and(|e| e.contains("InvalidAudience")),
        "the control: PyJWT really checks"
    );
}
on_both_backends!(pyjwt_verifies_our_token_from_the_published_jwks_alone);
