//! Local mail: one RFC 5322 `.eml` file per message in the outbox dir. STUB.

use std::path::PathBuf;

use async_trait::async_trait;

use crate::ports::{Email, MailError, Mailer};

pub struct Outbox {
    _dir: PathBuf,
    _from: String,
}

impl Outbox {
    pub fn new(dir: PathBuf, from: String) -> Self {
        Self {
            _dir: dir,
            _from: from,
        }
    }
}

#[async_trait]
impl Mailer for Outbox {
    async fn send(&self, _email: &Email) -> Result<(), MailError> {
        Err(MailError("outbox not implemented yet".into()))
    }
}
