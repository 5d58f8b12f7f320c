//! Which API method a request reaches: the People routes each product registers, matched on the
//! raw path the way ASP.NET routing does (case-insensitive literals, decoded route values).

use axum::http::Method;

use crate::Product;

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
    /// `GET /people/email?email=…`.
    FindByEmail,
    /// `GET /people/filter?…`: a page of the directory.
    Filter,
    /// `PUT /people/{x}`.
    UpdateProfile(String),
    /// `PUT|POST|DELETE /people/{x}/contacts` (Workspace, and DocSpace before 3.2.1).
    Contacts(ContactsChange, String),
    /// `PUT /people/status/{status}` (Workspace).
    Status(String),
    /// `GET /settings/version/build`, anonymous on both products.
    BuildVersion,
}

/// The response format a Workspace route suffix asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Json,
    Xml,
}

/// Workspace registers every route again as `{route}.{extension}` for `json`, `xml` and
/// `tml`, matched case-sensitively (CS@7c503dfb5:module/ASC.Api/ASC.Api/Impl/Routing/
/// ApiRouteRegistrator.cs:39-47, Impl/Constraints/ApiHttpMethodConstraint.cs:58-79); XML is
/// the JSON answer converted (Impl/Serializers/JsonNetSerializer.cs:66-99).
pub(crate) fn workspace_format(raw_path: &str) -> (&str, Format) {
    for (suffix, format) in [
        (".json", Format::Json),
        (".xml", Format::Xml),
        (".tml", Format::Xml),
    ] {
        if let Some(path) = raw_path.strip_suffix(suffix)
            && !path.ends_with('/')
        {
            return (path, format);
        }
    }
    (raw_path, Format::Json)
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
        let [api, version, area, rest @ ..] = segments.as_slice() else {
            return None;
        };
        if !api.eq_ignore_ascii_case("api") || version != "2.0" {
            return None;
        }
        if area.eq_ignore_ascii_case("settings") {
            return match (rest, method) {
                ([version, build], &Method::GET)
                    if version.eq_ignore_ascii_case("version")
                        && build.eq_ignore_ascii_case("build") =>
                {
                    Some(Endpoint::BuildVersion)
                }
                _ => None,
            };
        }
        if !area.eq_ignore_ascii_case("people") {
            return None;
        }
        match (rest, method) {
            ([user], &Method::GET) if user.eq_ignore_ascii_case("@self") => Some(Endpoint::Me),
            // why: literal routes win over `{userid}` in both products' routing.
            ([email], &Method::GET) if email.eq_ignore_ascii_case("email") => {
                Some(Endpoint::FindByEmail)
            }
            ([filter], &Method::GET) if filter.eq_ignore_ascii_case("filter") => {
                Some(Endpoint::Filter)
            }
            ([user], &Method::GET) if !user.is_empty() => {
                Some(Endpoint::Profile(percent_decode(user)))
            }
            ([user], &Method::PUT) if !user.is_empty() => {
                Some(Endpoint::UpdateProfile(percent_decode(user)))
            }
            ([status, value], &Method::PUT)
                if product == Product::Workspace && status.eq_ignore_ascii_case("status") =>
            {
                Some(Endpoint::Status(percent_decode(value)))
            }
            ([user, contacts], method)
                if !user.is_empty() && contacts.eq_ignore_ascii_case("contacts") =>
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
    fn email_and_filter_are_literal_get_routes_before_the_profile() {
        for product in [Product::Workspace, Product::Docspace] {
            assert_eq!(
                resolve(product, Method::GET, "/api/2.0/people/Email"),
                Some(Endpoint::FindByEmail)
            );
            assert_eq!(
                resolve(product, Method::GET, "/api/2.0/people/FILTER/"),
                Some(Endpoint::Filter)
            );
            assert_eq!(
                resolve(product, Method::PUT, "/api/2.0/people/filter"),
                Some(Endpoint::UpdateProfile("filter".to_owned()))
            );
        }
    }

    #[test]
    fn route_values_are_percent_decoded() {
        assert_eq!(
            resolve(Product::Workspace, Method::GET, "/api/2.0/people/..%2Fx"),
            Some(Endpoint::Profile("../x".to_owned()))
        );
    }

    #[test]
    fn contacts_routes_resolve_on_both_products() {
        let path = "/api/2.0/people/jane.doe/contacts";
        for product in [Product::Workspace, Product::Docspace] {
            assert_eq!(
                resolve(product, Method::DELETE, path),
                Some(Endpoint::Contacts(
                    ContactsChange::Remove,
                    "jane.doe".to_owned()
                ))
            );
        }
    }

    #[test]
    fn workspace_format_suffixes_are_case_sensitive() {
        assert_eq!(
            workspace_format("/api/2.0/people/@self.json"),
            ("/api/2.0/people/@self", Format::Json)
        );
        assert_eq!(
            workspace_format("/api/2.0/people/john.xml"),
            ("/api/2.0/people/john", Format::Xml)
        );
        assert_eq!(
            workspace_format("/api/2.0/people/john.tml"),
            ("/api/2.0/people/john", Format::Xml)
        );
        assert_eq!(
            workspace_format("/api/2.0/people/John.JSON"),
            ("/api/2.0/people/John.JSON", Format::Json)
        );
        assert_eq!(
            resolve(Product::Docspace, Method::GET, "/api/2.0/people/@self.json"),
            Some(Endpoint::Profile("@self.json".to_owned()))
        );
    }

    #[test]
    fn the_build_version_route_exists_on_both_products() {
        for product in [Product::Workspace, Product::Docspace] {
            assert_eq!(
                resolve(product, Method::GET, "/api/2.0/settings/version/build"),
                Some(Endpoint::BuildVersion)
            );
        }
    }
}
