//! Visitors' song suggestions: what a valid one is (`model`) and the decisions from search
//! to the owner's playlist (`service`).

mod model;
mod service;

pub use model::*;
pub use service::{SuggestionPorts, SuggestionService};
