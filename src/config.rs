//! Command-line and environment configuration, parsed once at start into typed values.

use std::{net::SocketAddr, time::Duration};

use clap::{Parser, ValueEnum};
use url::Url;

/// Which ONLYOFFICE product the portal runs; they differ in routes and rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ValueEnum)]
pub enum Product {
    /// ONLYOFFICE Workspace (CommunityServer).
    Workspace,
    /// ONLYOFFICE DocSpace 3.2 or later.
    Docspace,
}

impl Product {
    /// The name used in flags, logs and error metadata.
    pub fn as_str(self) -> &'static str {
        match self {
            Product::Workspace => "workspace",
            Product::Docspace => "docspace",
        }
    }
}

impl std::fmt::Display for Product {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
