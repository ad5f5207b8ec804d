//! The `authorizer` Lambda function (not an HTTP router: API Gateway invokes it directly).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    latchkey_authorizer::run().await
}
