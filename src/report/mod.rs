//! What a rollout tells its user: the events the engine emits ([`Event`]), rendered as live
//! progress on stderr, as JSON Lines on stdout (`--output json`), and as a final summary.

pub mod event;

pub use event::{Event, Finish, Sink, StepState};
