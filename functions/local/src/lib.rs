//! The local server: merges every group's router, listens on `LATCHKEY_LISTEN`, shuts down
//! cleanly on Ctrl-C. Also the operator commands (`cli`: `latchkey users ...`, `rotate-keys`,
//! `dev-aws`), and the registry of groups with what is generated from it (`groups`, `openapi`,
//! `template`).

pub mod cli;
pub mod docs;
pub mod groups;
pub mod openapi;
pub mod template;

use axum::Router;
use latchkey::services::tokens;
use latchkey::{AppState, Config, http::middleware, telemetry};

/// Every endpoint group's router, merged; the same routes the Lambda functions serve. The local
/// server adds `GET /`, a page naming what it offers, and `/docs`, the rendered API reference
/// (neither is a Lambda route).
pub fn app(state: AppState) -> Router {
    let page = index_page(&state.config);
    let router = groups::GROUPS
        .iter()
        .filter_map(|group| group.router(state.clone()))
        .fold(Router::new(), Router::merge)
        .merge(docs::router(&state.config.product_name))
        .route(
            "/",
            axum::routing::get(move || {
                let page = page.clone();
                async move {
                    (
                        [(
                            axum::http::header::CONTENT_SECURITY_POLICY,
                            "default-src 'none'; style-src 'unsafe-inline'; form-action 'none'; \
                             frame-ancestors 'none'; base-uri 'none'",
                        )],
                        axum::response::Html(page),
                    )
                }
            }),
        );
    middleware::apply(router, &state.config)
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The index page: static HTML (no script), the product name and where to go next.
fn index_page(config: &Config) -> String {
    let escape = escape_html;
    let name = escape(&config.product_name);
    let outbox = match config.backend {
        latchkey::config::Backend::Local => format!(
            "<li>Mail is written to <code>{}</code> as <code>.eml</code> files; \
             <code>latchkey outbox</code> prints the newest with their links and codes.</li>",
            escape(&config.data_dir.join("outbox").display().to_string())
        ),
        latchkey::config::Backend::Aws => "<li>Mail goes out through SES.</li>".to_owned(),
    };
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{name}</title><style>body{{font-family:system-ui,sans-serif;max-width:40rem;\
         margin:2rem auto;padding:0 1rem;line-height:1.5}}code{{background:#f3f3f3;\
         padding:0 .2em}}</style></head><body><h1>{name}</h1>\
         <p>An authentication service: sign-up and sign-in (password, magic link, emailed code), \
         rotating sessions, TOTP, workspaces, API keys. This is the local server.</p>\
         <h2>Reference</h2><ul>\
         <li><a href=\"/docs\">/docs</a>: the API reference, rendered (every route, \
         its request and answers; try one from the page)</li>\
         <li><a href=\"/openapi.json\">/openapi.json</a>: the OpenAPI 3.1 document of every route</li>\
         <li><a href=\"/health\">/health</a>: each dependency checked; \
         <a href=\"/health/live\">/health/live</a>: liveness</li>\
         <li><a href=\"/.well-known/jwks.json\">/.well-known/jwks.json</a> and \
         <a href=\"/.well-known/openid-configuration\">/.well-known/openid-configuration</a>: \
         what verifies our access tokens</li></ul>\
         <h2>Mail</h2><ul>{outbox}</ul>\
         <h2>Next</h2><p>The README's quick start signs up, signs in and follows a magic link \
         with curl; <code>latchkey help</code> lists the operator commands.</p>\
         </body></html>\n"
    )
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
    let rotated = tokens::rotate_signing_key(&state).await;
    rotated.map_err(latchkey::Error::from).map_err(|error| {
        match error.cause_chain() {
            Some(cause) => format!("{error} ({cause})"),
            None => error.to_string(),
        }
        .into()
    })
}

/// `latchkey dev-aws`: make what the AWS backend needs on an emulator (`AWS_ENDPOINT_URL`): the
/// table, a KMS key under `alias/latchkey-dev`, and the sender of `LATCHKEY_MAIL_FROM` as a
/// verified SES identity. Safe to repeat. Answers the shell lines that point Latchkey at them
/// (`eval "$(latchkey dev-aws)"`). Refuses to run without an endpoint: it is not for real AWS.
pub async fn dev_aws() -> Result<String, Box<dyn std::error::Error>> {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").map_err(|_| {
        "dev-aws prepares an AWS emulator only: set AWS_ENDPOINT_URL (e.g. http://127.0.0.1:5000 \
         for `moto_server -p 5000`)"
    })?;
    // The table name and sender as the server would read them; the backend is not needed here.
    let config = Config::from_lookup(|name| match name {
        "LATCHKEY_BACKEND" | "LATCHKEY_KMS_KEY_ID" => None,
        other => std::env::var(other).ok(),
    })?;
    let mut exports = format!("export LATCHKEY_BACKEND=aws\nexport AWS_ENDPOINT_URL={endpoint}\n");
    let mut loader = latchkey::adapters::aws::sdk_config_loader().endpoint_url(&endpoint);
    // An emulator takes any credentials and region; fill in what is missing so nothing hangs
    // looking for them.
    if std::env::var("AWS_ACCESS_KEY_ID").is_err() && std::env::var("AWS_PROFILE").is_err() {
        loader = loader.credentials_provider(aws_credential_types::Credentials::new(
            "testing", "testing", None, None, "dev-aws",
        ));
        exports.push_str("export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing\n");
    }
    if std::env::var("AWS_REGION").is_err() && std::env::var("AWS_DEFAULT_REGION").is_err() {
        loader = loader.region(aws_config::Region::new("us-east-1"));
        exports.push_str("export AWS_REGION=us-east-1\n");
    }
    let sdk = loader.load().await;
    let short = |what: &str, e: &dyn std::fmt::Display| format!("{what}: {e}");

    let table = latchkey::adapters::dynamodb::DynamoTable::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        config.table_name.clone(),
        std::sync::Arc::new(latchkey::adapters::system::SystemClock),
    );
    table
        .create_table_if_missing()
        .await
        .map_err(|e| short(&format!("cannot create table {}", config.table_name), &e))?;

    let kms = aws_sdk_kms::Client::new(&sdk);
    const ALIAS: &str = "alias/latchkey-dev";
    if kms.describe_key().key_id(ALIAS).send().await.is_err() {
        let key = kms
            .create_key()
            .description("Latchkey development key (dev-aws)")
            .send()
            .await
            .map_err(|e| {
                short(
                    "cannot create a KMS key",
                    &latchkey::adapters::aws::describe_unanswered(&e),
                )
            })?;
        let key_id = key
            .key_metadata()
            .map(|m| m.key_id().to_owned())
            .ok_or("KMS CreateKey answered no key id")?;
        kms.create_alias()
            .alias_name(ALIAS)
            .target_key_id(key_id)
            .send()
            .await
            .map_err(|e| {
                short(
                    "cannot create the KMS alias",
                    &latchkey::adapters::aws::describe_unanswered(&e),
                )
            })?;
    }
    exports.push_str(&format!("export LATCHKEY_KMS_KEY_ID={ALIAS}\n"));

    let sender = config
        .mail_from
        .rsplit('<')
        .next()
        .unwrap_or(&config.mail_from)
        .trim_end_matches('>')
        .trim()
        .to_owned();
    let ses = aws_sdk_sesv2::Client::new(&sdk);
    if ses
        .get_email_identity()
        .email_identity(&sender)
        .send()
        .await
        .is_err()
    {
        ses.create_email_identity()
            .email_identity(&sender)
            .send()
            .await
            .map_err(|e| {
                short(
                    "cannot verify the SES sender",
                    &latchkey::adapters::aws::describe_unanswered(&e),
                )
            })?;
    }
    eprintln!(
        "dev-aws: table {}, KMS key {ALIAS}, SES sender {sender} ready on {endpoint}",
        config.table_name
    );
    Ok(exports)
}
