//! The client address behind a trusted proxy (issue 17, item 1): the entry our proxy appended to
//! `X-Forwarded-For`, never the client-written ones left of it, so forging those does not buy a
//! fresh per-address budget. On both backends, as the budget lives in the table.

use http::Method;
use latchkey_tests::{Backend, TestApp, unique_email};
use serde_json::json;

/// `SIGN_IN_FAILURES_PER_ADDRESS`: 50 failed sign-ins per address per 15 minutes.
const ADDRESS_BUDGET: usize = 50;

async fn rotating_forged_left_most_entries_share_the_proxy_appended_address_budget(
    backend: Backend,
) {
    let app = TestApp::spawn_with(backend, |config| config.trust_proxy = true).await;
    let wrong_sign_in = |forged: String| {
        // A new unknown account each time, so only the address budget can run out.
        let body = json!({ "email": unique_email("nobody"), "password": "Wrong-password-1234" });
        let forwarded = format!("{forged}, 203.0.113.77");
        let app = &app;
        async move {
            app.request(
                Method::POST,
                "/auth/sign-in",
                Some(&body),
                &[("x-forwarded-for", forwarded.as_str())],
            )
            .await
        }
    };
    for attempt in 0..ADDRESS_BUDGET {
        let response = wrong_sign_in(format!("198.51.100.{}", attempt % 250)).await;
        response.assert_error(401, "invalid_credentials");
    }
    let response = wrong_sign_in("192.0.2.200".into()).await;
    response.assert_error(429, "rate_limited");

    // Another client behind the same proxy has a budget of its own.
    let other = app
        .request(
            Method::POST,
            "/auth/sign-in",
            Some(&json!({ "email": unique_email("nobody"), "password": "Wrong-password-1234" })),
            &[("x-forwarded-for", "203.0.113.78")],
        )
        .await;
    other.assert_error(401, "invalid_credentials");
}

#[tokio::test]
async fn forged_forwarded_for_entries_get_no_fresh_budget_on_the_embedded_store() {
    rotating_forged_left_most_entries_share_the_proxy_appended_address_budget(Backend::Embedded)
        .await;
}

#[tokio::test]
async fn forged_forwarded_for_entries_get_no_fresh_budget_on_dynamodb() {
    rotating_forged_left_most_entries_share_the_proxy_appended_address_budget(Backend::Aws).await;
}
