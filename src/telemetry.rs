//! JSON logs: one object per line with `msg`, `level`, `time`, `target` and the event's and
//! spans' fields at the top level (docs/design.md §6). Written to stderr so that stdout carries
//! only the summary in the CLI modes.

use std::fmt;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// Installs the JSON subscriber. `RUST_LOG` filters (default `info`).
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // A second init (tests) keeps the first subscriber.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .fmt_fields(tracing_subscriber::fmt::format::JsonFields::new())
        .event_format(JsonLine)
        .try_init();
}

/// Formats an event as one JSON object.
#[derive(Debug, Clone, Copy)]
pub struct JsonLine;

impl<S, N> FormatEvent<S, N> for JsonLine
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut object = Map::new();
        object.insert(
            "time".into(),
            Value::String(chrono::Utc::now().to_rfc3339()),
        );
        object.insert(
            "level".into(),
            Value::String(event.metadata().level().to_string()),
        );
        object.insert(
            "target".into(),
            Value::String(event.metadata().target().to_owned()),
        );
        // Span fields first, so the event's own fields win on a clash.
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                if let Some(fields) = span.extensions().get::<FormattedFields<N>>()
                    && let Ok(Value::Object(map)) = serde_json::from_str::<Value>(fields)
                {
                    object.extend(map);
                }
            }
        }
        event.record(&mut Fields(&mut object));
        // An Embedded Metric Format document stands at the top level of its line.
        if let Some(Value::Object(emf)) = object.remove(EMF_FIELD) {
            object.extend(emf);
        }
        let line = serde_json::to_string(&Value::Object(object)).map_err(|_| fmt::Error)?;
        writeln!(writer, "{line}")
    }
}

/// The field holding a CloudWatch Embedded Metric Format document (`emf = %json`), whose
/// members are lifted to the top level of the line.
pub const EMF_FIELD: &str = "emf";

/// Collects an event's fields; `message` becomes `msg`.
struct Fields<'a>(&'a mut Map<String, Value>);

impl Fields<'_> {
    fn put(&mut self, field: &Field, value: Value) {
        let name = match field.name() {
            "message" => "msg",
            other => other,
        };
        self.0.insert(name.to_owned(), value);
    }
}

impl Visit for Fields<'_> {
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, value.into());
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, value.into());
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, value.to_string().into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let text = format!("{value:?}");
        // An EMF document must stay an object, not become a string.
        let value = match field.name() {
            EMF_FIELD => serde_json::from_str(&text).unwrap_or(Value::String(text)),
            _ => Value::String(text),
        };
        self.put(field, value);
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(data);
            Ok(data.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn lines(log: impl FnOnce()) -> Vec<Value> {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .fmt_fields(tracing_subscriber::fmt::format::JsonFields::new())
            .event_format(JsonLine)
            .finish();
        tracing::subscriber::with_default(subscriber, log);
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn lines_carry_msg_and_fields_at_the_top_level() {
        let lines = lines(|| {
            let span = tracing::info_span!("cycle", scale_set_id = 7);
            let _guard = span.enter();
            tracing::info!(desired = 3, reason = "max", "Reconciled.");
        });
        assert_eq!(lines[0]["msg"], "Reconciled.");
        assert_eq!(lines[0]["desired"], 3);
        assert_eq!(lines[0]["scale_set_id"], 7);
        assert_eq!(lines[0]["level"], "INFO");
    }

    #[test]
    fn metrics_are_embedded_metric_format_at_the_top_level() {
        // Published by default.
        let lines = lines(|| crate::metrics::count("LaunchFailures", 4, &[]));
        assert_eq!(lines[0]["LaunchFailures"], 4.0);
        assert_eq!(
            lines[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            "ghaec2"
        );
        assert!(lines[0].get("emf").is_none());
    }
}
