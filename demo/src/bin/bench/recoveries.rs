//! ghaec2's recoveries during a scenario, counted from its log lines: each kind it logs by
//! name, and every other warning or error by its message, so that no recovery goes uncounted
//! because the bench did not know its name.

use std::collections::BTreeMap;

use ghaec2_demo::LogLine;

/// A recovery ghaec2 logs with a line of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind {
    /// The log line's `msg`.
    pub msg: &'static str,
    /// What the report calls it.
    pub label: &'static str,
}

/// The kinds the report names, in its column order.
pub const KINDS: [Kind; 4] = [
    Kind {
        msg: "A step was still running after the window; ending the cycle.",
        label: "steps cut at a window boundary",
    },
    Kind {
        msg: "Transient failure; retrying.",
        label: "message retries",
    },
    Kind {
        msg: "Runner set-up failed; removing it.",
        label: "set-ups undone",
    },
    Kind {
        msg: "Cycle failed.",
        label: "cycles failed (restarted, or left to the next invocation)",
    },
];

/// The recoveries of one scenario.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recoveries {
    /// Lines of each of [`KINDS`], in order.
    pub by_kind: [usize; KINDS.len()],
    /// Every other WARN or ERROR line, by message.
    pub other: BTreeMap<String, usize>,
    /// Actions Service answers 429 or 5xx (each one retried by ghaec2's client or cycle).
    pub actions_errors: usize,
    /// AWS answers 5xx or injected by the proxy (retried by the SDK or ghaec2); `None` when
    /// the scenario's AWS calls did not go through the proxy.
    pub aws_errors: Option<usize>,
}

impl Recoveries {
    /// Counts `lines`; the answer counts are the caller's.
    pub fn from_lines<'a>(lines: impl IntoIterator<Item = &'a LogLine>) -> Self {
        let mut out = Self::default();
        for line in lines {
            let Some(msg) = line.msg() else { continue };
            match KINDS.iter().position(|k| k.msg == msg) {
                Some(i) => out.by_kind[i] += 1,
                None if is_warning(line) => *out.other.entry(msg.to_owned()).or_default() += 1,
                None => {}
            }
        }
        out
    }

    /// The sum of both, for a scenario of several runs.
    pub fn add(mut self, other: &Self) -> Self {
        for (mine, theirs) in self.by_kind.iter_mut().zip(other.by_kind) {
            *mine += theirs;
        }
        for (msg, n) in &other.other {
            *self.other.entry(msg.clone()).or_default() += n;
        }
        self.actions_errors += other.actions_errors;
        self.aws_errors = match (self.aws_errors, other.aws_errors) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
        };
        self
    }
}

fn is_warning(line: &LogLine) -> bool {
    matches!(
        line.json.get("level").and_then(|l| l.as_str()),
        Some("WARN" | "ERROR")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use ghaec2_demo::stand_ins::Stream;
    use serde_json::{Value, json};

    fn line(json: Value) -> LogLine {
        LogLine {
            stream: Stream::Stderr,
            at: chrono::Utc::now(),
            json,
        }
    }

    #[test]
    fn each_kind_and_every_other_warning_is_counted() {
        let lines = [
            line(json!({"level": "WARN", "msg": KINDS[0].msg})),
            line(json!({"level": "WARN", "msg": KINDS[1].msg})),
            line(json!({"level": "WARN", "msg": KINDS[1].msg})),
            line(json!({"level": "WARN", "msg": KINDS[2].msg})),
            line(json!({"level": "WARN", "msg": "Could not tag the instance."})),
            line(json!({"level": "ERROR", "msg": "Something new."})),
            line(json!({"level": "INFO", "msg": "Reconciled."})),
            line(Value::String("not json".into())),
        ];
        let r = Recoveries::from_lines(&lines);
        assert_eq!(r.by_kind, [1, 2, 1, 0]);
        assert_eq!(
            r.other.into_iter().collect::<Vec<_>>(),
            [
                ("Could not tag the instance.".to_owned(), 1),
                ("Something new.".to_owned(), 1)
            ]
        );
    }

    #[test]
    fn runs_add_up() {
        let a = Recoveries {
            by_kind: [1, 0, 0, 0],
            aws_errors: None,
            actions_errors: 2,
            ..Recoveries::default()
        };
        let b = Recoveries {
            by_kind: [0, 1, 0, 0],
            aws_errors: Some(3),
            ..Recoveries::default()
        };
        let sum = a.clone().add(&b);
        assert_eq!(sum.by_kind, [1, 1, 0, 0]);
        assert_eq!((sum.actions_errors, sum.aws_errors), (2, Some(3)));
        assert_eq!(a.clone().add(&a).aws_errors, None);
    }
}
