//! A/B: the requests that match (a header, a cookie) go to B; A and B are compared on the
//! same live traffic for a while; B is promoted only if it is no worse (or as the file says).

use super::Ctx;
use crate::plan::Step;
use crate::spec::{Ab, MatchOn, SpecError};
use crate::traffic::{Capability, Routing};

pub(crate) fn steps(ctx: &mut Ctx, s: &Ab) -> Result<Vec<Step>, SpecError> {
    ctx.require_service()?;
    if s.matches.iter().any(|m| matches!(m.on, MatchOn::Header(_))) {
        ctx.require(Capability::HeaderRouting, "to route a group by header")?;
    }
    if s.matches.iter().any(|m| matches!(m.on, MatchOn::Cookie(_))) {
        ctx.require(Capability::CookieRouting, "to route a group by cookie")?;
    }
    let routing = Routing {
        weight: 0,
        matches: s.matches.iter().map(|m| m.route()).collect(),
        mirror_percent: None,
    };
    if let Some(why) = ctx.router.unsupported(&routing) {
        return Err(ctx.spec.error_at("match", why));
    }
    experiment_steps(
        ctx,
        Step::RouteMatches {
            matches: s.matches.clone(),
        },
        Experiment {
            duration: s.duration,
            max_duration: crate::spec::max_duration(s.duration, s.max_duration),
            compare: &s.compare,
            promote: s.promote,
            on_inconclusive: s.on_inconclusive,
        },
    )
}

/// The steps shared by A/B and shadow: start the new version, route (`route`), compare for
/// `duration`, then promote through the router.
/// What A/B and shadow compare, and how they decide.
pub(crate) struct Experiment<'a> {
    pub duration: crate::spec::Duration,
    pub max_duration: crate::spec::Duration,
    pub compare: &'a crate::spec::Compare,
    pub promote: crate::spec::Promote,
    pub on_inconclusive: crate::spec::OnInconclusive,
}

pub(crate) fn experiment_steps(
    ctx: &mut Ctx,
    route: Step,
    e: Experiment<'_>,
) -> Result<Vec<Step>, SpecError> {
    ctx.require(Capability::PerVersionMetrics, "to compare the two versions")?;
    if let crate::metrics::Access::None { why } = &ctx.input.metrics {
        return Err(ctx.spec.error_at(
            "compare",
            format!(
                "comparing the versions needs their request metrics, and there are none: {why}"
            ),
        ));
    }
    let half = (ctx.input.replicas + 1) / 2;
    let mut steps = vec![
        Step::PinService,
        Step::CreateNew {
            replicas: half.max(1),
        },
        Step::WaitNewReady,
        Step::CreateNewService,
        route,
        Step::Experiment {
            duration: e.duration,
            max_duration: e.max_duration,
            compare: e.compare.clone(),
            promote: e.promote,
            on_inconclusive: e.on_inconclusive,
            load: ctx.spec.analysis.load.clone(),
        },
        Step::ScaleNew {
            size: ctx.size_for(100),
        },
        Step::WaitNewReady,
        Step::SetWeight { weight: 100 },
    ];
    steps.extend(ctx.finish_through_new());
    Ok(steps)
}
