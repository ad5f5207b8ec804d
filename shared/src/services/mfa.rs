//! The second factor (API.md, "MFA, TOTP"): TOTP enrolment and its confirmation, the MFA step
//! every sign-in path ends in (`finish_sign_in`), redeeming the `mfa_token` with a TOTP or
//! recovery code, step-up of an ordinary session, disabling, recovery-code sets, and the status
//! `/auth/me` shows.
//!
//! Rules that hold throughout:
//! - The TOTP secret is encrypted with the Cipher (context: the user and `totp-secret`) before it
//!   is stored; it is shown once, at setup, and never logged.
//! - A code is accepted once: the step it matched must be later than `last_step`, and the write
//!   that moves `last_step` is conditional on exactly that (`LessThan`), so of any number of
//!   concurrent requests with one code exactly one wins.
//! - The `mfa_token` is single-use: its `MFAPENDING#<jti>` item is deleted on condition that it
//!   exists, in the same transaction that starts the session.
//! - Recovery codes are stored only as SHA-256, one item each, spent by a conditional delete.
//! - Five wrong codes for one `mfa_token` or one account within 15 minutes: `429`. Each attempt
//!   is counted first (one atomic add, which decides) and given back unless the code was wrong:
//!   a replayed code is not a guess.

use crate::domain::ids::{SessionId, UserId};
use serde::Serialize;

use crate::audit;
use crate::domain::keys;
use crate::domain::mfa::{
    self, MfaRecord, PendingSecondFactor, RecoveryCode, STATUS_ENABLED, STATUS_PENDING,
    generate_recovery_codes, matching_step, normalize_recovery_code, recovery_code_hash,
    secret_context,
};
use crate::domain::sessions::SessionContext;
use crate::domain::timestamp;
use crate::domain::users::{User, UserUpdate};
use crate::error::ErrorCode;
use crate::error::rfc3339;
use crate::ports::{Condition, Item, StoreError, Write, attr};
use crate::services::accounts::require_user;
use crate::services::mail_templates::{self, Notice, NoticeContext};
use crate::services::rate_limit::{self, Limit, Window};
use crate::services::sessions::{self, AuthResponse};
use crate::services::tokens::{self, AccessClaims, MfaTokenClaims};
use crate::{AppState, Error, Result};

/// The methods an `mfa_token` can be redeemed with.
pub const MFA_METHODS: &[&str] = &["totp", "recovery_code"];

/// The `amr` a TOTP code adds.
pub const TOTP_AMR: &str = "otp";
/// The `amr` a recovery code adds.
pub const RECOVERY_CODE_AMR: &str = "mfa";

/// Wrong codes for one `mfa_token`: 5 per 15 minutes.
pub const MFA_FAILURES_PER_TOKEN: Limit = Limit {
    name: "mfa-token",
    max: 5,
    window: 15 * 60,
};

/// Wrong codes for one account, whatever the token or endpoint: 5 per 15 minutes.
pub const MFA_FAILURES_PER_ACCOUNT: Limit = Limit {
    name: "mfa-account",
    max: 5,
    window: 15 * 60,
};

/// How the MFA use cases fail; each becomes an API error at the edge.
#[derive(Debug, thiserror::Error)]
pub enum MfaError {
    /// 409: setup while MFA is on.
    #[error("MFA is already enabled; disable it first to enrol again")]
    AlreadyEnabled,
    /// 409: an operation that needs MFA on, while it is off.
    #[error("MFA is not enabled for this account")]
    NotEnabled,
    /// 409: confirm without a pending setup.
    #[error("There is no MFA setup to confirm; start with /auth/mfa/setup")]
    NoPendingSetup,
    /// 401: the code is wrong (or not one of the account's unspent recovery codes).
    #[error("The code is invalid")]
    InvalidCode,
    /// 401: the code's time step was already used, here or by a concurrent request.
    #[error("This code was already used; wait for the next one")]
    CodeAlreadyUsed,
    /// 401: the `mfa_token` was already redeemed or has lapsed.
    #[error("The mfa_token was already used or has expired; sign in again")]
    TokenSpent,
    /// 403: a sensitive change needs a token from a second factor (`aal: 2`).
    #[error("This change needs the second factor: verify at /auth/mfa/verify first")]
    SecondFactorRequired,
    /// 409: the MFA state changed under the request.
    #[error("The MFA settings changed at the same time; try again")]
    Conflict,
}

impl From<MfaError> for Error {
    fn from(error: MfaError) -> Self {
        let code = match error {
            MfaError::AlreadyEnabled => ErrorCode::MfaAlreadyEnabled,
            MfaError::NotEnabled => ErrorCode::MfaNotEnabled,
            MfaError::NoPendingSetup => ErrorCode::MfaSetupRequired,
            MfaError::InvalidCode => ErrorCode::InvalidCode,
            MfaError::CodeAlreadyUsed => ErrorCode::CodeAlreadyUsed,
            MfaError::TokenSpent => ErrorCode::InvalidToken,
            MfaError::SecondFactorRequired => ErrorCode::SecondFactorRequired,
            MfaError::Conflict => ErrorCode::Conflict,
        };
        let with_field = matches!(error, MfaError::InvalidCode | MfaError::CodeAlreadyUsed);
        let error = Error::new(code, error.to_string());
        if with_field {
            error.with_extra("field", "code")
        } else {
            error
        }
    }
}

/// The `mfa_required` answer of a first factor when the user has MFA on (API.md): no access or
/// refresh token, no cookies.
#[derive(Clone, Serialize, utoipa::ToSchema)]
#[schema(as = MfaRequired)]
pub struct MfaChallenge {
    #[schema(schema_with = crate::http::answers::always_true)]
    pub success: bool,
    #[schema(schema_with = crate::http::answers::always_true)]
    pub mfa_required: bool,
    /// A JWT (`typ: mfa+jwt`, 5 minutes, single use) accepted only by `/auth/mfa/verify` and
    /// `/auth/mfa/recovery-verify`.
    pub mfa_token: String,
    #[schema(value_type = Vec<String>)]
    pub methods: Vec<&'static str>,
    /// Unix seconds.
    pub expires_at: i64,
}

/// What a passed first factor leads to.
pub enum SignInOutcome {
    /// Every factor the account needs is passed: the session and its tokens.
    Authenticated(AuthResponse),
    /// The account has MFA on: no session yet, only the `mfa_token`.
    MfaRequired(MfaChallenge),
}

/// THE MFA STEP. Every sign-in path calls this once its first factor has passed (password,
/// magic link or code, one-time token, OAuth callback, invite accept): with MFA off it starts the
/// session (`aal: 1`, `amr` as given) in one table round trip; with MFA on it answers the
/// `mfa_token` instead (one put), and no access or refresh token, so callers set no cookies.
///
/// A passkey sign-in is already two factors and starts its session with `sessions::start`
/// directly.
pub async fn finish_sign_in(
    state: &AppState,
    user: &User,
    amr: &[&str],
    context: &SessionContext,
) -> Result<SignInOutcome> {
    if user.disabled {
        return Err(sessions::account_disabled(&user.id));
    }
    if !user.mfa_enabled {
        let response = sessions::start(state, user, amr, 1, context).await?;
        audit::sign_in_succeeded(&user.id, amr, false);
        return Ok(SignInOutcome::Authenticated(response));
    }
    let (token, claims) = tokens::issue_mfa_token(state, &user.id, amr).await?;
    let pending = PendingSecondFactor {
        jti: claims.jti.clone(),
        user_id: user.id.clone(),
        expires_at: claims.exp,
    };
    state
        .table
        .put(pending.to_item(), Some(Condition::NotExists))
        .await?;
    audit::sign_in_succeeded(&user.id, amr, true);
    Ok(SignInOutcome::MfaRequired(MfaChallenge {
        success: true,
        mfa_required: true,
        mfa_token: token,
        methods: MFA_METHODS.to_vec(),
        expires_at: claims.exp,
    }))
}

/// The answer to `/auth/mfa/setup`. Holds the secret, so no `Debug`.
#[derive(Clone, Serialize, utoipa::ToSchema)]
#[schema(as = MfaSetup)]
pub struct Enrolment {
    /// The 160-bit secret in base32, for typing into an authenticator app; shown once.
    pub secret: String,
    /// `otpauth://totp/<product>:<email>?secret=...&issuer=<product>` (SHA-1, 6 digits, 30 s).
    pub otpauth_url: String,
    /// The otpauth URL as a PNG QR code, base64.
    #[schema(content_encoding = "base64", content_media_type = "image/png")]
    pub qr_code_base64: String,
}

/// `POST /auth/mfa/setup`: a new secret, pending until a code from it is confirmed. Setting up
/// again before confirming replaces the pending secret.
pub async fn setup(state: &AppState, user_id: &UserId) -> Result<Enrolment> {
    let (user, existing) = tokio::join!(require_user(state, user_id), load_record(state, user_id));
    let (user, existing) = (user?, existing?);
    if existing.as_ref().is_some_and(MfaRecord::is_enabled) {
        return Err(MfaError::AlreadyEnabled.into());
    }
    let secret = mfa::generate_secret(state.random.as_ref());
    let totp =
        mfa::totp(&secret, &state.config.product_name, &user.email).map_err(Error::internal)?;
    let otpauth_url = totp.to_url().map_err(|e| Error::internal(e.to_string()))?;
    let qr_code_base64 = totp
        .to_qr_base64()
        .map_err(|e| Error::internal(e.to_string()))?;
    let secret_base32 = totp.secret().to_base32();
    let ciphertext = state
        .cipher
        .encrypt(&secret, &secret_context(user_id))
        .await?;
    let now = state.clock.unix();
    let record = MfaRecord {
        user_id: user_id.to_owned(),
        status: STATUS_PENDING.to_owned(),
        secret_ciphertext: base64_encode(&ciphertext),
        setup_id: uuid::Uuid::new_v4().to_string(),
        last_step: 0,
        created_at: now,
        enabled_at: None,
        recovery_codes_generated_at: None,
        expires_at: Some(now + mfa::PENDING_SETUP_SECONDS),
    };
    // Replace only what was read: a concurrent confirm that enabled MFA must not be undone.
    let condition = match &existing {
        Some(previous) => Condition::Equals("setup_id".into(), previous.setup_id.clone().into()),
        None => Condition::NotExists,
    };
    match state.table.put(record.to_item(), Some(condition)).await {
        Ok(()) => {}
        Err(StoreError::ConditionFailed) => return Err(MfaError::Conflict.into()),
        Err(error) => return Err(error.into()),
    }
    audit::mfa_changed(user_id, "setup_started");
    Ok(Enrolment {
        secret: secret_base32,
        otpauth_url,
        qr_code_base64,
    })
}

/// A fresh set of recovery codes, shown once.
#[derive(Clone, Serialize, utoipa::ToSchema)]
pub struct RecoveryCodes {
    /// Ten codes (`xxxxx-xxxxx`, 50 random bits each), shown once; each works once.
    pub recovery_codes: Vec<String>,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub recovery_codes_generated_at: String,
}

/// `POST /auth/mfa/confirm`: a code from the pending secret turns MFA on and answers the first
/// set of recovery codes. One transaction enables the record, writes the codes and sets the
/// user's `mfa_enabled`.
pub async fn confirm(
    state: &AppState,
    user_id: &UserId,
    code: &str,
    context: &SessionContext,
) -> Result<RecoveryCodes> {
    let windows = [MFA_FAILURES_PER_ACCOUNT.window(user_id.as_str(), state.clock.unix())];
    counted(
        state,
        &windows,
        confirm_counted(state, user_id, code, context, &windows),
    )
    .await
}

async fn confirm_counted(
    state: &AppState,
    user_id: &UserId,
    code: &str,
    context: &SessionContext,
    windows: &[Window; 1],
) -> Result<RecoveryCodes> {
    let now = state.clock.unix();
    let (user, record, failures) = tokio::join!(
        require_user(state, user_id),
        load_record(state, user_id),
        rate_limit::count(state, &windows[0]),
    );
    refuse_over_limit(now, windows, &[failures?])?;
    let (user, record) = (user?, record?);
    let record = match record {
        Some(record) if record.is_enabled() => return Err(MfaError::AlreadyEnabled.into()),
        Some(record) => record,
        None => return Err(MfaError::NoPendingSetup.into()),
    };
    let step = totp_step(state, &user, &record, code).await?;
    let codes = generate_recovery_codes(state.random.as_ref());
    let mut set = Item::new();
    set.insert("status".into(), STATUS_ENABLED.into());
    set.insert("last_step".into(), step.into());
    set.insert("enabled_at".into(), now.into());
    set.insert("recovery_codes_generated_at".into(), now.into());
    let mut writes = vec![Write::Update {
        key: record.key(),
        set,
        remove: vec![attr::TTL.to_owned(), "expires_at".to_owned()],
        condition: Some(Condition::Equals(
            "setup_id".into(),
            record.setup_id.clone().into(),
        )),
    }];
    writes.extend(recovery_code_puts(user_id, &codes, now));
    writes.push(user_update(state, &user, true));
    commit(state, writes, MfaError::Conflict).await?;
    audit::mfa_changed(user_id, "enabled");
    notify(state, &user, Notice::MfaEnabled, context).await;
    Ok(RecoveryCodes {
        recovery_codes: codes,
        recovery_codes_generated_at: timestamp(now),
    })
}

/// `POST /auth/mfa/verify` with an `mfa_token`: a TOTP code finishes the sign-in. Two table
/// round trips: everything is read at once, then one transaction spends the token, moves
/// `last_step` forward and starts the session (`aal: 2`, `amr` + `otp`).
pub async fn verify(
    state: &AppState,
    mfa_token: &str,
    code: &str,
    context: &SessionContext,
) -> Result<AuthResponse> {
    let claims = tokens::verify_mfa_token(state, mfa_token).await?;
    let windows = token_windows(state, &claims);
    let user_id = claims.sub.clone();
    let answer = counted(
        state,
        &windows,
        verify_counted(state, claims, code, context, &windows),
    )
    .await;
    second_factor_outcome(&user_id, "totp", answer, &["otp"])
}

/// The security event of a second-factor attempt: the sign-in succeeded (at `aal: 2`) or failed
/// with the code answered.
fn second_factor_outcome(
    user_id: &UserId,
    method: &'static str,
    answer: Result<AuthResponse>,
    amr: &[&str],
) -> Result<AuthResponse> {
    match &answer {
        Ok(_) => audit::sign_in_succeeded(user_id, amr, false),
        Err(error) if error.status().is_client_error() => {
            audit::sign_in_failed(Some(user_id), method, &error.code.to_string())
        }
        Err(_) => {}
    }
    answer
}

async fn verify_counted(
    state: &AppState,
    claims: MfaTokenClaims,
    code: &str,
    context: &SessionContext,
    windows: &[Window; 2],
) -> Result<AuthResponse> {
    let now = state.clock.unix();
    let pending_key = keys::mfa_pending(&claims.jti);
    let (user, record, pending, token_failures, account_failures) = tokio::join!(
        require_user(state, &claims.sub),
        load_record(state, &claims.sub),
        state.table.get(&pending_key),
        rate_limit::count(state, &windows[0]),
        rate_limit::count(state, &windows[1]),
    );
    if pending?.is_none() {
        return Err(MfaError::TokenSpent.into());
    }
    refuse_over_limit(now, windows, &[token_failures?, account_failures?])?;
    let user = user?;
    let record = enabled(record?)?;
    let step = totp_step(state, &user, &record, code).await?;
    let amr = with_method(&claims.amr, TOTP_AMR);
    let amr: Vec<&str> = amr.iter().map(String::as_str).collect();
    let prepared = sessions::prepare(state, &user, &amr, 2, context).await?;
    let mut writes = vec![
        Write::Delete {
            key: pending_key,
            condition: Some(Condition::Exists),
        },
        advance_step(&record, step),
    ];
    writes.extend(prepared.writes);
    // A concurrent request spent the token or the step first.
    commit(state, writes, MfaError::CodeAlreadyUsed).await?;
    Ok(prepared.response)
}

/// `POST /auth/mfa/verify` with an ordinary access token (step-up): a TOTP code replaces the
/// caller's session with one at `aal: 2` (`amr` + `otp`), in one transaction.
pub async fn step_up(
    state: &AppState,
    caller: &AccessClaims,
    code: &str,
    context: &SessionContext,
) -> Result<AuthResponse> {
    let windows = [MFA_FAILURES_PER_ACCOUNT.window(caller.sub.as_str(), state.clock.unix())];
    counted(
        state,
        &windows,
        step_up_counted(state, caller, code, context, &windows),
    )
    .await
}

async fn step_up_counted(
    state: &AppState,
    caller: &AccessClaims,
    code: &str,
    context: &SessionContext,
    windows: &[Window; 1],
) -> Result<AuthResponse> {
    let now = state.clock.unix();
    let (user, record, failures) = tokio::join!(
        require_user(state, &caller.sub),
        load_record(state, &caller.sub),
        rate_limit::count(state, &windows[0]),
    );
    refuse_over_limit(now, windows, &[failures?])?;
    let user = user?;
    let record = enabled(record?)?;
    let step = totp_step(state, &user, &record, code).await?;
    let amr = with_method(&caller.amr, TOTP_AMR);
    let amr: Vec<&str> = amr.iter().map(String::as_str).collect();
    // A token we signed names a session; a `sid` that is not one names no session, which the
    // transaction would refuse as it refuses a session that ended.
    let Some(session_id) = SessionId::parse(&caller.sid) else {
        return Err(MfaError::CodeAlreadyUsed.into());
    };
    let prepared = sessions::prepare(state, &user, &amr, 2, context).await?;
    let mut writes = vec![
        advance_step(&record, step),
        // The stepped-up session replaces the caller's: its refresh token can no longer rotate.
        Write::Delete {
            key: keys::session(&caller.sub, &session_id),
            condition: Some(Condition::Exists),
        },
    ];
    writes.extend(prepared.writes);
    commit(state, writes, MfaError::CodeAlreadyUsed).await?;
    Ok(prepared.response)
}

/// `POST /auth/mfa/recovery-verify` with an `mfa_token`: one unspent recovery code finishes the
/// sign-in (`aal: 2`, `amr` + `mfa`) and is spent, in one transaction with the token.
pub async fn recovery_verify(
    state: &AppState,
    mfa_token: &str,
    code: &str,
    context: &SessionContext,
) -> Result<AuthResponse> {
    let claims = tokens::verify_mfa_token(state, mfa_token).await?;
    let windows = token_windows(state, &claims);
    let user_id = claims.sub.clone();
    let answer = counted(
        state,
        &windows,
        recovery_verify_counted(state, claims, code, context, &windows),
    )
    .await;
    second_factor_outcome(&user_id, "recovery_code", answer, &["mfa"])
}

async fn recovery_verify_counted(
    state: &AppState,
    claims: MfaTokenClaims,
    code: &str,
    context: &SessionContext,
    windows: &[Window; 2],
) -> Result<AuthResponse> {
    let now = state.clock.unix();
    let pending_key = keys::mfa_pending(&claims.jti);
    let code_key = normalize_recovery_code(code).map(|normalized| {
        keys::recovery_code(&claims.sub, &recovery_code_hash(&claims.sub, &normalized))
    });
    let read_code = async {
        match &code_key {
            Some(key) => state.table.get(key).await,
            None => Ok(None),
        }
    };
    let (user, record, pending, stored_code, token_failures, account_failures) = tokio::join!(
        require_user(state, &claims.sub),
        load_record(state, &claims.sub),
        state.table.get(&pending_key),
        read_code,
        rate_limit::count(state, &windows[0]),
        rate_limit::count(state, &windows[1]),
    );
    if pending?.is_none() {
        return Err(MfaError::TokenSpent.into());
    }
    refuse_over_limit(now, windows, &[token_failures?, account_failures?])?;
    let user = user?;
    enabled(record?)?;
    let (Some(code_key), Some(_)) = (code_key, stored_code?) else {
        return Err(MfaError::InvalidCode.into());
    };
    let amr = with_method(&claims.amr, RECOVERY_CODE_AMR);
    let amr: Vec<&str> = amr.iter().map(String::as_str).collect();
    let prepared = sessions::prepare(state, &user, &amr, 2, context).await?;
    let mut writes = vec![
        Write::Delete {
            key: pending_key,
            condition: Some(Condition::Exists),
        },
        Write::Delete {
            key: code_key,
            condition: Some(Condition::Exists),
        },
    ];
    writes.extend(prepared.writes);
    // A concurrent request spent the code (or the token) first.
    commit(state, writes, MfaError::InvalidCode).await?;
    audit::mfa_changed(&user.id, "recovery_code_used");
    notify(state, &user, Notice::RecoveryCodeUsed, context).await;
    Ok(prepared.response)
}

/// `POST /auth/mfa/disable`: with a TOTP code in the request, or with an `aal: 2` token when
/// none is given. Deletes the secret and every recovery code and clears the user's flag, in one
/// transaction.
pub async fn disable(
    state: &AppState,
    caller: &AccessClaims,
    code: Option<&str>,
    context: &SessionContext,
) -> Result<()> {
    let code = code.map(str::trim).filter(|c| !c.is_empty());
    // Only a presented code is a guess to count.
    let windows: Vec<Window> = code
        .iter()
        .map(|_| MFA_FAILURES_PER_ACCOUNT.window(caller.sub.as_str(), state.clock.unix()))
        .collect();
    counted(
        state,
        &windows,
        disable_counted(state, caller, code, context, &windows),
    )
    .await
}

async fn disable_counted(
    state: &AppState,
    caller: &AccessClaims,
    code: Option<&str>,
    context: &SessionContext,
    windows: &[Window],
) -> Result<()> {
    let now = state.clock.unix();
    let failures = async {
        match windows.first() {
            Some(window) => rate_limit::count(state, window).await.map(Some),
            None => Ok(None),
        }
    };
    let (user, record, codes, failures) = tokio::join!(
        require_user(state, &caller.sub),
        load_record(state, &caller.sub),
        recovery_code_keys(state, &caller.sub),
        failures,
    );
    if let Some(failures) = failures? {
        refuse_over_limit(now, windows, &[failures])?;
    }
    let user = user?;
    let record = enabled(record?)?;
    let condition = match code {
        Some(code) => {
            let step = totp_step(state, &user, &record, code).await?;
            Condition::LessThan("last_step".into(), step)
        }
        None if caller.aal >= 2 => {
            Condition::Equals("setup_id".into(), record.setup_id.clone().into())
        }
        None => return Err(MfaError::SecondFactorRequired.into()),
    };
    let mut writes = vec![Write::Delete {
        key: record.key(),
        condition: Some(condition),
    }];
    writes.extend(codes?.into_iter().map(|key| Write::Delete {
        key,
        condition: None,
    }));
    writes.push(user_update(state, &user, false));
    commit(state, writes, MfaError::Conflict).await?;
    audit::mfa_changed(&user.id, "disabled");
    notify(state, &user, Notice::MfaDisabled, context).await;
    Ok(())
}

/// `POST /auth/mfa/recovery-codes`: a new set for a caller at `aal: 2`; the old set is void (its
/// items are deleted in the same transaction that writes the new ones).
pub async fn regenerate_recovery_codes(
    state: &AppState,
    caller: &AccessClaims,
) -> Result<RecoveryCodes> {
    let (record, existing) = tokio::join!(
        load_record(state, &caller.sub),
        recovery_code_keys(state, &caller.sub),
    );
    let record = enabled(record?)?;
    if caller.aal < 2 {
        return Err(MfaError::SecondFactorRequired.into());
    }
    let now = state.clock.unix();
    let codes = generate_recovery_codes(state.random.as_ref());
    let mut writes: Vec<Write> = existing?
        .into_iter()
        .map(|key| Write::Delete {
            key,
            condition: None,
        })
        .collect();
    writes.extend(recovery_code_puts(&caller.sub, &codes, now));
    let mut set = Item::new();
    set.insert("recovery_codes_generated_at".into(), now.into());
    writes.push(Write::Update {
        key: record.key(),
        set,
        remove: vec![],
        condition: Some(Condition::Equals(
            "setup_id".into(),
            record.setup_id.clone().into(),
        )),
    });
    commit(state, writes, MfaError::Conflict).await?;
    audit::mfa_changed(&caller.sub, "recovery_codes_regenerated");
    Ok(RecoveryCodes {
        recovery_codes: codes,
        recovery_codes_generated_at: timestamp(now),
    })
}

/// What `/auth/me` shows of the second factor.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct MfaStatus {
    pub enabled: bool,
    /// `totp`, `recovery_code` while MFA is on.
    #[schema(value_type = Vec<String>)]
    pub methods: Vec<&'static str>,
    pub recovery_codes_remaining: usize,
    /// RFC 3339; none while MFA is off.
    #[schema(format = DateTime)]
    pub recovery_codes_generated_at: Option<String>,
    #[schema(format = DateTime)]
    pub enabled_at: Option<String>,
}

/// The user's MFA status (two reads in parallel).
pub async fn status(state: &AppState, user_id: &UserId) -> Result<MfaStatus> {
    let (record, codes) = tokio::join!(
        load_record(state, user_id),
        recovery_code_keys(state, user_id)
    );
    let record = record?.filter(MfaRecord::is_enabled);
    Ok(match record {
        Some(record) => MfaStatus {
            enabled: true,
            methods: MFA_METHODS.to_vec(),
            recovery_codes_remaining: codes?.len(),
            recovery_codes_generated_at: record.recovery_codes_generated_at.map(timestamp),
            enabled_at: record.enabled_at.map(timestamp),
        },
        None => MfaStatus {
            enabled: false,
            methods: vec![],
            recovery_codes_remaining: 0,
            recovery_codes_generated_at: None,
            enabled_at: None,
        },
    })
}

/// A sensitive change (password, MFA settings) by a caller whose account has MFA on needs a
/// token from the second factor.
pub fn require_second_factor(user: &User, caller_aal: u8) -> Result<()> {
    if user.mfa_enabled && caller_aal < 2 {
        return Err(MfaError::SecondFactorRequired.into());
    }
    Ok(())
}

async fn load_record(state: &AppState, user_id: &UserId) -> Result<Option<MfaRecord>> {
    state
        .table
        .get(&keys::mfa(user_id))
        .await?
        .map(MfaRecord::from_item)
        .transpose()
        .map_err(Error::from)
}

fn enabled(record: Option<MfaRecord>) -> Result<MfaRecord> {
    record
        .filter(MfaRecord::is_enabled)
        .ok_or_else(|| MfaError::NotEnabled.into())
}

/// The keys of the user's unspent recovery codes.
async fn recovery_code_keys(state: &AppState, user_id: &UserId) -> Result<Vec<crate::ports::Key>> {
    let items = state
        .table
        .query(&keys::user_partition(user_id), keys::RECOVERY_PREFIX)
        .await?;
    Ok(items.iter().filter_map(crate::ports::Key::of).collect())
}

fn recovery_code_puts(user_id: &UserId, codes: &[String], now: i64) -> Vec<Write> {
    codes
        .iter()
        .filter_map(|code| normalize_recovery_code(code))
        .map(|normalized| Write::Put {
            item: RecoveryCode {
                user_id: user_id.to_owned(),
                code_hash: recovery_code_hash(user_id, &normalized),
                generated_at: now,
            }
            .to_item(),
            condition: Some(Condition::NotExists),
        })
        .collect()
}

/// Set the user's `mfa_enabled` under optimistic locking, in the caller's transaction.
fn user_update(state: &AppState, user: &User, mfa_enabled: bool) -> Write {
    let (key, set, condition) = UserUpdate::new()
        .mfa_enabled(mfa_enabled)
        .for_user(user, state.clock.unix());
    Write::Update {
        key,
        set,
        remove: vec![],
        condition: Some(condition),
    }
}

/// Move `last_step` to `step`, on condition that it is still earlier: the one write that decides
/// which of several requests with the same code wins.
fn advance_step(record: &MfaRecord, step: i64) -> Write {
    let mut set = Item::new();
    set.insert("last_step".into(), step.into());
    Write::Update {
        key: record.key(),
        set,
        remove: vec![],
        condition: Some(Condition::LessThan("last_step".into(), step)),
    }
}

/// Run a transaction; a failed condition answers `lost`.
async fn commit(state: &AppState, writes: Vec<Write>, lost: MfaError) -> Result<()> {
    match state.table.transact(writes).await {
        Ok(()) => Ok(()),
        Err(StoreError::ConditionFailed) => Err(lost.into()),
        Err(error) => Err(error.into()),
    }
}

/// The windows an `mfa_token`'s codes count against: the token's and its account's.
fn token_windows(state: &AppState, claims: &MfaTokenClaims) -> [Window; 2] {
    let now = state.clock.unix();
    [
        MFA_FAILURES_PER_TOKEN.window(&claims.jti, now),
        MFA_FAILURES_PER_ACCOUNT.window(claims.sub.as_str(), now),
    ]
}

/// Run a use case whose code was counted first against `windows` (the atomic add decides, so a
/// burst of concurrent guesses cannot all read the same count and pass); give the count back
/// unless the outcome was a wrong code. A success, a replayed step or a spent token is not a
/// guess.
async fn counted<T>(
    state: &AppState,
    windows: &[Window],
    work: impl Future<Output = Result<T>>,
) -> Result<T> {
    let outcome = work.await;
    let wrong_code = matches!(&outcome, Err(error) if error.code == ErrorCode::InvalidCode);
    if !wrong_code {
        let refunds =
            futures::future::join_all(windows.iter().map(|w| rate_limit::refund(state, w))).await;
        for refund in refunds {
            if let Err(error) = refund {
                // A count left in place only makes the limit stricter.
                tracing::warn!(%error, "could not give back an MFA attempt");
            }
        }
    }
    outcome
}

/// `429` for the first window over its limit, counting this attempt (every MFA limit allows the
/// same number of wrong codes).
fn refuse_over_limit(now: i64, windows: &[Window], counts: &[i64]) -> Result<()> {
    const _: () = assert!(MFA_FAILURES_PER_TOKEN.max == MFA_FAILURES_PER_ACCOUNT.max);
    for (window, count) in windows.iter().zip(counts) {
        if *count > MFA_FAILURES_PER_ACCOUNT.max {
            return Err(window.exceeded(now).into());
        }
    }
    Ok(())
}

/// The step a presented TOTP code matches, later than the last one accepted.
async fn totp_step(state: &AppState, user: &User, record: &MfaRecord, code: &str) -> Result<i64> {
    let ciphertext = base64_decode(&record.secret_ciphertext)
        .ok_or_else(|| Error::internal("the stored TOTP secret is not base64"))?;
    let secret = state
        .cipher
        .decrypt(&ciphertext, &secret_context(&user.id))
        .await?;
    let totp =
        mfa::totp(&secret, &state.config.product_name, &user.email).map_err(Error::internal)?;
    let Some(step) = matching_step(&totp, code, state.clock.unix()) else {
        return Err(MfaError::InvalidCode.into());
    };
    if step <= record.last_step {
        return Err(MfaError::CodeAlreadyUsed.into());
    }
    Ok(step)
}

/// `amr` with one more method, once.
fn with_method(amr: &[String], method: &str) -> Vec<String> {
    let mut amr = amr.to_vec();
    if !amr.iter().any(|m| m == method) {
        amr.push(method.to_owned());
    }
    amr
}

/// Mail a security notice; a failure is logged and otherwise ignored (the change is made).
/// Mail a security notice to the account (best effort: a failure is logged, never answered).
pub(crate) async fn notify(
    state: &AppState,
    user: &User,
    notice: Notice,
    context: &SessionContext,
) {
    let when = rfc3339(state.clock.now());
    let client = match &context.user_agent {
        Some(agent) => format!("{} ({agent})", context.ip),
        None => context.ip.clone(),
    };
    let values = NoticeContext {
        product_name: &state.config.product_name,
        when: &when,
        client: &client,
    };
    let email = match mail_templates::render_notice(notice, &user.email, &values) {
        Ok(email) => email,
        Err(error) => {
            tracing::error!(?notice, user_id = %user.id, %error, "security notice not rendered");
            return;
        }
    };
    match state.mailer.send(&email).await {
        Ok(()) => audit::email_sent(&format!("{notice:?}"), &user.id),
        Err(error) => audit::email_failed(&format!("{notice:?}"), &user.id, &error.to_string()),
    }
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn base64_decode(text: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_method_is_added_once() {
        let amr = vec!["pwd".to_owned()];
        assert_eq!(with_method(&amr, "otp"), vec!["pwd", "otp"]);
        assert_eq!(
            with_method(&with_method(&amr, "otp"), "otp"),
            vec!["pwd", "otp"]
        );
    }

    #[test]
    fn each_refusal_has_its_own_status_and_code() {
        let cases = [
            (MfaError::AlreadyEnabled, 409, "mfa_already_enabled"),
            (MfaError::NotEnabled, 409, "mfa_not_enabled"),
            (MfaError::NoPendingSetup, 409, "mfa_setup_required"),
            (MfaError::InvalidCode, 401, "invalid_code"),
            (MfaError::CodeAlreadyUsed, 401, "code_already_used"),
            (MfaError::TokenSpent, 401, "invalid_token"),
            (
                MfaError::SecondFactorRequired,
                403,
                "second_factor_required",
            ),
        ];
        for (error, status, code) in cases {
            let error = Error::from(error);
            assert_eq!(
                (error.status().as_u16(), error.code.as_str()),
                (status, code)
            );
        }
    }
}
