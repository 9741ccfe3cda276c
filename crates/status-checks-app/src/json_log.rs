//! JSON log lines: one object per event, built in one buffer and written once.
//!
//! The shape is tracing-subscriber's flattened JSON: `timestamp`, `level`, `target`, `message` and the event's
//! own fields at the top level, and the span the event belongs to as `span` (its fields and `name`). Its own
//! JSON format writes through a `fmt::Write` adaptor in many small pieces; at the default level, one line per
//! request, that cost a third of `GET /user`'s instructions (see docs/benchmarks.md).

use std::fmt;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// The event format of `--log-format json`.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonLines;

impl<S> FormatEvent<S, JsonFields> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, JsonFields>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut line = Line(Vec::with_capacity(256));
        line.raw("{\"timestamp\":");
        line.string(&chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true));
        line.raw(",\"level\":");
        line.string(meta.level().as_str());
        line.raw(",\"target\":");
        line.string(meta.target());
        event.record(&mut line);
        if let Some(span) = ctx.parent_span() {
            line.raw(",\"span\":{");
            let extensions = span.extensions();
            // The span's fields, already a JSON object (formatted by `JsonFields` when the span was made).
            let fields = extensions
                .get::<FormattedFields<JsonFields>>()
                .map(|f| f.fields.trim())
                .and_then(|f| f.strip_prefix('{'))
                .and_then(|f| f.strip_suffix('}'))
                .unwrap_or_default();
            if !fields.is_empty() {
                line.raw(fields);
                line.raw(",");
            }
            line.raw("\"name\":");
            line.string(span.name());
            line.raw("}");
        }
        line.raw("}\n");
        // Only `str`s and serde_json's output went in: valid UTF-8.
        writer.write_str(std::str::from_utf8(&line.0).map_err(|_| fmt::Error)?)
    }
}

/// A line under construction.
struct Line(Vec<u8>);

impl Line {
    fn raw(&mut self, json: &str) {
        self.0.extend_from_slice(json.as_bytes());
    }

    /// A quoted, escaped JSON string.
    fn string(&mut self, value: &str) {
        // Writing to a Vec cannot fail, and a `str` always serialises.
        let _ = serde_json::to_writer(&mut self.0, value);
    }

    fn key(&mut self, field: &Field) {
        self.raw(",");
        self.string(field.name());
        self.raw(":");
    }
}

impl Visit for Line {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.key(field);
        self.string(value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.key(field);
        self.string(&format!("{value:?}"));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.key(field);
        self.raw(&value.to_string());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.key(field);
        self.raw(&value.to_string());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.key(field);
        self.raw(if value { "true" } else { "false" });
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.key(field);
        // serde_json writes a non-finite number as `null`.
        let _ = serde_json::to_writer(&mut self.0, &value);
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.key(field);
        self.string(&value.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use std::sync::{Arc, Mutex};

    /// Runs `emit` under a subscriber with this format and returns the lines, parsed.
    fn lines(emit: impl FnOnce()) -> Vec<Value> {
        let out = Arc::new(Mutex::new(Vec::<u8>::new()));
        let sink = out.clone();
        let subscriber = tracing_subscriber::fmt()
            .fmt_fields(JsonFields::new())
            .event_format(JsonLines)
            .with_writer(move || Sink(sink.clone()))
            .finish();
        tracing::subscriber::with_default(subscriber, emit);
        let text = String::from_utf8(out.lock().map(|b| b.clone()).unwrap_or_default())
            .unwrap_or_default();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }

    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if let Ok(mut out) = self.0.lock() {
                out.extend_from_slice(buf);
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn an_event_in_a_span_is_one_object_with_its_fields_and_the_span() {
        let got = lines(|| {
            let span = tracing::info_span!("request", method = %"GET");
            tracing::info!(parent: &span, route = %"/api/v4/user", status = 200u16, latency_ms = 1.5, ok = true, delta = -3i64, "request");
        });
        assert_eq!(got.len(), 1);
        let line = &got[0];
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["message"], "request");
        assert_eq!(line["target"], module_path!());
        assert_eq!(
            (&line["route"], &line["status"], &line["latency_ms"]),
            (&json!("/api/v4/user"), &json!(200), &json!(1.5))
        );
        assert_eq!((&line["ok"], &line["delta"]), (&json!(true), &json!(-3)));
        assert_eq!(line["span"], json!({"method": "GET", "name": "request"}));
        let timestamp = line["timestamp"].as_str().unwrap_or_default();
        assert!(
            chrono::DateTime::parse_from_rfc3339(timestamp).is_ok(),
            "{timestamp}"
        );
    }

    #[test]
    fn strings_are_escaped_and_spans_are_optional() {
        let hostile = "quote \" backslash \\ newline \n tab \t bell \u{7} é";
        let got = lines(|| {
            tracing::warn!(
                detail = hostile,
                not_finite = f64::NAN,
                "a {} message",
                "formatted"
            );
            let empty = tracing::info_span!("quiet");
            let _entered = empty.enter();
            tracing::error!(error = &std::io::Error::other("boom") as &dyn std::error::Error);
        });
        assert_eq!(got.len(), 2);
        assert_eq!(got[0]["detail"], hostile);
        assert_eq!(got[0]["message"], "a formatted message");
        assert_eq!(got[0]["not_finite"], Value::Null);
        assert!(got[0].get("span").is_none());
        assert_eq!(got[1]["error"], "boom");
        assert_eq!(got[1]["span"], json!({"name": "quiet"}));
    }
}
