//! The local server: merges every group's router, listens on `LATCHKEY_LISTEN`, shuts down
//! cleanly on Ctrl-C. Also the operator commands (`latchkey rotate-keys`), and the registry of
//! groups with what is generated from it (`groups`, `openapi`, `template`).

pub mod groups;
pub mod openapi;
pub mod template;

use axum::Router;
use latchkey::services::tokens;
use latchkey::{AppState, Config, http::middleware, telemetry};

/// Every endpoint group's router, merged; the same routes the Lambda functions serve.
pub fn app(state: AppState) -> Router {
    let router = groups::GROUPS
        .iter()
        .filter_map(|group| group.router(state.clone()))
        .fold(Router::new(), Router::merge);
    middleware::apply(router, &state.config)
}

pub async fn serve() -> Result<(), Box<dyn std::error::Error>> {
    let config = Config::from_env()?;
    telemetry::init(config.log_json);
    let listen = config.listen;
    let state = AppState::from_config(config).await?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let url = format!("http://{}", listener.local_addr()?);
    tracing::info!(
        backend = state.config.backend.name(),
        data_dir = %state.config.data_dir.display(),
        "Latchkey is listening on {url}; try: curl {url}/health"
    );
    if let (true, Some(origin)) = (
        state.config.demo_pages,
        state.config.webauthn.origins.first(),
    ) {
        tracing::info!("Try passkeys in a browser at {origin}/auth/passkeys/demo");
    }
    axum::serve(
        listener,
        app(state).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await?;
    Ok(())
}

/// Ctrl-C, or SIGTERM from a process manager: finish in-flight requests, then exit.
async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
    tracing::info!("shutting down");
}

/// `latchkey rotate-keys`: make a new access-token signing key current, with the backend the
/// environment names (`LATCHKEY_BACKEND=aws` rotates the deployed table's key). The old key stays
/// in the JWKS until every token it signed has expired. Answers the new `kid`.
pub async fn rotate_keys() -> Result<String, Box<dyn std::error::Error>> {
    let config = Config::from_env()?;
    telemetry::init(config.log_json);
    let state = AppState::from_config(config).await?;
    // An operator at a terminal is the one reader who should see the internal cause.
    tokens::rotate_signing_key(&state).await.map_err(|error| {
        match error.cause_chain() {
            Some(cause) => format!("{error} ({cause})"),
            None => error.to_string(),
        }
        .into()
    })
}
