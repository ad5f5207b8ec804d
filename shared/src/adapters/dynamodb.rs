//! DynamoDB implementing `Table` with DynamoDB's semantics.
//! STUB: to be implemented.

use std::sync::Arc;

use async_trait::async_trait;

use crate::ports::{Clock, Condition, Item, Key, StoreError, Table, Write};

pub struct DynamoTable {
    _clock: Arc<dyn Clock>,
}

impl DynamoTable {
    pub fn new(_client: aws_sdk_dynamodb::Client, _table: String, clock: Arc<dyn Clock>) -> Self {
        Self { _clock: clock }
    }

    pub async fn create_table_if_missing(&self) -> Result<(), StoreError> {
        Err(todo())
    }
}

fn todo() -> StoreError {
    StoreError::Backend("dynamodb adapter not implemented yet".into())
}

#[async_trait]
impl Table for DynamoTable {
    async fn get(&self, _key: &Key) -> Result<Option<Item>, StoreError> {
        Err(todo())
    }
    async fn put(&self, _item: Item, _condition: Option<Condition>) -> Result<(), StoreError> {
        Err(todo())
    }
    async fn update(
        &self,
        _key: &Key,
        _set: Item,
        _remove: Vec<String>,
        _condition: Option<Condition>,
    ) -> Result<Item, StoreError> {
        Err(todo())
    }
    async fn delete(
        &self,
        _key: &Key,
        _condition: Option<Condition>,
    ) -> Result<Option<Item>, StoreError> {
        Err(todo())
    }
    async fn transact(&self, _writes: Vec<Write>) -> Result<(), StoreError> {
        Err(todo())
    }
    async fn add(
        &self,
        _key: &Key,
        _attribute: &str,
        _delta: i64,
        _ttl: Option<i64>,
    ) -> Result<i64, StoreError> {
        Err(todo())
    }
    async fn query(&self, _pk: &str, _sk_prefix: &str) -> Result<Vec<Item>, StoreError> {
        Err(todo())
    }
    async fn query_gsi1(&self, _gsi1pk: &str, _sk_prefix: &str) -> Result<Vec<Item>, StoreError> {
        Err(todo())
    }
    async fn ping(&self) -> Result<(), StoreError> {
        Err(todo())
    }
    fn backend(&self) -> &'static str {
        "dynamodb"
    }
}
