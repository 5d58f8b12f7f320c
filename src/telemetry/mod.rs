//! What operators see of the gateway: metrics (`metrics`), the trace context
//! and request id of each call (`trace`), and log lines (`logs`).

pub mod logs;
pub mod metrics;
pub mod trace;
