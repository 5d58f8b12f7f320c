//! Who is calling: the token from the `asc_auth_key` cookie or the `Authorization` header, and
//! the stored user it belongs to.

use axum::http::{HeaderMap, header};

use super::state::{Portal, SimUser};

const AUTH_COOKIE: &str = "asc_auth_key";

/// Why a request was not authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rejected {
    /// Some token was presented (DocSpace then clears the cookie).
    pub(crate) token_presented: bool,
}

/// The caller, if the request carries the token of an active user.
pub(crate) fn authenticate<'a>(
    portal: &'a Portal,
    headers: &HeaderMap,
) -> Result<&'a SimUser, Rejected> {
    let Some(token) = presented_token(headers) else {
        return Err(Rejected {
            token_presented: false,
        });
    };
    portal
        .user_by_token(&token)
        // why: both portals refuse sessions of terminated users.
        .filter(|user| user.is_active())
        .ok_or(Rejected {
            token_presented: true,
        })
}

/// Whether the request presents `token`, as the portal reads a token.
pub(crate) fn presents(headers: &HeaderMap, token: &str) -> bool {
    presented_token(headers).as_deref() == Some(token)
}

/// The cookie wins; without it the `Authorization` header counts, either as the raw token or as
/// `Bearer <token>` (both products accept both).
fn presented_token(headers: &HeaderMap) -> Option<String> {
    let from_cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, value)| *name == AUTH_COOKIE && !value.is_empty())
        .map(|(_, value)| value.to_owned());
    if from_cookie.is_some() {
        return from_cookie;
    }
    let header = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let token = header.strip_prefix("Bearer ").unwrap_or(header).trim();
    (!token.is_empty()).then(|| token.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(header::HeaderName, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(name.clone(), HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn the_cookie_wins_over_the_header() {
        let map = headers(&[
            (header::COOKIE, "theme=dark; asc_auth_key=from-cookie"),
            (header::AUTHORIZATION, "from-header"),
        ]);
        assert_eq!(presented_token(&map).as_deref(), Some("from-cookie"));
    }

    #[test]
    fn raw_and_bearer_headers_both_carry_the_token() {
        let raw = headers(&[(header::AUTHORIZATION, "abc")]);
        let bearer = headers(&[(header::AUTHORIZATION, "Bearer abc")]);
        assert_eq!(presented_token(&raw).as_deref(), Some("abc"));
        assert_eq!(presented_token(&bearer).as_deref(), Some("abc"));
    }
}
