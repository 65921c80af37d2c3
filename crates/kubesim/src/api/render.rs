//! How one object is answered in the shape a client asked for (`as=Table`,
//! `as=PartialObjectMetadata`, or whole): the plain verbs and watch events both answer so.

use super::query::Shape;
use super::table;
use crate::resources::ResourceType;
use serde_json::{Value, json};

/// One object in the shape the client asked for (also used for watch events).
pub(super) fn render_shape(
    rt: &ResourceType,
    obj: &Value,
    shape: Shape,
    include_object: Option<&str>,
) -> Value {
    match shape {
        Shape::Object => obj.clone(),
        Shape::Metadata => partial_metadata(obj),
        Shape::Table => {
            let rv = obj
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                .unwrap_or_default();
            table::table(
                rt,
                &[obj],
                rv,
                table::IncludeObject::parse(include_object),
                jiff::Timestamp::now(),
            )
        }
    }
}

pub(super) fn partial_metadata(obj: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}
