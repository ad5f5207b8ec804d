//! The storage conformance suite: every scenario runs once on the embedded store and once on
//! DynamoDB (the emulator), so both backends of the `Table` port behave the same.

use std::sync::Arc;

use latchkey::adapters::system::SystemClock;
use latchkey::ports::{Clock, Condition, Item, Key, StoreError, Table, Write};
use latchkey_tests::on_both_backends;
use latchkey_tests::{Backend, fresh_table};
use serde_json::{Value, json};

fn item(value: Value) -> Item {
    match value {
        Value::Object(map) => map,
        other => panic!("an item is a JSON object, not {other}"),
    }
}

fn now() -> i64 {
    SystemClock.unix()
}

async fn table(backend: Backend) -> (Arc<dyn Table>, tempfile::TempDir) {
    fresh_table(backend, Arc::new(SystemClock)).await
}

async fn conditional_create_refuses_a_duplicate(backend: Backend) {
    let (table, _dir) = table(backend).await;
    let first = item(json!({"PK": "EMAIL#a@example.com", "SK": "EMAIL", "user": "1"}));
    let second = item(json!({"PK": "EMAIL#a@example.com", "SK": "EMAIL", "user": "2"}));

    table
        .put(first.clone(), Some(Condition::NotExists))
        .await
        .expect("the first claim");
    let duplicate = table.put(second, Some(Condition::NotExists)).await;

    assert!(
        matches!(duplicate, Err(StoreError::ConditionFailed)),
        "{duplicate:?}"
    );
    let stored = table.get(&Key::new("EMAIL#a@example.com", "EMAIL")).await;
    assert_eq!(stored.expect("get"), Some(first));
}

on_both_backends!(conditional_create_refuses_a_duplicate);

async fn a_transaction_with_one_failing_condition_writes_nothing(backend: Backend) {
    let (table, _dir) = table(backend).await;
    let user = item(json!({"PK": "USER#1", "SK": "PROFILE", "name": "Ada", "version": 1}));
    let refresh = item(json!({"PK": "REFRESH#h", "SK": "REFRESH", "state": "current"}));
    for seed in [&user, &refresh] {
        table.put(seed.clone(), None).await.expect("seed");
    }
    let writes = |must_exist: &str| {
        vec![
            Write::Put {
                item: item(json!({"PK": "EMAIL#ada", "SK": "EMAIL", "user": "1"})),
                condition: Some(Condition::NotExists),
            },
            Write::Update {
                key: Key::new("USER#1", "PROFILE"),
                set: item(json!({"name": "Ada L.", "version": 2})),
                remove: vec![],
                condition: Some(Condition::version(1)),
            },
            Write::Delete {
                key: Key::new("REFRESH#h", "REFRESH"),
                condition: Some(Condition::Equals("state".into(), json!("current"))),
            },
            Write::Check {
                key: Key::new(must_exist, "PROFILE"),
                condition: Condition::Exists,
            },
        ]
    };

    let cancelled = table.transact(writes("USER#missing")).await;

    assert!(
        matches!(cancelled, Err(StoreError::ConditionFailed)),
        "{cancelled:?}"
    );
    let get = |pk: &'static str, sk: &'static str| {
        let table = table.clone();
        async move { table.get(&Key::new(pk, sk)).await.expect("get") }
    };
    assert_eq!(get("EMAIL#ada", "EMAIL").await, None);
    assert_eq!(get("USER#1", "PROFILE").await, Some(user));
    assert_eq!(get("REFRESH#h", "REFRESH").await, Some(refresh));

    table
        .put(item(json!({"PK": "USER#2", "SK": "PROFILE"})), None)
        .await
        .expect("seed");
    table
        .transact(writes("USER#2"))
        .await
        .expect("every condition holds");
    assert!(get("EMAIL#ada", "EMAIL").await.is_some());
    assert_eq!(get("USER#1", "PROFILE").await.expect("user")["version"], 2);
    assert_eq!(get("REFRESH#h", "REFRESH").await, None);
}

on_both_backends!(a_transaction_with_one_failing_condition_writes_nothing);

async fn a_transaction_refuses_two_writes_to_one_key(backend: Backend) {
    let (table, _dir) = table(backend).await;
    let key = Key::new("USER#1", "PROFILE");

    let refused = table
        .transact(vec![
            Write::Put {
                item: key.item(),
                condition: None,
            },
            Write::Check {
                key: key.clone(),
                condition: Condition::Exists,
            },
        ])
        .await;

    assert!(
        matches!(refused, Err(StoreError::Invalid(_))),
        "{refused:?}"
    );
    assert_eq!(table.get(&key).await.expect("get"), None);
}

on_both_backends!(a_transaction_refuses_two_writes_to_one_key);

async fn consume_once_has_exactly_one_winner(backend: Backend) {
    let (table, _dir) = table(backend).await;
    let key = Key::new("TOKEN#abc", "TOKEN");
    let token = item(json!({"PK": "TOKEN#abc", "SK": "TOKEN", "purpose": "verify"}));
    table.put(token.clone(), None).await.expect("seed");

    let attempts: Vec<_> = (0..20)
        .map(|_| {
            let (table, key) = (table.clone(), key.clone());
            tokio::spawn(async move { table.delete(&key, Some(Condition::Exists)).await })
        })
        .collect();
    let mut winners = Vec::new();
    for attempt in attempts {
        match attempt.await.expect("the task finishes") {
            Ok(Some(consumed)) => winners.push(consumed),
            Ok(None) => panic!("a conditional delete succeeded without an item"),
            Err(StoreError::ConditionFailed) => {}
            Err(other) => panic!("unexpected error: {other}"),
        }
    }

    assert_eq!(winners, vec![token]);
    assert_eq!(table.get(&key).await.expect("get"), None);
}

on_both_backends!(consume_once_has_exactly_one_winner);

async fn counters_add_atomically_under_concurrency(backend: Backend) {
    let (table, _dir) = table(backend).await;
    let key = Key::new("RATE#login#42", "RATE");
    let window_end = now() + 60;

    let tasks: Vec<_> = (0..20)
        .map(|task| {
            let (table, key) = (table.clone(), key.clone());
            tokio::spawn(async move {
                for _ in 0..5 {
                    // Every task offers another ttl: only the first one written may stick.
                    let ttl = window_end + task;
                    table.add(&key, "count", 1, Some(ttl)).await.expect("add");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("the task finishes");
    }

    let counter = table.get(&key).await.expect("get").expect("the counter");
    assert_eq!(counter["count"], json!(100));
    let ttl = counter["ttl"].as_i64().expect("an integer ttl");
    assert!((window_end..window_end + 20).contains(&ttl), "{ttl}");
    assert_eq!(table.add(&key, "count", -3, None).await.expect("add"), 97);
    assert_eq!(
        table.get(&key).await.expect("get").expect("counter")["ttl"],
        json!(ttl)
    );
}

on_both_backends!(counters_add_atomically_under_concurrency);

async fn prefix_queries_return_the_partition_in_sort_key_order(backend: Backend) {
    let (table, _dir) = table(backend).await;
    for (pk, sk) in [
        ("USER#1", "SESSION#b"),
        ("USER#1", "PASSKEY#1"),
        ("USER#1", "SESSION#c"),
        ("USER#1", "PROFILE"),
        ("USER#1", "SESSION#a"),
        ("USER#10", "SESSION#d"),
        ("USER#2", "SESSION#e"),
    ] {
        table.put(Key::new(pk, sk).item(), None).await.expect("put");
    }

    let sessions = table.query("USER#1", "SESSION#").await.expect("query");
    let everything = table.query("USER#1", "").await.expect("query");

    let sort_keys = |items: &[Item]| -> Vec<String> {
        items
            .iter()
            .map(|item| item["SK"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    assert_eq!(
        sort_keys(&sessions),
        ["SESSION#a", "SESSION#b", "SESSION#c"]
    );
    assert_eq!(
        sort_keys(&everything),
        [
            "PASSKEY#1",
            "PROFILE",
            "SESSION#a",
            "SESSION#b",
            "SESSION#c"
        ]
    );
    assert!(table.query("USER#3", "").await.expect("query").is_empty());
}

on_both_backends!(prefix_queries_return_the_partition_in_sort_key_order);

async fn gsi1_queries_return_the_index_partition_in_index_sort_order(backend: Backend) {
    let (table, _dir) = table(backend).await;
    for (pk, gsi1pk, gsi1sk) in [
        ("APIKEY#h2", "USER#1", "APIKEY#2"),
        ("WORKSPACE#w", "USER#1", "WORKSPACE#w"),
        ("APIKEY#h1", "USER#1", "APIKEY#1"),
        ("APIKEY#h3", "USER#2", "APIKEY#3"),
    ] {
        let entry = json!({"PK": pk, "SK": "META", "GSI1PK": gsi1pk, "GSI1SK": gsi1sk});
        table.put(item(entry), None).await.expect("put");
    }
    // Not in the index: it lacks GSI1SK.
    table
        .put(
            item(json!({"PK": "APIKEY#h4", "SK": "META", "GSI1PK": "USER#1"})),
            None,
        )
        .await
        .expect("put");

    let keys = table.query_gsi1("USER#1", "APIKEY#").await.expect("query");
    let everything = table.query_gsi1("USER#1", "").await.expect("query");

    let primary_keys = |items: &[Item]| -> Vec<String> {
        items
            .iter()
            .map(|item| item["PK"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    assert_eq!(primary_keys(&keys), ["APIKEY#h1", "APIKEY#h2"]);
    assert_eq!(keys[0]["GSI1SK"], "APIKEY#1", "items come back whole");
    assert_eq!(
        primary_keys(&everything),
        ["APIKEY#h1", "APIKEY#h2", "WORKSPACE#w"]
    );
}

on_both_backends!(gsi1_queries_return_the_index_partition_in_index_sort_order);

async fn expired_items_are_absent_everywhere(backend: Backend) {
    let (table, _dir) = table(backend).await;
    let (past, future) = (now() - 10, now() + 600);
    let stale = |sk: &str| {
        item(json!({
            "PK": "CHALLENGE#1", "SK": sk, "GSI1PK": "G", "GSI1SK": sk, "ttl": past,
            "state": "stale", "version": 1
        }))
    };
    for sk in ["A", "B", "C", "D", "E", "F", "G"] {
        table.put(stale(sk), None).await.expect("put");
    }
    let live =
        item(json!({"PK": "CHALLENGE#1", "SK": "Z", "GSI1PK": "G", "GSI1SK": "Z", "ttl": future}));
    table.put(live.clone(), None).await.expect("put");
    let key = |sk: &str| Key::new("CHALLENGE#1", sk);

    assert_eq!(table.get(&key("A")).await.expect("get"), None);
    assert_eq!(
        table.query("CHALLENGE#1", "").await.expect("query"),
        vec![live.clone()]
    );
    assert_eq!(table.query_gsi1("G", "").await.expect("query"), vec![live]);

    for condition in [Condition::Exists, Condition::version(1)] {
        let refused = table.delete(&key("A"), Some(condition.clone())).await;
        assert!(
            matches!(refused, Err(StoreError::ConditionFailed)),
            "{refused:?}"
        );
        let set = item(json!({"state": "revived"}));
        let refused = table
            .update(&key("A"), set, vec![], Some(condition.clone()))
            .await;
        assert!(
            matches!(refused, Err(StoreError::ConditionFailed)),
            "{refused:?}"
        );
        let check = Write::Check {
            key: key("A"),
            condition,
        };
        let refused = table.transact(vec![check]).await;
        assert!(
            matches!(refused, Err(StoreError::ConditionFailed)),
            "{refused:?}"
        );
    }

    let fresh = item(json!({"PK": "CHALLENGE#1", "SK": "B", "state": "fresh"}));
    table
        .put(fresh.clone(), Some(Condition::NotExists))
        .await
        .expect("an expired item does not block a create");
    assert_eq!(table.get(&key("B")).await.expect("get"), Some(fresh));
    table
        .transact(vec![Write::Check {
            key: key("C"),
            condition: Condition::NotExists,
        }])
        .await
        .expect("an expired item counts as absent in a transaction");
    assert_eq!(table.delete(&key("D"), None).await.expect("delete"), None);

    let updated = table
        .update(
            &key("E"),
            item(json!({"state": "new"})),
            vec![],
            Some(Condition::NotExists),
        )
        .await
        .expect("an update may create over an expired item");
    assert_eq!(
        updated,
        item(json!({"PK": "CHALLENGE#1", "SK": "E", "state": "new"}))
    );
    table
        .transact(vec![Write::Update {
            key: key("G"),
            set: item(json!({"state": "new"})),
            remove: vec![],
            condition: None,
        }])
        .await
        .expect("a transaction may update over an expired item");
    let rewritten = table.get(&key("G")).await.expect("get");
    assert_eq!(
        rewritten,
        Some(item(
            json!({"PK": "CHALLENGE#1", "SK": "G", "state": "new"})
        )),
        "nothing of the expired item survives"
    );
    let counter = Key::new("CHALLENGE#1", "F");
    assert_eq!(
        table
            .add(&counter, "version", 1, Some(future))
            .await
            .expect("add"),
        1
    );
    let restarted = table
        .get(&counter)
        .await
        .expect("get")
        .expect("the counter");
    assert_eq!(
        restarted["ttl"],
        json!(future),
        "the expired ttl is not kept"
    );
}

on_both_backends!(expired_items_are_absent_everywhere);

async fn an_optimistic_lock_admits_one_writer_per_version(backend: Backend) {
    let (table, _dir) = table(backend).await;
    let key = Key::new("USER#1", "PROFILE");
    table
        .put(
            item(json!({"PK": "USER#1", "SK": "PROFILE", "plan": "free", "version": 1})),
            None,
        )
        .await
        .expect("seed");
    let bump = |plan: &str| item(json!({"plan": plan, "version": 2}));

    let first = table
        .update(&key, bump("pro"), vec![], Some(Condition::version(1)))
        .await;
    let stale = table
        .update(&key, bump("team"), vec![], Some(Condition::version(1)))
        .await;

    assert_eq!(first.expect("the first writer")["plan"], "pro");
    assert!(
        matches!(stale, Err(StoreError::ConditionFailed)),
        "{stale:?}"
    );
    let stored = table.get(&key).await.expect("get").expect("the user");
    assert_eq!(
        (stored["plan"].clone(), stored["version"].clone()),
        (json!("pro"), json!(2))
    );
}

on_both_backends!(an_optimistic_lock_admits_one_writer_per_version);

async fn equals_or_absent_holds_for_the_value_or_no_attribute_on_a_live_item(backend: Backend) {
    let (table, _dir) = table(backend).await;
    table
        .put(item(json!({"PK": "USER#old", "SK": "PROFILE"})), None)
        .await
        .expect("seed");
    table
        .put(
            item(json!({"PK": "USER#new", "SK": "PROFILE", "epoch": 1})),
            None,
        )
        .await
        .expect("seed");
    let check = |pk: &str, epoch: i64| Write::Check {
        key: Key::new(pk, "PROFILE"),
        condition: Condition::EqualsOrAbsent("epoch".into(), json!(epoch)),
    };

    let absent = table.transact(vec![check("USER#old", 0)]).await;
    let equal = table.transact(vec![check("USER#new", 1)]).await;
    let other = table.transact(vec![check("USER#new", 0)]).await;
    let missing = table.transact(vec![check("USER#none", 0)]).await;

    assert!(absent.is_ok(), "{absent:?}");
    assert!(equal.is_ok(), "{equal:?}");
    assert!(
        matches!(other, Err(StoreError::ConditionFailed)),
        "{other:?}"
    );
    assert!(
        matches!(missing, Err(StoreError::ConditionFailed)),
        "{missing:?}"
    );
}

#[tokio::test]
async fn equals_or_absent_holds_for_the_value_or_no_attribute_on_a_live_item_on_the_embedded_store()
{
    equals_or_absent_holds_for_the_value_or_no_attribute_on_a_live_item(Backend::Embedded).await;
}

#[tokio::test]
async fn equals_or_absent_holds_for_the_value_or_no_attribute_on_a_live_item_on_dynamodb() {
    equals_or_absent_holds_for_the_value_or_no_attribute_on_a_live_item(Backend::Aws).await;
}

async fn update_merges_attributes_and_removes_others(backend: Backend) {
    let (table, _dir) = table(backend).await;
    let key = Key::new("USER#1", "MFA");
    table
        .put(
            item(json!({"PK": "USER#1", "SK": "MFA", "secret": "s", "step": 7, "pending": true})),
            None,
        )
        .await
        .expect("seed");

    let updated = table
        .update(
            &key,
            item(json!({"step": 8, "devices": {"phone": ["a", 1]}})),
            vec!["pending".into(), "never-there".into()],
            Some(Condition::Exists),
        )
        .await
        .expect("update");

    let expected = item(json!({
        "PK": "USER#1", "SK": "MFA", "secret": "s", "step": 8, "devices": {"phone": ["a", 1]}
    }));
    assert_eq!(updated, expected);
    assert_eq!(table.get(&key).await.expect("get"), Some(expected));

    let absent = Key::new("USER#2", "MFA");
    let refused = table
        .update(
            &absent,
            item(json!({"step": 1})),
            vec![],
            Some(Condition::Exists),
        )
        .await;
    assert!(
        matches!(refused, Err(StoreError::ConditionFailed)),
        "{refused:?}"
    );
    assert_eq!(table.get(&absent).await.expect("get"), None);
    let created = table
        .update(&absent, item(json!({"step": 1})), vec![], None)
        .await
        .expect("an unconditional update creates");
    assert_eq!(
        created,
        item(json!({"PK": "USER#2", "SK": "MFA", "step": 1}))
    );
}

on_both_backends!(update_merges_attributes_and_removes_others);

async fn delete_returns_the_removed_item(backend: Backend) {
    let (table, _dir) = table(backend).await;
    let key = Key::new("USER#1", "SESSION#s");
    let session = item(json!({"PK": "USER#1", "SK": "SESSION#s", "device": "laptop"}));
    table.put(session.clone(), None).await.expect("seed");

    let removed = table.delete(&key, None).await.expect("delete");

    assert_eq!(removed, Some(session));
    assert_eq!(table.get(&key).await.expect("get"), None);
    assert_eq!(table.delete(&key, None).await.expect("delete"), None);
    let refused = table.delete(&key, Some(Condition::Exists)).await;
    assert!(
        matches!(refused, Err(StoreError::ConditionFailed)),
        "{refused:?}"
    );
}

on_both_backends!(delete_returns_the_removed_item);

async fn items_come_back_exactly_as_written(backend: Backend) {
    let (table, _dir) = table(backend).await;
    let written = item(json!({
        "PK": "KEYS", "SK": "KEY#1",
        "small": 42, "negative": -7, "large": 9_007_199_254_740_993_i64, "fraction": 1.5,
        "empty": "", "flag": false, "nothing": null,
        "list": [1, "two", true, null, {"three": 3}],
        "map": {"nested": {"deeper": [0.25]}, "empty": {}}
    }));

    table.put(written.clone(), None).await.expect("put");
    let read = table.get(&Key::new("KEYS", "KEY#1")).await.expect("get");

    assert_eq!(read, Some(written));
}

on_both_backends!(items_come_back_exactly_as_written);

async fn ping_answers(backend: Backend) {
    let (table, _dir) = table(backend).await;
    table.ping().await.expect("ping");
}

on_both_backends!(ping_answers);
