//! SES v2 mail. STUB.

use async_trait::async_trait;

use crate::ports::{Email, MailError, Mailer};

pub struct SesMailer {
    _from: String,
}

impl SesMailer {
    pub fn new(_client: aws_sdk_sesv2::Client, from: String) -> Self {
        Self { _from: from }
    }
}

#[async_trait]
impl Mailer for SesMailer {
    async fn send(&self, _email: &Email) -> Result<(), MailError> {
        Err(MailError("ses not implemented yet".into()))
    }
}
