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

    /// A mailer's check of its recipient: the rule sign-up applied, so what one accepts the other
    /// can send, and what it refuses no mailer is handed.
    pub fn recipient(raw: &str) -> std::result::Result<Self, crate::ports::MailError> {
        let given = raw.trim();
        if is_valid(given) {
            Ok(Self {
                given: given.to_owned(),
                normalized: given.to_lowercase(),
            })
        } else {
            Err(crate::ports::MailError(format!(
                "the recipient {given:?} is not an address we can mail"
            )))
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

/// Characters of an RFC 5322 `atext` besides ASCII letters and digits: what an unquoted local
/// part may hold.
const ATEXT_SYMBOLS: &str = "!#$%&'*+-/=?^_`{|}~";

/// An address every mailer we have can send to: SES (which speaks no SMTPUTF8 and wants ASCII
/// domains) and the outbox's RFC 5322 writer. The local part is a dot-atom of ASCII `atext` (no
/// quoted strings, comments, angle brackets, commas or semicolons, which would make one field a
/// list of recipients or a display name); the domain is dotted ASCII labels of letters, digits
/// and hyphens (an international domain in its `xn--` form). So nothing invisible or
/// direction-changing (bidi controls, zero-width characters) and no control character gets in.
/// The real test of an address is still the verification email.
fn is_valid(address: &str) -> bool {
    if address.len() > MAX_LENGTH || !address.is_ascii() {
        return false;
    }
    let Some((local, domain)) = address.rsplit_once('@') else {
        return false;
    };
    if local.is_empty() || local.len() > MAX_LOCAL_LENGTH {
        return false;
    }
    let local_is_dot_atom = local.split('.').all(|atom| {
        !atom.is_empty()
            && atom
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ATEXT_SYMBOLS.contains(c))
    });
    let labels: Vec<&str> = domain.split('.').collect();
    local_is_dot_atom
        && labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
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
            // What a mailer cannot send to, or reads as something else (issue 17, item 7).
            "\"a,b\"@example.com",
            "\"quoted\"@example.com",
            "<a>@example.com",
            "x;y@example.com",
            "a,b@example.com",
            "a(comment)@example.com",
            "a:b@example.com",
            "a\\b@example.com",
            "[a]@example.com",
            ".a@example.com",
            "a.@example.com",
            "a..b@example.com",
            "a\u{202E}b@example.com",
            "a\u{202A}b@example.com",
            "a\u{2066}b@example.com",
            "a\u{2069}b@example.com",
            "a\u{200B}b@example.com",
            "a\u{200D}b@example.com",
            "a\u{FEFF}b@example.com",
            "a@exa\u{200B}mple.com",
            "a\u{0}b@example.com",
            "a\u{7}b@example.com",
            "a\u{7F}b@example.com",
            "a\rb@example.com",
            "ad\u{E9}le@example.com",
            "a@b\u{FC}cher.example",
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
            "o'brien@example.ie",
            "a!#$%&'*+-/=?^_`{|}~z@example.com",
            "first.middle.last@example.co.uk",
        ] {
            assert!(EmailAddress::parse(good).is_ok(), "{good}");
        }
    }
}
