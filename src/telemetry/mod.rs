//! What operators see of the gateway: metrics (`metrics`), the trace context
//! and request id of each call (`trace`), their export to a collector
//! (`otel`), and log lines (`logs`, uncoloured ones formatted by
//! `plain_lines`, written out by `log_writer`).

pub mod log_writer;
pub mod logs;
pub mod metrics;
pub mod otel;
pub mod plain_lines;
pub mod trace;
