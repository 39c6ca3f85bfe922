//! The now-playing function as a library: the binary in `main.rs` only wires it up.
//!
//! # Layout
//!
//! ```text
//!              main.rs: builds everything once per cold start
//!                 │
//!             invocation: an HTTP event, or one of the stack's jobs
//!                 │
//!               http: the route table, one module per group ──► render
//!                 │                                               │
//!                 ▼                                               ▼
//!   adapters ──implement──► domain::ports ◄──owns── domain ◄──────┘
//! ```
//!
//! - [`domain`]: what now-playing *is* and decides: the answer and its statuses, the token
//!   and answer leases, the art and its palette, the owner's privacy rules, the recently
//!   played list, suggestions and their limits, the health of the authorization. It owns its ports ([`domain::ports`]): the traits it needs from the
//!   outside world. **The one rule: the domain depends on nothing outside it**: no
//!   adapter, no HTTP type, no SDK (`tests/suite/layers.rs` checks the sources).
//! - [`adapters`]: the ports implemented over the world: DynamoDB (one table, a module per
//!   kind of item), SSM, SNS, Spotify's APIs and album art over reqwest, the clock.
//! - [`render`]: what a visitor sees, drawn from a domain answer: the SVG card and the
//!   preview page (the widget's scripts are `lambda/assets/`).
//! - [`http`]: one module per group of routes, and [`http::ROUTES`], the one table of paths
//!   and methods that the router, `Allow`, the preflight and the stack (`infra/routes.json`)
//!   all read.
//! - [`invocation`]: what invoked the function: an HTTP event (checked, then routed) or one
//!   of the stack's scheduled jobs.
//! - [`config`], [`logging`], [`metrics`], [`fingerprint`]: settings from the environment,
//!   the log subscriber, the EMF metric line, the ETag hash.

pub mod adapters;
pub mod config;
pub mod domain;
pub mod fingerprint;
pub mod http;
pub mod invocation;
pub mod logging;
pub mod metrics;
pub mod render;
