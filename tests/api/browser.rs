//! The pages for emailed links in a real browser: Debian's headless Chromium, scripts turned off,
//! driven through the DevTools protocol by `tests/browser.py` (standard library only), against a
//! Latchkey listening on a loopback port. `tests/run.sh` installs Chromium when it is missing and
//! exports `LATCHKEY_TEST_CHROMIUM`; without it this test fails loudly. The embedded run writes
//! the screenshots in `docs/`.

use std::path::PathBuf;

use http::Method;
use latchkey_tests::on_both_backends;
use latchkey_tests::{Backend, TestApp, test_python};
use serde_json::{Value, json};

fn chromium() -> String {
    std::env::var("LATCHKEY_TEST_CHROMIUM").unwrap_or_else(|_| {
        panic!(
            "\n\n*** The browser tests did NOT run: LATCHKEY_TEST_CHROMIUM is not set. ***\n\
             *** Run ./tests/run.sh, which installs Debian's chromium.              ***\n\n"
        )
    })
}

/// Run the steps in a fresh browser profile; one `{url, html}` per step.
async fn browse(steps: Value) -> Vec<Value> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("browser.py");
    let chromium = chromium();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(test_python())
            .arg(script)
            .arg(chromium)
            .arg(steps.to_string())
            .output()
    })
    .await
    .expect("the browser task")
    .expect("run tests/browser.py");
    assert!(
        output.status.success(),
        "browser.py failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice::<Vec<Value>>(&output.stdout).expect("the browser's answers")
}

fn screenshot(backend: Backend, name: &str) -> Value {
    let path = match backend {
        Backend::Embedded => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../docs")
            .join(name),
        Backend::Aws => std::env::temp_dir().join(format!("{}-{name}", uuid::Uuid::new_v4())),
    };
    json!(path.display().to_string())
}

async fn emailed_links_work_in_a_browser_without_javascript(backend: Backend) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    // `localhost`: a secure context for the browser, so the `__Host-` cookies are kept over HTTP.
    let base = format!("http://localhost:{port}");
    let landing = format!("{base}/");
    let app = {
        let (base, landing) = (base.clone(), landing.clone());
        TestApp::spawn_with(backend, move |config| {
            config.public_url = base.clone();
            config.issuer = base;
            config.redirect_allow_list = vec![landing];
        })
        .await
    };
    let router = app.router.clone();
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
    });
    let ada = app.signed_up().await;

    // The reset link: the form, a new password typed and submitted with Enter, the outcome.
    app.post("/auth/forgot-password", &json!({"email": ada.user.email}))
        .await;
    let link = app.sent_mail().await.pop().unwrap().links().remove(0);
    assert!(
        link.starts_with(&format!("{base}/auth/reset-password?token=")),
        "{link}"
    );
    let new_password = "Browser-velvet-orbit-2718";
    let seen = browse(json!([
        {"goto": link},
        {"screenshot": screenshot(backend, "page-reset-password.png")},
        {"fill": "#new_password", "value": new_password},
        {"enter": "#new_password"},
        {"screenshot": screenshot(backend, "page-reset-password-done.png")},
    ]))
    .await;
    assert!(
        seen[0]["html"]
            .as_str()
            .unwrap()
            .contains("Choose a new password")
    );
    let done = seen[4]["html"].as_str().unwrap();
    assert!(done.contains("Your password has been reset."), "{done}");
    let signed_in = app
        .post(
            "/auth/sign-in",
            &json!({"email": ada.user.email, "password": new_password}),
        )
        .await;
    assert_eq!(signed_in.status, 200, "{}", signed_in.text);

    // The magic link with an allowed redirect: signed in with cookies, landed there; the
    // cookies answer `/auth/me`.
    app.post(
        "/auth/magic-link",
        &json!({"email": ada.user.email, "redirect_url": landing}),
    )
    .await;
    let link = app.sent_mail().await.pop().unwrap().links().remove(0);
    let seen = browse(json!([
        {"goto": link},
        {"goto": format!("{base}/auth/me")},
    ]))
    .await;
    assert_eq!(seen[0]["url"], landing, "landed on the allowed redirect");
    let me = seen[1]["html"].as_str().unwrap();
    assert!(me.contains(&ada.user.email), "signed in by cookie: {me}");

    // Without a redirect: a page that says so, and no token on it.
    app.post("/auth/magic-link", &json!({"email": ada.user.email}))
        .await;
    let link = app.sent_mail().await.pop().unwrap().links().remove(0);
    let seen = browse(json!([
        {"goto": link},
        {"screenshot": screenshot(backend, "page-magic-link.png")},
    ]))
    .await;
    let page = seen[0]["html"].as_str().unwrap();
    assert!(page.contains("You are signed in"), "{page}");
    assert!(!page.contains("eyJ"), "no token on the page");

    // The verify link.
    let bob = app.signed_up().await;
    let sent = app
        .with_bearer(
            Method::POST,
            "/auth/send-verification",
            bob.access_token(),
            None,
        )
        .await;
    assert_eq!(sent.status, 202, "{}", sent.text);
    let link = app.sent_mail().await.pop().unwrap().links().remove(0);
    let seen = browse(json!([
        {"goto": link},
        {"screenshot": screenshot(backend, "page-verify-email.png")},
    ]))
    .await;
    let page = seen[0]["html"].as_str().unwrap();
    assert!(page.contains("Your email address is verified."), "{page}");

    server.abort();
}

on_both_backends!(emailed_links_work_in_a_browser_without_javascript);
