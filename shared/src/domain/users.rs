//! The user record and the email claim that makes its address unique.

use crate::domain::ids::{UserId, WorkspaceId};
use serde::{Deserialize, Serialize};

use super::emails::EmailAddress;
use super::keys;
use super::{from_item, to_item};
use crate::ports::{Condition, Item, Key, Write};

/// The plan every new user starts on (plans: free < personal < business < enterprise).
pub const DEFAULT_PLAN: &str = "free";

/// The longest display name kept.
pub const MAX_NAME_CHARS: usize = 200;

/// A user, as stored under `USER#<id>` / `PROFILE`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub id: UserId,
    /// The address as given at sign-up.
    pub email: String,
    /// The uniqueness key (the email claim's partition).
    pub email_normalized: String,
    pub email_verified: bool,
    pub name: String,
    /// The argon2id PHC string; `None` for accounts made without a password (magic link,
    /// social login).
    #[serde(default)]
    pub password_hash: Option<String>,
    pub plan: String,
    #[serde(default)]
    pub features: Vec<String>,
    /// Second factor required after the first one. Set by the MFA group; false until then.
    #[serde(default)]
    pub mfa_enabled: bool,
    /// The workspace a new session starts in (the `org` claim) and the user's role there.
    #[serde(default)]
    pub active_workspace: Option<WorkspaceId>,
    #[serde(default)]
    pub active_role: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// The credential epoch: moves on, in the same write as a new password, whenever every
    /// existing session must end. Sessions and refresh tokens carry the epoch they started in,
    /// and every refresh and session check compares it with this one, so revocation does not
    /// depend on listing and deleting sessions one by one.
    #[serde(default)]
    pub credential_epoch: i64,
    /// Optimistic locking: every update is conditional on the version read, and increments it.
    pub version: i64,
    /// Set by an operator (`latchkey users disable`): no new session starts, and the credential
    /// epoch moved on in the same write, so the open ones ended.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disabled: bool,
}

impl User {
    pub fn key(&self) -> Key {
        keys::user(&self.id)
    }

    pub fn to_item(&self) -> Item {
        to_item(&self.key(), self)
    }

    pub fn from_item(item: Item) -> Result<Self, super::MalformedItem> {
        from_item(item)
    }

    pub fn has_password(&self) -> bool {
        self.password_hash.is_some()
    }

    /// The workspace new sessions start in, and the role there, set without the version
    /// check: it touches only these two attributes, so it can share a transaction (a workspace
    /// switch, an invite accepted) without failing on an unrelated profile change. With
    /// `email_verified`, also marks the address proven (an accepted invite link proves it).
    pub fn active_workspace_write(
        user_id: &UserId,
        workspace_id: &WorkspaceId,
        role: &str,
        email_verified: bool,
    ) -> Write {
        let mut set = Item::new();
        set.insert("active_workspace".into(), workspace_id.into());
        set.insert("active_role".into(), role.into());
        if email_verified {
            set.insert("email_verified".into(), true.into());
        }
        Write::Update {
            key: keys::user(user_id),
            set,
            remove: vec![],
            condition: Some(Condition::Exists),
        }
    }
}

/// The user attribute holding the credential epoch.
pub const CREDENTIAL_EPOCH: &str = "credential_epoch";

/// A typed change to a user record: the attributes it sets, written under optimistic locking.
#[derive(Clone, Debug, Default, PartialEq)]
#[must_use]
pub struct UserUpdate {
    set: Item,
}

impl UserUpdate {
    pub fn new() -> Self {
        Self::default()
    }

    /// A new password hash, and when it changed.
    pub fn password(mut self, password_hash: String, changed_at: i64) -> Self {
        self.set
            .insert("password_hash".into(), password_hash.into());
        self.set
            .insert("password_changed_at".into(), changed_at.into());
        self
    }

    /// A new plan and the user's own features (beyond those the plan grants).
    pub fn plan(mut self, plan: super::plans::Plan, features: Vec<String>) -> Self {
        self.set.insert("plan".into(), plan.as_str().into());
        self.set.insert("features".into(), features.into());
        self
    }

    /// Every session started before this change ends: the credential epoch moves on.
    pub fn end_sessions(mut self, user: &User) -> Self {
        self.set
            .insert(CREDENTIAL_EPOCH.into(), (user.credential_epoch + 1).into());
        self
    }

    /// The address is proven.
    pub fn email_verified(mut self) -> Self {
        self.set.insert("email_verified".into(), true.into());
        self
    }

    /// The account is disabled (no sign-in) or enabled again.
    pub fn disabled(mut self, disabled: bool) -> Self {
        self.set.insert("disabled".into(), disabled.into());
        self
    }

    /// The second factor is on or off (the MFA step of every sign-in reads this flag).
    pub fn mfa_enabled(mut self, enabled: bool) -> Self {
        self.set.insert("mfa_enabled".into(), enabled.into());
        self
    }

    /// The write of this change to `user` as read: the key, the attributes to set (stamped with
    /// `updated_at` and the next `version`) and the condition that the version read is current.
    pub fn for_user(mut self, user: &User, now: i64) -> (Key, Item, Condition) {
        self.set.insert("updated_at".into(), now.into());
        self.set.insert("version".into(), (user.version + 1).into());
        (user.key(), self.set, Condition::version(user.version))
    }

    /// The user as this change leaves them (what `for_user` writes, applied to `user`).
    pub fn applied_to(&self, user: &User, now: i64) -> Result<User, super::MalformedItem> {
        let (_, set, _) = self.clone().for_user(user, now);
        let mut item = user.to_item();
        item.extend(set);
        User::from_item(item)
    }

    /// The condition under which a session that started in `epoch` is still good: the user's
    /// credential epoch has not moved on since.
    pub fn epoch_unchanged(epoch: i64) -> Condition {
        if epoch == 0 {
            // Users written before the epoch existed carry none: absent is epoch 0.
            Condition::EqualsOrAbsent(CREDENTIAL_EPOCH.into(), epoch.into())
        } else {
            Condition::Equals(CREDENTIAL_EPOCH.into(), epoch.into())
        }
    }
}

/// A display name from a client: trimmed, at most `MAX_NAME_CHARS` characters; when none is
/// given, the email's local part. A 400 naming `name` for control characters (NUL included: it
/// ends strings in C and in many a log viewer) and bidi controls (U+202A-202E, U+2066-2069, which
/// make a name read backwards in every mail and page that shows it).
pub fn display_name(name: Option<&str>, email: &EmailAddress) -> crate::Result<String> {
    let name = name.map(str::trim).filter(|n| !n.is_empty());
    match name {
        Some(name) if name.chars().any(is_refused_in_names) => Err(crate::Error::invalid_field(
            "name",
            "must not contain control or text-direction characters",
        )),
        Some(name) => Ok(name.chars().take(MAX_NAME_CHARS).collect()),
        None => Ok(email
            .as_str()
            .rsplit_once('@')
            .map(|(local, _)| local.to_owned())
            .unwrap_or_default()),
    }
}

fn is_refused_in_names(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// The email claim, `EMAIL#<normalized>` / `EMAIL`: which user owns an address.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EmailClaim {
    pub user_id: UserId,
    pub email: String,
}

impl EmailClaim {
    pub fn to_item(&self, normalized: &str) -> Item {
        to_item(&keys::email_claim(normalized), self)
    }

    pub fn from_item(item: Item) -> Result<Self, super::MalformedItem> {
        from_item(item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::Key;

    fn user() -> User {
        User {
            id: "u1".into(),
            email: "Ada@Example.com".into(),
            email_normalized: "ada@example.com".into(),
            email_verified: false,
            name: "Ada".into(),
            password_hash: None,
            plan: DEFAULT_PLAN.into(),
            features: vec![],
            mfa_enabled: false,
            active_workspace: Some("w1".into()),
            active_role: Some("owner".into()),
            created_at: 1,
            updated_at: 1,
            credential_epoch: 0,
            version: 1,
            disabled: false,
        }
    }

    #[test]
    fn a_user_round_trips_through_its_item_without_null_attributes() {
        let item = user().to_item();
        assert_eq!(Key::of(&item), Some(Key::new("USER#u1", "PROFILE")));
        assert!(!item.contains_key("password_hash"));
        assert_eq!(User::from_item(item).unwrap(), user());
    }

    #[test]
    fn a_user_update_bumps_the_version_under_the_version_read() {
        let (key, set, condition) = UserUpdate::new()
            .email_verified()
            .password("phc".into(), 7)
            .for_user(&user(), 9);
        assert_eq!(key, user().key());
        assert_eq!(condition, Condition::version(1));
        assert_eq!(set["version"], 2);
        assert_eq!(set["updated_at"], 9);
        assert_eq!(set["email_verified"], true);
        assert_eq!(set["password_hash"], "phc");
        assert_eq!(set["password_changed_at"], 7);
        let mut item = user().to_item();
        item.extend(set);
        let updated = User::from_item(item).unwrap();
        assert!(updated.email_verified);
        assert_eq!(updated.version, 2);
    }

    #[test]
    fn the_display_name_defaults_to_the_emails_local_part_and_is_trimmed() {
        let email = EmailAddress::parse("ada@example.com").unwrap();
        assert_eq!(display_name(None, &email).unwrap(), "ada");
        assert_eq!(display_name(Some("  "), &email).unwrap(), "ada");
        assert_eq!(display_name(Some(" Ada L "), &email).unwrap(), "Ada L");
        assert_eq!(
            display_name(Some(&"x".repeat(500)), &email).unwrap().len(),
            MAX_NAME_CHARS
        );
        assert_eq!(display_name(Some("Zoë 李"), &email).unwrap(), "Zoë 李");
    }

    #[test]
    fn control_and_text_direction_characters_in_a_name_are_refused_naming_the_field() {
        let email = EmailAddress::parse("ada@example.com").unwrap();
        for bad in [
            "Ada\0",
            "A\u{0}da",
            "Ada\u{7}",
            "Ada\nLovelace",
            "evil\u{202E}gnp.exe",
            "a\u{2066}b",
        ] {
            let error = display_name(Some(bad), &email).unwrap_err();
            assert_eq!(error.status(), 400, "{bad:?}");
            assert_eq!(error.extra["field"], "name", "{bad:?}");
        }
    }
}
