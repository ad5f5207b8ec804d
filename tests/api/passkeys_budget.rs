//! The passkey ceremonies' round-trip budgets (issue 10: challenge 2, finish 3), measured with a
//! counting decorator around the real embedded table. The caller's session check, made by every
//! authenticated request, counts.

use http::Method;
use latchkey_tests::TestResponse;
use latchkey_tests::counting::Counts;
use latchkey_tests::passkeys::{DiscoverableKey, ORIGIN, SoftKey};
use serde_json::json;

fn report(what: &str, counts: &Counts, response: &TestResponse) -> usize {
    let round_trips = counts.round_trips();
    println!(
        "{what}: {round_trips} table round trips ({:?}); status {}",
        counts.calls(),
        response.status
    );
    assert!(response.status.is_success(), "{what}: {}", response.text);
    round_trips
}

#[tokio::test]
async fn each_passkey_ceremony_stays_within_its_round_trip_budget() {
    let (app, counts) = latchkey_tests::counting::counted_app().await;
    let session = app.signed_up().await;
    let token = session.access_token();
    let mut key = SoftKey::new();

    counts.reset();
    let challenge = app
        .with_bearer(
            Method::POST,
            "/auth/passkeys/register-challenge",
            token,
            None,
        )
        .await;
    assert!(report("register-challenge", &counts, &challenge) <= 2);

    let credential = key.create(ORIGIN, &challenge.json["options"]).unwrap();
    counts.reset();
    let registered = app
        .with_bearer(
            Method::POST,
            "/auth/passkeys/register",
            token,
            Some(
                &json!({"challenge_id": challenge.json["challenge_id"], "credential": credential}),
            ),
        )
        .await;
    assert!(report("register", &counts, &registered) <= 3);

    counts.reset();
    let challenge = app
        .post(
            "/auth/passkeys/login-challenge",
            &json!({"email": session.user.email}),
        )
        .await;
    assert!(report("login-challenge with an email", &counts, &challenge) <= 2);

    let assertion = key.get(ORIGIN, &challenge.json["options"]).unwrap();
    counts.reset();
    let signed_in = app
        .post(
            "/auth/passkeys/login",
            &json!({"challenge_id": challenge.json["challenge_id"], "credential": assertion}),
        )
        .await;
    assert!(report("login", &counts, &signed_in) <= 3);
}

#[tokio::test]
async fn a_discoverable_sign_in_stays_within_its_round_trip_budget() {
    let (app, counts) = latchkey_tests::counting::counted_app().await;
    let session = app.signed_up().await;
    let token = session.access_token();
    let mut key = DiscoverableKey::new();
    let challenge = app
        .with_bearer(
            Method::POST,
            "/auth/passkeys/register-challenge",
            token,
            None,
        )
        .await;
    let credential = key
        .create(ORIGIN, &challenge.json["options"])
        .await
        .unwrap();
    let registered = app
        .with_bearer(
            Method::POST,
            "/auth/passkeys/register",
            token,
            Some(
                &json!({"challenge_id": challenge.json["challenge_id"], "credential": credential}),
            ),
        )
        .await;
    assert_eq!(registered.status, 200, "{}", registered.text);

    counts.reset();
    let challenge = app.post("/auth/passkeys/login-challenge", &json!({})).await;
    assert!(report("login-challenge without an email", &counts, &challenge) <= 1);

    let assertion = key.get(ORIGIN, &challenge.json["options"]).await.unwrap();
    counts.reset();
    let signed_in = app
        .post(
            "/auth/passkeys/login",
            &json!({"challenge_id": challenge.json["challenge_id"], "credential": assertion}),
        )
        .await;
    assert!(report("discoverable login", &counts, &signed_in) <= 3);
}
