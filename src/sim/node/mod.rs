//! The node agent's parts: what each image's app does (behaviour profiles) and the in-process
//! HTTP server that plays a container.

pub mod app;
pub mod behaviour;
