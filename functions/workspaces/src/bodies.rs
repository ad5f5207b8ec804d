//! The response bodies of this group, as typed structs the OpenAPI document describes (times as
//! RFC 3339 strings). Schema names are unique across the document (`Workspace` and `Membership`
//! are the accounts group's).

use latchkey::domain::timestamp;
use latchkey::domain::workspaces::{Invite, Member, WaitlistSignup};
use latchkey::http::answers::always_true;
use latchkey::services::workspaces::{MemberEntry, Membership};
use serde::Serialize;
use utoipa::ToSchema;

/// One of the caller's workspaces (`GET /workspaces`, `POST /workspaces`).
#[derive(Serialize, ToSchema)]
#[schema(as = WorkspaceSummary)]
pub struct WorkspaceBody {
    #[schema(format = "uuid")]
    pub id: String,
    pub name: String,
    /// The caller's role: `owner`, `admin` or `member`.
    pub role: String,
    /// The workspace made at sign-up.
    pub personal: bool,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

impl From<Membership> for WorkspaceBody {
    fn from(membership: Membership) -> Self {
        Self {
            id: membership.workspace.id.into(),
            name: membership.workspace.name,
            role: membership.role,
            personal: membership.workspace.personal,
            created_at: timestamp(membership.workspace.created_at),
            updated_at: timestamp(membership.workspace.updated_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
#[schema(as = WorkspaceList)]
pub struct WorkspacesBody {
    pub workspaces: Vec<WorkspaceBody>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = WorkspaceMember)]
pub struct MemberBody {
    #[schema(format = "uuid")]
    pub user_id: String,
    #[schema(format = Email)]
    pub email: String,
    pub name: String,
    /// `owner`, `admin` or `member`.
    pub role: String,
    #[schema(format = DateTime)]
    pub joined_at: String,
}

impl From<MemberEntry> for MemberBody {
    fn from(entry: MemberEntry) -> Self {
        Self {
            user_id: entry.member.user_id.into(),
            email: entry.email,
            name: entry.name,
            role: entry.member.role,
            joined_at: timestamp(entry.member.joined_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
#[schema(as = MemberList)]
pub struct MembersBody {
    pub members: Vec<MemberBody>,
}

/// A member after a role change.
#[derive(Serialize, ToSchema)]
#[schema(as = RoleChanged)]
pub struct MembershipChanged {
    #[schema(schema_with = always_true)]
    pub success: bool,
    #[schema(format = "uuid")]
    pub workspace_id: String,
    #[schema(format = "uuid")]
    pub user_id: String,
    /// The member's role now.
    pub role: String,
}

impl From<Member> for MembershipChanged {
    fn from(member: Member) -> Self {
        Self {
            success: true,
            workspace_id: member.workspace_id.into(),
            user_id: member.user_id.into(),
            role: member.role,
        }
    }
}

/// An invite as its workspace's managers see it (never its token).
#[derive(Serialize, ToSchema)]
#[schema(as = Invite)]
pub struct InviteBody {
    #[schema(format = "uuid")]
    pub id: String,
    #[schema(format = "uuid")]
    pub workspace_id: String,
    #[schema(format = Email)]
    pub email: String,
    /// The role accepting grants: `owner`, `admin` or `member`.
    pub role: String,
    /// The inviter's user id.
    #[schema(format = "uuid")]
    pub invited_by: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// When the link stops working.
    #[schema(format = DateTime)]
    pub expires_at: String,
}

impl From<Invite> for InviteBody {
    fn from(invite: Invite) -> Self {
        Self {
            id: invite.id.into(),
            workspace_id: invite.workspace_id.into(),
            email: invite.email,
            role: invite.role,
            invited_by: invite.invited_by.into(),
            created_at: timestamp(invite.created_at),
            expires_at: timestamp(invite.expires_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
#[schema(as = InviteList)]
pub struct InvitesBody {
    pub invites: Vec<InviteBody>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = WaitlistSignup)]
pub struct SignupBody {
    pub feature: String,
    #[schema(format = DateTime)]
    pub created_at: String,
}

impl From<WaitlistSignup> for SignupBody {
    fn from(signup: WaitlistSignup) -> Self {
        Self {
            feature: signup.feature,
            created_at: timestamp(signup.created_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
#[schema(as = WaitlistSignups)]
pub struct SignupsBody {
    pub signups: Vec<SignupBody>,
}

/// Whether the token's workspace is on a feature's waitlist.
#[derive(Serialize, ToSchema)]
#[schema(as = WaitlistStatus)]
pub struct SignedUpBody {
    #[schema(schema_with = always_true)]
    pub success: bool,
    pub feature: String,
    pub signed_up: bool,
    /// When the workspace signed up; absent when it is not signed up.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub created_at: Option<String>,
}
