//! The `passkeys` Lambda function.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    latchkey::lambda::run(latchkey_passkeys::router).await
}
