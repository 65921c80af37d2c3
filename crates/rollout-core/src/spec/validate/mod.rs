//! Stage 2: [`RawSpec`] → [`Spec`]. Types every leaf, fills in defaults, checks what applies
//! to which strategy and that every referenced check exists. Every error names the node by
//! its path and carries its position.

use std::fmt::Display;
use std::str::FromStr;

use serde_saphyr::{Location, Spanned};

use super::condition::{Condition, Quantity, QuantityKind};
use super::error::{SpecError, ValueError, unknown_word};
use super::locate::{SourceIndex, index};
use super::model::*;
use super::raw::*;
use super::values::{DURATION_EXPECTED, Duration, Percent};

mod checks;
mod load;
mod notify;
mod strategies;

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
    /// How long an analysis step goes on with an inconclusive check.
    pub const ANALYSIS_TIMEOUT: Duration = Duration::from_secs(300);

    pub const SHADOW_DURATION: Duration = Duration::from_secs(300);
    pub const MIRROR: Percent = Percent::HUNDRED;
    pub const HTTP_REQUESTS: u32 = 10;
    pub const HTTP_TIMEOUT: Duration = Duration::from_secs(5);
    pub const HTTP_STATUS: &str = "in [200, 399]";
    pub const HTTP_SUCCESS_RATE: &str = ">= 99%";
    pub const CONFIDENCE: Percent = Percent::new_const(95.0);
    pub const MAX_ERROR_RATE_INCREASE: Percent = Percent::new_const(1.0);
    pub const MAX_LATENCY_INCREASE: Percent = Percent::new_const(10.0);
    pub const MIN_SAMPLES: u32 = 50;
    pub const EXEC_TIMEOUT: Duration = Duration::from_secs(60);
    pub const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);
    pub const MATCH_VALUE: &str = "always";
}

/// Keys that only some strategies use.
const STRATEGY_KEYS: [(&str, &[StrategyKind]); 17] = {
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
        ("maxDuration", &[Ab, Shadow]),
        ("compare", &[Ab, Shadow]),
        ("promote", &[Ab, Shadow]),
        ("onInconclusive", &[Ab, Shadow]),
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
            let names = names_of(&StrategyKind::NAMES).join(", ");
            let message = format!("missing key `strategy`: expected one of {names}");
            return Err(match self.index.location_of("") {
                Some(_) => SpecError::at(self.origin, 1, 1, message),
                None => SpecError::whole(
                    self.origin,
                    format!("the file is empty; expected at least `strategy: NAME` ({names})"),
                ),
            });
        };
        let kind = self.choice(
            strategy_node,
            "strategy",
            "strategy",
            &StrategyKind::accepted(),
        )?;
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
        let notify = self.notify(raw.notify.as_ref())?;
        Ok(Spec {
            origin: self.origin.to_owned(),
            description,
            traffic,
            canary_header,
            progress_deadline,
            strategy,
            analysis,
            notify,
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
            raw.max_duration.is_some(),
            raw.compare.is_some(),
            raw.promote.is_some(),
            raw.on_inconclusive.is_some(),
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
}

/// An absolute `http://` or `https://` URL with a host, on one line.
pub(crate) fn is_http_url(url: &str) -> bool {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"));
    rest.is_some_and(|host| {
        !host.is_empty() && !host.starts_with('/') && !url.contains(char::is_whitespace)
    })
}

fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u', 'h']) {
        "an"
    } else {
        "a"
    }
}

/// An RFC 1035 label, as Service names are (one rule with the API server's).
fn is_dns_label(s: &str) -> bool {
    kube_util::names::is_dns1035_label(s).is_empty()
}

/// A Kubernetes label key: an optional DNS-subdomain prefix and `/`, then a name of at most
/// 63 characters (one rule with the API server's).
fn is_label_key(s: &str) -> bool {
    kube_util::names::is_qualified_name(s).is_empty()
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
