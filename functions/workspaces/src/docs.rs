//! The OpenAPI descriptions more than one route of this group shares.

pub const WORKSPACE_ID: &str = "A workspace id, as listed by `GET /workspaces`.";

pub const NO_SUCH_WORKSPACE: &str = "`not_found`: no such workspace for the caller (it does \
    not exist, the caller is not in it, or the id is not a workspace id: the same answer).";

pub const NO_SUCH_MEMBER: &str = "`not_found`: no such workspace for the caller, or no such \
    member in it.";

pub const NOT_ALLOWED: &str = "`forbidden`: the caller's role does not allow it (only owners \
    and admins manage members and invites; only an owner grants, changes or removes the owner \
    role). `csrf_failed`: a cookie-authenticated write without a valid `X-CSRF-Token`.";

pub const LAST_OWNER: &str = "`last_owner`: the workspace's last owner cannot leave or be \
    demoted; make another owner first. `conflict`: the workspace changed at the same time; try \
    again.";

pub const ACCEPTED: &str = "The invitee is a member and signed in to the workspace (an address \
    with no account gets one, verified, with no password): the AuthResponse whose token's `org` \
    is the workspace (token cookies set when enabled), or the MFA step.";

pub const INVALID_INVITE: &str = "`invalid_request` with `field: token`: no token. \
    `invalid_token`: the invite link is unknown, used, revoked, replaced by a newer invite, or \
    expired (all the same answer).";

pub const ACCEPT_CONFLICT: &str = "`already_member`: the invitee is already a member. \
    `conflict`: the workspace changed at the same time; try again.";

pub const REDEMPTIONS_LIMITED: &str = "`rate_limited`: too many emailed-token redemptions from \
    this client address (60 per 15 minutes).";

pub const FEATURE: &str = "A feature name: 1 to 64 characters of a-z, 0-9, `_` and `-`.";

pub const BAD_FEATURE: &str = "`invalid_request` with `field: feature`: not a feature name.";

pub const WAITLIST_UNAUTHORIZED: &str = "`authentication_required`: no credentials were \
    presented. `invalid_token`: the credentials are malformed, expired, forged, or their session \
    has ended, or the holder is no longer a member of the token's workspace.";

pub const WAITLIST_FORBIDDEN: &str = "`forbidden`: the token names no workspace. \
    `csrf_failed`: a cookie-authenticated write without a valid `X-CSRF-Token`.";
