//! The ports: the small traits the services are written against. Each has a production adapter
//! (DynamoDB, SES, KMS) and a local one (embedded store, outbox, local key) in `adapters/`, and
//! both adapters of a pair pass the same conformance tests.

use std::collections::BTreeMap;
use std::fmt;

use async_trait::async_trait;
use serde_json::Value;
use time::OffsetDateTime;

/// One stored item: attribute name to JSON value. Every item carries `PK` and `SK` strings; it may
/// carry `GSI1PK`/`GSI1SK` (the one secondary index) and `ttl` (Unix seconds after which the item
/// counts as absent everywhere, whether or not the backend has removed it yet).
pub type Item = serde_json::Map<String, Value>;

/// Attribute names with a meaning to the store itself.
pub mod attr {
    pub const PK: &str = "PK";
    pub const SK: &str = "SK";
    pub const GSI1PK: &str = "GSI1PK";
    pub const GSI1SK: &str = "GSI1SK";
    pub const TTL: &str = "ttl";
    pub const VERSION: &str = "version";
}

/// The primary key of an item.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Self {
            pk: pk.into(),
            sk: sk.into(),
        }
    }

    /// The key of an item, if it carries string `PK` and `SK` attributes.
    pub fn of(item: &Item) -> Option<Self> {
        Some(Self::new(
            item.get(attr::PK)?.as_str()?,
            item.get(attr::SK)?.as_str()?,
        ))
    }

    /// A new item holding just this key.
    pub fn item(&self) -> Item {
        let mut item = Item::new();
        item.insert(attr::PK.into(), Value::String(self.pk.clone()));
        item.insert(attr::SK.into(), Value::String(self.sk.clone()));
        item
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}|{}", self.pk, self.sk)
    }
}

/// A condition on the live item under a key; an expired item is never live.
#[derive(Clone, Debug, PartialEq)]
pub enum Condition {
    /// No live item exists under the key.
    NotExists,
    /// A live item exists under the key.
    Exists,
    /// A live item exists and its attribute equals the value.
    Equals(String, Value),
    /// A live item exists and its numeric attribute is less than the number (a monotonic
    /// counter moved forward by one write: a TOTP's last accepted time step).
    LessThan(String, i64),
    /// A live item exists and its attribute equals the value or is absent (for an attribute
    /// added after items were first written, whose absence means its default).
    EqualsOrAbsent(String, Value),
}

impl Condition {
    /// Optimistic locking: the live item's `version` is `version`.
    pub fn version(version: i64) -> Self {
        Self::Equals(attr::VERSION.into(), Value::from(version))
    }

    /// Whether the condition holds for `live`, the live item under the key (if any).
    pub fn holds(&self, live: Option<&Item>) -> bool {
        match (self, live) {
            (Self::NotExists, live) => live.is_none(),
            (Self::Exists, live) => live.is_some(),
            (Self::Equals(name, value), Some(item)) => {
                item.get(name).is_some_and(|v| json_equal(v, value))
            }
            (Self::LessThan(name, bound), Some(item)) => item
                .get(name)
                .and_then(Value::as_f64)
                .is_some_and(|v| v < *bound as f64),
            (Self::EqualsOrAbsent(name, value), Some(item)) => {
                item.get(name).is_none_or(|v| json_equal(v, value))
            }
            (Self::Equals(..) | Self::EqualsOrAbsent(..) | Self::LessThan(..), None) => false,
        }
    }
}

/// Equality as DynamoDB sees it: numbers compare by value (`1` equals `1.0`).
pub fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// One write of a transaction.
#[derive(Clone, Debug)]
pub enum Write {
    /// Replace the whole item.
    Put {
        item: Item,
        condition: Option<Condition>,
    },
    /// Set some attributes (creating the item if absent) and remove others.
    Update {
        key: Key,
        set: Item,
        remove: Vec<String>,
        condition: Option<Condition>,
    },
    /// Remove the item.
    Delete {
        key: Key,
        condition: Option<Condition>,
    },
    /// Write nothing; fail the transaction unless the condition holds.
    Check { key: Key, condition: Condition },
}

impl Write {
    pub fn key(&self) -> Option<Key> {
        match self {
            Self::Put { item, .. } => Key::of(item),
            Self::Update { key, .. } | Self::Delete { key, .. } | Self::Check { key, .. } => {
                Some(key.clone())
            }
        }
    }

    /// The same write under `condition` instead of its own (a transaction names an item once,
    /// so a second condition on an item it writes must ride on that write).
    pub fn on_condition(self, condition: Condition) -> Self {
        match self {
            Self::Put { item, .. } => Self::Put {
                item,
                condition: Some(condition),
            },
            Self::Update {
                key, set, remove, ..
            } => Self::Update {
                key,
                set,
                remove,
                condition: Some(condition),
            },
            Self::Delete { key, .. } => Self::Delete {
                key,
                condition: Some(condition),
            },
            Self::Check { key, .. } => Self::Check { key, condition },
        }
    }
}

/// How a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A condition did not hold (or a transaction was cancelled because one did not); nothing was
    /// written.
    #[error("the write's condition did not hold")]
    ConditionFailed,
    /// The request itself was wrong (a missing key attribute, too many writes in a transaction).
    #[error("invalid storage request: {0}")]
    Invalid(String),
    /// The backend could not be reached or failed; the text is for logs only.
    #[error("storage backend failed: {0}")]
    Backend(String),
}

/// The most writes one transaction may hold (DynamoDB's limit).
pub const MAX_TRANSACTION_WRITES: usize = 100;

/// The single table: what DynamoDB can do atomically, and nothing more.
#[async_trait]
pub trait Table: Send + Sync {
    /// The live item under the key.
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError>;

    /// Replace the whole item, if the condition holds.
    async fn put(&self, item: Item, condition: Option<Condition>) -> Result<(), StoreError>;

    /// Set and remove attributes, if the condition holds; answers the item as written. An update
    /// without a condition creates the item when it is absent.
    async fn update(
        &self,
        key: &Key,
        set: Item,
        remove: Vec<String>,
        condition: Option<Condition>,
    ) -> Result<Item, StoreError>;

    /// Remove the item, if the condition holds; answers the live item removed, if there was one.
    /// `delete(key, Some(Condition::Exists))` consumes an item exactly once.
    async fn delete(
        &self,
        key: &Key,
        condition: Option<Condition>,
    ) -> Result<Option<Item>, StoreError>;

    /// All of the writes or none: any failing condition cancels the whole transaction with
    /// `ConditionFailed`. At most one write per key.
    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError>;

    /// Atomically add `delta` to a numeric attribute (absent counts as 0) and answer the new value.
    /// `ttl`, when given, is set on the item if it has none yet.
    async fn add(
        &self,
        key: &Key,
        attribute: &str,
        delta: i64,
        ttl: Option<i64>,
    ) -> Result<i64, StoreError>;

    /// The live items of a partition whose sort key starts with `sk_prefix`, in sort-key order.
    async fn query(&self, pk: &str, sk_prefix: &str) -> Result<Vec<Item>, StoreError>;

    /// The live items whose `GSI1PK` is `gsi1pk` and whose `GSI1SK` starts with `sk_prefix`, in
    /// `GSI1SK` order.
    async fn query_gsi1(&self, gsi1pk: &str, sk_prefix: &str) -> Result<Vec<Item>, StoreError>;

    /// Every live item whose sort key is exactly `sk` and whose partition key starts with
    /// `pk_prefix`: a whole-table scan, for operator commands only (`latchkey users list`),
    /// never for a request. Decorators that do not pass it on refuse it.
    async fn scan(&self, pk_prefix: &str, sk: &str) -> Result<Vec<Item>, StoreError> {
        let _ = (pk_prefix, sk);
        Err(StoreError::Invalid("this table does not scan".into()))
    }

    /// Whether the backend answers; for `/health`.
    async fn ping(&self) -> Result<(), StoreError>;

    /// The backend's name, for `/health` and logs.
    fn backend(&self) -> &'static str;

    /// Moves each time the store was found empty and set up again (an emulator restarted): what
    /// a process cached from the table (signing keys, the code key) is stale when it has moved.
    fn generation(&self) -> u64 {
        0
    }
}

/// An email to send: a text and an HTML part.
#[derive(Clone, Debug)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

#[derive(Debug, thiserror::Error)]
#[error("sending mail failed: {0}")]
pub struct MailError(pub String);

/// Sends mail: SES in AWS, `.eml` files in the outbox locally.
#[async_trait]
pub trait Mailer: Send + Sync {
    async fn send(&self, email: &Email) -> Result<(), MailError>;

    /// For `/health`: whether mail can go out now (SES: the sender identity is verified; the
    /// outbox: its folder is writable), without sending any. The reason is short and public.
    async fn check(&self) -> Result<(), String> {
        Ok(())
    }
}

/// Names the owner and purpose of a secret. A ciphertext only decrypts under the context it was
/// encrypted with, so a secret copied to another owner's item is useless there.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EncryptionContext(BTreeMap<String, String>);

impl EncryptionContext {
    pub fn new(owner: impl Into<String>, purpose: impl Into<String>) -> Self {
        let mut map = BTreeMap::new();
        map.insert("owner".to_owned(), owner.into());
        map.insert("purpose".to_owned(), purpose.into());
        Self(map)
    }

    pub fn with(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.0.insert(key.into(), value.into());
        self
    }

    pub fn pairs(&self) -> &BTreeMap<String, String> {
        &self.0
    }

    /// A canonical byte form (sorted, length-prefixed), for use as associated data.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (key, value) in &self.0 {
            for part in [key, value] {
                out.extend_from_slice(&(part.len() as u32).to_be_bytes());
                out.extend_from_slice(part.as_bytes());
            }
        }
        out
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CipherError {
    /// The ciphertext is damaged, or was made under another key or context.
    #[error("the ciphertext does not decrypt under this key and context")]
    Undecryptable,
    #[error("cipher backend failed: {0}")]
    Backend(String),
}

/// Encrypts secrets at rest: KMS in AWS, AES-256-GCM with a local key file locally.
#[async_trait]
pub trait Cipher: Send + Sync {
    async fn encrypt(
        &self,
        plaintext: &[u8],
        context: &EncryptionContext,
    ) -> Result<Vec<u8>, CipherError>;
    async fn decrypt(
        &self,
        ciphertext: &[u8],
        context: &EncryptionContext,
    ) -> Result<Vec<u8>, CipherError>;

    /// For `/health`: whether the key is usable (KMS: `DescribeKey` says enabled). The local key
    /// was read at start; whether it still opens our secrets is the signing-key check's to say.
    async fn check(&self) -> Result<(), String> {
        Ok(())
    }
}

/// The time. Services ask this port rather than the system, so tests can move time forward.
pub trait Clock: Send + Sync {
    fn now(&self) -> OffsetDateTime;

    fn unix(&self) -> i64 {
        self.now().unix_timestamp()
    }
}

/// Randomness for tokens and ids: the OS CSPRNG in every real adapter.
pub trait Random: Send + Sync {
    fn fill(&self, bytes: &mut [u8]);
}

/// Which kind of mail server a login is tried at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MailProtocol {
    Imap,
    Smtp,
}

impl MailProtocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Imap => "imap",
            Self::Smtp => "smtp",
        }
    }
}

/// A mail server and the login to try there. `secure`: TLS from the first byte (IMAPS 993,
/// SMTPS 465); otherwise STARTTLS when the server offers it.
#[derive(Clone)]
pub struct MailServerLogin {
    pub host: String,
    pub port: u16,
    pub secure: bool,
    pub username: String,
    pub password: secrecy::SecretString,
}

impl fmt::Debug for MailServerLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the password, never the username: both are the inbox owner's.
        write!(f, "{}:{} (secure: {})", self.host, self.port, self.secure)
    }
}

/// How a login attempt at a mail server failed.
#[derive(Debug, thiserror::Error)]
pub enum MailLoginError {
    /// The server answered and refused the credentials; the text is the server's, for logs.
    #[error("the server refused the login: {0}")]
    Refused(String),
    /// No answer in time, no connection, or no TLS the client could trust.
    #[error("the server could not be reached: {0}")]
    Unreachable(String),
    /// The host is (or resolves to) an address that is not public: never connected to.
    #[error("{0} is not a public address")]
    NotPublic(String),
}

/// Tries a login at an IMAP or SMTP server before credentials are stored, then logs out.
#[async_trait]
pub trait MailLogin: Send + Sync {
    async fn try_login(
        &self,
        protocol: MailProtocol,
        server: &MailServerLogin,
    ) -> Result<(), MailLoginError>;
}
