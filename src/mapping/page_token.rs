//! ListUsers page tokens (AIP-158): opaque to callers, they carry where the
//! next page starts and are sealed with an HMAC-SHA256 over that offset and
//! the filters they were issued for. A token the gateway did not issue, or
//! one sent with other filters, does not verify. Tokens hold no state and no
//! rights: any replica that shares the key (`--page-token-key`) accepts
//! another's, and every page is read with the caller's own credential.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::hmac;

use crate::domain::{ListFilters, StatusFilter};

/// The layout of a token, so that a later layout can tell its own.
const VERSION: u8 = 1;
/// What the HMAC covers first, so a tag made for anything else never verifies.
const CONTEXT: &[u8] = b"onlyoffice.people.v1.ListUsers page token\0";
/// version, offset, tag.
const TOKEN_BYTES: usize = 1 + 4 + 32;
/// Longest token text read; a longer one is refused before decoding.
const MAX_TOKEN_CHARS: usize = 64;
/// The key used when none is configured: tokens still carry their filters
/// and catch mistakes, but anyone who reads this source can make one.
const BUILT_IN_KEY: &[u8] = b"people-gateway page tokens: set --page-token-key";

/// Issues and checks page tokens with one key.
#[derive(Clone)]
pub struct PageTokens {
    key: hmac::Key,
}

impl std::fmt::Debug for PageTokens {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("PageTokens")
    }
}

impl Default for PageTokens {
    fn default() -> Self {
        Self::new(BUILT_IN_KEY)
    }
}

/// Why a page token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a token of this gateway, or issued for other filters.
    #[error("was not issued by this gateway for these filters; start again without it")]
    NotIssued,
}

impl PageTokens {
    /// Tokens sealed with `key` (every replica must share it).
    pub fn new(key: &[u8]) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, key),
        }
    }

    /// The token of the page that starts at `offset` under `filters`.
    pub fn issue(&self, offset: u32, filters: &ListFilters) -> String {
        let tag = hmac::sign(&self.key, &sealed(offset, filters));
        let mut token = Vec::with_capacity(TOKEN_BYTES);
        token.push(VERSION);
        token.extend_from_slice(&offset.to_be_bytes());
        token.extend_from_slice(tag.as_ref());
        URL_SAFE_NO_PAD.encode(token)
    }

    /// Where the page of `token` starts, if this gateway issued it for `filters`.
    pub fn redeem(&self, token: &str, filters: &ListFilters) -> Result<u32, TokenError> {
        if token.len() > MAX_TOKEN_CHARS {
            return Err(TokenError::NotIssued);
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(token)
            .map_err(|_| TokenError::NotIssued)?;
        let [version, a, b, c, d, tag @ ..] = bytes.as_slice() else {
            return Err(TokenError::NotIssued);
        };
        if *version != VERSION || bytes.len() != TOKEN_BYTES {
            return Err(TokenError::NotIssued);
        }
        let offset = u32::from_be_bytes([*a, *b, *c, *d]);
        hmac::verify(&self.key, &sealed(offset, filters), tag)
            .map_err(|_| TokenError::NotIssued)?;
        Ok(offset)
    }
}

/// What a token vouches for: its offset and every filter, unambiguously.
fn sealed(offset: u32, filters: &ListFilters) -> Vec<u8> {
    let ListFilters {
        query,
        status,
        guest,
        department,
    } = filters;
    let mut data = Vec::with_capacity(CONTEXT.len() + 64);
    data.extend_from_slice(CONTEXT);
    data.push(VERSION);
    data.extend_from_slice(&offset.to_be_bytes());
    data.push(match status {
        StatusFilter::Any => 0,
        StatusFilter::Active => 1,
        StatusFilter::Disabled => 2,
    });
    data.push(match guest {
        None => 0,
        Some(false) => 1,
        Some(true) => 2,
    });
    match department {
        None => data.push(0),
        Some(id) => {
            data.push(1);
            data.extend_from_slice(id.as_bytes());
        }
    }
    match query {
        None => data.push(0),
        Some(text) => {
            data.push(1);
            data.extend_from_slice(&(text.len() as u64).to_be_bytes());
            data.extend_from_slice(text.as_bytes());
        }
    }
    data
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    fn filters() -> ListFilters {
        ListFilters {
            query: Some("doe".into()),
            status: StatusFilter::Active,
            guest: Some(false),
            department: Some(Uuid::from_u128(42)),
        }
    }

    #[test]
    fn a_token_gives_back_its_offset_for_its_filters() {
        let tokens = PageTokens::default();
        let token = tokens.issue(40, &filters());
        assert!(token.len() <= MAX_TOKEN_CHARS);
        assert_eq!(tokens.redeem(&token, &filters()), Ok(40));
    }

    #[test]
    fn a_token_is_refused_with_any_other_filter() {
        let tokens = PageTokens::default();
        let token = tokens.issue(40, &filters());
        let others = [
            ListFilters {
                query: Some("do".into()),
                ..filters()
            },
            ListFilters {
                query: None,
                ..filters()
            },
            ListFilters {
                status: StatusFilter::Any,
                ..filters()
            },
            ListFilters {
                guest: None,
                ..filters()
            },
            ListFilters {
                department: None,
                ..filters()
            },
        ];
        for other in others {
            assert_eq!(
                tokens.redeem(&token, &other),
                Err(TokenError::NotIssued),
                "{other:?}"
            );
        }
    }

    #[test]
    fn a_changed_offset_another_key_or_garbage_is_refused() {
        let tokens = PageTokens::default();
        let token = tokens.issue(40, &filters());
        let mut bytes = URL_SAFE_NO_PAD.decode(&token).unwrap();
        bytes[4] = 0;
        let forged = URL_SAFE_NO_PAD.encode(&bytes);
        assert_eq!(
            tokens.redeem(&forged, &filters()),
            Err(TokenError::NotIssued)
        );
        let elsewhere = PageTokens::new(b"another replica's key");
        assert_eq!(
            elsewhere.redeem(&token, &filters()),
            Err(TokenError::NotIssued)
        );
        for garbage in ["", "x", "!!!", &"A".repeat(200), &token[..token.len() - 1]] {
            assert_eq!(
                tokens.redeem(garbage, &filters()),
                Err(TokenError::NotIssued)
            );
        }
    }
}
