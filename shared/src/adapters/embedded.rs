//! Embedded single-file store (redb) implementing `Table` with DynamoDB's semantics, for local
//! mode and tests. It owns the file layout: table `items` maps (PK, SK) to the item as JSON, and
//! table `gsi1` maps (GSI1PK, GSI1SK, PK, SK) to nothing; both change in the same write
//! transaction. redb runs one write transaction at a time and each of ours checks every condition
//! before it commits, which gives DynamoDB's conditional and transactional guarantees within one
//! process.
//!
//! Durability by group commit: every write transaction runs on one writer thread and commits
//! without an fsync (`Durability::None`); when the writer has run every transaction queued at that
//! moment, one durable commit (`Durability::Immediate`, one fsync) makes the whole batch durable,
//! and only then is each of them answered. So an answered write is on disk, as before, but
//! concurrent writers share one fsync instead of queueing for one each (a refresh paid ~2 ms of
//! fsync alone). A crash can lose only writes that had not been answered yet: a refresh whose
//! client never saw its new token leaves the old token current on disk, so the session stays usable.
//! Readers may see a batch's writes a moment before they are durable, which is what DynamoDB's
//! strongly consistent reads show too once a write is accepted.

use std::fmt::Display;
use std::path::Path;
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;

use async_trait::async_trait;
use redb::{Database, Durability, ReadTransaction, ReadableTable, TableDefinition};
use tokio::sync::oneshot;

use crate::adapters::private_files;
use crate::adapters::table_rules::{
    checked_counter, checked_put_key, checked_transaction, checked_update, gsi1_of, is_live,
};
use crate::ports::{Clock, Condition, Item, Key, StoreError, Table, Write, attr};

const ITEMS: TableDefinition<(&str, &str), &str> = TableDefinition::new("items");
const GSI1: TableDefinition<(&str, &str, &str, &str), ()> = TableDefinition::new("gsi1");

pub struct EmbeddedTable {
    db: Arc<Database>,
    clock: Arc<dyn Clock>,
    /// Write transactions for the writer thread (`None` only while dropping).
    writes: Option<mpsc::Sender<WriteJob>>,
    writer: Option<JoinHandle<()>>,
}

/// The most write transactions made durable by one fsync; bounds how long the first of a batch
/// waits behind the others.
const MAX_BATCH: usize = 64;

/// One write transaction, run on the writer thread without an fsync; says whether it committed
/// and how to answer its caller once the batch's durable commit has succeeded or failed.
type WriteJob = Box<dyn FnOnce(&Database) -> Ran + Send>;

struct Ran {
    committed: bool,
    answer: Box<dyn FnOnce(Result<(), String>) + Send>,
}

/// The writer thread: runs queued transactions in batches, each batch closed by one durable commit.
fn write_batches(db: Arc<Database>, jobs: mpsc::Receiver<WriteJob>) {
    while let Ok(first) = jobs.recv() {
        let mut answers = Vec::new();
        let mut committed = false;
        let mut batch = 0;
        let mut next = Some(first);
        while let Some(job) = next {
            // A panicking transaction is aborted by its drop and fails only its own caller (its
            // answer channel drops); the writer goes on.
            if let Ok(ran) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&db))) {
                committed |= ran.committed;
                answers.push(ran.answer);
            }
            batch += 1;
            next = if batch < MAX_BATCH {
                jobs.try_recv().ok()
            } else {
                None
            };
        }
        let durable = if committed {
            db.begin_write()
                .map_err(|e| e.to_string())
                .and_then(|mut txn| {
                    txn.set_durability(Durability::Immediate);
                    txn.commit().map_err(|e| e.to_string())
                })
        } else {
            Ok(())
        };
        for answer in answers {
            answer(durable.clone());
        }
    }
}

impl Drop for EmbeddedTable {
    fn drop(&mut self) {
        // Closing the queue ends the writer after its last batch; waiting for it releases the file,
        // so the store can be opened again at once.
        drop(self.writes.take());
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

impl EmbeddedTable {
    /// Opens the store file, creating it (`0600`) and its directory (`0700`) if missing.
    pub fn open(path: &Path, clock: Arc<dyn Clock>) -> Result<Self, StoreError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            private_files::create_dir(parent)
                .map_err(|e| backend(format!("creating {}: {e}", parent.display())))?;
        }
        private_files::ensure_private_file(path)
            .map_err(|e| backend(format!("creating {}: {e}", path.display())))?;
        let db = Database::create(path)
            .map_err(|e| backend(format!("opening {}: {e}", path.display())))?;
        // Create both tables now, so a read never meets a missing table.
        let txn = db.begin_write().map_err(backend)?;
        txn.open_table(ITEMS).map_err(backend)?;
        txn.open_table(GSI1).map_err(backend)?;
        txn.commit().map_err(backend)?;
        let db = Arc::new(db);
        let (writes, jobs) = mpsc::channel();
        let writer = std::thread::Builder::new()
            .name("embedded-writer".into())
            .spawn({
                let db = db.clone();
                move || write_batches(db, jobs)
            })
            .map_err(|e| backend(format!("starting the writer thread: {e}")))?;
        Ok(Self {
            db,
            clock,
            writes: Some(writes),
            writer: Some(writer),
        })
    }

    /// Runs `work` in a read transaction on a blocking thread (redb is synchronous).
    async fn read<T: Send + 'static>(
        &self,
        work: impl FnOnce(&ReadTransaction, i64) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let db = self.db.clone();
        let now = self.clock.unix();
        tokio::task::spawn_blocking(move || {
            let txn = db.begin_read().map_err(backend)?;
            work(&txn, now)
        })
        .await
        .map_err(backend)?
    }

    /// Runs `work` in a write transaction on the writer thread; commits only if it succeeds, so a
    /// failed condition anywhere writes nothing. Answers once the commit is durable.
    async fn write<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Writer<'_>) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let now = self.clock.unix();
        let (answer, answered) = oneshot::channel::<Result<T, StoreError>>();
        let job: WriteJob = Box::new(move |db: &Database| {
            let outcome = (|| {
                let mut txn = db.begin_write().map_err(backend)?;
                txn.set_durability(Durability::None);
                let outcome = (|| {
                    let mut writer = Writer {
                        items: txn.open_table(ITEMS).map_err(backend)?,
                        gsi1: txn.open_table(GSI1).map_err(backend)?,
                        now,
                    };
                    work(&mut writer)
                })();
                match outcome {
                    Ok(value) => {
                        txn.commit().map_err(backend)?;
                        Ok(value)
                    }
                    Err(error) => {
                        txn.abort().map_err(backend)?;
                        Err(error)
                    }
                }
            })();
            match outcome {
                Ok(value) => Ran {
                    committed: true,
                    answer: Box::new(move |durable| {
                        let _ = answer.send(durable.map(|()| value).map_err(backend));
                    }),
                },
                Err(error) => Ran {
                    committed: false,
                    answer: Box::new(move |_| {
                        let _ = answer.send(Err(error));
                    }),
                },
            }
        });
        self.writes
            .as_ref()
            .ok_or_else(|| backend("the store is closing"))?
            .send(job)
            .map_err(|_| backend("the writer thread has stopped"))?;
        answered
            .await
            .map_err(|_| backend("the writer thread dropped a transaction"))?
    }
}

fn backend(error: impl Display) -> StoreError {
    StoreError::Backend(format!("embedded store: {error}"))
}

fn parse(json: &str) -> Result<Item, StoreError> {
    serde_json::from_str(json).map_err(|e| backend(format!("a stored item is not JSON: {e}")))
}

/// The tables of one write transaction, and the time it judges expiry by.
struct Writer<'txn> {
    items: redb::Table<'txn, (&'static str, &'static str), &'static str>,
    gsi1: redb::Table<'txn, (&'static str, &'static str, &'static str, &'static str), ()>,
    now: i64,
}

impl Writer<'_> {
    fn live(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let stored = match self
            .items
            .get((key.pk.as_str(), key.sk.as_str()))
            .map_err(backend)?
        {
            Some(json) => parse(json.value())?,
            None => return Ok(None),
        };
        Ok(is_live(&stored, self.now).then_some(stored))
    }

    /// The live item under the key, if the condition holds for it.
    fn checked(
        &self,
        key: &Key,
        condition: Option<&Condition>,
    ) -> Result<Option<Item>, StoreError> {
        let live = self.live(key)?;
        match condition {
            Some(condition) if !condition.holds(live.as_ref()) => Err(StoreError::ConditionFailed),
            _ => Ok(live),
        }
    }

    fn store(&mut self, key: &Key, item: &Item) -> Result<(), StoreError> {
        let json = serde_json::to_string(item).map_err(backend)?;
        let old = self
            .items
            .insert((key.pk.as_str(), key.sk.as_str()), json.as_str())
            .map_err(backend)?
            .map(|old| parse(old.value()))
            .transpose()?;
        self.reindex(key, old.as_ref(), Some(item))
    }

    /// Removes whatever is stored under the key, live or expired.
    fn remove(&mut self, key: &Key) -> Result<(), StoreError> {
        let old = self
            .items
            .remove((key.pk.as_str(), key.sk.as_str()))
            .map_err(backend)?
            .map(|old| parse(old.value()))
            .transpose()?;
        self.reindex(key, old.as_ref(), None)
    }

    fn reindex(
        &mut self,
        key: &Key,
        old: Option<&Item>,
        new: Option<&Item>,
    ) -> Result<(), StoreError> {
        let (pk, sk) = (key.pk.as_str(), key.sk.as_str());
        if let Some((gsi1pk, gsi1sk)) = old.and_then(gsi1_of) {
            self.gsi1
                .remove((gsi1pk, gsi1sk, pk, sk))
                .map_err(backend)?;
        }
        if let Some((gsi1pk, gsi1sk)) = new.and_then(gsi1_of) {
            self.gsi1
                .insert((gsi1pk, gsi1sk, pk, sk), ())
                .map_err(backend)?;
        }
        Ok(())
    }

    fn put(&mut self, item: Item, condition: Option<&Condition>) -> Result<(), StoreError> {
        let key = checked_put_key(&item)?;
        self.checked(&key, condition)?;
        self.store(&key, &item)
    }

    fn update(
        &mut self,
        key: &Key,
        set: Item,
        remove: &[String],
        condition: Option<&Condition>,
    ) -> Result<Item, StoreError> {
        let set = checked_update(key, set, remove)?;
        // An expired item counts as absent: the update starts from the bare key, not its remains.
        let mut item = self.checked(key, condition)?.unwrap_or_else(|| key.item());
        item.extend(set);
        for name in remove {
            item.remove(name);
        }
        self.store(key, &item)?;
        Ok(item)
    }

    fn delete(
        &mut self,
        key: &Key,
        condition: Option<&Condition>,
    ) -> Result<Option<Item>, StoreError> {
        let live = self.checked(key, condition)?;
        // Also clears an expired leftover, which the caller never sees.
        self.remove(key)?;
        Ok(live)
    }

    fn add(
        &mut self,
        key: &Key,
        attribute: &str,
        delta: i64,
        ttl: Option<i64>,
    ) -> Result<i64, StoreError> {
        checked_counter(attribute)?;
        let mut item = self.live(key)?.unwrap_or_else(|| key.item());
        let current = match item.get(attribute) {
            None => 0,
            Some(value) => value.as_i64().ok_or_else(|| {
                StoreError::Invalid(format!(
                    "the attribute {attribute} is not an integer counter"
                ))
            })?,
        };
        let next = current.checked_add(delta).ok_or_else(|| {
            StoreError::Invalid(format!("the counter {attribute} would overflow"))
        })?;
        item.insert(attribute.to_owned(), next.into());
        if let Some(ttl) = ttl {
            item.entry(attr::TTL).or_insert_with(|| ttl.into());
        }
        self.store(key, &item)?;
        Ok(next)
    }

    fn apply(&mut self, write: Write) -> Result<(), StoreError> {
        match write {
            Write::Put { item, condition } => self.put(item, condition.as_ref()),
            Write::Update {
                key,
                set,
                remove,
                condition,
            } => self
                .update(&key, set, &remove, condition.as_ref())
                .map(drop),
            Write::Delete { key, condition } => self.delete(&key, condition.as_ref()).map(drop),
            Write::Check { key, condition } => self.checked(&key, Some(&condition)).map(drop),
        }
    }
}

#[async_trait]
impl Table for EmbeddedTable {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let key = key.clone();
        self.read(move |txn, now| {
            let items = txn.open_table(ITEMS).map_err(backend)?;
            let Some(json) = items
                .get((key.pk.as_str(), key.sk.as_str()))
                .map_err(backend)?
            else {
                return Ok(None);
            };
            let item = parse(json.value())?;
            Ok(is_live(&item, now).then_some(item))
        })
        .await
    }

    async fn put(&self, item: Item, condition: Option<Condition>) -> Result<(), StoreError> {
        self.write(move |writer| writer.put(item, condition.as_ref()))
            .await
    }

    async fn update(
        &self,
        key: &Key,
        set: Item,
        remove: Vec<String>,
        condition: Option<Condition>,
    ) -> Result<Item, StoreError> {
        let key = key.clone();
        self.write(move |writer| writer.update(&key, set, &remove, condition.as_ref()))
            .await
    }

    async fn delete(
        &self,
        key: &Key,
        condition: Option<Condition>,
    ) -> Result<Option<Item>, StoreError> {
        let key = key.clone();
        self.write(move |writer| writer.delete(&key, condition.as_ref()))
            .await
    }

    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        checked_transaction(&writes)?;
        if writes.is_empty() {
            return Ok(());
        }
        // Keys are distinct, so checking each write just before applying it sees the same state
        // as checking them all first; any failure aborts the whole transaction.
        self.write(move |writer| writes.into_iter().try_for_each(|write| writer.apply(write)))
            .await
    }

    async fn add(
        &self,
        key: &Key,
        attribute: &str,
        delta: i64,
        ttl: Option<i64>,
    ) -> Result<i64, StoreError> {
        let (key, attribute) = (key.clone(), attribute.to_owned());
        self.write(move |writer| writer.add(&key, &attribute, delta, ttl))
            .await
    }

    async fn query(&self, pk: &str, sk_prefix: &str) -> Result<Vec<Item>, StoreError> {
        let (pk, prefix) = (pk.to_owned(), sk_prefix.to_owned());
        self.read(move |txn, now| {
            let items = txn.open_table(ITEMS).map_err(backend)?;
            let mut found = Vec::new();
            // Keys sort by (PK, SK), so the matches are one run starting at (pk, prefix).
            for entry in items
                .range((pk.as_str(), prefix.as_str())..)
                .map_err(backend)?
            {
                let (key, json) = entry.map_err(backend)?;
                let (item_pk, item_sk) = key.value();
                if item_pk != pk || !item_sk.starts_with(prefix.as_str()) {
                    break;
                }
                let item = parse(json.value())?;
                if is_live(&item, now) {
                    found.push(item);
                }
            }
            Ok(found)
        })
        .await
    }

    async fn query_gsi1(&self, gsi1pk: &str, sk_prefix: &str) -> Result<Vec<Item>, StoreError> {
        let (gsi1pk, prefix) = (gsi1pk.to_owned(), sk_prefix.to_owned());
        self.read(move |txn, now| {
            let items = txn.open_table(ITEMS).map_err(backend)?;
            let index = txn.open_table(GSI1).map_err(backend)?;
            let mut found = Vec::new();
            for entry in index
                .range((gsi1pk.as_str(), prefix.as_str(), "", "")..)
                .map_err(backend)?
            {
                let (entry, _) = entry.map_err(backend)?;
                let (entry_pk, entry_sk, pk, sk) = entry.value();
                if entry_pk != gsi1pk || !entry_sk.starts_with(prefix.as_str()) {
                    break;
                }
                // The index changes in the same transaction as the items, so the item is there.
                let Some(json) = items.get((pk, sk)).map_err(backend)? else {
                    continue;
                };
                let item = parse(json.value())?;
                if is_live(&item, now) {
                    found.push(item);
                }
            }
            Ok(found)
        })
        .await
    }

    async fn scan(&self, pk_prefix: &str, sk: &str) -> Result<Vec<Item>, StoreError> {
        let (prefix, sk) = (pk_prefix.to_owned(), sk.to_owned());
        self.read(move |txn, now| {
            let items = txn.open_table(ITEMS).map_err(backend)?;
            let mut found = Vec::new();
            for entry in items.range((prefix.as_str(), "")..).map_err(backend)? {
                let (key, json) = entry.map_err(backend)?;
                let (item_pk, item_sk) = key.value();
                if !item_pk.starts_with(prefix.as_str()) {
                    break;
                }
                if item_sk != sk {
                    continue;
                }
                let item = parse(json.value())?;
                if is_live(&item, now) {
                    found.push(item);
                }
            }
            Ok(found)
        })
        .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.read(|txn, _| txn.open_table(ITEMS).map(drop).map_err(backend))
            .await
    }

    fn backend(&self) -> &'static str {
        "embedded"
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::adapters::system::SystemClock;

    fn item(value: serde_json::Value) -> Item {
        value.as_object().cloned().unwrap_or_default()
    }

    #[tokio::test]
    async fn items_survive_reopening_the_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("nested/dir/store.redb");
        let key = Key::new("USER#1", "PROFILE");
        {
            let table = EmbeddedTable::open(&path, Arc::new(SystemClock)).expect("open");
            table
                .put(
                    item(json!({"PK": "USER#1", "SK": "PROFILE", "GSI1PK": "G", "GSI1SK": "1"})),
                    None,
                )
                .await
                .expect("put");
        }
        let table = EmbeddedTable::open(&path, Arc::new(SystemClock)).expect("reopen");
        assert!(table.get(&key).await.expect("get").is_some());
        assert_eq!(table.query_gsi1("G", "").await.expect("gsi").len(), 1);
    }

    #[tokio::test]
    async fn the_index_follows_an_item_that_moves_or_goes() {
        let dir = tempfile::tempdir().expect("temp dir");
        let table = EmbeddedTable::open(&dir.path().join("store.redb"), Arc::new(SystemClock))
            .expect("open");
        let key = Key::new("A", "B");
        let moved = |sk: &str| item(json!({"GSI1PK": "G", "GSI1SK": sk}));
        table
            .update(&key, moved("old"), vec![], None)
            .await
            .expect("create");
        table
            .update(&key, moved("new"), vec![], None)
            .await
            .expect("move");
        assert!(table.query_gsi1("G", "old").await.expect("gsi").is_empty());
        assert_eq!(table.query_gsi1("G", "new").await.expect("gsi").len(), 1);
        table
            .update(&key, Item::new(), vec![attr::GSI1SK.into()], None)
            .await
            .expect("leave the index");
        assert!(table.query_gsi1("G", "").await.expect("gsi").is_empty());
        table
            .update(&key, moved("back"), vec![], None)
            .await
            .expect("rejoin");
        table.delete(&key, None).await.expect("delete");
        assert!(table.query_gsi1("G", "").await.expect("gsi").is_empty());
    }

    #[tokio::test]
    async fn concurrent_writes_share_durable_commits_and_a_failed_one_spoils_none_of_the_others() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("store.redb");
        {
            let table = Arc::new(EmbeddedTable::open(&path, Arc::new(SystemClock)).expect("open"));
            let writes = (0..40).map(|n| {
                let table = table.clone();
                async move {
                    // Every fifth write fails its condition (the item does not exist yet).
                    let condition = (n % 5 == 0).then_some(Condition::Exists);
                    table
                        .put(item(json!({"PK": format!("K#{n}"), "SK": "S"})), condition)
                        .await
                }
            });
            let answers = futures::future::join_all(writes).await;
            for (n, answer) in answers.iter().enumerate() {
                if n % 5 == 0 {
                    assert!(matches!(answer, Err(StoreError::ConditionFailed)), "{n}");
                } else {
                    assert!(answer.is_ok(), "{n}: {answer:?}");
                }
            }
        }
        // Every answered write is on disk.
        let table = EmbeddedTable::open(&path, Arc::new(SystemClock)).expect("reopen");
        for n in 0..40 {
            let stored = table
                .get(&Key::new(format!("K#{n}"), "S"))
                .await
                .expect("get");
            assert_eq!(stored.is_some(), n % 5 != 0, "{n}");
        }
    }
}
