use latchkey_tests::{Backend, TestApp};

async fn health_reports_the_table_reachable(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app.get("/health").await;
    assert_eq!(response.status, 200, "{}", response.text);
    assert_eq!(response.json["status"], "ok");
    assert_eq!(response.json["checks"]["table"]["reachable"], true);
}

#[tokio::test]
async fn health_answers_ok_on_the_embedded_store() {
    health_reports_the_table_reachable(Backend::Embedded).await;
}

#[tokio::test]
async fn health_answers_ok_on_dynamodb() {
    health_reports_the_table_reachable(Backend::Aws).await;
}
