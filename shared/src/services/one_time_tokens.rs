//! Emailed one-time tokens over the table: issue (voiding the user's previous token of the same
//! purpose), redeem by link, redeem a magic link's code by email. Every redemption is a
//! conditional delete in one transaction, so a token works exactly once even when twenty requests
//! race for it. Keys and rules are in `domain::one_time_token`.

use serde_json::{Value, json};

use crate::domain::one_time_token::{
    MAX_CODE_ATTEMPTS, OneTimeToken, Purpose, code_key, code_matches, current_token_key,
    generate_code, hash_code, hash_token, looks_like_token, normalize_email, token_key,
};
use crate::ports::{Condition, Item, StoreError, Write};
use crate::services::code_secret;
use crate::{AppState, Error, Result};

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
    pub user_id: String,
    /// The address the token was mailed to, as given.
    pub email: String,
    /// The allow-listed redirect stored with the token, if any.
    pub redirect: Option<String>,
}

/// The one answer for every unusable token: unknown, used, voided, expired or of another purpose
/// look the same from outside.
pub fn invalid_link() -> Error {
    Error::new(
        http::StatusCode::BAD_REQUEST,
        "Invalid token",
        "invalid_token",
        "This link or code is invalid or has expired",
    )
}

/// The one answer for a wrong, spent or voided code.
pub fn invalid_code() -> Error {
    Error::new(
        http::StatusCode::UNAUTHORIZED,
        "Invalid code",
        "invalid_code",
        "The code is invalid or has expired",
    )
}

/// Issue a token of `purpose` for the user, replacing (and so voiding) the previous one. With
/// `with_code`, a 6-digit code tied to the token is filed under the address.
pub async fn issue(
    state: &AppState,
    purpose: Purpose,
    user_id: &str,
    email: &str,
    redirect: Option<&str>,
    with_code: bool,
) -> Result<Issued> {
    let now = state.clock.unix();
    let expires_at = now + state.config.email_token_ttl.as_secs() as i64;
    let token = OneTimeToken::generate(state.random.as_ref());
    let pointer_key = current_token_key(user_id, purpose);

    let mut writes = Vec::with_capacity(4);
    // Drop the previous token's item now rather than waiting for its TTL; the pointer alone
    // already makes it unusable.
    if let Some(previous) = state.table.get(&pointer_key).await?
        && let Some(previous_hash) = previous.get("token_hash").and_then(Value::as_str)
        && previous_hash != token.hash()
    {
        writes.push(Write::Delete {
            key: token_key(previous_hash),
            condition: None,
        });
    }

    let mut token_item = token_key(token.hash()).item();
    extend(
        &mut token_item,
        json!({
            "purpose": purpose.as_str(),
            "user_id": user_id,
            "email": email,
            "expires_at": expires_at,
            "ttl": expires_at,
        }),
    );
    if let Some(redirect) = redirect {
        token_item.insert("redirect".into(), Value::from(redirect));
    }
    writes.push(Write::Put {
        item: token_item,
        condition: Some(Condition::NotExists),
    });

    let mut pointer = pointer_key.item();
    extend(
        &mut pointer,
        json!({ "token_hash": token.hash(), "ttl": expires_at }),
    );
    writes.push(Write::Put {
        item: pointer,
        condition: None,
    });

    let code = if with_code {
        let secret = code_secret::get(state).await?;
        let code = generate_code(state.random.as_ref());
        let mut code_item = code_key(&normalize_email(email), purpose).item();
        extend(
            &mut code_item,
            json!({
                "code_hash": hash_code(secret.as_slice(), token.hash(), &code),
                "token_hash": token.hash(),
                "user_id": user_id,
                "attempts": 0,
                "ttl": expires_at,
            }),
        );
        writes.push(Write::Put {
            item: code_item,
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
        return Err(invalid_link());
    }
    let token_hash = hash_token(secret);
    let item = state
        .table
        .get(&token_key(&token_hash))
        .await?
        .ok_or_else(invalid_link)?;
    let redeemed = live_token(state, purpose, &item).ok_or_else(invalid_link)?;
    Ok((token_hash, redeemed))
}

/// What a link's token was issued for, without spending it (so a request that fails for another
/// reason, a weak new password say, leaves the link usable). `redeem_link` must follow.
pub async fn peek_link(state: &AppState, purpose: Purpose, secret: &str) -> Result<Redeemed> {
    let (token_hash, redeemed) = find_live_link(state, purpose, secret).await?;
    let pointer = state
        .table
        .get(&current_token_key(&redeemed.user_id, purpose))
        .await?;
    let current = pointer
        .as_ref()
        .and_then(|item| item.get("token_hash"))
        .and_then(Value::as_str)
        == Some(token_hash.as_str());
    if !current {
        return Err(invalid_link());
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
        Err(StoreError::ConditionFailed) => return Err(invalid_link()),
        Err(error) => return Err(error.into()),
    }
    if purpose == Purpose::MagicLink {
        // The link was used; its code must not outlive it. Best effort: the code is dead anyway
        // because redeeming it needs the token item just deleted.
        let key = code_key(&normalize_email(&redeemed.email), purpose);
        let _ = state
            .table
            .delete(
                &key,
                Some(Condition::Equals("token_hash".into(), json!(token_hash))),
            )
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
    let key = code_key(&normalize_email(email), purpose);
    let item = state.table.get(&key).await?.ok_or_else(invalid_code)?;
    let (Some(code_hash), Some(token_hash), Some(ttl)) = (
        item.get("code_hash").and_then(Value::as_str),
        item.get("token_hash").and_then(Value::as_str),
        item.get("ttl").and_then(Value::as_i64),
    ) else {
        return Err(invalid_code());
    };
    if ttl <= state.clock.unix() {
        return Err(invalid_code());
    }
    let attempts = state.table.add(&key, "attempts", 1, Some(ttl)).await?;
    if attempts > MAX_CODE_ATTEMPTS {
        return Err(invalid_code());
    }
    let secret = code_secret::get(state).await?;
    if !code_matches(secret.as_slice(), code_hash, token_hash, code) {
        if attempts >= MAX_CODE_ATTEMPTS {
            // Void the code at once; the count above already refuses any later try.
            let _ = state
                .table
                .delete(
                    &key,
                    Some(Condition::Equals("code_hash".into(), json!(code_hash))),
                )
                .await;
        }
        return Err(invalid_code());
    }
    let token_item = state
        .table
        .get(&token_key(token_hash))
        .await?
        .ok_or_else(invalid_code)?;
    let redeemed = live_token(state, purpose, &token_item).ok_or_else(invalid_code)?;
    let mut writes = consume_writes(token_hash, purpose, &redeemed.user_id);
    writes.push(Write::Delete {
        key,
        condition: Some(Condition::Equals("code_hash".into(), json!(code_hash))),
    });
    match state.table.transact(writes).await {
        Ok(()) => Ok(redeemed),
        Err(StoreError::ConditionFailed) => Err(invalid_code()),
        Err(error) => Err(error.into()),
    }
}

/// The token item read as a live token of `purpose`, or `None`.
fn live_token(state: &AppState, purpose: Purpose, item: &Item) -> Option<Redeemed> {
    let of_purpose = item.get("purpose").and_then(Value::as_str) == Some(purpose.as_str());
    let expires_at = item.get("expires_at").and_then(Value::as_i64)?;
    if !of_purpose || expires_at <= state.clock.unix() {
        return None;
    }
    Some(Redeemed {
        user_id: item.get("user_id")?.as_str()?.to_owned(),
        email: item.get("email")?.as_str()?.to_owned(),
        redirect: item
            .get("redirect")
            .and_then(Value::as_str)
            .map(str::to_owned),
    })
}

/// Delete the token and the user's pointer to it, each only if still there and current.
fn consume_writes(token_hash: &str, purpose: Purpose, user_id: &str) -> Vec<Write> {
    vec![
        Write::Delete {
            key: token_key(token_hash),
            condition: Some(Condition::Exists),
        },
        Write::Delete {
            key: current_token_key(user_id, purpose),
            condition: Some(Condition::Equals("token_hash".into(), json!(token_hash))),
        },
    ]
}

fn extend(item: &mut Item, values: Value) {
    if let Value::Object(values) = values {
        item.extend(values);
    }
}
