//! `AppState`: the configuration and the ports, built once per process (per Lambda cold start)
//! and shared by every handler.

use std::sync::Arc;

use crate::adapters::aws::{AwsSdk, LazyClient};
use crate::adapters::{dynamodb::DynamoTable, kms::KmsCipher};
#[cfg(feature = "local")]
use crate::adapters::{embedded::EmbeddedTable, local_cipher::LocalCipher, outbox::Outbox};
use crate::adapters::{ses::SesMailer, system::OsRandom, system::SystemClock};
use crate::config::{Backend, Config};
use crate::ports::{Cipher, Clock, MailLogin, Mailer, Random, Table};
use crate::services::code_secret::CodeSecret;
use crate::services::health::HealthCache;
use crate::services::oidc::OidcCache;
use crate::services::profiles::ProfileCache;
use crate::services::tokens::SigningKeys;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub table: Arc<dyn Table>,
    pub mailer: Arc<dyn Mailer>,
    pub cipher: Arc<dyn Cipher>,
    pub clock: Arc<dyn Clock>,
    pub random: Arc<dyn Random>,
    /// Signing keys cached for the life of the process (a Lambda instance).
    pub signing_keys: Arc<SigningKeys>,
    /// The code-hash secret, cached likewise.
    pub code_secret: Arc<CodeSecret>,
    /// Profiles and workspaces cached a few seconds for `/auth/validate`.
    pub profiles: Arc<ProfileCache>,
    /// Tries IMAP and SMTP logins before an inbox's credentials are stored (the inboxes group).
    pub mail_login: Arc<dyn MailLogin>,
    /// OIDC providers' discovery documents and keys, cached for the life of the instance.
    pub oidc: Arc<OidcCache>,
    /// The last `/health` report, reused a few seconds.
    pub health: Arc<HealthCache>,
}

/// Start-up failed; the message says what to fix.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StartupError(pub String);

impl AppState {
    /// Build the adapters the configuration names: embedded/outbox/local key, or
    /// DynamoDB/SES/KMS. Makes no network call and builds no AWS client: each is built on first
    /// use.
    pub async fn from_config(config: Config) -> Result<Self, StartupError> {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        match config.backend {
            #[cfg(not(feature = "local"))]
            Backend::Local => Err(StartupError(
                "this build has no local backend (a Lambda build); set LATCHKEY_BACKEND=aws".into(),
            )),
            #[cfg(feature = "local")]
            Backend::Local => {
                crate::adapters::private_files::create_dir(&config.data_dir).map_err(|e| {
                    StartupError(format!(
                        "cannot create the data dir {}: {e}",
                        config.data_dir.display()
                    ))
                })?;
                let owner_file = config.data_dir.join("latchkey.owner");
                let table =
                    EmbeddedTable::open(&config.data_dir.join("latchkey.redb"), clock.clone())
                        .map_err(|e| {
                            // redb allows one process at a time: name the one holding it.
                            let holder = std::fs::read_to_string(&owner_file).ok();
                            match holder {
                                Some(holder) if e.to_string().contains("already open") => {
                                    StartupError(format!(
                                        "the embedded store in {} is open in another process \
                                         ({}); stop it, or give this one its own \
                                         LATCHKEY_DATA_DIR",
                                        config.data_dir.display(),
                                        holder.trim()
                                    ))
                                }
                                _ => StartupError(format!(
                                    "cannot open the embedded store in {}: {e}",
                                    config.data_dir.display()
                                )),
                            }
                        })?;
                // Who holds the store, for the next process that finds it locked.
                let me = std::env::args().next().unwrap_or_default();
                let me = std::path::Path::new(&me)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let _ = std::fs::write(&owner_file, format!("pid {} {me}\n", std::process::id()));
                let cipher =
                    LocalCipher::open(&config.data_dir.join("local.key")).map_err(|e| {
                        StartupError(format!(
                            "cannot open the local key in {}: {e}",
                            config.data_dir.display()
                        ))
                    })?;
                let mailer = Outbox::new(config.data_dir.join("outbox"), config.mail_from.clone());
                Ok(Self::new(
                    config,
                    Arc::new(table),
                    Arc::new(mailer),
                    Arc::new(cipher),
                    clock,
                ))
            }
            Backend::Aws => {
                // Nothing here touches the network or loads the SDK configuration: each client
                // is built on its first call (`adapters::aws`), so a function builds only the
                // clients its requests use.
                let sdk = Arc::new(AwsSdk::default());
                let table = DynamoTable::with_client(
                    LazyClient::on_first_use(sdk.clone(), aws_sdk_dynamodb::Client::new),
                    config.table_name.clone(),
                    clock.clone(),
                )
                .recreating_when_missing(config.create_table);
                if config.create_table {
                    table.create_table_if_missing().await.map_err(|e| {
                        StartupError(format!("cannot create table {}: {e}", config.table_name))
                    })?;
                }
                let key_id = config
                    .kms_key_id
                    .clone()
                    .ok_or_else(|| StartupError("LATCHKEY_KMS_KEY_ID is required".into()))?;
                let cipher = KmsCipher::with_client(
                    LazyClient::on_first_use(sdk.clone(), aws_sdk_kms::Client::new),
                    key_id,
                );
                let mailer = SesMailer::with_client(
                    LazyClient::on_first_use(sdk, aws_sdk_sesv2::Client::new),
                    config.mail_from.clone(),
                );
                Ok(Self::new(
                    config,
                    Arc::new(table),
                    Arc::new(mailer),
                    Arc::new(cipher),
                    clock,
                ))
            }
        }
    }

    /// Assemble a state from ports already built (tests, benchmarks).
    pub fn new(
        config: Config,
        table: Arc<dyn Table>,
        mailer: Arc<dyn Mailer>,
        cipher: Arc<dyn Cipher>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let mail_login = mail_login_for(&config);
        Self {
            mail_login,
            config: Arc::new(config),
            table,
            mailer,
            cipher,
            clock,
            random: Arc::new(OsRandom),
            signing_keys: Arc::default(),
            code_secret: Arc::default(),
            profiles: Arc::default(),
            oidc: Arc::default(),
            health: Arc::default(),
        }
    }
}

/// The mail-server login check: real clients in a build with the `inbox-check` feature (the
/// inboxes function, the local server, the tests), and a refusal in every other function, which
/// never serves the inbox routes.
fn mail_login_for(config: &Config) -> Arc<dyn MailLogin> {
    #[cfg(feature = "inbox-check")]
    {
        Arc::new(crate::adapters::mail_login::MailServers::new(
            config.inbox_extra_roots_pem.clone(),
            config.inbox_login_timeout,
            config.inbox_private_hosts,
        ))
    }
    #[cfg(not(feature = "inbox-check"))]
    {
        let _ = config;
        Arc::new(NoMailLogin)
    }
}

#[cfg(not(feature = "inbox-check"))]
struct NoMailLogin;

#[cfg(not(feature = "inbox-check"))]
#[async_trait::async_trait]
impl MailLogin for NoMailLogin {
    async fn try_login(
        &self,
        _protocol: crate::ports::MailProtocol,
        _server: &crate::ports::MailServerLogin,
    ) -> Result<(), crate::ports::MailLoginError> {
        Err(crate::ports::MailLoginError::Unreachable(
            "this function was built without the mail-server check".into(),
        ))
    }
}
