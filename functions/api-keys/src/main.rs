//! The `api-keys` Lambda function.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    latchkey::lambda::run(latchkey_api_keys::router).await
}
