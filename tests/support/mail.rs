//! The mail a test app sent, read back from the real peer: the outbox files (embedded) or the
//! emulator's SES.

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use latchkey::ports::{Email, MailError, Mailer};
use serde_json::Value;

use crate::app::Backend;
use crate::aws::aws_endpoint;

/// Notes whom each email went to (nothing else: the mail itself is read back from the real
/// peer), so a test app's messages can be found among every test's on the shared emulator.
pub(crate) struct RecordRecipients {
    pub(crate) inner: Arc<dyn Mailer>,
    pub(crate) recipients: Arc<Mutex<Vec<String>>>,
}

#[async_trait]
impl Mailer for RecordRecipients {
    async fn send(&self, email: &Email) -> Result<(), MailError> {
        self.inner.send(email).await?;
        let address = bare_address(&email.to);
        let mut recipients = self.recipients.lock().expect("recipients lock");
        if !recipients.contains(&address) {
            recipients.push(address);
        }
        Ok(())
    }

    async fn check(&self) -> Result<(), String> {
        self.inner.check().await
    }
}

/// An email as its recipient reads it back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentMail {
    /// Bare addresses (`ada@example.com`, no display name).
    pub to: Vec<String>,
    pub subject: String,
    /// The text part when there is one, else the HTML part. moto keeps only the HTML part of an
    /// SES message, so on AWS this is HTML.
    pub body: String,
}

impl SentMail {
    /// The `http(s)://` links in the body, in order, with HTML's `&amp;` decoded.
    pub fn links(&self) -> Vec<String> {
        let mut links = Vec::new();
        let mut rest = self.body.as_str();
        while let Some(start) = ["https://", "http://"]
            .iter()
            .filter_map(|scheme| rest.find(scheme))
            .min()
        {
            let candidate = &rest[start..];
            let end = candidate
                .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>'))
                .unwrap_or(candidate.len());
            let link = candidate[..end].trim_end_matches(['.', ',', ';', ':', '!', '?', ')']);
            links.push(link.replace("&amp;", "&"));
            rest = &candidate[end..];
        }
        links.dedup();
        links
    }

    /// The first standalone 6-digit number outside links and HTML tags (`#123456`, a colour or
    /// character reference, does not count).
    pub fn code(&self) -> Option<String> {
        let mut text = String::with_capacity(self.body.len());
        let mut in_tag = false;
        for c in self.body.chars() {
            match c {
                '<' => in_tag = true,
                '>' if in_tag => {
                    in_tag = false;
                    text.push(' ');
                }
                _ if !in_tag => text.push(c),
                _ => {}
            }
        }
        text.split_whitespace()
            .filter(|word| !word.contains("://"))
            .flat_map(|word| word.split(|c: char| !(c.is_ascii_alphanumeric() || c == '#')))
            .find(|part| part.len() == 6 && part.bytes().all(|b| b.is_ascii_digit()))
            .map(str::to_owned)
    }
}

/// The mail sent to any of `recipients`, in send order: from the outbox under `dir` (embedded) or
/// from the emulator's SES (AWS).
pub async fn sent_mail(backend: Backend, dir: &Path, recipients: &[String]) -> Vec<SentMail> {
    let all = match backend {
        Backend::Embedded => outbox_mail(&dir.join("outbox")),
        Backend::Aws => ses_mail().await,
    };
    all.into_iter()
        .filter(|mail| mail.to.iter().any(|to| recipients.contains(to)))
        .collect()
}

/// Every `.eml` file of an outbox, parsed, in file-name (send) order; none if there is no outbox.
pub fn outbox_mail(outbox: &Path) -> Vec<SentMail> {
    let entries = match std::fs::read_dir(outbox) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
        Err(e) => panic!("cannot list the outbox {}: {e}", outbox.display()),
    };
    let mut files: Vec<std::path::PathBuf> = entries
        .map(|entry| entry.expect("an outbox entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "eml"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|path| {
            let raw = std::fs::read(path).expect("read an outbox message");
            parse_eml(&raw).unwrap_or_else(|problem| panic!("{}: {problem}", path.display()))
        })
        .collect()
}

/// One RFC 5322 message, read by a MIME parser independent of the code that wrote it.
pub fn parse_eml(raw: &[u8]) -> Result<SentMail, String> {
    let message = mail_parser::MessageParser::default()
        .parse(raw)
        .ok_or("not a MIME message")?;
    let to = message
        .to()
        .ok_or("no To header")?
        .iter()
        .filter_map(|address| address.address())
        .map(str::to_owned)
        .collect();
    let subject = message.subject().ok_or("no Subject header")?.to_owned();
    // `body_text` would turn an HTML-only message into text; take a real text/plain part only.
    let text = message
        .text_part(0)
        .filter(|part| !part.is_text_html())
        .and_then(|part| part.text_contents());
    let body = match text {
        Some(text) => text.to_owned(),
        None => message
            .body_html(0)
            .ok_or("no text or HTML part")?
            .into_owned(),
    }
    // Lines end in CRLF on the wire; LF as written, like the SES body.
    .replace("\r\n", "\n");
    Ok(SentMail { to, subject, body })
}

/// Every message the emulator's SES has accepted, from every test running, in send order.
pub async fn ses_mail() -> Vec<SentMail> {
    // A path of tests/moto_serial.py: only SES's messages, not moto's whole state.
    let url = format!("{}/latchkey/ses-messages", aws_endpoint());
    let data: Value = crate::http_client()
        .get(&url)
        .send()
        .await
        .and_then(|response| response.error_for_status())
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: not JSON: {e}"));
    // moto's shape: {"Message": [{"source", "destinations": {"ToAddresses": [..]},
    // "subject", "body" (the HTML part only), "id"}]}.
    let messages = data["Message"].as_array().cloned().unwrap_or_default();
    messages
        .iter()
        .map(|message| SentMail {
            to: message["destinations"]["ToAddresses"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(bare_address)
                .collect(),
            subject: message["subject"].as_str().unwrap_or_default().to_owned(),
            body: message["body"].as_str().unwrap_or_default().to_owned(),
        })
        .collect()
}

/// `ada@example.com` from `Ada <ada@example.com>` or from itself.
fn bare_address(address: &str) -> String {
    match (address.rfind('<'), address.rfind('>')) {
        (Some(open), Some(close)) if open < close => address[open + 1..close].trim().to_owned(),
        _ => address.trim().to_owned(),
    }
}
