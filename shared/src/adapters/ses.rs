//! Mail in AWS: SES v2 `SendEmail` with simple content (subject, text and HTML parts, UTF-8),
//! from the configured, SES-verified sender.

use async_trait::async_trait;

use crate::adapters::aws::LazyClient;
use aws_sdk_sesv2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};

use crate::domain::emails::EmailAddress;
use crate::ports::{Email, MailError, Mailer};

pub struct SesMailer {
    client: LazyClient<aws_sdk_sesv2::Client>,
    from: String,
}

impl SesMailer {
    pub fn new(client: aws_sdk_sesv2::Client, from: String) -> Self {
        Self::with_client(LazyClient::ready(client), from)
    }

    /// One whose client is built on its first call.
    pub fn with_client(client: LazyClient<aws_sdk_sesv2::Client>, from: String) -> Self {
        Self { client, from }
    }
}

#[async_trait]
impl Mailer for SesMailer {
    async fn send(&self, email: &Email) -> Result<(), MailError> {
        let to = EmailAddress::recipient(&email.to)?;
        let message = Message::builder()
            .subject(utf8(&email.subject)?)
            .body(
                Body::builder()
                    .text(utf8(&email.text)?)
                    .html(utf8(&email.html)?)
                    .build(),
            )
            .build();
        self.client
            .get()
            .await
            .send_email()
            .from_email_address(&self.from)
            .destination(Destination::builder().to_addresses(to.as_str()).build())
            .content(EmailContent::builder().simple(message).build())
            .send()
            .await
            .map_err(|error| describe(&email.to, error))?;
        Ok(())
    }

    /// `GetEmailIdentity` for the sender's address, then its domain (SES sends from an address
    /// when either is verified).
    async fn check(&self) -> Result<(), String> {
        let address = self
            .from
            .rsplit('<')
            .next()
            .unwrap_or(&self.from)
            .trim_end_matches('>')
            .trim()
            .to_owned();
        let domain = address.rsplit('@').next().unwrap_or_default().to_owned();
        for identity in [address.as_str(), domain.as_str()] {
            let answer = self
                .client
                .get()
                .await
                .get_email_identity()
                .email_identity(identity)
                .send()
                .await;
            match answer {
                Ok(found) => {
                    // SES sets `VerifiedForSendingStatus`; an emulator may only say
                    // `VerificationStatus: SUCCESS`. Either means mail from it is accepted.
                    let verified = found.verified_for_sending_status
                        || found.verification_status.as_ref().map(|s| s.as_str())
                            == Some("SUCCESS");
                    if verified {
                        return Ok(());
                    }
                }
                Err(error) if error.code() == Some("NotFoundException") => {}
                Err(error) => {
                    let reason = match error.code() {
                        Some(code) => code.to_owned(),
                        None => crate::adapters::aws::describe_unanswered(&error),
                    };
                    tracing::warn!(%reason, "health: SES GetEmailIdentity failed");
                    return Err(format!("SES GetEmailIdentity failed: {reason}"));
                }
            }
        }
        Err("the sender (LATCHKEY_MAIL_FROM) is not a verified SES identity".into())
    }
}

fn utf8(data: &str) -> Result<Content, MailError> {
    Content::builder()
        .data(data)
        .charset("UTF-8")
        .build()
        // Only a missing `data` fails the builder, and it is always set; no content in the text.
        .map_err(|e| MailError(format!("cannot build the SES content: {e}")))
}

/// A log-worthy account of a failed send. The body holds tokens and codes, so only the recipient
/// and what SES said are kept; SES error messages name identities and limits, never content.
fn describe<E, R>(to: &str, error: SdkError<E, R>) -> MailError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let reason = match &error {
        SdkError::ServiceError(service) => {
            let inner = service.err();
            format!(
                "{}: {}",
                inner.code().unwrap_or("unknown error"),
                inner.message().unwrap_or("no message")
            )
        }
        // Timeouts, connection and credential failures: the chain says which.
        other => crate::adapters::aws::describe_unanswered(other),
    };
    MailError(format!("SES SendEmail to {to} failed: {reason}"))
}
