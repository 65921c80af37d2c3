//! `load`: the synthetic requests an analysis sends (in `analysis`, the default of every
//! analysis step; in an analysis step, for that step).

use super::super::locate::{index, join};
use super::super::model::{Load, LoadTarget};
use super::super::raw::{Node, Value};
use super::super::values::{Duration, RATE_EXPECTED, Rate};
use super::{Cx, R};

impl Cx<'_> {
    /// `{rate: 20/s, paths: [/, /explore], duration: 1m, target: both}`; `rate` is required,
    /// `paths` defaults to `[/]`, `duration` to the whole step, `target` to `both`.
    pub(super) fn load(&self, node: &Node, path: &str) -> R<Load> {
        let entries = self.entries(node, path, &["rate", "paths", "duration", "target"])?;
        let mut rate = None;
        let mut paths = vec!["/".to_owned()];
        let mut duration = None;
        let mut target = LoadTarget::Both;
        for (key, value) in entries {
            let kp = join(path, &key.value);
            match key.value.as_str() {
                "rate" => rate = Some(self.parse::<Rate>(value, &kp, RATE_EXPECTED)?),
                "paths" => paths = self.load_paths(value, &kp)?,
                "duration" => {
                    duration = Some(self.positive_duration(Some(value), &kp, Duration::ZERO)?)
                }
                _ => {
                    target = self.choice(value, &kp, "load target", &LoadTarget::NAMES)?;
                }
            }
        }
        let Some(rate) = rate else {
            return Err(self.missing(node, path, format!("missing key `rate`: {RATE_EXPECTED}")));
        };
        Ok(Load {
            rate,
            paths,
            duration,
            target,
        })
    }

    /// One path or a list of them, each starting with `/`.
    fn load_paths(&self, node: &Node, path: &str) -> R<Vec<String>> {
        let what = "a path like /, or a list of them";
        let items: Vec<(&Node, String)> = match &node.value {
            Value::Seq(items) if items.is_empty() => {
                return Err(self.err(node, path, "expected at least one path, like [/, /explore]"));
            }
            Value::Seq(items) => items
                .iter()
                .enumerate()
                .map(|(i, n)| (n, index(path, i)))
                .collect(),
            Value::Str(_) => vec![(node, path.to_owned())],
            _ => return Err(self.expected(node, path, what)),
        };
        items
            .into_iter()
            .map(|(n, p)| {
                let text = self.string(n, &p, "a path starting with /")?;
                let text = text.trim();
                if !text.starts_with('/')
                    || text.contains(char::is_whitespace)
                    || text.contains('#')
                {
                    return Err(self.expected(
                        n,
                        &p,
                        "a path starting with /, without spaces or #",
                    ));
                }
                Ok(text.to_owned())
            })
            .collect()
    }
}
