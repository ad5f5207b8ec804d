//! The response bodies of this group, as typed structs (times as RFC 3339 strings).

use latchkey::domain::timestamp;
use latchkey::domain::workspaces::{Invite, Member, WaitlistSignup};
use latchkey::services::workspaces::{MemberEntry, Membership};
use serde::Serialize;

/// One of the caller's workspaces (`GET /workspaces`, `POST /workspaces`).
#[derive(Serialize)]
pub struct WorkspaceBody {
    pub id: String,
    pub name: String,
    pub role: String,
    pub personal: bool,
    pub created_at: String,
    pub updated_at: String,
}

impl From<Membership> for WorkspaceBody {
    fn from(membership: Membership) -> Self {
        Self {
            id: membership.workspace.id,
            name: membership.workspace.name,
            role: membership.role,
            personal: membership.workspace.personal,
            created_at: timestamp(membership.workspace.created_at),
            updated_at: timestamp(membership.workspace.updated_at),
        }
    }
}

#[derive(Serialize)]
pub struct WorkspacesBody {
    pub workspaces: Vec<WorkspaceBody>,
}

#[derive(Serialize)]
pub struct MemberBody {
    pub user_id: String,
    pub email: String,
    pub name: String,
    pub role: String,
    pub joined_at: String,
}

impl From<MemberEntry> for MemberBody {
    fn from(entry: MemberEntry) -> Self {
        Self {
            user_id: entry.member.user_id,
            email: entry.email,
            name: entry.name,
            role: entry.member.role,
            joined_at: timestamp(entry.member.joined_at),
        }
    }
}

#[derive(Serialize)]
pub struct MembersBody {
    pub members: Vec<MemberBody>,
}

/// A member after a role change.
#[derive(Serialize)]
pub struct MembershipChanged {
    pub success: bool,
    pub workspace_id: String,
    pub user_id: String,
    pub role: String,
}

impl From<Member> for MembershipChanged {
    fn from(member: Member) -> Self {
        Self {
            success: true,
            workspace_id: member.workspace_id,
            user_id: member.user_id,
            role: member.role,
        }
    }
}

/// An invite as its workspace's managers see it (never its token).
#[derive(Serialize)]
pub struct InviteBody {
    pub id: String,
    pub workspace_id: String,
    pub email: String,
    pub role: String,
    pub invited_by: String,
    pub created_at: String,
    pub expires_at: String,
}

impl From<Invite> for InviteBody {
    fn from(invite: Invite) -> Self {
        Self {
            id: invite.id,
            workspace_id: invite.workspace_id,
            email: invite.email,
            role: invite.role,
            invited_by: invite.invited_by,
            created_at: timestamp(invite.created_at),
            expires_at: timestamp(invite.expires_at),
        }
    }
}

#[derive(Serialize)]
pub struct InvitesBody {
    pub invites: Vec<InviteBody>,
}

/// `{"success": true, "message": ...}`.
#[derive(Serialize)]
pub struct Done {
    pub success: bool,
    pub message: &'static str,
}

impl Done {
    pub fn new(message: &'static str) -> Self {
        Self {
            success: true,
            message,
        }
    }
}

#[derive(Serialize)]
pub struct SignupBody {
    pub feature: String,
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

#[derive(Serialize)]
pub struct SignupsBody {
    pub signups: Vec<SignupBody>,
}

/// Whether the token's workspace is on a feature's waitlist.
#[derive(Serialize)]
pub struct SignedUpBody {
    pub success: bool,
    pub feature: String,
    pub signed_up: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
}
