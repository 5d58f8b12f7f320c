//! How a caller proves who it is to the portal; never shown in logs.

use std::fmt;

/// Far longer than any portal token or API key.
const MAX_CREDENTIAL_LEN: usize = 8 * 1024;

/// How the caller proves who they are to the portal.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum Credential {
    /// Sent as the portal's `Authorization` header, as given.
    Authorization(String),
    /// Sent as the portal's `asc_auth_key` cookie.
    CookieToken(String),
}

/// Why a credential was refused before reaching the portal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    /// Empty value.
    #[error("is empty")]
    Empty,
    /// Control characters could split or smuggle headers.
    #[error("contains control characters")]
    ControlCharacters,
    /// HTTP header values carry visible ASCII only.
    #[error("contains characters other than visible ASCII")]
    NotAscii,
    /// Far longer than any portal token.
    #[error("is too long")]
    TooLong,
    /// Cookie tokens end at `;`, so one would smuggle another cookie.
    #[error("contains ';'")]
    CookieSeparator,
    /// Binary, repeated, or a misspelt `asc_auth_key` cookie: the gateway
    /// cannot tell which credential the caller meant.
    #[error(
        "is in a form the gateway does not forward (binary or repeated authorization, or a cookie named other than exactly asc_auth_key)"
    )]
    UnusableForm,
    /// Cookies without an `asc_auth_key` of the exact form `asc_auth_key=<token>`.
    #[error(
        "is missing: the call sends cookies but no `asc_auth_key=<token>` among them \
         (a call with cookies acts only with its own)"
    )]
    NoAuthCookie,
}

impl Credential {
    /// An `Authorization` value to forward.
    pub fn authorization(value: &str) -> Result<Self, CredentialError> {
        check_credential(value)?;
        Ok(Self::Authorization(value.to_owned()))
    }

    /// An `asc_auth_key` token to forward as a cookie.
    pub fn cookie_token(value: &str) -> Result<Self, CredentialError> {
        check_credential(value)?;
        if value.contains(';') {
            return Err(CredentialError::CookieSeparator);
        }
        Ok(Self::CookieToken(value.to_owned()))
    }
}

fn check_credential(value: &str) -> Result<(), CredentialError> {
    if value.trim().is_empty() {
        return Err(CredentialError::Empty);
    }
    if value.len() > MAX_CREDENTIAL_LEN {
        return Err(CredentialError::TooLong);
    }
    if value.chars().any(char::is_control) {
        return Err(CredentialError::ControlCharacters);
    }
    if !value.is_ascii() {
        return Err(CredentialError::NotAscii);
    }
    Ok(())
}

/// Never shows the secret, so a credential can sit in any logged struct.
impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Authorization(_) => f.write_str("Credential::Authorization(<redacted>)"),
            Self::CookieToken(_) => f.write_str("Credential::CookieToken(<redacted>)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_refuse_control_characters_and_never_print() {
        assert_eq!(
            Credential::authorization("tok\r\nX-Evil: 1"),
            Err(CredentialError::ControlCharacters)
        );
        assert_eq!(
            Credential::cookie_token("a; other=b"),
            Err(CredentialError::CookieSeparator)
        );
        assert_eq!(
            Credential::authorization("tökén"),
            Err(CredentialError::NotAscii)
        );
        let credential = Credential::authorization("secret-token").unwrap();
        assert!(!format!("{credential:?}").contains("secret-token"));
    }
}
