//! The `oauth` endpoint group: social login with Google, GitHub and any OIDC provider, linking
//! a provider to the signed-in account, listing and unlinking. HTTP glue only; the rules live in
//! `latchkey::services::social` (the flow itself in `services::oauth_flow`).
//!
//! Decisions API.md leaves open:
//! - A callback that signs in answers like the other sign-in links: `302` to the allow-listed
//!   `redirect_to` with the token cookies (the tokens travel in the cookies only), else `200`
//!   AuthResponse; with MFA on, the MFA step as `200` JSON whatever the redirect.
//! - A callback that links answers `302` to `redirect_to`, else `200 {"success": true,
//!   "identity": {...}}`; it does not sign in or change the caller's session.
//! - A provider's error (`error=access_denied`) spends the state and answers `400
//!   oauth_refused`, or `302` to `redirect_to` with `error=<the provider's code>` when the flow
//!   had one. Any other refusal is answered in the error shape: `400 invalid_oauth_state`, `401
//!   invalid_id_token`, `409 account_exists` / `identity_taken`, `502 provider_unavailable`.
//! - `DELETE /auth/identities/{provider}` removes every identity the caller has at that
//!   provider; none there is `404`.
//! - A flow is bound to the browser that began it: `/login` and `/link` set a short-lived
//!   `oauth_flow` cookie (`HttpOnly; Secure; SameSite=Lax`) holding the SHA-256 of the flow's
//!   `state`, and a callback with a code is refused (`400 invalid_oauth_state`, the flow left
//!   for its own browser) unless that cookie names its state. Without it, anyone could begin a
//!   flow and have someone else's browser finish it: signing them in to the attacker's account
//!   (login CSRF) or, with `/link`, linking their provider identity to the attacker's account.

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use latchkey::domain::sessions::SessionContext;
use latchkey::error::ErrorCode;
use latchkey::http::answers::{ErrorResponse, SuccessMessage, always_true, errors};
use latchkey::http::{Caller, Client, Json, Routes, alias, cookies};
use latchkey::services::email_links::allowed_redirect;
use latchkey::services::mfa::{MfaChallenge, SignInOutcome};
use latchkey::services::oauth_flow::{self, FLOW_TTL_SECONDS};
use latchkey::services::sessions::AuthResponse;
use latchkey::services::social::{self, CallbackOutcome, FlowPayload, IdentityView, Provider};
use latchkey::{AppState, Error, Result};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::routes;

/// Every route this group serves, each declared once; the seed 001 paths for Google are their
/// own handlers (the provider is in the path, not a parameter).
pub fn routes() -> Routes {
    Routes::new()
        .declare_aliased(
            routes!(login),
            &[alias("/auth/{provider}/authorize", "authorizeWithProvider")],
        )
        .declare(routes!(google_login))
        .declare(routes!(callback))
        .declare(routes!(google_callback))
        .declare(routes!(link))
        .declare(routes!(list_identities))
        .declare(routes!(unlink))
}

pub fn router(state: AppState) -> Router {
    routes().router(state)
}

/// Where the seed 001 Google flow begins and returns.
const GOOGLE_ALIAS_CALLBACK: &str = "/users/auth/google/callback";

#[derive(Deserialize)]
struct BeginQuery {
    redirect_to: Option<String>,
}

#[derive(Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

fn query<T>(query: Result<Query<T>, QueryRejection>) -> Result<T> {
    query
        .map(|Query(q)| q)
        .map_err(|_| Error::bad_request("The query string could not be read"))
}

fn temporary_redirect(location: &str) -> Result<Response> {
    let location = HeaderValue::from_str(location)
        .map_err(|_| Error::internal("an authorization URL is not a header value"))?;
    Ok((
        StatusCode::TEMPORARY_REDIRECT,
        [(header::LOCATION, location)],
    )
        .into_response())
}

async fn begin(
    state: &AppState,
    provider: &str,
    link_user: Option<String>,
    redirect_to: Option<String>,
    callback_path: String,
) -> Result<Response> {
    let provider = social::provider(state, provider)?;
    let payload = FlowPayload {
        link_user,
        redirect_to: allowed_redirect(&state.config, redirect_to.as_deref()),
        redirect_uri: format!("{}{callback_path}", state.config.public_url),
    };
    let started = social::begin(state, provider, payload).await?;
    let response = temporary_redirect(&started.authorization_url)?;
    let binding = cookies::set_lax_cookie(
        &cookies::name(&state.config, FLOW_COOKIE),
        &oauth_flow::hash_state(&started.state),
        FLOW_TTL_SECONDS,
    );
    Ok(cookies::with_cookie(response, binding))
}

/// The cookie that binds a flow to the browser that began it (module header).
const FLOW_COOKIE: &str = "oauth_flow";

/// Refuses a callback whose browser did not begin the flow its `state` names. Checked before the
/// flow is consumed, so a forged callback does not spend the rightful browser's flow.
fn require_flow_cookie(state: &AppState, headers: &HeaderMap, state_param: &str) -> Result<()> {
    let held = cookies::read(headers, &cookies::name(&state.config, FLOW_COOKIE));
    if held.is_some_and(|held| held == oauth_flow::hash_state(state_param)) {
        return Ok(());
    }
    tracing::warn!(
        event = "oauth_flow_unbound",
        "an OAuth callback came from a browser that did not begin its flow"
    );
    Err(Error::new(
        ErrorCode::InvalidOAuthState,
        "This sign-in was not started in this browser; start it again",
    ))
}

const PROVIDER_PARAM: &str = "`google`, `github`, or the name of an OIDC provider in \
    `LATCHKEY_OIDC_PROVIDERS`. An unknown or disabled provider answers `404`.";
const BEGIN_OK: &str = "To the provider's consent page, with `state`, PKCE S256 \
    (`code_challenge`) and, for OIDC providers, a `nonce`. The flow lives 10 minutes and is \
    consumed once, by a callback from this browser: the answer sets the `oauth_flow` cookie \
    (`SameSite=Lax`) that binds the flow to it.";

/// `GET /auth/{provider}/login`: send the browser to the provider.
#[utoipa::path(get, path = "/auth/{provider}/login", operation_id = "loginWithProvider",
    tag = "oauth", summary = "Sign in with a provider: redirect to its consent page",
    params(
        ("provider" = String, Path, description = PROVIDER_PARAM),
        ("redirect_to" = Option<String>, Query, description = "Where the browser goes after \
            the callback; only an exact entry of `LATCHKEY_REDIRECT_ALLOW_LIST`, else ignored."),
    ),
    responses(
        (status = 307, description = BEGIN_OK,
            headers(("Location" = String, description = "The provider's authorization URL."))),
        (status = 404, description = "`not_found`: no such provider, or it is not enabled.",
            body = ErrorResponse),
        (status = 502, description = "`provider_unavailable`: the provider's discovery \
            document could not be read.", body = ErrorResponse),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ))]
async fn login(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    q: Result<Query<BeginQuery>, QueryRejection>,
) -> Result<Response> {
    let q = query(q)?;
    let callback = format!("/auth/{provider}/callback");
    begin(&state, &provider, None, q.redirect_to, callback).await
}

/// `GET /users/auth/google` (seed 001): the Google sign-in, returning to
/// `/users/auth/google/callback`.
#[utoipa::path(get, path = "/users/auth/google", operation_id = "loginWithGoogleSeed001",
    tag = "oauth", summary = "Sign in with Google (seed 001 path)",
    params(("redirect_to" = Option<String>, Query, description = "As for \
        `/auth/{provider}/login`.")),
    responses(
        (status = 307, description = BEGIN_OK,
            headers(("Location" = String, description = "Google's authorization URL."))),
        (status = 404, description = "`not_found`: Google sign-in is not enabled.",
            body = ErrorResponse),
        (status = 502, description = "`provider_unavailable`: Google's discovery document \
            could not be read.", body = ErrorResponse),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ),
    extensions(("x-alias-of" = json!("loginWithProvider"))))]
async fn google_login(
    State(state): State<AppState>,
    q: Result<Query<BeginQuery>, QueryRejection>,
) -> Result<Response> {
    let q = query(q)?;
    begin(
        &state,
        "google",
        None,
        q.redirect_to,
        GOOGLE_ALIAS_CALLBACK.into(),
    )
    .await
}

/// `GET /auth/{provider}/link`: link a provider to the signed-in caller.
#[utoipa::path(get, path = "/auth/{provider}/link", operation_id = "linkProvider",
    tag = "oauth", summary = "Link a provider to the signed-in account",
    description = "Redirects to the provider like `/login`; its callback links the identity \
        to the caller instead of signing in.",
    params(
        ("provider" = String, Path, description = PROVIDER_PARAM),
        ("redirect_to" = Option<String>, Query, description = "As for `/login`."),
    ),
    security(("bearerAuth" = []), ("cookieAuth" = [])),
    responses(
        (status = 307, description = BEGIN_OK,
            headers(("Location" = String, description = "The provider's authorization URL."))),
        (status = 401, description = errors::UNAUTHORIZED, body = ErrorResponse),
        (status = 403, description = errors::PERSON_ONLY, body = ErrorResponse),
        (status = 404, description = "`not_found`: no such provider, or it is not enabled.",
            body = ErrorResponse),
        (status = 502, description = "`provider_unavailable`.", body = ErrorResponse),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ))]
async fn link(
    State(state): State<AppState>,
    caller: Caller,
    Path(provider): Path<String>,
    q: Result<Query<BeginQuery>, QueryRejection>,
) -> Result<Response> {
    caller.require_credential_scope()?;
    let q = query(q)?;
    let callback = format!("/auth/{provider}/callback");
    begin(
        &state,
        &provider,
        Some(caller.user_id().to_owned()),
        q.redirect_to,
        callback,
    )
    .await
}

/// What a callback answers with `200`: a sign-in (the AuthResponse or the MFA step), or a link.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // The schema of the document; the handler answers each variant's own type.
enum CallbackAnswer {
    Authenticated(AuthResponse),
    MfaRequired(MfaChallenge),
    Linked(Linked),
}

/// A link made by a callback.
#[derive(Serialize, ToSchema)]
struct Linked {
    #[schema(schema_with = always_true)]
    success: bool,
    identity: IdentityView,
}

const CALLBACK_OK: &str = "Signed in: the AuthResponse (token cookies set when enabled), or \
    the MFA step. For a `/link` flow: `{\"success\": true, \"identity\": {...}}`.";
const CALLBACK_REDIRECT: &str = "To the flow's `redirect_to`: signed in with the token \
    cookies set (the tokens travel in the cookies only), or linked. When the provider answered \
    an error, `error=<its code>` is added to the URL.";
const CALLBACK_400: &str = "`invalid_oauth_state`: the `state` is missing, unknown, used, \
    expired, or from another provider's flow, or this browser did not begin the flow (no \
    `oauth_flow` cookie for it). `oauth_refused`: the provider answered an error \
    (the person denied consent) or refused the code. `invalid_request` with `field`: no `code`, \
    or no usable email address from the provider.";
const CALLBACK_401: &str = "`invalid_id_token`: the provider's ID token fails a check \
    (signature, algorithm, issuer, audience, expiry, issue time, nonce). Nothing is created.";
const CALLBACK_409: &str = "`account_exists`: an account has this email and cannot be linked \
    automatically (the provider or the account has not verified the address); sign in to it \
    and link the provider. `identity_taken`: a `/link` flow for an identity linked to another \
    user.";

/// `GET /auth/{provider}/callback`: where the provider sends the browser back.
#[utoipa::path(get, path = "/auth/{provider}/callback", operation_id = "providerCallback",
    tag = "oauth", summary = "The provider's redirect back: sign in (or link)",
    params(
        ("provider" = String, Path, description = PROVIDER_PARAM),
        ("code" = Option<String>, Query, description = "The authorization code."),
        ("state" = Option<String>, Query, description = "The flow's state, consumed once."),
        ("error" = Option<String>, Query, description = "The provider's error code, instead \
            of a code."),
    ),
    responses(
        (status = 200, description = CALLBACK_OK, body = CallbackAnswer),
        (status = 302, description = CALLBACK_REDIRECT,
            headers(("Location" = String, description = "The allow-listed redirect."))),
        (status = 400, description = CALLBACK_400, body = ErrorResponse),
        (status = 401, description = CALLBACK_401, body = ErrorResponse),
        (status = 404, description = "`not_found`: no such provider, or it is not enabled.",
            body = ErrorResponse),
        (status = 409, description = CALLBACK_409, body = ErrorResponse),
        (status = 502, description = "`provider_unavailable`: the provider could not be \
            reached or answered something unusable.", body = ErrorResponse),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ))]
async fn callback(
    State(state): State<AppState>,
    Client(client): Client,
    Path(provider): Path<String>,
    headers: HeaderMap,
    q: Result<Query<CallbackQuery>, QueryRejection>,
) -> Result<Response> {
    finish(&state, &provider, query(q)?, &headers, &client).await
}

/// `GET /users/auth/google/callback` (seed 001): the callback of `/users/auth/google`.
#[utoipa::path(get, path = "/users/auth/google/callback", operation_id = "googleCallbackSeed001",
    tag = "oauth", summary = "Google's redirect back (seed 001 path)",
    params(
        ("code" = Option<String>, Query, description = "The authorization code."),
        ("state" = Option<String>, Query, description = "The flow's state, consumed once."),
        ("error" = Option<String>, Query, description = "Google's error code, instead of a \
            code."),
    ),
    responses(
        (status = 200, description = CALLBACK_OK, body = CallbackAnswer),
        (status = 302, description = CALLBACK_REDIRECT,
            headers(("Location" = String, description = "The allow-listed redirect."))),
        (status = 400, description = CALLBACK_400, body = ErrorResponse),
        (status = 401, description = CALLBACK_401, body = ErrorResponse),
        (status = 404, description = "`not_found`: Google sign-in is not enabled.",
            body = ErrorResponse),
        (status = 409, description = CALLBACK_409, body = ErrorResponse),
        (status = 502, description = "`provider_unavailable`.", body = ErrorResponse),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ),
    extensions(("x-alias-of" = json!("providerCallback"))))]
async fn google_callback(
    State(state): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    q: Result<Query<CallbackQuery>, QueryRejection>,
) -> Result<Response> {
    finish(&state, "google", query(q)?, &headers, &client).await
}

async fn finish(
    state: &AppState,
    provider_name: &str,
    q: CallbackQuery,
    headers: &HeaderMap,
    client: &SessionContext,
) -> Result<Response> {
    let provider: Provider<'_> = social::provider(state, provider_name)?;
    let state_param = q.state.as_deref().unwrap_or_default();
    if let Some(error) = q.error.filter(|e| !e.trim().is_empty()) {
        return provider_error(state, provider, state_param, &error).await;
    }
    let Some(code) = q.code.filter(|c| !c.trim().is_empty()) else {
        return Err(Error::invalid_field("code", "is required"));
    };
    require_flow_cookie(state, headers, state_param)?;
    let flow = social::consume(state, provider, state_param).await?;
    let answer = completed(state, provider, flow, &code, client).await?;
    // The binding has served: the browser forgets it.
    Ok(cookies::with_cookie(
        answer,
        cookies::clear_cookie(&cookies::name(&state.config, FLOW_COOKIE)),
    ))
}

async fn completed(
    state: &AppState,
    provider: Provider<'_>,
    flow: oauth_flow::Flow<FlowPayload>,
    code: &str,
    client: &SessionContext,
) -> Result<Response> {
    match social::callback(state, provider, flow, code, client).await? {
        CallbackOutcome::SignedIn {
            outcome,
            redirect_to,
        } => signed_in(state, outcome, redirect_to),
        CallbackOutcome::Linked {
            identity,
            redirect_to,
        } => match redirect_to {
            Some(redirect) => found(&redirect),
            None => Ok(Json(Linked {
                success: true,
                identity,
            })
            .into_response()),
        },
    }
}

/// The provider answered an error instead of a code: spend the flow, and tell the client.
async fn provider_error(
    state: &AppState,
    provider: Provider<'_>,
    state_param: &str,
    error: &str,
) -> Result<Response> {
    // Only a short code of safe characters is repeated back.
    let code: String = error
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(64)
        .collect();
    let redirect = match social::consume(state, provider, state_param).await {
        Ok(flow) => flow.payload.redirect_to,
        Err(_) => None,
    };
    match redirect {
        Some(redirect) => found(&social::with_error(&redirect, &code)),
        None => Err(Error::new(
            ErrorCode::OAuthRefused,
            format!("The provider refused the sign-in ({code})"),
        )),
    }
}

fn found(location: &str) -> Result<Response> {
    let location = HeaderValue::from_str(location)
        .map_err(|_| Error::internal("an allow-listed redirect is not a header value"))?;
    Ok((StatusCode::FOUND, [(header::LOCATION, location)]).into_response())
}

fn signed_in(
    state: &AppState,
    outcome: SignInOutcome,
    redirect: Option<String>,
) -> Result<Response> {
    let now = state.clock.unix();
    match (outcome, redirect) {
        (SignInOutcome::Authenticated(body), None) => Ok(cookies::auth_response(
            &state.config,
            now,
            StatusCode::OK,
            body,
        )),
        (SignInOutcome::Authenticated(body), Some(redirect)) => {
            let mut response = cookies::auth_response(&state.config, now, StatusCode::FOUND, body);
            // The tokens travel in the cookies only; the body of a redirect is never read.
            *response.body_mut() = axum::body::Body::empty();
            response.headers_mut().remove(header::CONTENT_TYPE);
            response.headers_mut().remove(header::CONTENT_LENGTH);
            let location = HeaderValue::from_str(&redirect)
                .map_err(|_| Error::internal("an allow-listed redirect is not a header value"))?;
            response.headers_mut().insert(header::LOCATION, location);
            Ok(response)
        }
        // The second factor is answered as JSON whatever the redirect: the client must ask for it.
        (SignInOutcome::MfaRequired(challenge), _) => Ok(Json(challenge).into_response()),
    }
}

/// The caller's linked identities.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"identities": [{"provider": "google", "email": "ada@example.com",
    "linked_at": "2026-11-25T10:00:00Z"}]}))]
struct Identities {
    identities: Vec<IdentityView>,
}

/// `GET /auth/identities`.
#[utoipa::path(get, path = "/auth/identities", operation_id = "listIdentities", tag = "oauth",
    summary = "The caller's linked provider identities",
    security(("bearerAuth" = []), ("apiKeyHeader" = []), ("cookieAuth" = [])),
    responses(
        (status = 200, description = "The linked identities.", body = Identities),
        (status = 401, description = errors::UNAUTHORIZED, body = ErrorResponse),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ))]
async fn list_identities(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Identities>> {
    Ok(Json(Identities {
        identities: social::list(&state, caller.user_id()).await?,
    }))
}

/// `DELETE /auth/identities/{provider}`.
#[utoipa::path(delete, path = "/auth/identities/{provider}", operation_id = "unlinkIdentity",
    tag = "oauth", summary = "Unlink a provider from the caller's account",
    params(("provider" = String, Path, description = "The provider's name, as listed.")),
    security(("bearerAuth" = []), ("cookieAuth" = [], "csrfToken" = [])),
    responses(
        (status = 200, description = "Unlinked.", body = SuccessMessage,
            example = json!({"success": true, "message": "Provider unlinked"})),
        (status = 401, description = errors::UNAUTHORIZED, body = ErrorResponse),
        (status = 403, description = errors::PERSON_ONLY, body = ErrorResponse),
        (status = 404, description = "`not_found`: no identity of this provider is linked.",
            body = ErrorResponse),
        (status = 409, description = "`last_sign_in_method`: it is the account's last way to \
            sign in (no password, passkey or other identity; an emailed link does not count). \
            `conflict`: the account changed at the same time.", body = ErrorResponse),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ))]
async fn unlink(
    State(state): State<AppState>,
    caller: Caller,
    Path(provider): Path<String>,
) -> Result<Json<SuccessMessage>> {
    caller.require_credential_scope()?;
    social::unlink(&state, caller.user_id(), &provider).await?;
    Ok(Json(SuccessMessage::new("Provider unlinked")))
}
