//! No traffic split: recreate and rolling replace the pods of the app's Deployment itself.

use futures::future::BoxFuture;

use super::{Capability, Need, RouteContext, Router, Routing, TrafficError};
use crate::app::PlanInput;

pub struct NoRouting;

impl Router for NoRouting {
    fn name(&self) -> &'static str {
        "deployment"
    }

    fn describe(&self) -> &'static str {
        "none: the Deployment's own pods are replaced"
    }

    fn capabilities(&self) -> &'static [Capability] {
        &[]
    }

    fn missing(&self, _input: &PlanInput) -> Option<&'static str> {
        None
    }

    fn picks(&self, need: Need, _input: &PlanInput) -> bool {
        need == Need::Nothing
    }

    fn apply<'a>(
        &'a self,
        _cx: &'a RouteContext<'a>,
        _routing: &'a Routing,
    ) -> BoxFuture<'a, Result<(), TrafficError>> {
        Box::pin(async { Ok(()) })
    }

    fn restore<'a>(&'a self, _cx: &'a RouteContext<'a>) -> BoxFuture<'a, Result<(), TrafficError>> {
        Box::pin(async { Ok(()) })
    }
}
