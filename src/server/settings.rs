//! What bounds the server, from the command line: connections, streams,
//! sizes, keepalive, TLS and gRPC-Web; and why it could not start.

use std::path::Path;
use std::time::Duration;

use tonic::transport::{Certificate, Identity, ServerTlsConfig};

use crate::config::Config;
use crate::connections::ConnectionLimits;
use crate::portal::PortalSetupError;

/// Everything that bounds what callers can ask of the server.
#[derive(Debug, Clone)]
pub struct ServeSettings {
    /// Open connections and how long a silent one stays.
    pub connections: ConnectionLimits,
    /// PeopleService calls in flight at once; the rest are refused at once.
    pub max_concurrency: usize,
    /// Largest request message.
    pub max_message_size: usize,
    /// How long a unary request may take to arrive in full.
    pub receive_timeout: Duration,
    /// Bytes of unary requests received and not yet answered, over all calls.
    pub receive_budget: usize,
    /// Concurrent streams per connection.
    pub max_streams_per_connection: u32,
    /// HTTP/2 keepalive ping interval and how long an answer may take.
    pub keepalive: (Duration, Duration),
    /// Largest header block a call may send.
    pub max_header_list_size: u32,
    /// Server TLS (and client certificates), when configured.
    pub tls: Option<ServerTlsConfig>,
    /// Serve gRPC-Web (over HTTP/1.1 too) for browser apps.
    pub grpc_web: bool,
    /// Browser origins allowed to call over gRPC-Web from elsewhere (CORS).
    pub grpc_web_allow_origins: Vec<http::HeaderValue>,
    /// How often readiness probes the portal; `None`: no probing, always ready.
    pub readiness_interval: Option<Duration>,
}

impl Default for ServeSettings {
    /// The command line's defaults, without TLS and without readiness probes.
    fn default() -> Self {
        Self {
            connections: ConnectionLimits {
                max_connections: 4096,
                idle_timeout: Duration::from_secs(120),
            },
            max_concurrency: 1024,
            max_message_size: 1024 * 1024,
            receive_timeout: Duration::from_secs(10),
            receive_budget: 64 * 1024 * 1024,
            max_streams_per_connection: 256,
            keepalive: (Duration::from_secs(30), Duration::from_secs(10)),
            max_header_list_size: 16 * 1024,
            tls: None,
            grpc_web: false,
            grpc_web_allow_origins: Vec::new(),
            readiness_interval: None,
        }
    }
}

impl ServeSettings {
    /// The settings the command line asks for; reads the TLS files.
    pub fn from_config(config: &Config) -> Result<Self, ServeError> {
        let tls = match (&config.tls_cert, &config.tls_key) {
            (Some(cert), Some(key)) => {
                let identity =
                    Identity::from_pem(read("--tls-cert", cert)?, read("--tls-key", key)?);
                let mut tls = ServerTlsConfig::new().identity(identity);
                if let Some(client_ca) = &config.tls_client_ca {
                    tls = tls
                        .client_ca_root(Certificate::from_pem(read("--tls-client-ca", client_ca)?));
                }
                Some(tls)
            }
            _ => None,
        };
        Ok(Self {
            connections: ConnectionLimits {
                max_connections: config.max_connections as usize,
                idle_timeout: config.idle_timeout,
            },
            max_concurrency: config.max_concurrency as usize,
            max_message_size: config.max_message_size,
            receive_timeout: config.receive_timeout,
            receive_budget: config.receive_budget,
            max_streams_per_connection: config.max_streams_per_connection,
            keepalive: (config.keepalive_interval, config.keepalive_timeout),
            max_header_list_size: u32::try_from(config.max_header_list_size).unwrap_or(u32::MAX),
            tls,
            grpc_web: config.grpc_web,
            grpc_web_allow_origins: config.grpc_web_allow_origin.clone(),
            readiness_interval: Some(config.readiness_interval),
        })
    }
}

/// Reads a file named by a flag.
pub(super) fn read(flag: &'static str, path: &Path) -> Result<Vec<u8>, ServeError> {
    std::fs::read(path).map_err(|source| ServeError::File {
        flag,
        path: path.display().to_string(),
        source,
    })
}

/// Why the gateway could not start or serve.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The listen address could not be bound.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The configured address.
        address: std::net::SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The portal client could not be built.
    #[error("portal client: {0}")]
    Portal(#[from] PortalSetupError),
    /// The reflection service rejected the descriptors.
    #[error("reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// The gRPC server failed.
    #[error("gRPC server: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// The demo portal simulator could not start.
    #[error("demo portal: {0}")]
    Demo(std::io::Error),
    /// Configuration that clap cannot express.
    #[error("configuration: {0}")]
    Config(&'static str),
    /// A file named by a flag could not be read.
    #[error("{flag}: cannot read {path}: {source}")]
    File {
        /// The flag that named it.
        flag: &'static str,
        /// As given.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The grace period ended with calls still running; they were answered
    /// SHUTTING_DOWN, and writes among them may or may not have reached the portal.
    #[error("{0} call(s) were still running when the grace period ended")]
    CallsDropped(usize),
}
