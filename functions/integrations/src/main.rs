//! The `integrations` Lambda function.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    latchkey::lambda::run(latchkey_integrations::router).await
}
