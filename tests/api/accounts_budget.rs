//! DESIGN.md's round-trip budgets, measured with a counting decorator around the real embedded
//! table: sign-in at most 3 table round trips, refresh at most 2.
//!
//! A round trip is a wait on the table: calls made in parallel (`tokio::join!`) overlap and count
//! once; a call that starts while none is in flight starts a new round trip.

use latchkey_tests::counting::Counts;
use latchkey_tests::{TestResponse, sign_in};

fn report(what: &str, counts: &Counts, response: &TestResponse) -> usize {
    let round_trips = counts.round_trips();
    println!(
        "{what}: {round_trips} table round trips ({:?}); status {}",
        counts.calls(),
        response.status
    );
    round_trips
}

#[tokio::test]
async fn sign_in_takes_at_most_three_table_round_trips() {
    let (app, counts) = latchkey_tests::counting::counted_app().await;
    let session = app.signed_up().await;
    counts.reset();

    let response = sign_in(&app, &session.user.email, &session.user.password).await;

    assert_eq!(response.status, 200, "{}", response.text);
    assert!(
        report("sign-in", &counts, &response) <= 3,
        "{:?}",
        counts.calls()
    );
}

#[tokio::test]
async fn a_failed_sign_in_takes_at_most_three_table_round_trips() {
    let (app, counts) = latchkey_tests::counting::counted_app().await;
    let session = app.signed_up().await;
    counts.reset();

    let response = sign_in(&app, &session.user.email, "Wrong-password-123-xyz").await;

    assert_eq!(response.status, 401);
    assert!(
        report("failed sign-in", &counts, &response) <= 3,
        "{:?}",
        counts.calls()
    );
}

#[tokio::test]
async fn refresh_takes_at_most_two_table_round_trips() {
    let (app, counts) = latchkey_tests::counting::counted_app().await;
    let session = app.signed_up().await;
    counts.reset();

    let response = app.refresh(session.refresh_token()).await;

    assert_eq!(response.status, 200, "{}", response.text);
    assert!(
        report("refresh", &counts, &response) <= 2,
        "{:?}",
        counts.calls()
    );
}

#[tokio::test]
async fn sign_up_writes_everything_in_one_transaction_after_counting_the_attempt() {
    let (app, counts) = latchkey_tests::counting::counted_app().await;
    app.signed_up().await; // warms the signing key
    counts.reset();

    let response = app
        .post(
            "/auth/sign-up",
            &latchkey_tests::TestUser::generate().sign_up_body(),
        )
        .await;

    assert_eq!(response.status, 201);
    report("sign-up", &counts, &response);
    // The per-address sign-up counter is added while the password hashes.
    assert_eq!(counts.calls(), vec!["add", "transact"]);
}
