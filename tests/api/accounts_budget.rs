//! DESIGN.md's round-trip budgets, measured with a counting decorator around the real embedded
//! table: sign-in at most 3 table round trips, refresh at most 2.
//!
//! A round trip is a wait on the table: calls made in parallel (`tokio::join!`) overlap and count
//! once; a call that starts while none is in flight starts a new round trip.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use latchkey::ports::{Condition, Item, Key, StoreError, Table, Write};
use latchkey_tests::{Backend, TestApp, TestResponse, sign_in};

#[derive(Default)]
struct Counts {
    in_flight: AtomicUsize,
    round_trips: AtomicUsize,
    calls: Mutex<Vec<&'static str>>,
}

impl Counts {
    fn reset(&self) {
        self.round_trips.store(0, Ordering::SeqCst);
        self.calls.lock().unwrap().clear();
    }

    fn round_trips(&self) -> usize {
        self.round_trips.load(Ordering::SeqCst)
    }

    fn calls(&self) -> Vec<&'static str> {
        self.calls.lock().unwrap().clone()
    }
}

/// Delegates every call to the real table, counting round trips on the way.
struct CountingTable {
    inner: Arc<dyn Table>,
    counts: Arc<Counts>,
}

impl CountingTable {
    async fn counted<T>(&self, name: &'static str, call: impl Future<Output = T>) -> T {
        if self.counts.in_flight.fetch_add(1, Ordering::SeqCst) == 0 {
            self.counts.round_trips.fetch_add(1, Ordering::SeqCst);
        }
        self.counts.calls.lock().unwrap().push(name);
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
        self.inner.ping().await
    }

    fn backend(&self) -> &'static str {
        self.inner.backend()
    }
}

async fn counted_app() -> (TestApp, Arc<Counts>) {
    let counts = Arc::new(Counts::default());
    let for_table = counts.clone();
    let app = TestApp::spawn_wrapping(
        Backend::Embedded,
        |_| {},
        move |inner| {
            Arc::new(CountingTable {
                inner,
                counts: for_table,
            })
        },
    )
    .await;
    (app, counts)
}

fn report(what: &str, counts: &Counts, response: &TestResponse) -> usize {
    let round_trips = counts.round_trips();
    println!(
        "{what}: {round_trips} table round trips ({:?}); status {}",
        counts.calls(),
        response.status
    );
    round_trips
}

#[tokio::test]
async fn sign_in_takes_at_most_three_table_round_trips() {
    let (app, counts) = counted_app().await;
    let session = app.signed_up().await;
    counts.reset();

    let response = sign_in(&app, &session.user.email, &session.user.password).await;

    assert_eq!(response.status, 200, "{}", response.text);
    assert!(
        report("sign-in", &counts, &response) <= 3,
        "{:?}",
        counts.calls()
    );
}

#[tokio::test]
async fn a_failed_sign_in_takes_at_most_three_table_round_trips() {
    let (app, counts) = counted_app().await;
    let session = app.signed_up().await;
    counts.reset();

    let response = sign_in(&app, &session.user.email, "Wrong-password-123-xyz").await;

    assert_eq!(response.status, 401);
    assert!(
        report("failed sign-in", &counts, &response) <= 3,
        "{:?}",
        counts.calls()
    );
}

#[tokio::test]
async fn refresh_takes_at_most_two_table_round_trips() {
    let (app, counts) = counted_app().await;
    let session = app.signed_up().await;
    counts.reset();

    let response = app.refresh(session.refresh_token()).await;

    assert_eq!(response.status, 200, "{}", response.text);
    assert!(
        report("refresh", &counts, &response) <= 2,
        "{:?}",
        counts.calls()
    );
}

#[tokio::test]
async fn sign_up_writes_everything_in_one_transaction() {
    let (app, counts) = counted_app().await;
    app.signed_up().await; // warms the signing key
    counts.reset();

    let response = app
        .post(
            "/auth/sign-up",
            &latchkey_tests::TestUser::generate().sign_up_body(),
        )
        .await;

    assert_eq!(response.status, 201);
    report("sign-up", &counts, &response);
    assert_eq!(counts.calls(), vec!["transact"]);
}
