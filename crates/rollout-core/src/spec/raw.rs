//! Stage 1: the strategy file as written, deserialized by serde-saphyr.
//!
//! These structs fix the *shape* of the file: which keys exist in which mapping (unknown keys
//! are rejected here, with a suggestion), which values are lists or mappings. Every leaf is a
//! [`Node`]: the YAML value as written plus its source location, so that stage 2
//! ([`super::validate`]) can turn it into a typed value and, when it cannot, say where and why.
//!
//! Every field is optional here; stage 2 decides what is required, what applies to which
//! strategy, and supplies the defaults.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// A YAML value with its source location.
pub type Node = Spanned<Value>;

/// Any YAML value, keeping the locations of nested values and of mapping keys.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Spanned<String>, Node)>),
}

impl Value {
    /// How the value is described in "got ..." messages when it is not a scalar.
    pub fn shape(&self) -> Option<&'static str> {
        match self {
            Value::Null => Some("nothing"),
            Value::Seq(_) => Some("a list"),
            Value::Map(_) => Some("a mapping"),
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ValueVisitor;

        impl<'de> Visitor<'de> for ValueVisitor {
            type Value = Value;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any YAML value")
            }

            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
                Ok(Value::Bool(v))
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
                Ok(Value::Int(v))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
                Ok(Value::UInt(v))
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
                Ok(Value::Float(v))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
                Ok(Value::Str(v.to_owned()))
            }

            fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
                Ok(Value::Str(v))
            }

            fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
                Ok(Value::Null)
            }

            fn visit_none<E: de::Error>(self) -> Result<Value, E> {
                Ok(Value::Null)
            }

            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
                Value::deserialize(d)
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<Node>()? {
                    items.push(item);
                }
                Ok(Value::Seq(items))
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
                let mut entries = Vec::new();
                while let Some(key) = map.next_key::<Spanned<String>>()? {
                    let value = map.next_value::<Node>()?;
                    entries.push((key, value));
                }
                Ok(Value::Map(entries))
            }
        }

        deserializer.deserialize_any(ValueVisitor)
    }
}

/// A mapping with free-form keys (check names, header names, JSON paths), in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct RawMap<T>(pub Vec<(Spanned<String>, Spanned<T>)>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for RawMap<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MapVisitor<T>(std::marker::PhantomData<T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for MapVisitor<T> {
            type Value = RawMap<T>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawMap<T>, A::Error> {
                let mut entries = Vec::new();
                while let Some(key) = map.next_key::<Spanned<String>>()? {
                    let value = map.next_value::<Spanned<T>>()?;
                    entries.push((key, value));
                }
                Ok(RawMap(entries))
            }
        }

        deserializer.deserialize_map(MapVisitor(std::marker::PhantomData))
    }
}

/// `key:` with nothing after it is `null`; for the few keys where that means something
/// (`pause:`, `probe:`), keep it as present instead of letting `Option` read it as absent.
fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// The whole strategy file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawSpec {
    // Every strategy.
    pub strategy: Option<Node>,
    pub description: Option<Node>,
    pub traffic: Option<Node>,
    pub canary_header: Option<Node>,
    pub progress_deadline: Option<Node>,
    pub analysis: Option<Spanned<RawAnalysis>>,
    // recreate, rolling.
    pub verify: Option<Node>,
    // rolling.
    pub max_surge: Option<Node>,
    pub max_unavailable: Option<Node>,
    // blue-green.
    pub preview_service: Option<Node>,
    pub selector_label: Option<Node>,
    pub auto_promotion: Option<Node>,
    pub pre_promotion: Option<Node>,
    pub post_promotion: Option<Node>,
    pub post_promotion_window: Option<Node>,
    pub scale_down_delay: Option<Node>,
    // canary.
    pub steps: Option<Spanned<Vec<Spanned<RawStep>>>>,
    // ab, shadow.
    #[serde(rename = "match")]
    pub match_: Option<Spanned<Vec<Spanned<RawMatch>>>>,
    pub duration: Option<Node>,
    pub max_duration: Option<Node>,
    pub compare: Option<Spanned<RawCompare>>,
    pub promote: Option<Node>,
    pub on_inconclusive: Option<Node>,
    // shadow.
    pub mirror: Option<Node>,
    // Every strategy: where to post what happens.
    pub notify: Option<Spanned<Vec<Spanned<RawNotify>>>>,
}

/// One notification target: a URL and the events posted to it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawNotify {
    pub url: Option<Node>,
    pub events: Option<Node>,
}

/// One canary step: a mapping with exactly one of these keys (checked in stage 2).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawStep {
    pub set_weight: Option<Node>,
    #[serde(default, deserialize_with = "present")]
    pub pause: Option<Node>,
    pub analysis: Option<Node>,
    pub set_canary_scale: Option<Spanned<RawCanaryScale>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawCanaryScale {
    pub replicas: Option<Node>,
    pub weight: Option<Node>,
    pub match_traffic_weight: Option<Node>,
}

/// One A/B request matcher.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawMatch {
    pub header: Option<Node>,
    pub cookie: Option<Node>,
    pub value: Option<Node>,
    pub regex: Option<Node>,
}

/// The comparison options of an A/B or shadow rollout.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawCompare {
    pub metric: Option<Node>,
    pub test: Option<Node>,
    pub confidence: Option<Node>,
    pub max_error_rate_increase: Option<Node>,
    pub max_latency_increase: Option<Node>,
    pub min_samples: Option<Node>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawAnalysis {
    pub interval: Option<Node>,
    pub count: Option<Node>,
    pub failure_limit: Option<Node>,
    pub consecutive_error_limit: Option<Node>,
    pub background: Option<Node>,
    pub timeout: Option<Node>,
    pub on_inconclusive: Option<Node>,
    pub load: Option<Node>,
    pub checks: Option<Spanned<RawMap<RawCheck>>>,
}

/// One named check: exactly one kind key (`probe`, `http`, `prometheus`, `compare`, `exec`,
/// `webhook`), the common measurement keys, and the condition keys of its kind.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawCheck {
    // Kinds.
    #[serde(default, deserialize_with = "present")]
    pub probe: Option<Spanned<Option<RawProbe>>>,
    pub http: Option<Spanned<RawHttp>>,
    pub prometheus: Option<Spanned<RawPrometheus>>,
    pub compare: Option<Node>,
    pub exec: Option<Spanned<RawExec>>,
    pub webhook: Option<Spanned<RawWebhook>>,
    // Every kind.
    pub interval: Option<Node>,
    pub count: Option<Node>,
    pub failure_limit: Option<Node>,
    pub consecutive_error_limit: Option<Node>,
    // http.
    pub status: Option<Node>,
    pub success_rate: Option<Node>,
    pub p50: Option<Node>,
    pub p95: Option<Node>,
    pub p99: Option<Node>,
    pub body_match: Option<Node>,
    pub json: Option<Spanned<RawMap<Value>>>,
    // prometheus.
    pub condition: Option<Node>,
    // compare.
    pub metric: Option<Node>,
    pub test: Option<Node>,
    pub confidence: Option<Node>,
    pub max_error_rate_increase: Option<Node>,
    pub max_latency_increase: Option<Node>,
    pub min_samples: Option<Node>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawProbe {
    pub readiness_deadline: Option<Node>,
    pub max_restarts: Option<Node>,
    pub fail_on_crash_loop: Option<Node>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawHttp {
    pub url: Option<Node>,
    pub path: Option<Node>,
    pub via: Option<Node>,
    pub version: Option<Node>,
    pub method: Option<Node>,
    pub headers: Option<Spanned<RawMap<Value>>>,
    pub body: Option<Node>,
    pub requests: Option<Node>,
    pub timeout: Option<Node>,
    pub tls_verify: Option<Node>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawPrometheus {
    pub address: Option<Node>,
    pub query: Option<Node>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawExec {
    pub command: Option<Node>,
    pub timeout: Option<Node>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawWebhook {
    pub url: Option<Node>,
    pub timeout: Option<Node>,
    pub confirm: Option<Node>,
}
