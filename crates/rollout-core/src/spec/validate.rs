//! Stage 2: [`RawSpec`] → [`Spec`]. Types every leaf, fills in defaults, checks what applies
//! to which strategy and that every referenced check exists. Every error names the node by
//! its path and carries its position.

use std::fmt::Display;
use std::str::FromStr;

use serde_saphyr::{Location, Spanned};

use super::condition::{Condition, JsonPath, Quantity, QuantityKind};
use super::error::{SpecError, ValueError, unknown_word};
use super::locate::{SourceIndex, index, join};
use super::model::*;
use super::raw::*;
use super::values::{DURATION_EXPECTED, Duration, IntOrPercent, Percent, WEIGHT_EXPECTED};

type R<T> = Result<T, SpecError>;

/// Line and column of a key, when written.
type Pos = Option<(usize, usize)>;

/// Defaults of keys that are not written.
pub(crate) mod defaults {
    use super::{Duration, Percent};

    pub const PROGRESS_DEADLINE: Duration = Duration::from_secs(600);
    pub const CANARY_HEADER: &str = "X-Rollout-Canary";
    pub const INTERVAL: Duration = Duration::from_secs(10);
    pub const COUNT: u32 = 1;
    pub const FAILURE_LIMIT: u32 = 0;
    pub const CONSECUTIVE_ERROR_LIMIT: u32 = 4;
    pub const PROBES: &str = "probes";
    pub const MAX_SURGE: Percent = Percent::new_const(25.0);
    pub const MAX_UNAVAILABLE: Percent = Percent::new_const(25.0);
    pub const SELECTOR_LABEL: &str = "pod-template-hash";
    pub const POST_PROMOTION_WINDOW: Duration = Duration::from_secs(30);
    pub const SCALE_DOWN_DELAY: Duration = Duration::from_secs(30);
    pub const AB_DURATION: Duration = Duration::from_secs(600);
    pub const SHADOW_DURATION: Duration = Duration::from_secs(300);
    pub const MIRROR: Percent = Percent::HUNDRED;
    pub const HTTP_REQUESTS: u32 = 10;
    pub const HTTP_TIMEOUT: Duration = Duration::from_secs(5);
    pub const HTTP_STATUS: &str = "in [200, 399]";
    pub const HTTP_SUCCESS_RATE: &str = ">= 99%";
    pub const CONFIDENCE: Percent = Percent::new_const(95.0);
    pub const MAX_ERROR_RATE_INCREASE: Percent = Percent::ZERO;
    pub const MAX_LATENCY_INCREASE: Percent = Percent::new_const(10.0);
    pub const MIN_SAMPLES: u32 = 50;
    pub const MATCH_VALUE: &str = "always";
}

/// Keys that only some strategies use.
const STRATEGY_KEYS: [(&str, &[StrategyKind]); 15] = {
    use StrategyKind::*;
    [
        ("verify", &[Recreate, Rolling]),
        ("maxSurge", &[Rolling]),
        ("maxUnavailable", &[Rolling]),
        ("previewService", &[BlueGreen]),
        ("selectorLabel", &[BlueGreen]),
        ("autoPromotion", &[BlueGreen]),
        ("prePromotion", &[BlueGreen]),
        ("postPromotion", &[BlueGreen]),
        ("postPromotionWindow", &[BlueGreen]),
        ("scaleDownDelay", &[BlueGreen]),
        ("steps", &[Canary]),
        ("match", &[Ab]),
        ("duration", &[Ab, Shadow]),
        ("compare", &[Ab, Shadow]),
        ("promote", &[Ab, Shadow]),
    ]
};

pub(crate) struct Cx<'a> {
    pub origin: &'a str,
    pub text: &'a str,
    pub index: &'a SourceIndex,
}

fn prefixed(path: &str, message: impl Display) -> String {
    if path.is_empty() {
        message.to_string()
    } else {
        format!("{path}: {message}")
    }
}

fn to_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

fn names_of<T>(table: &[(&'static str, T)]) -> Vec<&'static str> {
    table.iter().map(|(n, _)| *n).collect()
}

/// Names of checks referenced somewhere, with where.
struct NameRef {
    name: String,
    path: String,
    location: Location,
}

struct CheckDefaults {
    interval: Duration,
    count: u32,
    failure_limit: u32,
    consecutive_error_limit: u32,
    progress_deadline: Duration,
}

/// The compare keys, from a check or from an A/B or shadow `compare:` mapping.
#[derive(Clone, Copy)]
struct CompareFields<'a> {
    metric: Option<&'a Node>,
    test: Option<&'a Node>,
    confidence: Option<&'a Node>,
    max_error_rate_increase: Option<&'a Node>,
    max_latency_increase: Option<&'a Node>,
    min_samples: Option<&'a Node>,
}

impl<'a> CompareFields<'a> {
    fn of_check(c: &'a RawCheck) -> Self {
        CompareFields {
            metric: c.metric.as_ref(),
            test: c.test.as_ref(),
            confidence: c.confidence.as_ref(),
            max_error_rate_increase: c.max_error_rate_increase.as_ref(),
            max_latency_increase: c.max_latency_increase.as_ref(),
            min_samples: c.min_samples.as_ref(),
        }
    }

    fn of_compare(c: Option<&'a RawCompare>) -> Self {
        CompareFields {
            metric: c.and_then(|c| c.metric.as_ref()),
            test: c.and_then(|c| c.test.as_ref()),
            confidence: c.and_then(|c| c.confidence.as_ref()),
            max_error_rate_increase: c.and_then(|c| c.max_error_rate_increase.as_ref()),
            max_latency_increase: c.and_then(|c| c.max_latency_increase.as_ref()),
            min_samples: c.and_then(|c| c.min_samples.as_ref()),
        }
    }
}

impl Cx<'_> {
    // ----- errors -------------------------------------------------------------------------

    fn err_at(&self, location: Location, path: &str, message: impl Display) -> SpecError {
        let message = prefixed(path, message);
        if location.line() > 0 {
            return SpecError::at(
                self.origin,
                to_usize(location.line()),
                to_usize(location.column()),
                message,
            );
        }
        match self.index.location_of(path) {
            Some((line, column)) => SpecError::at(self.origin, line, column, message),
            None => SpecError::whole(self.origin, message),
        }
    }

    fn err<T>(&self, node: &Spanned<T>, path: &str, message: impl Display) -> SpecError {
        self.err_at(node.referenced, path, message)
    }

    /// An error about a key itself (not allowed here, conflicting with another one).
    fn key_err(&self, path: &str, message: impl Display) -> SpecError {
        let message = prefixed(path, message);
        match self.index.key_location_of(path) {
            Some((line, column)) => SpecError::at(self.origin, line, column, message),
            None => SpecError::whole(self.origin, message),
        }
    }

    /// A required key is missing from the mapping at `parent` (`node` is that mapping).
    fn missing<T>(&self, node: &Spanned<T>, parent: &str, message: impl Display) -> SpecError {
        self.err(node, parent, message)
    }

    // ----- scalars ------------------------------------------------------------------------

    /// The text of a scalar as written (`yes` stays `yes`, `1.50` stays `1.50`).
    fn text(&self, node: &Node) -> Option<String> {
        match &node.value {
            Value::Str(s) => Some(s.clone()),
            Value::Bool(_) | Value::Int(_) | Value::UInt(_) | Value::Float(_) => {
                Some(self.source_text(node).unwrap_or_else(|| match &node.value {
                    Value::Bool(b) => b.to_string(),
                    Value::Int(i) => i.to_string(),
                    Value::UInt(u) => u.to_string(),
                    Value::Float(f) => f.to_string(),
                    _ => String::new(),
                }))
            }
            Value::Null | Value::Seq(_) | Value::Map(_) => None,
        }
    }

    fn source_text(&self, node: &Node) -> Option<String> {
        let span = node.defined.span();
        let start = usize::try_from(span.byte_offset()?).ok()?;
        let len = usize::try_from(span.byte_len()?).ok()?;
        let text = self.text.get(start..start.checked_add(len)?)?.trim();
        (!text.is_empty()).then(|| text.to_owned())
    }

    /// How a node is shown after "got".
    fn got(&self, node: &Node) -> String {
        if let Some(shape) = node.value.shape() {
            return shape.to_owned();
        }
        match (&node.value, self.text(node)) {
            (Value::Str(s), _) => format!("`{s}`"),
            (_, Some(t)) => t,
            (_, None) => "something else".to_owned(),
        }
    }

    fn expected(&self, node: &Node, path: &str, what: &str) -> SpecError {
        self.err(
            node,
            path,
            format!("expected {what}, got {}", self.got(node)),
        )
    }

    fn parse<T: FromStr<Err = ValueError>>(&self, node: &Node, path: &str, what: &str) -> R<T> {
        match self.text(node) {
            Some(t) => t.parse().map_err(|m: ValueError| self.err(node, path, m.0)),
            None => Err(self.expected(node, path, what)),
        }
    }

    fn string(&self, node: &Node, path: &str, what: &str) -> R<String> {
        match self.text(node) {
            Some(t) if !t.trim().is_empty() => Ok(t),
            _ => Err(self.expected(node, path, what)),
        }
    }

    fn opt_string(&self, node: Option<&Node>, path: &str, what: &str) -> R<Option<String>> {
        node.map(|n| self.string(n, path, what)).transpose()
    }

    fn duration(&self, node: Option<&Node>, path: &str, default: Duration) -> R<Duration> {
        match node {
            Some(n) => self.parse(n, path, DURATION_EXPECTED),
            None => Ok(default),
        }
    }

    fn positive_duration(&self, node: Option<&Node>, path: &str, default: Duration) -> R<Duration> {
        let d = self.duration(node, path, default)?;
        match node {
            Some(n) if d.is_zero() => Err(self.err(
                n,
                path,
                format!(
                    "expected a duration above zero, like 30s, got {}",
                    self.got(n)
                ),
            )),
            _ => Ok(d),
        }
    }

    fn uint(&self, node: Option<&Node>, path: &str, min: u32, default: u32) -> R<u32> {
        let Some(n) = node else {
            return Ok(default);
        };
        let what = if min == 0 {
            "a whole number (0 or more)".to_owned()
        } else {
            format!("a whole number of at least {min}")
        };
        let value = match &n.value {
            Value::Int(i) => u32::try_from(*i).ok(),
            Value::UInt(u) => u32::try_from(*u).ok(),
            Value::Str(s) => s.trim().parse::<u32>().ok(),
            _ => None,
        };
        match value {
            Some(v) if v >= min => Ok(v),
            _ => Err(self.expected(n, path, &what)),
        }
    }

    fn boolean(&self, node: Option<&Node>, path: &str, default: bool) -> R<bool> {
        let Some(n) = node else {
            return Ok(default);
        };
        match (&n.value, self.text(n).as_deref()) {
            (Value::Bool(b), Some("true" | "false" | "True" | "False" | "TRUE" | "FALSE")) => {
                Ok(*b)
            }
            (Value::Str(_), Some("true")) => Ok(true),
            (Value::Str(_), Some("false")) => Ok(false),
            _ => Err(self.expected(n, path, "true or false")),
        }
    }

    fn percent(&self, node: Option<&Node>, path: &str, default: Percent) -> R<Percent> {
        match node {
            Some(n) => self.parse(n, path, "a percentage like 10%"),
            None => Ok(default),
        }
    }

    fn choice<T: Copy>(&self, node: &Node, path: &str, what: &str, table: &[(&str, T)]) -> R<T> {
        let names: Vec<&str> = table.iter().map(|(n, _)| *n).collect();
        let Some(t) = self.text(node) else {
            return Err(self.expected(node, path, &format!("one of {}", names.join(", "))));
        };
        table
            .iter()
            .find(|(n, _)| *n == t.trim())
            .map(|(_, v)| *v)
            .ok_or_else(|| self.err(node, path, unknown_word(what, t.trim(), &names)))
    }

    fn opt_choice<T: Copy>(
        &self,
        node: Option<&Node>,
        path: &str,
        what: &str,
        table: &[(&str, T)],
        default: T,
    ) -> R<T> {
        match node {
            Some(n) => self.choice(n, path, what, table),
            None => Ok(default),
        }
    }

    /// One name or a list of names.
    fn names(&self, node: &Node, path: &str, what: &str) -> R<Vec<NameRef>> {
        let one = |n: &Node, p: String| -> R<NameRef> {
            Ok(NameRef {
                name: self.string(n, &p, what)?,
                path: p,
                location: n.referenced,
            })
        };
        match &node.value {
            Value::Seq(items) => items
                .iter()
                .enumerate()
                .map(|(i, n)| one(n, index(path, i)))
                .collect(),
            Value::Map(_) | Value::Null => {
                Err(self.expected(node, path, &format!("{what}, or a list of them")))
            }
            _ => Ok(vec![one(node, path.to_owned())?]),
        }
    }

    /// A mapping whose keys are checked here (for the few mappings that are not raw structs).
    fn entries<'n>(
        &self,
        node: &'n Node,
        path: &str,
        allowed: &[&str],
    ) -> R<&'n [(Spanned<String>, Node)]> {
        let Value::Map(entries) = &node.value else {
            return Err(self.expected(node, path, "a mapping"));
        };
        for (key, _) in entries {
            if !allowed.contains(&key.value.as_str()) {
                return Err(self.err(key, path, unknown_word("key", &key.value, allowed)));
            }
        }
        Ok(entries)
    }

    fn condition(
        &self,
        node: &Node,
        path: &str,
        kinds: &[QuantityKind],
        bare_is_equality: bool,
        example: &str,
    ) -> R<Condition> {
        let Some(t) = self.text(node) else {
            return Err(self.expected(node, path, &format!("a condition like {example}")));
        };
        let trimmed = t.trim_start();
        let has_operator = trimmed.starts_with(['<', '>', '=', '!'])
            || trimmed.starts_with("in ")
            || trimmed.starts_with("in[");
        let condition = match t.parse::<Condition>() {
            Ok(c) => c,
            Err(message) if has_operator => return Err(self.err(node, path, message)),
            Err(_) if bare_is_equality => {
                let value: Quantity = t.parse().map_err(|m| self.err(node, path, m))?;
                Condition::equals(value)
            }
            Err(_) => {
                return Err(self.err(
                    node,
                    path,
                    format!("expected a condition with an operator, like {example}, got `{t}`"),
                ));
            }
        };
        if kinds.contains(&condition.kind()) {
            Ok(condition)
        } else {
            let on: Vec<&str> = kinds.iter().map(|k| k.describe()).collect();
            Err(self.err(
                node,
                path,
                format!(
                    "expected a condition on {}, like {example}, got `{}`",
                    on.join(" or "),
                    t.trim()
                ),
            ))
        }
    }

    fn default_condition(text: &str) -> Condition {
        text.parse()
            .unwrap_or(Condition::equals(Quantity::Text(text.to_owned())))
    }

    // ----- the spec -----------------------------------------------------------------------

    pub(crate) fn spec(&self, raw: &RawSpec) -> R<Spec> {
        let Some(strategy_node) = &raw.strategy else {
            let names: Vec<&str> = names_of(&StrategyKind::NAMES)
                .into_iter()
                .filter(|n| *n != "ramped")
                .collect();
            let names = names.join(", ");
            let message = format!("missing key `strategy`: expected one of {names}");
            return Err(match self.index.location_of("") {
                Some(_) => SpecError::at(self.origin, 1, 1, message),
                None => SpecError::whole(
                    self.origin,
                    format!("the file is empty; expected at least `strategy: NAME` ({names})"),
                ),
            });
        };
        let kind = self.choice(strategy_node, "strategy", "strategy", &StrategyKind::NAMES)?;
        self.strategy_keys(raw, kind)?;

        let description = self.opt_string(raw.description.as_ref(), "description", "a text")?;
        let traffic = self.opt_choice(
            raw.traffic.as_ref(),
            "traffic",
            "traffic router",
            &Traffic::table(),
            Traffic::Auto,
        )?;
        let canary_header = match &raw.canary_header {
            Some(n) => self.header_name(n, "canaryHeader")?,
            None => defaults::CANARY_HEADER.to_owned(),
        };
        let progress_deadline = self.positive_duration(
            raw.progress_deadline.as_ref(),
            "progressDeadline",
            defaults::PROGRESS_DEADLINE,
        )?;
        let (analysis, background) = self.analysis(raw.analysis.as_ref(), progress_deadline)?;
        let mut refs = background;
        let strategy = match kind {
            StrategyKind::Recreate => Strategy::Recreate(Recreate {
                verify: self.check_list(raw.verify.as_ref(), "verify", &mut refs)?,
            }),
            StrategyKind::Rolling => Strategy::Rolling(self.rolling(raw, &mut refs)?),
            StrategyKind::BlueGreen => Strategy::BlueGreen(self.blue_green(raw, &mut refs)?),
            StrategyKind::Canary => Strategy::Canary(self.canary(raw, strategy_node, &mut refs)?),
            StrategyKind::Ab => Strategy::Ab(self.ab(raw, strategy_node)?),
            StrategyKind::Shadow => Strategy::Shadow(self.shadow(raw)?),
        };
        self.resolve(&refs, &analysis)?;
        Ok(Spec {
            origin: self.origin.to_owned(),
            description,
            traffic,
            canary_header,
            progress_deadline,
            strategy,
            analysis,
            source: self.index.clone(),
        })
    }

    /// Keys written for another strategy are errors, not silently ignored.
    fn strategy_keys(&self, raw: &RawSpec, kind: StrategyKind) -> R<()> {
        let present = [
            raw.verify.is_some(),
            raw.max_surge.is_some(),
            raw.max_unavailable.is_some(),
            raw.preview_service.is_some(),
            raw.selector_label.is_some(),
            raw.auto_promotion.is_some(),
            raw.pre_promotion.is_some(),
            raw.post_promotion.is_some(),
            raw.post_promotion_window.is_some(),
            raw.scale_down_delay.is_some(),
            raw.steps.is_some(),
            raw.match_.is_some(),
            raw.duration.is_some(),
            raw.compare.is_some(),
            raw.promote.is_some(),
        ];
        let mut written: Vec<(usize, usize, &str, &[StrategyKind])> = Vec::new();
        for ((key, owners), present) in STRATEGY_KEYS.iter().zip(present) {
            if present && !owners.contains(&kind) {
                let (line, column) = self.index.key_location_of(key).unwrap_or((0, 0));
                written.push((line, column, key, owners));
            }
        }
        if raw.mirror.is_some() && kind != StrategyKind::Shadow {
            let (line, column) = self.index.key_location_of("mirror").unwrap_or((0, 0));
            written.push((line, column, "mirror", &[StrategyKind::Shadow]));
        }
        written.sort_by_key(|(line, column, ..)| (*line, *column));
        match written.first() {
            None => Ok(()),
            Some((_, _, key, owners)) => {
                let owners: Vec<&str> = owners.iter().map(|k| k.as_str()).collect();
                Err(self.key_err(
                    key,
                    format!(
                        "not used by the {kind} strategy; it is a setting of {}",
                        owners.join(" and ")
                    ),
                ))
            }
        }
    }

    fn header_name(&self, node: &Node, path: &str) -> R<String> {
        let name = self.string(node, path, "a header name")?;
        let token = name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c));
        if token {
            Ok(name)
        } else {
            Err(self.expected(node, path, "a header name (letters, digits and - only)"))
        }
    }

    // ----- analysis -----------------------------------------------------------------------

    fn analysis(
        &self,
        raw: Option<&Spanned<RawAnalysis>>,
        progress_deadline: Duration,
    ) -> R<(Analysis, Vec<NameRef>)> {
        let a = raw.map(|r| &r.value);
        let interval = self.positive_duration(
            a.and_then(|a| a.interval.as_ref()),
            "analysis.interval",
            defaults::INTERVAL,
        )?;
        let count = self.uint(
            a.and_then(|a| a.count.as_ref()),
            "analysis.count",
            1,
            defaults::COUNT,
        )?;
        let failure_limit = self.uint(
            a.and_then(|a| a.failure_limit.as_ref()),
            "analysis.failureLimit",
            0,
            defaults::FAILURE_LIMIT,
        )?;
        let consecutive_error_limit = self.uint(
            a.and_then(|a| a.consecutive_error_limit.as_ref()),
            "analysis.consecutiveErrorLimit",
            0,
            defaults::CONSECUTIVE_ERROR_LIMIT,
        )?;
        let check_defaults = CheckDefaults {
            interval,
            count,
            failure_limit,
            consecutive_error_limit,
            progress_deadline,
        };
        let mut checks = Vec::new();
        if let Some(raw_checks) = a.and_then(|a| a.checks.as_ref()) {
            for (name, check) in &raw_checks.value.0 {
                checks.push(self.check(name, check, &check_defaults)?);
            }
        }
        if !checks.iter().any(|c| c.name == defaults::PROBES) {
            checks.push(Check {
                name: defaults::PROBES.to_owned(),
                interval,
                count,
                failure_limit,
                consecutive_error_limit,
                kind: CheckKind::Probe(ProbeCheck {
                    readiness_deadline: progress_deadline,
                    max_restarts: 0,
                    fail_on_crash_loop: true,
                }),
            });
        }
        let mut refs = Vec::new();
        let background = match a.and_then(|a| a.background.as_ref()) {
            Some(node) => self.check_list(Some(node), "analysis.background", &mut refs)?,
            None => vec![defaults::PROBES.to_owned()],
        };
        let analysis = Analysis {
            interval,
            count,
            failure_limit,
            consecutive_error_limit,
            background,
            checks,
        };
        Ok((analysis, refs))
    }

    /// Every referenced check exists.
    fn resolve(&self, refs: &[NameRef], analysis: &Analysis) -> R<()> {
        let defined: Vec<&str> = analysis.checks.iter().map(|c| c.name.as_str()).collect();
        for r in refs {
            if !defined.contains(&r.name.as_str()) {
                let mut message = unknown_word("check", &r.name, &defined);
                message.push_str(" (checks are defined under analysis.checks)");
                return Err(self.err_at(r.location, &r.path, message));
            }
        }
        Ok(())
    }

    fn check_list(
        &self,
        node: Option<&Node>,
        path: &str,
        refs: &mut Vec<NameRef>,
    ) -> R<Vec<String>> {
        let Some(node) = node else {
            return Ok(Vec::new());
        };
        if matches!(&node.value, Value::Seq(items) if items.is_empty()) {
            return Ok(Vec::new());
        }
        let names = self.names(node, path, "a check name")?;
        let out = names.iter().map(|r| r.name.clone()).collect();
        refs.extend(names);
        Ok(out)
    }

    fn check(
        &self,
        name: &Spanned<String>,
        raw: &Spanned<RawCheck>,
        d: &CheckDefaults,
    ) -> R<Check> {
        let path = join("analysis.checks", &name.value);
        let valid_name = !name.value.is_empty()
            && name
                .value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid_name {
            return Err(self.err(
                name,
                "analysis.checks",
                format!(
                    "check names use letters, digits, - and _ only, got `{}`",
                    name.value
                ),
            ));
        }
        let c = &raw.value;
        let kinds = [
            ("probe", c.probe.is_some()),
            ("http", c.http.is_some()),
            ("prometheus", c.prometheus.is_some()),
            ("compare", c.compare.is_some()),
        ];
        let written: Vec<&str> = kinds.iter().filter(|(_, p)| *p).map(|(k, _)| *k).collect();
        let kind = match written.as_slice() {
            [one] => *one,
            [] => {
                return Err(self.missing(
                    raw,
                    &path,
                    "expected one of the keys probe, http, prometheus or compare (the kind of check)",
                ));
            }
            [first, second, ..] => {
                let mut both = [*first, *second];
                both.sort_by_key(|k| self.index.key_location_of(&join(&path, k)));
                return Err(self.key_err(
                    &join(&path, both[1]),
                    format!(
                        "a check has one kind, and this one is already {} {} check; define another check",
                        article(both[0]),
                        both[0]
                    ),
                ));
            }
        };
        self.kind_keys(c, kind, &path)?;
        let interval =
            self.positive_duration(c.interval.as_ref(), &join(&path, "interval"), d.interval)?;
        let count = self.uint(c.count.as_ref(), &join(&path, "count"), 1, d.count)?;
        let failure_limit = self.uint(
            c.failure_limit.as_ref(),
            &join(&path, "failureLimit"),
            0,
            d.failure_limit,
        )?;
        let consecutive_error_limit = self.uint(
            c.consecutive_error_limit.as_ref(),
            &join(&path, "consecutiveErrorLimit"),
            0,
            d.consecutive_error_limit,
        )?;
        let kind = match kind {
            "probe" => CheckKind::Probe(self.probe(c.probe.as_ref(), &join(&path, "probe"), d)?),
            "http" => CheckKind::Http(Box::new(self.http(raw, &path)?)),
            "prometheus" => CheckKind::Prometheus(self.prometheus(raw, &path)?),
            _ => {
                if let Some(n) = &c.compare {
                    self.choice(
                        n,
                        &join(&path, "compare"),
                        "comparison",
                        &[("canary-vs-stable", ())],
                    )?;
                }
                CheckKind::Compare(self.compare(CompareFields::of_check(c), &path)?)
            }
        };
        Ok(Check {
            name: name.value.clone(),
            interval,
            count,
            failure_limit,
            consecutive_error_limit,
            kind,
        })
    }

    /// Condition keys belong to one kind of check.
    fn kind_keys(&self, c: &RawCheck, kind: &str, path: &str) -> R<()> {
        let keys = [
            ("status", "http", c.status.is_some()),
            ("successRate", "http", c.success_rate.is_some()),
            ("p50", "http", c.p50.is_some()),
            ("p95", "http", c.p95.is_some()),
            ("p99", "http", c.p99.is_some()),
            ("bodyMatch", "http", c.body_match.is_some()),
            ("json", "http", c.json.is_some()),
            ("condition", "prometheus", c.condition.is_some()),
            ("metric", "compare", c.metric.is_some()),
            ("test", "compare", c.test.is_some()),
            ("confidence", "compare", c.confidence.is_some()),
            (
                "maxErrorRateIncrease",
                "compare",
                c.max_error_rate_increase.is_some(),
            ),
            (
                "maxLatencyIncrease",
                "compare",
                c.max_latency_increase.is_some(),
            ),
            ("minSamples", "compare", c.min_samples.is_some()),
        ];
        let mut wrong: Vec<(Pos, &str, &str)> = keys
            .iter()
            .filter(|(_, owner, present)| *present && *owner != kind)
            .map(|(key, owner, _)| (self.index.key_location_of(&join(path, key)), *key, *owner))
            .collect();
        wrong.sort();
        match wrong.first() {
            None => Ok(()),
            Some((_, key, owner)) => Err(self.key_err(
                &join(path, key),
                format!(
                    "only {owner} checks have `{key}`; this is {} {kind} check",
                    article(kind)
                ),
            )),
        }
    }

    fn probe(
        &self,
        raw: Option<&Spanned<Option<RawProbe>>>,
        path: &str,
        d: &CheckDefaults,
    ) -> R<ProbeCheck> {
        let p = raw.and_then(|r| r.value.as_ref());
        Ok(ProbeCheck {
            readiness_deadline: self.positive_duration(
                p.and_then(|p| p.readiness_deadline.as_ref()),
                &join(path, "readinessDeadline"),
                d.progress_deadline,
            )?,
            max_restarts: self.uint(
                p.and_then(|p| p.max_restarts.as_ref()),
                &join(path, "maxRestarts"),
                0,
                0,
            )?,
            fail_on_crash_loop: self.boolean(
                p.and_then(|p| p.fail_on_crash_loop.as_ref()),
                &join(path, "failOnCrashLoop"),
                true,
            )?,
        })
    }

    fn url(&self, node: &Node, path: &str) -> R<String> {
        let url = self.string(node, path, "an absolute URL")?;
        let rest = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"));
        match rest {
            Some(host)
                if !host.is_empty()
                    && !host.starts_with('/')
                    && !url.contains(char::is_whitespace) =>
            {
                Ok(url)
            }
            _ => Err(self.expected(
                node,
                path,
                "an absolute URL starting with http:// or https://",
            )),
        }
    }

    fn http(&self, check: &Spanned<RawCheck>, path: &str) -> R<HttpCheck> {
        let c = &check.value;
        let Some(raw) = &c.http else {
            return Err(self.missing(check, path, "missing key `http`"));
        };
        let h = &raw.value;
        let hp = join(path, "http");
        let target = match (&h.url, &h.path) {
            (Some(_), Some(_)) => {
                return Err(
                    self.key_err(&join(&hp, "path"), "give either `url` or `path`, not both")
                );
            }
            (None, None) => {
                return Err(self.missing(
                    raw,
                    &hp,
                    "missing key `path` (a path on the app, like /healthz) or `url` (an absolute URL)",
                ));
            }
            (Some(url), None) => {
                if h.via.is_some() {
                    return Err(self.key_err(
                        &join(&hp, "via"),
                        "only used with `path`; a `url` is requested as it is",
                    ));
                }
                HttpTarget::Url(self.url(url, &join(&hp, "url"))?)
            }
            (None, Some(p)) => {
                let pp = join(&hp, "path");
                let path_text = self.string(p, &pp, "a path starting with /")?;
                if !path_text.starts_with('/') || path_text.contains(char::is_whitespace) {
                    return Err(self.expected(p, &pp, "a path starting with /, like /healthz"));
                }
                let via = self.opt_choice(
                    h.via.as_ref(),
                    &join(&hp, "via"),
                    "way",
                    &[
                        ("auto", Via::Auto),
                        ("ingress", Via::Ingress),
                        ("service", Via::Service),
                    ],
                    Via::Auto,
                )?;
                HttpTarget::Path {
                    path: path_text,
                    via,
                }
            }
        };
        let version = self.opt_choice(
            h.version.as_ref(),
            &join(&hp, "version"),
            "version",
            &[("new", VersionRef::New), ("stable", VersionRef::Stable)],
            VersionRef::New,
        )?;
        let method = match &h.method {
            None => "GET".to_owned(),
            Some(n) => {
                let mp = join(&hp, "method");
                let m = self.string(n, &mp, "an HTTP method like GET or POST")?;
                if !m.chars().all(|c| c.is_ascii_alphabetic()) {
                    return Err(self.expected(n, &mp, "an HTTP method like GET or POST"));
                }
                m.to_ascii_uppercase()
            }
        };
        let mut headers = Vec::new();
        if let Some(map) = &h.headers {
            for (name, value) in &map.value.0 {
                let np = join(&join(&hp, "headers"), &name.value);
                let name_node = Spanned::new(
                    Value::Str(name.value.clone()),
                    name.referenced,
                    name.defined,
                );
                let header = self.header_name(&name_node, &np)?;
                let text = self.string(value, &np, "a header value")?;
                if text.contains(['\r', '\n']) {
                    return Err(self.expected(value, &np, "a header value on one line"));
                }
                headers.push((header, text));
            }
        }
        let body = self.opt_string(h.body.as_ref(), &join(&hp, "body"), "a request body")?;
        let requests = self.uint(
            h.requests.as_ref(),
            &join(&hp, "requests"),
            1,
            defaults::HTTP_REQUESTS,
        )?;
        let timeout = self.positive_duration(
            h.timeout.as_ref(),
            &join(&hp, "timeout"),
            defaults::HTTP_TIMEOUT,
        )?;
        let tls_verify = self.boolean(h.tls_verify.as_ref(), &join(&hp, "tlsVerify"), true)?;

        use QuantityKind as K;
        let status = match &c.status {
            Some(n) => self.condition(
                n,
                &join(path, "status"),
                &[K::Number],
                true,
                "\"in [200, 299]\"",
            )?,
            None => Self::default_condition(defaults::HTTP_STATUS),
        };
        let success_rate = match &c.success_rate {
            Some(n) => self.condition(
                n,
                &join(path, "successRate"),
                &[K::Percent],
                false,
                "\">= 99%\"",
            )?,
            None => Self::default_condition(defaults::HTTP_SUCCESS_RATE),
        };
        let latency = |node: &Option<Node>, key: &str| -> R<Option<Condition>> {
            node.as_ref()
                .map(|n| self.condition(n, &join(path, key), &[K::Duration], false, "\"< 300ms\""))
                .transpose()
        };
        let (p50, p95, p99) = (
            latency(&c.p50, "p50")?,
            latency(&c.p95, "p95")?,
            latency(&c.p99, "p99")?,
        );
        let body_match = match &c.body_match {
            None => None,
            Some(n) => {
                let bp = join(path, "bodyMatch");
                let pattern = self.string(n, &bp, "a regular expression")?;
                if let Err(e) = regex::Regex::new(&pattern) {
                    let why = e.to_string();
                    let why = why.lines().last().unwrap_or("invalid").trim().to_owned();
                    return Err(self.err(
                        n,
                        &bp,
                        format!("expected a regular expression, got `{pattern}` ({why})"),
                    ));
                }
                Some(pattern)
            }
        };
        let mut json = Vec::new();
        if let Some(map) = &c.json {
            let jp = join(path, "json");
            for (key, value) in &map.value.0 {
                let kp = join(&jp, &key.value);
                let json_path: JsonPath = key.value.parse().map_err(|m| self.err(key, &jp, m))?;
                let condition = self.condition(
                    value,
                    &kp,
                    &[K::Number, K::Text],
                    true,
                    "\"== ok\" or \"> 0\"",
                )?;
                json.push((json_path, condition));
            }
        }
        Ok(HttpCheck {
            target,
            version,
            method,
            headers,
            body,
            requests,
            timeout,
            tls_verify,
            status,
            body_match,
            json,
            success_rate,
            p50,
            p95,
            p99,
        })
    }

    fn prometheus(&self, check: &Spanned<RawCheck>, path: &str) -> R<PrometheusCheck> {
        let c = &check.value;
        let Some(raw) = &c.prometheus else {
            return Err(self.missing(check, path, "missing key `prometheus`"));
        };
        let pp = join(path, "prometheus");
        let address = match &raw.value.address {
            Some(n) => Some(self.url(n, &join(&pp, "address"))?),
            None => None,
        };
        let Some(query_node) = &raw.value.query else {
            return Err(self.missing(raw, &pp, "missing key `query` (a PromQL query)"));
        };
        let qp = join(&pp, "query");
        let query = self.string(query_node, &qp, "a PromQL query")?;
        let mut rest = query.as_str();
        while let Some(start) = rest.find("{{") {
            let after = &rest[start + 2..];
            let Some(end) = after.find("}}") else {
                return Err(self.err(
                    query_node,
                    &qp,
                    "a `{{` placeholder is not closed with `}}`",
                ));
            };
            let name = after[..end].trim();
            if !PROMETHEUS_PLACEHOLDERS.contains(&name) {
                return Err(self.err(
                    query_node,
                    &qp,
                    unknown_word(
                        "placeholder",
                        &format!("{{{{{name}}}}}"),
                        &[
                            "{{namespace}}",
                            "{{app}}",
                            "{{service}}",
                            "{{new}}",
                            "{{stable}}",
                            "{{interval}}",
                        ],
                    ),
                ));
            }
            rest = &after[end + 2..];
        }
        let Some(condition_node) = &c.condition else {
            return Err(self.missing(
                check,
                path,
                "missing key `condition`: what the query result must meet, like \"< 0.01\"",
            ));
        };
        let condition = self.condition(
            condition_node,
            &join(path, "condition"),
            &[QuantityKind::Number],
            false,
            "\"< 0.01\"",
        )?;
        Ok(PrometheusCheck {
            address,
            query,
            condition,
        })
    }

    fn compare(&self, f: CompareFields<'_>, path: &str) -> R<Compare> {
        let metrics = match f.metric {
            None => vec![CompareMetric::ErrorRate, CompareMetric::Latency],
            Some(node) => {
                let mp = join(path, "metric");
                let names = self.names(node, &mp, "a metric (error-rate or latency)")?;
                if names.is_empty() {
                    return Err(self.expected(node, &mp, "error-rate, latency, or both"));
                }
                let mut metrics = Vec::new();
                for r in &names {
                    let name_node =
                        Spanned::new(Value::Str(r.name.clone()), r.location, r.location);
                    let m = self.choice(&name_node, &r.path, "metric", &CompareMetric::NAMES)?;
                    if metrics.contains(&m) {
                        return Err(self.err_at(
                            r.location,
                            &r.path,
                            format!("`{}` is listed twice", r.name),
                        ));
                    }
                    metrics.push(m);
                }
                metrics
            }
        };
        let tp = join(path, "test");
        let test = self.opt_choice(
            f.test,
            &tp,
            "statistical test",
            &StatTest::NAMES,
            StatTest::Auto,
        )?;
        let incompatible = match test {
            StatTest::MannWhitney => metrics
                .contains(&CompareMetric::ErrorRate)
                .then_some("mann-whitney compares latencies; it cannot test error-rate (use auto to pick a test per metric)"),
            StatTest::ZTest => metrics
                .contains(&CompareMetric::Latency)
                .then_some("z-test compares error rates; it cannot test latency (use auto to pick a test per metric)"),
            StatTest::Auto | StatTest::Threshold => None,
        };
        if let (Some(message), Some(node)) = (incompatible, f.test) {
            return Err(self.err(node, &tp, message));
        }
        let cp = join(path, "confidence");
        let confidence = self.percent(f.confidence, &cp, defaults::CONFIDENCE)?;
        if let Some(node) = f.confidence
            && (confidence.value() <= 0.0 || confidence.value() >= 100.0)
        {
            return Err(self.expected(node, &cp, "a confidence above 0% and below 100%, like 95%"));
        }
        Ok(Compare {
            metrics,
            test,
            confidence,
            max_error_rate_increase: self.percent(
                f.max_error_rate_increase,
                &join(path, "maxErrorRateIncrease"),
                defaults::MAX_ERROR_RATE_INCREASE,
            )?,
            max_latency_increase: self.percent(
                f.max_latency_increase,
                &join(path, "maxLatencyIncrease"),
                defaults::MAX_LATENCY_INCREASE,
            )?,
            min_samples: self.uint(
                f.min_samples,
                &join(path, "minSamples"),
                1,
                defaults::MIN_SAMPLES,
            )?,
        })
    }

    // ----- strategies ---------------------------------------------------------------------

    fn rolling(&self, raw: &RawSpec, refs: &mut Vec<NameRef>) -> R<Rolling> {
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

    fn blue_green(&self, raw: &RawSpec, refs: &mut Vec<NameRef>) -> R<BlueGreen> {
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

    fn canary(&self, raw: &RawSpec, strategy: &Node, refs: &mut Vec<NameRef>) -> R<Canary> {
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

    fn step(&self, step: &Spanned<RawStep>, path: &str, refs: &mut Vec<NameRef>) -> R<CanaryStep> {
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
            if matches!(&n.value, Value::Seq(items) if items.is_empty()) {
                return Err(self.expected(n, &ap, "a check name, or a list of them"));
            }
            let names = self.names(n, &ap, "a check name")?;
            let out = names.iter().map(|r| r.name.clone()).collect();
            refs.extend(names);
            return Ok(CanaryStep::Analysis(out));
        }
        match &s.set_canary_scale {
            Some(scale) => self
                .canary_scale(scale, &join(path, "setCanaryScale"))
                .map(CanaryStep::SetCanaryScale),
            None => Err(self.err(step, path, "expected a step")),
        }
    }

    fn pause(&self, node: &Node, path: &str) -> R<Pause> {
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

    fn canary_scale(&self, scale: &Spanned<RawCanaryScale>, path: &str) -> R<CanaryScale> {
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

    fn ab(&self, raw: &RawSpec, strategy: &Node) -> R<Ab> {
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
        Ok(Ab {
            matches,
            duration: self.positive_duration(
                raw.duration.as_ref(),
                "duration",
                defaults::AB_DURATION,
            )?,
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

    fn request_match(&self, m: &Spanned<RawMatch>, path: &str) -> R<RequestMatch> {
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

    fn shadow(&self, raw: &RawSpec) -> R<Shadow> {
        let mirror = self.percent(raw.mirror.as_ref(), "mirror", defaults::MIRROR)?;
        if let Some(n) = &raw.mirror
            && mirror.value() == 0.0
        {
            return Err(self.expected(n, "mirror", "a percentage above 0%, like 10% or 100%"));
        }
        Ok(Shadow {
            mirror,
            duration: self.positive_duration(
                raw.duration.as_ref(),
                "duration",
                defaults::SHADOW_DURATION,
            )?,
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

fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u', 'h']) {
        "an"
    } else {
        "a"
    }
}

/// An RFC 1035 label, as Service names are.
fn is_dns_label(s: &str) -> bool {
    let bytes = s.as_bytes();
    !s.is_empty()
        && s.len() <= 63
        && bytes[0].is_ascii_lowercase()
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && !s.ends_with('-')
}

/// A Kubernetes label key: an optional DNS-subdomain prefix and `/`, then a name of at most
/// 63 characters.
fn is_label_key(s: &str) -> bool {
    let (prefix, name) = match s.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, s),
    };
    let name_ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    let prefix_ok = prefix.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 253
            && p.split('.').all(|part| {
                !part.is_empty()
                    && part
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                    && !part.starts_with('-')
                    && !part.ends_with('-')
            })
    });
    name_ok && prefix_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_keys() {
        assert!(is_label_key("rollout.dev/slot"));
        assert!(is_label_key("version"));
        assert!(is_label_key("app.kubernetes.io/version"));
        assert!(!is_label_key("/slot"));
        assert!(!is_label_key("Rollout.dev/slot"));
        assert!(!is_label_key("slot-"));
        assert!(!is_label_key(""));
    }

    #[test]
    fn dns_labels() {
        assert!(is_dns_label("web-preview"));
        assert!(!is_dns_label("Web"));
        assert!(!is_dns_label("1web"));
        assert!(!is_dns_label("web-"));
    }
}
