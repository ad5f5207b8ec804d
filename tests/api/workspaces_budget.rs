//! The workspaces group's round-trip budgets (4 each for accepting an invite and switching
//! workspace), measured with a counting decorator around the real embedded table. The figures
//! are stated in the README.
//!
//! A round trip is a wait on the table: calls made in parallel (`tokio::join!`) overlap and count
//! once; a call that starts while none is in flight starts a new round trip.

use http::Method;
use latchkey_tests::counting::Counts;
use latchkey_tests::{TestApp, TestResponse};
use serde_json::json;

fn report(what: &str, counts: &Counts, response: &TestResponse) -> usize {
    let round_trips = counts.round_trips();
    println!(
        "{what}: {round_trips} table round trips ({:?}); status {}",
        counts.calls(),
        response.status
    );
    round_trips
}

/// An owner's new workspace and the accept path of an invite to `email`.
async fn invite_to(app: &TestApp, email: &str) -> String {
    let owner = app.signed_up().await;
    let created = app
        .with_bearer(
            Method::POST,
            "/workspaces",
            owner.access_token(),
            Some(&json!({"name": "Budget"})),
        )
        .await;
    let workspace = created.json["id"].as_str().unwrap().to_owned();
    let invited = app
        .with_bearer(
            Method::POST,
            &format!("/workspaces/{workspace}/invites"),
            owner.access_token(),
            Some(&json!({"email": email, "role": "member"})),
        )
        .await;
    assert_eq!(invited.status, 201, "{}", invited.text);
    let mail = app
        .sent_mail()
        .await
        .into_iter()
        .rfind(|mail| mail.to.iter().any(|to| to == email))
        .expect("the invite mail");
    let link = mail.links().into_iter().next().expect("a link");
    link.strip_prefix(&app.state.config.public_url)
        .expect("a link on the public URL")
        .to_owned()
}

async fn accept_takes_at_most_four_round_trips(existing_account: bool) {
    let (app, counts) = latchkey_tests::counting::counted_app().await;
    let email = if existing_account {
        app.signed_up().await.user.email
    } else {
        format!("budget-{}@example.com", uuid::Uuid::new_v4().simple())
    };
    let path = invite_to(&app, &email).await;
    counts.reset();

    let response = app.get(&path).await;

    assert_eq!(response.status, 200, "{}", response.text);
    let what = if existing_account {
        "accept (existing account)"
    } else {
        "accept (new account)"
    };
    assert!(
        report(what, &counts, &response) <= 4,
        "{:?}",
        counts.calls()
    );
}

#[tokio::test]
async fn accepting_an_invite_for_an_existing_account_takes_at_most_four_table_round_trips() {
    accept_takes_at_most_four_round_trips(true).await;
}

#[tokio::test]
async fn accepting_an_invite_for_a_new_address_takes_at_most_four_table_round_trips() {
    accept_takes_at_most_four_round_trips(false).await;
}

#[tokio::test]
async fn switching_workspace_takes_at_most_four_table_round_trips() {
    let (app, counts) = latchkey_tests::counting::counted_app().await;
    let user = app.signed_up().await;
    let created = app
        .with_bearer(
            Method::POST,
            "/workspaces",
            user.access_token(),
            Some(&json!({"name": "Elsewhere"})),
        )
        .await;
    let workspace = created.json["id"].as_str().unwrap();
    counts.reset();

    let response = app
        .with_bearer(
            Method::POST,
            "/auth/switch-workspace",
            user.access_token(),
            Some(&json!({"workspace_id": workspace})),
        )
        .await;

    assert_eq!(response.status, 200, "{}", response.text);
    assert!(
        report("switch", &counts, &response) <= 4,
        "{:?}",
        counts.calls()
    );
}
