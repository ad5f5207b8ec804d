//! Workspace use cases: a user's workspaces, creating one, members and roles, invites (mailed,
//! accepted once, revoked), switching the active workspace of a session, the membership check
//! behind "removal takes effect at once", and per-workspace waitlists.
//!
//! Round trips (counted in `tests/api/workspaces_budget.rs`): accepting an invite takes at most 4
//! (the invite token with the per-address try counter; the invitee's email claim; their user;
//! one transaction that spends the invite, adds the membership and opens the session), switching
//! 2 beyond the caller's session check (membership, session and user read in parallel; one
//! transaction that rotates the refresh token onto the new claims).

use futures::future::join_all;

use crate::domain::MalformedItem;
use crate::domain::emails::EmailAddress;
use crate::domain::ids::{InviteId, SessionId, UserId, WorkspaceId};
use crate::domain::keys;
use crate::domain::one_time_token::{
    OneTimeToken, hash_token, lifetime_in_words, looks_like_token,
};
use crate::domain::sessions::{ClaimsSnapshot, SessionContext};
use crate::domain::users::{DEFAULT_PLAN, EmailClaim, User, UserUpdate, display_name};
use crate::domain::workspaces::{
    Invite, Member, Role, RoleRefusal, WaitlistSignup, Workspace, may_change_role, may_invite,
    may_remove, personal_workspace_name,
};
use crate::error::ErrorCode;
use crate::ports::{Condition, StoreError, Write};
use crate::services::accounts::{self, SignInOutcome};
use crate::services::email_links::REDEMPTIONS_PER_CLIENT;
use crate::services::mail_templates::{self, InviteDetails, MailContext, MailKind};
use crate::services::sessions::{self, AuthResponse};
use crate::services::tokens::AccessClaims;
use crate::services::{rate_limit, users};
use crate::{AppState, Error, Result};

/// The methods an accepted invite proves: the invitee followed an emailed link.
pub const INVITE_AMR: &[&str] = &["email_link"];

/// Invites one workspace may send per hour; over it, `429`.
pub const INVITES_PER_WORKSPACE: rate_limit::Limit = rate_limit::Limit {
    name: "invites-workspace",
    max: 50,
    window: 60 * 60,
};

/// How a workspace operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    /// No such workspace for this caller: it does not exist or they are not in it (the same
    /// answer, so ids of other workspaces reveal nothing).
    #[error("no such workspace")]
    NoSuchWorkspace,
    #[error("no such member")]
    NoSuchMember,
    #[error("no such invite")]
    NoSuchInvite,
    /// Switching to, or acting in, a workspace the caller is not (or no longer) in.
    #[error("the caller is not a member of the workspace")]
    NotAMember,
    #[error(transparent)]
    Refused(#[from] RoleRefusal),
    #[error("the workspace's last owner cannot leave or be demoted")]
    LastOwner,
    #[error("the address already belongs to a member")]
    AlreadyMember,
    /// The invite link is unknown, spent, revoked, replaced or expired: all look the same.
    #[error("the invite is invalid or has expired")]
    InvalidInvite,
    /// A concurrent change won (a role changed, a member left, a session rotated).
    #[error("the workspace or session changed at the same time")]
    Changed,
    #[error(transparent)]
    Store(StoreError),
    #[error(transparent)]
    Malformed(#[from] MalformedItem),
}

impl From<StoreError> for WorkspaceError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::ConditionFailed => Self::Changed,
            other => Self::Store(other),
        }
    }
}

impl From<WorkspaceError> for Error {
    fn from(error: WorkspaceError) -> Self {
        match error {
            WorkspaceError::NoSuchWorkspace => Error::not_found("No such workspace"),
            WorkspaceError::NoSuchMember => Error::not_found("No such member in this workspace"),
            WorkspaceError::NoSuchInvite => Error::not_found("No such invite in this workspace"),
            WorkspaceError::NotAMember => {
                Error::forbidden("You are not a member of this workspace")
            }
            WorkspaceError::Refused(refusal) => Error::forbidden(match refusal {
                RoleRefusal::NotAManager => "Only owners and admins can do this",
                RoleRefusal::OwnerOnly => {
                    "Only an owner can grant, change or remove the owner role"
                }
            }),
            WorkspaceError::LastOwner => Error::conflict(
                ErrorCode::LastOwner,
                "The last owner of a workspace cannot leave or be demoted; make another owner first",
            ),
            WorkspaceError::AlreadyMember => Error::conflict(
                ErrorCode::AlreadyMember,
                "This address already belongs to a member of the workspace",
            ),
            WorkspaceError::InvalidInvite => Error::new(
                ErrorCode::InvalidLink,
                "This invite is invalid, was revoked or has expired",
            ),
            WorkspaceError::Changed => Error::conflict(
                ErrorCode::Conflict,
                "The workspace changed at the same time; try again",
            ),
            WorkspaceError::Store(error) => error.into(),
            WorkspaceError::Malformed(error) => error.into(),
        }
    }
}

/// One of a user's workspaces and their role in it.
#[derive(Clone, Debug, PartialEq)]
pub struct Membership {
    pub workspace: Workspace,
    pub role: String,
    pub joined_at: i64,
}

/// The user's workspaces, oldest membership first (GSI1 lists the memberships in one query; the
/// workspaces are read in parallel).
pub async fn memberships(state: &AppState, user_id: &UserId) -> Result<Vec<Membership>> {
    let members = state
        .table
        .query_gsi1(&keys::user_partition(user_id), keys::WORKSPACE_PREFIX)
        .await?
        .into_iter()
        .map(Member::from_item)
        .collect::<Result<Vec<_>, _>>()?;
    let workspace_keys: Vec<_> = members
        .iter()
        .map(|m| keys::workspace(&m.workspace_id))
        .collect();
    let workspaces = join_all(workspace_keys.iter().map(|key| state.table.get(key))).await;
    let mut memberships = Vec::with_capacity(members.len());
    for (member, workspace) in members.into_iter().zip(workspaces) {
        if let Some(item) = workspace? {
            memberships.push(Membership {
                workspace: Workspace::from_item(item)?,
                role: member.role,
                joined_at: member.joined_at,
            });
        }
    }
    memberships.sort_by_key(|m| m.joined_at);
    Ok(memberships)
}

/// `POST /workspaces`: a new workspace owned by the caller (workspace and membership in one
/// transaction).
pub async fn create(state: &AppState, user_id: &UserId, name: String) -> Result<Membership> {
    let now = state.clock.unix();
    let workspace = Workspace {
        id: WorkspaceId::generate(state.random.as_ref()),
        name,
        owner_id: user_id.to_owned(),
        personal: false,
        created_at: now,
        updated_at: now,
    };
    let member = Member {
        workspace_id: workspace.id.clone(),
        user_id: user_id.to_owned(),
        role: Role::Owner.as_str().to_owned(),
        joined_at: now,
    };
    state
        .table
        .transact(vec![
            Write::Put {
                item: workspace.to_item(),
                condition: Some(Condition::NotExists),
            },
            Write::Put {
                item: member.to_item(),
                condition: Some(Condition::NotExists),
            },
        ])
        .await?;
    // `/auth/validate` caches workspace lists per instance: a change made here shows at once.
    state.profiles.forget(user_id);
    Ok(Membership {
        workspace,
        role: member.role,
        joined_at: now,
    })
}

/// The personal workspace of a new account and its owner membership, as writes for the
/// transaction that creates the account (social login); answers the workspace id, the role and
/// the writes.
pub fn new_personal_workspace(
    state: &AppState,
    user_id: &UserId,
    user_name: &str,
    now: i64,
) -> (WorkspaceId, String, Vec<Write>) {
    let workspace = Workspace {
        id: WorkspaceId::generate(state.random.as_ref()),
        name: personal_workspace_name(user_name),
        owner_id: user_id.to_owned(),
        personal: true,
        created_at: now,
        updated_at: now,
    };
    let owner = Member {
        workspace_id: workspace.id.clone(),
        user_id: user_id.to_owned(),
        role: Role::Owner.as_str().to_owned(),
        joined_at: now,
    };
    let writes = [workspace.to_item(), owner.to_item()]
        .into_iter()
        .map(|item| Write::Put {
            item,
            condition: Some(Condition::NotExists),
        })
        .collect();
    (workspace.id, owner.role, writes)
}

async fn member_of(
    state: &AppState,
    workspace_id: &WorkspaceId,
    user_id: &UserId,
) -> Result<Option<Member>, WorkspaceError> {
    match state
        .table
        .get(&keys::member(workspace_id, user_id))
        .await?
    {
        Some(item) => Ok(Some(Member::from_item(item)?)),
        None => Ok(None),
    }
}

/// The caller's membership of a workspace; `404` when they are not in it, whether or not it
/// exists.
pub async fn require_member(
    state: &AppState,
    workspace_id: &WorkspaceId,
    user_id: &UserId,
) -> Result<Member> {
    Ok(member_of(state, workspace_id, user_id)
        .await?
        .ok_or(WorkspaceError::NoSuchWorkspace)?)
}

/// The workspace a token names, if its holder is still a member: how a removal takes effect at
/// once on Latchkey's endpoints (`401` otherwise, so the client switches workspace or signs in
/// again; a refresh already carries the workspace they fell back to).
pub async fn require_token_workspace(state: &AppState, claims: &AccessClaims) -> Result<Member> {
    let org = claims
        .org
        .as_ref()
        .ok_or_else(|| Error::forbidden("The token names no workspace"))?;
    member_of(state, org, &claims.sub)
        .await?
        .ok_or_else(removed_from_token_workspace)
}

/// The refusal of a token whose `org` its holder is no longer a member of.
pub fn removed_from_token_workspace() -> Error {
    Error::invalid_token(
        "You are no longer a member of this token's workspace; switch workspace or sign in again",
    )
}

/// Every member of a workspace.
async fn all_members(
    state: &AppState,
    workspace_id: &WorkspaceId,
) -> Result<Vec<Member>, WorkspaceError> {
    let items = state
        .table
        .query(
            &keys::workspace_partition(workspace_id),
            keys::MEMBER_PREFIX,
        )
        .await?;
    let mut members = items
        .into_iter()
        .map(Member::from_item)
        .collect::<Result<Vec<_>, _>>()?;
    members.sort_by_key(|m| m.joined_at);
    Ok(members)
}

/// A member and who they are.
#[derive(Clone, Debug, PartialEq)]
pub struct MemberEntry {
    pub member: Member,
    pub email: String,
    pub name: String,
}

/// `GET /workspaces/{id}/members`: every member, for any member of the workspace.
pub async fn members(
    state: &AppState,
    caller_id: &UserId,
    workspace_id: &WorkspaceId,
) -> Result<Vec<MemberEntry>> {
    let members = all_members(state, workspace_id).await?;
    if !members.iter().any(|m| m.user_id == *caller_id) {
        return Err(WorkspaceError::NoSuchWorkspace.into());
    }
    let profiles = join_all(members.iter().map(|m| users::load(state, &m.user_id))).await;
    let mut entries = Vec::with_capacity(members.len());
    for (member, profile) in members.into_iter().zip(profiles) {
        // A member whose account is gone is left out rather than failing the list.
        if let Some(user) = profile? {
            entries.push(MemberEntry {
                member,
                email: user.email,
                name: user.name,
            });
        }
    }
    Ok(entries)
}

/// An invite just made: the record, and whether its mail went out.
pub struct SentInvite {
    pub invite: Invite,
}

/// `POST /workspaces/{id}/invites`: invite an address as `role` (owners and admins; only an
/// owner invites an owner). Re-inviting the same address voids the older invite. The email holds
/// `<public url>/auth/invites/accept?token=...`; the token is stored only as its SHA-256.
pub async fn invite(
    state: &AppState,
    inviter_id: &UserId,
    workspace_id: &WorkspaceId,
    email: &EmailAddress,
    role: Role,
) -> Result<SentInvite> {
    let actor = require_member(state, workspace_id, inviter_id).await?;
    may_invite(actor.role(), role).map_err(WorkspaceError::from)?;
    rate_limit::hit(state, INVITES_PER_WORKSPACE, workspace_id.as_str()).await?;

    let (workspace_key, partition) = (
        keys::workspace(workspace_id),
        keys::workspace_partition(workspace_id),
    );
    let (workspace, inviter, invitee, pending) = tokio::join!(
        state.table.get(&workspace_key),
        users::load(state, inviter_id),
        users::find_by_email(state, email),
        state.table.query(&partition, keys::INVITE_PREFIX),
    );
    let workspace = Workspace::from_item(workspace?.ok_or(WorkspaceError::NoSuchWorkspace)?)?;
    let inviter = inviter?.ok_or_else(|| Error::invalid_token("The account no longer exists"))?;
    if let Some(invitee) = invitee?
        && member_of(state, workspace_id, &invitee.id).await?.is_some()
    {
        return Err(WorkspaceError::AlreadyMember.into());
    }

    let now = state.clock.unix();
    let token = OneTimeToken::generate(state.random.as_ref());
    let invite = Invite {
        id: InviteId::generate(state.random.as_ref()),
        workspace_id: workspace_id.to_owned(),
        email: email.as_str().to_owned(),
        email_normalized: email.normalized().to_owned(),
        role: role.as_str().to_owned(),
        invited_by: inviter_id.clone(),
        token_hash: token.hash().to_owned(),
        created_at: now,
        expires_at: now + state.config.invite_ttl.as_secs() as i64,
    };
    let mut writes = Vec::new();
    for item in pending? {
        let older = Invite::from_item(item)?;
        if older.email_normalized == invite.email_normalized {
            // Re-inviting voids the older invite: its token item goes with it.
            writes.push(Write::Delete {
                key: keys::invite_token(&older.token_hash),
                condition: None,
            });
            writes.push(Write::Delete {
                key: older.key(),
                condition: None,
            });
        }
    }
    writes.push(Write::Put {
        item: invite.to_item(),
        condition: Some(Condition::NotExists),
    });
    writes.push(Write::Put {
        item: invite.token_item(),
        condition: Some(Condition::NotExists),
    });
    state.table.transact(writes).await?;

    let link = crate::services::email_links::link_with_token(
        &format!("{}/auth/invites/accept", state.config.public_url),
        token.secret(),
    );
    let inviter_name = if inviter.name.is_empty() {
        inviter.email.as_str()
    } else {
        inviter.name.as_str()
    };
    deliver_invite(state, &invite, &link, inviter_name, &workspace.name).await;
    Ok(SentInvite { invite })
}

/// Render and send an invite; a failure is logged (without the link) and otherwise ignored: the
/// invite stands, and re-inviting sends a fresh one.
async fn deliver_invite(
    state: &AppState,
    invite: &Invite,
    link: &str,
    inviter: &str,
    workspace: &str,
) {
    let expires_in = lifetime_in_words(state.config.invite_ttl.as_secs());
    let context = MailContext {
        product_name: &state.config.product_name,
        email: &invite.email,
        link,
        code: None,
        expires_in: &expires_in,
        invite: Some(InviteDetails {
            inviter,
            workspace,
            role: &invite.role,
        }),
    };
    let email = match mail_templates::render(MailKind::Invite, &invite.email, &context) {
        Ok(email) => email,
        Err(error) => {
            tracing::error!(invite_id = %invite.id, %error, "invite mail not rendered");
            return;
        }
    };
    match state.mailer.send(&email).await {
        // Logged under the inviter: the invitee may have no account.
        Ok(()) => crate::audit::email_sent("Invite", &invite.invited_by),
        Err(error) => crate::audit::email_failed("Invite", &invite.invited_by, &error.to_string()),
    }
}

/// `GET /workspaces/{id}/invites`: the live invites (owners and admins).
pub async fn invites(
    state: &AppState,
    caller_id: &UserId,
    workspace_id: &WorkspaceId,
) -> Result<Vec<Invite>> {
    let actor = require_member(state, workspace_id, caller_id).await?;
    if !actor.role().manages_members() {
        return Err(WorkspaceError::Refused(RoleRefusal::NotAManager).into());
    }
    let now = state.clock.unix();
    let mut invites = state
        .table
        .query(
            &keys::workspace_partition(workspace_id),
            keys::INVITE_PREFIX,
        )
        .await?
        .into_iter()
        .map(Invite::from_item)
        .collect::<Result<Vec<_>, _>>()?;
    invites.retain(|invite| invite.is_live(now));
    invites.sort_by_key(|invite| invite.created_at);
    Ok(invites)
}

/// `DELETE /workspaces/{id}/invites/{invite_id}`: revoke an invite (owners and admins; only an
/// owner revokes an owner's invite). Its link stops working at once.
pub async fn revoke_invite(
    state: &AppState,
    caller_id: &UserId,
    workspace_id: &WorkspaceId,
    invite_id: &InviteId,
) -> Result<()> {
    let invite_key = keys::invite(workspace_id, invite_id);
    let (actor, invite) = tokio::join!(
        require_member(state, workspace_id, caller_id),
        state.table.get(&invite_key),
    );
    let actor = actor?;
    let invite = match invite? {
        Some(item) => Invite::from_item(item)?,
        None => return Err(WorkspaceError::NoSuchInvite.into()),
    };
    may_invite(actor.role(), invite.role()).map_err(WorkspaceError::from)?;
    let writes = vec![
        Write::Delete {
            key: invite.key(),
            condition: Some(Condition::Exists),
        },
        Write::Delete {
            key: keys::invite_token(&invite.token_hash),
            condition: None,
        },
    ];
    match state.table.transact(writes).await {
        Ok(()) => Ok(()),
        // Accepted or revoked meanwhile.
        Err(StoreError::ConditionFailed) => Err(WorkspaceError::NoSuchInvite.into()),
        Err(error) => Err(error.into()),
    }
}

/// `POST /auth/invites/accept` and its emailed `GET`: spend the invite, add the membership and
/// sign the invitee in to the workspace (or answer the MFA step). An address with no account gets
/// one, its address verified (the link proved it) and no password (they set one through a reset
/// or sign in with magic links), with a personal workspace like every account. At most one of
/// any number of concurrent accepts succeeds: the token item is consumed by a conditional delete.
pub async fn accept_invite(
    state: &AppState,
    secret: &str,
    context: &SessionContext,
) -> Result<SignInOutcome> {
    let secret = secret.trim();
    if !looks_like_token(secret) {
        rate_limit::hit(state, REDEMPTIONS_PER_CLIENT, &context.ip).await?;
        return Err(WorkspaceError::InvalidInvite.into());
    }
    let token_key = keys::invite_token(&hash_token(secret));
    // Invite links are emailed tokens like any other: the same per-address limit on tries,
    // counted in parallel with the lookup (the round-trip budget).
    let (limited, found) = tokio::join!(
        rate_limit::hit(state, REDEMPTIONS_PER_CLIENT, &context.ip),
        state.table.get(&token_key),
    );
    limited?;
    let invite = match found? {
        Some(item) => Invite::from_item(item)?,
        None => return Err(WorkspaceError::InvalidInvite.into()),
    };
    let now = state.clock.unix();
    if !invite.is_live(now) {
        return Err(WorkspaceError::InvalidInvite.into());
    }
    let email = EmailAddress::parse(&invite.email)?;
    let existing = users::find_by_email(state, &email).await?;
    let role = invite.role().as_str().to_owned();

    let mut writes = vec![
        Write::Delete {
            key: token_key.clone(),
            condition: Some(Condition::Exists),
        },
        Write::Delete {
            key: invite.key(),
            condition: Some(Condition::Exists),
        },
    ];
    let user = match existing {
        Some(user) => {
            writes.push(Write::Put {
                item: membership(&invite, &user.id, now).to_item(),
                condition: Some(Condition::NotExists),
            });
            writes.push(User::active_workspace_write(
                &user.id,
                &invite.workspace_id,
                &role,
                !user.email_verified,
            ));
            User {
                email_verified: true,
                active_workspace: Some(invite.workspace_id.clone()),
                active_role: Some(role),
                ..user
            }
        }
        None => {
            let (user, account_writes) = new_account(state, &email, &invite, now);
            writes.extend(account_writes);
            user
        }
    };

    // A user with a second factor gets the MFA step (the shared function every sign-in path
    // calls); the invite is spent and the membership added either way. Without one, the session
    // joins the same transaction (the round-trip budget).
    if user.mfa_enabled {
        commit_accept(state, writes, &token_key, &invite, &user.id).await?;
        return accounts::first_factor_passed(state, &user, INVITE_AMR, context).await;
    }
    let session = sessions::prepare(state, &user, INVITE_AMR, 1, context).await?;
    writes.extend(session.writes);
    commit_accept(state, writes, &token_key, &invite, &user.id).await?;
    Ok(SignInOutcome::Authenticated(session.response))
}

fn membership(invite: &Invite, user_id: &UserId, now: i64) -> Member {
    Member {
        workspace_id: invite.workspace_id.clone(),
        user_id: user_id.to_owned(),
        role: invite.role().as_str().to_owned(),
        joined_at: now,
    }
}

/// The account an invite makes for an address that has none, and its writes: user, email claim,
/// personal workspace and its owner membership, and the invited membership (active).
fn new_account(
    state: &AppState,
    email: &EmailAddress,
    invite: &Invite,
    now: i64,
) -> (User, Vec<Write>) {
    let user_id = UserId::generate(state.random.as_ref());
    let personal_id = WorkspaceId::generate(state.random.as_ref());
    // Without a given name the email's local part is taken, which cannot be refused.
    let name = display_name(None, email).unwrap_or_default();
    let user = User {
        id: user_id.clone(),
        email: email.as_str().to_owned(),
        email_normalized: email.normalized().to_owned(),
        email_verified: true,
        name: name.clone(),
        password_hash: None,
        plan: DEFAULT_PLAN.to_owned(),
        features: vec![],
        mfa_enabled: false,
        active_workspace: Some(invite.workspace_id.clone()),
        active_role: Some(invite.role().as_str().to_owned()),
        created_at: now,
        updated_at: now,
        version: 1,
        disabled: false,
        credential_epoch: 0,
    };
    let claim = EmailClaim {
        user_id: user_id.clone(),
        email: user.email.clone(),
    };
    let personal = Workspace {
        id: personal_id.clone(),
        name: personal_workspace_name(&name),
        owner_id: user_id.clone(),
        personal: true,
        created_at: now,
        updated_at: now,
    };
    let owner = Member {
        workspace_id: personal_id,
        user_id: user_id.clone(),
        role: Role::Owner.as_str().to_owned(),
        joined_at: now,
    };
    let puts = [
        claim.to_item(email.normalized()),
        user.to_item(),
        personal.to_item(),
        owner.to_item(),
        membership(invite, &user_id, now).to_item(),
    ];
    let writes = puts
        .into_iter()
        .map(|item| Write::Put {
            item,
            condition: Some(Condition::NotExists),
        })
        .collect();
    (user, writes)
}

/// Commit an accept. When a condition fails, say why: the invite was spent (or revoked) by
/// someone else, the invitee is already a member, or an account appeared for the address at the
/// same moment (try again).
async fn commit_accept(
    state: &AppState,
    writes: Vec<Write>,
    token_key: &crate::ports::Key,
    invite: &Invite,
    user_id: &UserId,
) -> Result<(), WorkspaceError> {
    match state.table.transact(writes).await {
        Ok(()) => {
            state.profiles.forget(user_id);
            Ok(())
        }
        Err(StoreError::ConditionFailed) => {
            let (token, member) = tokio::join!(
                state.table.get(token_key),
                member_of(state, &invite.workspace_id, user_id),
            );
            if token?.is_none() {
                Err(WorkspaceError::InvalidInvite)
            } else if member?.is_some() {
                Err(WorkspaceError::AlreadyMember)
            } else {
                Err(WorkspaceError::Changed)
            }
        }
        Err(error) => Err(error.into()),
    }
}

/// `POST /auth/switch-workspace`: the caller's session moves to another of their workspaces. The
/// answer is a new AuthResponse for the same session whose `org`, `role` and `organization_id`
/// are that workspace; the refresh token rotates and its successor keeps the new claims. The
/// user's active workspace follows, so the next sign-in starts there. `403` for a workspace the
/// caller is not in. Two table round trips.
pub async fn switch(
    state: &AppState,
    claims: &AccessClaims,
    workspace_id: &WorkspaceId,
    context: &SessionContext,
) -> Result<AuthResponse> {
    let (member, session, user) = tokio::join!(
        member_of(state, workspace_id, &claims.sub),
        async {
            // The `sid` of a token we signed is a session id; anything else has no session.
            match SessionId::parse(&claims.sid) {
                Some(session_id) => sessions::find(state, &claims.sub, &session_id).await,
                None => Ok(None),
            }
        },
        users::load(state, &claims.sub),
    );
    let member = member?.ok_or(WorkspaceError::NotAMember)?;
    let session = session?.ok_or_else(|| Error::invalid_token("The session has ended"))?;
    let user = user?.ok_or_else(|| Error::invalid_token("The account no longer exists"))?;
    let user = User {
        active_workspace: Some(workspace_id.to_owned()),
        active_role: Some(member.role.clone()),
        ..user
    };
    let amr: Vec<&str> = claims.amr.iter().map(String::as_str).collect();
    let snapshot = ClaimsSnapshot::of(&user, &amr, claims.aal);
    let extra = vec![
        // The membership must still hold, with this role, when the switch commits.
        Write::Check {
            key: keys::member(workspace_id, &claims.sub),
            condition: Member::has_role(member.role()),
        },
        // Only while no password change has ended the session since it was read (the same
        // check a refresh makes); the user item may appear once in the transaction, so the
        // condition rides on its write.
        User::active_workspace_write(&user.id, workspace_id, &member.role, false)
            .on_condition(UserUpdate::epoch_unchanged(session.epoch)),
    ];
    match sessions::rotate_with_claims(state, &session, snapshot, extra, context).await? {
        Ok(response) => {
            state.profiles.forget(&claims.sub);
            Ok(response)
        }
        Err(StoreError::ConditionFailed) => Err(WorkspaceError::Changed.into()),
        Err(error) => Err(error.into()),
    }
}

/// Find `user_id` among `members`, or `NoSuchMember`.
fn find_member(members: &[Member], user_id: &UserId) -> Result<Member, WorkspaceError> {
    members
        .iter()
        .find(|m| m.user_id == *user_id)
        .cloned()
        .ok_or(WorkspaceError::NoSuchMember)
}

/// When `target` (an owner) stops being one: another owner who must still be one when the
/// change commits, or `LastOwner`. Checking one other owner in the same transaction is enough:
/// of concurrent demotions, the last to commit still sees its checked owner in place, so an owner
/// always remains.
fn another_owner(members: &[Member], target: &Member) -> Result<Write, WorkspaceError> {
    let other = members
        .iter()
        .find(|m| m.user_id != target.user_id && m.role() == Role::Owner)
        .ok_or(WorkspaceError::LastOwner)?;
    Ok(Write::Check {
        key: keys::member(&other.workspace_id, &other.user_id),
        condition: Member::has_role(Role::Owner),
    })
}

/// `PATCH /workspaces/{id}/members/{user_id}`: change a member's role.
pub async fn change_role(
    state: &AppState,
    actor_id: &UserId,
    workspace_id: &WorkspaceId,
    target_id: &UserId,
    role: Role,
) -> Result<Member> {
    let members = all_members(state, workspace_id).await?;
    let actor = find_member(&members, actor_id).map_err(|_| WorkspaceError::NoSuchWorkspace)?;
    let target = find_member(&members, target_id)?;
    may_change_role(actor.role(), target.role(), role).map_err(WorkspaceError::from)?;
    if target.role() == role {
        return Ok(target);
    }
    let mut set = crate::ports::Item::new();
    set.insert("role".into(), role.as_str().into());
    let mut writes = vec![Write::Update {
        key: keys::member(workspace_id, target_id),
        set,
        remove: vec![],
        condition: Some(Member::has_role(target.role())),
    }];
    if target.role() == Role::Owner {
        writes.push(another_owner(&members, &target)?);
    }
    state
        .table
        .transact(writes)
        .await
        .map_err(WorkspaceError::from)?;
    state.profiles.forget(target_id);
    follow_membership_change(state, workspace_id, target_id, Some(role)).await;
    Ok(Member {
        role: role.as_str().to_owned(),
        ..target
    })
}

/// `DELETE /workspaces/{id}/members/{user_id}`: remove a member, or leave (one's own id). The
/// removed member loses the workspace at once on its routes, and at `/auth/validate` within the
/// per-instance profile cache's TTL (at once on this instance).
pub async fn remove_member(
    state: &AppState,
    actor_id: &UserId,
    workspace_id: &WorkspaceId,
    target_id: &UserId,
) -> Result<()> {
    let members = all_members(state, workspace_id).await?;
    let actor = find_member(&members, actor_id).map_err(|_| WorkspaceError::NoSuchWorkspace)?;
    let target = find_member(&members, target_id)?;
    may_remove(actor.role(), target.role(), actor_id == target_id).map_err(WorkspaceError::from)?;
    let mut writes = vec![Write::Delete {
        key: keys::member(workspace_id, target_id),
        condition: Some(Member::has_role(target.role())),
    }];
    if target.role() == Role::Owner {
        writes.push(another_owner(&members, &target)?);
    }
    state
        .table
        .transact(writes)
        .await
        .map_err(WorkspaceError::from)?;
    state.profiles.forget(target_id);
    follow_membership_change(state, workspace_id, target_id, None).await;
    Ok(())
}

/// After a role change (`Some(role)`) or a removal (`None`) of a user in a workspace: the user's
/// active workspace and the claims their open sessions next refresh with follow, so a refresh or
/// sign-in never lands in a workspace they have left. Best effort (logged): the membership item
/// is the truth, and every workspace endpoint and `/auth/validate` check it.
async fn follow_membership_change(
    state: &AppState,
    workspace_id: &WorkspaceId,
    user_id: &UserId,
    role: Option<Role>,
) {
    let result = async {
        let fallback = match role {
            Some(role) => Some((workspace_id.to_owned(), role.as_str().to_owned())),
            None => memberships(state, user_id)
                .await?
                .into_iter()
                .filter(|m| m.workspace.id != *workspace_id)
                .min_by_key(|m| (!m.workspace.personal, m.joined_at))
                .map(|m| (m.workspace.id, m.role)),
        };
        let mut set = crate::ports::Item::new();
        let mut remove = vec![];
        match &fallback {
            Some((id, role)) => {
                set.insert("active_workspace".into(), id.as_str().into());
                set.insert("active_role".into(), role.as_str().into());
            }
            None => remove = vec!["active_workspace".into(), "active_role".into()],
        }
        let only_if_active = Condition::Equals("active_workspace".into(), workspace_id.into());
        match state
            .table
            .update(&keys::user(user_id), set, remove, Some(only_if_active))
            .await
        {
            Ok(_) | Err(StoreError::ConditionFailed) => {}
            Err(error) => return Err(Error::from(error)),
        }
        sessions::restamp_claims(state, user_id, |snapshot| {
            if snapshot.org.as_ref() != Some(workspace_id) {
                return false;
            }
            snapshot.org = fallback.as_ref().map(|(id, _)| id.clone());
            snapshot.role = fallback.as_ref().map(|(_, role)| role.clone());
            true
        })
        .await?;
        Ok::<(), Error>(())
    }
    .await;
    if let Err(error) = result {
        tracing::warn!(
            %workspace_id,
            %user_id,
            error = %error.message,
            cause = error.cause_chain().unwrap_or_default(),
            "a membership change did not reach the user's active workspace or sessions"
        );
    }
}

/// `GET /auth/waitlist`: the token's workspace's waitlist signups, oldest first.
pub async fn waitlist(state: &AppState, claims: &AccessClaims) -> Result<Vec<WaitlistSignup>> {
    let member = require_token_workspace(state, claims).await?;
    let mut signups = state
        .table
        .query(
            &keys::workspace_partition(&member.workspace_id),
            keys::WAITLIST_PREFIX,
        )
        .await?
        .into_iter()
        .map(WaitlistSignup::from_item)
        .collect::<Result<Vec<_>, _>>()?;
    signups.sort_by_key(|s| s.created_at);
    Ok(signups)
}

/// `GET /auth/waitlist/{feature}`: the token's workspace's signup for the feature, if any.
pub async fn waitlist_signup(
    state: &AppState,
    claims: &AccessClaims,
    feature: &str,
) -> Result<Option<WaitlistSignup>> {
    let (member, signup) = tokio::join!(require_token_workspace(state, claims), async {
        match claims.org.as_ref() {
            Some(org) => state.table.get(&keys::waitlist(org, feature)).await,
            None => Ok(None),
        }
    },);
    member?;
    Ok(signup?.map(WaitlistSignup::from_item).transpose()?)
}

/// `PUT /auth/waitlist/{feature}`: sign the token's workspace up; idempotent (a second signup
/// answers the first).
pub async fn join_waitlist(
    state: &AppState,
    claims: &AccessClaims,
    feature: &str,
) -> Result<WaitlistSignup> {
    let member = require_token_workspace(state, claims).await?;
    let signup = WaitlistSignup {
        workspace_id: member.workspace_id.clone(),
        feature: feature.to_owned(),
        user_id: claims.sub.clone(),
        created_at: state.clock.unix(),
    };
    match state
        .table
        .put(signup.to_item(), Some(Condition::NotExists))
        .await
    {
        Ok(()) => Ok(signup),
        Err(StoreError::ConditionFailed) => {
            let existing = state
                .table
                .get(&keys::waitlist(&member.workspace_id, feature))
                .await?;
            // Removed between the two calls: the signup just asked for stands as made now.
            Ok(existing
                .map(WaitlistSignup::from_item)
                .transpose()?
                .unwrap_or(signup))
        }
        Err(error) => Err(error.into()),
    }
}

/// `DELETE /auth/waitlist/{feature}`: take the token's workspace off; idempotent.
pub async fn leave_waitlist(state: &AppState, claims: &AccessClaims, feature: &str) -> Result<()> {
    let member = require_token_workspace(state, claims).await?;
    state
        .table
        .delete(&keys::waitlist(&member.workspace_id, feature), None)
        .await?;
    Ok(())
}
