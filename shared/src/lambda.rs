//! The body of every Lambda function's `main`: logs, state from the environment once per cold
//! start, the group's router wrapped in the common middleware, served by `lambda_http`.

use axum::Router;

use crate::{AppState, Config, http::middleware, telemetry};

pub async fn run(router: fn(AppState) -> Router) -> Result<(), lambda_http::Error> {
    let config = Config::from_env()?;
    telemetry::init(config.log_json);
    let state = AppState::from_config(config).await?;
    let app = middleware::apply(router(state.clone()), &state.config);
    lambda_http::run(app).await
}
