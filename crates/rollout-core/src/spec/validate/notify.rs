//! The `notify` section: where the events of a rollout are posted, and which.

use serde_saphyr::Spanned;

use super::super::locate::{index, join};
use super::super::model::{Notify, NotifyEvent};
use super::super::raw::{Node, RawNotify, Value};
use super::{Cx, R};

impl Cx<'_> {
    pub(super) fn notify(&self, raw: Option<&Spanned<Vec<Spanned<RawNotify>>>>) -> R<Vec<Notify>> {
        let Some(list) = raw else {
            return Ok(Vec::new());
        };
        let mut out: Vec<Notify> = Vec::new();
        for (i, item) in list.value.iter().enumerate() {
            let path = index("notify", i);
            let Some(url_node) = &item.value.url else {
                return Err(self.missing(
                    item,
                    &path,
                    "missing key `url`: where to POST the events, like https://hooks.slack.com/services/...",
                ));
            };
            let url_path = join(&path, "url");
            let url = self.url(url_node, &url_path)?;
            // Two items for one URL would post some events twice.
            if out.iter().any(|n| n.url == url) {
                return Err(self.err(
                    url_node,
                    &url_path,
                    format!("`{url}` is listed twice; give all its events in one item"),
                ));
            }
            let events = match &item.value.events {
                None => NotifyEvent::all(),
                Some(node) => self.notify_events(node, &join(&path, "events"))?,
            };
            out.push(Notify { url, events });
        }
        Ok(out)
    }

    fn notify_events(&self, node: &Node, path: &str) -> R<Vec<NotifyEvent>> {
        if matches!(&node.value, Value::Seq(items) if items.is_empty()) {
            return Err(self.err(
                node,
                path,
                "expected at least one event; leave `events` out to send all of them",
            ));
        }
        let mut events = Vec::new();
        for r in self.names(node, path, "an event name")? {
            let name_node = Spanned::new(Value::Str(r.name.clone()), r.location, r.location);
            let event = self.choice(&name_node, &r.path, "event", &NotifyEvent::NAMES)?;
            if events.contains(&event) {
                return Err(self.err_at(
                    r.location,
                    &r.path,
                    format!("`{}` is listed twice", r.name),
                ));
            }
            events.push(event);
        }
        Ok(events)
    }
}
