//! Workspaces (the `org` of a token), their members and roles, invites and waitlist signups:
//! records, key use and the role rules, no I/O.
//!
//! Role rules (API.md, "Workspaces"): owners and admins invite and change roles; only an owner
//! makes, invites, demotes or removes an owner; members change nothing but may leave; the last
//! owner can neither leave nor be demoted.

use crate::domain::ids::{InviteId, UserId, WorkspaceId};
use serde::{Deserialize, Serialize};

use super::keys;
use super::{from_item, to_item};
use crate::ports::{Condition, Item, Key, attr};

pub const ROLE_OWNER: &str = "owner";
pub const ROLE_ADMIN: &str = "admin";
pub const ROLE_MEMBER: &str = "member";

/// A role in a workspace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    Owner,
    Admin,
    Member,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => ROLE_OWNER,
            Self::Admin => ROLE_ADMIN,
            Self::Member => ROLE_MEMBER,
        }
    }

    /// A role named by a client or read from a record; `None` for anything else.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw.trim() {
            ROLE_OWNER => Some(Self::Owner),
            ROLE_ADMIN => Some(Self::Admin),
            ROLE_MEMBER => Some(Self::Member),
            _ => None,
        }
    }

    /// Owners and admins invite and change roles.
    pub fn manages_members(self) -> bool {
        matches!(self, Self::Owner | Self::Admin)
    }
}

/// Why a change to the membership is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RoleRefusal {
    #[error("only owners and admins manage members")]
    NotAManager,
    #[error("only an owner grants, changes or removes the owner role")]
    OwnerOnly,
}

/// Whether `actor` may invite someone as `role`.
pub fn may_invite(actor: Role, role: Role) -> Result<(), RoleRefusal> {
    if !actor.manages_members() {
        return Err(RoleRefusal::NotAManager);
    }
    if role == Role::Owner && actor != Role::Owner {
        return Err(RoleRefusal::OwnerOnly);
    }
    Ok(())
}

/// Whether `actor` may change a member whose role is `current` to `new`. Changing one's own
/// role follows the same rules: a member cannot promote themselves.
pub fn may_change_role(actor: Role, current: Role, new: Role) -> Result<(), RoleRefusal> {
    if !actor.manages_members() {
        return Err(RoleRefusal::NotAManager);
    }
    if (current == Role::Owner || new == Role::Owner) && actor != Role::Owner {
        return Err(RoleRefusal::OwnerOnly);
    }
    Ok(())
}

/// Whether `actor` may remove a member whose role is `target` (`itself`: the actor leaving).
pub fn may_remove(actor: Role, target: Role, itself: bool) -> Result<(), RoleRefusal> {
    if itself {
        return Ok(());
    }
    if !actor.manages_members() {
        return Err(RoleRefusal::NotAManager);
    }
    if target == Role::Owner && actor != Role::Owner {
        return Err(RoleRefusal::OwnerOnly);
    }
    Ok(())
}

/// `WORKSPACE#<id>` / `META`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Workspace {
    pub id: WorkspaceId,
    pub name: String,
    pub owner_id: UserId,
    /// Made for its owner at sign-up.
    #[serde(default)]
    pub personal: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Workspace {
    pub fn to_item(&self) -> Item {
        to_item(&keys::workspace(&self.id), self)
    }

    pub fn from_item(item: Item) -> Result<Self, super::MalformedItem> {
        from_item(item)
    }
}

/// `WORKSPACE#<id>` / `MEMBER#<user>`, indexed under the user in GSI1 (so a user's workspaces
/// are one query).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Member {
    pub workspace_id: WorkspaceId,
    pub user_id: UserId,
    pub role: String,
    pub joined_at: i64,
}

impl Member {
    pub fn to_item(&self) -> Item {
        let mut item = to_item(&keys::member(&self.workspace_id, &self.user_id), self);
        let (gsi1pk, gsi1sk) = keys::member_gsi1(&self.workspace_id, &self.user_id);
        item.insert(attr::GSI1PK.into(), gsi1pk.into());
        item.insert(attr::GSI1SK.into(), gsi1sk.into());
        item
    }

    pub fn from_item(item: Item) -> Result<Self, super::MalformedItem> {
        from_item(item)
    }

    /// The role as a `Role`; a stored role we do not know counts as the least one.
    pub fn role(&self) -> Role {
        Role::parse(&self.role).unwrap_or(Role::Member)
    }

    /// The condition that a member item still holds this role (guards role changes, removals
    /// and the last-owner rule against concurrent changes).
    pub fn has_role(role: Role) -> Condition {
        Condition::Equals("role".into(), role.as_str().into())
    }
}

/// `WORKSPACE#<id>` / `INVITE#<invite id>`: a pending invite, listed under its workspace. Its
/// token is stored only as a hash, in the `InviteToken` item that finds it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Invite {
    pub id: InviteId,
    pub workspace_id: WorkspaceId,
    /// The address as given.
    pub email: String,
    pub email_normalized: String,
    pub role: String,
    pub invited_by: UserId,
    pub token_hash: String,
    pub created_at: i64,
    /// Unix seconds; also the item's `ttl`.
    pub expires_at: i64,
}

impl Invite {
    pub fn key(&self) -> Key {
        keys::invite(&self.workspace_id, &self.id)
    }

    pub fn to_item(&self) -> Item {
        let mut item = to_item(&self.key(), self);
        item.insert(attr::TTL.into(), self.expires_at.into());
        item
    }

    pub fn from_item(item: Item) -> Result<Self, super::MalformedItem> {
        from_item(item)
    }

    pub fn is_live(&self, now: i64) -> bool {
        now < self.expires_at
    }

    pub fn role(&self) -> Role {
        Role::parse(&self.role).unwrap_or(Role::Member)
    }

    /// The token item's copy of this invite, so accepting reads one item.
    pub fn token_item(&self) -> Item {
        let mut item = to_item(&keys::invite_token(&self.token_hash), self);
        item.insert(attr::TTL.into(), self.expires_at.into());
        item
    }
}

/// `WORKSPACE#<id>` / `WAITLIST#<feature>`: the workspace signed up for a feature's waitlist.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WaitlistSignup {
    pub workspace_id: WorkspaceId,
    pub feature: String,
    pub user_id: UserId,
    pub created_at: i64,
}

impl WaitlistSignup {
    pub fn to_item(&self) -> Item {
        to_item(&keys::waitlist(&self.workspace_id, &self.feature), self)
    }

    pub fn from_item(item: Item) -> Result<Self, super::MalformedItem> {
        from_item(item)
    }
}

/// The longest feature name on a waitlist.
pub const MAX_FEATURE_CHARS: usize = 64;

/// A feature name as API.md allows it: `[a-z0-9_-]{1,64}`.
pub fn valid_feature(feature: &str) -> bool {
    (1..=MAX_FEATURE_CHARS).contains(&feature.len())
        && feature
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// The longest workspace name kept.
pub const MAX_WORKSPACE_NAME_CHARS: usize = 100;

/// A workspace name from a client: trimmed, not empty, at most `MAX_WORKSPACE_NAME_CHARS`
/// characters, no control or text-direction characters (it is shown in invite mails, where a
/// bidi override would make it read backwards), as for display names.
pub fn workspace_name(raw: &str) -> Option<String> {
    let name = raw.trim();
    let fits = !name.is_empty() && name.chars().count() <= MAX_WORKSPACE_NAME_CHARS;
    let refused =
        |c: char| c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}');
    (fits && !name.chars().any(refused)).then(|| name.to_owned())
}

/// The name of a new user's personal workspace.
pub fn personal_workspace_name(user_name: &str) -> String {
    if user_name.is_empty() {
        "Personal workspace".to_owned()
    } else {
        format!("{user_name}'s workspace")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_item_is_listed_under_its_user_in_gsi1() {
        let member = Member {
            workspace_id: "w1".into(),
            user_id: "u1".into(),
            role: ROLE_OWNER.into(),
            joined_at: 5,
        };
        let item = member.to_item();
        assert_eq!(item["GSI1PK"], "USER#u1");
        assert_eq!(item["GSI1SK"], "WORKSPACE#w1");
        assert_eq!(Member::from_item(item).unwrap(), member);
    }

    #[test]
    fn owners_and_admins_invite_but_only_an_owner_invites_an_owner() {
        use Role::*;
        assert_eq!(may_invite(Member, Member), Err(RoleRefusal::NotAManager));
        assert_eq!(may_invite(Admin, Member), Ok(()));
        assert_eq!(may_invite(Admin, Admin), Ok(()));
        assert_eq!(may_invite(Admin, Owner), Err(RoleRefusal::OwnerOnly));
        assert_eq!(may_invite(Owner, Owner), Ok(()));
    }

    #[test]
    fn a_member_cannot_promote_themselves_and_an_admin_cannot_make_or_unmake_an_owner() {
        use Role::*;
        assert_eq!(
            may_change_role(Member, Member, Admin),
            Err(RoleRefusal::NotAManager)
        );
        assert_eq!(may_change_role(Admin, Member, Admin), Ok(()));
        assert_eq!(
            may_change_role(Admin, Member, Owner),
            Err(RoleRefusal::OwnerOnly)
        );
        assert_eq!(
            may_change_role(Admin, Owner, Member),
            Err(RoleRefusal::OwnerOnly)
        );
        assert_eq!(may_change_role(Owner, Admin, Owner), Ok(()));
    }

    #[test]
    fn anyone_may_leave_but_only_managers_remove_others() {
        use Role::*;
        assert_eq!(may_remove(Member, Member, true), Ok(()));
        assert_eq!(
            may_remove(Member, Member, false),
            Err(RoleRefusal::NotAManager)
        );
        assert_eq!(may_remove(Admin, Member, false), Ok(()));
        assert_eq!(may_remove(Admin, Owner, false), Err(RoleRefusal::OwnerOnly));
        assert_eq!(may_remove(Owner, Owner, false), Ok(()));
    }

    #[test]
    fn feature_names_are_lowercase_words_of_at_most_64_characters() {
        for good in ["beta", "agents_v2", "a-b-c", "x", &"a".repeat(64)] {
            assert!(valid_feature(good), "{good}");
        }
        for bad in ["", "Beta", "a b", "a/b", "é", &"a".repeat(65), "../x"] {
            assert!(!valid_feature(bad), "{bad}");
        }
    }

    #[test]
    fn an_invite_and_its_token_item_expire_together() {
        let invite = Invite {
            id: "i1".into(),
            workspace_id: "w1".into(),
            email: "Ada@Example.com".into(),
            email_normalized: "ada@example.com".into(),
            role: ROLE_ADMIN.into(),
            invited_by: "u1".into(),
            token_hash: "ab".into(),
            created_at: 1,
            expires_at: 9,
        };
        let item = invite.to_item();
        assert_eq!(Key::of(&item), Some(Key::new("WORKSPACE#w1", "INVITE#i1")));
        assert_eq!(item["ttl"], 9);
        let token = invite.token_item();
        assert_eq!(
            Key::of(&token),
            Some(Key::new("INVITETOKEN#ab", "INVITETOKEN"))
        );
        assert_eq!(Invite::from_item(token).unwrap(), invite);
        assert!(invite.is_live(8) && !invite.is_live(9));
    }

    #[test]
    fn workspace_names_are_trimmed_and_bounded() {
        assert_eq!(workspace_name("  Acme ").as_deref(), Some("Acme"));
        assert_eq!(workspace_name("   "), None);
        assert_eq!(workspace_name("a\nb"), None);
        assert_eq!(workspace_name("evil\u{202E}gpj.exe"), None);
        assert_eq!(workspace_name(&"x".repeat(101)), None);
    }
}
