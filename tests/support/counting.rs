//! A decorator over a real table that counts calls and round trips, for the budgets of
//! DESIGN.md. A round trip is a wait on the table: calls made in parallel (`tokio::join!`) overlap
//! and count once; a call that starts while none is in flight starts a new round trip.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use latchkey::ports::{Condition, Item, Key, StoreError, Table, Write};

#[derive(Default)]
pub struct Counts {
    in_flight: AtomicUsize,
    round_trips: AtomicUsize,
    calls: Mutex<Vec<&'static str>>,
}

impl Counts {
    pub fn reset(&self) {
        self.round_trips.store(0, Ordering::SeqCst);
        self.calls.lock().unwrap().clear();
    }

    pub fn round_trips(&self) -> usize {
        self.round_trips.load(Ordering::SeqCst)
    }

    pub fn calls(&self) -> Vec<&'static str> {
        self.calls.lock().unwrap().clone()
    }
}

/// Delegates every call to the real table, counting round trips on the way.
pub struct CountingTable {
    inner: Arc<dyn Table>,
    counts: Arc<Counts>,
}

impl CountingTable {
    pub fn new(inner: Arc<dyn Table>, counts: Arc<Counts>) -> Self {
        Self { inner, counts }
    }

    async fn counted<T>(&self, name: &'static str, call: impl Future<Output = T>) -> T {
        if self.counts.in_flight.fetch_add(1, Ordering::SeqCst) == 0 {
            self.counts.round_trips.fetch_add(1, Ordering::SeqCst);
        }
        self.counts.calls.lock().unwrap().push(name);
        // Stand in for network latency: yield once before the (possibly synchronous) embedded
        // store answers, so calls issued together (`tokio::join!`) are all in flight at once,
        // as they would be against DynamoDB.
        tokio::task::yield_now().await;
        let result = call.await;
        self.counts.in_flight.fetch_sub(1, Ordering::SeqCst);
        result
    }
}

#[async_trait]
impl Table for CountingTable {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.counted("get", self.inner.get(key)).await
    }

    async fn put(&self, item: Item, condition: Option<Condition>) -> Result<(), StoreError> {
        self.counted("put", self.inner.put(item, condition)).await
    }

    async fn update(
        &self,
        key: &Key,
        set: Item,
        remove: Vec<String>,
        condition: Option<Condition>,
    ) -> Result<Item, StoreError> {
        self.counted("update", self.inner.update(key, set, remove, condition))
            .await
    }

    async fn delete(
        &self,
        key: &Key,
        condition: Option<Condition>,
    ) -> Result<Option<Item>, StoreError> {
        self.counted("delete", self.inner.delete(key, condition))
            .await
    }

    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        self.counted("transact", self.inner.transact(writes)).await
    }

    async fn add(
        &self,
        key: &Key,
        attribute: &str,
        delta: i64,
        ttl: Option<i64>,
    ) -> Result<i64, StoreError> {
        self.counted("add", self.inner.add(key, attribute, delta, ttl))
            .await
    }

    async fn query(&self, pk: &str, sk_prefix: &str) -> Result<Vec<Item>, StoreError> {
        self.counted("query", self.inner.query(pk, sk_prefix)).await
    }

    async fn query_gsi1(&self, gsi1pk: &str, sk_prefix: &str) -> Result<Vec<Item>, StoreError> {
        self.counted("query_gsi1", self.inner.query_gsi1(gsi1pk, sk_prefix))
            .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.counted("ping", self.inner.ping()).await
    }

    fn backend(&self) -> &'static str {
        self.inner.backend()
    }

    fn generation(&self) -> u64 {
        self.inner.generation()
    }
}

/// A fresh app on the embedded store whose table counts every call: the round-trip budget
/// tests' fixture.
pub async fn counted_app() -> (crate::TestApp, Arc<Counts>) {
    let counts = Arc::new(Counts::default());
    let for_table = counts.clone();
    let app = crate::TestApp::spawn_wrapping(
        crate::Backend::Embedded,
        |_| {},
        move |inner| Arc::new(CountingTable::new(inner, for_table)),
    )
    .await;
    (app, counts)
}
