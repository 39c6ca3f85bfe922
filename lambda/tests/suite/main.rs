//! The function's integration tests, as one binary: one module per part of the system,
//! and `support` with every fixture, fake and harness they share.
//!
//! `aws_adapters` needs moto's server (`make test-rust` starts one); everything else runs
//! offline, in memory or against a local HTTP server. `cargo test --test suite -- --skip
//! aws_adapters` runs the offline part alone (as `make mutants` does).

mod support;

mod aws_adapters;
mod hostile_upstream;
mod http_events;
mod layers;
mod live_push;
mod now_playing_service;
mod palette;
mod privacy;
mod properties;
mod quota_day;
mod quota_schedule;
mod recent_plays;
mod round_trips;
mod shared_cache;
mod spotify_adapter;
mod suggestion_service;
