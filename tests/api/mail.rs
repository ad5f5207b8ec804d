//! The mail port against its real peers: the outbox read back with a MIME parser, and SES read
//! back from the emulator. Each scenario runs on both.

use latchkey::ports::{Email, Mailer};
use latchkey_tests::on_both_backends;
use latchkey_tests::{Backend, SentMail, TestApp, fresh_mailer, sent_mail, unique_email};
use mail_parser::MimeHeaders;

const FROM: &str = "Latchkey <no-reply@latchkey.local>";

fn sign_in_email(to: &str) -> Email {
    Email {
        to: to.to_owned(),
        subject: "Your Latchkey sign-in code".into(),
        text: "Your code is 482913.\n\nOr open https://latchkey.local/magic?token=tk_abc&flow=signin to sign in.\n"
            .into(),
        html: "<p style=\"color:#123456\">Your code is <b>482913</b>.</p>\
               <p><a href=\"https://latchkey.local/magic?token=tk_abc&amp;flow=signin\">Sign in</a></p>"
            .into(),
    }
}

async fn a_sent_email_can_be_read_back(backend: Backend) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mailer = fresh_mailer(backend, dir.path(), FROM).await;
    let to = unique_email("ada");

    mailer.send(&sign_in_email(&to)).await.expect("send");

    let mail = sent_mail(backend, dir.path(), std::slice::from_ref(&to)).await;
    assert_eq!(mail.len(), 1, "{mail:?}");
    assert_eq!(mail[0].to, [to]);
    assert_eq!(mail[0].subject, "Your Latchkey sign-in code");
    assert_eq!(
        mail[0].links(),
        ["https://latchkey.local/magic?token=tk_abc&flow=signin"]
    );
    assert_eq!(mail[0].code().as_deref(), Some("482913"));
}

on_both_backends!(a_sent_email_can_be_read_back);

async fn emails_are_read_back_in_send_order_and_only_for_their_recipient(backend: Backend) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mailer = fresh_mailer(backend, dir.path(), FROM).await;
    let ada = unique_email("ada");
    let grace = unique_email("grace");

    for (to, subject) in [(&ada, "first"), (&grace, "for grace"), (&ada, "second")] {
        let email = Email {
            subject: subject.into(),
            ..sign_in_email(to)
        };
        mailer.send(&email).await.expect("send");
    }

    let subjects =
        |mail: Vec<SentMail>| -> Vec<String> { mail.into_iter().map(|m| m.subject).collect() };
    assert_eq!(
        subjects(sent_mail(backend, dir.path(), std::slice::from_ref(&ada)).await),
        ["first", "second"]
    );
    assert_eq!(
        subjects(sent_mail(backend, dir.path(), std::slice::from_ref(&grace)).await),
        ["for grace"]
    );
}

on_both_backends!(emails_are_read_back_in_send_order_and_only_for_their_recipient);

async fn a_subject_and_body_beyond_ascii_arrive_intact(backend: Backend) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mailer = fresh_mailer(backend, dir.path(), FROM).await;
    let to = unique_email("zoe");
    let subject = "Willkommen, Zoë — ваш код ✓";
    let email = Email {
        to: to.clone(),
        subject: subject.into(),
        text: "Grüße! Code 482913 ✓".into(),
        html: "<p>Grüße! Code <b>482913</b> ✓</p>".into(),
    };

    mailer.send(&email).await.expect("send");

    let mail = sent_mail(backend, dir.path(), std::slice::from_ref(&to)).await;
    assert_eq!(mail.len(), 1, "{mail:?}");
    assert_eq!(mail[0].subject, subject);
    assert!(mail[0].body.contains("Grüße!"), "{}", mail[0].body);
    assert!(mail[0].body.contains('✓'), "{}", mail[0].body);
    assert_eq!(mail[0].code().as_deref(), Some("482913"));
}

on_both_backends!(a_subject_and_body_beyond_ascii_arrive_intact);

#[tokio::test]
async fn an_ses_refusal_is_reported_without_the_body_it_carried() {
    let client = aws_sdk_sesv2::Client::new(&latchkey_tests::aws_sdk_config().await);
    // Never verified on the emulator, so SES refuses it.
    let mailer = latchkey::adapters::ses::SesMailer::new(
        client,
        format!("Nobody <{}>", unique_email("unverified")),
    );
    let to = unique_email("ada");

    let error = mailer
        .send(&sign_in_email(&to))
        .await
        .expect_err("an unverified sender is refused");

    let message = error.to_string();
    assert!(message.contains("SES"), "{message}");
    assert!(message.contains(&to), "names the recipient: {message}");
    for secret in ["482913", "tk_abc"] {
        assert!(!message.contains(secret), "leaks {secret}: {message}");
    }
}

async fn a_test_app_reads_back_only_its_own_mail(backend: Backend) {
    let first = TestApp::spawn(backend).await;
    let second = TestApp::spawn(backend).await;
    let to = unique_email("ada");

    first
        .state
        .mailer
        .send(&sign_in_email(&to))
        .await
        .expect("send");

    let mail = first.sent_mail().await;
    assert_eq!(mail.len(), 1, "{mail:?}");
    assert_eq!(mail[0].to, [to]);
    assert_eq!(second.sent_mail().await, []);
}

on_both_backends!(a_test_app_reads_back_only_its_own_mail);

#[tokio::test]
async fn an_outbox_file_parses_as_multipart_alternative_with_both_parts_and_its_headers() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mailer = fresh_mailer(Backend::Embedded, dir.path(), FROM).await;
    let to = unique_email("ada");
    let email = sign_in_email(&to);
    mailer.send(&email).await.expect("send");

    let files: Vec<_> = std::fs::read_dir(dir.path().join("outbox"))
        .expect("the outbox exists")
        .map(|entry| entry.expect("entry").path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let raw = std::fs::read(&files[0]).expect("read");
    let message = mail_parser::MessageParser::default()
        .parse(&raw)
        .expect("a MIME message");

    let from = message.from().and_then(|a| a.first()).expect("From");
    assert_eq!(from.name(), Some("Latchkey"));
    assert_eq!(from.address(), Some("no-reply@latchkey.local"));
    let recipient = message.to().and_then(|a| a.first()).expect("To");
    assert_eq!(recipient.address(), Some(to.as_str()));
    assert_eq!(message.subject(), Some(email.subject.as_str()));
    assert!(message.date().is_some(), "Date");
    assert!(
        message
            .message_id()
            .is_some_and(|id| id.ends_with("@latchkey.local")),
        "Message-ID: {:?}",
        message.message_id()
    );

    let root = message.root_part().content_type().expect("a content type");
    assert_eq!(root.ctype(), "multipart");
    assert_eq!(root.subtype(), Some("alternative"));
    let text = message.text_part(0).expect("a text part");
    let html = message.html_part(0).expect("an HTML part");
    assert_eq!(text.content_type().and_then(|c| c.subtype()), Some("plain"));
    assert_eq!(html.content_type().and_then(|c| c.subtype()), Some("html"));
    // MIME lines end in CRLF on the wire; the words are what must survive.
    let unwire =
        |part: &mail_parser::MessagePart| part.text_contents().map(|t| t.replace("\r\n", "\n"));
    assert_eq!(unwire(text).as_deref(), Some(email.text.as_str()));
    assert_eq!(unwire(html).as_deref(), Some(email.html.as_str()));
}

#[test]
fn sent_mail_finds_links_and_the_code_in_text_and_in_html() {
    let text = SentMail {
        to: vec![],
        subject: String::new(),
        body: "Code: 123456. Open <https://a.example/v?t=1&c=654321>, then http://b.example."
            .into(),
    };
    assert_eq!(
        text.links(),
        ["https://a.example/v?t=1&c=654321", "http://b.example"]
    );
    assert_eq!(text.code().as_deref(), Some("123456"));

    let html = SentMail {
        body: "<td style=\"color:#222222\">Colour #333333, id 1234567, \
               <a href=\"https://a.example/v?t=1&amp;c=2\">https://a.example/v?t=1&amp;c=2</a> \
               code <b>987654</b></td>"
            .into(),
        ..text
    };
    assert_eq!(html.links(), ["https://a.example/v?t=1&c=2"]);
    assert_eq!(html.code().as_deref(), Some("987654"));
}
