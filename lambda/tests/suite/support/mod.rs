//! What the tests share, by kind: `fixtures` (recorded answers and shared values), `fakes`
//! (every fake of a port, and the `Metered` wrappers that count round trips) and
//! `harness` (the domain and the HTTP layer built over the fakes).

mod fakes;
mod fixtures;
mod harness;
mod listening;

pub use fakes::*;
pub use fixtures::*;
pub use harness::*;
pub use listening::*;
