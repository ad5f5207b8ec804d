//! Account use cases: sign-up (user, email claim, personal workspace and first session in one
//! transaction), sign-in with a password (at most three table round trips), the caller's profile
//! and workspaces, password change, and the check-email lookup. Every sign-in ends in the MFA
//! step, `mfa::finish_sign_in`.

use serde::Serialize;

use crate::audit;
use crate::domain::emails::EmailAddress;
use crate::domain::ids::{SessionId, UserId, WorkspaceId};
use crate::domain::keys;
use crate::domain::passwords::Password;
use crate::domain::sessions::SessionContext;
use crate::domain::users::{DEFAULT_PLAN, EmailClaim, User};
use crate::domain::workspaces::{Member, ROLE_OWNER, Workspace, personal_workspace_name};
use crate::error::ErrorCode;
use crate::ports::{Condition, StoreError, Write};
use crate::services::rate_limit::{
    self, RateLimitError, SIGN_IN_FAILURES_PER_ACCOUNT, SIGN_IN_FAILURES_PER_ADDRESS,
};
use crate::services::sessions::{self, AuthResponse};
use crate::services::{mfa, passwords, users};
use crate::{AppState, Error, Result};

/// The methods a password sign-in used.
pub const PASSWORD_AMR: &[&str] = &["pwd"];

/// What a new account is made of.
pub struct SignUp {
    pub email: EmailAddress,
    pub name: String,
    /// Raw: the policy is applied here, with the email and name as known words.
    pub password: String,
}

/// Create the user, their email claim, a personal workspace they own, and their first session,
/// all in one transaction: the email claim's `NotExists` condition makes the address unique
/// however many sign-ups race for it. Sign-ups are limited per client address (`429`), so the
/// `409 email_taken` answer cannot enumerate accounts at will.
pub async fn sign_up(
    state: &AppState,
    request: SignUp,
    context: &SessionContext,
) -> Result<AuthResponse> {
    let password = Password::new_checked(
        request.password,
        state.config.password_min_length,
        &[request.email.as_str(), &request.name],
    )?;
    // Counted first, alongside the hash: whether the address is taken is only learned after.
    let (allowed, password_hash) = tokio::join!(
        rate_limit::hit(state, rate_limit::SIGN_UPS_PER_ADDRESS, &context.ip),
        passwords::hash(state, password),
    );
    allowed?;
    let password_hash = password_hash?;
    let now = state.clock.unix();
    let user_id = UserId::generate(state.random.as_ref());
    let workspace_id = WorkspaceId::generate(state.random.as_ref());
    let user = User {
        id: user_id.clone(),
        email: request.email.as_str().to_owned(),
        email_normalized: request.email.normalized().to_owned(),
        email_verified: false,
        name: request.name.clone(),
        password_hash: Some(password_hash),
        plan: DEFAULT_PLAN.to_owned(),
        features: vec![],
        mfa_enabled: false,
        active_workspace: Some(workspace_id.clone()),
        active_role: Some(ROLE_OWNER.to_owned()),
        created_at: now,
        updated_at: now,
        credential_epoch: 0,
        version: 1,
        disabled: false,
    };
    let claim = EmailClaim {
        user_id: user_id.clone(),
        email: user.email.clone(),
    };
    let workspace = Workspace {
        id: workspace_id.clone(),
        name: personal_workspace_name(&user.name),
        owner_id: user_id.clone(),
        personal: true,
        created_at: now,
        updated_at: now,
    };
    let member = Member {
        workspace_id,
        user_id,
        role: ROLE_OWNER.to_owned(),
        joined_at: now,
    };
    let session = sessions::prepare(state, &user, PASSWORD_AMR, 1, context).await?;
    let mut writes = vec![
        Write::Put {
            item: claim.to_item(request.email.normalized()),
            condition: Some(Condition::NotExists),
        },
        Write::Put {
            item: user.to_item(),
            condition: Some(Condition::NotExists),
        },
        Write::Put {
            item: workspace.to_item(),
            condition: Some(Condition::NotExists),
        },
        Write::Put {
            item: member.to_item(),
            condition: Some(Condition::NotExists),
        },
    ];
    writes.extend(session.writes);
    match state.table.transact(writes).await {
        Ok(()) => Ok(session.response),
        // Every other key is freshly random: only the email claim can already exist.
        Err(StoreError::ConditionFailed) => Err(email_taken()),
        Err(error) => Err(error.into()),
    }
}

fn email_taken() -> Error {
    Error::conflict(
        ErrorCode::EmailTaken,
        "An account with this email already exists",
    )
}

// The MFA step lives in `services::mfa`; these names stay here for the sign-in paths that
// reached it through this module.
pub use crate::services::mfa::{
    MfaChallenge, SignInOutcome, finish_sign_in as first_factor_passed,
};

/// Sign in with an email and a password, in at most three table round trips:
/// 1. the email claim read, and both failure counters counted first (atomic adds), in parallel;
/// 2. the user;
/// 3. one transaction writing the session and its refresh token, with (in parallel) the
///    account's failure count cleared and the address's attempt given back.
///
/// Counting before the hash bounds the work a burst can cause: of any number of concurrent
/// guesses at one account, at most the limit reach the hash and the rest answer 429. The limit
/// locks only the password path; magic links (and the reset they allow) still work.
///
/// Unknown emails and wrong passwords get the same answer after the same work (a dummy hash is
/// verified), and count against the same per-account limit.
pub async fn sign_in(
    state: &AppState,
    email: &EmailAddress,
    password: String,
    context: &SessionContext,
) -> Result<SignInOutcome> {
    let now = state.clock.unix();
    let account_window = SIGN_IN_FAILURES_PER_ACCOUNT.window(email.normalized(), now);
    let address_window = SIGN_IN_FAILURES_PER_ADDRESS.window(&context.ip, now);
    let claim_key = keys::email_claim(email.normalized());
    let (claim, account_attempts, address_attempts) = tokio::join!(
        state.table.get(&claim_key),
        rate_limit::count(state, &account_window),
        rate_limit::count(state, &address_window),
    );
    let claim = claim?.map(EmailClaim::from_item).transpose()?;
    let known_id = claim.as_ref().map(|claim| &claim.user_id);
    if account_attempts? > SIGN_IN_FAILURES_PER_ACCOUNT.max {
        return Err(locked(account_window.exceeded(now), known_id, "account"));
    }
    if address_attempts? > SIGN_IN_FAILURES_PER_ADDRESS.max {
        return Err(locked(address_window.exceeded(now), known_id, "address"));
    }
    let user = match &claim {
        Some(claim) => users::load(state, &claim.user_id).await?,
        None => None,
    };
    let stored_hash = user.as_ref().and_then(|u| u.password_hash.clone());
    let matches = passwords::verify(state, Password::presented(password), stored_hash).await?;
    let user = match (user, matches) {
        (Some(user), true) => user,
        // The failure is already counted.
        (user, _) => {
            let reason = match &user {
                None => "unknown_email",
                Some(user) if !user.has_password() => "no_password",
                Some(_) => "wrong_password",
            };
            audit::sign_in_failed(user.as_ref().map(|u| &u.id), "password", reason);
            return Err(Error::invalid_credentials());
        }
    };
    let (outcome, account_reset, address_refund) = tokio::join!(
        mfa::finish_sign_in(state, &user, PASSWORD_AMR, context),
        rate_limit::reset(state, &account_window),
        rate_limit::refund(state, &address_window),
    );
    // A counter left as it was only makes the limit stricter; the sign-in itself succeeded.
    if let Err(error) = account_reset.and(address_refund) {
        tracing::warn!(%error, "could not clear the sign-in failure counters");
    }
    outcome
}

/// A refusal for too many failures, logged as a lockout.
fn locked(refusal: RateLimitError, user_id: Option<&UserId>, scope: &'static str) -> Error {
    audit::locked_out(user_id, scope, refusal.retry_after().unwrap_or(0));
    refusal.into()
}

/// The user behind a verified token (the users service's, here for the accounts handlers).
pub use crate::services::users::require as require_user;

/// A user's workspaces (the workspaces service's, here for the accounts handlers).
pub use crate::services::workspaces::{Membership, memberships};

/// Change the caller's password: the current one must match (failures count against the
/// account's sign-in limit), the new one must pass the policy; every other session is revoked.
/// With MFA on, the caller's token must come from the second factor (`caller_aal` 2).
pub async fn change_password(
    state: &AppState,
    user_id: &UserId,
    current_session: Option<&SessionId>,
    caller_aal: u8,
    current_password: String,
    new_password: String,
) -> Result<usize> {
    let user = require_user(state, user_id).await?;
    mfa::require_second_factor(&user, caller_aal)?;
    let now = state.clock.unix();
    // Counted first, like a sign-in: a stolen access token must not buy unlimited guesses.
    let account_window = SIGN_IN_FAILURES_PER_ACCOUNT.window(&user.email_normalized, now);
    if rate_limit::count(state, &account_window).await? > SIGN_IN_FAILURES_PER_ACCOUNT.max {
        return Err(account_window.exceeded(now).into());
    }
    let matches = passwords::verify(
        state,
        Password::presented(current_password),
        user.password_hash.clone(),
    )
    .await?;
    if !matches {
        audit::sign_in_failed(Some(&user.id), "password_change", "wrong_password");
        return Err(Error::invalid_credentials().with_extra("field", "current_password"));
    }
    rate_limit::refund(state, &account_window).await?;
    let new_password = users::check_new_password(state, &user, new_password)?;
    let (_, revoked) =
        users::set_password_and_revoke_sessions(state, &user, new_password, current_session)
            .await?;
    audit::password_set(&user.id, "changed", revoked);
    Ok(revoked)
}

/// What `/auth/check-email` answers.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(example = json!({"exists": true, "methods": ["password", "magic_link", "google"]}))]
pub struct EmailCheck {
    pub exists: bool,
    /// `password`, `magic_link`, then each enabled provider the account has linked (`google`,
    /// `github`, an OIDC provider's name) and `passkey` when it has one; empty when the account
    /// does not exist.
    pub methods: Vec<String>,
}

/// Whether an account exists for the email and how its owner can sign in. Rate-limited per
/// client address.
pub async fn check_email(
    state: &AppState,
    email: &EmailAddress,
    context: &SessionContext,
) -> Result<EmailCheck> {
    rate_limit::hit(state, rate_limit::CHECK_EMAIL_PER_ADDRESS, &context.ip).await?;
    let Some(user) = users::find_by_email(state, email).await? else {
        return Ok(EmailCheck {
            exists: false,
            methods: vec![],
        });
    };
    let mut methods = Vec::new();
    if user.has_password() {
        methods.push("password".to_owned());
    }
    methods.push("magic_link".to_owned());
    let (identities, passkeys) = tokio::try_join!(
        crate::services::social::identities(state, &user.id),
        crate::services::passkeys::count(state, &user.id),
    )?;
    // In the configuration's order, and only providers enabled now.
    methods.extend(
        state
            .config
            .oauth
            .names()
            .into_iter()
            .filter(|name| identities.iter().any(|i| i.provider == *name))
            .map(str::to_owned),
    );
    if passkeys > 0 {
        methods.push("passkey".to_owned());
    }
    Ok(EmailCheck {
        exists: true,
        methods,
    })
}
