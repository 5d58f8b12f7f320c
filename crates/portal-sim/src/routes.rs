//! Hands a request to the product's handler for the method it reaches (see `endpoint`), or
//! answers the product's 404; answers the anonymous build endpoint itself.

use axum::http::StatusCode;

use super::{
    docspace,
    endpoint::{Endpoint, Format, workspace_format},
    state::Portal,
    wire::{self, Incoming, Reply},
    workspace,
};
use crate::Product;

/// Routes a request to the product's handler, or answers the product's 404.
pub(crate) fn dispatch(product: Product, portal: &mut Portal, incoming: &Incoming) -> Reply {
    // why: routing runs before authorization in both stacks, so an unknown URL is a 404 even
    // without credentials.
    match product {
        Product::Workspace => {
            let (path, format) = workspace_format(&incoming.raw_path);
            let reply = match Endpoint::resolve(product, &incoming.method, path) {
                Some(Endpoint::BuildVersion) => build_version(portal, product, incoming),
                Some(endpoint) => workspace::handle(portal, endpoint, incoming),
                None => wire::workspace_no_route(),
            };
            match format {
                Format::Json => reply,
                Format::Xml => wire::as_workspace_xml(reply),
            }
        }
        Product::Docspace => match Endpoint::resolve(product, &incoming.method, &incoming.raw_path)
        {
            Some(Endpoint::BuildVersion) => build_version(portal, product, incoming),
            // why: the contacts controller is commented out from 3.2.1
            // (DS@v3.1.1-server:products/ASC.People/Server/Api/ContactsController.cs:49-118).
            Some(Endpoint::Contacts(..))
                if portal.docspace_release >= DOCSPACE_WITHOUT_CONTACTS =>
            {
                Reply::empty(StatusCode::NOT_FOUND)
            }
            Some(endpoint) => docspace::handle(portal, endpoint, incoming),
            None => Reply::empty(StatusCode::NOT_FOUND),
        },
    }
}

/// The first DocSpace release without the contacts routes.
const DOCSPACE_WITHOUT_CONTACTS: crate::Release = crate::Release::new(3, 2, 1);

/// `GetBuildVersions`, which needs no credential: DocSpace answers `docSpace`
/// (DS@v3.7.2-server:web/ASC.Web.Api/Api/Settings/VersionController.cs:50-60), Workspace
/// `communityServer` (CS@7c503dfb5:module/ASC.Api/ASC.Api.Settings/SettingsApi.cs:381-386).
fn build_version(portal: &Portal, product: Product, incoming: &Incoming) -> Reply {
    let reported = portal.reported_version.clone();
    match product {
        Product::Workspace => {
            let version =
                reported.unwrap_or_else(|| portal.workspace_reported_version().to_owned());
            wire::workspace_success(
                StatusCode::OK,
                &serde_json::json!({ "communityServer": version }),
            )
        }
        Product::Docspace => {
            let version = reported.unwrap_or_else(|| portal.docspace_release.to_string());
            wire::docspace_success(incoming, &serde_json::json!({ "docSpace": version }))
        }
    }
}
