//! [`ConfigError`]: every problem found in the configuration, one per line, each naming the
//! variable, the value (unless secret) and what was expected.

use std::fmt;

use super::vars::SCALE_SETS;

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
    /// `SCALE_SETS[<index>] <problem>`: a problem of one scale set listed in `SCALE_SETS`.
    InScaleSet {
        /// The scale set's position in the list, from 0.
        index: usize,
        /// The problem, as that scale set's variables show it.
        problem: Box<Problem>,
    },
    /// `SCALE_SETS[<index>] "<key>": expected <what>`: the shape of the list itself is wrong,
    /// at the whole text (no index), one element, or one of its keys. The text, which can be
    /// long, is not repeated.
    ScaleSets {
        /// The element's position in the list, from 0.
        index: Option<usize>,
        /// The element's key, as given.
        key: Option<String>,
        /// What a valid list, element or key looks like.
        expected: String,
    },
}

impl Problem {
    /// The variables this problem is about (the first is the main one).
    pub fn variables(&self) -> Vec<&'static str> {
        match self {
            Self::Invalid { variable, .. } | Self::Missing { variable, .. } => vec![variable],
            Self::Conflict { variables, .. } => variables.clone(),
            Self::InScaleSet { problem, .. } => problem.variables(),
            Self::ScaleSets { .. } => vec![SCALE_SETS],
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
            Self::InScaleSet { index, problem } => write!(f, "{SCALE_SETS}[{index}] {problem}"),
            Self::ScaleSets {
                index,
                key,
                expected,
            } => {
                f.write_str(SCALE_SETS)?;
                if let Some(index) = index {
                    write!(f, "[{index}]")?;
                }
                if let Some(key) = key {
                    write!(f, " {key:?}")?;
                }
                write!(f, ": expected {expected}")
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

    /// Every problem, in the order the variables were read.
    pub fn into_problems(self) -> Vec<Problem> {
        self.problems
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
            (
                Problem::InScaleSet {
                    index: 1,
                    problem: Box::new(Problem::Invalid {
                        variable: "MAX_RUNNERS",
                        value: Some("x".to_owned()),
                        expected: "a whole number".to_owned(),
                    }),
                },
                r#"SCALE_SETS[1] MAX_RUNNERS="x": expected a whole number"#,
            ),
            (
                Problem::ScaleSets {
                    index: Some(2),
                    key: Some("MAX_RUNNER\n".to_owned()),
                    expected: "a variable".to_owned(),
                },
                r#"SCALE_SETS[2] "MAX_RUNNER\n": expected a variable"#,
            ),
            (
                Problem::ScaleSets {
                    index: None,
                    key: None,
                    expected: "a list".to_owned(),
                },
                "SCALE_SETS: expected a list",
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
