//! Social login and account linking (the oauth group): Google and any OIDC provider (ID token
//! verified by `services::oidc`), GitHub (OAuth 2, the person read from its REST API), over the
//! shared authorization-code flow of `services::oauth_flow`.
//!
//! Rules (API.md, "Social login and account linking"):
//! - An identity is (provider, subject), never an email. A callback for a known identity signs
//!   its user in; for a new one, an account with the same address is linked automatically only
//!   when the provider says the address is verified AND the account's address is verified;
//!   otherwise `409 account_exists` (sign in and link instead) and nothing changes. With no
//!   account for the address, a new OAuth-only account is made (no password, its address
//!   verified when the provider says so, a personal workspace), in one transaction with its
//!   first session.
//! - Linking (`/link`) ties the identity to the signed-in caller, refused with `409
//!   identity_taken` when it belongs to someone else.
//! - Unlinking refuses to remove the last way to sign in: a password, a passkey or another
//!   identity (an emailed link does not count).
//! - Every sign-in ends in the MFA step (`mfa::finish_sign_in`), `amr: ["oauth"]`.
//!
//! Round trips of a callback for a known identity (no MFA), counted in `tests/api/oauth.rs`:
//! the flow consumed (one conditional delete), the identity, the user, the session transaction:
//! 4. A first sign-in: the flow, the identity and the email claim (in parallel), one
//!    transaction creating everything: 3. Discovery and JWKS are fetched once per instance.

use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use crate::adapters::outbound;
use crate::config::{GITHUB_SCOPES, GithubProvider, OidcProvider};
use crate::domain::emails::EmailAddress;
use crate::domain::identities::{self, Identity};
use crate::domain::ids::UserId;
use crate::domain::keys;
use crate::domain::sessions::SessionContext;
use crate::domain::users::{DEFAULT_PLAN, EmailClaim, User, display_name};
use crate::error::ErrorCode;
use crate::ports::{Condition, StoreError, Write};
use crate::services::mfa::{self, SignInOutcome};
use crate::services::oauth_flow::{self, ClientAuth, Endpoints, Flow};
use crate::services::{oidc, sessions, users, workspaces};
use crate::{AppState, Error, Result};

/// The flow purpose of social login and linking (one callback serves both).
pub const FLOW_PURPOSE: &str = "oauth-login";
/// The methods an OAuth sign-in used.
pub const OAUTH_AMR: &[&str] = &["oauth"];

/// A configured provider, by kind.
#[derive(Clone, Copy, Debug)]
pub enum Provider<'a> {
    Oidc(&'a OidcProvider),
    Github(&'a GithubProvider),
}

impl Provider<'_> {
    pub fn name(&self) -> &str {
        match self {
            Self::Oidc(provider) => &provider.name,
            Self::Github(_) => "github",
        }
    }
}

/// The enabled provider of this name; an unknown or disabled one answers `404`.
pub fn provider<'a>(state: &'a AppState, name: &str) -> Result<Provider<'a>> {
    let providers = &state.config.oauth;
    if name == "github"
        && let Some(github) = &providers.github
    {
        return Ok(Provider::Github(github));
    }
    providers
        .oidc(name)
        .map(Provider::Oidc)
        .ok_or_else(|| Error::not_found("No such sign-in provider"))
}

/// What a flow carries from `/login` or `/link` to the callback.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FlowPayload {
    /// Set by `/link`: the signed-in user the identity is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_user: Option<String>,
    /// The allow-listed redirect after the callback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_to: Option<String>,
    /// The redirect URI sent to the provider (the token request must repeat it).
    pub redirect_uri: String,
}

/// The endpoints of a provider, for the shared flow.
async fn endpoints(
    state: &AppState,
    provider: Provider<'_>,
    redirect_uri: &str,
) -> Result<Endpoints> {
    Ok(match provider {
        Provider::Oidc(oidc) => {
            let metadata = oidc::metadata(state, oidc).await?;
            Endpoints {
                provider: oidc.name.clone(),
                authorize_url: metadata.authorization_endpoint.clone(),
                token_url: metadata.token_endpoint.clone(),
                revocation_url: metadata.revocation_endpoint.clone(),
                client_id: oidc.client_id.clone(),
                client_secret: oidc.client_secret.clone(),
                scopes: oidc.scopes.clone(),
                extra_authorize_params: vec![],
                redirect_uri: redirect_uri.to_owned(),
                client_auth: ClientAuth::BasicHeader,
            }
        }
        Provider::Github(github) => Endpoints {
            provider: "github".into(),
            authorize_url: github.authorize_url.clone(),
            token_url: github.token_url.clone(),
            revocation_url: None,
            client_id: github.client_id.clone(),
            client_secret: github.client_secret.clone(),
            scopes: GITHUB_SCOPES.split(' ').map(str::to_owned).collect(),
            extra_authorize_params: vec![],
            redirect_uri: redirect_uri.to_owned(),
            // GitHub documents the client credentials as form parameters.
            client_auth: ClientAuth::RequestBody,
        },
    })
}

/// Begin a sign-in (or, with `link_user`, a link): the provider's authorization URL.
pub async fn begin(
    state: &AppState,
    provider: Provider<'_>,
    payload: FlowPayload,
) -> Result<oauth_flow::Started> {
    let endpoints = endpoints(state, provider, &payload.redirect_uri).await?;
    let oidc = matches!(provider, Provider::Oidc(_));
    Ok(oauth_flow::begin(state, &endpoints, FLOW_PURPOSE, &payload, oidc).await?)
}

/// What a callback ended in.
pub enum CallbackOutcome {
    /// A sign-in: the AuthResponse or the MFA step.
    SignedIn {
        outcome: SignInOutcome,
        redirect_to: Option<String>,
    },
    /// A link made (or already there) for the signed-in user.
    Linked {
        identity: IdentityView,
        redirect_to: Option<String>,
    },
}

/// The person the provider vouches for.
#[derive(Clone, Debug)]
struct Person {
    subject: String,
    email: Option<String>,
    email_verified: bool,
    name: Option<String>,
}

/// Take back the flow a callback's `state` names (once), checking it began for this provider.
pub async fn consume(
    state: &AppState,
    provider: Provider<'_>,
    state_param: &str,
) -> Result<Flow<FlowPayload>> {
    let flow = oauth_flow::consume::<FlowPayload>(state, state_param, FLOW_PURPOSE).await?;
    if flow.provider != provider.name() {
        return Err(oauth_flow::FlowError::InvalidState.into());
    }
    Ok(flow)
}

/// Finish a flow at its callback: exchange the code, learn who the person is, then sign in (or
/// link). Nothing is written when any check fails.
pub async fn callback(
    state: &AppState,
    provider: Provider<'_>,
    flow: Flow<FlowPayload>,
    code: &str,
    context: &SessionContext,
) -> Result<CallbackOutcome> {
    let endpoints = endpoints(state, provider, &flow.payload.redirect_uri).await?;
    let tokens = oauth_flow::exchange(&endpoints, code, &flow).await?;
    let person = match provider {
        Provider::Oidc(oidc) => {
            let id_token = tokens.id_token.as_ref().ok_or_else(|| {
                Error::new(
                    ErrorCode::InvalidIdToken,
                    "The identity provider answered no ID token",
                )
            })?;
            let claims =
                oidc::verify_id_token(state, oidc, id_token.expose_secret(), flow.nonce.as_deref())
                    .await?;
            Person {
                subject: claims.subject,
                email: claims.email,
                email_verified: claims.email_verified,
                name: claims.name,
            }
        }
        Provider::Github(github) => {
            github_person(github, tokens.access_token.expose_secret()).await?
        }
    };
    let redirect_to = flow.payload.redirect_to.clone();
    match flow.payload.link_user {
        Some(user_id) => {
            let identity = link(state, provider.name(), &person, &user_id).await?;
            Ok(CallbackOutcome::Linked {
                identity: IdentityView::of(&identity),
                redirect_to,
            })
        }
        None => {
            let outcome = sign_in(state, provider.name(), person, context).await?;
            Ok(CallbackOutcome::SignedIn {
                outcome,
                redirect_to,
            })
        }
    }
}

/// GitHub's `/user` (the stable numeric id) and `/user/emails` (the primary address and
/// whether GitHub verified it), read in parallel.
async fn github_person(github: &GithubProvider, access_token: &str) -> Result<Person> {
    #[derive(Deserialize)]
    struct GithubUser {
        id: u64,
        login: Option<String>,
        name: Option<String>,
    }
    #[derive(Deserialize)]
    struct GithubEmail {
        email: String,
        #[serde(default)]
        primary: bool,
        #[serde(default)]
        verified: bool,
    }
    let user_url = format!("{}/user", github.api_url);
    let emails_url = format!("{}/user/emails", github.api_url);
    let (user, emails) = tokio::join!(
        outbound::get_json::<GithubUser>(&user_url, Some(access_token)),
        outbound::get_json::<Vec<GithubEmail>>(&emails_url, Some(access_token)),
    );
    let user = user?;
    let emails = emails?;
    // The primary address if GitHub verified it, else any verified one, else the primary as
    // unverified (which never links to an existing account).
    let chosen = emails
        .iter()
        .find(|e| e.primary && e.verified)
        .or_else(|| emails.iter().find(|e| e.verified))
        .or_else(|| emails.iter().find(|e| e.primary));
    Ok(Person {
        subject: user.id.to_string(),
        email: chosen.map(|e| e.email.clone()),
        email_verified: chosen.is_some_and(|e| e.verified),
        name: user.name.or(user.login),
    })
}

/// An allow-listed redirect with the provider's `error` code added to its query.
pub fn with_error(redirect: &str, code: &str) -> String {
    match url::Url::parse(redirect) {
        Ok(mut url) => {
            url.query_pairs_mut().append_pair("error", code);
            url.to_string()
        }
        Err(_) => redirect.to_owned(),
    }
}

fn account_exists() -> Error {
    Error::conflict(
        ErrorCode::AccountExists,
        "An account with this email already exists. Sign in to it, then link this provider \
         from your account settings",
    )
}

fn identity_taken() -> Error {
    Error::conflict(
        ErrorCode::IdentityTaken,
        "This provider account is already linked to another user",
    )
}

async fn find_identity(
    state: &AppState,
    provider: &str,
    subject: &str,
) -> Result<Option<Identity>> {
    match state.table.get(&keys::identity(provider, subject)).await? {
        Some(item) => Ok(Some(Identity::from_item(item)?)),
        None => Ok(None),
    }
}

fn new_identity(state: &AppState, provider: &str, person: &Person, user_id: &str) -> Identity {
    Identity {
        user_id: user_id.to_owned(),
        provider: provider.to_owned(),
        subject: person.subject.clone(),
        email: person.email.clone(),
        email_verified: person.email_verified,
        linked_at: state.clock.unix(),
    }
}

/// Sign in with a verified person: a known identity, an account linked automatically, or a new
/// account.
async fn sign_in(
    state: &AppState,
    provider: &str,
    person: Person,
    context: &SessionContext,
) -> Result<SignInOutcome> {
    let email = person
        .email
        .as_deref()
        .map(|raw| EmailAddress::parse(raw).map_err(|_| ()))
        .transpose()
        .ok()
        .flatten();
    let claim_key = email.as_ref().map(|e| keys::email_claim(e.normalized()));
    // The identity and the address's claim in parallel: a first sign-in needs both.
    let (identity, claim) = tokio::join!(find_identity(state, provider, &person.subject), async {
        match &claim_key {
            Some(key) => state.table.get(key).await.map_err(Error::from),
            None => Ok(None),
        }
    });
    if let Some(identity) = identity? {
        let user = users::load(state, &identity.user_id)
            .await?
            .ok_or_else(|| Error::invalid_token("The linked account no longer exists"))?;
        return mfa::finish_sign_in(state, &user, OAUTH_AMR, context).await;
    }
    let Some(email) = email else {
        return Err(Error::invalid_field(
            "email",
            "the provider shared no usable email address; allow access to it and try again",
        ));
    };
    match claim? {
        Some(item) => {
            let claim = EmailClaim::from_item(item)?;
            let user = users::require(state, &claim.user_id).await?;
            // Both sides must vouch for the address, or a stranger who registered the victim's
            // address at a careless provider would walk into the victim's account.
            if !(person.email_verified && user.email_verified) {
                return Err(account_exists());
            }
            let identity = new_identity(state, provider, &person, &user.id);
            write_identity(state, &identity).await?;
            mfa::finish_sign_in(state, &user, OAUTH_AMR, context).await
        }
        None => {
            let outcome = create_account(state, provider, &person, &email, context).await?;
            Ok(SignInOutcome::Authenticated(outcome))
        }
    }
}

/// Put a new identity; one that appeared at the same moment is someone else's (or a race of
/// the same person's callbacks): either way, not silently overwritten.
async fn write_identity(state: &AppState, identity: &Identity) -> Result<()> {
    match state
        .table
        .put(identity.to_item(), Some(Condition::NotExists))
        .await
    {
        Ok(()) => Ok(()),
        Err(StoreError::ConditionFailed) => Err(identity_taken()),
        Err(error) => Err(error.into()),
    }
}

/// A new OAuth-only account: user (no password), email claim, personal workspace, identity and
/// the first session, in one transaction. A new account has no MFA, so no MFA step.
async fn create_account(
    state: &AppState,
    provider: &str,
    person: &Person,
    email: &EmailAddress,
    context: &SessionContext,
) -> Result<sessions::AuthResponse> {
    let now = state.clock.unix();
    let user_id = UserId::generate(state.random.as_ref()).to_string();
    let name = display_name(person.name.as_deref(), email)
        .or_else(|_| display_name(None, email))
        .unwrap_or_default();
    let (workspace_id, role, workspace_writes) =
        workspaces::new_personal_workspace(state, &user_id, &name, now);
    let user = User {
        id: user_id.clone(),
        email: email.as_str().to_owned(),
        email_normalized: email.normalized().to_owned(),
        email_verified: person.email_verified,
        name,
        password_hash: None,
        disabled: false,
        plan: DEFAULT_PLAN.to_owned(),
        features: vec![],
        mfa_enabled: false,
        active_workspace: Some(workspace_id),
        active_role: Some(role),
        created_at: now,
        updated_at: now,
        credential_epoch: 0,
        version: 1,
    };
    let claim = EmailClaim {
        user_id: user_id.clone(),
        email: user.email.clone(),
    };
    let identity = new_identity(state, provider, person, &user_id);
    let session = sessions::prepare(state, &user, OAUTH_AMR, 1, context).await?;
    let mut writes = vec![
        Write::Put {
            item: claim.to_item(email.normalized()),
            condition: Some(Condition::NotExists),
        },
        Write::Put {
            item: user.to_item(),
            condition: Some(Condition::NotExists),
        },
        Write::Put {
            item: identity.to_item(),
            condition: Some(Condition::NotExists),
        },
    ];
    writes.extend(workspace_writes);
    writes.extend(session.writes);
    match state.table.transact(writes).await {
        Ok(()) => Ok(session.response),
        // The address was taken (or the identity made) at the same moment: no silent merge.
        Err(StoreError::ConditionFailed) => Err(account_exists()),
        Err(error) => Err(error.into()),
    }
}

/// Link the identity to `user_id` (idempotent for the same user).
async fn link(
    state: &AppState,
    provider: &str,
    person: &Person,
    user_id: &str,
) -> Result<Identity> {
    if let Some(existing) = find_identity(state, provider, &person.subject).await? {
        if existing.user_id == user_id {
            return Ok(existing);
        }
        return Err(identity_taken());
    }
    users::require(state, user_id).await?;
    let identity = new_identity(state, provider, person, user_id);
    write_identity(state, &identity).await?;
    Ok(identity)
}

/// A linked identity as `/auth/identities` lists it.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(example = json!({"provider": "google", "email": "ada@example.com",
    "linked_at": "2026-11-25T10:00:00Z"}))]
pub struct IdentityView {
    pub provider: String,
    /// The address the provider gave when it was linked.
    pub email: Option<String>,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub linked_at: String,
}

impl IdentityView {
    fn of(identity: &Identity) -> Self {
        Self {
            provider: identity.provider.clone(),
            email: identity.email.clone(),
            linked_at: crate::domain::timestamp(identity.linked_at),
        }
    }
}

/// A user's identities (one GSI1 query).
pub async fn identities(state: &AppState, user_id: &str) -> Result<Vec<Identity>> {
    let items = state
        .table
        .query_gsi1(&keys::user_partition(user_id), identities::GSI1_PREFIX)
        .await?;
    items
        .into_iter()
        .map(|item| Identity::from_item(item).map_err(Error::from))
        .collect()
}

/// The caller's identities for `/auth/identities`.
pub async fn list(state: &AppState, user_id: &str) -> Result<Vec<IdentityView>> {
    Ok(identities(state, user_id)
        .await?
        .iter()
        .map(IdentityView::of)
        .collect())
}

/// How many passkeys the user has. Passkeys are stored under the user as
/// `USER#<id>` / `PASSKEY#<id>` (`keys::passkey`); counted here so that unlinking never strands
/// an account whose only other way in is a passkey.
async fn passkey_count(state: &AppState, user_id: &str) -> Result<usize> {
    Ok(state
        .table
        .query(&keys::user_partition(user_id), keys::PASSKEY_PREFIX)
        .await?
        .len())
}

/// Unlink the caller's identities at `provider`, unless nothing else would be left to sign in
/// with (a password, a passkey, another identity): then `409 last_sign_in_method`. The user's
/// version is moved on in the same transaction, so two unlinks racing for the last two
/// identities cannot both pass the check.
pub async fn unlink(state: &AppState, user_id: &str, provider: &str) -> Result<()> {
    let (user, linked, passkeys) = tokio::join!(
        users::require(state, user_id),
        identities(state, user_id),
        passkey_count(state, user_id),
    );
    let (user, linked, passkeys) = (user?, linked?, passkeys?);
    let (removed, kept): (Vec<_>, Vec<_>) =
        linked.into_iter().partition(|i| i.provider == provider);
    if removed.is_empty() {
        return Err(Error::not_found("No identity of this provider is linked"));
    }
    if !user.has_password() && passkeys == 0 && kept.is_empty() {
        return Err(Error::conflict(
            ErrorCode::LastSignInMethod,
            "This is the last way to sign in to this account; set a password, add a passkey or \
             link another provider first",
        ));
    }
    let mut writes: Vec<Write> = removed
        .iter()
        .map(|identity| Write::Delete {
            key: identity.key(),
            condition: Some(Condition::Equals(
                "user_id".into(),
                serde_json::Value::from(user_id),
            )),
        })
        .collect();
    let mut set = crate::ports::Item::new();
    set.insert("version".into(), serde_json::Value::from(user.version + 1));
    writes.push(Write::Update {
        key: user.key(),
        set,
        remove: vec![],
        condition: Some(Condition::version(user.version)),
    });
    match state.table.transact(writes).await {
        Ok(()) => Ok(()),
        Err(StoreError::ConditionFailed) => Err(Error::conflict(
            ErrorCode::Conflict,
            "The account changed at the same time; try again",
        )),
        Err(error) => Err(error.into()),
    }
}
