use http::Method;
use latchkey_tests::{Backend, TestApp};

#[tokio::test]
async fn an_unknown_path_answers_404_in_the_error_shape() {
    let app = TestApp::spawn(Backend::Embedded).await;
    app.get("/nope").await.assert_error(404, "not_found");
}

#[tokio::test]
async fn a_wrong_method_answers_405_in_the_error_shape() {
    let app = TestApp::spawn(Backend::Embedded).await;
    app.request(Method::DELETE, "/health", None, &[])
        .await
        .assert_error(405, "method_not_allowed");
}

#[tokio::test]
async fn every_response_carries_the_security_headers_and_a_request_id() {
    let app = TestApp::spawn(Backend::Embedded).await;
    let response = app.get("/nope").await;
    assert_eq!(response.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(response.header("cache-control"), Some("no-store"));
    assert!(
        response
            .header("x-request-id")
            .is_some_and(|id| !id.is_empty())
    );
}
