//! The sign-in and token-validation budgets of DESIGN.md, measured in-process on the embedded
//! store with the production argon2 parameters:
//! - `argon2_verify` is the password hash alone; `sign_in` is the whole request. The difference
//!   is what Latchkey adds (budget: under 10% of the hash).
//! - `validate` is an authenticated request (signature check + session liveness read);
//!   `verify_access_token` is the signature check alone (what other services pay).
//!
//! Run: `cargo bench -p latchkey-tests --bench auth`.

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use criterion::{Criterion, criterion_group, criterion_main};
use http::Method;
use latchkey::Config;
use latchkey_tests::{Backend, TestApp};
use serde_json::json;

const PASSWORD: &str = "correct horse battery staple 42";

fn production_argon2() -> argon2::Argon2<'static> {
    let p = Config::from_lookup(|_| None).expect("defaults").argon2;
    let params = argon2::Params::new(p.memory_kib, p.iterations, p.parallelism, None)
        .expect("argon2 params");
    argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
}

fn benchmarks(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let app = runtime.block_on(TestApp::spawn_with(Backend::Embedded, |config| {
        config.argon2 = Config::from_lookup(|_| None).expect("defaults").argon2;
    }));
    let email = "bench@example.com";
    let signed_up = runtime.block_on(app.post(
        "/auth/sign-up",
        &json!({"email": email, "password": PASSWORD, "name": "Bench"}),
    ));
    assert_eq!(signed_up.status, 201, "sign-up: {}", signed_up.text);
    let token = signed_up.json["access_token"]
        .as_str()
        .expect("access token")
        .to_owned();

    let argon2 = production_argon2();
    let hash: argon2::PasswordHash = argon2.hash_password(PASSWORD.as_bytes()).expect("hash");
    let mut group = c.benchmark_group("sign-in");
    group.sample_size(20);
    group.bench_function("argon2_verify", |b| {
        b.iter(|| {
            argon2
                .verify_password(PASSWORD.as_bytes(), &hash)
                .expect("verify")
        })
    });
    group.bench_function("sign_in", |b| {
        b.to_async(&runtime).iter(|| async {
            let response = app
                .post(
                    "/auth/sign-in",
                    &json!({"email": email, "password": PASSWORD}),
                )
                .await;
            assert_eq!(response.status, 200, "{}", response.text);
        })
    });
    group.finish();

    let bearer = format!("Bearer {token}");
    let mut group = c.benchmark_group("tokens");
    group.bench_function("validate", |b| {
        b.to_async(&runtime).iter(|| async {
            let response = app
                .request(
                    Method::GET,
                    "/auth/validate",
                    None,
                    &[("authorization", &bearer)],
                )
                .await;
            assert_eq!(response.status, 200, "{}", response.text);
        })
    });
    group.bench_function("verify_access_token", |b| {
        b.to_async(&runtime).iter(|| async {
            latchkey::services::tokens::verify(&app.state, &token)
                .await
                .expect("valid token")
        })
    });
    group.finish();
}

criterion_group!(auth, benchmarks);
criterion_main!(auth);
