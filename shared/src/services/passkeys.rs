//! Passkeys (API.md, "Passkeys, WebAuthn"): registering a passkey, signing in with one (with an
//! email, or none for a discoverable credential), listing and removing them. `webauthn-rs` is
//! the relying party; this module keeps its ceremony state in the table and applies our rules.
//!
//! Rules that hold throughout:
//! - Each ceremony is two requests. The challenge request stores the relying party's state under
//!   a fresh `challenge_id` for 5 minutes; the finish consumes it with a delete conditional on its
//!   binding (purpose, and the user for registration), so a challenge works once, only for what
//!   it was made for, and of any number of concurrent finishes exactly one gets it. A finish that
//!   fails verification has spent its challenge too.
//! - A passkey sign-in is a whole sign-in: user verification makes it two factors (`aal: 2`), so
//!   it never answers the MFA step. Its `amr` is `["webauthn"]`.
//! - The signature counter and backup flags are written back at each sign-in, on condition that
//!   the stored counter is the one verified against; a counter that goes backwards (a cloned
//!   authenticator) is refused and logged.
//! - A credential id belongs to one passkey of one account: a claim item, written with the
//!   passkey on condition that none exists, refuses a second registration (`409`).
//! - Adding or removing a passkey needs an `aal: 2` token when the account has MFA on, and
//!   mails a security notice. Removing the last way to sign in (no password, no other passkey,
//!   no linked identity) is refused (`409`).
//!
//! Table round trips (counted by `tests/api/passkeys_budget.rs`): register-challenge 2 (the
//! caller's session check; the user and the user's passkeys read while the challenge is
//! written), register 3 (the session check; the challenge consumed while the user is read; one
//! transaction writing the passkey and its claim), login-challenge 1 without an email and 2 with
//! one (the email claim; the passkeys read while the challenge is written), login 3 (the
//! challenge consumed while the credential is looked up; the user; one transaction that moves the
//! counter and starts the session).

use crate::domain::ids::{PasskeyId, UserId};
use serde::Serialize;
use webauthn_rs::Webauthn;
use webauthn_rs::prelude::{
    CreationChallengeResponse, DiscoverableAuthentication, Passkey, PasskeyRegistration,
    PublicKeyCredential, RegisterPublicKeyCredential, RequestChallengeResponse, Uuid,
    WebauthnError,
};
use webauthn_rs_proto::{AllowCredentials, PublicKeyCredentialDescriptor, ResidentKeyRequirement};

use crate::domain::emails::EmailAddress;
use crate::domain::keys;
use crate::domain::passkeys::{
    CHALLENGE_SECONDS, ChallengeRecord, PasskeyRecord, Purpose, valid_name,
};
use crate::domain::sessions::SessionContext;
use crate::domain::timestamp;
use crate::domain::users::{EmailClaim, User};
use crate::error::ErrorCode;
use crate::ports::{Condition, Item, StoreError, Write};
use crate::services::accounts::require_user;
use crate::services::mail_templates::Notice;
use crate::services::mfa::{notify, require_second_factor};
use crate::services::sessions::{self, AuthResponse};
use crate::services::tokens::AccessClaims;
use crate::{AppState, Error, Result};

/// The `amr` of a passkey sign-in.
pub const WEBAUTHN_AMR: &str = "webauthn";

/// How the passkey use cases fail; each becomes an API error at the edge.
#[derive(Debug, thiserror::Error)]
pub enum PasskeyError {
    /// 401: the challenge is unknown, spent, expired, or for another purpose or user.
    #[error("The challenge is not valid: it was used, has expired, or is not for this ceremony")]
    InvalidChallenge,
    /// 401: the authenticator's answer did not verify (origin, RP ID, signature, user
    /// verification, counter), or names a passkey that is not registered.
    #[error("The passkey could not be verified")]
    Rejected,
    /// 409: the credential id is already registered.
    #[error("This passkey is already registered")]
    AlreadyRegistered,
    /// 404: no such passkey of the caller's.
    #[error("No such passkey")]
    NotFound,
    /// 409: removing it would leave no way to sign in.
    #[error(
        "This is the account's last way to sign in; set a password or add another passkey first"
    )]
    LastSignInMethod,
    /// 409: the passkey changed under the request.
    #[error("The passkey changed at the same time; try again")]
    Conflict,
}

impl From<PasskeyError> for Error {
    fn from(error: PasskeyError) -> Self {
        let code = match error {
            PasskeyError::InvalidChallenge => ErrorCode::InvalidChallenge,
            PasskeyError::Rejected => ErrorCode::InvalidCredentials,
            PasskeyError::AlreadyRegistered => ErrorCode::PasskeyAlreadyRegistered,
            PasskeyError::NotFound => ErrorCode::NotFound,
            PasskeyError::LastSignInMethod => ErrorCode::LastSignInMethod,
            PasskeyError::Conflict => ErrorCode::Conflict,
        };
        let field = match error {
            PasskeyError::InvalidChallenge => Some("challenge_id"),
            PasskeyError::Rejected | PasskeyError::AlreadyRegistered => Some("credential"),
            _ => None,
        };
        let api = Error::new(code, error.to_string());
        match field {
            Some(field) => api.with_extra("field", field),
            None => api,
        }
    }
}

/// The answer to a challenge request: the id to finish with and the options for
/// `navigator.credentials.create()` / `.get()`.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Ceremony {
    #[schema(format = "uuid")]
    pub challenge_id: String,
    /// `{"publicKey": {...}}`: the WebAuthn options in their JSON form (binary fields
    /// base64url), ready for `PublicKeyCredential.parseCreationOptionsFromJSON` /
    /// `parseRequestOptionsFromJSON` after taking `publicKey`.
    #[schema(value_type = Object)]
    pub options: serde_json::Value,
}

/// One passkey as the owner sees it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct PasskeyView {
    #[schema(format = "uuid")]
    pub id: String,
    pub name: String,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// RFC 3339; null until first used to sign in.
    #[schema(format = DateTime)]
    pub last_used_at: Option<String>,
}

impl PasskeyView {
    fn of(record: &PasskeyRecord) -> Self {
        Self {
            id: record.id.to_string(),
            name: record.name.clone(),
            created_at: timestamp(record.created_at),
            last_used_at: record.last_used_at.map(timestamp),
        }
    }
}

fn relying_party(state: &AppState) -> Result<Webauthn> {
    state
        .config
        .webauthn
        .relying_party()
        .map_err(Error::internal)
}

fn user_uuid(user_id: &UserId) -> Result<Uuid> {
    Uuid::parse_str(user_id.as_str()).map_err(|_| Error::internal("a user id is not a UUID"))
}

fn base64url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn base64url_decode(text: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .ok()
}

/// The user's passkeys, oldest first.
pub async fn records(state: &AppState, user_id: &UserId) -> Result<Vec<PasskeyRecord>> {
    let items = state
        .table
        .query(&keys::user_partition(user_id), keys::PASSKEY_PREFIX)
        .await?;
    let mut records = items
        .into_iter()
        .map(PasskeyRecord::from_item)
        .collect::<Result<Vec<_>, _>>()?;
    records.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    Ok(records)
}

/// `GET /auth/passkeys`.
pub async fn list(state: &AppState, user_id: &UserId) -> Result<Vec<PasskeyView>> {
    Ok(records(state, user_id)
        .await?
        .iter()
        .map(PasskeyView::of)
        .collect())
}

/// How many passkeys a user has (for `/auth/me`).
pub async fn count(state: &AppState, user_id: &UserId) -> Result<u32> {
    Ok(records(state, user_id).await?.len() as u32)
}

fn new_challenge(
    state: &AppState,
    purpose: Purpose,
    user_id: Option<&UserId>,
    ceremony_state: &impl Serialize,
) -> Result<ChallengeRecord> {
    let id = Uuid::new_v4().to_string();
    Ok(ChallengeRecord {
        id,
        binding: purpose.binding(user_id),
        user_id: user_id.cloned(),
        state: serde_json::to_string(ceremony_state).map_err(Error::internal_cause)?,
        expires_at: state.clock.unix() + CHALLENGE_SECONDS,
    })
}

async fn store_challenge(state: &AppState, challenge: &ChallengeRecord) -> Result<()> {
    state
        .table
        .put(challenge.to_item(), Some(Condition::NotExists))
        .await?;
    Ok(())
}

/// Consume a challenge: one conditional delete, so it works once and only for its binding.
async fn consume_challenge(
    state: &AppState,
    challenge_id: &str,
    purpose: Purpose,
    user_id: Option<&UserId>,
) -> Result<ChallengeRecord> {
    // Not a UUID: never one of ours (and never a key built from arbitrary text).
    let challenge_id = Uuid::parse_str(challenge_id)
        .map_err(|_| PasskeyError::InvalidChallenge)?
        .to_string();
    let removed = state
        .table
        .delete(
            &keys::challenge(&challenge_id),
            Some(Condition::Equals(
                "binding".into(),
                purpose.binding(user_id).into(),
            )),
        )
        .await;
    let item = match removed {
        Ok(Some(item)) => item,
        Ok(None) | Err(StoreError::ConditionFailed) => {
            return Err(PasskeyError::InvalidChallenge.into());
        }
        Err(error) => return Err(error.into()),
    };
    let record = ChallengeRecord::from_item(item)?;
    // The store hides expired items, but a clock edge must not stretch the 5 minutes.
    if record.expires_at <= state.clock.unix() {
        return Err(PasskeyError::InvalidChallenge.into());
    }
    Ok(record)
}

fn ceremony_state<T: serde::de::DeserializeOwned>(record: &ChallengeRecord) -> Result<T> {
    serde_json::from_str(&record.state).map_err(Error::internal_cause)
}

fn options_json(options: &impl Serialize) -> Result<serde_json::Value> {
    serde_json::to_value(options).map_err(Error::internal_cause)
}

/// `POST /auth/passkeys/register-challenge`: the options to create a passkey for the caller.
pub async fn register_challenge(state: &AppState, caller: &AccessClaims) -> Result<Ceremony> {
    let relying_party = relying_party(state)?;
    let (mut options, registration): (CreationChallengeResponse, PasskeyRegistration) =
        relying_party
            .start_passkey_registration(user_uuid(&caller.sub)?, &caller.email, &caller.email, None)
            .map_err(|e| Error::internal(format!("webauthn registration start: {e}")))?;
    // A discoverable credential where the authenticator can keep one: it is what lets a person
    // sign in without typing an email. (The registration state does not depend on this.)
    if let Some(selection) = options.public_key.authenticator_selection.as_mut() {
        selection.resident_key = Some(ResidentKeyRequirement::Preferred);
        selection.require_resident_key = false;
    }
    let challenge = new_challenge(state, Purpose::Register, Some(&caller.sub), &registration)?;
    // One round trip: the user (for the MFA rule) and the passkeys to exclude are read while the
    // challenge is written; the exclusions only shape the options sent.
    let (user, existing, stored) = tokio::join!(
        require_user(state, &caller.sub),
        records(state, &caller.sub),
        store_challenge(state, &challenge),
    );
    let user = user?;
    stored?;
    require_second_factor(&user, caller.aal)?;
    let exclude: Vec<PublicKeyCredentialDescriptor> = existing?
        .iter()
        .filter_map(|record| base64url_decode(&record.credential_id))
        .map(|id| PublicKeyCredentialDescriptor {
            type_: "public-key".to_owned(),
            id,
            transports: None,
        })
        .collect();
    options.public_key.exclude_credentials = (!exclude.is_empty()).then_some(exclude);
    Ok(Ceremony {
        challenge_id: challenge.id,
        options: options_json(&options)?,
    })
}

/// `POST /auth/passkeys/register`: verify the new credential and keep it.
pub async fn register(
    state: &AppState,
    caller: &AccessClaims,
    challenge_id: &str,
    credential: &RegisterPublicKeyCredential,
    name: Option<&str>,
    context: &SessionContext,
) -> Result<PasskeyView> {
    let name = match name {
        Some(raw) => Some(valid_name(raw).ok_or_else(|| {
            Error::invalid_field("name", "must be 1 to 64 characters, no control characters")
        })?),
        None => None,
    };
    let (challenge, user) = tokio::join!(
        consume_challenge(state, challenge_id, Purpose::Register, Some(&caller.sub)),
        require_user(state, &caller.sub),
    );
    let (challenge, user) = (challenge?, user?);
    require_second_factor(&user, caller.aal)?;
    let registration: PasskeyRegistration = ceremony_state(&challenge)?;
    let passkey = relying_party(state)?
        .finish_passkey_registration(credential, &registration)
        .map_err(|error| rejected(&user.id, "registration", &error))?;
    let now = state.clock.unix();
    let flags = CredentialFlags::of(&passkey)?;
    let record = PasskeyRecord {
        id: PasskeyId::generate(state.random.as_ref()),
        user_id: user.id.clone(),
        name: name.unwrap_or_else(|| default_name(now)),
        credential_id: base64url(passkey.cred_id()),
        credential: serde_json::to_string(&passkey).map_err(Error::internal_cause)?,
        counter: flags.counter,
        backup_eligible: flags.backup_eligible,
        backup_state: flags.backup_state,
        created_at: now,
        last_used_at: None,
    };
    let writes = vec![
        Write::Put {
            item: record.to_item(),
            condition: Some(Condition::NotExists),
        },
        Write::Put {
            item: record.claim_item(),
            condition: Some(Condition::NotExists),
        },
    ];
    match state.table.transact(writes).await {
        Ok(()) => {}
        Err(StoreError::ConditionFailed) => return Err(PasskeyError::AlreadyRegistered.into()),
        Err(error) => return Err(error.into()),
    }
    tracing::info!(user_id = %user.id, passkey_id = %record.id, "passkey added");
    notify(state, &user, Notice::PasskeyAdded, context).await;
    Ok(PasskeyView::of(&record))
}

/// A readable name for a passkey registered without one: "Passkey added 30 Nov 2026".
fn default_name(now: i64) -> String {
    let format = time::macros::format_description!("[day padding:none] [month repr:short] [year]");
    time::OffsetDateTime::from_unix_timestamp(now)
        .ok()
        .and_then(|at| at.format(&format).ok())
        .map_or_else(
            || "Passkey".to_owned(),
            |day| format!("Passkey added {day}"),
        )
}

/// The counter and backup flags of a credential, which `webauthn-rs` keeps inside it.
struct CredentialFlags {
    counter: u32,
    backup_eligible: bool,
    backup_state: bool,
}

impl CredentialFlags {
    fn of(passkey: &Passkey) -> Result<Self> {
        let json = serde_json::to_value(passkey).map_err(Error::internal_cause)?;
        let credential = &json["cred"];
        Ok(Self {
            counter: credential["counter"].as_u64().unwrap_or(0) as u32,
            backup_eligible: credential["backup_eligible"].as_bool().unwrap_or(false),
            backup_state: credential["backup_state"].as_bool().unwrap_or(false),
        })
    }
}

/// A refusal by the relying party: logged (what failed, never the credential), answered 401.
fn rejected(user_id: &UserId, ceremony: &str, error: &WebauthnError) -> Error {
    if matches!(error, WebauthnError::CredentialPossibleCompromise) {
        tracing::warn!(
            user_id = user_id.as_str(),
            ceremony,
            "passkey refused: its signature counter did not move forward (a cloned authenticator?)"
        );
    } else {
        tracing::info!(user_id = user_id.as_str(), ceremony, %error, "passkey refused");
    }
    PasskeyError::Rejected.into()
}

/// `POST /auth/passkeys/login-challenge`: the options to sign in, for one account's passkeys
/// when an email is given, else for any discoverable credential. An unknown email answers the
/// same shape as no email, so the answer does not tell which accounts exist.
pub async fn login_challenge(state: &AppState, email: Option<&EmailAddress>) -> Result<Ceremony> {
    let (mut options, authentication): (RequestChallengeResponse, DiscoverableAuthentication) =
        relying_party(state)?
            .start_discoverable_authentication()
            .map_err(|e| Error::internal(format!("webauthn authentication start: {e}")))?;
    // A modal sign-in (the page asks when the person clicks), not the autofill (conditional) UI.
    options.mediation = None;
    let user_id = match email {
        Some(email) => state
            .table
            .get(&keys::email_claim(email.normalized()))
            .await?
            .map(EmailClaim::from_item)
            .transpose()?
            .map(|claim| claim.user_id),
        None => None,
    };
    let challenge = new_challenge(state, Purpose::Login, user_id.as_ref(), &authentication)?;
    if let Some(user_id) = &user_id {
        let (passkeys, stored) =
            tokio::join!(records(state, user_id), store_challenge(state, &challenge));
        stored?;
        options.public_key.allow_credentials = passkeys?
            .iter()
            .filter_map(|record| base64url_decode(&record.credential_id))
            .map(|id| AllowCredentials {
                type_: "public-key".to_owned(),
                id,
                transports: None,
            })
            .collect();
    } else {
        store_challenge(state, &challenge).await?;
    }
    Ok(Ceremony {
        challenge_id: challenge.id,
        options: options_json(&options)?,
    })
}

/// `POST /auth/passkeys/login`: verify the assertion and start a session (`amr: ["webauthn"]`,
/// `aal: 2` with user verification). Never the MFA step.
pub async fn login(
    state: &AppState,
    challenge_id: &str,
    credential: &PublicKeyCredential,
    context: &SessionContext,
) -> Result<AuthResponse> {
    let credential_id = base64url(credential.get_credential_id());
    let (gsi1pk, gsi1sk) = keys::passkey_gsi1(&credential_id);
    let (challenge, found) = tokio::join!(
        consume_challenge(state, challenge_id, Purpose::Login, None),
        state.table.query_gsi1(&gsi1pk, &gsi1sk),
    );
    let challenge = challenge?;
    let Some(record) = found?
        .into_iter()
        .next()
        .map(PasskeyRecord::from_item)
        .transpose()?
    else {
        tracing::info!("passkey sign-in with a credential that is not registered");
        return Err(PasskeyError::Rejected.into());
    };
    // A challenge made for an email takes only that account's passkeys; a user handle, when
    // the authenticator sends one, must name the passkey's owner.
    let handle_matches = credential
        .get_user_unique_id()
        .is_none_or(|handle| user_uuid(&record.user_id).is_ok_and(|id| id.as_bytes() == handle));
    if challenge
        .user_id
        .as_ref()
        .is_some_and(|user_id| *user_id != record.user_id)
        || !handle_matches
    {
        tracing::info!(user_id = %record.user_id, "passkey sign-in for another account's challenge");
        return Err(PasskeyError::Rejected.into());
    }
    let user = require_user(state, &record.user_id)
        .await
        .map_err(|_| PasskeyError::Rejected)?;
    let authentication: DiscoverableAuthentication = ceremony_state(&challenge)?;
    let mut passkey: Passkey =
        serde_json::from_str(&record.credential).map_err(Error::internal_cause)?;
    let result = relying_party(state)?
        .finish_discoverable_authentication_v2(credential, authentication, &passkey)
        .map_err(|error| rejected(&user.id, "sign-in", &error))?;
    passkey.update_credential(&result);
    let aal = if result.user_verified() { 2 } else { 1 };
    let prepared = sessions::prepare(state, &user, &[WEBAUTHN_AMR], aal, context).await?;
    let mut writes = vec![passkey_used(state, &record, &passkey, &result)?];
    writes.extend(prepared.writes);
    match state.table.transact(writes).await {
        Ok(()) => {}
        // Removed meanwhile, or a concurrent sign-in with the same counter won.
        Err(StoreError::ConditionFailed) => return Err(PasskeyError::Rejected.into()),
        Err(error) => return Err(error.into()),
    }
    Ok(prepared.response)
}

/// The write that records a use: the credential with its new counter and backup flags, on
/// condition that the counter is still the one verified against.
fn passkey_used(
    state: &AppState,
    record: &PasskeyRecord,
    passkey: &Passkey,
    result: &webauthn_rs::prelude::AuthenticationResult,
) -> Result<Write> {
    let mut set = Item::new();
    set.insert(
        "credential".into(),
        serde_json::to_string(passkey)
            .map_err(Error::internal_cause)?
            .into(),
    );
    set.insert(
        "counter".into(),
        result.counter().max(record.counter).into(),
    );
    set.insert("backup_eligible".into(), result.backup_eligible().into());
    set.insert("backup_state".into(), result.backup_state().into());
    set.insert("last_used_at".into(), state.clock.unix().into());
    Ok(Write::Update {
        key: record.key(),
        set,
        remove: vec![],
        condition: Some(Condition::Equals("counter".into(), record.counter.into())),
    })
}

/// `DELETE /auth/passkeys/{passkey_id}`: remove one of the caller's passkeys.
pub async fn delete(
    state: &AppState,
    caller: &AccessClaims,
    passkey_id: &PasskeyId,
    context: &SessionContext,
) -> Result<()> {
    // Identities are listed through GSI1 under the user (the oauth group's records).
    let (user, passkeys, identities) = tokio::join!(
        require_user(state, &caller.sub),
        records(state, &caller.sub),
        crate::services::social::list(state, &caller.sub),
    );
    let (user, passkeys, identities) = (user?, passkeys?, identities?);
    let Some(record) = passkeys.iter().find(|record| record.id == *passkey_id) else {
        return Err(PasskeyError::NotFound.into());
    };
    require_second_factor(&user, caller.aal)?;
    if is_last_way_in(&user, passkeys.len(), identities.len()) {
        return Err(PasskeyError::LastSignInMethod.into());
    }
    let writes = vec![
        Write::Delete {
            key: record.key(),
            condition: Some(Condition::Exists),
        },
        Write::Delete {
            key: keys::passkey_credential(&record.credential_id),
            condition: None,
        },
    ];
    match state.table.transact(writes).await {
        Ok(()) => {}
        Err(StoreError::ConditionFailed) => return Err(PasskeyError::NotFound.into()),
        Err(error) => return Err(error.into()),
    }
    tracing::info!(user_id = %user.id, %passkey_id, "passkey removed");
    notify(state, &user, Notice::PasskeyRemoved, context).await;
    Ok(())
}

/// Whether this passkey is the account's only way to sign in: no password, no other passkey,
/// no linked identity. (An emailed link still reaches the account, but it is a recovery path,
/// not a credential a person chose.)
fn is_last_way_in(user: &User, passkeys: usize, identities: usize) -> bool {
    !user.has_password() && passkeys <= 1 && identities == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_refusal_has_its_own_status_and_code() {
        let cases = [
            (PasskeyError::InvalidChallenge, 401, "invalid_challenge"),
            (PasskeyError::Rejected, 401, "invalid_credentials"),
            (
                PasskeyError::AlreadyRegistered,
                409,
                "passkey_already_registered",
            ),
            (PasskeyError::NotFound, 404, "not_found"),
            (PasskeyError::LastSignInMethod, 409, "last_sign_in_method"),
        ];
        for (error, status, code) in cases {
            let error = Error::from(error);
            assert_eq!(
                (error.status().as_u16(), error.code.as_str()),
                (status, code)
            );
        }
    }

    #[test]
    fn a_default_name_says_when_the_passkey_was_added() {
        assert_eq!(default_name(1_796_000_000), "Passkey added 30 Nov 2026");
    }
}
