//! The email-links use cases: magic links (link or code), email verification, password reset.
//!
//! Rules that hold for every one of them:
//! - An unknown address gets the same answer as a known one, after the same work: the same reads,
//!   the same counted mail cap, a token of the same shape written for no account (it can sign
//!   nobody in), and a mail sent, the "no account with this address" notice (or, configured
//!   with `LATCHKEY_UNKNOWN_ADDRESS_MAIL=drop`, none). The answer never depends on whether a
//!   mail was sent, capped or failed.
//! - Links are built from `config.public_url` (or an allow-listed redirect) only, never from the
//!   request's `Host` or `X-Forwarded-Host`.
//! - A mail failure is logged without the token, the code or the link.
//! - Each address gets at most `MAILS_PER_ADDRESS` mails of a kind per window; over the cap the
//!   request is answered as usual and nothing is sent.

use crate::audit;
use crate::domain::emails::EmailAddress;
use crate::domain::keys;
use crate::domain::one_time_token::{Purpose, lifetime_in_words};
use crate::domain::users::{EmailClaim, User};
use crate::services::mail_templates::{self, MailContext, MailKind};
use crate::services::one_time_tokens::{self, Redeemed, invalid_link};
use crate::services::{rate_limit, users};
use crate::{AppState, Config, Error, Result};

/// The answer to a magic-link request, known address or not (seed 001's wording).
pub const MAGIC_LINK_SENT: &str = "Magic link sent to your email";

/// Mails of one kind to one address per window.
const MAILS_PER_ADDRESS: i64 = 5;
const MAIL_WINDOW_SECONDS: i64 = 60 * 60;

/// Requests that send mail, from one client address: 30 per 15 minutes.
pub const MAIL_REQUESTS_PER_CLIENT: rate_limit::Limit = rate_limit::Limit {
    name: "email-link-request",
    max: 30,
    window: 15 * 60,
};

/// Tries of a link or code, from one client address: 60 per 15 minutes. Each code has its own
/// limit of five wrong tries; this one slows a guesser spreading tries over many addresses.
pub const REDEMPTIONS_PER_CLIENT: rate_limit::Limit = rate_limit::Limit {
    name: "email-link-redeem",
    max: 60,
    window: 15 * 60,
};

fn mail_cap(purpose: Purpose) -> rate_limit::Limit {
    rate_limit::Limit {
        name: match purpose {
            Purpose::MagicLink => "mail-magic-link",
            Purpose::VerifyEmail => "mail-verify-email",
            Purpose::PasswordReset => "mail-password-reset",
        },
        max: MAILS_PER_ADDRESS,
        window: MAIL_WINDOW_SECONDS,
    }
}

/// The redirect a client asked for, if API.md allows it: a URL on the same origin as
/// `LATCHKEY_PUBLIC_URL` (the service's own pages), or one listed exactly in
/// `LATCHKEY_REDIRECT_ALLOW_LIST`. Anything else is ignored (the flow goes on without a redirect),
/// so a link can never send a user to a stranger's site.
pub fn allowed_redirect(config: &Config, requested: Option<&str>) -> Option<String> {
    let requested = requested?.trim();
    if config
        .redirect_allow_list
        .iter()
        .any(|allowed| allowed == requested)
    {
        return Some(requested.to_owned());
    }
    if let Some(own) = on_public_origin(config, requested) {
        return Some(own);
    }
    // Ignored, not refused (the answer must not change); the operator still needs to know why
    // the user landed nowhere. A client's URL is not a secret; cut to keep lines short.
    let reason = if config.redirect_allow_list.is_empty() {
        "not on LATCHKEY_PUBLIC_URL's origin, and LATCHKEY_REDIRECT_ALLOW_LIST is empty"
    } else {
        "neither on LATCHKEY_PUBLIC_URL's origin nor exactly on LATCHKEY_REDIRECT_ALLOW_LIST"
    };
    let shown: String = requested.chars().take(200).collect();
    tracing::warn!(
        event = "redirect_refused",
        redirect_url = %shown,
        reason,
        "a redirect_url was ignored: {reason}"
    );
    None
}

/// `requested` as the URL a browser would follow, when that is on the public URL's origin
/// (scheme, host and port, compared after WHATWG parsing, so `https://auth.example.com@evil.example`
/// or a look-alike host is not). The parsed form is what is kept: what is followed is what was
/// checked.
fn on_public_origin(config: &Config, requested: &str) -> Option<String> {
    let public = url::Url::parse(&config.public_url).ok()?;
    let url = url::Url::parse(requested).ok()?;
    let credentials = !url.username().is_empty() || url.password().is_some();
    (matches!(url.scheme(), "http" | "https")
        && !credentials
        && url.origin().is_tuple()
        && url.origin() == public.origin())
    .then(|| url.to_string())
}

/// `base` with `token=<token>` added to its query.
pub fn link_with_token(base: &str, token: &str) -> String {
    let (without_fragment, fragment) = match base.split_once('#') {
        Some((head, fragment)) => (head, Some(fragment)),
        None => (base, None),
    };
    let separator = if !without_fragment.contains('?') {
        "?"
    } else if without_fragment.ends_with('?') || without_fragment.ends_with('&') {
        ""
    } else {
        "&"
    };
    let mut link = format!("{without_fragment}{separator}token={token}");
    if let Some(fragment) = fragment {
        link.push('#');
        link.push_str(fragment);
    }
    link
}

/// A path on our own public URL carrying the token.
fn public_link(config: &Config, path: &str, token: &str) -> String {
    link_with_token(&format!("{}{path}", config.public_url), token)
}

/// `POST /auth/magic-link`: mail a sign-in link and code if the address has an account. The
/// link always points at `GET /auth/sign-in/token` on the public URL; an allow-listed
/// `redirect_url` is stored with the token and is where that endpoint sends the browser after
/// signing in.
pub async fn request_magic_link(
    state: &AppState,
    email: &EmailAddress,
    redirect_url: Option<&str>,
) -> Result<()> {
    let holder = holder_of_address(state, email).await?;
    if !under_mail_cap(state, Purpose::MagicLink, email.normalized()).await? {
        return Ok(());
    }
    let redirect = allowed_redirect(&state.config, redirect_url);
    let Some(user) = holder else {
        return notify_no_account(state, Purpose::MagicLink, email, true).await;
    };
    let issued = one_time_tokens::issue(
        state,
        Purpose::MagicLink,
        &user.id,
        &user.email,
        redirect.as_deref(),
        true,
    )
    .await?;
    let link = public_link(&state.config, "/auth/sign-in/token", issued.token.secret());
    deliver(
        state,
        MailKind::MagicLink,
        &user,
        &link,
        issued.code.as_deref(),
    )
    .await;
    Ok(())
}

/// The user a magic link or code signs in, with the redirect stored with the link.
pub struct MagicSignIn {
    pub user: User,
    pub redirect: Option<String>,
}

/// `GET /auth/sign-in/token`: redeem a magic link. The caller then starts the session.
pub async fn redeem_magic_link(state: &AppState, token: &str) -> Result<MagicSignIn> {
    let redeemed = one_time_tokens::redeem_link(state, Purpose::MagicLink, token)
        .await
        .map_err(|error| refused(error.into(), "magic_link"))?;
    let user = holder_of(state, &redeemed, invalid_link).await?;
    // Following an emailed link proves the address, as a verification link would.
    let user = mark_verified(state, user, &redeemed.email).await?;
    Ok(MagicSignIn {
        user,
        redirect: redeemed.redirect,
    })
}

/// `POST /users/auth/magic-link/verify`: redeem the code of the latest magic link to `email`.
pub async fn redeem_magic_code(state: &AppState, email: &EmailAddress, code: &str) -> Result<User> {
    let redeemed =
        one_time_tokens::redeem_code(state, Purpose::MagicLink, email.normalized(), code)
            .await
            .map_err(|error| refused(error.into(), "magic_code"))?;
    let user = holder_of(state, &redeemed, one_time_tokens::invalid_code).await?;
    mark_verified(state, user, &redeemed.email).await
}

/// `POST /auth/send-verification`: mail a verification link to the caller's address. `email`,
/// when given, must be that address (Latchkey keeps one address per account). An address that is
/// already verified gets no mail; the answer is the same.
pub async fn send_verification(
    state: &AppState,
    user_id: &str,
    email: Option<&EmailAddress>,
) -> Result<()> {
    let user = users::load(state, user_id)
        .await?
        .ok_or_else(Error::unauthenticated)?;
    if let Some(email) = email
        && email.normalized() != user.email_normalized
    {
        return Err(Error::invalid_field(
            "email",
            "is not the address of this account",
        ));
    }
    if user.email_verified
        || !under_mail_cap(state, Purpose::VerifyEmail, &user.email_normalized).await?
    {
        return Ok(());
    }
    let issued = one_time_tokens::issue(
        state,
        Purpose::VerifyEmail,
        &user.id,
        &user.email,
        None,
        false,
    )
    .await?;
    let link = public_link(&state.config, "/auth/verify-email", issued.token.secret());
    deliver(state, MailKind::VerifyEmail, &user, &link, None).await;
    Ok(())
}

/// `GET|POST /auth/verify-email`: redeem a verification link; the address is verified.
pub async fn verify_email(state: &AppState, token: &str) -> Result<User> {
    let redeemed = one_time_tokens::redeem_link(state, Purpose::VerifyEmail, token).await?;
    let user = holder_of(state, &redeemed, invalid_link).await?;
    let user = mark_verified(state, user, &redeemed.email).await?;
    audit::email_verified(&user.id);
    Ok(user)
}

/// A refused sign-in link or code is a failed sign-in (account unknown: the token says nothing
/// until it is redeemed).
fn refused(error: Error, method: &'static str) -> Error {
    if error.status().is_client_error() {
        audit::sign_in_failed(None, method, &error.code.to_string());
    }
    error
}

/// `POST /auth/forgot-password`: mail a reset link if the address has an account. The link goes
/// to the allow-listed `redirect_url` (the application's reset page) when one is given, else to
/// `/auth/reset-password` on the public URL; either way it carries `token`.
pub async fn forgot_password(
    state: &AppState,
    email: &EmailAddress,
    redirect_url: Option<&str>,
) -> Result<()> {
    let holder = holder_of_address(state, email).await?;
    if !under_mail_cap(state, Purpose::PasswordReset, email.normalized()).await? {
        return Ok(());
    }
    let Some(user) = holder else {
        return notify_no_account(state, Purpose::PasswordReset, email, false).await;
    };
    let issued = one_time_tokens::issue(
        state,
        Purpose::PasswordReset,
        &user.id,
        &user.email,
        None,
        false,
    )
    .await?;
    let link = match allowed_redirect(&state.config, redirect_url) {
        Some(page) => link_with_token(&page, issued.token.secret()),
        None => public_link(&state.config, "/auth/reset-password", issued.token.secret()),
    };
    deliver(state, MailKind::PasswordReset, &user, &link, None).await;
    Ok(())
}

/// The user id under which tokens for addresses without an account are written. No user has it
/// (ids are UUIDs), so such a token or code is refused when presented, like any unknown one.
const NO_ACCOUNT: &str = "no-account";

/// The account holding the address, read with the same two reads whether or not there is one
/// (the claim, then a user: the holder, or the `NO_ACCOUNT` user that never exists).
async fn holder_of_address(state: &AppState, email: &EmailAddress) -> Result<Option<User>> {
    let claim = state
        .table
        .get(&keys::email_claim(email.normalized()))
        .await?;
    let user_id = match claim {
        Some(item) => EmailClaim::from_item(item)?.user_id,
        None => NO_ACCOUNT.to_owned(),
    };
    users::load(state, &user_id).await
}

/// For an address without an account, the same work as a real link: a token of the same shape
/// (issued to `NO_ACCOUNT`, so it signs nobody in) and a mail, the "no account" notice.
async fn notify_no_account(
    state: &AppState,
    purpose: Purpose,
    email: &EmailAddress,
    with_code: bool,
) -> Result<()> {
    one_time_tokens::issue(state, purpose, NO_ACCOUNT, email.as_str(), None, with_code).await?;
    if !state.config.notify_unknown_addresses {
        tracing::info!(
            purpose = purpose.as_str(),
            "link requested for an address without an account; no mail (drop)"
        );
        return Ok(());
    }
    let notice = User {
        id: NO_ACCOUNT.to_owned(),
        email: email.as_str().to_owned(),
        email_normalized: email.normalized().to_owned(),
        email_verified: false,
        name: String::new(),
        password_hash: None,
        plan: String::new(),
        features: vec![],
        mfa_enabled: false,
        active_workspace: None,
        active_role: None,
        created_at: 0,
        updated_at: 0,
        credential_epoch: 0,
        version: 0,
        disabled: false,
    };
    deliver(state, MailKind::NoAccount, &notice, "", None).await;
    Ok(())
}

/// `POST /auth/reset-password`: set a new password with a reset link's token. The password is
/// checked against the policy before the token is spent (a weak password does not burn the link);
/// then every session of the user is revoked. Nobody is signed in.
pub async fn reset_password(state: &AppState, token: &str, new_password: String) -> Result<()> {
    let pending = one_time_tokens::peek_link(state, Purpose::PasswordReset, token).await?;
    let user = holder_of(state, &pending, invalid_link).await?;
    let password = users::check_new_password(state, &user, new_password)?;
    let redeemed = one_time_tokens::redeem_link(state, Purpose::PasswordReset, token).await?;
    let user = holder_of(state, &redeemed, invalid_link).await?;
    let (user, ended) =
        users::set_password_and_revoke_sessions(state, &user, password, None).await?;
    audit::password_set(&user.id, "reset", ended);
    // The owner of the address chose a new password: guesses at the old one no longer lock it.
    let failures =
        rate_limit::SIGN_IN_FAILURES_PER_ACCOUNT.window(&user.email_normalized, state.clock.unix());
    if let Err(error) = rate_limit::reset(state, &failures).await {
        tracing::warn!(user_id = %user.id, %error, "sign-in failure count not cleared after a reset");
    }
    // Receiving the reset mail proves the address too.
    mark_verified(state, user, &redeemed.email).await?;
    Ok(())
}

/// `GET /auth/reset-password` (the form page): the link is still usable (nothing is spent).
pub async fn check_reset_link(state: &AppState, token: &str) -> Result<()> {
    let pending = one_time_tokens::peek_link(state, Purpose::PasswordReset, token).await?;
    holder_of(state, &pending, invalid_link).await?;
    Ok(())
}

/// The user a redeemed token was issued to, still holding the address it was mailed to.
async fn holder_of(state: &AppState, redeemed: &Redeemed, refuse: fn() -> Error) -> Result<User> {
    let user = users::load(state, &redeemed.user_id)
        .await?
        .ok_or_else(refuse)?;
    if user.email_normalized != redeemed.email.trim().to_lowercase() {
        // The account's address changed after the mail went out.
        return Err(refuse());
    }
    Ok(user)
}

async fn mark_verified(state: &AppState, user: User, email: &str) -> Result<User> {
    if user.email_verified {
        return Ok(user);
    }
    users::mark_email_verified(state, user, email).await
}

/// Count a mail of this kind to the address; false (and a log line) when over the cap.
async fn under_mail_cap(state: &AppState, purpose: Purpose, normalized: &str) -> Result<bool> {
    let count = rate_limit::record(state, mail_cap(purpose), normalized).await?;
    if count > MAILS_PER_ADDRESS {
        tracing::warn!(
            purpose = purpose.as_str(),
            "mail cap reached for this address; nothing sent"
        );
        return Ok(false);
    }
    Ok(true)
}

/// Render and send; a failure is logged (without the link or code) and otherwise ignored, so the
/// answer never reveals it.
async fn deliver(state: &AppState, kind: MailKind, user: &User, link: &str, code: Option<&str>) {
    let expires_in = lifetime_in_words(state.config.email_token_ttl.as_secs());
    let context = MailContext {
        product_name: &state.config.product_name,
        email: &user.email,
        link,
        code,
        expires_in: &expires_in,
        invite: None,
    };
    let email = match mail_templates::render(kind, &user.email, &context) {
        Ok(email) => email,
        Err(error) => {
            tracing::error!(?kind, user_id = %user.id, %error, "mail not rendered");
            return;
        }
    };
    match state.mailer.send(&email).await {
        Ok(()) => audit::email_sent(&format!("{kind:?}"), &user.id),
        Err(error) => audit::email_failed(&format!("{kind:?}"), &user.id, &error.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(allow: &[&str]) -> Config {
        let mut config = Config::for_tests("/tmp/unused");
        config.redirect_allow_list = allow.iter().map(|s| s.to_string()).collect();
        config
    }

    #[test]
    fn only_an_exact_allow_listed_redirect_is_kept() {
        let config = config(&["https://app.example.com/welcome"]);
        assert_eq!(
            allowed_redirect(&config, Some("https://app.example.com/welcome")).as_deref(),
            Some("https://app.example.com/welcome")
        );
        for other in [
            "https://app.example.com/welcome/",
            "https://app.example.com/welcome?x=1",
            "https://evil.example/welcome",
            "https://app.example.com.evil.example/welcome",
        ] {
            assert_eq!(allowed_redirect(&config, Some(other)), None, "{other}");
        }
        assert_eq!(allowed_redirect(&config, None), None);
    }

    #[test]
    fn a_redirect_on_the_public_urls_origin_needs_no_listing_and_look_alikes_are_ignored() {
        let mut config = config(&[]);
        config.public_url = "https://auth.example.com".into();
        assert_eq!(
            allowed_redirect(&config, Some("https://auth.example.com/welcome?x=1")).as_deref(),
            Some("https://auth.example.com/welcome?x=1")
        );
        assert_eq!(
            allowed_redirect(&config, Some("https://AUTH.example.com")).as_deref(),
            Some("https://auth.example.com/"),
            "the parsed form is kept"
        );
        for other in [
            "http://auth.example.com/welcome",
            "https://auth.example.com:8443/welcome",
            "https://auth.example.com.evil.example/welcome",
            "https://auth.example.com@evil.example/welcome",
            "https://user:pw@auth.example.com/welcome",
            "//evil.example/welcome",
            "/welcome",
            "javascript:alert(1)",
        ] {
            assert_eq!(allowed_redirect(&config, Some(other)), None, "{other}");
        }
    }

    #[test]
    fn the_token_joins_any_existing_query_and_keeps_the_fragment() {
        assert_eq!(
            link_with_token("https://a.test/x", "T"),
            "https://a.test/x?token=T"
        );
        assert_eq!(
            link_with_token("https://a.test/x?a=1", "T"),
            "https://a.test/x?a=1&token=T"
        );
        assert_eq!(
            link_with_token("https://a.test/x#/reset", "T"),
            "https://a.test/x?token=T#/reset"
        );
    }

    #[test]
    fn links_are_built_on_the_public_url() {
        let mut config = config(&[]);
        config.public_url = "https://auth.example.com".into();
        assert_eq!(
            public_link(&config, "/auth/verify-email", "T"),
            "https://auth.example.com/auth/verify-email?token=T"
        );
    }
}
