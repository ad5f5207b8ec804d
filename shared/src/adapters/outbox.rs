//! Local mail: each email becomes one RFC 5322 `.eml` file in the outbox dir, so a person running
//! Latchkey without AWS can open it in a mail client, and the links and codes it carries are
//! logged so they can follow a sign-up or sign-in from the terminal.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use async_trait::async_trait;
use lettre::Message;
use lettre::message::{Mailbox, MultiPart};
use time::OffsetDateTime;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;

use crate::adapters::private_files;
use crate::domain::emails::EmailAddress;
use crate::ports::{Email, MailError, Mailer};

/// File names start with the send time, so listing the outbox in name order lists the mail in
/// the order it was sent.
const FILE_TIME: &[BorrowedFormatItem<'static>] =
    format_description!("[year][month][day]T[hour][minute][second].[subsecond digits:6]Z");

pub struct Outbox {
    dir: PathBuf,
    from: String,
    /// The last time used in a file name: two emails sent in the same microsecond still get
    /// names in send order.
    last_sent: Mutex<OffsetDateTime>,
}

impl Outbox {
    pub fn new(dir: PathBuf, from: String) -> Self {
        Self {
            dir,
            from,
            last_sent: Mutex::new(OffsetDateTime::UNIX_EPOCH),
        }
    }

    /// Now, or just after the previous send if the clock has not moved on since.
    fn send_time(&self) -> OffsetDateTime {
        let now = OffsetDateTime::now_utc();
        let mut last = match self.last_sent.lock() {
            Ok(guard) => guard,
            // The guarded value is a plain timestamp, always valid; a panic elsewhere does not
            // make it wrong.
            Err(poisoned) => poisoned.into_inner(),
        };
        let time = if now > *last {
            now
        } else {
            *last + time::Duration::microseconds(1)
        };
        *last = time;
        time
    }

    /// The whole message, headers and both parts, as written to the file.
    fn message(&self, email: &Email, sent: OffsetDateTime, id: &str) -> Result<Vec<u8>, MailError> {
        let from: Mailbox = self
            .from
            .parse()
            .map_err(|e| MailError(format!("invalid sender address {:?}: {e}", self.from)))?;
        // The same rule sign-up applied, so an address we accepted is one we can mail.
        let to: Mailbox = EmailAddress::recipient(&email.to)?
            .as_str()
            .parse()
            .map_err(|e| MailError(format!("invalid recipient address {:?}: {e}", email.to)))?;
        let domain = from.email.domain().to_owned();
        let message = Message::builder()
            .from(from)
            .to(to)
            .subject(email.subject.clone())
            .date(sent.into())
            .message_id(Some(format!("<{id}@{domain}>")))
            .multipart(MultiPart::alternative_plain_html(
                email.text.clone(),
                email.html.clone(),
            ))
            .map_err(|e| MailError(format!("cannot build the message: {e}")))?;
        Ok(message.formatted())
    }
}

#[async_trait]
impl Mailer for Outbox {
    async fn send(&self, email: &Email) -> Result<(), MailError> {
        let sent = self.send_time();
        let id = uuid::Uuid::new_v4().simple().to_string();
        let bytes = self.message(email, sent, &id)?;
        let stamp = sent
            .format(FILE_TIME)
            .map_err(|e| MailError(format!("cannot format the send time: {e}")))?;
        let name = format!("{stamp}-{id}.eml");
        let path = self.dir.join(&name);
        write_whole(&self.dir, &name, &path, &bytes).await?;

        // The file, not its links or codes: logs never hold a secret, even locally (logs are
        // shared and kept; the outbox is owner-only). `latchkey outbox` (or the file) shows them.
        tracing::info!(
            to = %email.to,
            subject = %email.subject,
            path = %path.display(),
            "email written to the outbox"
        );
        Ok(())
    }

    /// The outbox folder can take a file: write and remove a small probe.
    async fn check(&self) -> Result<(), String> {
        let probe = self.dir.join(".health-probe");
        // Two tiny calls: done in place rather than queued on the blocking pool.
        let written = private_files::create_dir(&self.dir)
            .and_then(|()| std::fs::write(&probe, b"ok"))
            .and_then(|()| std::fs::remove_file(&probe));
        written.map_err(|error| {
            tracing::warn!(dir = %self.dir.display(), %error, "health: the outbox is not writable");
            "the outbox folder in the data dir is not writable".to_owned()
        })
    }
}

/// Write to a hidden temporary name, then rename: a reader listing `*.eml` never sees half a
/// message.
async fn write_whole(dir: &Path, name: &str, path: &Path, bytes: &[u8]) -> Result<(), MailError> {
    // Mail holds sign-in links and codes: owner-only, like the rest of the data dir.
    private_files::create_dir(dir)
        .map_err(|e| MailError(format!("cannot create the outbox {}: {e}", dir.display())))?;
    let temporary = dir.join(format!(".{name}.tmp"));
    if let Err(e) = private_files::write_new(&temporary, bytes).await {
        let _ = tokio::fs::remove_file(&temporary).await;
        return Err(MailError(format!(
            "cannot write {}: {e}",
            temporary.display()
        )));
    }
    if let Err(e) = tokio::fs::rename(&temporary, path).await {
        let _ = tokio::fs::remove_file(&temporary).await;
        return Err(MailError(format!(
            "cannot move the message to {}: {e}",
            path.display()
        )));
    }
    Ok(())
}

/// The `http(s)://` links and the standalone 6-digit codes of a text part (`latchkey outbox`).
pub fn links_and_codes(text: &str) -> (Vec<String>, Vec<String>) {
    let mut links = Vec::new();
    let mut codes = Vec::new();
    for word in text.split_whitespace() {
        if let Some(start) = word.find("https://").or_else(|| word.find("http://")) {
            let link = word[start..].trim_end_matches(|c: char| {
                matches!(
                    c,
                    '.' | ',' | ';' | ':' | '!' | '?' | ')' | ']' | '>' | '"' | '\''
                )
            });
            links.push(link.to_owned());
            continue;
        }
        codes.extend(
            word.split(|c: char| !c.is_ascii_alphanumeric())
                .filter(|part| part.len() == 6 && part.bytes().all(|b| b.is_ascii_digit()))
                .map(str::to_owned),
        );
    }
    (links, codes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email() -> Email {
        Email {
            to: "ada@example.com".into(),
            subject: "Your sign-in code: 123456".into(),
            text: "Sign in with 123456, or open https://latchkey.local/verify?token=abc.\n".into(),
            html: "<p>Sign in with <b>123456</b></p>".into(),
        }
    }

    fn eml_files(dir: &Path) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .expect("read the outbox")
            .map(|entry| entry.expect("outbox entry").path())
            .collect();
        files.sort();
        files
    }

    #[tokio::test]
    async fn each_email_is_one_multipart_alternative_eml_file_with_its_headers() {
        let dir = tempfile::tempdir().expect("temp dir");
        let outbox = Outbox::new(
            dir.path().join("outbox"),
            "Latchkey <no-reply@latchkey.local>".into(),
        );
        outbox.send(&email()).await.expect("send");

        let files = eml_files(&dir.path().join("outbox"));
        assert_eq!(files.len(), 1, "{files:?}");
        let name = files[0].file_name().and_then(|n| n.to_str()).expect("name");
        assert!(name.ends_with(".eml") && !name.starts_with('.'), "{name}");
        let raw = std::fs::read_to_string(&files[0]).expect("read the message");
        let lower = raw.to_ascii_lowercase();

        let headers = &raw[..raw.find("\r\n\r\n").expect("a header block")];
        assert!(
            headers.contains("From: Latchkey <no-reply@latchkey.local>"),
            "{raw}"
        );
        assert!(headers.contains("To: ada@example.com"), "{raw}");
        assert!(
            headers.contains("Subject: Your sign-in code: 123456"),
            "{raw}"
        );
        assert!(headers.contains("Date: "), "{raw}");
        assert!(headers.contains("@latchkey.local>"), "Message-ID: {raw}");
        assert!(lower.contains("message-id: <"), "{raw}");
        assert!(
            lower.contains("content-type: multipart/alternative"),
            "{raw}"
        );
        assert!(
            lower.contains("content-type: text/plain; charset=utf-8"),
            "{raw}"
        );
        assert!(
            lower.contains("content-type: text/html; charset=utf-8"),
            "{raw}"
        );
        assert!(
            raw.contains("https://latchkey.local/verify?token=abc"),
            "{raw}"
        );
        assert!(raw.contains("<b>123456</b>"), "{raw}");
    }

    #[tokio::test]
    async fn outbox_file_names_sort_in_send_order() {
        let dir = tempfile::tempdir().expect("temp dir");
        let outbox = Outbox::new(dir.path().to_owned(), "no-reply@latchkey.local".into());
        let mut subjects = Vec::new();
        for n in 0..20 {
            let subject = format!("message {n:02}");
            outbox
                .send(&Email {
                    subject: subject.clone(),
                    ..email()
                })
                .await
                .expect("send");
            subjects.push(subject);
        }
        let read: Vec<String> = eml_files(dir.path())
            .iter()
            .map(|path| {
                let raw = std::fs::read_to_string(path).expect("read");
                let line = raw
                    .lines()
                    .find(|l| l.starts_with("Subject: "))
                    .expect("subject");
                line["Subject: ".len()..].to_owned()
            })
            .collect();
        assert_eq!(read, subjects);
    }

    #[tokio::test]
    async fn an_invalid_recipient_is_refused_and_nothing_is_written() {
        let dir = tempfile::tempdir().expect("temp dir");
        let outbox = Outbox::new(dir.path().join("outbox"), "no-reply@latchkey.local".into());
        let result = outbox
            .send(&Email {
                to: "not an address".into(),
                ..email()
            })
            .await;
        assert!(result.is_err());
        assert!(!dir.path().join("outbox").exists());
    }

    #[test]
    fn links_and_standalone_six_digit_codes_are_found_in_the_text() {
        let (links, codes) = links_and_codes(
            "Open https://a.example/x?code=654321. Or (http://b.example/y) \
             code 123456, not 1234567 nor abc123456 nor 12345.",
        );
        assert_eq!(
            links,
            ["https://a.example/x?code=654321", "http://b.example/y"]
        );
        assert_eq!(codes, ["123456"]);
    }
}
