//! The now-playing function as a library: the binary in `main.rs` only wires it up.

pub mod adapters;
pub mod config;
pub mod domain;
pub mod fingerprint;
pub mod http;
pub mod invocation;
pub mod logging;
pub mod metrics;
pub mod render;
