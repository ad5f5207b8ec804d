//! The operator's use cases (`latchkey users ...`) through the service the CLI calls, with their
//! effect seen over HTTP, on both backends. The binary itself is run in
//! functions/local/tests/binary.rs.

use http::Method;
use latchkey::services::admin;
use latchkey_tests::on_both_backends;
use latchkey_tests::{Backend, TestApp};
use serde_json::json;

async fn a_disabled_account_cannot_sign_in_and_its_sessions_end(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ada = app.signed_up().await;
    admin::set_disabled(&app.state, &ada.user.email, true)
        .await
        .unwrap();

    let me = app
        .with_bearer(Method::GET, "/auth/me", ada.access_token(), None)
        .await;
    assert_eq!(me.status, 401, "{}", me.text);
    assert_eq!(app.refresh(ada.refresh_token()).await.status, 401);
    let refused = app.post("/auth/sign-in", &ada.user.sign_in_body()).await;
    assert_eq!(refused.status, 403, "{}", refused.text);
    assert_eq!(refused.json["code"], "forbidden");
    assert!(refused.json.get("access_token").is_none());

    // Every other way in ends in the same refusal: a magic link.
    let asked = app
        .post("/auth/magic-link", &json!({"email": ada.user.email}))
        .await;
    assert_eq!(asked.status, 200);
    let mail = app.sent_mail().await.pop().expect("the magic link");
    let link = mail.links().into_iter().next().expect("a link");
    let path = link
        .split_once("/auth/")
        .map(|(_, p)| format!("/auth/{p}"))
        .unwrap();
    assert_eq!(app.get(&path).await.status, 403);

    admin::set_disabled(&app.state, ada.user_id(), false)
        .await
        .unwrap();
    app.signed_in(&ada.user).await;
}

async fn unlock_opens_the_password_path_at_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ada = app.signed_up().await;
    let wrong = json!({"email": ada.user.email, "password": "Wrong-password-123456"});
    let mut last = 0;
    for _ in 0..11 {
        last = app.post("/auth/sign-in", &wrong).await.status.as_u16();
    }
    assert_eq!(last, 429);
    assert_eq!(
        app.post("/auth/sign-in", &ada.user.sign_in_body())
            .await
            .status,
        429
    );
    admin::unlock(&app.state, &ada.user.email).await.unwrap();
    app.signed_in(&ada.user).await;
}

async fn list_revoke_and_delete_act_on_the_named_account(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ada = app.signed_up().await;
    let bob = app.signed_up().await;
    let all = admin::list(&app.state).await.unwrap();
    for someone in [&ada, &bob] {
        assert!(all.iter().any(|u| u.id == someone.user()));
    }

    let (_, ended) = admin::revoke_sessions(&app.state, ada.user_id(), None)
        .await
        .unwrap();
    assert_eq!(ended, 1);
    assert_eq!(app.refresh(ada.refresh_token()).await.status, 401);

    admin::delete(&app.state, &ada.user.email).await.unwrap();
    assert!(
        admin::find(&app.state, ada.user_id())
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        app.post("/auth/sign-in", &ada.user.sign_in_body())
            .await
            .status,
        401
    );
    // The address can sign up again; Bob is untouched.
    let again = app.post("/auth/sign-up", &ada.user.sign_up_body()).await;
    assert_eq!(again.status, 201, "{}", again.text);
    app.signed_in(&bob.user).await;
}

on_both_backends!(
    a_disabled_account_cannot_sign_in_and_its_sessions_end,
    unlock_opens_the_password_path_at_once,
    list_revoke_and_delete_act_on_the_named_account,
);
