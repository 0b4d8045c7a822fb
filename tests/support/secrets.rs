//! Secret hygiene (docs/design.md §2): the logs of a cycle, captured through `tracing`, and a
//! checker that finds secret values in any text (logs, errors, summaries, user-data, tags).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::sync::{Arc, Mutex};

use tracing::Dispatch;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::JsonFields;

/// Secrets shorter than this are not searched for: they would match by chance.
pub const MIN_SECRET_LEN: usize = 8;

/// A secret value found where it must not be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leak {
    /// Where it was found (`logs`, `error`, `user-data of lt-…`, …).
    pub place: String,
    /// The secret, shortened so the report does not repeat it whole.
    pub secret_prefix: String,
}

/// Every secret of `secrets` found in one of the `(place, text)` pairs.
pub fn find_leaks(places: &[(String, String)], secrets: &[String]) -> Vec<Leak> {
    let mut leaks = Vec::new();
    for secret in secrets.iter().filter(|s| s.len() >= MIN_SECRET_LEN) {
        for (place, text) in places {
            if text.contains(secret.as_str()) {
                leaks.push(Leak {
                    place: place.clone(),
                    secret_prefix: secret.chars().take(6).collect(),
                });
            }
        }
    }
    leaks
}

/// The secret lines of a PEM key: the whole text and each base64 body line.
pub fn pem_secrets(pem: &str) -> Vec<String> {
    let mut out = vec![pem.trim().to_owned()];
    out.extend(
        pem.lines()
            .map(str::trim)
            .filter(|l| !l.starts_with("-----") && l.len() >= MIN_SECRET_LEN)
            .map(str::to_owned),
    );
    out
}

/// Log lines written by the futures run under [`Logs::dispatch`], as the Lambda writes them
/// (the production JSON format), at `info` and everything of ghaec2 down to `trace`.
#[derive(Debug, Clone, Default)]
pub struct Logs(Arc<Mutex<Vec<u8>>>);

struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    /// A subscriber writing into this buffer.
    pub fn dispatch(&self) -> Dispatch {
        let buffer = self.0.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(EnvFilter::new("info,ghaec2=trace"))
            .fmt_fields(JsonFields::new())
            .event_format(ghaec2::telemetry::JsonLine)
            .with_writer(move || Sink(buffer.clone()))
            .finish();
        Dispatch::new(subscriber)
    }

    /// Everything captured so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}
