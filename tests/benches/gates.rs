//! The gate decision and the gate check for reverse proxies, measured in-process on the embedded
//! store (issue 12):
//! - `gates/decide` is the decision function alone (route table match + plan/feature checks);
//! - `gates/check_with_jwt` is a whole `/auth/check` request with an access token: signature
//!   check, the session liveness read, the decision (budget: no round trip beyond the session
//!   check);
//! - `gates/check_with_api_key` is the same with an API key (budget: one read).
//!
//! The round trips themselves are counted by a test (`gate_check_round_trips`), not here.
//! Run: `cargo bench -p latchkey-tests --bench gates`.

use criterion::{Criterion, criterion_group, criterion_main};
use http::Method;
use latchkey::domain::gates::Gates;
use latchkey::domain::plans::PlanFeatures;
use latchkey::http::caller::{Caller, CredentialSource};
use latchkey::services::gate;
use latchkey::services::tokens;
use latchkey_tests::{Backend, TestApp};
use serde_json::json;
use tokio::runtime::Runtime;

const GATES: &str = r#"{"GET /reports/*": {"plan": "business"}, "POST /analytics": {"feature": "advanced_analytics"}, "* /admin/*": {"feature": "admin"}, "GET /exports/{id}/raw": {"plan": "personal"}}"#;

fn gate_benchmarks(c: &mut Criterion) {
    let runtime = Runtime::new().expect("tokio runtime");
    let app = runtime.block_on(TestApp::spawn_with(Backend::Embedded, |config| {
        config.gates = Gates::parse(GATES).expect("gates");
        config.plan_features =
            PlanFeatures::parse(r#"{"business": ["advanced_analytics"]}"#).expect("features");
    }));
    let signed_up = runtime.block_on(app.post(
        "/auth/sign-up",
        &json!({"email": "bench@example.com", "password": "correct horse battery staple 42"}),
    ));
    assert_eq!(signed_up.status, 201, "{}", signed_up.text);
    let token = signed_up.json["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let bearer = format!("Bearer {token}");
    let key = runtime.block_on(app.request(
        Method::POST,
        "/auth/api-keys",
        Some(&json!({})),
        &[("authorization", &bearer)],
    ));
    assert_eq!(key.status, 200, "{}", key.text);
    let key = key.json["apiKey"].as_str().expect("key").to_owned();
    let claims = runtime
        .block_on(tokens::verify(&app.state, &token))
        .expect("claims");
    let caller = Caller {
        claims,
        source: CredentialSource::Bearer,
        api_key_id: None,
    };
    let gates = app.state.config.gates.clone();

    let mut group = c.benchmark_group("gates");
    group.bench_function("decide", |b| {
        b.iter(|| {
            let refused = gate::decide(Some(&caller), "GET", "/reports/2026/q3", &gates);
            assert!(refused.is_err());
        })
    });
    for (name, header) in [
        ("check_with_jwt", ("authorization", bearer.as_str())),
        ("check_with_api_key", ("x-api-key", key.as_str())),
    ] {
        group.bench_function(name, |b| {
            b.to_async(&runtime).iter(|| async {
                let response = app
                    .request(
                        Method::GET,
                        "/auth/check",
                        None,
                        &[
                            header,
                            ("x-forwarded-method", "GET"),
                            ("x-forwarded-uri", "/profile"),
                        ],
                    )
                    .await;
                assert_eq!(response.status, 200, "{}", response.text);
            })
        });
    }
    group.finish();
}

criterion_group!(gates, gate_benchmarks);
criterion_main!(gates);
