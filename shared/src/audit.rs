//! Security events: one structured log event per security-relevant outcome, so an operator can
//! answer "why can't user X sign in?" from the logs alone.
//!
//! Every event has the target `security`, a dotted `event` name (`sign_in.failed`), and the
//! user id when it is known; the request span around it adds `request_id` and `client` (the
//! client address, as rate limits see it). Nothing secret is ever a field: no password, token,
//! code, link, hash or key; reasons are our error codes. Filter them with
//! `RUST_LOG=security=info` or `grep 'event='`.
//!
//! Successes are `info`; failures and refusals a person should look at are `warn`.

use crate::domain::ids::{SessionId, UserId};

/// A first factor passed: a session started (tokens issued), or, with MFA on, the MFA step
/// answered (`mfa_required`). `amr` says how (`pwd`, `email_link`, `otp`, ...).
pub fn sign_in_succeeded(user_id: &UserId, amr: &[&str], mfa_required: bool) {
    let amr = amr.join(",");
    tracing::info!(
        target: "security",
        event = "sign_in.succeeded",
        user_id = user_id.as_str(),
        amr,
        mfa_required,
        "sign-in succeeded"
    );
}

/// A sign-in failed. `method`: `password`, `magic_link`, `magic_code`, `mfa`, ...; `reason`:
/// `unknown_email`, `wrong_password`, `no_password`, or the error code answered. `user_id` when
/// the account is known.
pub fn sign_in_failed(user_id: Option<&UserId>, method: &'static str, reason: &str) {
    tracing::warn!(
        target: "security",
        event = "sign_in.failed",
        user_id = user_id.map_or("-", UserId::as_str),
        method,
        reason,
        "sign-in failed: {reason}"
    );
}

/// Too many failures: the password path of an account (or a client address) is locked until
/// the window ends.
pub fn locked_out(user_id: Option<&UserId>, scope: &'static str, retry_after_seconds: u64) {
    tracing::warn!(
        target: "security",
        event = "sign_in.locked",
        user_id = user_id.map_or("-", UserId::as_str),
        scope,
        retry_after_seconds,
        "password sign-in locked for this {scope}"
    );
}

/// A retired refresh token was presented again outside the grace: the session is revoked.
pub fn refresh_reused(user_id: &UserId, session_id: &SessionId) {
    tracing::warn!(
        target: "security",
        event = "refresh.reused",
        user_id = user_id.as_str(),
        session_id = session_id.as_str(),
        "a used refresh token came back; the session is revoked"
    );
}

/// The password was changed by its owner (`changed`) or set through an emailed link (`reset`);
/// every other session ended.
pub fn password_set(user_id: &UserId, how: &'static str, sessions_ended: usize) {
    tracing::info!(
        target: "security",
        event = if how == "reset" { "password.reset" } else { "password.changed" },
        user_id = user_id.as_str(),
        sessions_ended,
        "password {how}"
    );
}

/// A session ended at its owner's request (`logout`) or was revoked (`revoked`: one session from
/// the session list, or `all` of them).
pub fn session_ended(user_id: &UserId, session_id: &SessionId, how: &'static str) {
    tracing::info!(
        target: "security",
        event = if how == "logout" { "session.logout" } else { "session.revoked" },
        user_id = user_id.as_str(),
        session_id = session_id.as_str(),
        how,
        "session ended ({how})"
    );
}

/// An email left (or failed to): its kind (`MagicLink`, `PasswordReset`, ...) and recipient's
/// user id, never its content.
pub fn email_sent(kind: &str, user_id: &UserId) {
    tracing::info!(target: "security", event = "email.sent", kind, user_id = user_id.as_str(), "mail sent");
}

pub fn email_failed(kind: &str, user_id: &UserId, reason: &str) {
    tracing::warn!(
        target: "security",
        event = "email.failed",
        kind,
        user_id = user_id.as_str(),
        reason,
        "mail not sent"
    );
}

/// A change to a user's second factor (`enabled`, `disabled`, `recovery_codes_regenerated`,
/// `recovery_code_used`, `setup_started`).
pub fn mfa_changed(user_id: &UserId, change: &'static str) {
    tracing::info!(
        target: "security",
        event = "mfa.changed",
        user_id = user_id.as_str(),
        change,
        "MFA {change}"
    );
}

/// An address was verified from its emailed link.
pub fn email_verified(user_id: &UserId) {
    tracing::info!(target: "security", event = "email.verified", user_id = user_id.as_str(), "email verified");
}

/// An operator changed an account from the command line (`latchkey users ...`).
pub fn admin_action(user_id: &UserId, action: &'static str) {
    tracing::info!(
        target: "security",
        event = "admin.changed",
        user_id = user_id.as_str(),
        action,
        "account {action} by an operator"
    );
}
