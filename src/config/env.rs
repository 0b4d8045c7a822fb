//! Typed lookups over an injected `name -> value` function that record every problem instead of
//! stopping at the first, so [`ConfigError`](super::ConfigError) can list them all.
//!
//! A value that is empty or only whitespace counts as unset: deployment templates commonly pass
//! `""` for an optional parameter the user left blank.

use std::fmt::Display;
use std::ops::RangeInclusive;
use std::str::FromStr;
use std::time::Duration;

use secrecy::SecretString;

use super::error::Problem;

/// Reads variables through the injected lookup and collects [`Problem`]s.
pub(crate) struct Env<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    problems: Vec<Problem>,
}

impl<'a> Env<'a> {
    pub(crate) fn new(lookup: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Self {
            lookup,
            problems: Vec::new(),
        }
    }

    /// The problems recorded so far, in reading order.
    pub(crate) fn into_problems(self) -> Vec<Problem> {
        self.problems
    }

    /// The trimmed value, or `None` when unset or blank.
    pub(crate) fn get(&self, variable: &str) -> Option<String> {
        (self.lookup)(variable)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// Whether the variable is set at all, even to `""` (for presence flags such as
    /// `GITHUB_ACTIONS_FORCE_GHES`, which ARC reads with `os.LookupEnv`).
    pub(crate) fn is_present(&self, variable: &str) -> bool {
        (self.lookup)(variable).is_some()
    }

    /// A secret value (trimmed), never copied into a `String` that outlives this call.
    pub(crate) fn secret(&self, variable: &str) -> Option<SecretString> {
        self.get(variable).map(SecretString::from)
    }

    /// Records `VARIABLE="value": expected …`.
    pub(crate) fn invalid(
        &mut self,
        variable: &'static str,
        value: &str,
        expected: impl Into<String>,
    ) {
        self.problems.push(Problem::Invalid {
            variable,
            value: Some(value.to_owned()),
            expected: expected.into(),
        });
    }

    /// Records `VARIABLE=(secret): expected …`; the value is never stored.
    pub(crate) fn invalid_secret(&mut self, variable: &'static str, expected: impl Into<String>) {
        self.problems.push(Problem::Invalid {
            variable,
            value: None,
            expected: expected.into(),
        });
    }

    /// Records `VARIABLE is required: …`.
    pub(crate) fn missing(&mut self, variable: &'static str, what: impl Into<String>) {
        self.problems.push(Problem::Missing {
            variable,
            what: what.into(),
        });
    }

    /// Records that settings which exclude each other are set together.
    pub(crate) fn conflict(&mut self, variables: Vec<&'static str>, expected: impl Into<String>) {
        self.problems.push(Problem::Conflict {
            variables,
            expected: expected.into(),
        });
    }

    /// A required value; records a [`Problem::Missing`] when unset.
    pub(crate) fn required(&mut self, variable: &'static str, what: &str) -> Option<String> {
        let value = self.get(variable);
        if value.is_none() {
            self.missing(variable, what);
        }
        value
    }

    /// A value checked by `parse`; `None` when unset or invalid (the latter is recorded).
    pub(crate) fn parsed<T>(
        &mut self,
        variable: &'static str,
        expected: &str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Option<T> {
        let value = self.get(variable)?;
        let parsed = parse(&value);
        if parsed.is_none() {
            self.invalid(variable, &value, expected);
        }
        parsed
    }

    /// A whole number in `range`, `default` when unset; `None` when invalid.
    pub(crate) fn number<T>(
        &mut self,
        variable: &'static str,
        default: T,
        range: RangeInclusive<T>,
    ) -> Option<T>
    where
        T: FromStr + PartialOrd + Display,
    {
        let expected = format!("a whole number from {} to {}", range.start(), range.end());
        self.number_as(variable, default, range, &expected)
    }

    /// A number of seconds in `range`, `default` when unset; `None` when invalid.
    pub(crate) fn seconds(
        &mut self,
        variable: &'static str,
        default: u64,
        range: RangeInclusive<u64>,
    ) -> Option<Duration> {
        let expected = format!(
            "a whole number of seconds from {} to {}",
            range.start(),
            range.end()
        );
        self.number_as(variable, default, range, &expected)
            .map(Duration::from_secs)
    }

    fn number_as<T>(
        &mut self,
        variable: &'static str,
        default: T,
        range: RangeInclusive<T>,
        expected: &str,
    ) -> Option<T>
    where
        T: FromStr + PartialOrd,
    {
        if self.get(variable).is_none() {
            return Some(default);
        }
        self.parsed(variable, expected, |v| {
            v.parse::<T>().ok().filter(|n| range.contains(n))
        })
    }

    /// `true`/`false`/`1`/`0`/`yes`/`no` (any case), `default` when unset; `None` when invalid.
    pub(crate) fn boolean(&mut self, variable: &'static str, default: bool) -> Option<bool> {
        if self.get(variable).is_none() {
            return Some(default);
        }
        self.parsed(variable, "true or false (or 1/0, yes/no)", |v| {
            match v.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => Some(true),
                "false" | "0" | "no" => Some(false),
                _ => None,
            }
        })
    }

    /// A comma-separated list: items trimmed, blanks dropped, duplicates removed (first kept).
    /// `None` when unset or when it holds no item. Each item must pass `valid`; otherwise the
    /// whole value is shown and the first bad item named.
    pub(crate) fn list(
        &mut self,
        variable: &'static str,
        expected: &str,
        valid: impl Fn(&str) -> bool,
    ) -> Option<Vec<String>> {
        let value = self.get(variable)?;
        let items = split_list(&value);
        if let Some(bad) = items.iter().find(|item| !valid(item)) {
            let expected = format!("a comma-separated list of {expected}; {bad:?} is not one");
            self.invalid(variable, &value, expected);
            return None;
        }
        Some(items).filter(|items| !items.is_empty())
    }
}

/// Splits on commas, trims, drops blanks and exact duplicates, keeping the first occurrence.
pub(crate) fn split_list(value: &str) -> Vec<String> {
    let mut items: Vec<String> = Vec::new();
    for item in value.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        if !items.iter().any(|seen| seen == item) {
            items.push(item.to_owned());
        }
    }
    items
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with<R>(pairs: &[(&str, &str)], f: impl FnOnce(&mut Env<'_>) -> R) -> (R, Vec<String>) {
        let owned: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let lookup = move |name: &str| {
            owned
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let mut env = Env::new(&lookup);
        let result = f(&mut env);
        let problems = env
            .into_problems()
            .iter()
            .map(ToString::to_string)
            .collect();
        (result, problems)
    }

    #[test]
    fn blank_values_count_as_unset_and_values_are_trimmed() {
        let (got, _) = with(&[("A", "  "), ("B", " x \n")], |env| {
            (env.get("A"), env.get("B"))
        });
        assert_eq!(got, (None, Some("x".to_owned())));
        let (present, _) = with(&[("A", "")], |env| {
            (env.is_present("A"), env.is_present("B"))
        });
        assert_eq!(present, (true, false));
    }

    #[test]
    fn booleans_accept_the_documented_spellings() {
        let cases = [
            ("true", Some(true)),
            ("TRUE", Some(true)),
            ("1", Some(true)),
            ("Yes", Some(true)),
            ("false", Some(false)),
            ("0", Some(false)),
            ("NO", Some(false)),
            ("on", None),
            ("2", None),
        ];
        for (value, expected) in cases {
            let (got, problems) = with(&[("B", value)], |env| env.boolean("B", true));
            assert_eq!(got, expected, "{value:?}");
            assert_eq!(problems.len(), usize::from(expected.is_none()), "{value:?}");
        }
        let (got, problems) = with(&[], |env| env.boolean("B", false));
        assert_eq!((got, problems.len()), (Some(false), 0));
    }

    #[test]
    fn numbers_check_the_range_and_name_it() {
        let (got, problems) = with(&[("N", "ten")], |env| env.number("N", 10u32, 0..=1000));
        assert_eq!(got, None);
        assert_eq!(
            problems,
            [r#"N="ten": expected a whole number from 0 to 1000"#]
        );
        let (got, problems) = with(&[("N", "1001")], |env| env.number("N", 10u32, 0..=1000));
        assert_eq!((got, problems.len()), (None, 1));
        let (got, _) = with(&[("N", "7")], |env| env.number("N", 10u32, 0..=1000));
        assert_eq!(got, Some(7));
        let (got, _) = with(&[], |env| env.seconds("S", 50, 1..=840));
        assert_eq!(got, Some(Duration::from_secs(50)));
    }

    #[test]
    fn lists_are_trimmed_deduplicated_and_checked() {
        assert_eq!(split_list(" a, b ,,a,c "), ["a", "b", "c"]);
        let (got, problems) = with(&[("L", "x1, y, x1")], |env| {
            env.list("L", "things starting with x", |i| i.starts_with('x'))
        });
        assert_eq!(got, None);
        assert_eq!(
            problems,
            [
                r#"L="x1, y, x1": expected a comma-separated list of things starting with x; "y" is not one"#
            ]
        );
        let (got, problems) = with(&[("L", " , ")], |env| env.list("L", "x", |_| true));
        assert_eq!((got, problems.len()), (None, 0));
    }
}
