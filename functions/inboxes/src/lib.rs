//! The `inboxes` endpoint group (seed 000, API.md "Agent inbox auth"): a platform connects a
//! human's mailbox to its agents by IMAP/SMTP credentials (tried before they are stored), by
//! Google OAuth tokens, or through the hosted IMAP form; the human confirms by the emailed link
//! or token; the platform lists and deletes its workspace's inboxes. HTTP glue only; the rules
//! live in `latchkey::services::inboxes`.
//!
//! Decisions API.md leaves open:
//! - The caller (Bearer access token or API key) acts for its token's workspace; another
//!   workspace's inbox id answers `404`, as does an id that is not a UUID.
//! - `imap.secure` / `smtp.secure` may be left out: `true` on ports 993 and 465, else `false`.
//!   `oauth.refresh_token` and `oauth.expires_at` are optional.
//! - `GET /human/v0/auth/confirm` (the emailed link) needs no caller: the token is the proof.
//!   `POST` is the platform's and needs one. A spent, unknown or expired token: `400
//!   invalid_token`.
//! - The hosted form's `state` lives 30 minutes and is spent by the post that connects the
//!   inbox; a refused login re-shows the form with the error next to the field.

mod form;

use std::collections::BTreeMap;

use axum::Form;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use latchkey::domain::emails::EmailAddress;
use latchkey::domain::ids::InboxId;
use latchkey::domain::inboxes::{
    CONFIRMATION_TTL_SECONDS, Credentials, OauthTokens, Provider, ServerSettings,
};
use latchkey::domain::one_time_token::lifetime_in_words;
use latchkey::error::ErrorCode;
use latchkey::http::answers::{ErrorResponse, Success, errors};
use latchkey::http::{Caller, Json, Routes};
use latchkey::services::inboxes::{
    self, ConfirmedInbox, FORM_PATH, InboxSummary, NewInbox, Owner, PendingInbox,
};
use latchkey::services::workspaces;
use latchkey::{AppState, Error, Result};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::routes;

use crate::form::{FormView, ImapFormBody};

/// Every route this group serves, each declared once (see `latchkey::http::routes`).
pub fn routes() -> Routes {
    Routes::new()
        .declare(routes!(create_auth_url))
        .declare(routes!(create_auth_tokens))
        .declare(routes!(confirm_auth, confirm_auth_link))
        .declare(routes!(imap_form, imap_form_post))
        .declare(routes!(google_callback))
        .declare(routes!(list_inboxes))
        .declare(routes!(delete_inbox))
}

pub fn router(state: AppState) -> Router {
    routes().router(state)
}

/// The workspace the caller acts for: its token's, if the caller is still a member.
async fn owner(state: &AppState, caller: &Caller) -> Result<Owner> {
    let member = workspaces::require_token_workspace(state, &caller.claims).await?;
    Ok(Owner {
        workspace_id: member.workspace_id,
        user_id: caller.user_id().to_owned(),
    })
}

const INBOX_UNAUTHORIZED: &str = "`authentication_required`: no credentials were presented. \
    `invalid_token`: the credentials are malformed, expired, forged, or their session has ended, \
    or the holder is no longer a member of the token's workspace.";

const INBOX_FORBIDDEN: &str = "`forbidden`: the token names no workspace. `insufficient_scope`: \
    an API key whose scopes do not allow the method. `csrf_failed`: a cookie-authenticated write \
    without a valid `X-CSRF-Token`.";

#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"human_user_id": "user-42", "provider": "imap",
    "email_address": "ada@example.com"}))]
struct AuthUrlBody {
    /// The platform's own name for its end user (1 to 256 characters).
    human_user_id: String,
    provider: Provider,
    #[serde(default)]
    email_address: Option<String>,
    /// Where to send the person afterwards; kept only when on the allow-list.
    #[serde(default)]
    redirect_uri: Option<String>,
    /// Google scopes instead of the default mail scopes.
    #[serde(default)]
    scopes: Option<Vec<String>>,
}

#[derive(Serialize, ToSchema)]
struct AuthUrl {
    /// The Google consent URL, or the hosted IMAP form's URL.
    authorization_url: String,
    provider: Provider,
    state: String,
}

/// `POST /human/v0/auth/url`: the page a human opens to connect a mailbox.
#[utoipa::path(post, path = "/human/v0/auth/url", operation_id = "createInboxAuthUrl",
    tag = "inboxes", summary = "The URL a human opens to connect a mailbox",
    description = "`imap`: the hosted IMAP/SMTP credential form (its `state` lives 30 minutes). \
        `google_oauth`: Google's consent URL (PKCE S256, offline access, a fresh consent so a \
        refresh token comes back; the state lives 10 minutes) with the scopes \
        `https://mail.google.com/ openid email`, or `scopes` plus `openid email`; Google sends \
        the person back to `/human/v0/auth/callback`. `404 not_found` while Google is not \
        configured (`LATCHKEY_GOOGLE_CLIENT_ID`).",
    request_body = AuthUrlBody,
    security(("bearerAuth" = []), ("apiKeyHeader" = []), ("cookieAuth" = [], "csrfToken" = [])),
    responses(
        (status = 200, description = "The URL and its state.", body = AuthUrl),
        (status = 400, description = errors::BAD_REQUEST, body = ErrorResponse),
        (status = 401, description = INBOX_UNAUTHORIZED, body = ErrorResponse),
        (status = 403, description = INBOX_FORBIDDEN, body = ErrorResponse),
        (status = 404, description = "`not_found`: Google is not configured.", body = ErrorResponse),
        (status = 413, description = errors::TOO_LARGE, body = ErrorResponse),
        (status = 502, description = "`provider_unavailable`: Google's discovery document could \
            not be read.", body = ErrorResponse),
        (status = 415, description = errors::UNSUPPORTED, body = ErrorResponse),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ))]
async fn create_auth_url(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<AuthUrlBody>,
) -> Result<Json<AuthUrl>> {
    inboxes::validate_human_user_id(&body.human_user_id)?;
    let email = body
        .email_address
        .as_deref()
        .map(|raw| EmailAddress::parse_field(raw, "email_address"))
        .transpose()?;
    let owner = owner(&state, &caller).await?;
    match body.provider {
        Provider::Imap => {
            let (authorization_url, form_state) = inboxes::begin_form(
                &state,
                &owner,
                &body.human_user_id,
                email.as_ref(),
                body.redirect_uri.as_deref(),
            )
            .await?;
            Ok(Json(AuthUrl {
                authorization_url,
                provider: Provider::Imap,
                state: form_state,
            }))
        }
        Provider::GoogleOauth => {
            let (authorization_url, flow_state) = inboxes::begin_google(
                &state,
                &owner,
                &body.human_user_id,
                email.as_ref(),
                body.redirect_uri.as_deref(),
                body.scopes.as_deref(),
            )
            .await?;
            Ok(Json(AuthUrl {
                authorization_url,
                provider: Provider::GoogleOauth,
                state: flow_state,
            }))
        }
    }
}

/// One mail server as seed 000 types it.
#[derive(Deserialize, ToSchema)]
struct ServerBody {
    host: String,
    /// 1 to 65535.
    #[schema(minimum = 1, maximum = 65535)]
    port: u16,
    /// TLS from the first byte; otherwise STARTTLS where the server offers it. Left out: `true`
    /// on ports 993 and 465.
    #[serde(default)]
    secure: Option<bool>,
    username: String,
    #[schema(format = Password)]
    password: String,
}

impl ServerBody {
    fn into_settings(self) -> ServerSettings {
        ServerSettings {
            secure: self.secure.unwrap_or(matches!(self.port, 993 | 465)),
            host: self.host.trim().to_owned(),
            port: self.port,
            username: self.username,
            password: self.password,
        }
    }
}

#[derive(Deserialize, ToSchema)]
struct OauthBody {
    access_token: String,
    #[serde(default)]
    refresh_token: Option<String>,
    /// RFC 3339.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    expires_at: Option<OffsetDateTime>,
}

#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"human_user_id": "user-42", "provider": "imap",
    "email_address": "ada@example.com",
    "imap": {"host": "imap.example.com", "port": 993, "secure": true, "username": "ada@example.com", "password": "app-password"},
    "smtp": {"host": "smtp.example.com", "port": 465, "secure": true, "username": "ada@example.com", "password": "app-password"}}))]
struct TokensBody {
    human_user_id: String,
    provider: Provider,
    email_address: String,
    /// Where the emailed link sends the person after confirming; kept only when on the
    /// allow-list.
    #[serde(default)]
    confirmation_redirect_url: Option<String>,
    #[serde(default)]
    enable_deep_backfill: Option<bool>,
    #[serde(default)]
    enable_semantic_search: Option<bool>,
    /// Required with `provider: imap`.
    #[serde(default)]
    imap: Option<ServerBody>,
    /// Required with `provider: imap`.
    #[serde(default)]
    smtp: Option<ServerBody>,
    /// Required with `provider: google_oauth`.
    #[serde(default)]
    oauth: Option<OauthBody>,
}

/// `POST /human/v0/auth/tokens`: connect an inbox with credentials; a confirmation mail goes out.
#[utoipa::path(post, path = "/human/v0/auth/tokens", operation_id = "createInboxAuthTokens",
    tag = "inboxes", summary = "Connect an inbox with IMAP/SMTP credentials or Google tokens",
    description = "`imap`: the IMAP and SMTP logins are tried first (TLS when `secure`, STARTTLS \
        otherwise where offered; a few seconds at most); nothing is stored when either fails. \
        Passwords and tokens are stored encrypted. The inbox is `pending_confirmation` until the \
        emailed link or token confirms it (24 hours, once).",
    request_body = TokensBody,
    security(("bearerAuth" = []), ("apiKeyHeader" = []), ("cookieAuth" = [], "csrfToken" = [])),
    responses(
        (status = 200, description = "Stored, pending its confirmation.", body = PendingInbox),
        (status = 400, description = "`invalid_request`: a malformed or missing field (`field` \
            names it, e.g. `imap.port`). `invalid_inbox_credentials`: the IMAP or SMTP server \
            refused the login (`field`: `imap` or `smtp`). `inbox_unreachable`: a server did not \
            answer in time, refused the connection or offered no trusted TLS (`field` likewise).",
            body = ErrorResponse),
        (status = 401, description = INBOX_UNAUTHORIZED, body = ErrorResponse),
        (status = 403, description = INBOX_FORBIDDEN, body = ErrorResponse),
        (status = 413, description = errors::TOO_LARGE, body = ErrorResponse),
        (status = 415, description = errors::UNSUPPORTED, body = ErrorResponse),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ))]
async fn create_auth_tokens(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<TokensBody>,
) -> Result<Json<PendingInbox>> {
    inboxes::validate_human_user_id(&body.human_user_id)?;
    let email = EmailAddress::parse_field(&body.email_address, "email_address")?;
    let new = NewInbox {
        human_user_id: body.human_user_id,
        email,
        confirmation_redirect_url: body.confirmation_redirect_url,
        enable_deep_backfill: body.enable_deep_backfill.unwrap_or(false),
        enable_semantic_search: body.enable_semantic_search.unwrap_or(false),
    };
    let pending = match body.provider {
        Provider::Imap => {
            let imap = body
                .imap
                .ok_or_else(|| Error::invalid_field("imap", "is required with provider imap"))?
                .into_settings();
            let smtp = body
                .smtp
                .ok_or_else(|| Error::invalid_field("smtp", "is required with provider imap"))?
                .into_settings();
            inboxes::validate_server("imap", &imap)?;
            inboxes::validate_server("smtp", &smtp)?;
            let owner = owner(&state, &caller).await?;
            inboxes::connect_imap(&state, &owner, new, imap, smtp).await?
        }
        Provider::GoogleOauth => {
            let oauth = body.oauth.ok_or_else(|| {
                Error::invalid_field("oauth", "is required with provider google_oauth")
            })?;
            if oauth.access_token.trim().is_empty() {
                return Err(Error::invalid_field("oauth.access_token", "is required"));
            }
            let owner = owner(&state, &caller).await?;
            let credentials = Credentials::GoogleOauth {
                oauth: OauthTokens {
                    access_token: oauth.access_token,
                    refresh_token: oauth.refresh_token.filter(|token| !token.is_empty()),
                    expires_at: oauth.expires_at.map(OffsetDateTime::unix_timestamp),
                    scope: None,
                },
            };
            inboxes::create_pending(&state, &owner, new, credentials).await?
        }
    };
    Ok(Json(pending))
}

#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"confirmation_token": "<from the email>", "inbox_id": "6f9619ff-8b86-4011-b42d-00c04fc964ff"}))]
struct ConfirmBody {
    confirmation_token: String,
    inbox_id: String,
}

/// `POST /human/v0/auth/confirm`: the platform confirms with the token the human gave it.
#[utoipa::path(post, path = "/human/v0/auth/confirm", operation_id = "confirmInboxAuth",
    tag = "inboxes", summary = "Confirm an inbox with its emailed token",
    description = "The token works once, within 24 hours of the mail; the inbox turns `active`.",
    request_body = ConfirmBody,
    security(("bearerAuth" = []), ("apiKeyHeader" = []), ("cookieAuth" = [], "csrfToken" = [])),
    responses(
        (status = 200, description = "The inbox is active.", body = ConfirmedInbox),
        (status = 400, description = "`invalid_request`: a missing field. `invalid_token`: the \
            token is unknown, already used or expired.", body = ErrorResponse),
        (status = 401, description = INBOX_UNAUTHORIZED, body = ErrorResponse),
        (status = 403, description = INBOX_FORBIDDEN, body = ErrorResponse),
        (status = 404, description = "`not_found`: no such inbox in the caller's workspace.",
            body = ErrorResponse),
        (status = 413, description = errors::TOO_LARGE, body = ErrorResponse),
        (status = 415, description = errors::UNSUPPORTED, body = ErrorResponse),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ))]
async fn confirm_auth(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<ConfirmBody>,
) -> Result<Json<ConfirmedInbox>> {
    let owner = owner(&state, &caller).await?;
    Ok(Json(
        inboxes::confirm(
            &state,
            InboxId::parse(&body.inbox_id).as_ref(),
            &body.confirmation_token,
            Some(&owner.workspace_id),
        )
        .await?,
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ConfirmQuery {
    /// The token from the email.
    #[serde(default)]
    confirmation_token: Option<String>,
    #[serde(default)]
    inbox_id: Option<String>,
}

/// An empty JSON object: seed 000's answer to the emailed confirmation link.
#[derive(Serialize, ToSchema)]
struct Empty {}

/// `GET /human/v0/auth/confirm`: the emailed link; no caller needed, the token is the proof.
#[utoipa::path(get, path = "/human/v0/auth/confirm", operation_id = "confirmInboxAuthLink",
    tag = "inboxes", summary = "The emailed confirmation link",
    description = "Confirms the inbox like the POST, without a caller. Answers `{}`, or `302` to \
        the `confirmation_redirect_url` given when the inbox was connected (when it was on the \
        allow-list), with `inbox_id` and `status` added to its query.",
    params(ConfirmQuery),
    responses(
        (status = 200, description = "The inbox is active.", body = Empty),
        (status = 302, description = "The inbox is active; on to the platform's page.",
            headers(("Location" = String, description = "The confirmation redirect."))),
        (status = 400, description = "`invalid_request`: a missing parameter. `invalid_token`: \
            the token is unknown, already used or expired.", body = ErrorResponse),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ))]
async fn confirm_auth_link(
    State(state): State<AppState>,
    Query(query): Query<ConfirmQuery>,
) -> Result<Response> {
    let token = query
        .confirmation_token
        .filter(|token| !token.trim().is_empty())
        .ok_or_else(|| Error::invalid_field("confirmation_token", "is required"))?;
    let inbox_id = query
        .inbox_id
        .filter(|id| !id.trim().is_empty())
        .ok_or_else(|| Error::invalid_field("inbox_id", "is required"))?;
    let confirmed =
        inboxes::confirm(&state, InboxId::parse(&inbox_id).as_ref(), &token, None).await?;
    Ok(match &confirmed.redirect {
        Some(redirect) => redirect_to(&with_query(
            redirect,
            &[("inbox_id", &confirmed.inbox_id), ("status", "active")],
        )),
        None => Json(Empty {}).into_response(),
    })
}

/// `base` with URL-safe `pairs` added to its query (before any fragment).
fn with_query(base: &str, pairs: &[(&str, &str)]) -> String {
    let (head, fragment) = match base.split_once('#') {
        Some((head, fragment)) => (head, Some(fragment)),
        None => (base, None),
    };
    let mut url = head.to_owned();
    for (name, value) in pairs {
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(name);
        url.push('=');
        url.push_str(value);
    }
    if let Some(fragment) = fragment {
        url.push('#');
        url.push_str(fragment);
    }
    url
}

fn redirect_to(location: &str) -> Response {
    let mut response = StatusCode::FOUND.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct FormQuery {
    /// The `state` from `POST /human/v0/auth/url`.
    #[serde(default)]
    state: Option<String>,
}

/// `GET /human/v0/auth/imap`: the hosted IMAP/SMTP credential form.
#[utoipa::path(get, path = "/human/v0/auth/imap", operation_id = "imapForm", tag = "inboxes",
    summary = "The hosted IMAP/SMTP credential form",
    description = "An HTML page (no script needed) for the human to type their mail settings, \
        opened at the `authorization_url` that `POST /human/v0/auth/url` with `provider: imap` \
        answered.",
    params(FormQuery),
    responses(
        (status = 200, description = "The form.", content_type = "text/html", body = String),
        (status = 400, description = "The link is unknown, used or expired (an HTML page).",
            content_type = "text/html", body = String),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ))]
async fn imap_form(
    State(state): State<AppState>,
    Query(query): Query<FormQuery>,
) -> Result<Response> {
    let product = state.config.product_name.clone();
    let Some(form_state) = query.state.filter(|s| !s.trim().is_empty()) else {
        return Ok(form::render_gone(&product, StatusCode::BAD_REQUEST, GONE));
    };
    let flow = match inboxes::form_flow(&state, &form_state).await {
        Ok(flow) => flow,
        Err(error) if error.code == ErrorCode::InvalidLink => {
            return Ok(form::render_gone(&product, StatusCode::BAD_REQUEST, GONE));
        }
        Err(error) => return Err(error),
    };
    let csrf_token = form::csrf_token(&state, &form_state).await?;
    let values = ImapFormBody {
        email_address: flow.email_address.unwrap_or_default(),
        ..ImapFormBody::default()
    };
    Ok(form::render_form(
        FormView {
            product_name: &product,
            action: FORM_PATH,
            state: &form_state,
            csrf_token: &csrf_token,
            values: &values,
            errors: BTreeMap::new(),
            banner: None,
        },
        StatusCode::OK,
    ))
}

const GONE: &str = "This link to connect a mailbox is unknown, already used or expired. Ask the \
    app that sent you here for a new one.";

/// `POST /human/v0/auth/imap`: the form posted; does what `/auth/tokens` does.
#[utoipa::path(post, path = "/human/v0/auth/imap", operation_id = "imapFormPost",
    tag = "inboxes", summary = "Post the hosted IMAP/SMTP form",
    description = "Checks the CSRF token, then tries both logins; on success the inbox is stored \
        pending and the confirmation step is shown (the confirmation mail is sent). Problems are \
        shown next to their field, with status 400.",
    request_body(content = ImapFormBody, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The confirmation step.", content_type = "text/html",
            body = String),
        (status = 400, description = "The form again with its errors, or the link is unknown, \
            used or expired (HTML pages).", content_type = "text/html", body = String),
        (status = 403, description = "The post carried no valid CSRF token (an HTML page).",
            content_type = "text/html", body = String),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ))]
async fn imap_form_post(
    State(state): State<AppState>,
    Form(body): Form<ImapFormBody>,
) -> Result<Response> {
    let product = state.config.product_name.clone();
    if body.state.trim().is_empty() {
        return Ok(form::render_gone(&product, StatusCode::BAD_REQUEST, GONE));
    }
    if !form::csrf_matches(&state, &body.state, body.csrf_token.trim()).await? {
        return Ok(form::render_gone(
            &product,
            StatusCode::FORBIDDEN,
            "This form was not sent from the page we showed you. Open the link you were given \
             again and fill in the form there.",
        ));
    }
    if let Err(error) = inboxes::form_flow(&state, &body.state).await {
        if error.code == ErrorCode::InvalidLink {
            return Ok(form::render_gone(&product, StatusCode::BAD_REQUEST, GONE));
        }
        return Err(error);
    }
    let mut errors = BTreeMap::new();
    let email = match EmailAddress::parse(&body.email_address) {
        Ok(email) => Some(email),
        Err(_) => {
            errors.insert(
                "email_address".to_owned(),
                "Enter an email address.".to_owned(),
            );
            None
        }
    };
    let imap = form_server(&body, "imap", &mut errors);
    let smtp = form_server(&body, "smtp", &mut errors);
    let (Some(email), Some(imap), Some(smtp), true) = (email, imap, smtp, errors.is_empty()) else {
        let banner = "Please correct the fields marked below.";
        return reshow(&state, &body, errors, banner).await;
    };
    match inboxes::finish_form(&state, &body.state, email, imap, smtp).await {
        Ok((pending, redirect)) => Ok(form::render_sent(
            &product,
            &pending.email_address,
            &lifetime_in_words(CONFIRMATION_TTL_SECONDS as u64),
            redirect.as_deref(),
        )),
        Err(error) => {
            let server = error
                .extra
                .get("field")
                .and_then(|v| v.as_str())
                .unwrap_or("");
            let name = if server == "smtp" { "SMTP" } else { "IMAP" };
            let mut errors = BTreeMap::new();
            match error.code {
                ErrorCode::InvalidInboxCredentials => {
                    errors.insert(
                        format!("{server}_password"),
                        format!("The {name} server refused this username or password."),
                    );
                }
                ErrorCode::InboxUnreachable => {
                    errors.insert(
                        format!("{server}_host"),
                        format!(
                            "The {name} server could not be reached with a trusted connection. \
                             Check the server, port and TLS setting."
                        ),
                    );
                }
                ErrorCode::InvalidLink => {
                    return Ok(form::render_gone(&product, StatusCode::BAD_REQUEST, GONE));
                }
                _ => return Err(error),
            }
            reshow(
                &state,
                &body,
                errors,
                "We could not connect with these settings.",
            )
            .await
        }
    }
}

/// The form again, as posted (passwords left out), with its errors; status 400.
async fn reshow(
    state: &AppState,
    body: &ImapFormBody,
    errors: BTreeMap<String, String>,
    banner: &str,
) -> Result<Response> {
    let csrf_token = form::csrf_token(state, &body.state).await?;
    Ok(form::render_form(
        FormView {
            product_name: &state.config.product_name,
            action: FORM_PATH,
            state: &body.state,
            csrf_token: &csrf_token,
            values: body,
            errors,
            banner: Some(banner.to_owned()),
        },
        StatusCode::BAD_REQUEST,
    ))
}

/// One server's settings from the form, or its problems recorded by field name.
fn form_server(
    body: &ImapFormBody,
    prefix: &str,
    errors: &mut BTreeMap<String, String>,
) -> Option<ServerSettings> {
    let (host, port, secure, username, password) = match prefix {
        "imap" => (
            &body.imap_host,
            &body.imap_port,
            &body.imap_secure,
            &body.imap_username,
            &body.imap_password,
        ),
        _ => (
            &body.smtp_host,
            &body.smtp_port,
            &body.smtp_secure,
            &body.smtp_username,
            &body.smtp_password,
        ),
    };
    let before = errors.len();
    let port = match port.trim().parse::<u16>() {
        Ok(port) if port > 0 => port,
        _ => {
            errors.insert(
                format!("{prefix}_port"),
                "Enter a port from 1 to 65535.".into(),
            );
            0
        }
    };
    let settings = ServerSettings {
        host: host.trim().to_owned(),
        port: port.max(1),
        secure: secure == "on",
        username: username.trim().to_owned(),
        password: password.clone(),
    };
    if let Err((field, _)) = latchkey::domain::inboxes::check_server(&settings) {
        let message = match field {
            "host" => "Enter the server's host name.",
            "username" => "Enter the username.",
            "password" => "Enter the password.",
            _ => "Enter a port from 1 to 65535.",
        };
        errors
            .entry(format!("{prefix}_{field}"))
            .or_insert_with(|| message.to_owned());
    }
    // Every missing field, not only the first.
    for (field, value, message) in [
        ("host", &settings.host, "Enter the server's host name."),
        ("username", &settings.username, "Enter the username."),
        ("password", &settings.password, "Enter the password."),
    ] {
        if value.is_empty() {
            errors
                .entry(format!("{prefix}_{field}"))
                .or_insert_with(|| message.to_owned());
        }
    }
    (errors.len() == before).then_some(settings)
}

#[derive(Serialize, ToSchema)]
struct InboxList {
    inboxes: Vec<InboxSummary>,
}

/// `GET /human/v0/inboxes`: the inboxes of the caller's workspace.
#[utoipa::path(get, path = "/human/v0/inboxes", operation_id = "listInboxes", tag = "inboxes",
    summary = "The caller's workspace's inboxes",
    security(("bearerAuth" = []), ("apiKeyHeader" = []), ("cookieAuth" = [])),
    responses(
        (status = 200, description = "Oldest first; never a credential.", body = InboxList),
        (status = 401, description = INBOX_UNAUTHORIZED, body = ErrorResponse),
        (status = 403, description = INBOX_FORBIDDEN, body = ErrorResponse),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ))]
async fn list_inboxes(State(state): State<AppState>, caller: Caller) -> Result<Json<InboxList>> {
    let owner = owner(&state, &caller).await?;
    Ok(Json(InboxList {
        inboxes: inboxes::list(&state, &owner.workspace_id).await?,
    }))
}

/// `DELETE /human/v0/inboxes/{inbox_id}`: the inbox and its stored credentials go.
#[utoipa::path(delete, path = "/human/v0/inboxes/{inbox_id}", operation_id = "deleteInbox",
    tag = "inboxes", summary = "Delete an inbox and its credentials",
    params(("inbox_id" = String, Path, description = "An inbox id from the listing.")),
    security(("bearerAuth" = []), ("apiKeyHeader" = []), ("cookieAuth" = [], "csrfToken" = [])),
    responses(
        (status = 200, description = "Deleted.", body = Success),
        (status = 401, description = INBOX_UNAUTHORIZED, body = ErrorResponse),
        (status = 403, description = INBOX_FORBIDDEN, body = ErrorResponse),
        (status = 404, description = "`not_found`: no such inbox in the caller's workspace.",
            body = ErrorResponse),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ))]
async fn delete_inbox(
    State(state): State<AppState>,
    caller: Caller,
    Path(inbox_id): Path<String>,
) -> Result<Json<Success>> {
    let owner = owner(&state, &caller).await?;
    let inbox_id = InboxId::parse(&inbox_id).ok_or(inboxes::InboxError::NotFound)?;
    inboxes::delete(&state, &owner.workspace_id, &inbox_id).await?;
    Ok(Json(Success::new()))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct CallbackQuery {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    state: Option<String>,
    /// Google's refusal (`access_denied` when the person declined).
    #[serde(default)]
    error: Option<String>,
}

/// `GET /human/v0/auth/callback`: Google sends the person back here after consent.
#[utoipa::path(get, path = "/human/v0/auth/callback", operation_id = "googleInboxCallback",
    tag = "inboxes", summary = "Google's redirect back after consent",
    description = "Takes the flow's state (once, within 10 minutes), exchanges the code with its \
        PKCE verifier, verifies the ID token (the address must be verified by Google) and stores \
        the Gmail tokens encrypted: the inbox is `active` at once (Google proved the address). \
        Then `302` to the `redirect_uri` given at `/human/v0/auth/url` (when on the allow-list) \
        with `inbox_id` and `status` added to its query, or `200` with the inbox.",
    params(CallbackQuery),
    responses(
        (status = 200, description = "The inbox is active.", body = ConfirmedInbox),
        (status = 302, description = "The inbox is active; on to the platform's page.",
            headers(("Location" = String, description = "The redirect_uri with inbox_id and status."))),
        (status = 400, description = "`invalid_request`: no `code` (or Google's `error`). \
            `invalid_oauth_state`: the state is missing, unknown, used or expired. \
            `oauth_refused`: Google refused the code.", body = ErrorResponse),
        (status = 401, description = "`invalid_id_token`: the ID token failed a check, or Google \
            did not vouch for the address.", body = ErrorResponse),
        (status = 404, description = "`not_found`: Google is not configured.", body = ErrorResponse),
        (status = 502, description = "`provider_unavailable`: Google could not be reached.",
            body = ErrorResponse),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ))]
async fn google_callback(
    State(state): State<AppState>,
    Query(query): Query<CallbackQuery>,
) -> Result<Response> {
    let state_param = query.state.unwrap_or_default();
    let Some(code) = query.code.filter(|code| !code.is_empty()) else {
        let problem = match query.error.as_deref() {
            Some("access_denied") => "the person declined the consent",
            Some(_) => "Google answered an error instead of a code",
            None => "is required",
        };
        return Err(Error::invalid_field("code", problem));
    };
    let (inbox, redirect) = inboxes::finish_google(&state, &code, &state_param).await?;
    Ok(match redirect {
        Some(redirect) => redirect_to(&with_query(
            &redirect,
            &[("inbox_id", &inbox.inbox_id), ("status", "active")],
        )),
        None => Json(inbox).into_response(),
    })
}
