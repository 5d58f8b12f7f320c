//! Command-line and environment configuration, parsed once at start into typed values.

use std::{net::SocketAddr, time::Duration};

use clap::{Parser, ValueEnum};
use url::Url;

use crate::domain::{Credential, PortalVersion};

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

    /// The product's own name, for messages to people.
    pub const fn display_name(self) -> &'static str {
        match self {
            Product::Workspace => "Workspace",
            Product::Docspace => "DocSpace",
        }
    }
}

/// What `--portal-product` says: a product, or detect it from the portal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProductChoice {
    /// ONLYOFFICE Workspace (CommunityServer).
    Workspace,
    /// ONLYOFFICE DocSpace 3.2 or later.
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

impl std::fmt::Display for Product {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything the gateway needs to start, from flags or `PEOPLE_GATEWAY_*` variables.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "people-gateway",
    version,
    about = "gRPC gateway to the ONLYOFFICE People API"
)]
pub struct Config {
    /// Address to serve gRPC on.
    #[arg(long, env = "PEOPLE_GATEWAY_LISTEN", default_value = "[::]:50051")]
    pub listen: SocketAddr,

    /// Portal root URL, e.g. https://portal.example.com/.
    #[arg(
        long,
        env = "PEOPLE_GATEWAY_PORTAL_URL",
        required_unless_present = "demo",
        conflicts_with = "demo"
    )]
    pub portal_url: Option<Url>,

    /// Which product the portal runs (`auto` detects it on the first call).
    #[arg(
        long,
        env = "PEOPLE_GATEWAY_PORTAL_PRODUCT",
        value_enum,
        required_unless_present = "demo"
    )]
    pub portal_product: Option<ProductChoice>,

    /// The portal's release, e.g. 3.6.1; learned from the portal when not set.
    /// DocSpace applies different fields in different releases.
    #[arg(long, env = "PEOPLE_GATEWAY_PORTAL_VERSION")]
    pub portal_version: Option<PortalVersion>,

    /// Token used for calls that carry no credential of their own.
    #[arg(
        long,
        env = "PEOPLE_GATEWAY_PORTAL_TOKEN",
        hide_env_values = true,
        value_parser = parse_token
    )]
    pub portal_token: Option<Credential>,

    /// Bound on one portal HTTP exchange.
    #[arg(long, env = "PEOPLE_GATEWAY_PORTAL_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub portal_timeout: Duration,

    /// Bound on connecting to the portal.
    #[arg(long, env = "PEOPLE_GATEWAY_PORTAL_CONNECT_TIMEOUT", default_value = "3s", value_parser = humantime::parse_duration)]
    pub portal_connect_timeout: Duration,

    /// How long in-flight calls may finish after SIGTERM or ctrl-c.
    #[arg(long, env = "PEOPLE_GATEWAY_SHUTDOWN_GRACE", default_value = "10s", value_parser = humantime::parse_duration)]
    pub shutdown_grace: Duration,

    /// Serve against the embedded portal simulator with demo users.
    #[arg(long, env = "PEOPLE_GATEWAY_DEMO")]
    pub demo: bool,
}

fn parse_token(text: &str) -> Result<Credential, String> {
    Credential::authorization(text).map_err(|error| format!("token {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, clap::Error> {
        Config::try_parse_from(std::iter::once("people-gateway").chain(args.iter().copied()))
    }

    #[test]
    fn a_real_portal_needs_url_and_product() {
        assert!(parse(&[]).is_err());
        assert!(parse(&["--portal-url", "https://portal.test/"]).is_err());
        let config = parse(&[
            "--portal-url",
            "https://portal.test/",
            "--portal-product",
            "docspace",
            "--portal-timeout",
            "1500ms",
            "--portal-version",
            "3.6.1",
        ])
        .unwrap();
        assert_eq!(config.portal_version, Some(PortalVersion::new(3, 6, 1)));
        assert_eq!(config.portal_product, Some(ProductChoice::Docspace));
        assert_eq!(config.portal_timeout, Duration::from_millis(1500));
        assert_eq!(config.listen, "[::]:50051".parse().unwrap());
    }

    #[test]
    fn demo_needs_nothing_else_and_excludes_a_portal_url() {
        let config = parse(&["--demo"]).unwrap();
        assert!(config.demo && config.portal_url.is_none());
        assert!(parse(&["--demo", "--portal-url", "https://portal.test/"]).is_err());
    }

    #[test]
    fn bad_values_fail_fast() {
        let bad = [
            &["--demo", "--listen", "nowhere"][..],
            &["--demo", "--portal-product", "sharepoint"],
            &["--demo", "--portal-timeout", "soon"],
            &["--demo", "--portal-token", "a\nb"],
            &["--demo", "--portal-version", "latest"],
        ];
        for args in bad {
            assert!(parse(args).is_err(), "{args:?}");
        }
    }

    #[test]
    fn every_flag_has_its_environment_variable() {
        use clap::CommandFactory as _;
        let command = Config::command();
        let flags: Vec<_> = command
            .get_arguments()
            .filter(|arg| arg.get_long().is_some() && arg.get_id() != "help")
            .collect();
        assert!(flags.len() >= 8);
        for arg in flags {
            let long = arg.get_long().unwrap_or_default();
            let expected = format!("PEOPLE_GATEWAY_{}", long.to_uppercase().replace('-', "_"));
            assert_eq!(
                arg.get_env().and_then(|env| env.to_str()),
                Some(expected.as_str()),
                "--{long}"
            );
        }
    }

    #[test]
    fn the_token_never_shows_in_debug_output() {
        let config = parse(&["--demo", "--portal-token", "s3cret-token"]).unwrap();
        assert!(!format!("{config:?}").contains("s3cret-token"));
    }
}
