//! Holding under races and faults (issue 17), on both backends: sign-in limits counted before the
//! hash, refresh races that keep the session, revocation that does not depend on listing and
//! deleting sessions, and sign-ups limited per client address.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::future::join_all;
use http::Method;
use latchkey::ports::{Condition, Item, Key, StoreError, Table, Write};
use latchkey_tests::{Backend, TestApp, TestUser, on_both_backends, sign_in, sign_up};
use serde_json::json;

on_both_backends!(
    a_hundred_concurrent_wrong_passwords_evaluate_at_most_the_limit,
    a_successful_sign_in_clears_the_accounts_failures,
    a_locked_account_still_signs_in_by_magic_link_and_resets_its_password,
    sign_ups_are_limited_per_client_address,
    twenty_concurrent_refreshes_with_one_token_keep_the_session,
    a_retry_after_a_lost_refresh_answer_gets_the_same_successor,
    an_older_ancestor_reused_within_the_grace_revokes_the_session,
    a_refresh_token_reused_after_the_grace_revokes_the_session,
    a_password_change_ends_other_sessions_even_when_listing_and_deleting_fail,
    a_password_reset_ends_every_session_even_when_listing_and_deleting_fail,
);

const WRONG: &str = "Wrong-password-123-xyz";

fn refresh_token_of(response: &latchkey_tests::TestResponse) -> String {
    assert_eq!(response.status, 200, "{}", response.text);
    response.json["refresh_token"]
        .as_str()
        .expect("a refresh token")
        .to_owned()
}

async fn validate(app: &TestApp, access_token: &str) -> u16 {
    app.with_bearer(Method::GET, "/auth/validate", access_token, None)
        .await
        .status
        .as_u16()
}

// ---- sign-in limits, counted first -------------------------------------------------------------

async fn a_hundred_concurrent_wrong_passwords_evaluate_at_most_the_limit(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let victim = app.signed_up().await;
    // The emulator answers one call at a time for every test running at once: 100 (or 30)
    // concurrent sign-ins there queue calls past the AWS call timeout (3 s) while the rest of
    // the suite runs. 15 still overrun the limit of 10, which is what is tested.
    let attempts = match backend {
        Backend::Embedded => 100,
        Backend::Aws => 15,
    };

    let responses = join_all((0..attempts).map(|_| sign_in(&app, &victim.user.email, WRONG))).await;

    let evaluated = responses.iter().filter(|r| r.status == 401).count();
    let limited = responses.iter().filter(|r| r.status == 429).count();
    assert_eq!(evaluated + limited, attempts, "only 401s and 429s");
    assert!(evaluated <= 10, "{evaluated} guesses reached the hash");
    // The limit holds for the right password too until the window ends.
    sign_in(&app, &victim.user.email, &victim.user.password)
        .await
        .assert_error(429, "rate_limited");
}

async fn a_successful_sign_in_clears_the_accounts_failures(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = app.signed_up().await.user;
    for _ in 0..9 {
        sign_in(&app, &user.email, WRONG)
            .await
            .assert_error(401, "invalid_credentials");
    }
    assert_eq!(sign_in(&app, &user.email, &user.password).await.status, 200);

    for _ in 0..9 {
        sign_in(&app, &user.email, WRONG)
            .await
            .assert_error(401, "invalid_credentials");
    }
    let response = sign_in(&app, &user.email, &user.password).await;

    assert_eq!(response.status, 200, "{}", response.text);
}

async fn a_locked_account_still_signs_in_by_magic_link_and_resets_its_password(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = app.signed_up().await.user;
    for _ in 0..11 {
        sign_in(&app, &user.email, WRONG).await;
    }
    sign_in(&app, &user.email, &user.password)
        .await
        .assert_error(429, "rate_limited");

    // Magic link: the password path is locked, the mailbox path is not.
    let requested = app
        .post("/auth/magic-link", &json!({ "email": user.email }))
        .await;
    assert!(requested.status.is_success(), "{}", requested.text);
    let link = latest_link_to(&app, &user.email).await;
    let signed_in = app.get(&path_of(&app, &link)).await;
    assert!(
        signed_in.status.is_success() || signed_in.status.is_redirection(),
        "{} {}",
        signed_in.status,
        signed_in.text
    );

    // Password reset, after which the new password signs in at once.
    app.post("/auth/forgot-password", &json!({ "email": user.email }))
        .await;
    let token = token_in(&latest_link_to(&app, &user.email).await);
    let new_password = "Freshly-chosen-passphrase-42";
    let reset = app
        .post(
            "/auth/reset-password",
            &json!({ "token": token, "new_password": new_password }),
        )
        .await;
    assert_eq!(reset.status, 200, "{}", reset.text);
    let response = sign_in(&app, &user.email, new_password).await;
    assert_eq!(response.status, 200, "{}", response.text);
}

async fn sign_ups_are_limited_per_client_address(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let taken = app.signed_up().await.user;

    let mut statuses = Vec::new();
    for _ in 0..25 {
        statuses.push(
            sign_up(&app, &taken.email, &taken.password)
                .await
                .status
                .as_u16(),
        );
    }

    assert!(
        statuses.iter().filter(|s| **s == 409).count() < 20,
        "{statuses:?}"
    );
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    // Once limited, a free address answers 429 too: the answer tells nothing about it.
    let fresh = TestUser::generate();
    sign_up(&app, &fresh.email, &fresh.password)
        .await
        .assert_error(429, "rate_limited");
}

// ---- refresh races -------------------------------------------------------------------------

async fn twenty_concurrent_refreshes_with_one_token_keep_the_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let session = app.signed_up().await;

    let responses = join_all((0..20).map(|_| app.refresh(session.refresh_token()))).await;

    let statuses: Vec<u16> = responses.iter().map(|r| r.status.as_u16()).collect();
    assert!(statuses.contains(&200), "{statuses:?}");
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 409),
        "no use of the token was refused outright: {statuses:?}"
    );
    let successors: Vec<String> = responses
        .iter()
        .filter(|r| r.status == 200)
        .map(refresh_token_of)
        .collect();
    // Every winner's successor works, one after another, and the session stays alive.
    for successor in &successors {
        let next = app.refresh(successor).await;
        assert_eq!(next.status, 200, "{}", next.text);
        let access = next.json["access_token"].as_str().unwrap();
        assert_eq!(validate(&app, access).await, 200);
    }
}

async fn a_retry_after_a_lost_refresh_answer_gets_the_same_successor(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let session = app.signed_up().await;
    let lost = refresh_token_of(&app.refresh(session.refresh_token()).await);

    let retried = app.refresh(session.refresh_token()).await;

    assert_eq!(refresh_token_of(&retried), lost);
    let access = retried.json["access_token"].as_str().unwrap();
    assert_eq!(validate(&app, access).await, 200);
    assert_eq!(app.refresh(&lost).await.status, 200);
}

async fn an_older_ancestor_reused_within_the_grace_revokes_the_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let session = app.signed_up().await;
    let second = refresh_token_of(&app.refresh(session.refresh_token()).await);
    let third = refresh_token_of(&app.refresh(&second).await);

    app.refresh(session.refresh_token())
        .await
        .assert_error(401, "invalid_token");

    app.refresh(&third).await.assert_error(401, "invalid_token");
    assert_eq!(validate(&app, session.access_token()).await, 401);
}

async fn a_refresh_token_reused_after_the_grace_revokes_the_session(backend: Backend) {
    let app = TestApp::spawn_with(backend, |config| {
        config.refresh_reuse_grace = Duration::from_secs(1);
    })
    .await;
    let session = app.signed_up().await;
    let newest = refresh_token_of(&app.refresh(session.refresh_token()).await);
    // Past the grace: rotation times are whole seconds.
    tokio::time::sleep(Duration::from_millis(2100)).await;

    app.refresh(session.refresh_token())
        .await
        .assert_error(401, "invalid_token");

    app.refresh(&newest)
        .await
        .assert_error(401, "invalid_token");
    assert_eq!(validate(&app, session.access_token()).await, 401);
}

// ---- all-or-nothing revocation -------------------------------------------------------------

/// The real table, except that listing a user's sessions and every delete fail: revocation must
/// not depend on them.
struct NoListingNoDeleting(Arc<dyn Table>);

fn injected() -> StoreError {
    StoreError::Backend("injected failure".into())
}

#[async_trait]
impl Table for NoListingNoDeleting {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.0.get(key).await
    }
    async fn put(&self, item: Item, condition: Option<Condition>) -> Result<(), StoreError> {
        self.0.put(item, condition).await
    }
    async fn update(
        &self,
        key: &Key,
        set: Item,
        remove: Vec<String>,
        condition: Option<Condition>,
    ) -> Result<Item, StoreError> {
        self.0.update(key, set, remove, condition).await
    }
    async fn delete(
        &self,
        _key: &Key,
        _condition: Option<Condition>,
    ) -> Result<Option<Item>, StoreError> {
        Err(injected())
    }
    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        self.0.transact(writes).await
    }
    async fn add(
        &self,
        key: &Key,
        attribute: &str,
        delta: i64,
        ttl: Option<i64>,
    ) -> Result<i64, StoreError> {
        self.0.add(key, attribute, delta, ttl).await
    }
    async fn query(&self, pk: &str, sk_prefix: &str) -> Result<Vec<Item>, StoreError> {
        if sk_prefix.starts_with("SESSION") {
            return Err(injected());
        }
        self.0.query(pk, sk_prefix).await
    }
    async fn query_gsi1(&self, gsi1pk: &str, sk_prefix: &str) -> Result<Vec<Item>, StoreError> {
        self.0.query_gsi1(gsi1pk, sk_prefix).await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        self.0.ping().await
    }
    fn backend(&self) -> &'static str {
        self.0.backend()
    }
    fn generation(&self) -> u64 {
        self.0.generation()
    }
}

async fn failing_app(backend: Backend) -> TestApp {
    TestApp::spawn_wrapping(
        backend,
        |_| {},
        |inner| Arc::new(NoListingNoDeleting(inner)),
    )
    .await
}

async fn a_password_change_ends_other_sessions_even_when_listing_and_deleting_fail(
    backend: Backend,
) {
    let app = failing_app(backend).await;
    let here = app.signed_up().await;
    let elsewhere = app.signed_in(&here.user).await;
    let new_password = "Another-fine-passphrase-77";

    let changed = app
        .with_bearer(
            Method::POST,
            "/auth/password",
            here.access_token(),
            Some(&json!({
                "current_password": here.user.password,
                "new_password": new_password,
            })),
        )
        .await;

    assert_eq!(changed.status, 200, "{}", changed.text);
    app.refresh(elsewhere.refresh_token())
        .await
        .assert_error(401, "invalid_token");
    assert_eq!(validate(&app, elsewhere.access_token()).await, 401);
    // The session that changed the password goes on.
    assert_eq!(validate(&app, here.access_token()).await, 200);
    assert_eq!(app.refresh(here.refresh_token()).await.status, 200);
    assert_eq!(
        sign_in(&app, &here.user.email, new_password).await.status,
        200
    );
}

async fn a_password_reset_ends_every_session_even_when_listing_and_deleting_fail(backend: Backend) {
    let app = failing_app(backend).await;
    let session = app.signed_up().await;
    let email = session.user.email.clone();
    app.post("/auth/forgot-password", &json!({ "email": email }))
        .await;
    let token = token_in(&latest_link_to(&app, &email).await);

    let reset = app
        .post(
            "/auth/reset-password",
            &json!({ "token": token, "new_password": "Freshly-chosen-passphrase-42" }),
        )
        .await;

    assert_eq!(reset.status, 200, "{}", reset.text);
    app.refresh(session.refresh_token())
        .await
        .assert_error(401, "invalid_token");
    assert_eq!(validate(&app, session.access_token()).await, 401);
}

// ---- helpers -------------------------------------------------------------------------------

async fn latest_link_to(app: &TestApp, email: &str) -> String {
    let mail = app
        .sent_mail()
        .await
        .into_iter()
        .rfind(|mail| mail.to.iter().any(|to| to.eq_ignore_ascii_case(email)))
        .unwrap_or_else(|| panic!("no mail was sent to {email}"));
    mail.links()
        .into_iter()
        .find(|link| link.contains("token="))
        .unwrap_or_else(|| panic!("no link in {}", mail.body))
}

fn path_of(app: &TestApp, link: &str) -> String {
    link.strip_prefix(&app.state.config.public_url)
        .unwrap_or_else(|| panic!("{link} is not on the public URL"))
        .to_owned()
}

fn token_in(link: &str) -> String {
    link.split(['?', '&'])
        .find_map(|pair| pair.strip_prefix("token="))
        .unwrap_or_else(|| panic!("no token in {link}"))
        .to_owned()
}
