//! The request rules and expiry test both `Table` adapters share, so the embedded store and
//! DynamoDB accept, refuse and hide exactly the same things.

use std::collections::HashSet;

use serde_json::Value;

use crate::ports::{Item, Key, MAX_TRANSACTION_WRITES, StoreError, Write, attr};

/// Whether an item is live at `now` (Unix seconds): it has no numeric `ttl`, or one in the future.
/// DynamoDB removes expired items hours late, so expiry is decided here, never by the backend.
pub fn is_live(item: &Item, now: i64) -> bool {
    match item.get(attr::TTL).and_then(Value::as_f64) {
        Some(ttl) => ttl > now as f64,
        None => true,
    }
}

/// Checks an update and drops `PK`/`SK` from `set` when they merely repeat the key (callers may
/// pass a whole item). DynamoDB refuses key attributes and overlapping paths in an update
/// expression, so the embedded store refuses them too.
pub fn checked_update(key: &Key, mut set: Item, remove: &[String]) -> Result<Item, StoreError> {
    for (name, part) in [(attr::PK, &key.pk), (attr::SK, &key.sk)] {
        if let Some(value) = set.remove(name)
            && value.as_str() != Some(part.as_str())
        {
            return Err(StoreError::Invalid(format!(
                "an update cannot change the key attribute {name}"
            )));
        }
    }
    let mut removed = HashSet::new();
    for name in remove {
        if name == attr::PK || name == attr::SK {
            return Err(StoreError::Invalid(format!(
                "an update cannot remove the key attribute {name}"
            )));
        }
        if set.contains_key(name) || !removed.insert(name) {
            return Err(StoreError::Invalid(format!(
                "an update names the attribute {name} twice"
            )));
        }
    }
    if set.is_empty() && remove.is_empty() {
        return Err(StoreError::Invalid(
            "an update must set or remove something".into(),
        ));
    }
    Ok(set)
}

/// Checks an `add`: the counter cannot be a key attribute.
pub fn checked_counter(attribute: &str) -> Result<(), StoreError> {
    if attribute == attr::PK || attribute == attr::SK || attribute == attr::TTL {
        return Err(StoreError::Invalid(format!(
            "the attribute {attribute} cannot be a counter"
        )));
    }
    Ok(())
}

/// Checks a put: the item must carry string `PK` and `SK`.
pub fn checked_put_key(item: &Item) -> Result<Key, StoreError> {
    Key::of(item).ok_or_else(|| StoreError::Invalid("an item needs string PK and SK".into()))
}

/// Checks a transaction: at most `MAX_TRANSACTION_WRITES` writes, each with a key, at most one per
/// key (DynamoDB's rules), and every update well formed.
pub fn checked_transaction(writes: &[Write]) -> Result<(), StoreError> {
    if writes.len() > MAX_TRANSACTION_WRITES {
        return Err(StoreError::Invalid(format!(
            "a transaction holds at most {MAX_TRANSACTION_WRITES} writes, not {}",
            writes.len()
        )));
    }
    let mut keys = HashSet::new();
    for write in writes {
        let key = match write {
            Write::Put { item, .. } => checked_put_key(item)?,
            Write::Update {
                key, set, remove, ..
            } => {
                checked_update(key, set.clone(), remove)?;
                key.clone()
            }
            Write::Delete { key, .. } | Write::Check { key, .. } => key.clone(),
        };
        if !keys.insert(key.clone()) {
            return Err(StoreError::Invalid(format!(
                "a transaction writes the key {key} twice"
            )));
        }
    }
    Ok(())
}

/// The `GSI1` entry of an item: both index attributes as strings, or none (a sparse index).
pub fn gsi1_of(item: &Item) -> Option<(&str, &str)> {
    Some((
        item.get(attr::GSI1PK)?.as_str()?,
        item.get(attr::GSI1SK)?.as_str()?,
    ))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn item(value: Value) -> Item {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn an_item_with_a_ttl_at_now_is_expired() {
        assert!(!is_live(&item(json!({"ttl": 100})), 100));
        assert!(is_live(&item(json!({"ttl": 101})), 100));
        assert!(is_live(&item(json!({"PK": "a"})), 100));
    }

    #[test]
    fn an_update_may_repeat_but_not_change_the_key() {
        let key = Key::new("a", "b");
        let set = checked_update(&key, item(json!({"PK": "a", "SK": "b", "x": 1})), &[]);
        assert_eq!(set.ok(), Some(item(json!({"x": 1}))));
        assert!(checked_update(&key, item(json!({"PK": "z"})), &[]).is_err());
        assert!(checked_update(&key, item(json!({"x": 1})), &["x".into()]).is_err());
        assert!(checked_update(&key, Item::new(), &[]).is_err());
    }
}
