//! The `analysis` section: checks of every kind, their shared defaults, and the references to
//! them from steps and the background.

use serde_saphyr::Spanned;

use super::super::condition::{Condition, JsonPath, QuantityKind};
use super::super::locate::{index, join};
use super::super::model::*;
use super::super::raw::*;
use super::super::values::Duration;
use super::*;

impl Cx<'_> {
    pub(super) fn analysis(
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
        let timeout = self.positive_duration(
            a.and_then(|a| a.timeout.as_ref()),
            "analysis.timeout",
            defaults::ANALYSIS_TIMEOUT,
        )?;
        let on_inconclusive = self.on_inconclusive(
            a.and_then(|a| a.on_inconclusive.as_ref()),
            "analysis.onInconclusive",
            OnInconclusive::Fail,
        )?;
        let load = a
            .and_then(|a| a.load.as_ref())
            .map(|n| self.load(n, "analysis.load"))
            .transpose()?;
        let analysis = Analysis {
            interval,
            count,
            failure_limit,
            consecutive_error_limit,
            background,
            timeout,
            on_inconclusive,
            load,
            checks,
        };
        Ok((analysis, refs))
    }

    pub(super) fn on_inconclusive(
        &self,
        node: Option<&Node>,
        path: &str,
        default: OnInconclusive,
    ) -> R<OnInconclusive> {
        self.opt_choice(
            node,
            path,
            "onInconclusive value",
            &OnInconclusive::NAMES,
            default,
        )
    }

    /// Every referenced check exists.
    pub(super) fn resolve(&self, refs: &[NameRef], analysis: &Analysis) -> R<()> {
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

    pub(super) fn check_list(
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

    pub(super) fn check(
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
            ("exec", c.exec.is_some()),
            ("webhook", c.webhook.is_some()),
        ];
        let written: Vec<&str> = kinds.iter().filter(|(_, p)| *p).map(|(k, _)| *k).collect();
        let kind = match written.as_slice() {
            [one] => *one,
            [] => {
                return Err(self.missing(
                    raw,
                    &path,
                    "expected one of the keys probe, http, prometheus, compare, exec or webhook (the kind of check)",
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
            "exec" => CheckKind::Exec(self.exec(raw, &path)?),
            "webhook" => CheckKind::Webhook(self.webhook(raw, &path)?),
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
    pub(super) fn kind_keys(&self, c: &RawCheck, kind: &str, path: &str) -> R<()> {
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

    pub(super) fn probe(
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

    pub(super) fn url(&self, node: &Node, path: &str) -> R<String> {
        let url = self.string(node, path, "an absolute URL")?;
        if is_http_url(&url) {
            Ok(url)
        } else {
            Err(self.expected(
                node,
                path,
                "an absolute URL starting with http:// or https://",
            ))
        }
    }

    pub(super) fn exec(&self, check: &Spanned<RawCheck>, path: &str) -> R<ExecCheck> {
        const EXAMPLE: &str = r#"["./smoke.sh", "--fast"]"#;
        let Some(raw) = &check.value.exec else {
            return Err(self.missing(check, path, "missing key `exec`"));
        };
        let ep = join(path, "exec");
        let Some(node) = &raw.value.command else {
            return Err(self.missing(
                raw,
                &ep,
                format!("missing key `command`: the program and its arguments, like {EXAMPLE}"),
            ));
        };
        let cp = join(&ep, "command");
        let Value::Seq(items) = &node.value else {
            return Err(self.expected(
                node,
                &cp,
                &format!(
                    "a list of the program and its arguments, like {EXAMPLE} (it runs without a shell)"
                ),
            ));
        };
        if items.is_empty() {
            return Err(self.err(
                node,
                &cp,
                format!(
                    "expected the program and its arguments, like {EXAMPLE}, got an empty list"
                ),
            ));
        }
        let mut command = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let ip = index(&cp, i);
            let word = match self.text(item) {
                // The program needs a name; an argument may be empty.
                Some(w) if i == 0 && w.trim().is_empty() => None,
                Some(w) if w.contains('\0') => None,
                other => other,
            };
            let Some(word) = word else {
                let what = if i == 0 {
                    "the program to run (a name or a path)"
                } else {
                    "an argument (one word of text)"
                };
                return Err(self.expected(item, &ip, what));
            };
            command.push(word);
        }
        let timeout = self.positive_duration(
            raw.value.timeout.as_ref(),
            &join(&ep, "timeout"),
            defaults::EXEC_TIMEOUT,
        )?;
        Ok(ExecCheck { command, timeout })
    }

    pub(super) fn webhook(&self, check: &Spanned<RawCheck>, path: &str) -> R<WebhookCheck> {
        let Some(raw) = &check.value.webhook else {
            return Err(self.missing(check, path, "missing key `webhook`"));
        };
        let wp = join(path, "webhook");
        let Some(url) = &raw.value.url else {
            return Err(self.missing(
                raw,
                &wp,
                "missing key `url`: where to POST, like http://tester:8080/check",
            ));
        };
        Ok(WebhookCheck {
            url: self.url(url, &join(&wp, "url"))?,
            timeout: self.positive_duration(
                raw.value.timeout.as_ref(),
                &join(&wp, "timeout"),
                defaults::WEBHOOK_TIMEOUT,
            )?,
            confirm: self.boolean(raw.value.confirm.as_ref(), &join(&wp, "confirm"), false)?,
        })
    }

    pub(super) fn http(&self, check: &Spanned<RawCheck>, path: &str) -> R<HttpCheck> {
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

    pub(super) fn prometheus(&self, check: &Spanned<RawCheck>, path: &str) -> R<PrometheusCheck> {
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

    pub(super) fn compare(&self, f: CompareFields<'_>, path: &str) -> R<Compare> {
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
        // Tests this tool does not run are named as such rather than taken for another.
        if let Some(node) = f.test
            && let Some(t) = self.text(node)
            && matches!(t.trim(), "z-test" | "mann-whitney")
        {
            return Err(self.err(
                node,
                &tp,
                format!(
                    "`{}` is not a test rollout runs: comparisons use the always-valid sequential test (`sequential`, the default), valid however often they look, or `threshold` (no statistics)",
                    t.trim()
                ),
            ));
        }
        let test = self.opt_choice(
            f.test,
            &tp,
            "statistical test",
            &StatTest::NAMES,
            StatTest::Sequential,
        )?;
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
}
