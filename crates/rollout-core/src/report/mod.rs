//! What a rollout tells its user: the events the engine emits ([`Event`]), rendered as live
//! progress on stderr, as JSON Lines on stdout (`--output json`), and as a final summary; and
//! the files a run leaves behind ([`run`]: a Markdown and a JSON report, with SVG [`charts`]).

pub mod charts;
pub mod data;
pub mod event;
pub mod html;
pub mod json;
pub mod live;
pub mod notify;
pub mod progress;
pub mod run;
pub mod summary;

pub use event::{Event, Finish, LoadSummary, Sink, StepState};
pub use json::JsonLines;
pub use progress::Progress;
pub use summary::summary;
