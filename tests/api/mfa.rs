//! The mfa group over HTTP, on both backends: setup, confirm, the MFA step of every sign-in path,
//! verify and recovery-verify, step-up, regenerate, disable; each refusal; races; the stored items;
//! the round-trip budget of `mfa/verify`.
//!
//! Every TOTP code here comes from PyPI's `pyotp` (an independent RFC 6238 implementation, run by
//! the tests' Python), never from `totp-rs`.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use futures::future::join_all;
use http::Method;
use latchkey::adapters::system::ManualClock;
use latchkey::ports::Table;
use latchkey::services::{mfa, users};
use latchkey_tests::counting::{CountingTable, Counts};
use latchkey_tests::on_both_backends;
use latchkey_tests::{Backend, SignedIn, TestApp, TestResponse, TestUser, test_python};
use serde_json::{Value, json};

const PYOTP: &str = r#"
import sys, time
import pyotp

command = sys.argv[1]
if command == "code":
    secret, offset_steps = sys.argv[2], int(sys.argv[3])
    print(pyotp.TOTP(secret).at(int(time.time()) + 30 * offset_steps))
elif command == "parse":
    totp = pyotp.parse_uri(sys.argv[2])
    print(f"{totp.secret} {totp.issuer} {totp.name} {totp.digits} {totp.interval} {totp.digest().name}")
"#;

fn pyotp(args: &[&str]) -> String {
    let python = test_python();
    let output = std::process::Command::new(&python)
        .args(["-c", PYOTP])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}; run ./tests/run.sh", python.display()));
    assert!(
        output.status.success(),
        "pyotp failed (is it in the test venv? run ./tests/run.sh): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// pyotp's code for the step `offset_steps` away from now. Waits out the last two seconds of a
/// step first, so the step the code is for has not moved on by the time the server checks it.
async fn totp_code(secret: &str, offset_steps: i64) -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let into_step = now.as_secs() % 30;
    if into_step >= 28 {
        let wait =
            Duration::from_secs(30 - into_step) - Duration::from_nanos(now.subsec_nanos().into());
        tokio::time::sleep(wait + Duration::from_millis(100)).await;
    }
    pyotp(&["code", secret, &offset_steps.to_string()])
}

/// The claims of a JWT, read without verifying (the tokens tests verify them).
fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url")).expect("JSON")
}

fn header_of(token: &str) -> Value {
    let header = token.split('.').next().expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).expect("base64url")).expect("JSON")
}

fn access_token(response: &TestResponse) -> &str {
    response.json["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("an access token in {}", response.text))
}

/// A signed-up user with MFA on, their first (aal 1) session, the secret and recovery codes.
struct Enrolled {
    session: SignedIn,
    secret: String,
    recovery_codes: Vec<String>,
}

impl Enrolled {
    fn user(&self) -> &TestUser {
        &self.session.user
    }
}

async fn post_bearer(app: &TestApp, path: &str, token: &str, body: &Value) -> TestResponse {
    app.with_bearer(Method::POST, path, token, Some(body)).await
}

/// Sign up, set up and confirm MFA (with the code of the previous step, so the current and next
/// steps stay free for the test).
async fn enrolled(app: &TestApp) -> Enrolled {
    let session = app.signed_up().await;
    let setup = post_bearer(app, "/auth/mfa/setup", session.access_token(), &json!({})).await;
    assert_eq!(setup.status, 200, "setup: {}", setup.text);
    let secret = setup.json["secret"].as_str().expect("a secret").to_owned();
    let code = totp_code(&secret, -1).await;
    let confirm = post_bearer(
        app,
        "/auth/mfa/confirm",
        session.access_token(),
        &json!({"code": code}),
    )
    .await;
    assert_eq!(confirm.status, 200, "confirm: {}", confirm.text);
    let recovery_codes = confirm.json["recovery_codes"]
        .as_array()
        .expect("recovery codes")
        .iter()
        .map(|c| c.as_str().expect("a code").to_owned())
        .collect();
    Enrolled {
        session,
        secret,
        recovery_codes,
    }
}

/// Sign in with the password; asserts the MFA step and answers the `mfa_token`.
async fn mfa_token_for(app: &TestApp, user: &TestUser) -> String {
    let response = app.post("/auth/sign-in", &user.sign_in_body()).await;
    assert_mfa_step(&response);
    response.json["mfa_token"].as_str().unwrap().to_owned()
}

fn assert_mfa_step(response: &TestResponse) {
    assert_eq!(response.status, 200, "{}", response.text);
    assert_eq!(response.json["success"], true, "{}", response.text);
    assert_eq!(response.json["mfa_required"], true, "{}", response.text);
    assert_eq!(response.json["methods"], json!(["totp", "recovery_code"]));
    assert!(response.json["expires_at"].is_i64());
    assert!(
        response.json.get("access_token").is_none(),
        "{}",
        response.text
    );
    assert!(
        response.json.get("refresh_token").is_none(),
        "{}",
        response.text
    );
    assert!(
        response.headers.get(http::header::SET_COOKIE).is_none(),
        "no cookies with the MFA step"
    );
    let token = response.json["mfa_token"].as_str().expect("an mfa_token");
    assert_eq!(header_of(token)["typ"], "mfa+jwt");
    let claims = claims_of(token);
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        300
    );
}

fn assert_aal_2(response: &TestResponse, amr: &[&str]) {
    assert_eq!(response.status, 200, "{}", response.text);
    assert_eq!(response.json["success"], true);
    assert!(response.json["refresh_token"].is_string());
    let claims = claims_of(access_token(response));
    assert_eq!(claims["aal"], 2, "{claims}");
    assert_eq!(claims["amr"], json!(amr), "{claims}");
}

async fn mfa_flow_from_setup_to_refresh_keeps_aal_2(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let session = app.signed_up().await;

    let setup = post_bearer(&app, "/auth/mfa/setup", session.access_token(), &json!({})).await;

    assert_eq!(setup.status, 200, "{}", setup.text);
    let secret = setup.json["secret"].as_str().unwrap();
    assert_eq!(secret.len(), 32, "160 bits in base32: {secret}");
    let url = setup.json["otpauth_url"].as_str().unwrap();
    assert!(url.starts_with("otpauth://totp/Latchkey:"), "{url}");
    assert_eq!(
        pyotp(&["parse", url]),
        format!("{secret} Latchkey {} 6 30 sha1", session.user.email),
        "pyotp reads the otpauth URL as an authenticator app would"
    );
    let png = STANDARD
        .decode(setup.json["qr_code_base64"].as_str().unwrap())
        .expect("base64");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");

    let before = app
        .with_bearer(Method::GET, "/auth/me", session.access_token(), None)
        .await;
    assert_eq!(before.json["mfa"]["enabled"], false, "{}", before.text);

    let confirm = post_bearer(
        &app,
        "/auth/mfa/confirm",
        session.access_token(),
        &json!({"code": totp_code(secret, -1).await}),
    )
    .await;
    assert_eq!(confirm.status, 200, "{}", confirm.text);
    let codes = confirm.json["recovery_codes"].as_array().unwrap();
    assert_eq!(codes.len(), 10);
    assert!(confirm.json["recovery_codes_generated_at"].is_string());
    let me = app
        .with_bearer(Method::GET, "/auth/me", session.access_token(), None)
        .await;
    assert_eq!(me.json["mfa"]["enabled"], true, "{}", me.text);
    assert_eq!(me.json["mfa"]["recovery_codes_remaining"], 10);

    let again = post_bearer(&app, "/auth/mfa/setup", session.access_token(), &json!({})).await;
    again.assert_error(409, "mfa_already_enabled");

    let mfa_token = mfa_token_for(&app, &session.user).await;
    app.with_bearer(Method::GET, "/auth/me", &mfa_token, None)
        .await
        .assert_error(401, "invalid_token");

    let code = totp_code(secret, 0).await;
    let verified = post_bearer(&app, "/auth/mfa/verify", &mfa_token, &json!({"code": code})).await;

    assert_aal_2(&verified, &["pwd", "otp"]);
    assert!(verified.set_cookie("__Host-access_token").is_some());
    let refreshed = app
        .refresh(verified.json["refresh_token"].as_str().unwrap())
        .await;
    assert_aal_2(&refreshed, &["pwd", "otp"]);

    // Refused: the spent mfa_token, the replayed code, a code two steps old.
    post_bearer(&app, "/auth/mfa/verify", &mfa_token, &json!({"code": code}))
        .await
        .assert_error(401, "invalid_token");
    let fresh_token = mfa_token_for(&app, &session.user).await;
    post_bearer(
        &app,
        "/auth/mfa/verify",
        &fresh_token,
        &json!({"code": code}),
    )
    .await
    .assert_error(401, "code_already_used");
    let old = totp_code(secret, -2).await;
    post_bearer(
        &app,
        "/auth/mfa/verify",
        &fresh_token,
        &json!({"code": old}),
    )
    .await
    .assert_error(401, "invalid_code");

    let mail = app.sent_mail().await;
    assert!(
        mail.iter().any(|m| m
            .subject
            .contains("Two-factor authentication was turned on")),
        "{mail:?}"
    );
}
on_both_backends!(mfa_flow_from_setup_to_refresh_keeps_aal_2);

async fn recovery_verify_spends_the_code_and_regenerating_voids_the_old_set(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let enrolled = enrolled(&app).await;
    let first = enrolled.recovery_codes[0].to_uppercase();

    let mfa_token = mfa_token_for(&app, enrolled.user()).await;
    let signed_in = post_bearer(
        &app,
        "/auth/mfa/recovery-verify",
        &mfa_token,
        &json!({"code": first}),
    )
    .await;

    assert_aal_2(&signed_in, &["pwd", "mfa"]);
    let spent_token = mfa_token_for(&app, enrolled.user()).await;
    post_bearer(
        &app,
        "/auth/mfa/recovery-verify",
        &spent_token,
        &json!({"code": enrolled.recovery_codes[0]}),
    )
    .await
    .assert_error(401, "invalid_code");
    let stepped_up = access_token(&signed_in);
    let me = app
        .with_bearer(Method::GET, "/auth/me", stepped_up, None)
        .await;
    assert_eq!(me.json["mfa"]["recovery_codes_remaining"], 9, "{}", me.text);

    let regenerated = post_bearer(&app, "/auth/mfa/recovery-codes", stepped_up, &json!({})).await;

    assert_eq!(regenerated.status, 200, "{}", regenerated.text);
    let new_codes = regenerated.json["recovery_codes"].as_array().unwrap();
    assert_eq!(new_codes.len(), 10);
    post_bearer(
        &app,
        "/auth/mfa/recovery-verify",
        &spent_token,
        &json!({"code": enrolled.recovery_codes[1]}),
    )
    .await
    .assert_error(401, "invalid_code");
    let with_new = post_bearer(
        &app,
        "/auth/mfa/recovery-verify",
        &spent_token,
        &json!({"code": new_codes[0]}),
    )
    .await;
    assert_aal_2(&with_new, &["pwd", "mfa"]);
    let alias = post_bearer(
        &app,
        "/auth/mfa/recovery-codes/regenerate",
        access_token(&with_new),
        &json!({}),
    )
    .await;
    assert_eq!(alias.status, 200, "{}", alias.text);

    let mail = app.sent_mail().await;
    assert!(
        mail.iter()
            .any(|m| m.subject.contains("A recovery code was used")),
        "{mail:?}"
    );
}
on_both_backends!(recovery_verify_spends_the_code_and_regenerating_voids_the_old_set);

async fn sensitive_changes_need_the_second_factor_and_disable_turns_mfa_off(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let enrolled = enrolled(&app).await;
    let aal_1 = enrolled.session.access_token();

    post_bearer(&app, "/auth/mfa/disable", aal_1, &json!({}))
        .await
        .assert_error(403, "second_factor_required");
    post_bearer(&app, "/auth/mfa/recovery-codes", aal_1, &json!({}))
        .await
        .assert_error(403, "second_factor_required");
    let new_password = format!("{}-and-more", enrolled.user().password);
    post_bearer(
        &app,
        "/auth/password",
        aal_1,
        &json!({"current_password": enrolled.user().password, "new_password": new_password}),
    )
    .await
    .assert_error(403, "second_factor_required");
    post_bearer(&app, "/auth/mfa/disable", aal_1, &json!({"code": "000000"}))
        .await
        .assert_error(401, "invalid_code");

    let code = totp_code(&enrolled.secret, 0).await;
    let disabled = post_bearer(&app, "/auth/mfa/disable", aal_1, &json!({"code": code})).await;

    assert_eq!(disabled.status, 200, "{}", disabled.text);
    let plain = app.signed_in(enrolled.user()).await;
    assert_eq!(claims_of(plain.access_token())["aal"], 1);
    let me = app
        .with_bearer(Method::GET, "/auth/me", plain.access_token(), None)
        .await;
    assert_eq!(me.json["mfa"]["enabled"], false, "{}", me.text);
    assert_eq!(me.json["mfa"]["recovery_codes_remaining"], 0);
    let user_id = enrolled.session.user_id();
    let left = app
        .state
        .table
        .query(&format!("USER#{user_id}"), "RECOVERY#")
        .await
        .unwrap();
    assert!(left.is_empty(), "recovery codes left behind: {left:?}");
    let mail = app.sent_mail().await;
    assert!(
        mail.iter().any(|m| m
            .subject
            .contains("Two-factor authentication was turned off")),
        "{mail:?}"
    );
}
on_both_backends!(sensitive_changes_need_the_second_factor_and_disable_turns_mfa_off);

async fn step_up_with_an_ordinary_token_replaces_the_session_at_aal_2(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let enrolled = enrolled(&app).await;
    let aal_1 = enrolled.session.access_token();

    let code = totp_code(&enrolled.secret, 0).await;
    let stepped_up = post_bearer(&app, "/auth/mfa/verify", aal_1, &json!({"code": code})).await;

    assert_aal_2(&stepped_up, &["pwd", "otp"]);
    app.with_bearer(Method::GET, "/auth/validate", aal_1, None)
        .await
        .assert_error(401, "invalid_token");
    post_bearer(
        &app,
        "/auth/mfa/recovery-verify",
        aal_1,
        &json!({"code": enrolled.recovery_codes[0]}),
    )
    .await
    .assert_error(401, "invalid_token");
    let regenerated = post_bearer(
        &app,
        "/auth/mfa/recovery-codes",
        access_token(&stepped_up),
        &json!({}),
    )
    .await;
    assert_eq!(regenerated.status, 200, "{}", regenerated.text);
}
on_both_backends!(step_up_with_an_ordinary_token_replaces_the_session_at_aal_2);

async fn a_sixth_wrong_code_is_refused_with_429(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let enrolled = enrolled(&app).await;
    let mfa_token = mfa_token_for(&app, enrolled.user()).await;

    for _ in 0..5 {
        post_bearer(
            &app,
            "/auth/mfa/verify",
            &mfa_token,
            &json!({"code": "000000"}),
        )
        .await
        .assert_error(401, "invalid_code");
    }
    let code = totp_code(&enrolled.secret, 0).await;
    let sixth = post_bearer(&app, "/auth/mfa/verify", &mfa_token, &json!({"code": code})).await;

    sixth.assert_error(429, "rate_limited");
    assert!(sixth.header("retry-after").is_some());
    // The account is limited too, whatever the token.
    let another = mfa_token_for(&app, enrolled.user()).await;
    post_bearer(&app, "/auth/mfa/verify", &another, &json!({"code": code}))
        .await
        .assert_error(429, "rate_limited");
}
on_both_backends!(a_sixth_wrong_code_is_refused_with_429);

async fn twenty_concurrent_verifies_with_one_code_have_exactly_one_winner(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let enrolled = enrolled(&app).await;
    let mut tokens = Vec::new();
    for _ in 0..20 {
        tokens.push(mfa_token_for(&app, enrolled.user()).await);
    }
    let code = totp_code(&enrolled.secret, 0).await;

    let answers = join_all(tokens.iter().map(|token| {
        let body = json!({"code": code});
        let app = &app;
        async move { post_bearer(app, "/auth/mfa/verify", token, &body).await }
    }))
    .await;

    let winners = answers.iter().filter(|a| a.status == 200).count();
    assert_eq!(
        winners,
        1,
        "{:?}",
        answers.iter().map(|a| a.status).collect::<Vec<_>>()
    );
    for loser in answers.iter().filter(|a| a.status != 200) {
        // Every attempt is counted first, so past five at once the account's limit answers 429.
        // The emulator answers one request at a time; on a loaded machine a loser's reads can
        // outlast the 2 s AWS attempt timeout and answer 503. Never a second 200.
        match loser.status.as_u16() {
            429 => loser.assert_error(429, "rate_limited"),
            503 => loser.assert_error(503, "service_unavailable"),
            _ => loser.assert_error(401, "code_already_used"),
        }
    }
}
on_both_backends!(twenty_concurrent_verifies_with_one_code_have_exactly_one_winner);

async fn twenty_concurrent_uses_of_one_recovery_code_have_exactly_one_winner(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let enrolled = enrolled(&app).await;
    let mut tokens = Vec::new();
    for _ in 0..20 {
        tokens.push(mfa_token_for(&app, enrolled.user()).await);
    }
    let code = &enrolled.recovery_codes[3];

    let answers = join_all(tokens.iter().map(|token| {
        let body = json!({"code": code});
        let app = &app;
        async move { post_bearer(app, "/auth/mfa/recovery-verify", token, &body).await }
    }))
    .await;

    let winners = answers.iter().filter(|a| a.status == 200).count();
    assert_eq!(
        winners,
        1,
        "{:?}",
        answers.iter().map(|a| a.status).collect::<Vec<_>>()
    );
    // Losers read the code after it was spent: a wrong code, counted; past five, 429.
    for loser in answers.iter().filter(|a| a.status != 200) {
        // 503: the emulator under load, as in the TOTP race above.
        assert!(
            [401, 429, 503].contains(&loser.status.as_u16()),
            "{}",
            loser.text
        );
    }
}
on_both_backends!(twenty_concurrent_uses_of_one_recovery_code_have_exactly_one_winner);

async fn an_expired_mfa_token_is_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let enrolled = enrolled(&app).await;
    let user = users::load(&app.state, &enrolled.session.user())
        .await
        .unwrap()
        .expect("the user");
    // An mfa_token made six and a half minutes ago, through the real MFA step.
    let clock = ManualClock::new();
    clock.advance(time::Duration::seconds(-390));
    let mut earlier = app.state.clone();
    earlier.clock = Arc::new(clock);
    let outcome = mfa::finish_sign_in(
        &earlier,
        &user,
        &["pwd"],
        &latchkey::domain::sessions::SessionContext::unknown(),
    )
    .await
    .expect("the MFA step");
    let mfa::SignInOutcome::MfaRequired(challenge) = outcome else {
        panic!("MFA is on: the MFA step was expected");
    };

    let code = totp_code(&enrolled.secret, 0).await;
    post_bearer(
        &app,
        "/auth/mfa/verify",
        &challenge.mfa_token,
        &json!({"code": code}),
    )
    .await
    .assert_error(401, "invalid_token");
}
on_both_backends!(an_expired_mfa_token_is_refused);

async fn magic_link_and_code_sign_ins_end_in_the_mfa_step(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let enrolled = enrolled(&app).await;
    let email = enrolled.user().email.clone();

    let requested = app.post("/auth/magic-link", &json!({"email": email})).await;
    assert_eq!(requested.status, 200, "{}", requested.text);
    let mail = app.sent_mail().await.pop().expect("the magic-link mail");
    let by_code = app
        .post(
            "/users/auth/magic-link/verify",
            &json!({"email": email, "code": mail.code().expect("a code")}),
        )
        .await;
    assert_mfa_step(&by_code);
    let code = totp_code(&enrolled.secret, 0).await;
    let verified = post_bearer(
        &app,
        "/auth/mfa/verify",
        by_code.json["mfa_token"].as_str().unwrap(),
        &json!({"code": code}),
    )
    .await;
    assert_aal_2(&verified, &["email_link", "otp"]);

    app.post("/auth/magic-link", &json!({"email": email})).await;
    let mail = app
        .sent_mail()
        .await
        .pop()
        .expect("the second magic-link mail");
    let link = mail
        .links()
        .into_iter()
        .find(|l| l.contains("/auth/sign-in/token"))
        .expect("the sign-in link");
    let path = &link[link.find("/auth/").unwrap()..];
    assert_mfa_step(&app.get(path).await);
}
on_both_backends!(magic_link_and_code_sign_ins_end_in_the_mfa_step);

async fn no_totp_secret_or_recovery_code_is_stored_in_plain_text(backend: Backend) {
    let (app, dynamo_name) = match backend {
        Backend::Embedded => (TestApp::spawn(backend).await, None),
        Backend::Aws => {
            let (table, name) = latchkey_tests::named_dynamo_table("latchkey-mfa-scan").await;
            let app = TestApp::spawn_wrapping(
                backend,
                |_| {},
                move |_anonymous| -> Arc<dyn Table> { table },
            )
            .await;
            (app, Some(name))
        }
    };
    let enrolled = enrolled(&app).await;
    let mfa_token = mfa_token_for(&app, enrolled.user()).await;
    let code = totp_code(&enrolled.secret, 0).await;
    let verified = post_bearer(&app, "/auth/mfa/verify", &mfa_token, &json!({"code": code})).await;
    assert_eq!(verified.status, 200, "{}", verified.text);

    let (stored, items) = latchkey_tests::stored_text(&app, dynamo_name.as_deref()).await;
    if dynamo_name.is_some() {
        assert!(items > 5, "the scan found the items");
    }

    assert!(
        stored.contains(enrolled.session.user_id()),
        "the scan sees the user"
    );
    let secret = &enrolled.secret;
    let raw = base32_decode(secret);
    for form in [
        secret.clone(),
        secret.to_lowercase(),
        STANDARD.encode(&raw),
        hex_encode(&raw),
    ] {
        assert!(
            !stored.contains(&form),
            "the TOTP secret is stored as {form}"
        );
    }
    for code in &enrolled.recovery_codes {
        for form in [code.clone(), code.replace('-', ""), code.to_uppercase()] {
            assert!(
                !stored.contains(&form),
                "a recovery code is stored as {form}"
            );
        }
    }
}
on_both_backends!(no_totp_secret_or_recovery_code_is_stored_in_plain_text);

fn base32_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut bits = 0u64;
    let mut count = 0;
    let mut out = Vec::new();
    for c in text.trim_end_matches('=').bytes() {
        let value = ALPHABET.iter().position(|&a| a == c).expect("base32") as u64;
        bits = (bits << 5) | value;
        count += 5;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
        }
    }
    out
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// DESIGN.md-style budget: `mfa/verify` at most 4 table round trips (measured: 3).

#[tokio::test]
async fn mfa_verify_takes_at_most_four_table_round_trips() {
    let counts = Arc::new(Counts::default());
    let for_table = counts.clone();
    let app = TestApp::spawn_wrapping(
        Backend::Embedded,
        |_| {},
        move |inner| Arc::new(CountingTable::new(inner, for_table)),
    )
    .await;
    let enrolled = enrolled(&app).await;

    counts.reset();
    let mfa_token = mfa_token_for(&app, enrolled.user()).await;
    let sign_in_round_trips = counts.round_trips();
    println!(
        "sign-in with MFA on: {sign_in_round_trips} table round trips ({:?})",
        counts.calls()
    );
    let code = totp_code(&enrolled.secret, 0).await;
    counts.reset();
    let verified = post_bearer(&app, "/auth/mfa/verify", &mfa_token, &json!({"code": code})).await;

    assert_eq!(verified.status, 200, "{}", verified.text);
    let round_trips = counts.round_trips();
    println!(
        "mfa/verify: {round_trips} table round trips ({:?})",
        counts.calls()
    );
    assert!(round_trips <= 4, "{:?}", counts.calls());
    assert!(
        sign_in_round_trips <= 3,
        "sign-in's own budget holds with MFA on"
    );
}

/// An API key acts for its user but is not the person: none of the MFA changes (set up, confirm,
/// step up, disable, new recovery codes) may be made with one, even with a right code.
async fn an_api_key_cannot_set_up_confirm_step_up_disable_or_regenerate_mfa(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let session = app.signed_up().await;
    let key = crate::api_keys::key_of(&crate::api_keys::mint(&app, &session, json!({})).await);

    post_bearer(&app, "/auth/mfa/setup", &key, &json!({}))
        .await
        .assert_error(403, "insufficient_scope");
    let setup = post_bearer(&app, "/auth/mfa/setup", session.access_token(), &json!({})).await;
    assert_eq!(setup.status, 200, "setup: {}", setup.text);
    let secret = setup.json["secret"].as_str().expect("a secret").to_owned();
    let code = totp_code(&secret, -1).await;
    post_bearer(&app, "/auth/mfa/confirm", &key, &json!({"code": code}))
        .await
        .assert_error(403, "insufficient_scope");
    let confirm = post_bearer(
        &app,
        "/auth/mfa/confirm",
        session.access_token(),
        &json!({"code": code}),
    )
    .await;
    assert_eq!(confirm.status, 200, "confirm: {}", confirm.text);

    let code = totp_code(&secret, 0).await;
    for (path, body) in [
        ("/auth/mfa/verify", json!({"code": code})),
        ("/auth/mfa/disable", json!({"code": code})),
        ("/auth/mfa/recovery-codes", json!({})),
    ] {
        post_bearer(&app, path, &key, &body)
            .await
            .assert_error(403, "insufficient_scope");
    }
    let me = app
        .with_bearer(Method::GET, "/auth/me", session.access_token(), None)
        .await;
    assert_eq!(me.json["mfa"]["enabled"], true, "{}", me.text);
    assert_eq!(
        me.json["mfa"]["recovery_codes_remaining"], 10,
        "{}",
        me.text
    );
}
on_both_backends!(an_api_key_cannot_set_up_confirm_step_up_disable_or_regenerate_mfa);
