//! The keys of each strategy: rolling, blue-green, canary steps, A/B matches, shadow.

use serde_saphyr::Spanned;

use super::super::locate::{index, join};
use super::super::raw::*;
use super::super::values::{DURATION_EXPECTED, Duration, IntOrPercent, WEIGHT_EXPECTED};
use super::*;

impl Cx<'_> {
    pub(super) fn rolling(&self, raw: &RawSpec, refs: &mut Vec<NameRef>) -> R<Rolling> {
        let what = "a number of pods or a percentage, like 1 or 25%";
        let max_surge = match &raw.max_surge {
            Some(n) => self.parse::<IntOrPercent>(n, "maxSurge", what)?,
            None => IntOrPercent::Percent(defaults::MAX_SURGE),
        };
        let max_unavailable = match &raw.max_unavailable {
            Some(n) => self.parse::<IntOrPercent>(n, "maxUnavailable", what)?,
            None => IntOrPercent::Percent(defaults::MAX_UNAVAILABLE),
        };
        // The defaults are not 0, so when both are 0 at least one was written.
        let written = (raw.max_unavailable.as_ref().map(|n| (n, "maxUnavailable")))
            .or_else(|| raw.max_surge.as_ref().map(|n| (n, "maxSurge")));
        if max_surge.is_zero()
            && max_unavailable.is_zero()
            && let Some((node, path)) = written
        {
            return Err(self.err(
                node,
                path,
                "maxSurge and maxUnavailable cannot both be 0: no pod could ever be replaced",
            ));
        }
        Ok(Rolling {
            max_surge,
            max_unavailable,
            verify: self.check_list(raw.verify.as_ref(), "verify", refs)?,
        })
    }

    pub(super) fn blue_green(&self, raw: &RawSpec, refs: &mut Vec<NameRef>) -> R<BlueGreen> {
        let preview_service = match &raw.preview_service {
            None => None,
            Some(n) => {
                let name = self.string(n, "previewService", "a Service name")?;
                if !is_dns_label(&name) {
                    return Err(self.expected(
                        n,
                        "previewService",
                        "a Service name (lowercase letters, digits and -, starting with a letter, at most 63)",
                    ));
                }
                Some(name)
            }
        };
        let selector_label = match &raw.selector_label {
            None => defaults::SELECTOR_LABEL.to_owned(),
            Some(n) => {
                let label = self.string(n, "selectorLabel", "a label key")?;
                if !is_label_key(&label) {
                    return Err(self.expected(
                        n,
                        "selectorLabel",
                        "a label key like rollout.dev/slot or version",
                    ));
                }
                label
            }
        };
        Ok(BlueGreen {
            preview_service,
            selector_label,
            auto_promotion: self.boolean(raw.auto_promotion.as_ref(), "autoPromotion", true)?,
            pre_promotion: self.check_list(raw.pre_promotion.as_ref(), "prePromotion", refs)?,
            post_promotion: self.check_list(raw.post_promotion.as_ref(), "postPromotion", refs)?,
            post_promotion_window: self.duration(
                raw.post_promotion_window.as_ref(),
                "postPromotionWindow",
                defaults::POST_PROMOTION_WINDOW,
            )?,
            scale_down_delay: self.duration(
                raw.scale_down_delay.as_ref(),
                "scaleDownDelay",
                defaults::SCALE_DOWN_DELAY,
            )?,
        })
    }

    pub(super) fn canary(
        &self,
        raw: &RawSpec,
        strategy: &Node,
        refs: &mut Vec<NameRef>,
    ) -> R<Canary> {
        let Some(steps) = &raw.steps else {
            return Err(self.err(
                strategy,
                "strategy",
                "a canary needs `steps` (a list of setWeight, pause, analysis and setCanaryScale steps)",
            ));
        };
        if steps.value.is_empty() {
            return Err(self.err(
                steps,
                "steps",
                "expected at least one step, got an empty list",
            ));
        }
        let mut out = Vec::new();
        for (i, step) in steps.value.iter().enumerate() {
            out.push(self.step(step, &index("steps", i), refs)?);
        }
        Ok(Canary { steps: out })
    }

    pub(super) fn step(
        &self,
        step: &Spanned<RawStep>,
        path: &str,
        refs: &mut Vec<NameRef>,
    ) -> R<CanaryStep> {
        let s = &step.value;
        let mut written: Vec<(Pos, &str)> = [
            ("setWeight", s.set_weight.is_some()),
            ("pause", s.pause.is_some()),
            ("analysis", s.analysis.is_some()),
            ("setCanaryScale", s.set_canary_scale.is_some()),
        ]
        .into_iter()
        .filter(|(_, present)| *present)
        .map(|(key, _)| (self.index.key_location_of(&join(path, key)), key))
        .collect();
        written.sort();
        match written.as_slice() {
            [] => {
                return Err(self.err(
                    step,
                    path,
                    "expected a step: setWeight, pause, analysis or setCanaryScale, got an empty mapping",
                ));
            }
            [_] => {}
            [(_, first), (_, second), ..] => {
                return Err(self.key_err(
                    &join(path, second),
                    format!(
                        "a step has exactly one key and this one already has `{first}`; start a new `- {second}: ...` item"
                    ),
                ));
            }
        }
        if let Some(n) = &s.set_weight {
            return self
                .parse(n, &join(path, "setWeight"), WEIGHT_EXPECTED)
                .map(CanaryStep::SetWeight);
        }
        if let Some(n) = &s.pause {
            return self.pause(n, &join(path, "pause")).map(CanaryStep::Pause);
        }
        if let Some(n) = &s.analysis {
            let ap = join(path, "analysis");
            return self.analysis_step(n, &ap, refs).map(CanaryStep::Analysis);
        }
        match &s.set_canary_scale {
            Some(scale) => self
                .canary_scale(scale, &join(path, "setCanaryScale"))
                .map(CanaryStep::SetCanaryScale),
            None => Err(self.err(step, path, "expected a step")),
        }
    }

    /// `analysis: NAME`, `analysis: [NAMES]`, or
    /// `analysis: {checks: NAMES, timeout: 2m, onInconclusive: pause}`.
    pub(super) fn analysis_step(
        &self,
        node: &Node,
        path: &str,
        refs: &mut Vec<NameRef>,
    ) -> R<AnalysisStep> {
        let what = "a check name, a list of them, or {checks, timeout, onInconclusive, load}";
        let mut step = AnalysisStep {
            checks: Vec::new(),
            load: None,
            timeout: None,
            on_inconclusive: None,
        };
        let checks = match &node.value {
            Value::Map(_) => {
                let mut checks = None;
                for (key, value) in
                    self.entries(node, path, &["checks", "timeout", "onInconclusive", "load"])?
                {
                    let kp = join(path, &key.value);
                    match key.value.as_str() {
                        "checks" => checks = Some((value, kp)),
                        "timeout" => {
                            step.timeout =
                                Some(self.positive_duration(Some(value), &kp, Duration::ZERO)?)
                        }
                        "load" => step.load = Some(self.load(value, &kp)?),
                        _ => {
                            step.on_inconclusive = Some(self.on_inconclusive(
                                Some(value),
                                &kp,
                                OnInconclusive::Fail,
                            )?)
                        }
                    }
                }
                match checks {
                    Some(c) => c,
                    None => {
                        return Err(self.missing(
                            node,
                            path,
                            "missing key `checks`: the checks to run",
                        ));
                    }
                }
            }
            _ => (node, path.to_owned()),
        };
        if matches!(&checks.0.value, Value::Seq(items) if items.is_empty()) {
            return Err(self.expected(checks.0, &checks.1, what));
        }
        let names = self.names(checks.0, &checks.1, "a check name")?;
        step.checks = names.iter().map(|r| r.name.clone()).collect();
        refs.extend(names);
        Ok(step)
    }

    /// `maxDuration` and `onInconclusive` of an A/B or shadow rollout.
    fn inconclusive_keys(
        &self,
        raw: &RawSpec,
        duration: Duration,
    ) -> R<(Option<Duration>, OnInconclusive)> {
        let max = match &raw.max_duration {
            Some(n) => {
                let max = self.positive_duration(Some(n), "maxDuration", duration)?;
                if max < duration {
                    return Err(self.expected(
                        n,
                        "maxDuration",
                        &format!("a duration of at least `duration` ({duration})"),
                    ));
                }
                Some(max)
            }
            None => None,
        };
        let on = self.on_inconclusive(
            raw.on_inconclusive.as_ref(),
            "onInconclusive",
            OnInconclusive::Fail,
        )?;
        Ok((max, on))
    }

    pub(super) fn pause(&self, node: &Node, path: &str) -> R<Pause> {
        let what = "a duration like 30s, or {} to wait for `rollout promote`";
        match &node.value {
            Value::Null => Ok(Pause::UntilPromoted),
            Value::Map(_) => {
                let entries = self.entries(node, path, &["duration"])?;
                match entries.first() {
                    None => Ok(Pause::UntilPromoted),
                    Some((_, d)) => self
                        .parse(d, &join(path, "duration"), DURATION_EXPECTED)
                        .map(Pause::For),
                }
            }
            Value::Seq(_) => Err(self.expected(node, path, what)),
            _ => match self.text(node).map(|t| t.parse::<Duration>()) {
                Some(Ok(d)) => Ok(Pause::For(d)),
                _ => Err(self.expected(node, path, what)),
            },
        }
    }

    pub(super) fn canary_scale(
        &self,
        scale: &Spanned<RawCanaryScale>,
        path: &str,
    ) -> R<CanaryScale> {
        let s = &scale.value;
        let mut written: Vec<(Pos, &str)> = [
            ("replicas", s.replicas.is_some()),
            ("weight", s.weight.is_some()),
            ("matchTrafficWeight", s.match_traffic_weight.is_some()),
        ]
        .into_iter()
        .filter(|(_, present)| *present)
        .map(|(key, _)| (self.index.key_location_of(&join(path, key)), key))
        .collect();
        written.sort();
        if let [(_, first), (_, second), ..] = written.as_slice() {
            return Err(self.key_err(
                &join(path, second),
                format!(
                    "give one of replicas, weight or matchTrafficWeight; `{first}` is already set"
                ),
            ));
        }
        if let Some(n) = &s.replicas {
            return self
                .uint(Some(n), &join(path, "replicas"), 0, 0)
                .map(CanaryScale::Replicas);
        }
        if let Some(n) = &s.weight {
            return self
                .parse(n, &join(path, "weight"), WEIGHT_EXPECTED)
                .map(CanaryScale::Weight);
        }
        if let Some(n) = &s.match_traffic_weight {
            let mp = join(path, "matchTrafficWeight");
            return if self.boolean(Some(n), &mp, true)? {
                Ok(CanaryScale::MatchTrafficWeight)
            } else {
                Err(self.err(
                    n,
                    &mp,
                    "only `true` makes sense here; use replicas or weight to size the canary",
                ))
            };
        }
        Err(self.missing(
            scale,
            path,
            "expected one of replicas (a number of pods), weight (0 to 100) or matchTrafficWeight: true",
        ))
    }

    pub(super) fn ab(&self, raw: &RawSpec, strategy: &Node) -> R<Ab> {
        let Some(list) = &raw.match_ else {
            return Err(self.err(
                strategy,
                "strategy",
                "an ab rollout needs `match` (the requests that go to B: a header or a cookie)",
            ));
        };
        if list.value.is_empty() {
            return Err(self.err(
                list,
                "match",
                "expected at least one matcher, got an empty list",
            ));
        }
        let mut matches = Vec::new();
        for (i, m) in list.value.iter().enumerate() {
            matches.push(self.request_match(m, &index("match", i))?);
        }
        let duration =
            self.positive_duration(raw.duration.as_ref(), "duration", defaults::AB_DURATION)?;
        let (max_duration, on_inconclusive) = self.inconclusive_keys(raw, duration)?;
        Ok(Ab {
            matches,
            duration,
            max_duration,
            compare: self.compare(
                CompareFields::of_compare(raw.compare.as_ref().map(|c| &c.value)),
                "compare",
            )?,
            promote: self.opt_choice(
                raw.promote.as_ref(),
                "promote",
                "promotion rule",
                &Promote::NAMES,
                Promote::IfNoWorse,
            )?,
            on_inconclusive,
        })
    }

    pub(super) fn request_match(&self, m: &Spanned<RawMatch>, path: &str) -> R<RequestMatch> {
        let r = &m.value;
        let on = match (&r.header, &r.cookie) {
            (Some(_), Some(_)) => {
                return Err(self.key_err(
                    &join(path, "cookie"),
                    "a matcher has either `header` or `cookie`; use two list items to match both",
                ));
            }
            (None, None) => {
                return Err(self.missing(
                    m,
                    path,
                    "expected `header: NAME` or `cookie: NAME` (with `value` or `regex`)",
                ));
            }
            (Some(h), None) => MatchOn::Header(self.header_name(h, &join(path, "header"))?),
            (None, Some(c)) => MatchOn::Cookie(self.header_name(c, &join(path, "cookie"))?),
        };
        let value = match (&r.value, &r.regex) {
            (Some(_), Some(_)) => {
                return Err(self.key_err(
                    &join(path, "regex"),
                    "give either `value` or `regex`, not both",
                ));
            }
            (Some(v), None) => {
                MatchValue::Exact(self.string(v, &join(path, "value"), "a value")?)
            }
            (None, Some(re)) => {
                let rp = join(path, "regex");
                let pattern = self.string(re, &rp, "a regular expression")?;
                if let Err(e) = regex::Regex::new(&pattern) {
                    let why = e.to_string();
                    let why = why.lines().last().unwrap_or("invalid").trim().to_owned();
                    return Err(self.err(
                        re,
                        &rp,
                        format!("expected a regular expression, got `{pattern}` ({why})"),
                    ));
                }
                MatchValue::Regex(pattern)
            }
            (None, None) => MatchValue::Exact(defaults::MATCH_VALUE.to_owned()),
        };
        Ok(RequestMatch { on, value })
    }

    pub(super) fn shadow(&self, raw: &RawSpec) -> R<Shadow> {
        let mirror = self.percent(raw.mirror.as_ref(), "mirror", defaults::MIRROR)?;
        if let Some(n) = &raw.mirror
            && mirror.value() == 0.0
        {
            return Err(self.expected(n, "mirror", "a percentage above 0%, like 10% or 100%"));
        }
        let duration =
            self.positive_duration(raw.duration.as_ref(), "duration", defaults::SHADOW_DURATION)?;
        let (max_duration, on_inconclusive) = self.inconclusive_keys(raw, duration)?;
        Ok(Shadow {
            mirror,
            duration,
            max_duration,
            on_inconclusive,
            compare: self.compare(
                CompareFields::of_compare(raw.compare.as_ref().map(|c| &c.value)),
                "compare",
            )?,
            promote: self.opt_choice(
                raw.promote.as_ref(),
                "promote",
                "promotion rule",
                &Promote::NAMES,
                Promote::IfNoWorse,
            )?,
        })
    }
}
