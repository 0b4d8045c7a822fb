//! [`ConfigError`]: every problem found in the configuration, one per line, each naming the
//! variable, the value (unless secret) and what was expected.

use std::fmt;

/// One configuration problem. `Display` gives the user-facing line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// `<VARIABLE>="<value>": expected <what>` (`(secret)` in place of a secret value).
    Invalid {
        /// The environment variable.
        variable: &'static str,
        /// The value as given, or `None` for a secret, which is never shown.
        value: Option<String>,
        /// What a valid value looks like.
        expected: String,
    },
    /// `<VARIABLE> is required: <what it is>`.
    Missing {
        /// The environment variable.
        variable: &'static str,
        /// What the variable holds (and alternatives, if any).
        what: String,
    },
    /// `<A> and <B> are both set: expected <what>`, for settings that exclude each other.
    Conflict {
        /// The variables that are set together.
        variables: Vec<&'static str>,
        /// Which of them may be set.
        expected: String,
    },
}

impl Problem {
    /// The variables this problem is about (the first is the main one).
    pub fn variables(&self) -> Vec<&'static str> {
        match self {
            Self::Invalid { variable, .. } | Self::Missing { variable, .. } => vec![variable],
            Self::Conflict { variables, .. } => variables.clone(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // `{:?}` quotes and escapes the value, so a newline or quote in it cannot forge a
            // second line in the error or the log.
            Self::Invalid {
                variable,
                value: Some(value),
                expected,
            } => write!(f, "{variable}={value:?}: expected {expected}"),
            Self::Invalid {
                variable,
                value: None,
                expected,
            } => write!(f, "{variable}=(secret): expected {expected}"),
            Self::Missing { variable, what } => write!(f, "{variable} is required: {what}"),
            Self::Conflict {
                variables,
                expected,
            } => {
                let (names, verb) = match variables.as_slice() {
                    [] => (String::new(), "are set"),
                    [one] => ((*one).to_owned(), "is set"),
                    [a, b] => (format!("{a} and {b}"), "are both set"),
                    [init @ .., last] => (format!("{} and {last}", init.join(", ")), "are all set"),
                };
                write!(f, "{names} {verb}: expected {expected}")
            }
        }
    }
}

/// The configuration is invalid. Holds every problem found, not just the first, so one run
/// tells the user everything to fix; displays one problem per line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", lines(.problems))]
pub struct ConfigError {
    problems: Vec<Problem>,
}

impl ConfigError {
    /// An error holding `problems` (callers pass at least one).
    pub fn new(problems: Vec<Problem>) -> Self {
        Self { problems }
    }

    /// Every problem, in the order the variables were read.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }
}

fn lines(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(Problem::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_display_in_the_documented_shapes() {
        let cases = [
            (
                Problem::Invalid {
                    variable: "MAX_RUNNERS",
                    value: Some("ten".to_owned()),
                    expected: "a whole number from 0 to 1000".to_owned(),
                },
                r#"MAX_RUNNERS="ten": expected a whole number from 0 to 1000"#,
            ),
            (
                Problem::Invalid {
                    variable: "GITHUB_TOKEN",
                    value: None,
                    expected: "a token".to_owned(),
                },
                "GITHUB_TOKEN=(secret): expected a token",
            ),
            (
                Problem::Missing {
                    variable: "EC2_AMI_ID",
                    what: "the AMI".to_owned(),
                },
                "EC2_AMI_ID is required: the AMI",
            ),
            (
                Problem::Conflict {
                    variables: vec!["A", "B", "C"],
                    expected: "one".to_owned(),
                },
                "A, B and C are all set: expected one",
            ),
            (
                Problem::Invalid {
                    variable: "X",
                    value: Some("a\"\nb".to_owned()),
                    expected: "y".to_owned(),
                },
                r#"X="a\"\nb": expected y"#,
            ),
        ];
        for (problem, text) in cases {
            assert_eq!(problem.to_string(), text);
        }
    }

    #[test]
    fn config_error_shows_one_problem_per_line() {
        let err = ConfigError::new(vec![
            Problem::Missing {
                variable: "A",
                what: "a".to_owned(),
            },
            Problem::Missing {
                variable: "B",
                what: "b".to_owned(),
            },
        ]);
        assert_eq!(err.to_string(), "A is required: a\nB is required: b");
        assert_eq!(err.problems().len(), 2);
    }
}
