//! Which API method a request reaches: the People routes each product registers, matched on the
//! raw path the way ASP.NET routing does (case-insensitive literals, decoded route values).

use axum::http::{Method, StatusCode};

use super::{
    docspace,
    state::Portal,
    wire::{self, Incoming, Reply},
    workspace,
};
use crate::config::Product;

/// What a contacts request does to the stored list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ContactsChange {
    /// `PUT …/contacts`: clear, then add the given ones (despite the "merge" in the docs).
    Replace,
    /// `POST …/contacts`: the same, answered with 201.
    Set,
    /// `DELETE …/contacts`: remove by type.
    Remove,
}

/// A People API method the simulator implements; the string is the decoded `{userid}` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// `GET /people/@self`.
    Me,
    /// `GET /people/{x}`.
    Profile(String),
    /// `PUT /people/{x}`.
    UpdateProfile(String),
    /// `PUT|POST|DELETE /people/{x}/contacts` (Workspace only).
    Contacts(ContactsChange, String),
}

impl Endpoint {
    /// The method this request reaches on `product`, if any.
    pub(crate) fn resolve(product: Product, method: &Method, raw_path: &str) -> Option<Endpoint> {
        let mut segments: Vec<String> = raw_path.split('/').map(str::to_owned).collect();
        if segments.first().map(String::as_str) != Some("") {
            return None;
        }
        segments.remove(0);
        // why: ASP.NET routing ignores one trailing slash.
        if segments.len() > 1 && segments.last().map(String::as_str) == Some("") {
            segments.pop();
        }
        if product == Product::Workspace {
            // why: Workspace registers every route a second time with a `.json` suffix.
            if let Some(last) = segments.last_mut()
                && last.len() > 5
                && last.to_ascii_lowercase().ends_with(".json")
            {
                last.truncate(last.len() - 5);
            }
        }
        let [api, version, people, rest @ ..] = segments.as_slice() else {
            return None;
        };
        if !api.eq_ignore_ascii_case("api")
            || version != "2.0"
            || !people.eq_ignore_ascii_case("people")
        {
            return None;
        }
        match (rest, method) {
            ([user], &Method::GET) if user.eq_ignore_ascii_case("@self") => Some(Endpoint::Me),
            ([user], &Method::GET) if !user.is_empty() => {
                Some(Endpoint::Profile(percent_decode(user)))
            }
            ([user], &Method::PUT) if !user.is_empty() => {
                Some(Endpoint::UpdateProfile(percent_decode(user)))
            }
            ([user, contacts], method)
                if product == Product::Workspace
                    && !user.is_empty()
                    && contacts.eq_ignore_ascii_case("contacts") =>
            {
                let change = match *method {
                    Method::PUT => ContactsChange::Replace,
                    Method::POST => ContactsChange::Set,
                    Method::DELETE => ContactsChange::Remove,
                    _ => return None,
                };
                Some(Endpoint::Contacts(change, percent_decode(user)))
            }
            _ => None,
        }
    }
}

/// Routes a request to the product's handler, or answers the product's 404.
pub(crate) fn dispatch(product: Product, portal: &mut Portal, incoming: &Incoming) -> Reply {
    // why: routing runs before authorization in both stacks, so an unknown URL is a 404 even
    // without credentials.
    match (
        Endpoint::resolve(product, &incoming.method, &incoming.raw_path),
        product,
    ) {
        (Some(endpoint), Product::Workspace) => workspace::handle(portal, endpoint, incoming),
        (Some(endpoint), Product::Docspace) => docspace::handle(portal, endpoint, incoming),
        (None, Product::Workspace) => wire::workspace_no_route(),
        (None, Product::Docspace) => Reply::empty(StatusCode::NOT_FOUND),
    }
}

/// Decodes `%XX` escapes; malformed escapes stay as they are, invalid UTF-8 becomes U+FFFD.
fn percent_decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let escaped = (bytes[index] == b'%')
            .then(|| segment.get(index + 1..index + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                decoded.push(byte);
                index += 3;
            }
            None => {
                decoded.push(bytes[index]);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(product: Product, method: Method, path: &str) -> Option<Endpoint> {
        Endpoint::resolve(product, &method, path)
    }

    #[test]
    fn self_is_a_literal_route_only_for_get() {
        assert_eq!(
            resolve(Product::Docspace, Method::GET, "/api/2.0/people/@self"),
            Some(Endpoint::Me)
        );
        assert_eq!(
            resolve(Product::Docspace, Method::PUT, "/api/2.0/people/@self"),
            Some(Endpoint::UpdateProfile("@self".to_owned()))
        );
    }

    #[test]
    fn route_values_are_percent_decoded() {
        assert_eq!(
            resolve(Product::Workspace, Method::GET, "/api/2.0/people/..%2Fx"),
            Some(Endpoint::Profile("../x".to_owned()))
        );
    }

    #[test]
    fn contacts_routes_exist_only_on_workspace() {
        let path = "/api/2.0/people/jane.doe/contacts";
        assert_eq!(
            resolve(Product::Workspace, Method::DELETE, path),
            Some(Endpoint::Contacts(
                ContactsChange::Remove,
                "jane.doe".to_owned()
            ))
        );
        assert_eq!(resolve(Product::Docspace, Method::PUT, path), None);
    }

    #[test]
    fn workspace_accepts_the_json_suffix() {
        assert_eq!(
            resolve(
                Product::Workspace,
                Method::GET,
                "/api/2.0/people/@self.json"
            ),
            Some(Endpoint::Me)
        );
        assert_eq!(
            resolve(Product::Docspace, Method::GET, "/api/2.0/people/@self.json"),
            Some(Endpoint::Profile("@self.json".to_owned()))
        );
    }
}
