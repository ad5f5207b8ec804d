//! Emailed one-time tokens over the table: issue (voiding the user's previous token of the same
//! purpose), redeem by link, redeem a magic link's code by email. Every redemption is a
//! conditional delete in one transaction, so a token works exactly once even when twenty requests
//! race for it. Records and rules are in `domain::one_time_token`, keys in `domain::keys`.

use crate::domain::ids::UserId;
use crate::domain::keys;
use crate::domain::one_time_token::{
    CodeRecord, CurrentToken, MAX_CODE_ATTEMPTS, OneTimeToken, Purpose, TokenRecord, code_matches,
    generate_code, hash_code, hash_token, looks_like_token,
};
use crate::error::ErrorCode;
use crate::ports::{Condition, StoreError, Write};
use crate::services::code_secret;
use crate::{AppState, Error};

/// How using an emailed token failed.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The link's token is unknown, used, voided, expired or of another purpose: all look the
    /// same from outside.
    #[error("the link is invalid or has expired")]
    InvalidLink,
    /// The code is wrong, spent or voided.
    #[error("the code is invalid or has expired")]
    InvalidCode,
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The code secret could not be read or made (the cipher or the table failed).
    #[error(transparent)]
    Secret(#[from] Error),
}

impl From<TokenError> for Error {
    fn from(error: TokenError) -> Self {
        match error {
            TokenError::InvalidLink => Error::new(
                ErrorCode::InvalidLink,
                "This link or code is invalid or has expired",
            ),
            TokenError::InvalidCode => {
                Error::new(ErrorCode::InvalidCode, "The code is invalid or has expired")
            }
            TokenError::Store(error) => error.into(),
            TokenError::Secret(error) => error,
        }
    }
}

pub type Result<T, E = TokenError> = std::result::Result<T, E>;

/// A token just issued: the secret and code go into the email and nowhere else.
pub struct Issued {
    pub token: OneTimeToken,
    /// The 6-digit code, when asked for.
    pub code: Option<String>,
    /// Unix seconds.
    pub expires_at: i64,
}

/// What a redeemed token was issued for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redeemed {
    pub user_id: UserId,
    /// The address the token was mailed to, as given.
    pub email: String,
    /// The allow-listed redirect stored with the token, if any.
    pub redirect: Option<String>,
}

/// The one answer for every unusable link.
pub fn invalid_link() -> Error {
    TokenError::InvalidLink.into()
}

/// The one answer for a wrong, spent or voided code.
pub fn invalid_code() -> Error {
    TokenError::InvalidCode.into()
}

/// Issue a token of `purpose` for the user, replacing (and so voiding) the previous one. With
/// `with_code`, a 6-digit code tied to the token is filed under the address.
pub async fn issue(
    state: &AppState,
    purpose: Purpose,
    user_id: &UserId,
    email: &str,
    redirect: Option<&str>,
    with_code: bool,
) -> Result<Issued> {
    let now = state.clock.unix();
    let expires_at = now + state.config.email_token_ttl.as_secs() as i64;
    let token = OneTimeToken::generate(state.random.as_ref());
    let pointer_key = CurrentToken::key(user_id, purpose);

    let mut writes = Vec::with_capacity(4);
    // Drop the previous token's item now rather than waiting for its TTL; the pointer alone
    // already makes it unusable.
    if let Some(previous) = state
        .table
        .get(&pointer_key)
        .await?
        .and_then(CurrentToken::from_item)
        && previous.token_hash != token.hash()
    {
        writes.push(Write::Delete {
            key: keys::one_time_token(&previous.token_hash),
            condition: None,
        });
    }

    let record = TokenRecord {
        purpose: purpose.as_str().to_owned(),
        user_id: user_id.to_owned(),
        email: email.to_owned(),
        redirect: redirect.map(str::to_owned),
        expires_at,
    };
    writes.push(Write::Put {
        item: record.to_item(token.hash()),
        condition: Some(Condition::NotExists),
    });

    let pointer = CurrentToken {
        token_hash: token.hash().to_owned(),
    };
    writes.push(Write::Put {
        item: pointer.to_item(user_id, purpose, expires_at),
        condition: None,
    });

    let code = if with_code {
        let secret = code_secret::get(state).await?;
        let code = generate_code(state.random.as_ref());
        let record = CodeRecord {
            code_hash: hash_code(secret.as_slice(), token.hash(), &code),
            token_hash: token.hash().to_owned(),
            user_id: user_id.to_owned(),
            attempts: 0,
            ttl: expires_at,
        };
        writes.push(Write::Put {
            item: record.to_item(email, purpose),
            condition: None,
        });
        Some(code)
    } else {
        None
    };

    state.table.transact(writes).await?;
    Ok(Issued {
        token,
        code,
        expires_at,
    })
}

/// The hash of a presented link token and what it was issued for, if it is a live token of this
/// purpose; `invalid_link` otherwise. Spends nothing.
async fn find_live_link(
    state: &AppState,
    purpose: Purpose,
    secret: &str,
) -> Result<(String, Redeemed)> {
    let secret = secret.trim();
    if !looks_like_token(secret) {
        return Err(TokenError::InvalidLink);
    }
    let token_hash = hash_token(secret);
    let item = state
        .table
        .get(&keys::one_time_token(&token_hash))
        .await?
        .ok_or(TokenError::InvalidLink)?;
    let redeemed = live_token(state, purpose, item).ok_or(TokenError::InvalidLink)?;
    Ok((token_hash, redeemed))
}

/// What a link's token was issued for, without spending it (so a request that fails for another
/// reason, a weak new password say, leaves the link usable). `redeem_link` must follow.
pub async fn peek_link(state: &AppState, purpose: Purpose, secret: &str) -> Result<Redeemed> {
    let (token_hash, redeemed) = find_live_link(state, purpose, secret).await?;
    let current = state
        .table
        .get(&CurrentToken::key(&redeemed.user_id, purpose))
        .await?
        .and_then(CurrentToken::from_item)
        .is_some_and(|pointer| pointer.token_hash == token_hash);
    if !current {
        return Err(TokenError::InvalidLink);
    }
    Ok(redeemed)
}

/// Redeem a token presented in a link. Fails with `invalid_link` unless the token exists, is of
/// this purpose, is unexpired and is still the user's current one; succeeds at most once.
pub async fn redeem_link(state: &AppState, purpose: Purpose, secret: &str) -> Result<Redeemed> {
    let (token_hash, redeemed) = find_live_link(state, purpose, secret).await?;
    let writes = consume_writes(&token_hash, purpose, &redeemed.user_id);
    match state.table.transact(writes).await {
        Ok(()) => {}
        Err(StoreError::ConditionFailed) => return Err(TokenError::InvalidLink),
        Err(error) => return Err(error.into()),
    }
    if purpose == Purpose::MagicLink {
        // The link was used; its code must not outlive it. Best effort: the code is dead anyway
        // because redeeming it needs the token item just deleted.
        let key = CodeRecord::key(&redeemed.email, purpose);
        let _ = state
            .table
            .delete(&key, Some(CodeRecord::of_token(&token_hash)))
            .await;
    }
    Ok(redeemed)
}

/// Redeem the code of the latest magic link mailed to `email`. Each try is counted before the
/// comparison, so parallel guesses cannot exceed the limit: after five wrong codes the code is
/// void and even the right one fails.
pub async fn redeem_code(
    state: &AppState,
    purpose: Purpose,
    email: &str,
    code: &str,
) -> Result<Redeemed> {
    let key = CodeRecord::key(email, purpose);
    let record = state
        .table
        .get(&key)
        .await?
        .and_then(CodeRecord::from_item)
        .ok_or(TokenError::InvalidCode)?;
    if record.ttl <= state.clock.unix() {
        return Err(TokenError::InvalidCode);
    }
    let attempts = state
        .table
        .add(&key, CodeRecord::ATTEMPTS, 1, Some(record.ttl))
        .await?;
    if attempts > MAX_CODE_ATTEMPTS {
        return Err(TokenError::InvalidCode);
    }
    let secret = code_secret::get(state).await?;
    if !code_matches(
        secret.as_slice(),
        &record.code_hash,
        &record.token_hash,
        code,
    ) {
        if attempts >= MAX_CODE_ATTEMPTS {
            // Void the code at once; the count above already refuses any later try.
            let _ = state
                .table
                .delete(&key, Some(CodeRecord::is_code(&record.code_hash)))
                .await;
        }
        return Err(TokenError::InvalidCode);
    }
    let token_item = state
        .table
        .get(&keys::one_time_token(&record.token_hash))
        .await?
        .ok_or(TokenError::InvalidCode)?;
    let redeemed = live_token(state, purpose, token_item).ok_or(TokenError::InvalidCode)?;
    let mut writes = consume_writes(&record.token_hash, purpose, &redeemed.user_id);
    writes.push(Write::Delete {
        key,
        condition: Some(CodeRecord::is_code(&record.code_hash)),
    });
    match state.table.transact(writes).await {
        Ok(()) => Ok(redeemed),
        Err(StoreError::ConditionFailed) => Err(TokenError::InvalidCode),
        Err(error) => Err(error.into()),
    }
}

/// The token item read as a live token of `purpose`, or `None`.
fn live_token(state: &AppState, purpose: Purpose, item: crate::ports::Item) -> Option<Redeemed> {
    let record = TokenRecord::from_item(item)?;
    if !record.is_live_for(purpose, state.clock.unix()) {
        return None;
    }
    Some(Redeemed {
        user_id: record.user_id,
        email: record.email,
        redirect: record.redirect,
    })
}

/// Delete the token and the user's pointer to it, each only if still there and current.
fn consume_writes(token_hash: &str, purpose: Purpose, user_id: &UserId) -> Vec<Write> {
    vec![
        Write::Delete {
            key: keys::one_time_token(token_hash),
            condition: Some(Condition::Exists),
        },
        Write::Delete {
            key: CurrentToken::key(user_id, purpose),
            condition: Some(CurrentToken::names(token_hash)),
        },
    ]
}
