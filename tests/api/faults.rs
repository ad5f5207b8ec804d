//! Faults on the AWS path (issue 17, item 3): DynamoDB, KMS or SES hanging or failing behind the
//! fault-injection proxy (`tests/fault_proxy.py`, started by `tests/run.sh`) answer `503` in our
//! shape within seconds, and a table that vanished (an emulator restarted empty) is set up again
//! without restarting the service.

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::Method;
use latchkey::adapters::dynamodb::DynamoTable;
use latchkey::adapters::system::SystemClock;
use latchkey::ports::Table;
use latchkey_tests::{Backend, TestApp, TestResponse, aws_sdk_config, fault_proxy, unique};
use serde_json::{Value, json};

/// What a client may wait for any answer while a backend is dead (issue 17's acceptance).
const ANSWER_WITHIN: Duration = Duration::from_secs(5);

const DYNAMODB: &str = "DynamoDB_20120810.";
const KMS: &str = "TrentService.";
const SES_SEND: &str = "/v2/email/outbound-emails";

/// A lane of the fault proxy: a port of its own that forwards to the emulator, with the faults
/// this test sets and no other test sees.
struct Lane {
    control: String,
    port: u64,
    url: String,
}

impl Lane {
    async fn open() -> Self {
        let control = fault_proxy();
        let lane: Value = latchkey_tests::http_client()
            .post(format!("{control}/lanes"))
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .unwrap_or_else(|e| panic!("open a fault-proxy lane at {control}: {e}"))
            .json()
            .await
            .expect("the lane as JSON");
        Self {
            control,
            port: lane["port"].as_u64().expect("a lane port"),
            url: lane["url"].as_str().expect("a lane url").to_owned(),
        }
    }

    async fn set(&self, rules: Value) {
        latchkey_tests::http_client()
            .put(format!("{}/lanes/{}/faults", self.control, self.port))
            .json(&json!({ "rules": rules }))
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .unwrap_or_else(|e| panic!("set the faults of lane {}: {e}", self.port));
    }

    async fn black_hole_target(&self, target: &str) {
        self.set(json!([{ "target": target, "action": "blackhole" }]))
            .await;
    }

    async fn fail_target(&self, target: &str) {
        self.set(json!([{ "target": target, "action": "fail" }]))
            .await;
    }

    async fn black_hole_path(&self, path: &str) {
        self.set(json!([{ "path": path, "action": "blackhole" }]))
            .await;
    }

    async fn heal(&self) {
        self.set(json!([])).await;
    }

    async fn close(self) {
        // Best effort: the proxy stops with the test run anyway.
        let _ = latchkey_tests::http_client()
            .delete(format!("{}/lanes/{}", self.control, self.port))
            .send()
            .await;
    }
}

/// Run a request and assert it was answered within `ANSWER_WITHIN`.
async fn answered_in_time(what: &str, request: impl Future<Output = TestResponse>) -> TestResponse {
    let started = Instant::now();
    let response = request.await;
    let took = started.elapsed();
    eprintln!("{what}: {} in {took:?}", response.status);
    assert!(
        took < ANSWER_WITHIN,
        "{what} took {took:?} (status {}), more than {ANSWER_WITHIN:?}",
        response.status
    );
    response
}

#[tokio::test]
async fn a_black_holed_dynamodb_answers_503_in_our_shape_within_5_seconds_and_recovers() {
    let lane = Lane::open().await;
    let app = TestApp::spawn_aws_through(&lane.url, |_| {}).await;
    let signed_in = app.signed_up().await;

    lane.black_hole_target(DYNAMODB).await;
    let health = answered_in_time("GET /health", app.get("/health")).await;
    assert_eq!(health.status, 503, "{}", health.text);
    assert_eq!(health.json["checks"]["store"]["status"], "failing");
    let sign_in = answered_in_time(
        "POST /auth/sign-in",
        app.post("/auth/sign-in", &signed_in.user.sign_in_body()),
    )
    .await;
    sign_in.assert_error(503, "service_unavailable");
    let me = answered_in_time(
        "GET /auth/me",
        app.with_bearer(Method::GET, "/auth/me", signed_in.access_token(), None),
    )
    .await;
    me.assert_error(503, "service_unavailable");

    lane.heal().await;
    let health = app.get("/health").await;
    assert_eq!(health.status, 200, "{}", health.text);
    app.signed_in(&signed_in.user).await;
    lane.close().await;
}

#[tokio::test]
async fn a_failing_kms_answers_503_not_500() {
    let lane = Lane::open().await;
    let app = TestApp::spawn_aws_through(&lane.url, |_| {}).await;

    // The first sign-up makes the signing key, whose private half KMS encrypts.
    lane.fail_target(KMS).await;
    let user = latchkey_tests::TestUser::generate();
    let response = answered_in_time(
        "POST /auth/sign-up",
        app.post("/auth/sign-up", &user.sign_up_body()),
    )
    .await;
    response.assert_error(503, "service_unavailable");

    lane.heal().await;
    app.signed_up().await;
    lane.close().await;
}

#[tokio::test]
async fn a_black_holed_ses_does_not_hold_the_answer_to_a_magic_link_request() {
    let lane = Lane::open().await;
    let app = TestApp::spawn_aws_through(&lane.url, |_| {}).await;
    let signed_in = app.signed_up().await;

    lane.black_hole_path(SES_SEND).await;
    let response = answered_in_time(
        "POST /auth/magic-link",
        app.post(
            "/auth/magic-link",
            &json!({ "email": signed_in.user.email }),
        ),
    )
    .await;
    // The answer never says whether mail went out; what matters is that it came in time.
    assert!(response.status.is_success(), "{}", response.text);
    lane.close().await;
}

#[tokio::test]
async fn a_table_that_vanished_is_created_again_and_the_service_recovers_without_a_restart() {
    let name = unique("latchkey-vanishing");
    let client = aws_sdk_dynamodb::Client::new(&aws_sdk_config().await);
    let table = DynamoTable::new(client.clone(), name.clone(), Arc::new(SystemClock))
        .recreating_when_missing(true);
    table
        .create_table_if_missing()
        .await
        .expect("create the table on the emulator");
    let table: Arc<dyn Table> = Arc::new(table);
    let app = TestApp::spawn_wrapping(Backend::Aws, |_| {}, move |_| table).await;
    let before = app.signed_up().await;

    client
        .delete_table()
        .table_name(&name)
        .send()
        .await
        .expect("delete the table behind the service's back");

    let health = app.get("/health").await;
    assert_eq!(health.status, 200, "{}", health.text);
    let after = app.signed_up().await;
    let again = app.signed_in(&after.user).await;
    let me = app
        .with_bearer(Method::GET, "/auth/me", again.access_token(), None)
        .await;
    assert_eq!(me.status, 200, "{}", me.text);
    // The signing key cached before the table vanished is gone with it: tokens are signed by a
    // key the (new) table publishes.
    let kid = kid_of(again.access_token());
    assert_ne!(kid, kid_of(before.access_token()));
    let jwks = app.get("/.well-known/jwks.json").await;
    assert!(
        jwks.json["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .any(|key| key["kid"] == kid.as_str()),
        "{kid} not in {}",
        jwks.text
    );
    // The old user went with the table.
    let old = app.post("/auth/sign-in", &before.user.sign_in_body()).await;
    old.assert_error(401, "invalid_credentials");
}

fn kid_of(token: &str) -> String {
    use base64::Engine;
    let header = token.split('.').next().expect("a JWT header");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .expect("base64url");
    let header: Value = serde_json::from_slice(&bytes).expect("JSON header");
    header["kid"].as_str().expect("a kid").to_owned()
}
