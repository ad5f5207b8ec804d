//! The password policy: long enough, not absurdly long, and hard to guess (zxcvbn score 3 or
//! more, counting the user's own email and name as known to the attacker). A `Password` is a
//! secret: it never prints and is dropped zeroized.

use secrecy::{ExposeSecret, SecretString};

use crate::Error;

/// The longest password accepted, in bytes: far beyond any passphrase, short enough that hashing
/// and strength estimation stay cheap.
pub const MAX_PASSWORD_BYTES: usize = 256;

/// The lowest zxcvbn score accepted ("safely unguessable: moderate protection from offline
/// slow-hash scenario").
pub const MIN_STRENGTH_SCORE: u8 = 3;

/// Why a new password fails the policy; the reason is safe to show (`400 weak_password`).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct WeakPassword(pub String);

impl From<WeakPassword> for Error {
    fn from(error: WeakPassword) -> Self {
        Error::weak_password(error.0)
    }
}

/// A password as received from a client.
pub struct Password(SecretString);

impl Password {
    /// A password to check against a stored hash (sign-in, re-authentication): no policy, any
    /// password someone once set must still work.
    pub fn presented(raw: String) -> Self {
        Self(SecretString::from(raw))
    }

    /// A new password, checked against the policy; `400 weak_password` with the reason when it
    /// fails. `user_inputs` are words an attacker would try first (email, name).
    pub fn new_checked(
        raw: String,
        min_length: usize,
        user_inputs: &[&str],
    ) -> Result<Self, WeakPassword> {
        check_policy(&raw, min_length, user_inputs)?;
        Ok(Self(SecretString::from(raw)))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(**redacted**)")
    }
}

fn check_policy(
    password: &str,
    min_length: usize,
    user_inputs: &[&str],
) -> Result<(), WeakPassword> {
    let length = password.chars().count();
    if length < min_length {
        return Err(WeakPassword(format!(
            "The password must be at least {min_length} characters long"
        )));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(WeakPassword(format!(
            "The password must be at most {MAX_PASSWORD_BYTES} bytes long"
        )));
    }
    // zxcvbn matches user inputs as whole dictionary words; give it each input lower-cased,
    // its words (the email's local part, each name), and the words run together.
    let mut inputs: Vec<String> = Vec::new();
    for input in user_inputs {
        let input = input.to_lowercase();
        let words: Vec<&str> = input
            .split(|c: char| !c.is_alphanumeric())
            .filter(|part| part.len() >= 3)
            .collect();
        inputs.push(words.concat());
        inputs.extend(words.iter().map(|w| (*w).to_owned()));
        inputs.push(input.clone());
    }
    let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
    let entropy = zxcvbn::zxcvbn(password, &inputs);
    if (entropy.score() as u8) < MIN_STRENGTH_SCORE {
        let mut reason = String::from("The password is too easy to guess");
        if let Some(feedback) = entropy.feedback() {
            if let Some(warning) = feedback.warning() {
                reason.push_str(&format!(": {warning}"));
            }
            let suggestions: Vec<String> = feedback
                .suggestions()
                .iter()
                .map(|s| s.to_string())
                .collect();
            if !suggestions.is_empty() {
                reason.push_str(&format!(". {}", suggestions.join(" ")));
            }
        }
        return Err(WeakPassword(reason));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(password: &str) -> Result<Password, WeakPassword> {
        Password::new_checked(
            password.to_owned(),
            10,
            &["ada@example.com", "Ada Lovelace"],
        )
    }

    #[test]
    fn a_short_password_is_weak_and_says_how_long_it_must_be() {
        let error = check("Xq7#p").unwrap_err();
        assert!(error.0.contains("at least 10"), "{}", error.0);
    }

    #[test]
    fn an_overlong_password_is_refused() {
        let error = check(&"correct horse battery staple ".repeat(10)).unwrap_err();
        assert!(error.0.contains("at most 256"), "{}", error.0);
    }

    #[test]
    fn a_common_password_is_weak_with_a_reason() {
        let error = check("password123").unwrap_err();
        assert!(error.0.starts_with("The password is too easy to guess"));
    }

    #[test]
    fn a_password_made_of_the_users_own_name_and_email_is_weak() {
        assert!(check("adalovelace1").is_err());
        assert!(check("AdaLovelaceExample").is_err());
    }

    #[test]
    fn a_long_random_passphrase_passes() {
        assert!(check("velvet-orbit-Tangerine-42-quietly").is_ok());
    }

    #[test]
    fn a_password_never_prints() {
        let password = Password::presented("hunter2-secret".into());
        assert!(!format!("{password:?}").contains("hunter2"));
    }
}
