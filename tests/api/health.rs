use latchkey_tests::on_both_backends;
use latchkey_tests::{Backend, TestApp};

async fn health_reports_the_table_reachable(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app.get("/health").await;
    assert_eq!(response.status, 200, "{}", response.text);
    assert_eq!(response.json["status"], "ok");
    assert_eq!(response.json["checks"]["table"]["reachable"], true);
}

on_both_backends!(health_reports_the_table_reachable);
