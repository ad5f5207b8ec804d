//! The passkeys group over HTTP, on both backends: register, list, sign in with an email and
//! without one (discoverable), remove; each refusal the issue names; the MFA rules; the race of
//! 20 finishes of one challenge; the stored items.
//!
//! Every attestation and assertion comes from a real software authenticator
//! (`latchkey_tests::passkeys`: kanidm's soft passkey, 1Password's passkey-rs), acting as the
//! browser at `ORIGIN`; the tests only tamper with what an attacker could (swap a credential id,
//! reuse a challenge, answer from another origin).

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures::future::join_all;
use http::Method;
use latchkey::adapters::system::ManualClock;
use latchkey::domain::keys;
use latchkey::services::passkeys;
use latchkey_tests::on_both_backends;
use latchkey_tests::passkeys::{ClonedKey, DiscoverableKey, ORIGIN, SoftKey};
use latchkey_tests::{Backend, SignedIn, TestApp, TestResponse};
use serde_json::{Value, json};

fn claims(access_token: &str) -> Value {
    let payload = access_token.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url")).expect("JSON")
}

async fn post_bearer(app: &TestApp, path: &str, token: &str, body: Option<&Value>) -> TestResponse {
    app.with_bearer(Method::POST, path, token, body).await
}

/// A register challenge for the holder of `token`; panics unless it answers 200.
async fn register_challenge(app: &TestApp, token: &str) -> Value {
    let response = post_bearer(app, "/auth/passkeys/register-challenge", token, None).await;
    assert_eq!(response.status, 200, "{}", response.text);
    response.json
}

async fn finish_registration(
    app: &TestApp,
    token: &str,
    challenge_id: &Value,
    credential: Value,
    name: Option<&str>,
) -> TestResponse {
    let mut body = json!({"challenge_id": challenge_id, "credential": credential});
    if let Some(name) = name {
        body["name"] = json!(name);
    }
    post_bearer(app, "/auth/passkeys/register", token, Some(&body)).await
}

/// Add a passkey made by `key` to the account; panics unless it answers 200.
async fn add_passkey(app: &TestApp, token: &str, key: &mut SoftKey, name: Option<&str>) -> Value {
    let ceremony = register_challenge(app, token).await;
    let credential = key
        .create(ORIGIN, &ceremony["options"])
        .expect("the authenticator");
    let response =
        finish_registration(app, token, &ceremony["challenge_id"], credential, name).await;
    assert_eq!(response.status, 200, "{}", response.text);
    response.json
}

async fn login_challenge(app: &TestApp, email: Option<&str>) -> Value {
    let body = match email {
        Some(email) => json!({"email": email}),
        None => json!({}),
    };
    let response = app.post("/auth/passkeys/login-challenge", &body).await;
    assert_eq!(response.status, 200, "{}", response.text);
    response.json
}

async fn finish_login(app: &TestApp, challenge_id: &Value, credential: Value) -> TestResponse {
    app.post(
        "/auth/passkeys/login",
        &json!({"challenge_id": challenge_id, "credential": credential}),
    )
    .await
}

/// Sign in with `key` through an email challenge; panics unless it answers 200.
async fn sign_in_with(app: &TestApp, email: &str, key: &mut SoftKey) -> TestResponse {
    let ceremony = login_challenge(app, Some(email)).await;
    let assertion = key
        .get(ORIGIN, &ceremony["options"])
        .expect("the authenticator");
    let response = finish_login(app, &ceremony["challenge_id"], assertion).await;
    assert_eq!(response.status, 200, "{}", response.text);
    response
}

async fn listed(app: &TestApp, token: &str) -> Vec<Value> {
    let response = app
        .with_bearer(Method::GET, "/auth/passkeys", token, None)
        .await;
    assert_eq!(response.status, 200, "{}", response.text);
    response.json["passkeys"]
        .as_array()
        .expect("a list")
        .clone()
}

/// Turn MFA on for the account directly in the store (the TOTP flow itself is tested in
/// `mfa.rs`); sessions keep their `aal`.
async fn turn_mfa_on(app: &TestApp, user_id: &str) {
    let user_id = &latchkey::domain::ids::UserId::parse(user_id).expect("a user id");
    let mut set = latchkey::ports::Item::new();
    set.insert("mfa_enabled".into(), true.into());
    app.state
        .table
        .update(&keys::user(user_id), set, vec![], None)
        .await
        .expect("the user updated");
    app.state.profiles.forget(user_id);
}

async fn a_passkey_is_registered_listed_used_to_sign_in_and_removed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let session = app.signed_up().await;
    let mut key = SoftKey::new();

    let ceremony = register_challenge(&app, session.access_token()).await;
    let options = &ceremony["options"]["publicKey"];
    assert_eq!(options["rp"]["id"], "localhost");
    assert_eq!(options["rp"]["name"], "Latchkey");
    assert_eq!(
        options["authenticatorSelection"]["userVerification"],
        "required"
    );
    assert_eq!(
        options["authenticatorSelection"]["residentKey"],
        "preferred"
    );
    let credential = key.create(ORIGIN, &ceremony["options"]).unwrap();
    let added = finish_registration(
        &app,
        session.access_token(),
        &ceremony["challenge_id"],
        credential,
        Some("Work laptop"),
    )
    .await;
    assert_eq!(added.status, 200, "{}", added.text);
    assert_eq!(added.json["name"], "Work laptop");

    let passkeys = listed(&app, session.access_token()).await;
    assert_eq!(passkeys.len(), 1);
    let check = app
        .post("/auth/check-email", &json!({"email": session.user.email}))
        .await;
    assert_eq!(
        check.json["methods"],
        json!(["password", "magic_link", "passkey"]),
        "check-email names the passkey"
    );
    assert_eq!(passkeys[0]["id"], added.json["id"]);
    assert_eq!(passkeys[0]["last_used_at"], Value::Null);

    // A second registration excludes the first credential.
    let again = register_challenge(&app, session.access_token()).await;
    assert_eq!(
        again["options"]["publicKey"]["excludeCredentials"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );

    let ceremony = login_challenge(&app, Some(&session.user.email.to_uppercase())).await;
    assert_eq!(
        ceremony["options"]["publicKey"]["allowCredentials"]
            .as_array()
            .map(Vec::len),
        Some(1),
        "an email's challenge lists its passkeys"
    );
    let assertion = key.get(ORIGIN, &ceremony["options"]).unwrap();
    let signed_in = finish_login(&app, &ceremony["challenge_id"], assertion).await;
    assert_eq!(signed_in.status, 200, "{}", signed_in.text);
    assert_eq!(signed_in.json["user"]["id"], session.user_id());
    assert!(signed_in.json.get("mfa_required").is_none());
    let token_claims = claims(signed_in.json["access_token"].as_str().unwrap());
    assert_eq!(token_claims["amr"], json!(["webauthn"]));
    assert_eq!(token_claims["aal"], 2);
    assert!(
        signed_in.set_cookie("__Host-access_token").is_some(),
        "cookies as for a password sign-in"
    );
    assert!(signed_in.set_cookie("__Host-refresh_token").is_some());
    let passkeys = listed(&app, session.access_token()).await;
    assert!(passkeys[0]["last_used_at"].is_string(), "{passkeys:?}");

    // The token works on the rest of the API.
    let me = app
        .with_bearer(
            Method::GET,
            "/auth/me",
            signed_in.json["access_token"].as_str().unwrap(),
            None,
        )
        .await;
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(me.json["passkeys"]["count"], 1);

    let removed = app
        .with_bearer(
            Method::DELETE,
            &format!("/auth/passkeys/{}", added.json["id"].as_str().unwrap()),
            session.access_token(),
            None,
        )
        .await;
    assert_eq!(removed.status, 200, "{}", removed.text);
    assert!(listed(&app, session.access_token()).await.is_empty());

    // A removed passkey is no longer offered (nor accepted: `a_removed_passkey_cannot_sign_in`).
    let old = login_challenge(&app, Some(&session.user.email)).await;
    assert_eq!(
        old["options"]["publicKey"]["allowCredentials"]
            .as_array()
            .map(Vec::len),
        Some(0),
        "a removed passkey is no longer offered"
    );

    let mail = app.sent_mail().await;
    let subjects: Vec<&str> = mail.iter().map(|m| m.subject.as_str()).collect();
    assert!(
        subjects.iter().any(|s| s.contains("A passkey was added")),
        "{subjects:?}"
    );
    assert!(
        subjects.iter().any(|s| s.contains("A passkey was removed")),
        "{subjects:?}"
    );
}

async fn a_removed_passkey_cannot_sign_in(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let session = app.signed_up().await;
    let mut key = SoftKey::new();
    let added = add_passkey(&app, session.access_token(), &mut key, None).await;
    // The options of a challenge made while the passkey existed.
    let ceremony = login_challenge(&app, Some(&session.user.email)).await;
    let assertion = key.get(ORIGIN, &ceremony["options"]).unwrap();
    let removed = app
        .with_bearer(
            Method::DELETE,
            &format!("/auth/passkeys/{}", added["id"].as_str().unwrap()),
            session.access_token(),
            None,
        )
        .await;
    assert_eq!(removed.status, 200, "{}", removed.text);

    finish_login(&app, &ceremony["challenge_id"], assertion)
        .await
        .assert_error(401, "invalid_credentials");
}

async fn a_discoverable_passkey_signs_in_without_an_email(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let session = app.signed_up().await;
    let mut key = DiscoverableKey::new();
    let ceremony = register_challenge(&app, session.access_token()).await;
    let credential = key.create(ORIGIN, &ceremony["options"]).await.unwrap();
    let added = finish_registration(
        &app,
        session.access_token(),
        &ceremony["challenge_id"],
        credential,
        None,
    )
    .await;
    assert_eq!(added.status, 200, "{}", added.text);
    assert!(
        added.json["name"]
            .as_str()
            .unwrap()
            .starts_with("Passkey added "),
        "a readable default name: {}",
        added.json["name"]
    );

    let ceremony = login_challenge(&app, None).await;
    assert_eq!(
        ceremony["options"]["publicKey"]["allowCredentials"],
        json!([]),
        "no email: any discoverable passkey may answer"
    );
    assert!(
        ceremony["options"]
            .get("mediation")
            .is_none_or(Value::is_null)
    );
    let assertion = key.get(ORIGIN, &ceremony["options"]).await.unwrap();
    assert!(
        assertion["response"]["userHandle"].is_string(),
        "a discoverable credential names its user: {assertion}"
    );
    let signed_in = finish_login(&app, &ceremony["challenge_id"], assertion).await;
    assert_eq!(signed_in.status, 200, "{}", signed_in.text);
    assert_eq!(signed_in.json["user"]["id"], session.user_id());
    let token_claims = claims(signed_in.json["access_token"].as_str().unwrap());
    assert_eq!(token_claims["amr"], json!(["webauthn"]));
    assert_eq!(token_claims["aal"], 2);

    // An email with no account answers a challenge of the same shape.
    let unknown = login_challenge(&app, Some("nobody-here@example.com")).await;
    assert_eq!(
        unknown["options"]["publicKey"]["allowCredentials"],
        json!([])
    );
}

async fn a_challenge_works_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let session = app.signed_up().await;
    let mut key = SoftKey::new();
    add_passkey(&app, session.access_token(), &mut key, None).await;
    let ceremony = login_challenge(&app, Some(&session.user.email)).await;
    let assertion = key.get(ORIGIN, &ceremony["options"]).unwrap();

    let first = finish_login(&app, &ceremony["challenge_id"], assertion.clone()).await;
    assert_eq!(first.status, 200, "{}", first.text);
    finish_login(&app, &ceremony["challenge_id"], assertion)
        .await
        .assert_error(401, "invalid_challenge");

    // A registration challenge is spent by a refused answer too.
    let ceremony = register_challenge(&app, session.access_token()).await;
    let mut other = SoftKey::new();
    let credential = other
        .create("http://localhost:4000", &ceremony["options"])
        .unwrap();
    finish_registration(
        &app,
        session.access_token(),
        &ceremony["challenge_id"],
        credential,
        None,
    )
    .await
    .assert_error(401, "invalid_credentials");
    let credential = other.create(ORIGIN, &ceremony["options"]).unwrap();
    finish_registration(
        &app,
        session.access_token(),
        &ceremony["challenge_id"],
        credential,
        None,
    )
    .await
    .assert_error(401, "invalid_challenge");
}

async fn an_expired_challenge_is_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let session = app.signed_up().await;
    let mut key = SoftKey::new();
    add_passkey(&app, session.access_token(), &mut key, None).await;
    // A challenge made 5 minutes and 10 seconds ago.
    let clock = ManualClock::new();
    clock.advance(time::Duration::seconds(-310));
    let mut earlier = app.state.clone();
    earlier.clock = Arc::new(clock);
    let email = latchkey::domain::emails::EmailAddress::parse(&session.user.email).unwrap();
    let ceremony = passkeys::login_challenge(&earlier, Some(&email))
        .await
        .expect("a challenge");
    let options = serde_json::to_value(&ceremony).unwrap();
    let assertion = key.get(ORIGIN, &options["options"]).unwrap();

    finish_login(&app, &options["challenge_id"], assertion)
        .await
        .assert_error(401, "invalid_challenge");
}

async fn a_challenge_of_another_user_or_purpose_is_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ada = app.signed_up().await;
    let bob = app.signed_up().await;
    let mut key = SoftKey::new();

    // Ada's registration challenge, finished by Bob.
    let ceremony = register_challenge(&app, ada.access_token()).await;
    let credential = key.create(ORIGIN, &ceremony["options"]).unwrap();
    finish_registration(
        &app,
        bob.access_token(),
        &ceremony["challenge_id"],
        credential.clone(),
        None,
    )
    .await
    .assert_error(401, "invalid_challenge");
    // Not consumed by Bob's attempt: Ada can still finish it.
    let added = finish_registration(
        &app,
        ada.access_token(),
        &ceremony["challenge_id"],
        credential,
        None,
    )
    .await;
    assert_eq!(added.status, 200, "{}", added.text);

    // A sign-in challenge used to register, and a registration challenge used to sign in.
    let sign_in = login_challenge(&app, None).await;
    let mut other = SoftKey::new();
    let register_options = register_challenge(&app, bob.access_token()).await;
    let credential = other.create(ORIGIN, &register_options["options"]).unwrap();
    finish_registration(
        &app,
        bob.access_token(),
        &sign_in["challenge_id"],
        credential,
        None,
    )
    .await
    .assert_error(401, "invalid_challenge");
    let login_options = login_challenge(&app, Some(&ada.user.email)).await;
    let assertion = key.get(ORIGIN, &login_options["options"]).unwrap();
    finish_login(&app, &register_options["challenge_id"], assertion)
        .await
        .assert_error(401, "invalid_challenge");

    // Ada's passkey answering a challenge made for Bob's email.
    let bobs = login_challenge(&app, Some(&bob.user.email)).await;
    let mut ada_options = login_options.clone();
    ada_options["options"]["publicKey"]["challenge"] =
        bobs["options"]["publicKey"]["challenge"].clone();
    let assertion = key.get(ORIGIN, &ada_options["options"]).unwrap();
    finish_login(&app, &bobs["challenge_id"], assertion)
        .await
        .assert_error(401, "invalid_credentials");

    // Not a challenge id at all.
    finish_login(
        &app,
        &json!("not-a-uuid"),
        json!({"id": "AA", "rawId": "AA", "type": "public-key",
        "response": {"clientDataJSON": "AA", "authenticatorData": "AA", "signature": "AA"}}),
    )
    .await
    .assert_error(401, "invalid_challenge");
}

async fn an_answer_from_a_foreign_origin_is_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let session = app.signed_up().await;
    let mut key = SoftKey::new();

    let ceremony = register_challenge(&app, session.access_token()).await;
    let credential = key
        .create("http://localhost:8080", &ceremony["options"])
        .unwrap();
    finish_registration(
        &app,
        session.access_token(),
        &ceremony["challenge_id"],
        credential,
        None,
    )
    .await
    .assert_error(401, "invalid_credentials");

    add_passkey(&app, session.access_token(), &mut key, None).await;
    let ceremony = login_challenge(&app, Some(&session.user.email)).await;
    let assertion = key
        .get("http://localhost:8080", &ceremony["options"])
        .unwrap();
    let client_data = URL_SAFE_NO_PAD
        .decode(assertion["response"]["clientDataJSON"].as_str().unwrap())
        .unwrap();
    let client_data: Value = serde_json::from_slice(&client_data).unwrap();
    assert!(
        client_data["origin"]
            .as_str()
            .is_some_and(|origin| origin.starts_with("http://localhost:8080")),
        "{client_data}"
    );
    finish_login(&app, &ceremony["challenge_id"], assertion)
        .await
        .assert_error(401, "invalid_credentials");
}

async fn an_assertion_for_another_rp_id_is_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let session = app.signed_up().await;
    let mut key = SoftKey::new();
    add_passkey(&app, session.access_token(), &mut key, None).await;
    let ceremony = login_challenge(&app, Some(&session.user.email)).await;
    let assertion = key
        .get_for_rp(ORIGIN, &ceremony["options"], "evil.example")
        .unwrap();

    finish_login(&app, &ceremony["challenge_id"], assertion)
        .await
        .assert_error(401, "invalid_credentials");
}

async fn an_assertion_signed_by_another_key_is_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let victim = app.signed_up().await;
    let attacker = app.signed_up().await;
    let mut victims_key = SoftKey::new();
    let mut attackers_key = SoftKey::new();
    add_passkey(&app, victim.access_token(), &mut victims_key, None).await;
    add_passkey(&app, attacker.access_token(), &mut attackers_key, None).await;
    let victims_options = login_challenge(&app, Some(&victim.user.email)).await;
    let victims_credential_id =
        victims_options["options"]["publicKey"]["allowCredentials"][0]["id"].clone();

    // The attacker's authenticator signs the victim's challenge; the answer claims the victim's
    // credential id.
    let attackers_options = login_challenge(&app, Some(&attacker.user.email)).await;
    let mut options = attackers_options["options"].clone();
    options["publicKey"]["challenge"] =
        victims_options["options"]["publicKey"]["challenge"].clone();
    let mut assertion = attackers_key.get(ORIGIN, &options).unwrap();
    assertion["id"] = victims_credential_id.clone();
    assertion["rawId"] = victims_credential_id;

    finish_login(&app, &victims_options["challenge_id"], assertion)
        .await
        .assert_error(401, "invalid_credentials");
}

async fn a_credential_id_already_registered_is_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ada = app.signed_up().await;
    let bob = app.signed_up().await;
    // Two authenticators with the same secrets: the same credential id and key.
    let mut original = ClonedKey::new();
    let mut clone = ClonedKey::new();

    let ceremony = register_challenge(&app, ada.access_token()).await;
    let credential = original.create(ORIGIN, &ceremony["options"]).await.unwrap();
    let first = finish_registration(
        &app,
        ada.access_token(),
        &ceremony["challenge_id"],
        credential.clone(),
        None,
    )
    .await;
    assert_eq!(first.status, 200, "{}", first.text);

    let ceremony = register_challenge(&app, bob.access_token()).await;
    let duplicate = clone.create(ORIGIN, &ceremony["options"]).await.unwrap();
    assert_eq!(
        duplicate["rawId"], credential["rawId"],
        "the clone makes the same credential"
    );
    finish_registration(
        &app,
        bob.access_token(),
        &ceremony["challenge_id"],
        duplicate,
        None,
    )
    .await
    .assert_error(409, "passkey_already_registered");
    assert!(listed(&app, bob.access_token()).await.is_empty());
}

async fn with_mfa_on_adding_and_removing_need_the_second_factor(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let session = app.signed_up().await;
    let mut key = SoftKey::new();
    let first = add_passkey(&app, session.access_token(), &mut key, None).await;
    turn_mfa_on(&app, session.user_id()).await;

    // A password session is at aal 1.
    post_bearer(
        &app,
        "/auth/passkeys/register-challenge",
        session.access_token(),
        None,
    )
    .await
    .assert_error(403, "second_factor_required");
    let path = format!("/auth/passkeys/{}", first["id"].as_str().unwrap());
    app.with_bearer(Method::DELETE, &path, session.access_token(), None)
        .await
        .assert_error(403, "second_factor_required");

    // A passkey sign-in is a whole sign-in at aal 2, not the MFA step.
    let signed_in = sign_in_with(&app, &session.user.email, &mut key).await;
    assert!(
        signed_in.json.get("mfa_required").is_none(),
        "{}",
        signed_in.text
    );
    let strong = signed_in.json["access_token"].as_str().unwrap().to_owned();
    let mut second_key = SoftKey::new();
    add_passkey(&app, &strong, &mut second_key, Some("Phone")).await;
    let removed = app.with_bearer(Method::DELETE, &path, &strong, None).await;
    assert_eq!(removed.status, 200, "{}", removed.text);
}

async fn the_last_way_to_sign_in_cannot_be_removed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let session = app.signed_up().await;
    let mut key = SoftKey::new();
    let only = add_passkey(&app, session.access_token(), &mut key, None).await;
    // An account without a password (as magic links and invites make them).
    app.state
        .table
        .update(
            &keys::user(&session.user()),
            latchkey::ports::Item::new(),
            vec!["password_hash".into()],
            None,
        )
        .await
        .unwrap();
    let path = format!("/auth/passkeys/{}", only["id"].as_str().unwrap());

    app.with_bearer(Method::DELETE, &path, session.access_token(), None)
        .await
        .assert_error(409, "last_sign_in_method");

    let mut spare = SoftKey::new();
    add_passkey(&app, session.access_token(), &mut spare, None).await;
    let removed = app
        .with_bearer(Method::DELETE, &path, session.access_token(), None)
        .await;
    assert_eq!(removed.status, 200, "{}", removed.text);
    app.with_bearer(
        Method::DELETE,
        "/auth/passkeys/00000000-0000-4000-8000-000000000000",
        session.access_token(),
        None,
    )
    .await
    .assert_error(404, "not_found");
}

async fn another_users_passkey_cannot_be_listed_or_removed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ada = app.signed_up().await;
    let bob = app.signed_up().await;
    let mut key = SoftKey::new();
    let adas = add_passkey(&app, ada.access_token(), &mut key, None).await;

    assert!(listed(&app, bob.access_token()).await.is_empty());
    app.with_bearer(
        Method::DELETE,
        &format!("/auth/passkeys/{}", adas["id"].as_str().unwrap()),
        bob.access_token(),
        None,
    )
    .await
    .assert_error(404, "not_found");
    assert_eq!(listed(&app, ada.access_token()).await.len(), 1);
}

async fn twenty_concurrent_finishes_of_one_challenge_have_one_winner(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let session = app.signed_up().await;
    let mut key = SoftKey::new();
    add_passkey(&app, session.access_token(), &mut key, None).await;
    let ceremony = login_challenge(&app, Some(&session.user.email)).await;
    let assertion = key.get(ORIGIN, &ceremony["options"]).unwrap();

    let answers =
        join_all((0..20).map(|_| finish_login(&app, &ceremony["challenge_id"], assertion.clone())))
            .await;

    let wins = answers.iter().filter(|r| r.status == 200).count();
    assert_eq!(
        wins,
        1,
        "{:?}",
        answers.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    for answer in answers.iter().filter(|r| r.status != 200) {
        answer.assert_error(401, "invalid_challenge");
    }
}

async fn bad_input_names_the_field(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let session = app.signed_up().await;
    app.post(
        "/auth/passkeys/login-challenge",
        &json!({"email": "not an email"}),
    )
    .await
    .assert_error(400, "invalid_request");
    let response = app
        .post("/auth/passkeys/login", &json!({"challenge_id": "x"}))
        .await;
    response.assert_error(400, "invalid_request");
    assert_eq!(response.json["field"], "credential");
    let mut key = SoftKey::new();
    let ceremony = register_challenge(&app, session.access_token()).await;
    let credential = key.create(ORIGIN, &ceremony["options"]).unwrap();
    let response = finish_registration(
        &app,
        session.access_token(),
        &ceremony["challenge_id"],
        credential,
        Some(&"x".repeat(65)),
    )
    .await;
    response.assert_error(400, "invalid_request");
    assert_eq!(response.json["field"], "name");
    // Without a caller: 401.
    app.post("/auth/passkeys/register-challenge", &json!({}))
        .await
        .assert_error(401, "authentication_required");
}

async fn the_stored_items_hold_no_private_key_and_challenges_expire(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let session: SignedIn = app.signed_up().await;
    let mut key = SoftKey::new();
    let ceremony = register_challenge(&app, session.access_token()).await;
    let challenge = app
        .state
        .table
        .get(&keys::challenge(ceremony["challenge_id"].as_str().unwrap()))
        .await
        .unwrap()
        .expect("the challenge item");
    let ttl = challenge["ttl"].as_i64().unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    assert!(
        (now + 295..=now + 305).contains(&ttl),
        "a 5-minute ttl: {ttl} vs {now}"
    );
    assert_eq!(
        challenge["binding"],
        format!("passkey-register:{}", session.user_id())
    );

    let credential = key.create(ORIGIN, &ceremony["options"]).unwrap();
    let added = finish_registration(
        &app,
        session.access_token(),
        &ceremony["challenge_id"],
        credential.clone(),
        None,
    )
    .await;
    assert_eq!(added.status, 200, "{}", added.text);
    let item = app
        .state
        .table
        .get(&keys::passkey(
            &session.user(),
            &latchkey::domain::ids::PasskeyId::parse(added.json["id"].as_str().unwrap()).unwrap(),
        ))
        .await
        .unwrap()
        .expect("the passkey item");
    let credential_id = credential["rawId"].as_str().unwrap();
    assert_eq!(item["credential_id"], credential_id);
    assert_eq!(item["GSI1PK"], format!("PASSKEYCRED#{credential_id}"));
    let stored: Value = serde_json::from_str(item["credential"].as_str().unwrap()).unwrap();
    assert!(
        stored["cred"]["cred"]["key"].is_object(),
        "the public key: {stored}"
    );
    let claim = app
        .state
        .table
        .get(&keys::passkey_credential(credential_id))
        .await
        .unwrap()
        .expect("the credential claim");
    assert_eq!(claim["user_id"], session.user_id());
    // The consumed challenge is gone.
    assert!(
        app.state
            .table
            .get(&keys::challenge(ceremony["challenge_id"].as_str().unwrap()))
            .await
            .unwrap()
            .is_none()
    );
}

on_both_backends!(
    a_passkey_is_registered_listed_used_to_sign_in_and_removed,
    a_removed_passkey_cannot_sign_in,
    a_discoverable_passkey_signs_in_without_an_email,
    a_challenge_works_once,
    an_expired_challenge_is_refused,
    a_challenge_of_another_user_or_purpose_is_refused,
    an_answer_from_a_foreign_origin_is_refused,
    an_assertion_for_another_rp_id_is_refused,
    an_assertion_signed_by_another_key_is_refused,
    a_credential_id_already_registered_is_refused,
    with_mfa_on_adding_and_removing_need_the_second_factor,
    the_last_way_to_sign_in_cannot_be_removed,
    another_users_passkey_cannot_be_listed_or_removed,
    twenty_concurrent_finishes_of_one_challenge_have_one_winner,
    bad_input_names_the_field,
    the_stored_items_hold_no_private_key_and_challenges_expire,
);
