//! The emails Latchkey sends, rendered from the templates in `shared/templates/` (a text and an
//! HTML part per kind, compiled into the binary). HTML templates are autoescaped, so an address or
//! product name can never inject markup.

use std::sync::OnceLock;

use minijinja::{Environment, context};

use crate::ports::Email;

/// The kinds of email, each with `<name>.txt.j2` and `<name>.html.j2` templates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MailKind {
    MagicLink,
    VerifyEmail,
    PasswordReset,
    /// An invitation to a workspace (`MailContext::invite` must be set).
    Invite,
    /// A magic link or reset asked for an address without an account: the notice goes out with
    /// the same work as a real link, so neither the answer nor its timing tells them apart.
    NoAccount,
}

impl MailKind {
    fn name(self) -> &'static str {
        match self {
            Self::MagicLink => "magic_link",
            Self::VerifyEmail => "verify_email",
            Self::PasswordReset => "password_reset",
            Self::Invite => "invite",
            Self::NoAccount => "no_account",
        }
    }

    fn subject(self) -> &'static str {
        match self {
            Self::MagicLink => "subject_magic_link",
            Self::VerifyEmail => "subject_verify_email",
            Self::PasswordReset => "subject_password_reset",
            Self::Invite => "subject_invite",
            Self::NoAccount => "subject_no_account",
        }
    }
}

/// What a template may show.
#[derive(Clone, Debug)]
pub struct MailContext<'a> {
    pub product_name: &'a str,
    /// The recipient's address as stored.
    pub email: &'a str,
    /// The one link in the message.
    pub link: &'a str,
    /// The 6-digit code (magic links only).
    pub code: Option<&'a str>,
    /// The lifetime in words ("15 minutes").
    pub expires_in: &'a str,
    /// Who invited, to which workspace, as what (invites only).
    pub invite: Option<InviteDetails<'a>>,
}

/// What an invite email says beyond the link.
#[derive(Clone, Debug)]
pub struct InviteDetails<'a> {
    /// The inviter's name, or their address when they have none.
    pub inviter: &'a str,
    pub workspace: &'a str,
    pub role: &'a str,
}

fn environment() -> &'static Environment<'static> {
    static ENVIRONMENT: OnceLock<Environment<'static>> = OnceLock::new();
    ENVIRONMENT.get_or_init(|| {
        let mut env = Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        let templates: [(&str, &str); 20] = [
            (
                "magic_link.txt.j2",
                include_str!("../../templates/magic_link.txt.j2"),
            ),
            (
                "magic_link.html.j2",
                include_str!("../../templates/magic_link.html.j2"),
            ),
            (
                "verify_email.txt.j2",
                include_str!("../../templates/verify_email.txt.j2"),
            ),
            (
                "verify_email.html.j2",
                include_str!("../../templates/verify_email.html.j2"),
            ),
            (
                "password_reset.txt.j2",
                include_str!("../../templates/password_reset.txt.j2"),
            ),
            (
                "password_reset.html.j2",
                include_str!("../../templates/password_reset.html.j2"),
            ),
            (
                "security_notice.txt.j2",
                include_str!("../../templates/security_notice.txt.j2"),
            ),
            (
                "security_notice.html.j2",
                include_str!("../../templates/security_notice.html.j2"),
            ),
            (
                "invite.txt.j2",
                include_str!("../../templates/invite.txt.j2"),
            ),
            (
                "invite.html.j2",
                include_str!("../../templates/invite.html.j2"),
            ),
            (
                "subject_invite",
                "{{ inviter }} invited you to {{ workspace }} on {{ product_name }}",
            ),
            (
                "no_account.txt.j2",
                include_str!("../../templates/no_account.txt.j2"),
            ),
            (
                "no_account.html.j2",
                include_str!("../../templates/no_account.html.j2"),
            ),
            (
                "inbox_confirmation.txt.j2",
                include_str!("../../templates/inbox_confirmation.txt.j2"),
            ),
            (
                "inbox_confirmation.html.j2",
                include_str!("../../templates/inbox_confirmation.html.j2"),
            ),
            (
                "subject_inbox_confirmation",
                "Confirm connecting {{ email }} to {{ product_name }}",
            ),
            ("subject_magic_link", "Sign in to {{ product_name }}"),
            (
                "subject_no_account",
                "Sign-in request for {{ product_name }}",
            ),
            (
                "subject_verify_email",
                "Confirm your email address for {{ product_name }}",
            ),
            (
                "subject_password_reset",
                "Reset your {{ product_name }} password",
            ),
        ];
        for (name, source) in templates {
            env.add_template(name, source)
                .expect("the bundled mail templates are valid");
        }
        env
    })
}

/// A link escaped for HTML attributes and text, but with its slashes left alone (minijinja's
/// escaper writes `/` as `&#x2f;`, which mail clients handle but people and link scanners
/// reading the source do not). Only the HTML part gets this form.
fn link_value(link: &str) -> minijinja::Value {
    let mut escaped = String::with_capacity(link.len());
    for c in link.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#x27;"),
            c => escaped.push(c),
        }
    }
    minijinja::Value::from_safe_string(escaped)
}

/// Render one email of a kind to `to`.
pub fn render(kind: MailKind, to: &str, values: &MailContext<'_>) -> Result<Email, String> {
    let env = environment();
    let invite = values.invite.as_ref();
    let context_with = |link: minijinja::Value| {
        context! {
            product_name => values.product_name,
            email => values.email,
            link => link,
            code => values.code.unwrap_or(""),
            expires_in => values.expires_in,
            inviter => invite.map_or("", |i| i.inviter),
            workspace => invite.map_or("", |i| i.workspace),
            role => invite.map_or("", |i| i.role),
        }
    };
    let plain = context_with(minijinja::Value::from(values.link));
    let html = context_with(link_value(values.link));
    let render = |name: &str, ctx: &minijinja::Value| {
        env.get_template(name)
            .and_then(|template| template.render(ctx))
            .map_err(|error| format!("mail template {name} failed: {error}"))
    };
    let subject = render(kind.subject(), &plain)?;
    let text = render(&format!("{}.txt.j2", kind.name()), &plain)?;
    let html = render(&format!("{}.html.j2", kind.name()), &html)?;
    Ok(Email {
        to: to.to_owned(),
        // A subject is one line whatever the product name holds.
        subject: subject.replace(['\r', '\n'], " "),
        text,
        html,
    })
}

/// What an inbox confirmation email shows.
#[derive(Clone, Debug)]
pub struct InboxConfirmationContext<'a> {
    pub product_name: &'a str,
    /// The mailbox being connected (also the recipient).
    pub email: &'a str,
    /// `IMAP/SMTP` or `Gmail`.
    pub provider: &'a str,
    /// The confirmation link (`GET /human/v0/auth/confirm?...`).
    pub link: &'a str,
    /// The same token, for platforms that confirm with `POST /human/v0/auth/confirm`.
    pub token: &'a str,
    /// The lifetime in words ("1 day").
    pub expires_in: &'a str,
}

/// Render the confirmation email of a newly connected inbox to its own address.
pub fn render_inbox_confirmation(values: &InboxConfirmationContext<'_>) -> Result<Email, String> {
    let env = environment();
    let context_with = |link: minijinja::Value| {
        context! {
            product_name => values.product_name,
            email => values.email,
            provider => values.provider,
            link => link,
            token => values.token,
            expires_in => values.expires_in,
        }
    };
    let plain = context_with(minijinja::Value::from(values.link));
    let html = context_with(link_value(values.link));
    let render = |name: &str, ctx: &minijinja::Value| {
        env.get_template(name)
            .and_then(|template| template.render(ctx))
            .map_err(|error| format!("mail template {name} failed: {error}"))
    };
    Ok(Email {
        to: values.email.to_owned(),
        subject: render("subject_inbox_confirmation", &plain)?.replace(['\r', '\n'], " "),
        text: render("inbox_confirmation.txt.j2", &plain)?,
        html: render("inbox_confirmation.html.j2", &html)?,
    })
}

/// A security notice: something changed on the account that its owner should know about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notice {
    MfaEnabled,
    MfaDisabled,
    RecoveryCodeUsed,
    PasskeyAdded,
    PasskeyRemoved,
}

impl Notice {
    fn words(self) -> (&'static str, &'static str) {
        match self {
            Self::MfaEnabled => (
                "Two-factor authentication was turned on",
                "Signing in to your account now also asks for a code from your authenticator app (or one of your recovery codes).",
            ),
            Self::MfaDisabled => (
                "Two-factor authentication was turned off",
                "Signing in to your account no longer asks for a code from your authenticator app, and your recovery codes no longer work.",
            ),
            Self::RecoveryCodeUsed => (
                "A recovery code was used to sign in",
                "One of your recovery codes was used instead of your authenticator app. That code no longer works; make a new set when you run low.",
            ),
            Self::PasskeyAdded => (
                "A passkey was added to your account",
                "A new passkey can now sign in to your account without a password.",
            ),
            Self::PasskeyRemoved => (
                "A passkey was removed from your account",
                "One of your passkeys can no longer sign in to your account.",
            ),
        }
    }
}

/// What a security notice shows besides its words: when and from where.
#[derive(Clone, Debug)]
pub struct NoticeContext<'a> {
    pub product_name: &'a str,
    /// RFC 3339 UTC.
    pub when: &'a str,
    /// The client address and user agent, as we saw them.
    pub client: &'a str,
}

/// Render a security notice to `to`.
pub fn render_notice(
    notice: Notice,
    to: &str,
    values: &NoticeContext<'_>,
) -> Result<Email, String> {
    let env = environment();
    let (headline, detail) = notice.words();
    let ctx = context! {
        product_name => values.product_name,
        headline => headline,
        detail => detail,
        when => values.when,
        client => values.client,
    };
    let render = |name: &str| {
        env.get_template(name)
            .and_then(|template| template.render(&ctx))
            .map_err(|error| format!("mail template {name} failed: {error}"))
    };
    Ok(Email {
        to: to.to_owned(),
        subject: format!("{}: {headline}", values.product_name).replace(['\r', '\n'], " "),
        text: render("security_notice.txt.j2")?,
        html: render("security_notice.html.j2")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values<'a>(product_name: &'a str, link: &'a str) -> MailContext<'a> {
        MailContext {
            product_name,
            email: "ada@example.com",
            link,
            code: Some("042137"),
            expires_in: "15 minutes",
            invite: None,
        }
    }

    #[test]
    fn an_invite_email_says_who_invited_to_which_workspace_as_what_and_until_when() {
        let link = "https://auth.example.com/auth/invites/accept?token=abc";
        let mut context = values("Acme", link);
        context.expires_in = "7 days";
        context.invite = Some(InviteDetails {
            inviter: "Grace <Hopper>",
            workspace: "Compilers",
            role: "admin",
        });
        let email = render(MailKind::Invite, "ada@example.com", &context).unwrap();
        assert_eq!(
            email.subject,
            "Grace <Hopper> invited you to Compilers on Acme"
        );
        for part in [&email.text, &email.html] {
            assert!(part.contains(link), "{part}");
            assert!(part.contains("Compilers"), "{part}");
            assert!(part.contains("admin"), "{part}");
            assert!(part.contains("7 days"), "{part}");
        }
        assert!(email.text.contains("Grace <Hopper>"));
        assert!(
            email.html.contains("Grace &lt;Hopper&gt;"),
            "{}",
            email.html
        );
    }

    #[test]
    fn a_magic_link_email_holds_the_link_the_code_and_the_expiry_in_both_parts() {
        let link = "https://auth.example.com/auth/sign-in/token?token=abc";
        let email = render(
            MailKind::MagicLink,
            "ada@example.com",
            &values("Acme", link),
        )
        .unwrap();
        assert_eq!(email.to, "ada@example.com");
        assert_eq!(email.subject, "Sign in to Acme");
        for part in [&email.text, &email.html] {
            assert!(part.contains(link), "{part}");
            assert!(part.contains("042137"), "{part}");
            assert!(part.contains("15 minutes"), "{part}");
            assert!(part.contains("Acme"), "{part}");
        }
    }

    #[test]
    fn the_html_part_is_escaped_and_the_text_part_is_not() {
        let link = "https://auth.example.com/auth/verify-email?token=a&x=1";
        let email = render(
            MailKind::VerifyEmail,
            "ada@example.com",
            &values("<b>Acme</b>", link),
        )
        .unwrap();
        assert!(
            email.html.contains("&lt;b&gt;Acme&lt;&#x2f;b&gt;"),
            "{}",
            email.html
        );
        assert!(!email.html.contains("<b>Acme"), "{}", email.html);
        assert!(email.html.contains("token=a&amp;x=1"), "{}", email.html);
        assert!(email.text.contains(link));
        assert!(email.text.contains("<b>Acme</b>"));
    }

    #[test]
    fn every_kind_with_a_link_renders() {
        for kind in [
            MailKind::MagicLink,
            MailKind::VerifyEmail,
            MailKind::PasswordReset,
            MailKind::Invite,
        ] {
            let email =
                render(kind, "ada@example.com", &values("Acme", "https://x.test/l")).unwrap();
            assert!(email.subject.contains("Acme"));
            assert!(email.text.contains("https://x.test/l"));
            assert!(email.html.contains("https://x.test/l"));
        }
    }

    #[test]
    fn the_no_account_notice_names_the_address_and_carries_no_link_or_code() {
        let email = render(
            MailKind::NoAccount,
            "ada@example.com",
            &values("Acme", "https://x.test/l"),
        )
        .unwrap();
        assert_eq!(email.subject, "Sign-in request for Acme");
        for part in [&email.text, &email.html] {
            assert!(part.contains("ada@example.com"), "{part}");
            assert!(part.contains("no Acme account"), "{part}");
            assert!(!part.contains("https://x.test/l") && !part.contains("042137"));
        }
    }

    #[test]
    fn an_inbox_confirmation_holds_the_link_the_token_and_the_expiry_in_both_parts() {
        let link =
            "https://auth.example.com/human/v0/auth/confirm?confirmation_token=abc&inbox_id=i1";
        let email = render_inbox_confirmation(&InboxConfirmationContext {
            product_name: "Acme",
            email: "ada@example.com",
            provider: "IMAP/SMTP",
            link,
            token: "abc",
            expires_in: "1 day",
        })
        .unwrap();
        assert_eq!(email.to, "ada@example.com");
        assert_eq!(email.subject, "Confirm connecting ada@example.com to Acme");
        assert!(email.text.contains(link));
        assert!(
            email
                .html
                .contains("confirmation_token=abc&amp;inbox_id=i1")
        );
        // The HTML part escapes `/` as `&#x2f;` (minijinja's HTML escaping).
        assert!(email.text.contains("1 day") && email.text.contains("IMAP/SMTP"));
        assert!(
            email.html.contains("1 day") && email.html.contains("IMAP&#x2f;SMTP"),
            "{}",
            email.html
        );
    }

    #[test]
    fn a_subject_stays_on_one_line() {
        let email = render(
            MailKind::PasswordReset,
            "ada@example.com",
            &values("Acme\r\nBcc: evil@example.com", "https://x.test/l"),
        )
        .unwrap();
        assert!(!email.subject.contains('\n') && !email.subject.contains('\r'));
    }

    #[test]
    fn a_security_notice_says_what_happened_when_and_from_where_in_both_parts() {
        let email = render_notice(
            Notice::MfaDisabled,
            "ada@example.com",
            &NoticeContext {
                product_name: "Acme",
                when: "2026-11-25T10:00:00Z",
                client: "<203.0.113.9>",
            },
        )
        .unwrap();
        assert_eq!(
            email.subject,
            "Acme: Two-factor authentication was turned off"
        );
        assert!(email.text.contains("2026-11-25T10:00:00Z"));
        assert!(email.text.contains("<203.0.113.9>"));
        assert!(email.html.contains("&lt;203.0.113.9&gt;"), "{}", email.html);
    }
}
