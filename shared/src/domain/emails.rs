//! Email addresses: trimmed, checked once, stored as given and compared by a normalized key
//! (lower case), so there is one account per address whatever its case.

use std::fmt;

use crate::Error;

/// The longest address SMTP allows (RFC 5321: 254 octets in a path, 64 in the local part).
const MAX_LENGTH: usize = 254;
const MAX_LOCAL_LENGTH: usize = 64;

/// A client's input that is not an email address; names the field (`400`).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: is not a valid email address")]
pub struct InvalidEmail {
    pub field: String,
}

impl From<InvalidEmail> for Error {
    fn from(error: InvalidEmail) -> Self {
        Error::invalid_field(&error.field, "is not a valid email address")
    }
}

/// A syntactically valid email address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmailAddress {
    given: String,
    normalized: String,
}

impl EmailAddress {
    /// Parse a client's input for the field `email`; a 400 naming the field when it is not an
    /// address.
    pub fn parse(raw: &str) -> Result<Self, InvalidEmail> {
        Self::parse_field(raw, "email")
    }

    /// Parse a client's input for a named field.
    pub fn parse_field(raw: &str, field: &str) -> Result<Self, InvalidEmail> {
        let given = raw.trim();
        if is_valid(given) {
            Ok(Self {
                given: given.to_owned(),
                normalized: given.to_lowercase(),
            })
        } else {
            Err(InvalidEmail {
                field: field.to_owned(),
            })
        }
    }

    /// The address as the user typed it (trimmed).
    pub fn as_str(&self) -> &str {
        &self.given
    }

    /// The key that decides uniqueness and lookups.
    pub fn normalized(&self) -> &str {
        &self.normalized
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.given)
    }
}

/// Deliberately permissive (the real test is the verification email): one `@`, a non-empty local
/// part, a dotted domain of letters, digits and hyphens, no spaces or control characters.
fn is_valid(address: &str) -> bool {
    if address.len() > MAX_LENGTH || address.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let Some((local, domain)) = address.rsplit_once('@') else {
        return false;
    };
    if local.is_empty() || local.len() > MAX_LOCAL_LENGTH || local.contains('@') {
        return false;
    }
    let labels: Vec<&str> = domain.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_trimmed_kept_as_given_and_normalized_to_lower_case() {
        let email = EmailAddress::parse("  Ada.Lovelace@Example.COM ").unwrap();
        assert_eq!(email.as_str(), "Ada.Lovelace@Example.COM");
        assert_eq!(email.normalized(), "ada.lovelace@example.com");
    }

    #[test]
    fn malformed_addresses_are_refused_naming_the_field() {
        for bad in [
            "",
            "plain",
            "@example.com",
            "a@",
            "a@example",
            "a b@example.com",
            "a@exa mple.com",
            "a@@example.com",
            "a@-example.com",
            "a@example..com",
        ] {
            let error = EmailAddress::parse(bad).unwrap_err();
            assert_eq!(error.field, "email", "{bad}");
        }
    }

    #[test]
    fn ordinary_addresses_are_accepted() {
        for good in [
            "a@b.co",
            "first.last+tag@sub.example.org",
            "x@xn--bcher-kva.example",
        ] {
            assert!(EmailAddress::parse(good).is_ok(), "{good}");
        }
    }
}
