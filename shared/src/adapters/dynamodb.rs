//! DynamoDB implementing `Table` with the same semantics as the embedded store: conditions become
//! `ConditionExpression`s, transactions `TransactWriteItems`, and conditional failures and
//! transaction cancellations become `StoreError::ConditionFailed`. It also owns the table's
//! definition (`create_table_if_missing`) and the JSON <-> `AttributeValue` conversion.
//!
//! DynamoDB removes expired items hours late, so expiry is judged here: every condition requires
//! a live item (or accepts an expired one as absent), reads drop expired items, and a write that
//! would merge onto an expired leftover removes the leftover first.

use std::collections::HashMap;
use std::error::Error;
use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;

use crate::adapters::aws::LazyClient;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, ConditionCheck, Delete, GlobalSecondaryIndex,
    IndexStatus, KeySchemaElement, KeyType, Projection, ProjectionType, Put, ReturnValue,
    ScalarAttributeType, TableStatus, TimeToLiveSpecification, TimeToLiveStatus, TransactWriteItem,
    Update,
};
use serde_json::Value;

use crate::adapters::table_rules::{
    checked_counter, checked_put_key, checked_transaction, checked_update, is_live,
};
use crate::ports::{Clock, Condition, Item, Key, StoreError, Table, Write, attr};

/// The one secondary index.
const GSI1: &str = "GSI1";
/// How often to ask whether a new table is ready: the SDK's waiter asks every 20 seconds.
const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// How long a new table may take to become ready.
const CREATE_DEADLINE: Duration = Duration::from_secs(120);
/// How many times a write retries after clearing an expired leftover in its way.
const ATTEMPTS: usize = 3;

type AttributeMap = HashMap<String, AttributeValue>;

pub struct DynamoTable {
    client: LazyClient<Client>,
    table: String,
    clock: Arc<dyn Clock>,
    /// Whether this process owns the table's existence (`LATCHKEY_CREATE_TABLE`): then a table
    /// found missing (an emulator restarted empty) is created again instead of failing every
    /// request until a restart.
    recreate_when_missing: bool,
    /// How many times the table was found missing and created again: what others cached from
    /// the table (signing keys) is stale when this moves.
    generation: AtomicU64,
    /// One re-creation at a time; callers that failed meanwhile retry on the new table.
    recreating: tokio::sync::Mutex<()>,
}

impl DynamoTable {
    pub fn new(client: Client, table: String, clock: Arc<dyn Clock>) -> Self {
        Self::with_client(LazyClient::ready(client), table, clock)
    }

    /// A table whose client is built on its first call.
    pub fn with_client(client: LazyClient<Client>, table: String, clock: Arc<dyn Clock>) -> Self {
        Self {
            client,
            table,
            clock,
            recreate_when_missing: false,
            generation: AtomicU64::new(0),
            recreating: tokio::sync::Mutex::new(()),
        }
    }

    /// Create the table again whenever a call finds it missing, and retry that call once.
    pub fn recreating_when_missing(mut self, recreate: bool) -> Self {
        self.recreate_when_missing = recreate;
        self
    }

    /// Run a call; if it finds the table missing and this process owns the table, create the
    /// table again (once, however many calls noticed) and retry the call once.
    async fn recovering<T, F, Fut>(&self, call: F) -> Result<T, StoreError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        let generation = self.generation.load(Ordering::Acquire);
        match call().await {
            Err(error) if self.recreate_when_missing && is_missing_table(&error) => {
                {
                    let _recreating = self.recreating.lock().await;
                    // Another call may have re-created it while we waited.
                    if self.generation.load(Ordering::Acquire) == generation {
                        tracing::warn!(table = %self.table, "the table is missing; creating it again");
                        self.create_table_if_missing().await?;
                        self.generation.fetch_add(1, Ordering::AcqRel);
                    }
                }
                call().await
            }
            other => other,
        }
    }

    /// Creates the table (keys, GSI1, on-demand billing) unless it exists, waits until it and its
    /// index are active, and turns on expiry by `ttl`.
    pub async fn create_table_if_missing(&self) -> Result<(), StoreError> {
        let string_attribute = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(build_error)
        };
        let key_part = |name: &str, key_type: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(key_type)
                .build()
                .map_err(build_error)
        };
        let index = GlobalSecondaryIndex::builder()
            .index_name(GSI1)
            .key_schema(key_part(attr::GSI1PK, KeyType::Hash)?)
            .key_schema(key_part(attr::GSI1SK, KeyType::Range)?)
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::All)
                    .build(),
            )
            .build()
            .map_err(build_error)?;
        let created = self
            .client
            .get()
            .await
            .create_table()
            .table_name(&self.table)
            .attribute_definitions(string_attribute(attr::PK)?)
            .attribute_definitions(string_attribute(attr::SK)?)
            .attribute_definitions(string_attribute(attr::GSI1PK)?)
            .attribute_definitions(string_attribute(attr::GSI1SK)?)
            .key_schema(key_part(attr::PK, KeyType::Hash)?)
            .key_schema(key_part(attr::SK, KeyType::Range)?)
            .global_secondary_indexes(index)
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await;
        match created {
            Ok(_) => {}
            // Someone (another instance, an earlier run) created it already.
            Err(error) if error.code() == Some("ResourceInUseException") => {}
            Err(error) => return Err(sdk_error("CreateTable", error)),
        }
        self.wait_until_active().await?;
        self.enable_expiry().await
    }

    async fn wait_until_active(&self) -> Result<(), StoreError> {
        let deadline = tokio::time::Instant::now() + CREATE_DEADLINE;
        loop {
            let described = self
                .client
                .get()
                .await
                .describe_table()
                .table_name(&self.table)
                .send()
                .await
                .map_err(|e| sdk_error("DescribeTable", e))?;
            if let Some(table) = described.table()
                && table.table_status() == Some(&TableStatus::Active)
                && table
                    .global_secondary_indexes()
                    .iter()
                    .all(|index| index.index_status() == Some(&IndexStatus::Active))
            {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(StoreError::Backend(format!(
                    "the table {} did not become active within {CREATE_DEADLINE:?}",
                    self.table
                )));
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    async fn enable_expiry(&self) -> Result<(), StoreError> {
        let described = self
            .client
            .get()
            .await
            .describe_time_to_live()
            .table_name(&self.table)
            .send()
            .await
            .map_err(|e| sdk_error("DescribeTimeToLive", e))?;
        let status = described
            .time_to_live_description()
            .and_then(|description| description.time_to_live_status());
        if matches!(
            status,
            Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
        ) {
            return Ok(());
        }
        let specification = TimeToLiveSpecification::builder()
            .attribute_name(attr::TTL)
            .enabled(true)
            .build()
            .map_err(build_error)?;
        match self
            .client
            .get()
            .await
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(specification)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            // Another instance enabled it between our look and our request.
            Err(error)
                if error
                    .message()
                    .is_some_and(|m| m.to_ascii_lowercase().contains("already enabled")) =>
            {
                Ok(())
            }
            Err(error) => Err(sdk_error("UpdateTimeToLive", error)),
        }
    }

    fn key(&self, key: &Key) -> AttributeMap {
        HashMap::from([
            (attr::PK.to_owned(), AttributeValue::S(key.pk.clone())),
            (attr::SK.to_owned(), AttributeValue::S(key.sk.clone())),
        ])
    }

    /// Deletes an expired item DynamoDB has not removed yet; answers whether there was one. The
    /// item is absent for every operation already, so removing it changes nothing anyone sees.
    async fn remove_expired(&self, key: &Key) -> Result<bool, StoreError> {
        let mut expression = Expression::new(self.clock.unix());
        let condition = expression.expired();
        let removed = self
            .client
            .get()
            .await
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(self.key(key)))
            .condition_expression(condition)
            .set_expression_attribute_names(expression.names())
            .set_expression_attribute_values(expression.values())
            .send()
            .await;
        match removed {
            Ok(_) => Ok(true),
            Err(error) => match sdk_error("DeleteItem", error) {
                StoreError::ConditionFailed => Ok(false),
                other => Err(other),
            },
        }
    }

    /// Runs a query to its last page, keeping the live items.
    async fn query_all(
        &self,
        index: Option<&str>,
        (pk_name, pk): (&str, &str),
        (sk_name, sk_prefix): (&str, &str),
    ) -> Result<Vec<Item>, StoreError> {
        let now = self.clock.unix();
        let mut expression = Expression::new(now);
        let pk_placeholder = expression.name(pk_name);
        let pk_value = expression.value(AttributeValue::S(pk.to_owned()));
        let mut key_condition = format!("{pk_placeholder} = {pk_value}");
        // DynamoDB refuses an empty string in a key condition; no prefix means the whole partition.
        if !sk_prefix.is_empty() {
            let sk_placeholder = expression.name(sk_name);
            let prefix = expression.value(AttributeValue::S(sk_prefix.to_owned()));
            key_condition.push_str(&format!(" AND begins_with({sk_placeholder}, {prefix})"));
        }
        let mut found = Vec::new();
        let mut start: Option<AttributeMap> = None;
        loop {
            let page = self
                .client
                .get()
                .await
                .query()
                .table_name(&self.table)
                .set_index_name(index.map(str::to_owned))
                // Index reads cannot be strongly consistent; table reads can, like the embedded store.
                .set_consistent_read(index.is_none().then_some(true))
                .key_condition_expression(&key_condition)
                .set_expression_attribute_names(expression.names())
                .set_expression_attribute_values(expression.values())
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| sdk_error("Query", e))?;
            for stored in page.items() {
                let item = from_attributes(stored)?;
                if is_live(&item, now) {
                    found.push(item);
                }
            }
            match page.last_evaluated_key() {
                Some(last) if !last.is_empty() => start = Some(last.clone()),
                _ => return Ok(found),
            }
        }
    }

    /// One write of a transaction, as DynamoDB takes it.
    fn transact_item(&self, write: &Write, now: i64) -> Result<TransactWriteItem, StoreError> {
        let mut expression = Expression::new(now);
        let item = match write {
            Write::Put { item, condition } => {
                let condition = condition.as_ref().map(|c| expression.condition(c));
                let put = Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(to_attributes(item)))
                    .set_condition_expression(condition)
                    .set_expression_attribute_names(expression.names())
                    .set_expression_attribute_values(expression.values())
                    .build()
                    .map_err(build_error)?;
                TransactWriteItem::builder().put(put)
            }
            Write::Update {
                key,
                set,
                remove,
                condition,
            } => {
                let set = checked_update(key, set.clone(), remove)?;
                let update_expression = expression.update(&set, remove);
                let condition = expression.fresh_and(condition.as_ref());
                let update = Update::builder()
                    .table_name(&self.table)
                    .set_key(Some(self.key(key)))
                    .update_expression(update_expression)
                    .condition_expression(condition)
                    .set_expression_attribute_names(expression.names())
                    .set_expression_attribute_values(expression.values())
                    .build()
                    .map_err(build_error)?;
                TransactWriteItem::builder().update(update)
            }
            Write::Delete { key, condition } => {
                let condition = condition.as_ref().map(|c| expression.condition(c));
                let delete = Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(self.key(key)))
                    .set_condition_expression(condition)
                    .set_expression_attribute_names(expression.names())
                    .set_expression_attribute_values(expression.values())
                    .build()
                    .map_err(build_error)?;
                TransactWriteItem::builder().delete(delete)
            }
            Write::Check { key, condition } => {
                let condition = expression.condition(condition);
                let check = ConditionCheck::builder()
                    .table_name(&self.table)
                    .set_key(Some(self.key(key)))
                    .condition_expression(condition)
                    .set_expression_attribute_names(expression.names())
                    .set_expression_attribute_values(expression.values())
                    .build()
                    .map_err(build_error)?;
                TransactWriteItem::builder().condition_check(check)
            }
        };
        Ok(item.build())
    }
}

/// Whether a write refused by its condition may have met an expired leftover it would accept as
/// absent: worth removing the leftover and trying again.
fn accepts_absent(condition: Option<&Condition>) -> bool {
    matches!(condition, None | Some(Condition::NotExists))
}

/// The calls, each once; `impl Table` below adds the recovery from a vanished table.
impl DynamoTable {
    async fn get_once(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let now = self.clock.unix();
        let found = self
            .client
            .get()
            .await
            .get_item()
            .table_name(&self.table)
            .set_key(Some(self.key(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("GetItem", e))?;
        let Some(stored) = found.item() else {
            return Ok(None);
        };
        let item = from_attributes(stored)?;
        Ok(is_live(&item, now).then_some(item))
    }

    async fn put_once(&self, item: Item, condition: Option<Condition>) -> Result<(), StoreError> {
        checked_put_key(&item)?;
        let mut expression = Expression::new(self.clock.unix());
        let condition = condition.as_ref().map(|c| expression.condition(c));
        self.client
            .get()
            .await
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_attributes(&item)))
            .set_condition_expression(condition)
            .set_expression_attribute_names(expression.names())
            .set_expression_attribute_values(expression.values())
            .send()
            .await
            .map_err(|e| sdk_error("PutItem", e))?;
        Ok(())
    }

    async fn update_once(
        &self,
        key: &Key,
        set: Item,
        remove: Vec<String>,
        condition: Option<Condition>,
    ) -> Result<Item, StoreError> {
        let set = checked_update(key, set, &remove)?;
        for attempt in 1..=ATTEMPTS {
            let mut expression = Expression::new(self.clock.unix());
            let update_expression = expression.update(&set, &remove);
            let condition_expression = expression.fresh_and(condition.as_ref());
            let updated = self
                .client
                .get()
                .await
                .update_item()
                .table_name(&self.table)
                .set_key(Some(self.key(key)))
                .update_expression(update_expression)
                .condition_expression(condition_expression)
                .set_expression_attribute_names(expression.names())
                .set_expression_attribute_values(expression.values())
                .return_values(ReturnValue::AllNew)
                .send()
                .await;
            match updated {
                Ok(output) => {
                    return from_attributes(output.attributes().unwrap_or(&HashMap::new()));
                }
                Err(error) => {
                    let error = sdk_error("UpdateItem", error);
                    let may_retry = matches!(error, StoreError::ConditionFailed)
                        && attempt < ATTEMPTS
                        && accepts_absent(condition.as_ref());
                    if !may_retry {
                        return Err(error);
                    }
                    // An expired leftover may be in the way. Without a condition nothing else
                    // refuses the write, so try again even if someone else removed it first.
                    let removed = self.remove_expired(key).await?;
                    if !removed && condition.is_some() {
                        return Err(error);
                    }
                }
            }
        }
        Err(StoreError::ConditionFailed)
    }

    async fn delete_once(
        &self,
        key: &Key,
        condition: Option<Condition>,
    ) -> Result<Option<Item>, StoreError> {
        let now = self.clock.unix();
        let mut expression = Expression::new(now);
        let condition = condition.as_ref().map(|c| expression.condition(c));
        let deleted = self
            .client
            .get()
            .await
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(self.key(key)))
            .set_condition_expression(condition)
            .set_expression_attribute_names(expression.names())
            .set_expression_attribute_values(expression.values())
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| sdk_error("DeleteItem", e))?;
        let Some(old) = deleted.attributes().filter(|old| !old.is_empty()) else {
            return Ok(None);
        };
        let item = from_attributes(old)?;
        Ok(is_live(&item, now).then_some(item))
    }

    async fn transact_once(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        checked_transaction(&writes)?;
        if writes.is_empty() {
            return Ok(());
        }
        for attempt in 1..=ATTEMPTS {
            let now = self.clock.unix();
            let items = writes
                .iter()
                .map(|write| self.transact_item(write, now))
                .collect::<Result<Vec<_>, _>>()?;
            let error = match self
                .client
                .get()
                .await
                .transact_write_items()
                .set_transact_items(Some(items))
                .send()
                .await
            {
                Ok(_) => return Ok(()),
                Err(error) => error,
            };
            let reasons: Vec<Option<String>> = match error.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => cancelled
                    .cancellation_reasons()
                    .iter()
                    .map(|reason| reason.code().map(str::to_owned))
                    .collect(),
                _ => return Err(sdk_error("TransactWriteItems", error)),
            };
            let refused = |code: &str| reasons.iter().any(|r| r.as_deref() == Some(code));
            if !refused("ConditionalCheckFailed") && !refused("TransactionConflict") {
                return Err(sdk_error("TransactWriteItems", error));
            }
            // An update refused only because an expired leftover is in its way goes through once
            // the leftover is gone.
            let mut removed_any = false;
            for (index, write) in writes.iter().enumerate() {
                let refused_here = reasons
                    .get(index)
                    .is_none_or(|r| r.as_deref() == Some("ConditionalCheckFailed"));
                if let Write::Update { key, condition, .. } = write
                    && refused_here
                    && accepts_absent(condition.as_ref())
                    && attempt < ATTEMPTS
                {
                    removed_any |= self.remove_expired(key).await?;
                }
            }
            if !removed_any {
                return Err(StoreError::ConditionFailed);
            }
        }
        Err(StoreError::ConditionFailed)
    }

    async fn add_once(
        &self,
        key: &Key,
        attribute: &str,
        delta: i64,
        ttl: Option<i64>,
    ) -> Result<i64, StoreError> {
        checked_counter(attribute)?;
        for attempt in 1..=ATTEMPTS {
            let mut expression = Expression::new(self.clock.unix());
            let counter = expression.name(attribute);
            let delta_value = expression.value(AttributeValue::N(delta.to_string()));
            let mut update_expression = format!("ADD {counter} {delta_value}");
            if let Some(ttl) = ttl {
                let ttl_name = expression.name(attr::TTL);
                let ttl_value = expression.value(AttributeValue::N(ttl.to_string()));
                update_expression.push_str(&format!(
                    " SET {ttl_name} = if_not_exists({ttl_name}, {ttl_value})"
                ));
            }
            let condition = expression.fresh_and(None);
            let updated = self
                .client
                .get()
                .await
                .update_item()
                .table_name(&self.table)
                .set_key(Some(self.key(key)))
                .update_expression(update_expression)
                .condition_expression(condition)
                .set_expression_attribute_names(expression.names())
                .set_expression_attribute_values(expression.values())
                .return_values(ReturnValue::UpdatedNew)
                .send()
                .await;
            match updated {
                Ok(output) => {
                    let value = output
                        .attributes()
                        .and_then(|attributes| attributes.get(attribute));
                    return match value {
                        Some(AttributeValue::N(number)) => number.parse().map_err(|_| {
                            StoreError::Backend(format!("the counter {attribute} is {number}"))
                        }),
                        other => Err(StoreError::Backend(format!(
                            "the counter {attribute} came back as {other:?}"
                        ))),
                    };
                }
                Err(error) => match sdk_error("UpdateItem", error) {
                    // The only condition is "not expired": clear the leftover and count from 0.
                    StoreError::ConditionFailed if attempt < ATTEMPTS => {
                        self.remove_expired(key).await?;
                    }
                    StoreError::ConditionFailed => break,
                    other => return Err(other),
                },
            }
        }
        Err(StoreError::Backend(format!(
            "the counter {attribute} kept meeting an expired item"
        )))
    }

    async fn query_once(&self, pk: &str, sk_prefix: &str) -> Result<Vec<Item>, StoreError> {
        self.query_all(None, (attr::PK, pk), (attr::SK, sk_prefix))
            .await
    }

    async fn query_gsi1_once(
        &self,
        gsi1pk: &str,
        sk_prefix: &str,
    ) -> Result<Vec<Item>, StoreError> {
        self.query_all(
            Some(GSI1),
            (attr::GSI1PK, gsi1pk),
            (attr::GSI1SK, sk_prefix),
        )
        .await
    }

    async fn scan_once(&self, pk_prefix: &str, sk: &str) -> Result<Vec<Item>, StoreError> {
        let now = self.clock.unix();
        let mut expression = Expression::new(now);
        let pk_placeholder = expression.name(attr::PK);
        let sk_placeholder = expression.name(attr::SK);
        let prefix = expression.value(AttributeValue::S(pk_prefix.to_owned()));
        let sk_value = expression.value(AttributeValue::S(sk.to_owned()));
        let filter =
            format!("begins_with({pk_placeholder}, {prefix}) AND {sk_placeholder} = {sk_value}");
        let mut found = Vec::new();
        let mut start: Option<AttributeMap> = None;
        loop {
            let page = self
                .client
                .get()
                .await
                .scan()
                .table_name(&self.table)
                .consistent_read(true)
                .filter_expression(&filter)
                .set_expression_attribute_names(expression.names())
                .set_expression_attribute_values(expression.values())
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| sdk_error("Scan", e))?;
            for stored in page.items() {
                let item = from_attributes(stored)?;
                if is_live(&item, now) {
                    found.push(item);
                }
            }
            match page.last_evaluated_key() {
                Some(last) if !last.is_empty() => start = Some(last.clone()),
                _ => return Ok(found),
            }
        }
    }

    async fn ping_once(&self) -> Result<(), StoreError> {
        self.client
            .get()
            .await
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
            .map_err(|e| sdk_error("DescribeTable", e))?;
        Ok(())
    }
}

#[async_trait]
impl Table for DynamoTable {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.recovering(|| self.get_once(key)).await
    }

    async fn put(&self, item: Item, condition: Option<Condition>) -> Result<(), StoreError> {
        self.recovering(|| self.put_once(item.clone(), condition.clone()))
            .await
    }

    async fn update(
        &self,
        key: &Key,
        set: Item,
        remove: Vec<String>,
        condition: Option<Condition>,
    ) -> Result<Item, StoreError> {
        self.recovering(|| self.update_once(key, set.clone(), remove.clone(), condition.clone()))
            .await
    }

    async fn delete(
        &self,
        key: &Key,
        condition: Option<Condition>,
    ) -> Result<Option<Item>, StoreError> {
        self.recovering(|| self.delete_once(key, condition.clone()))
            .await
    }

    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        self.recovering(|| self.transact_once(writes.clone())).await
    }

    async fn add(
        &self,
        key: &Key,
        attribute: &str,
        delta: i64,
        ttl: Option<i64>,
    ) -> Result<i64, StoreError> {
        self.recovering(|| self.add_once(key, attribute, delta, ttl))
            .await
    }

    async fn query(&self, pk: &str, sk_prefix: &str) -> Result<Vec<Item>, StoreError> {
        self.recovering(|| self.query_once(pk, sk_prefix)).await
    }

    async fn query_gsi1(&self, gsi1pk: &str, sk_prefix: &str) -> Result<Vec<Item>, StoreError> {
        self.recovering(|| self.query_gsi1_once(gsi1pk, sk_prefix))
            .await
    }

    async fn scan(&self, pk_prefix: &str, sk: &str) -> Result<Vec<Item>, StoreError> {
        self.recovering(|| self.scan_once(pk_prefix, sk)).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.recovering(|| self.ping_once()).await
    }

    fn backend(&self) -> &'static str {
        "dynamodb"
    }

    fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }
}

/// The names and values of one request's expressions. Every attribute goes through a `#n`
/// placeholder, since `ttl` and many other names are reserved words.
struct Expression {
    names: HashMap<String, String>,
    values: AttributeMap,
    now: i64,
}

impl Expression {
    fn new(now: i64) -> Self {
        Self {
            names: HashMap::new(),
            values: HashMap::new(),
            now,
        }
    }

    fn name(&mut self, attribute: &str) -> String {
        if let Some((placeholder, _)) = self.names.iter().find(|(_, name)| *name == attribute) {
            return placeholder.clone();
        }
        let placeholder = format!("#n{}", self.names.len());
        self.names.insert(placeholder.clone(), attribute.to_owned());
        placeholder
    }

    fn value(&mut self, value: AttributeValue) -> String {
        let placeholder = format!(":v{}", self.values.len());
        self.values.insert(placeholder.clone(), value);
        placeholder
    }

    fn now(&mut self) -> String {
        const NOW: &str = ":now";
        self.values
            .entry(NOW.to_owned())
            .or_insert_with(|| AttributeValue::N(self.now.to_string()));
        NOW.to_owned()
    }

    /// The stored item, if any, is live.
    fn live(&mut self) -> String {
        let (ttl, now) = (self.name(attr::TTL), self.now());
        format!("(attribute_not_exists({ttl}) OR {ttl} > {now})")
    }

    /// An item is stored and expired.
    fn expired(&mut self) -> String {
        let (ttl, now) = (self.name(attr::TTL), self.now());
        format!("{ttl} <= {now}")
    }

    /// The port's condition on the live item, with an expired item counting as absent.
    fn condition(&mut self, condition: &Condition) -> String {
        match condition {
            Condition::NotExists => {
                let (pk, expired) = (self.name(attr::PK), self.expired());
                format!("(attribute_not_exists({pk}) OR {expired})")
            }
            Condition::Exists => {
                let (pk, live) = (self.name(attr::PK), self.live());
                format!("(attribute_exists({pk}) AND {live})")
            }
            Condition::Equals(attribute, value) => {
                let (attribute, value) = (self.name(attribute), self.value(to_attribute(value)));
                let live = self.live();
                format!("({attribute} = {value} AND {live})")
            }
            Condition::LessThan(attribute, bound) => {
                let attribute = self.name(attribute);
                let value = self.value(to_attribute(&Value::from(*bound)));
                let live = self.live();
                format!("({attribute} < {value} AND {live})")
            }
            Condition::EqualsOrAbsent(attribute, value) => {
                let pk = self.name(attr::PK);
                let (attribute, value) = (self.name(attribute), self.value(to_attribute(value)));
                let live = self.live();
                format!(
                    "(attribute_exists({pk}) AND (attribute_not_exists({attribute}) OR {attribute} = {value}) AND {live})"
                )
            }
        }
    }

    /// For a write that merges onto the stored item: it is absent or live (never an expired
    /// leftover, whose attributes must not survive), and the port's condition holds.
    fn fresh_and(&mut self, condition: Option<&Condition>) -> String {
        let pk = self.name(attr::PK);
        let live = self.live();
        let fresh = format!("(attribute_not_exists({pk}) OR {live})");
        match condition {
            Some(condition) => format!("{fresh} AND {}", self.condition(condition)),
            None => fresh,
        }
    }

    fn update(&mut self, set: &Item, remove: &[String]) -> String {
        let mut parts = Vec::new();
        if !set.is_empty() {
            let assignments: Vec<String> = set
                .iter()
                .map(|(name, value)| {
                    format!("{} = {}", self.name(name), self.value(to_attribute(value)))
                })
                .collect();
            parts.push(format!("SET {}", assignments.join(", ")));
        }
        if !remove.is_empty() {
            let names: Vec<String> = remove.iter().map(|name| self.name(name)).collect();
            parts.push(format!("REMOVE {}", names.join(", ")));
        }
        parts.join(" ")
    }

    /// DynamoDB refuses empty maps here, so an expression without names or values sends none.
    fn names(&self) -> Option<HashMap<String, String>> {
        (!self.names.is_empty()).then(|| self.names.clone())
    }

    fn values(&self) -> Option<AttributeMap> {
        (!self.values.is_empty()).then(|| self.values.clone())
    }
}

fn to_attributes(item: &Item) -> AttributeMap {
    item.iter()
        .map(|(name, value)| (name.clone(), to_attribute(value)))
        .collect()
}

fn to_attribute(value: &Value) -> AttributeValue {
    match value {
        Value::Null => AttributeValue::Null(true),
        Value::Bool(flag) => AttributeValue::Bool(*flag),
        Value::Number(number) => AttributeValue::N(number.to_string()),
        Value::String(text) => AttributeValue::S(text.clone()),
        Value::Array(list) => AttributeValue::L(list.iter().map(to_attribute).collect()),
        Value::Object(map) => AttributeValue::M(to_attributes(map)),
    }
}

fn from_attributes(attributes: &AttributeMap) -> Result<Item, StoreError> {
    attributes
        .iter()
        .map(|(name, value)| Ok((name.clone(), from_attribute(value)?)))
        .collect()
}

fn from_attribute(value: &AttributeValue) -> Result<Value, StoreError> {
    Ok(match value {
        AttributeValue::S(text) => Value::String(text.clone()),
        AttributeValue::N(number) => from_number(number)?,
        AttributeValue::Bool(flag) => Value::Bool(*flag),
        AttributeValue::Null(_) => Value::Null,
        AttributeValue::L(list) => {
            Value::Array(list.iter().map(from_attribute).collect::<Result<_, _>>()?)
        }
        AttributeValue::M(map) => Value::Object(from_attributes(map)?),
        AttributeValue::Ss(set) => Value::Array(set.iter().cloned().map(Value::String).collect()),
        AttributeValue::Ns(set) => Value::Array(
            set.iter()
                .map(|n| from_number(n))
                .collect::<Result<_, _>>()?,
        ),
        other => {
            return Err(StoreError::Backend(format!(
                "an attribute of a type JSON cannot hold: {other:?}"
            )));
        }
    })
}

/// Integers come back as JSON integers, everything else as a float.
fn from_number(number: &str) -> Result<Value, StoreError> {
    if let Ok(integer) = number.parse::<i64>() {
        return Ok(integer.into());
    }
    if let Ok(integer) = number.parse::<u64>() {
        return Ok(integer.into());
    }
    number
        .parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
        .map(Value::Number)
        .ok_or_else(|| StoreError::Backend(format!("the number {number} does not fit JSON")))
}

/// Conditional failures become `ConditionFailed`; anything else is the backend's failure.
fn sdk_error<E, R>(operation: &str, error: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + Error + 'static,
    R: Debug,
{
    if error.code() == Some("ConditionalCheckFailedException") {
        return StoreError::ConditionFailed;
    }
    // The service's code and message say what went wrong; the whole context (with the raw
    // response) only helps when there was no answer at all.
    let detail = match error.code() {
        Some(code) => format!("{code}: {}", error.message().unwrap_or("no message")),
        None => crate::adapters::aws::describe_unanswered(&error),
    };
    StoreError::Backend(format!("DynamoDB {operation}: {detail}"))
}

/// Whether a call failed because the table does not exist (DynamoDB's `ResourceNotFoundException`,
/// as `sdk_error` words it).
fn is_missing_table(error: &StoreError) -> bool {
    matches!(error, StoreError::Backend(detail) if detail.contains(": ResourceNotFoundException:"))
}

fn build_error(error: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Backend(format!("building a DynamoDB request: {error}"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn json_survives_the_round_trip_through_attribute_values() {
        let item =
            json!({"PK": "A", "n": 7, "big": u64::MAX, "f": 0.5, "l": [null, true, {"x": "y"}]});
        let Value::Object(item) = item else {
            unreachable!("a literal object")
        };
        let back = from_attributes(&to_attributes(&item)).ok();
        assert_eq!(back, Some(item));
    }

    #[test]
    fn dynamodb_normalized_numbers_read_as_json_numbers() {
        assert_eq!(from_number("1").ok(), Some(json!(1)));
        assert_eq!(from_number("-1.25").ok(), Some(json!(-1.25)));
        assert!(from_number("1E+400").is_err());
    }
}
