//! Which portal: the product and its release.

use std::fmt;

/// Which ONLYOFFICE product the portal runs; they differ in routes and rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Product {
    /// ONLYOFFICE Workspace (CommunityServer).
    Workspace,
    /// ONLYOFFICE DocSpace 3.1.1 or later (earlier releases get the strictest rules).
    Docspace,
}

impl Product {
    /// The product's own name, for messages to people.
    pub const fn display_name(self) -> &'static str {
        match self {
            Product::Workspace => "Workspace",
            Product::Docspace => "DocSpace",
        }
    }
}

/// What `--portal-product` says: a product, or detect it from the portal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProductChoice {
    /// ONLYOFFICE Workspace (CommunityServer).
    Workspace,
    /// ONLYOFFICE DocSpace 3.1.1 or later (earlier releases get the strictest rules).
    Docspace,
    /// Tell them apart by the portal's answer to the first call.
    Auto,
}

impl ProductChoice {
    /// The product, when it was named.
    pub fn known(self) -> Option<Product> {
        match self {
            ProductChoice::Workspace => Some(Product::Workspace),
            ProductChoice::Docspace => Some(Product::Docspace),
            ProductChoice::Auto => None,
        }
    }
}

impl From<Product> for ProductChoice {
    fn from(product: Product) -> Self {
        match product {
            Product::Workspace => ProductChoice::Workspace,
            Product::Docspace => ProductChoice::Docspace,
        }
    }
}

/// The product's own name (`Workspace`, `DocSpace`): the one place messages take it from.
impl std::fmt::Display for Product {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.display_name())
    }
}

/// A portal release number, `major.minor.patch` (a fourth build part is ignored).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortalVersion {
    pub major: u16,
    pub minor: u16,
    pub patch: u16,
}

impl PortalVersion {
    /// A version from its parts.
    pub const fn new(major: u16, minor: u16, patch: u16) -> Self {
        Self {
            major,
            minor,
            patch,
        }
    }
}

/// Why a version string was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("expected a release number such as 3.7.2")]
pub struct PortalVersionError;

impl std::str::FromStr for PortalVersion {
    type Err = PortalVersionError;

    /// Reads `3.7`, `3.7.2` or `3.7.2.1234` (surrounding spaces allowed).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut parts = text.trim().split('.');
        let mut next = |required: bool| -> Result<u16, PortalVersionError> {
            match parts.next() {
                Some(part) if !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()) => {
                    part.parse().map_err(|_| PortalVersionError)
                }
                None if !required => Ok(0),
                _ => Err(PortalVersionError),
            }
        };
        let major = next(true)?;
        let minor = next(true)?;
        let patch = next(false)?;
        Ok(Self::new(major, minor, patch))
    }
}

impl fmt::Display for PortalVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}
