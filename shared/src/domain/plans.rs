//! Plans and the features they grant (seed 001): `free < personal < business < enterprise`, a
//! plan grants its own features and every feature of the plans below it
//! (`LATCHKEY_PLAN_FEATURES`), and a user may hold extra features of their own.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Ordered `free < personal < business < enterprise` (the order of the variants).
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Plan {
    #[default]
    Free,
    Personal,
    Business,
    Enterprise,
}

impl Plan {
    pub const ALL: [Plan; 4] = [Plan::Free, Plan::Personal, Plan::Business, Plan::Enterprise];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Free => "free",
            Self::Personal => "personal",
            Self::Business => "business",
            Self::Enterprise => "enterprise",
        }
    }

    /// The plan a stored or claimed name stands for; a name we do not know (a record written by
    /// a newer version, say) counts as the lowest plan, so it never grants more than it should.
    pub fn lenient(name: &str) -> Self {
        name.parse().unwrap_or_default()
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A plan name that is not one of the four.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("expected one of free, personal, business, enterprise; got `{0}`")]
pub struct UnknownPlan(pub String);

impl FromStr for Plan {
    type Err = UnknownPlan;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|plan| plan.as_str() == name)
            .ok_or_else(|| UnknownPlan(name.to_owned()))
    }
}

/// The longest feature name accepted, and the characters it may use: features travel in JWT
/// claims, authorizer context and `X-Auth-Features` (comma-separated), so no commas or spaces.
pub const MAX_FEATURE_CHARS: usize = 64;

/// Whether a feature name is well formed (`[a-z0-9_.:-]`, 1 to 64 characters).
pub fn is_feature_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_FEATURE_CHARS
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.:-".contains(&b))
}

/// `LATCHKEY_PLAN_FEATURES`: what each plan grants on its own (the plans below it add theirs).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PlanFeatures(BTreeMap<Plan, BTreeSet<String>>);

impl PlanFeatures {
    /// Parse the JSON object `{"business": ["advanced_analytics"], ...}`; the message of an error
    /// says what is wrong.
    pub fn parse(json: &str) -> Result<Self, String> {
        let raw: BTreeMap<String, Vec<String>> = serde_json::from_str(json)
            .map_err(|e| format!("expected a JSON object from plan to a list of features: {e}"))?;
        let mut grants = BTreeMap::new();
        for (plan, features) in raw {
            let plan: Plan = plan.parse().map_err(|e: UnknownPlan| e.to_string())?;
            for feature in &features {
                if !is_feature_name(feature) {
                    return Err(format!(
                        "feature `{feature}` of plan {plan}: use 1 to 64 of a-z 0-9 _ . : -"
                    ));
                }
            }
            grants.insert(plan, features.into_iter().collect());
        }
        Ok(Self(grants))
    }

    /// Every feature `plan` grants (its own and its lower plans'), plus `extra`, sorted and
    /// without duplicates.
    pub fn features_of(&self, plan: Plan, extra: &[String]) -> Vec<String> {
        let mut features: BTreeSet<&str> = self
            .0
            .range(..=plan)
            .flat_map(|(_, features)| features.iter().map(String::as_str))
            .collect();
        features.extend(extra.iter().map(String::as_str));
        features.into_iter().map(str::to_owned).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_are_ordered_free_personal_business_enterprise() {
        assert!(Plan::Free < Plan::Personal);
        assert!(Plan::Personal < Plan::Business);
        assert!(Plan::Business < Plan::Enterprise);
        assert_eq!("business".parse::<Plan>(), Ok(Plan::Business));
        assert!("gold".parse::<Plan>().is_err());
        assert_eq!(Plan::lenient("gold"), Plan::Free);
    }

    #[test]
    fn a_plan_grants_the_features_of_the_plans_below_it_and_the_users_own() {
        let grants = PlanFeatures::parse(
            r#"{"personal": ["export"], "business": ["advanced_analytics"], "enterprise": ["sso"]}"#,
        )
        .unwrap();
        assert_eq!(grants.features_of(Plan::Free, &[]), Vec::<String>::new());
        assert_eq!(
            grants.features_of(Plan::Business, &["beta".into()]),
            vec!["advanced_analytics", "beta", "export"]
        );
        assert_eq!(
            grants.features_of(Plan::Enterprise, &[]),
            vec!["advanced_analytics", "export", "sso"]
        );
    }

    #[test]
    fn bad_plan_features_say_what_is_wrong() {
        assert!(
            PlanFeatures::parse("[1]")
                .unwrap_err()
                .contains("JSON object")
        );
        assert!(
            PlanFeatures::parse(r#"{"gold": []}"#)
                .unwrap_err()
                .contains("gold")
        );
        assert!(
            PlanFeatures::parse(r#"{"free": ["a b"]}"#)
                .unwrap_err()
                .contains("a b")
        );
    }
}
