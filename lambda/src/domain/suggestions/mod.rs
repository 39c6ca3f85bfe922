//! Visitors' song suggestions: what a valid one is (`model`, and `words` for a visitor's text), the decisions from search
//! to the owner's playlist (`service`), the limits (`limits`) and the owner's side
//! (`owner`: the list, the decisions, the daily digest).

mod limits;
mod model;
mod owner;
mod service;
mod words;

pub use model::*;
pub use service::{SuggestionPorts, SuggestionService};
pub use words::*;
