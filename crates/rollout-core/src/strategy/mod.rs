//! One module per strategy; each turns a validated [`Spec`] and what was found in the cluster
//! ([`PlanInput`]) into a [`Plan`]. Pure: no I/O, so plans are snapshot-tested and printed by
//! `rollout plan` without touching anything.

mod ab;
mod blue_green;
mod canary;
mod recreate;
mod rolling;
mod shadow;

#[cfg(test)]
mod tests;

use crate::app::Names;
pub use crate::app::PlanInput;
use crate::plan::{Plan, Size, Slot, Step, Update};
use crate::spec::{CheckKind, Spec, SpecError, Strategy, Traffic};
use crate::traffic::{self, Capability, Need, RouterRef};

/// Makes the plan of `spec` for the app in `input`.
pub fn plan(spec: &Spec, input: &PlanInput) -> Result<Plan, SpecError> {
    let router = choose_router(spec, input)?;
    let mut ctx = Ctx {
        spec,
        input,
        router,
        notes: Vec::new(),
    };
    let steps = match &spec.strategy {
        Strategy::Recreate(s) => recreate::steps(&mut ctx, s),
        Strategy::Rolling(s) => rolling::steps(&mut ctx, s),
        Strategy::BlueGreen(s) => blue_green::steps(&mut ctx, s)?,
        Strategy::Canary(s) => canary::steps(&mut ctx, s)?,
        Strategy::Ab(s) => ab::steps(&mut ctx, s)?,
        Strategy::Shadow(s) => shadow::steps(&mut ctx, s)?,
    };
    let background = ctx.background();
    let mut names = names(input, router, spec);
    if let Some(a) = &input.autoscaler {
        let copied = steps.iter().any(|s| {
            matches!(
                s,
                Step::ScaleNew {
                    size: Size::ShareOfStable(_)
                }
            )
        });
        if copied {
            names.new_autoscaler = Some(format!("{}-{}", a.name, names.role));
        }
        let how = match (&names.new_autoscaler, &spec.strategy) {
            (_, Strategy::Recreate(_)) => "recreate scales the app to 0 (where an autoscaler stays idle) and back to the count it had".to_owned(),
            (Some(copy), _) => format!("the rollout never lowers the app's replica count, and the new version is sized by a copy of it, {copy:?}, with bounds scaled to its share"),
            (None, _) => "the rollout never writes the app's replica count".to_owned(),
        };
        ctx.notes.push(format!(
            "HorizontalPodAutoscaler {:?} ({}–{} replicas) sizes the app: {how}",
            a.name, a.min_replicas, a.max_replicas,
        ));
    }
    Ok(Plan {
        namespace: input.namespace.clone(),
        strategy: spec.kind(),
        origin: spec.origin.clone(),
        router,
        container: input.container.clone(),
        from_image: input.from_image.clone(),
        to_image: input.to_image.clone(),
        replicas: input.replicas,
        names,
        steps,
        background,
        metrics: input.metrics.clone(),
        notes: ctx.notes,
    })
}

/// What the new version's temporary objects are to each strategy: the value of their role
/// label and the suffix of their names.
fn role(strategy: &Strategy) -> &'static str {
    match strategy {
        Strategy::BlueGreen(_) => "green",
        Strategy::Shadow(_) => "shadow",
        Strategy::Canary(_) | Strategy::Ab(_) => "canary",
        Strategy::Recreate(_) | Strategy::Rolling(_) => "new",
    }
}

fn names(input: &PlanInput, router: RouterRef, spec: &Spec) -> Names {
    let role = role(&spec.strategy);
    let new_service = match (&spec.strategy, &input.service) {
        (_, None) => None,
        (Strategy::BlueGreen(bg), Some(s)) => Some(
            bg.preview_service
                .clone()
                .unwrap_or_else(|| format!("{s}-preview")),
        ),
        (Strategy::Recreate(_) | Strategy::Rolling(_), _) => None,
        (_, Some(s)) => Some(format!("{s}-{role}")),
    };
    Names {
        role: role.to_owned(),
        deployment: input.app.clone(),
        service: input.service.clone(),
        ingress: input.ingress.clone(),
        http_route: input.http_route.clone(),
        new_deployment: format!("{}-{role}", input.app),
        new_service,
        new_ingress: router.temporary_front(input),
        new_autoscaler: None,
    }
}

/// Planning state shared by the strategy modules.
pub(crate) struct Ctx<'a> {
    pub spec: &'a Spec,
    pub input: &'a PlanInput,
    pub router: RouterRef,
    pub notes: Vec<String>,
}

impl Ctx<'_> {
    /// Fails unless the router can do `c`; the message names both.
    pub fn require(&self, c: Capability, why: &str) -> Result<(), SpecError> {
        if self.router.can(c) {
            return Ok(());
        }
        Err(self.spec.error_at(
            "traffic",
            format!(
                "the {} strategy needs {c} ({why}), which router {} cannot do{}",
                self.spec.kind(),
                self.router,
                able(c)
            ),
        ))
    }

    /// Fails unless the app has a Service.
    pub fn require_service(&self) -> Result<&str, SpecError> {
        self.input.service.as_deref().ok_or_else(|| {
            self.spec.error_at(
                "strategy",
                format!(
                    "the {} strategy sends traffic through the app's Service, and no Service in namespace {:?} selects the pods of Deployment {:?}",
                    self.spec.kind(),
                    self.input.namespace,
                    self.input.app
                ),
            )
        })
    }

    /// Checks that run for the whole rollout; a comparison is left out (with a note) when
    /// the versions cannot be told apart.
    pub fn background(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        for name in &self.spec.analysis.background {
            if let Some(why) = self.cannot_run(name) {
                self.notes
                    .push(format!("background check {name:?} will not run: {why}"));
            } else {
                out.push(name.clone());
            }
        }
        out
    }

    /// Why check `name` cannot run with this router and input, if it cannot.
    pub fn cannot_run(&self, name: &str) -> Option<String> {
        let check = self.spec.check(name)?;
        match &check.kind {
            CheckKind::Compare(_) if !self.router.can(Capability::PerVersionMetrics) => {
                Some(format!(
                    "router {} sends both versions through one Service, so their requests cannot be counted apart",
                    self.router
                ))
            }
            CheckKind::Compare(_) if !self.input.metrics.is_readable() => {
                Some(match &self.input.metrics {
                    crate::metrics::Access::None { why } => {
                        format!("no per-version metrics: {why}")
                    }
                    _ => "no per-version metrics".into(),
                })
            }
            _ => None,
        }
    }

    /// An inline analysis step with the section's timeout and onInconclusive. A check that
    /// cannot run with this router is left out, and the plan says so (the plan is printed
    /// before anything happens).
    pub fn analysis(&mut self, path: &str, checks: &[String]) -> Option<Step> {
        self.analysis_step(
            path,
            &crate::spec::AnalysisStep {
                checks: checks.to_vec(),
                load: None,
                timeout: None,
                on_inconclusive: None,
            },
        )
    }

    /// An inline analysis step as written (its own timeout and onInconclusive, else the
    /// section's).
    pub fn analysis_step(&mut self, path: &str, step: &crate::spec::AnalysisStep) -> Option<Step> {
        let checks = &step.checks;
        let mut kept = Vec::new();
        for c in checks {
            match self.cannot_run(c) {
                Some(why) => self
                    .notes
                    .push(format!("{path}: check {c:?} will not run: {why}")),
                None => kept.push(c.clone()),
            }
        }
        (!kept.is_empty()).then_some(Step::Analysis {
            checks: kept,
            timeout: step.timeout.unwrap_or(self.spec.analysis.timeout),
            on_inconclusive: step
                .on_inconclusive
                .unwrap_or(self.spec.analysis.on_inconclusive),
            load: step
                .load
                .clone()
                .or_else(|| self.spec.analysis.load.clone()),
        })
    }

    /// The replica count the app's Deployment gets back: the one it had, unless an autoscaler
    /// sizes it (then the rollout never writes it).
    pub fn stable_replicas(&self) -> Option<i32> {
        match self.input.autoscaler {
            Some(_) => None,
            None => Some(self.input.replicas),
        }
    }

    /// The size of the new version for a weight: its share of the stable replica count
    /// (rounded up, at least one), or, when an autoscaler sizes the app, that share of the
    /// stable version's replicas at the time, autoscaled.
    pub fn size_for(&self, weight: u8) -> Size {
        match self.input.autoscaler {
            Some(_) => Size::ShareOfStable(weight),
            None => Size::Replicas(self.replicas_for(weight)),
        }
    }

    /// Replicas of the new version for a weight: its share of the stable replica count,
    /// rounded up, at least one.
    pub fn replicas_for(&self, weight: u8) -> i32 {
        let total = self.input.replicas.max(1);
        ((total * i32::from(weight) + 99) / 100).clamp(1, total)
    }

    /// The steps after the new version serves all traffic through the router: the Service
    /// to the new pods, the stable Deployment to the new template while nothing reaches it,
    /// traffic back to it, the temporary objects removed.
    pub fn finish_through_new(&self) -> Vec<Step> {
        let mut steps = Vec::new();
        if !self.weights_by_pods() {
            steps.push(Step::SwitchService { to: Slot::New });
        }
        steps.push(Step::UpdateStable {
            update: Update::Rolling {
                max_surge: None,
                max_unavailable: None,
            },
            replicas: self.stable_replicas(),
        });
        steps.push(Step::RestoreTraffic);
        steps.push(Step::RemoveNew);
        steps
    }

    /// Whether the router's weights are shares of pods (then there is nothing in front of
    /// the Service to route with).
    pub fn weights_by_pods(&self) -> bool {
        self.router.can(Capability::ApproximateWeights)
    }
}

/// `; use R (what it needs)` for the routers that can do `c`.
fn able(c: Capability) -> String {
    let routers: Vec<String> = traffic::ROUTERS
        .iter()
        .filter(|r| r.can(c))
        .map(|r| r.name().to_owned())
        .collect();
    if routers.is_empty() {
        String::new()
    } else {
        format!("; use {}", routers.join(" or "))
    }
}

/// The router for this spec and app: the one the file names, or the best the app has.
pub fn choose_router(spec: &Spec, input: &PlanInput) -> Result<RouterRef, SpecError> {
    let need = match &spec.strategy {
        Strategy::Recreate(_) | Strategy::Rolling(_) => Need::Nothing,
        Strategy::BlueGreen(_) => Need::Switch,
        _ => Need::Split,
    };
    match (need, spec.traffic) {
        (Need::Nothing, _) | (_, Traffic::Auto) => Ok(traffic::auto(need, input)),
        (Need::Switch, Traffic::Router(name)) if name != "service" => Err(spec.error_at(
            "traffic",
            format!(
                "blue-green switches the Service selector; traffic: {name} does not apply (use auto or service)"
            ),
        )),
        (_, Traffic::Router(name)) => {
            let router = traffic::by_name(name).ok_or_else(|| {
                spec.error_at("traffic", format!("unknown traffic router `{name}`"))
            })?;
            if let Some(what) = router.missing(input) {
                return Err(spec.error_at(
                    "traffic",
                    format!(
                        "traffic: {name} needs {what} in front of the app's Service, and namespace {:?} has none for Deployment {:?}",
                        input.namespace, input.app
                    ),
                ));
            }
            Ok(router)
        }
    }
}
