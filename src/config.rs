//! Command-line and environment configuration, parsed once at start into typed values.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::Parser;
use clap::builder::BoolishValueParser;
use url::Url;

use crate::domain::ProductChoice;
use crate::domain::{Credential, PortalVersion};
use crate::telemetry::logs::LogFormat;

/// Everything the gateway needs to start, from flags or `PEOPLE_GATEWAY_*` variables.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "people-gateway",
    version,
    about = "gRPC gateway to the ONLYOFFICE People API",
    after_help = "Every flag can also be set by its PEOPLE_GATEWAY_* variable; on/off flags \
                  take true/false, yes/no, on/off or 1/0. RUST_LOG sets the log filter \
                  (default: info), e.g. RUST_LOG=people_gateway=debug."
)]
pub struct Config {
    /// Address to serve gRPC on, e.g. 0.0.0.0:50051 or 127.0.0.1:50051.
    #[arg(long, env = "PEOPLE_GATEWAY_LISTEN", default_value = "[::]:50051", value_parser = parse_listen)]
    pub listen: SocketAddr,

    /// Portal root URL, e.g. https://portal.example.com/ [required unless --demo].
    #[arg(
        long,
        env = "PEOPLE_GATEWAY_PORTAL_URL",
        value_parser = PortalUrlParser
    )]
    pub portal_url: Option<Url>,

    /// Which product the portal runs; `auto` asks the portal on the first write
    /// [required unless --demo; the demo plays workspace].
    #[arg(long, env = "PEOPLE_GATEWAY_PORTAL_PRODUCT", value_enum)]
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

    /// Key that seals ListUsers page tokens (at least 16 bytes), the same on
    /// every replica; without it a built-in key is used, which catches
    /// mistaken tokens but not made-up ones.
    #[arg(
        long,
        env = "PEOPLE_GATEWAY_PAGE_TOKEN_KEY",
        hide_env_values = true,
        value_parser = parse_page_token_key
    )]
    pub page_token_key: Option<PageTokenKey>,

    /// Bound on one portal HTTP exchange.
    #[arg(long, env = "PEOPLE_GATEWAY_PORTAL_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub portal_timeout: Duration,

    /// Bound on connecting to the portal.
    #[arg(long, env = "PEOPLE_GATEWAY_PORTAL_CONNECT_TIMEOUT", default_value = "3s", value_parser = humantime::parse_duration)]
    pub portal_connect_timeout: Duration,

    /// How long in-flight calls may finish after SIGTERM or ctrl-c.
    #[arg(long, env = "PEOPLE_GATEWAY_SHUTDOWN_GRACE", default_value = "10s", value_parser = humantime::parse_duration)]
    pub shutdown_grace: Duration,

    /// Largest portal answer read (bytes, or with KiB/MiB); larger or endless ones are refused.
    #[arg(long, env = "PEOPLE_GATEWAY_PORTAL_MAX_BODY", default_value = "4MiB", value_parser = parse_size)]
    pub portal_max_body: usize,

    /// Portal requests in flight at once (the connection pool never opens more).
    #[arg(long, env = "PEOPLE_GATEWAY_PORTAL_MAX_CONNECTIONS", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..))]
    pub portal_max_connections: u32,

    /// A PEM file of CA certificates trusted for the portal, besides the built-in roots.
    #[arg(long, env = "PEOPLE_GATEWAY_PORTAL_CA")]
    pub portal_ca: Option<PathBuf>,

    /// Largest gRPC request message (bytes, or with KiB/MiB).
    #[arg(long, env = "PEOPLE_GATEWAY_MAX_MESSAGE_SIZE", default_value = "1MiB", value_parser = parse_size)]
    pub max_message_size: usize,

    /// A unary call's request message must arrive in full within this, before
    /// the call takes a concurrency slot; otherwise DEADLINE_EXCEEDED
    /// (`RECEIVE_TIMEOUT`).
    #[arg(long, env = "PEOPLE_GATEWAY_RECEIVE_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub receive_timeout: Duration,

    /// Bytes of unary requests received and not yet answered, over all calls;
    /// beyond it, a call is refused with RESOURCE_EXHAUSTED (`OVERLOADED`).
    #[arg(long, env = "PEOPLE_GATEWAY_RECEIVE_BUDGET", default_value = "64MiB", value_parser = parse_size)]
    pub receive_budget: usize,

    /// PeopleService calls in flight at once; beyond it, calls are refused at
    /// once with RESOURCE_EXHAUSTED (health and reflection are not limited).
    #[arg(long, env = "PEOPLE_GATEWAY_MAX_CONCURRENCY", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_concurrency: u32,

    /// SyncUsers: items of one stream at the portal at once.
    #[arg(long, env = "PEOPLE_GATEWAY_BULK_CONCURRENCY", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub bulk_concurrency: u32,

    /// SyncUsers: items at the portal at once over all streams together, so
    /// that many synchronisers cannot overload the portal between them.
    #[arg(long, env = "PEOPLE_GATEWAY_BULK_MAX_IN_FLIGHT", default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=65536))]
    pub bulk_max_in_flight: u32,

    /// SyncUsers: items read ahead per stream; when they wait, the gateway
    /// reads no more and the sender blocks.
    #[arg(long, env = "PEOPLE_GATEWAY_BULK_QUEUE", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=65536))]
    pub bulk_queue: u32,

    /// SyncUsers: items one stream may carry; the stream then ends
    /// RESOURCE_EXHAUSTED and the rest go in a new one.
    #[arg(long, env = "PEOPLE_GATEWAY_BULK_MAX_ITEMS", default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub bulk_max_items: u64,

    /// SyncUsers: a stream that sends no item for this long, with nothing
    /// left to do, is ended DEADLINE_EXCEEDED (`STREAM_IDLE`).
    #[arg(long, env = "PEOPLE_GATEWAY_BULK_IDLE_TIMEOUT", default_value = "60s", value_parser = humantime::parse_duration)]
    pub bulk_idle_timeout: std::time::Duration,

    /// SyncUsers streams open at once; further ones are refused RESOURCE_EXHAUSTED.
    #[arg(long, env = "PEOPLE_GATEWAY_BULK_MAX_STREAMS", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=65536))]
    pub bulk_max_streams: u32,

    /// SyncUsers streams one caller (a credential, or a connection for calls
    /// without one) may hold open at once, so that no caller holds every place.
    #[arg(long, env = "PEOPLE_GATEWAY_BULK_MAX_STREAMS_PER_CALLER", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=65536))]
    pub bulk_max_streams_per_caller: u32,

    /// SyncUsers: bytes of items one stream holds, read and not yet answered;
    /// beyond it the stream reads no more until items are answered (never
    /// less than one item of `--max-message-size`).
    #[arg(long, env = "PEOPLE_GATEWAY_BULK_STREAM_BYTES", default_value = "2MiB", value_parser = parse_size)]
    pub bulk_stream_bytes: usize,

    /// SyncUsers: bytes of items all streams hold together; beyond it no
    /// stream reads more until items are answered.
    #[arg(long, env = "PEOPLE_GATEWAY_BULK_MAX_BYTES", default_value = "128MiB", value_parser = parse_size)]
    pub bulk_max_bytes: usize,

    /// Open client connections at once; further ones wait to be accepted.
    #[arg(long, env = "PEOPLE_GATEWAY_MAX_CONNECTIONS", default_value_t = 4096, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,

    /// Concurrent calls (HTTP/2 streams) one connection may open.
    #[arg(long, env = "PEOPLE_GATEWAY_MAX_STREAMS_PER_CONNECTION", default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_streams_per_connection: u32,

    /// A connection that sends nothing this long (not even a keepalive answer) is closed.
    #[arg(long, env = "PEOPLE_GATEWAY_IDLE_TIMEOUT", default_value = "2m", value_parser = humantime::parse_duration)]
    pub idle_timeout: Duration,

    /// How often an HTTP/2 keepalive ping checks a quiet connection.
    #[arg(long, env = "PEOPLE_GATEWAY_KEEPALIVE_INTERVAL", default_value = "30s", value_parser = humantime::parse_duration)]
    pub keepalive_interval: Duration,

    /// How long a keepalive ping may go unanswered before the connection is closed.
    #[arg(long, env = "PEOPLE_GATEWAY_KEEPALIVE_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub keepalive_timeout: Duration,

    /// Largest header block (metadata) one call may send (bytes, or with KiB/MiB).
    #[arg(long, env = "PEOPLE_GATEWAY_MAX_HEADER_LIST_SIZE", default_value = "16KiB", value_parser = parse_size)]
    pub max_header_list_size: usize,

    /// Serve TLS with this PEM certificate chain (needs --tls-key).
    #[arg(long, env = "PEOPLE_GATEWAY_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// The PEM private key of --tls-cert.
    #[arg(long, env = "PEOPLE_GATEWAY_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Require client certificates signed by these PEM CAs (mutual TLS; needs --tls-cert).
    #[arg(long, env = "PEOPLE_GATEWAY_TLS_CLIENT_CA", requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,

    /// Serve Prometheus metrics at /metrics on this address (off unless set).
    #[arg(long, env = "PEOPLE_GATEWAY_METRICS_LISTEN", value_parser = parse_listen)]
    pub metrics_listen: Option<SocketAddr>,

    /// Log lines as human-readable text or as one JSON object per line.
    #[arg(long, env = "PEOPLE_GATEWAY_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Export spans over OTLP/gRPC to this collector, e.g. http://collector:4317 (off unless set).
    #[arg(long, env = "PEOPLE_GATEWAY_OTLP_ENDPOINT", value_parser = parse_otlp_endpoint)]
    pub otlp_endpoint: Option<Url>,

    /// Also serve gRPC-Web (over HTTP/1.1 and HTTP/2), for browser apps.
    #[arg(long, env = "PEOPLE_GATEWAY_GRPC_WEB", value_parser = BoolishValueParser::new())]
    pub grpc_web: bool,

    /// A browser origin allowed to call over gRPC-Web from another origin
    /// (CORS), e.g. https://app.example.com; repeat the flag (or separate
    /// with commas) for more. None by default: cross-origin calls are refused.
    #[arg(
        long,
        env = "PEOPLE_GATEWAY_GRPC_WEB_ALLOW_ORIGIN",
        value_delimiter = ',',
        value_parser = parse_origin,
        requires = "grpc_web"
    )]
    pub grpc_web_allow_origin: Vec<http::HeaderValue>,

    /// How often readiness asks the portal whether it answers.
    #[arg(long, env = "PEOPLE_GATEWAY_READINESS_INTERVAL", default_value = "2s", value_parser = humantime::parse_duration)]
    pub readiness_interval: Duration,

    /// Serve against the embedded portal simulator with demo users.
    #[arg(long, env = "PEOPLE_GATEWAY_DEMO", value_parser = BoolishValueParser::new())]
    pub demo: bool,
}

impl Config {
    /// The configuration from the command line and the environment; exits
    /// with a usage error when it is incomplete or contradicts itself.
    pub fn from_command_line() -> Self {
        Self::parse().checked().unwrap_or_else(|error| error.exit())
    }

    /// What clap cannot check itself: `--demo` from a variable may be off
    /// (`PEOPLE_GATEWAY_DEMO=false`), and only an `on` demo replaces the portal.
    pub fn checked(self) -> Result<Self, clap::Error> {
        use clap::CommandFactory as _;
        use clap::error::ErrorKind;
        let mut command = Self::command();
        if self.demo && self.portal_url.is_some() {
            return Err(command.error(
                ErrorKind::ArgumentConflict,
                "--portal-url (PEOPLE_GATEWAY_PORTAL_URL) cannot be used with --demo \
                 (PEOPLE_GATEWAY_DEMO): the demo serves its own portal",
            ));
        }
        if !self.demo && (self.portal_url.is_none() || self.portal_product.is_none()) {
            return Err(command.error(
                ErrorKind::MissingRequiredArgument,
                "--portal-url and --portal-product (PEOPLE_GATEWAY_PORTAL_URL, \
                 PEOPLE_GATEWAY_PORTAL_PRODUCT) are required unless --demo",
            ));
        }
        Ok(self)
    }
}

/// Parses `--portal-url` with errors of its own, which (unlike clap's) never
/// repeat the value: it may hold a password.
#[derive(Debug, Clone, Copy)]
struct PortalUrlParser;

impl clap::builder::TypedValueParser for PortalUrlParser {
    type Value = Url;

    fn parse_ref(
        &self,
        _command: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<Url, clap::Error> {
        let text = value.to_str().ok_or_else(|| {
            clap::Error::raw(
                clap::error::ErrorKind::InvalidUtf8,
                "--portal-url is not UTF-8\n",
            )
        })?;
        parse_portal_url(text).map_err(|message| {
            clap::Error::raw(
                clap::error::ErrorKind::ValueValidation,
                format!("--portal-url: {message}\n"),
            )
        })
    }
}

/// The portal's root: http or https, no credentials in it (they would be sent
/// on every request beside the caller's), and not already an API path.
fn parse_portal_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|error| match error {
        url::ParseError::RelativeUrlWithoutBase => {
            "has no scheme; add https:// (or http://) in front of the host".to_owned()
        }
        other => format!("is not a URL ({other})"),
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "must be an http:// or https:// URL of the portal, not {}://",
            url.scheme()
        ));
    }
    if !url.has_host() {
        return Err("has no host; give the portal's root, e.g. https://portal.example.com/".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            "must not hold a user name or password; callers send their own credentials, \
             and --portal-token sets a default one"
                .into(),
        );
    }
    if url
        .path_segments()
        .is_some_and(|mut segments| segments.any(|segment| segment.eq_ignore_ascii_case("api")))
    {
        return Err(
            "already holds an API path; give the portal's root, e.g. https://portal.example.com/"
                .into(),
        );
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("must not have a query or fragment".into());
    }
    Ok(url)
}

/// A socket address; a bare port gets a hint instead of a parse error.
fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    text.parse().map_err(|_| {
        if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
            format!("give an address with the port: 0.0.0.0:{text} (every interface) or 127.0.0.1:{text}")
        } else {
            format!("expected an address such as 0.0.0.0:50051 or [::]:50051, not {text:?}")
        }
    })
}

/// The OTLP/gRPC collector: an http:// or https:// URL.
fn parse_otlp_endpoint(text: &str) -> Result<Url, String> {
    let example = "e.g. http://collector:4317";
    let url = Url::parse(text).map_err(|_| format!("expected the collector's URL, {example}"))?;
    if !matches!(url.scheme(), "http" | "https") || !url.has_host() {
        return Err(format!("expected an http:// or https:// URL, {example}"));
    }
    Ok(url)
}

/// A browser origin as a browser sends it: scheme, host and port, nothing more.
fn parse_origin(text: &str) -> Result<http::HeaderValue, String> {
    let example = "e.g. https://app.example.com or http://localhost:8080";
    let url = Url::parse(text).map_err(|_| format!("expected an origin, {example}"))?;
    let origin = url.origin();
    if !origin.is_tuple() || !matches!(url.scheme(), "http" | "https") {
        return Err(format!("expected an http:// or https:// origin, {example}"));
    }
    let serialized = origin.ascii_serialization();
    if serialized != text.trim_end_matches('/') {
        return Err(format!(
            "an origin has no path, query or credentials; use {serialized}"
        ));
    }
    http::HeaderValue::from_str(&serialized).map_err(|_| format!("expected an origin, {example}"))
}

/// A byte count: `4096`, `64KiB`, `4MiB` (also `KB`/`MB` as the binary units).
fn parse_size(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let multiplier: usize = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1024,
        "m" | "mb" | "mib" => 1024 * 1024,
        other => {
            return Err(format!(
                "unknown size unit {other:?}; use bytes, KiB or MiB"
            ));
        }
    };
    digits
        .parse::<usize>()
        .ok()
        .and_then(|count| count.checked_mul(multiplier))
        .filter(|&bytes| bytes > 0 && bytes <= u32::MAX as usize)
        .ok_or_else(|| format!("{text:?} is not a size between 1 byte and 4 GiB"))
}

/// A secret key; never shown, not even in debug output.
#[derive(Clone)]
pub struct PageTokenKey(Vec<u8>);

impl PageTokenKey {
    /// The key's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for PageTokenKey {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("PageTokenKey(..)")
    }
}

fn parse_page_token_key(text: &str) -> Result<PageTokenKey, String> {
    if text.len() < 16 {
        return Err("must be at least 16 bytes".into());
    }
    Ok(PageTokenKey(text.as_bytes().to_vec()))
}

fn parse_token(text: &str) -> Result<Credential, String> {
    Credential::authorization(text).map_err(|error| format!("token {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    fn parse(args: &[&str]) -> Result<Config, clap::Error> {
        Config::try_parse_from(std::iter::once("people-gateway").chain(args.iter().copied()))
            .and_then(Config::checked)
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
        let command = Config::command();
        let flags: Vec<_> = command
            .get_arguments()
            .filter(|arg| arg.get_long().is_some() && arg.get_id() != "help")
            .collect();
        assert!(flags.len() >= 20);
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
    fn a_bare_port_gets_a_hint() {
        let error = parse(&["--demo", "--listen", "50051"])
            .unwrap_err()
            .to_string();
        assert!(error.contains("0.0.0.0:50051"), "{error}");
        let help = Config::command().render_long_help().to_string();
        assert!(help.contains("required unless --demo"), "{help}");
    }

    #[test]
    fn portal_urls_are_checked_at_start() {
        let url = |text: &str| {
            parse(&["--portal-url", text, "--portal-product", "workspace"])
                .map(|config| config.portal_url)
                .map_err(|error| error.to_string())
        };
        assert!(url("https://portal.example.com/").is_ok());
        assert!(url("http://portal.example.com/office").is_ok());
        let no_scheme = url("portal.example.com").unwrap_err();
        assert!(no_scheme.contains("add https://"), "{no_scheme}");
        let credentials = url("http://user:pw@portal.example.com/").unwrap_err();
        assert!(
            credentials.contains("user name or password"),
            "{credentials}"
        );
        assert!(!credentials.contains("pw@"), "{credentials}");
        assert!(url("ftp://portal.example.com/").is_err());
        assert!(url("https://portal.example.com/api/2.0").is_err());
        assert!(url("https://portal.example.com/?x=1").is_err());
    }

    #[test]
    fn limits_have_defaults_and_sizes_take_units() {
        let config = parse(&["--demo"]).unwrap();
        assert_eq!(config.portal_max_body, 4 * 1024 * 1024);
        assert_eq!(config.max_message_size, 1024 * 1024);
        assert_eq!(config.max_concurrency, 1024);
        let config = parse(&[
            "--demo",
            "--portal-max-body",
            "64KiB",
            "--max-message-size",
            "1000",
        ])
        .unwrap();
        assert_eq!(config.portal_max_body, 64 * 1024);
        assert_eq!(config.max_message_size, 1000);
        for bad in ["0", "12 parsecs", "-1", "99999999MiB"] {
            assert!(
                parse(&["--demo", "--portal-max-body", bad]).is_err(),
                "{bad}"
            );
        }
        assert!(parse(&["--demo", "--max-concurrency", "0"]).is_err());
        assert!(
            parse(&["--demo", "--tls-cert", "a.pem"]).is_err(),
            "a certificate needs its key"
        );
    }

    #[test]
    fn the_token_never_shows_in_debug_output() {
        let config = parse(&["--demo", "--portal-token", "s3cret-token"]).unwrap();
        assert!(!format!("{config:?}").contains("s3cret-token"));
    }
}
