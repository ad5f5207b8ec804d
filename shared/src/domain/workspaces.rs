//! The minimum of workspaces the accounts group needs: a personal workspace made at sign-up, its
//! owner membership, and the listing of a user's workspaces. The workspaces group owns the rest.

use serde::{Deserialize, Serialize};

use super::keys;
use super::{from_item, to_item};
use crate::ports::{Item, attr};

pub const ROLE_OWNER: &str = "owner";
pub const ROLE_ADMIN: &str = "admin";
pub const ROLE_MEMBER: &str = "member";

/// `WORKSPACE#<id>` / `META`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Workspace {
    pub id: String,
    pub name: String,
    pub owner_id: String,
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

/// `WORKSPACE#<id>` / `MEMBER#<user>`, indexed under the user in GSI1.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Member {
    pub workspace_id: String,
    pub user_id: String,
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
}
