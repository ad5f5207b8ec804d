//! The passkey demo page in a real browser: `scripts/passkeys-demo.mjs` drives Debian's headless
//! Chromium with a CDP virtual authenticator against the app served on a loopback port at
//! `http://localhost:<port>` (WebAuthn refuses IP addresses), on both backends: sign-up, a
//! passkey added, sign-in with it by email and without one (discoverable), under the page's
//! nonce-based Content-Security-Policy. Chromium's authenticator is a third implementation,
//! independent of ours and of the test authenticators.
//!
//! `tests/run.sh` installs Chromium (Debian) and playwright-core (npm) and sets
//! `LATCHKEY_TEST_CHROMIUM` and `LATCHKEY_TEST_PLAYWRIGHT`; without them this test fails, saying
//! so.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use http::Method;
use latchkey::config::WebauthnSettings;
use latchkey_tests::{Backend, TestApp, on_both_backends, workspace_root};

fn required(variable: &str) -> String {
    std::env::var(variable).unwrap_or_else(|_| {
        panic!("{variable} is not set: the browser test did not run. Run ./tests/run.sh, which installs Chromium and playwright-core")
    })
}

async fn the_demo_page_runs_both_ceremonies_in_headless_chromium(backend: Backend) {
    let chromium = required("LATCHKEY_TEST_CHROMIUM");
    let playwright = required("LATCHKEY_TEST_PLAYWRIGHT");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("address").port();
    let origin = format!("http://localhost:{port}");
    let app = TestApp::spawn_with(backend, |config| {
        config.public_url = origin.clone();
        config.webauthn = WebauthnSettings {
            rp_id: "localhost".into(),
            rp_name: "Latchkey".into(),
            origins: vec![origin.clone()],
        };
        config.demo_pages = true;
    })
    .await;
    let router = app.router.clone();
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .expect("serve");
    });
    let screenshot = app.dir.path().join("passkeys-demo.png");

    let script = workspace_root().join("scripts/passkeys-demo.mjs");
    let (base, shot) = (origin.clone(), screenshot.clone());
    // The script bounds its own waits (browser start 60 s, each step 20 s).
    let run = tokio::task::spawn_blocking(move || {
        std::process::Command::new("node")
            .arg(script)
            .arg(base)
            .arg(shot)
            .env("LATCHKEY_PLAYWRIGHT", playwright)
            .env("LATCHKEY_CHROMIUM", chromium)
            .stdin(Stdio::null())
            .output()
    });
    let output = tokio::time::timeout(Duration::from_secs(240), run)
        .await
        .expect("the browser run finishes within 4 minutes")
        .expect("the run's thread")
        .expect("node runs");
    server.abort();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the demo failed in Chromium:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let seen: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap_or("")).expect("the script's summary");
    assert_eq!(seen["ok"], true);
    assert!(
        std::fs::metadata(&screenshot).is_ok_and(|m| m.len() > 10_000),
        "a screenshot was taken"
    );
    // `LATCHKEY_DEMO_SCREENSHOT=docs/passkeys-demo.png` keeps it (how the README's picture was made).
    if let (Ok(keep), Backend::Embedded) = (std::env::var("LATCHKEY_DEMO_SCREENSHOT"), backend) {
        std::fs::copy(&screenshot, workspace_root().join(keep)).expect("keep the screenshot");
    }

    // What the browser did is in the store: one passkey, used.
    let email = seen["email"].as_str().expect("the account's email");
    let signed_in = app
        .post(
            "/auth/sign-in",
            &serde_json::json!({"email": email, "password": "correct horse battery staple 42"}),
        )
        .await;
    assert_eq!(signed_in.status, 200, "{}", signed_in.text);
    let token = signed_in.json["access_token"].as_str().unwrap();
    let passkeys = app
        .with_bearer(Method::GET, "/auth/passkeys", token, None)
        .await;
    assert_eq!(passkeys.json["passkeys"][0]["name"], "Demo laptop");
    assert!(passkeys.json["passkeys"][0]["last_used_at"].is_string());
}

on_both_backends!(the_demo_page_runs_both_ceremonies_in_headless_chromium);

#[tokio::test]
async fn the_demo_page_is_off_when_demo_pages_are_off() {
    let app = TestApp::spawn_with(Backend::Embedded, |config| config.demo_pages = false).await;
    app.get("/auth/passkeys/demo")
        .await
        .assert_error(404, "not_found");
}

#[tokio::test]
async fn the_demo_page_carries_a_strict_policy_with_a_fresh_nonce() {
    let app = TestApp::spawn(Backend::Embedded).await;
    let first = app.get("/auth/passkeys/demo").await;
    let second = app.get("/auth/passkeys/demo").await;
    assert_eq!(first.status, 200);
    assert!(
        first
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/html"))
    );
    let policy = first.header("content-security-policy").expect("a CSP");
    assert!(
        policy.starts_with("default-src 'none'; script-src 'nonce-"),
        "{policy}"
    );
    assert!(!policy.contains("unsafe-inline") && !policy.contains("unsafe-eval"));
    let nonce = policy
        .split("'nonce-")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("the nonce");
    assert!(nonce.len() >= 24, "{nonce}");
    assert!(first.text.contains(&format!("<script nonce=\"{nonce}\">")));
    assert_ne!(
        second.header("content-security-policy"),
        Some(policy),
        "a new nonce per response"
    );
}
