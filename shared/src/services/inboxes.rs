//! Agent inboxes (seed 000, API.md "Agent inbox auth"): connecting a human's mailbox to a
//! workspace by IMAP/SMTP credentials (logins tried first), by Google OAuth tokens, or through the
//! hosted IMAP form; the emailed confirmation; listing and deletion. Records and rules are in
//! `domain::inboxes`.
//!
//! Credentials are stored only as the Cipher's ciphertext under the context {workspace, inbox,
//! purpose}. A confirmation token is 256 random bits, stored as its SHA-256 on the inbox, spent
//! by the one write that is conditional on that hash (one winner under concurrency), and lapses
//! after 24 hours; a day later the unconfirmed inbox and its credentials leave the table (`ttl`).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;
use serde_json::Value;
use subtle::ConstantTimeEq;
use utoipa::ToSchema;

use crate::domain::emails::EmailAddress;
use crate::domain::ids::InboxId;
use crate::domain::inboxes::{
    CONFIRMATION_HASH_ATTRIBUTE, CONFIRMATION_TTL_SECONDS, Credentials, FORM_FLOW_KIND,
    FORM_TTL_SECONDS, FormFlow, Inbox, InboxStatus, Provider, ServerSettings, check_server,
    credentials_context,
};
use crate::domain::keys;
use crate::domain::one_time_token::{OneTimeToken, hash_token, lifetime_in_words};
use crate::domain::timestamp;
use crate::error::ErrorCode;
use crate::ports::{
    Condition, Item, MailLoginError, MailProtocol, MailServerLogin, StoreError, attr,
};
use crate::services::mail_templates::{self, InboxConfirmationContext};
use crate::{AppState, Error, Result};

/// The path of the emailed confirmation link and of the hosted IMAP form.
pub const CONFIRM_PATH: &str = "/human/v0/auth/confirm";
pub const FORM_PATH: &str = "/human/v0/auth/imap";

/// How long an unconfirmed inbox outlives its lapsed token before it leaves the table.
const UNCONFIRMED_GRACE_SECONDS: i64 = 24 * 3600;

/// The workspace an inbox belongs to and the user acting for it.
#[derive(Clone, Debug)]
pub struct Owner {
    pub workspace_id: String,
    pub user_id: String,
}

/// What connecting an inbox asks for besides its credentials.
#[derive(Clone, Debug)]
pub struct NewInbox {
    pub human_user_id: String,
    pub email: EmailAddress,
    /// Kept only when on the allow-list (checked by `create`).
    pub confirmation_redirect_url: Option<String>,
    pub enable_deep_backfill: bool,
    pub enable_semantic_search: bool,
}

/// `POST /human/v0/auth/tokens`'s answer: the inbox waits for its emailed confirmation.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PendingInbox {
    pub inbox_id: String,
    pub email_address: String,
    pub status: InboxStatus,
    #[schema(format = DateTime)]
    pub confirmation_sent_at: String,
    #[schema(format = DateTime)]
    pub confirmation_expires_at: String,
}

/// `POST /human/v0/auth/confirm`'s answer.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ConfirmedInbox {
    #[schema(format = DateTime)]
    pub confirmed_at: String,
    pub email_address: String,
    pub inbox_id: String,
    pub provider: Provider,
    pub status: InboxStatus,
    /// Where the emailed link sends the person next (not part of the JSON answer).
    #[serde(skip)]
    pub redirect: Option<String>,
}

/// One inbox in `GET /human/v0/inboxes`.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct InboxSummary {
    pub inbox_id: String,
    pub email_address: String,
    pub provider: Provider,
    pub status: InboxStatus,
    pub human_user_id: String,
    #[schema(format = DateTime)]
    pub created_at: String,
}

/// Why an inbox request failed.
#[derive(Debug, thiserror::Error)]
pub enum InboxError {
    #[error("the {} server refused the login", .0.as_str())]
    LoginRefused(MailProtocol, #[source] MailLoginError),
    #[error("the {} server is unreachable", .0.as_str())]
    Unreachable(MailProtocol, #[source] MailLoginError),
    #[error("no such inbox in this workspace")]
    NotFound,
    #[error("the confirmation token is unknown, spent or expired")]
    InvalidConfirmation,
    #[error("the form link is unknown, used or expired")]
    InvalidFormState,
}

fn server_name(protocol: MailProtocol) -> &'static str {
    match protocol {
        MailProtocol::Imap => "IMAP",
        MailProtocol::Smtp => "SMTP",
    }
}

impl From<InboxError> for Error {
    fn from(error: InboxError) -> Self {
        match &error {
            InboxError::LoginRefused(protocol, _) => {
                let (name, field) = (server_name(*protocol), protocol.as_str());
                Error::new(
                    ErrorCode::InvalidInboxCredentials,
                    format!("The {name} server refused the username or password"),
                )
                .with_extra("field", field)
                .with_cause(error)
            }
            InboxError::Unreachable(protocol, MailLoginError::NotPublic(_)) => {
                let (name, field) = (server_name(*protocol), protocol.as_str());
                Error::new(
                    ErrorCode::InboxUnreachable,
                    format!(
                        "The {name} server's host is not a public address; only mail servers \
                         on the internet can be connected"
                    ),
                )
                .with_extra("field", field)
                .with_cause(error)
            }
            InboxError::Unreachable(protocol, _) => {
                let (name, field) = (server_name(*protocol), protocol.as_str());
                Error::new(
                    ErrorCode::InboxUnreachable,
                    format!(
                        "The {name} server could not be reached with a trusted connection; check \
                         the host, port and secure setting"
                    ),
                )
                .with_extra("field", field)
                .with_cause(error)
            }
            InboxError::NotFound => Error::not_found("No such inbox"),
            InboxError::InvalidConfirmation => Error::new(
                ErrorCode::InvalidLink,
                "The confirmation token is unknown, already used or expired",
            ),
            InboxError::InvalidFormState => Error::new(
                ErrorCode::InvalidLink,
                "This form link is unknown, already used or expired; ask for a new one",
            ),
        }
    }
}

/// `400` naming `<prefix>.<field>` unless the server settings can be tried.
pub fn validate_server(prefix: &str, settings: &ServerSettings) -> Result<()> {
    check_server(settings)
        .map_err(|(field, problem)| Error::invalid_field(&format!("{prefix}.{field}"), problem))
}

/// `400 human_user_id` unless it is 1 to 256 characters.
pub fn validate_human_user_id(human_user_id: &str) -> Result<()> {
    let length = human_user_id.chars().count();
    if length == 0 || length > crate::domain::inboxes::MAX_HUMAN_USER_ID {
        return Err(Error::invalid_field(
            "human_user_id",
            "must be 1 to 256 characters",
        ));
    }
    Ok(())
}

fn login(settings: &ServerSettings) -> MailServerLogin {
    MailServerLogin {
        host: settings.host.trim().to_owned(),
        port: settings.port,
        secure: settings.secure,
        username: settings.username.clone(),
        password: settings.password.clone().into(),
    }
}

/// Try the IMAP and the SMTP login (at the same time); the IMAP server's answer decides when
/// both fail. Skipped with `LATCHKEY_INBOX_VERIFY=false`.
pub async fn check_logins(
    state: &AppState,
    imap: &ServerSettings,
    smtp: &ServerSettings,
) -> Result<(), InboxError> {
    if !state.config.inbox_verify {
        return Ok(());
    }
    let (imap_login, smtp_login) = (login(imap), login(smtp));
    let (imap_result, smtp_result) = tokio::join!(
        state.mail_login.try_login(MailProtocol::Imap, &imap_login),
        state.mail_login.try_login(MailProtocol::Smtp, &smtp_login),
    );
    for (protocol, result) in [
        (MailProtocol::Imap, imap_result),
        (MailProtocol::Smtp, smtp_result),
    ] {
        match result {
            Ok(()) => {}
            Err(error @ MailLoginError::Refused(_)) => {
                return Err(InboxError::LoginRefused(protocol, error));
            }
            Err(error @ (MailLoginError::Unreachable(_) | MailLoginError::NotPublic(_))) => {
                return Err(InboxError::Unreachable(protocol, error));
            }
        }
    }
    Ok(())
}

/// Connect an inbox by IMAP/SMTP credentials: both logins are tried first (nothing is stored
/// when either fails), then the inbox is stored pending and its confirmation mailed.
pub async fn connect_imap(
    state: &AppState,
    owner: &Owner,
    inbox: NewInbox,
    imap: ServerSettings,
    smtp: ServerSettings,
) -> Result<PendingInbox> {
    check_logins(state, &imap, &smtp).await?;
    create_pending(state, owner, inbox, Credentials::Imap { imap, smtp }).await
}

/// Store an inbox with credentials already checked (or tokens given), pending its confirmation,
/// and mail the confirmation to its address.
pub async fn create_pending(
    state: &AppState,
    owner: &Owner,
    new: NewInbox,
    credentials: Credentials,
) -> Result<PendingInbox> {
    let now = state.clock.unix();
    let token = OneTimeToken::generate(state.random.as_ref());
    let expires_at = now + CONFIRMATION_TTL_SECONDS;
    let redirect = crate::services::email_links::allowed_redirect(
        &state.config,
        new.confirmation_redirect_url.as_deref(),
    );
    let inbox = Inbox {
        inbox_id: InboxId::generate(state.random.as_ref()).to_string(),
        workspace_id: owner.workspace_id.clone(),
        created_by: owner.user_id.clone(),
        human_user_id: new.human_user_id,
        email_address: new.email.as_str().to_owned(),
        provider: credentials.provider(),
        status: InboxStatus::PendingConfirmation,
        created_at: now,
        confirmed_at: None,
        confirmation_sent_at: Some(now),
        confirmation_expires_at: Some(expires_at),
        confirmation_token_hash: Some(token.hash().to_owned()),
        confirmation_redirect_url: redirect,
        enable_deep_backfill: new.enable_deep_backfill,
        enable_semantic_search: new.enable_semantic_search,
        credentials: String::new(),
    };
    let inbox = seal(state, inbox, &credentials).await?;
    let mut item = inbox.to_item();
    // An inbox nobody confirms leaves the table, credentials and all, a day after its token
    // lapsed (until then a late click hears that the token expired).
    item.insert(
        attr::TTL.into(),
        Value::from(expires_at + UNCONFIRMED_GRACE_SECONDS),
    );
    state.table.put(item, Some(Condition::NotExists)).await?;
    deliver_confirmation(state, &inbox, token.secret()).await;
    Ok(PendingInbox {
        inbox_id: inbox.inbox_id,
        email_address: inbox.email_address,
        status: inbox.status,
        confirmation_sent_at: timestamp(now),
        confirmation_expires_at: timestamp(expires_at),
    })
}

/// Store an inbox whose address its provider has just proved (Google's consent): active at once,
/// no confirmation mail.
pub async fn create_active(
    state: &AppState,
    owner: &Owner,
    new: NewInbox,
    credentials: Credentials,
) -> Result<Inbox> {
    let now = state.clock.unix();
    let inbox = Inbox {
        inbox_id: InboxId::generate(state.random.as_ref()).to_string(),
        workspace_id: owner.workspace_id.clone(),
        created_by: owner.user_id.clone(),
        human_user_id: new.human_user_id,
        email_address: new.email.as_str().to_owned(),
        provider: credentials.provider(),
        status: InboxStatus::Active,
        created_at: now,
        confirmed_at: Some(now),
        confirmation_sent_at: None,
        confirmation_expires_at: None,
        confirmation_token_hash: None,
        confirmation_redirect_url: None,
        enable_deep_backfill: new.enable_deep_backfill,
        enable_semantic_search: new.enable_semantic_search,
        credentials: String::new(),
    };
    let inbox = seal(state, inbox, &credentials).await?;
    state
        .table
        .put(inbox.to_item(), Some(Condition::NotExists))
        .await?;
    Ok(inbox)
}

/// The inbox with its credentials encrypted under its own context.
async fn seal(state: &AppState, mut inbox: Inbox, credentials: &Credentials) -> Result<Inbox> {
    let plaintext = serde_json::to_vec(credentials)
        .map_err(|error| Error::internal(format!("inbox credentials not serialized: {error}")))?;
    let context = credentials_context(&inbox.workspace_id, &inbox.inbox_id);
    let ciphertext = state.cipher.encrypt(&plaintext, &context).await?;
    inbox.credentials = STANDARD.encode(ciphertext);
    Ok(inbox)
}

/// The credentials of a stored inbox, decrypted (for the agent side that reads the mailbox).
pub async fn open_credentials(state: &AppState, inbox: &Inbox) -> Result<Credentials> {
    let ciphertext = STANDARD
        .decode(&inbox.credentials)
        .map_err(|error| Error::internal(format!("inbox credentials not base64: {error}")))?;
    let context = credentials_context(&inbox.workspace_id, &inbox.inbox_id);
    let plaintext = state.cipher.decrypt(&ciphertext, &context).await?;
    serde_json::from_slice(&plaintext)
        .map_err(|error| Error::internal(format!("inbox credentials malformed: {error}")))
}

/// Render and send the confirmation; a failure is logged (without the link) and otherwise
/// ignored: the inbox stays pending, and connecting it again sends a fresh one.
async fn deliver_confirmation(state: &AppState, inbox: &Inbox, secret: &str) {
    let link = format!(
        "{}{CONFIRM_PATH}?confirmation_token={secret}&inbox_id={}",
        state.config.public_url, inbox.inbox_id
    );
    let expires_in = lifetime_in_words(CONFIRMATION_TTL_SECONDS as u64);
    let provider = match inbox.provider {
        Provider::Imap => "IMAP/SMTP",
        Provider::GoogleOauth => "Gmail",
    };
    let rendered = mail_templates::render_inbox_confirmation(&InboxConfirmationContext {
        product_name: &state.config.product_name,
        email: &inbox.email_address,
        provider,
        link: &link,
        token: secret,
        expires_in: &expires_in,
    });
    let email = match rendered {
        Ok(email) => email,
        Err(error) => {
            tracing::error!(inbox_id = %inbox.inbox_id, %error, "inbox confirmation not rendered");
            return;
        }
    };
    match state.mailer.send(&email).await {
        Ok(()) => tracing::info!(inbox_id = %inbox.inbox_id, "inbox confirmation sent"),
        Err(error) => {
            tracing::error!(inbox_id = %inbox.inbox_id, %error, "inbox confirmation not sent")
        }
    }
}

/// The inbox under `inbox_id`, if it is live and (when a workspace is named) belongs to it.
async fn find(
    state: &AppState,
    inbox_id: &str,
    workspace_id: Option<&str>,
) -> Result<Option<Inbox>> {
    let Some(id) = InboxId::parse(inbox_id) else {
        return Ok(None);
    };
    let Some(item) = state.table.get(&keys::inbox(id.as_str())).await? else {
        return Ok(None);
    };
    let inbox = Inbox::from_item(item)?;
    Ok(workspace_id
        .is_none_or(|workspace| workspace == inbox.workspace_id)
        .then_some(inbox))
}

/// Spend a confirmation token: the inbox turns `active`. `workspace_id` is the caller's when
/// the platform confirms (another workspace's inbox: `404`); the emailed link names none, the
/// token being its proof.
pub async fn confirm(
    state: &AppState,
    inbox_id: &str,
    secret: &str,
    workspace_id: Option<&str>,
) -> Result<ConfirmedInbox> {
    let inbox = match find(state, inbox_id, workspace_id).await? {
        Some(inbox) => inbox,
        // The platform hears 404 for no such inbox and for another workspace's alike; an inbox
        // that lapsed unconfirmed reads the same.
        None if workspace_id.is_some() => return Err(InboxError::NotFound.into()),
        None => return Err(InboxError::InvalidConfirmation.into()),
    };
    let hash = hash_token(secret.trim());
    let now = state.clock.unix();
    let matches = inbox
        .confirmation_token_hash
        .as_deref()
        .is_some_and(|stored| bool::from(stored.as_bytes().ct_eq(hash.as_bytes())));
    let live = inbox.confirmation_expires_at.is_some_and(|at| now < at);
    if inbox.status != InboxStatus::PendingConfirmation || !matches || !live {
        return Err(InboxError::InvalidConfirmation.into());
    }
    let mut set = Item::new();
    set.insert(
        "status".into(),
        serde_json::to_value(InboxStatus::Active).unwrap_or_default(),
    );
    set.insert("confirmed_at".into(), Value::from(now));
    let remove = vec![
        CONFIRMATION_HASH_ATTRIBUTE.to_owned(),
        "confirmation_expires_at".to_owned(),
        attr::TTL.to_owned(),
    ];
    // One winner: the write holds only while the hash is still there.
    match state
        .table
        .update(
            &inbox.key(),
            set,
            remove,
            Some(Condition::Equals(
                CONFIRMATION_HASH_ATTRIBUTE.into(),
                Value::String(hash),
            )),
        )
        .await
    {
        Ok(_) => {}
        Err(StoreError::ConditionFailed) => return Err(InboxError::InvalidConfirmation.into()),
        Err(error) => return Err(error.into()),
    }
    tracing::info!(inbox_id = %inbox.inbox_id, "inbox confirmed");
    Ok(ConfirmedInbox {
        confirmed_at: timestamp(now),
        email_address: inbox.email_address,
        inbox_id: inbox.inbox_id,
        provider: inbox.provider,
        status: InboxStatus::Active,
        redirect: inbox.confirmation_redirect_url,
    })
}

/// The inboxes of a workspace, oldest first.
pub async fn list(state: &AppState, workspace_id: &str) -> Result<Vec<InboxSummary>> {
    let items = state
        .table
        .query_gsi1(&keys::inboxes_gsi1_partition(workspace_id), "HUMAN#")
        .await?;
    let mut inboxes = items
        .into_iter()
        .map(Inbox::from_item)
        .collect::<Result<Vec<_>, _>>()?;
    inboxes.sort_by(|a, b| (a.created_at, &a.inbox_id).cmp(&(b.created_at, &b.inbox_id)));
    Ok(inboxes
        .into_iter()
        .map(|inbox| InboxSummary {
            created_at: timestamp(inbox.created_at),
            inbox_id: inbox.inbox_id,
            email_address: inbox.email_address,
            provider: inbox.provider,
            status: inbox.status,
            human_user_id: inbox.human_user_id,
        })
        .collect())
}

/// Delete an inbox of the workspace, its encrypted credentials with it.
pub async fn delete(state: &AppState, workspace_id: &str, inbox_id: &str) -> Result<()> {
    let Some(id) = InboxId::parse(inbox_id) else {
        return Err(InboxError::NotFound.into());
    };
    match state
        .table
        .delete(
            &keys::inbox(id.as_str()),
            Some(Condition::Equals(
                "workspace_id".into(),
                Value::String(workspace_id.to_owned()),
            )),
        )
        .await
    {
        Ok(_) => {
            tracing::info!(inbox_id = %id, "inbox deleted");
            Ok(())
        }
        Err(StoreError::ConditionFailed) => Err(InboxError::NotFound.into()),
        Err(error) => Err(error.into()),
    }
}

/// Start the hosted IMAP form for a human: a `state` good for 30 minutes; answers the form's URL
/// and the state.
pub async fn begin_form(
    state: &AppState,
    owner: &Owner,
    human_user_id: &str,
    email: Option<&EmailAddress>,
    redirect_uri: Option<&str>,
) -> Result<(String, String)> {
    let token = OneTimeToken::generate(state.random.as_ref());
    let expires_at = state.clock.unix() + FORM_TTL_SECONDS;
    let flow = FormFlow {
        kind: FORM_FLOW_KIND.to_owned(),
        workspace_id: owner.workspace_id.clone(),
        created_by: owner.user_id.clone(),
        human_user_id: human_user_id.to_owned(),
        email_address: email.map(|email| email.as_str().to_owned()),
        redirect_uri: crate::services::email_links::allowed_redirect(&state.config, redirect_uri),
        expires_at,
        ttl: expires_at,
    };
    state
        .table
        .put(flow.to_item(token.hash()), Some(Condition::NotExists))
        .await?;
    let url = format!(
        "{}{FORM_PATH}?state={}",
        state.config.public_url,
        token.secret()
    );
    Ok((url, token.secret().to_owned()))
}

/// The live form flow of a `state`.
pub async fn form_flow(state: &AppState, secret: &str) -> Result<FormFlow> {
    let item = state
        .table
        .get(&keys::challenge(&hash_token(secret.trim())))
        .await?
        .ok_or(InboxError::InvalidFormState)?;
    let flow = FormFlow::from_item(item).ok_or(InboxError::InvalidFormState)?;
    if flow.expires_at <= state.clock.unix() {
        return Err(InboxError::InvalidFormState.into());
    }
    Ok(flow)
}

/// The hosted form was posted: the logins are tried, then the form's state is spent (one
/// winner: a double submit connects one inbox) and the inbox stored pending its confirmation.
/// A refused login leaves the state live, so the person can correct the form.
pub async fn finish_form(
    state: &AppState,
    secret: &str,
    email: EmailAddress,
    imap: ServerSettings,
    smtp: ServerSettings,
) -> Result<(PendingInbox, Option<String>)> {
    let flow = form_flow(state, secret).await?;
    check_logins(state, &imap, &smtp).await?;
    match state
        .table
        .delete(
            &keys::challenge(&hash_token(secret.trim())),
            Some(Condition::Exists),
        )
        .await
    {
        Ok(_) => {}
        Err(StoreError::ConditionFailed) => return Err(InboxError::InvalidFormState.into()),
        Err(error) => return Err(error.into()),
    }
    let owner = Owner {
        workspace_id: flow.workspace_id,
        user_id: flow.created_by,
    };
    let new = NewInbox {
        human_user_id: flow.human_user_id,
        email,
        confirmation_redirect_url: None,
        enable_deep_backfill: false,
        enable_semantic_search: false,
    };
    let pending = create_pending(state, &owner, new, Credentials::Imap { imap, smtp }).await?;
    Ok((pending, flow.redirect_uri))
}

// ---- Google (the shared OAuth flow, `services::oauth_flow`) ---------------------------------

/// The purpose under which an inbox's Google flow is filed.
pub const GOOGLE_FLOW_PURPOSE: &str = "inbox";

/// Google's redirect back to us (registered with Google as `<public URL>` + this path).
pub const GOOGLE_CALLBACK_PATH: &str = "/human/v0/auth/callback";

/// The scopes asked for unless the platform names its own (API.md: full Gmail access, and who
/// the person is). `openid email` are always added: the ID token proves the mailbox's address.
pub const GOOGLE_DEFAULT_SCOPES: [&str; 3] = ["https://mail.google.com/", "openid", "email"];

/// What the Google flow carries from `/auth/url` to the callback.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct GoogleFlow {
    pub workspace_id: String,
    pub user_id: String,
    pub human_user_id: String,
    pub scopes: Vec<String>,
    #[serde(default)]
    pub redirect_uri: Option<String>,
}

/// Google's settings, or `404` when this deployment has none.
fn google(state: &AppState) -> Result<&crate::config::OidcProvider> {
    state
        .config
        .oauth
        .google
        .as_ref()
        .ok_or_else(|| Error::not_found("Google is not configured on this deployment"))
}

async fn google_endpoints(
    state: &AppState,
    scopes: &[String],
    login_hint: Option<&str>,
) -> Result<crate::services::oauth_flow::Endpoints> {
    use crate::services::{oauth_flow, oidc};
    let provider = google(state)?;
    let metadata = oidc::metadata(state, provider).await?;
    let mut extra = vec![
        // A refresh token comes back only for offline access, and again only on a fresh consent.
        ("access_type".to_owned(), "offline".to_owned()),
        ("prompt".to_owned(), "consent".to_owned()),
        ("include_granted_scopes".to_owned(), "true".to_owned()),
    ];
    if let Some(hint) = login_hint {
        extra.push(("login_hint".to_owned(), hint.to_owned()));
    }
    Ok(oauth_flow::Endpoints {
        provider: "google".to_owned(),
        authorize_url: metadata.authorization_endpoint.clone(),
        token_url: metadata.token_endpoint.clone(),
        revocation_url: metadata.revocation_endpoint.clone(),
        client_id: provider.client_id.clone(),
        client_secret: provider.client_secret.clone(),
        scopes: scopes.to_vec(),
        extra_authorize_params: extra,
        redirect_uri: format!("{}{GOOGLE_CALLBACK_PATH}", state.config.public_url),
        client_auth: oauth_flow::ClientAuth::BasicHeader,
    })
}

/// The scopes of a flow: the platform's, or the default mail scopes; `openid email` always.
pub fn google_scopes(requested: Option<&[String]>) -> Vec<String> {
    let mut scopes: Vec<String> = match requested {
        Some(requested) if !requested.is_empty() => requested
            .iter()
            .map(|scope| scope.trim().to_owned())
            .filter(|scope| !scope.is_empty())
            .collect(),
        _ => GOOGLE_DEFAULT_SCOPES
            .iter()
            .map(|s| (*s).to_owned())
            .collect(),
    };
    for needed in ["openid", "email"] {
        if !scopes.iter().any(|scope| scope == needed) {
            scopes.push(needed.to_owned());
        }
    }
    scopes
}

/// Start connecting a Gmail inbox: Google's consent URL (PKCE, offline access) and its state,
/// filed for ten minutes.
pub async fn begin_google(
    state: &AppState,
    owner: &Owner,
    human_user_id: &str,
    email: Option<&EmailAddress>,
    redirect_uri: Option<&str>,
    scopes: Option<&[String]>,
) -> Result<(String, String)> {
    let scopes = google_scopes(scopes);
    let endpoints = google_endpoints(state, &scopes, email.map(EmailAddress::as_str)).await?;
    let flow = GoogleFlow {
        workspace_id: owner.workspace_id.clone(),
        user_id: owner.user_id.clone(),
        human_user_id: human_user_id.to_owned(),
        scopes,
        redirect_uri: crate::services::email_links::allowed_redirect(&state.config, redirect_uri),
    };
    let started =
        crate::services::oauth_flow::begin(state, &endpoints, GOOGLE_FLOW_PURPOSE, &flow, true)
            .await?;
    Ok((started.authorization_url, started.state))
}

/// Google sent the person back: the flow is taken (once), the code exchanged with its PKCE
/// verifier, the ID token verified (its address must be verified by Google), and the inbox stored
/// `active` with the tokens encrypted. Answers the inbox and where to send the person next.
pub async fn finish_google(
    state: &AppState,
    code: &str,
    state_param: &str,
) -> Result<(ConfirmedInbox, Option<String>)> {
    use crate::services::{oauth_flow, oidc};
    use secrecy::ExposeSecret;
    let flow = oauth_flow::consume::<GoogleFlow>(state, state_param, GOOGLE_FLOW_PURPOSE).await?;
    let endpoints = google_endpoints(state, &flow.payload.scopes, None).await?;
    let tokens = oauth_flow::exchange(&endpoints, code, &flow).await?;
    let id_token = tokens.id_token.as_ref().ok_or_else(|| {
        Error::new(
            ErrorCode::InvalidIdToken,
            "Google sent no ID token; the mailbox's address is unknown",
        )
    })?;
    let claims = oidc::verify_id_token(
        state,
        google(state)?,
        id_token.expose_secret(),
        flow.nonce.as_deref(),
    )
    .await?;
    let email = match claims.email.as_deref() {
        Some(email) if claims.email_verified => EmailAddress::parse(email).map_err(|_| {
            Error::new(
                ErrorCode::InvalidIdToken,
                "Google's address is not an address",
            )
        })?,
        _ => {
            return Err(Error::new(
                ErrorCode::InvalidIdToken,
                "Google did not vouch for the mailbox's address",
            ));
        }
    };
    let now = state.clock.unix();
    let credentials = Credentials::GoogleOauth {
        oauth: crate::domain::inboxes::OauthTokens {
            access_token: tokens.access_token.expose_secret().to_owned(),
            refresh_token: tokens
                .refresh_token
                .as_ref()
                .map(|token| token.expose_secret().to_owned()),
            expires_at: tokens.expires_in.map(|seconds| now + seconds as i64),
            scope: tokens.scope.clone(),
        },
    };
    let owner = Owner {
        workspace_id: flow.payload.workspace_id,
        user_id: flow.payload.user_id,
    };
    let new = NewInbox {
        human_user_id: flow.payload.human_user_id,
        email,
        confirmation_redirect_url: None,
        enable_deep_backfill: false,
        enable_semantic_search: false,
    };
    let inbox = create_active(state, &owner, new, credentials).await?;
    tracing::info!(inbox_id = %inbox.inbox_id, "Gmail inbox connected");
    Ok((
        ConfirmedInbox {
            confirmed_at: timestamp(now),
            email_address: inbox.email_address,
            inbox_id: inbox.inbox_id,
            provider: inbox.provider,
            status: inbox.status,
            redirect: None,
        },
        flow.payload.redirect_uri,
    ))
}
