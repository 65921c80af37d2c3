//! Shared helpers for the end-to-end tests: the embedded cluster's test helpers, and running
//! rollouts on it ([`rollouts`]).

pub mod rollouts;

pub use kubesim::testing::*;
