//! Several scale sets from one deployment. `SCALE_SETS` (or the SSM parameter
//! `SCALE_SETS_SSM_PARAMETER` names, holding the same text) is a JSON array of objects whose
//! keys are per-scale-set variables ([`SCALE_SET_VARIABLES`]); each element overrides the
//! top-level environment for its scale set. Without it the environment describes one scale
//! set, as [`Config::from_lookup`] reads it.

use std::collections::BTreeMap;

use secrecy::ExposeSecret;
use serde_json::Value;

use super::credential::is_ssm_parameter_name;
use super::env::Env;
use super::resolve::{SecretError, fetch};
use super::vars::*;
use super::{Config, ConfigError, Problem, ec2};

/// The scale sets one deployment serves, each a full [`Config`]; never empty. The deployment's
/// settings ([`DEPLOYMENT_VARIABLES`]) are the same in every one.
#[derive(Debug, Clone)]
pub struct Deployment {
    first: Config,
    others: Vec<Config>,
}

/// Where the text of `SCALE_SETS` comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScaleSetsSource {
    /// `SCALE_SETS` itself.
    Inline(String),
    /// `SCALE_SETS_SSM_PARAMETER`: an SSM parameter (String or SecureString) holding the text.
    SsmParameter {
        /// The parameter's name or ARN.
        name: String,
        /// The region to read it in: the deployment's `AWS_REGION` (else `AWS_DEFAULT_REGION`);
        /// none leaves it to the AWS SDK's chain.
        region: Option<String>,
    },
}

const LIST_EXPECTED: &str = "a JSON array of scale sets, each an object of per-scale-set \
     variables, such as [{\"RUNNER_SCALE_SET_NAME\":\"linux-x64\"},\
     {\"RUNNER_SCALE_SET_NAME\":\"linux-arm64\",\"EC2_INSTANCE_TYPE\":\"m7g.large\"}]";

const SSM_NAME_EXPECTED: &str = "an SSM parameter name or ARN such as /ghaec2/scale-sets \
     (letters, digits and _ . - / :)";

impl ScaleSetsSource {
    /// Reads `SCALE_SETS` and `SCALE_SETS_SSM_PARAMETER`; `None` when neither is set.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, ConfigError> {
        let mut env = Env::new(&lookup);
        let source = match (env.get(SCALE_SETS), env.get(SCALE_SETS_SSM_PARAMETER)) {
            (Some(_), Some(_)) => {
                env.conflict(
                    vec![SCALE_SETS, SCALE_SETS_SSM_PARAMETER],
                    format!(
                        "only one of them: the list itself in {SCALE_SETS}, or in \
                         {SCALE_SETS_SSM_PARAMETER} the name of the SSM parameter that holds it"
                    ),
                );
                None
            }
            (Some(text), None) => Some(Self::Inline(text)),
            (None, Some(name)) if is_ssm_parameter_name(&name) => Some(Self::SsmParameter {
                region: ec2::region(&mut env),
                name,
            }),
            (None, Some(name)) => {
                env.invalid(SCALE_SETS_SSM_PARAMETER, &name, SSM_NAME_EXPECTED);
                None
            }
            (None, None) => None,
        };
        let problems = env.into_problems();
        if problems.is_empty() {
            Ok(source)
        } else {
            Err(ConfigError::new(problems))
        }
    }

    /// The text of the list in the parameter `name` (`GetParameter`, decrypted). It holds no
    /// secret: the per-scale-set variables are not secrets.
    pub async fn read_parameter(
        ssm: &aws_sdk_ssm::Client,
        name: &str,
    ) -> Result<String, SecretError> {
        let text = fetch(ssm, name, SCALE_SETS_SSM_PARAMETER).await?;
        Ok(text.expose_secret().to_owned())
    }
}

impl Deployment {
    /// Reads every scale set through `lookup` (`name -> value`). `scale_sets` is the text of
    /// `SCALE_SETS`, from the environment or SSM ([`ScaleSetsSource`]); `None` (or blank) means
    /// the environment describes one scale set. Collects every problem of every element.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
        scale_sets: Option<&str>,
    ) -> Result<Self, ConfigError> {
        let Some(text) = scale_sets.map(str::trim).filter(|t| !t.is_empty()) else {
            return Config::from_lookup(lookup).map(Self::from);
        };
        let mut problems = Vec::new();
        let mut configs = Vec::new();
        for (index, element) in elements(text, &mut problems).iter().enumerate() {
            let Some(overrides) = overrides(index, element, &mut problems) else {
                continue;
            };
            let scale_set = |name: &str| overrides.get(name).cloned().or_else(|| lookup(name));
            match Config::from_lookup(scale_set) {
                Ok(config) => configs.push((index, config)),
                Err(err) => file(index, err, &mut problems),
            }
        }
        unique(&configs, &mut problems);
        let mut configs = configs.into_iter().map(|(_, config)| config);
        match configs.next() {
            Some(first) if problems.is_empty() => Ok(Self {
                first,
                others: configs.collect(),
            }),
            // A list without a usable scale set has recorded why.
            _ => Err(ConfigError::new(problems)),
        }
    }

    /// Every scale set, in the order listed.
    pub fn scale_sets(&self) -> impl Iterator<Item = &Config> {
        std::iter::once(&self.first).chain(&self.others)
    }

    /// Every scale set, in the order listed.
    pub fn into_scale_sets(self) -> Vec<Config> {
        std::iter::once(self.first).chain(self.others).collect()
    }

    /// Whether the deployment serves one scale set (its summary keeps the single shape).
    pub fn is_single(&self) -> bool {
        self.others.is_empty()
    }

    /// The deployment's settings: GitHub location, credential and CA bundle, region, state
    /// table, drain window. Every scale set has the same; these are the first one's.
    pub fn shared(&self) -> &Config {
        &self.first
    }
}

impl From<Config> for Deployment {
    fn from(config: Config) -> Self {
        Self {
            first: config,
            others: Vec::new(),
        }
    }
}

/// The list's elements; none, after recording why, when the text is not a non-empty array.
fn elements(text: &str, problems: &mut Vec<Problem>) -> Vec<Value> {
    let expected = match serde_json::from_str::<Value>(text) {
        Ok(Value::Array(elements)) if !elements.is_empty() => return elements,
        Ok(Value::Array(_)) => "at least one scale set, found []".to_owned(),
        Ok(other) => format!("{LIST_EXPECTED}, found {}", describe(&other)),
        // serde_json's message says where: "trailing comma at line 1 column 9".
        Err(err) => format!("{LIST_EXPECTED}; it is not JSON: {err}"),
    };
    problems.push(Problem::ScaleSets {
        index: None,
        key: None,
        expected,
    });
    Vec::new()
}

/// The variables element `index` sets, as the environment would hold them. Keys that are not
/// per-scale-set variables and values that are not scalars are recorded and left out; `None`
/// when the element is not an object.
fn overrides(
    index: usize,
    element: &Value,
    problems: &mut Vec<Problem>,
) -> Option<BTreeMap<&'static str, String>> {
    let problem = |key: Option<&str>, expected: String| Problem::ScaleSets {
        index: Some(index),
        key: key.map(str::to_owned),
        expected,
    };
    let Value::Object(variables) = element else {
        let expected = format!(
            "an object of per-scale-set variables such as \
             {{\"RUNNER_SCALE_SET_NAME\":\"linux-arm64\"}}, found {}",
            describe(element)
        );
        problems.push(problem(None, expected));
        return None;
    };
    let mut overrides = BTreeMap::new();
    for (key, value) in variables {
        let Some(variable) = SCALE_SET_VARIABLES.iter().find(|v| *v == key) else {
            let expected = if DEPLOYMENT_VARIABLES.contains(&key.as_str()) {
                format!(
                    "a per-scale-set variable; {key} is the deployment's, shared by every scale \
                     set, so set it outside {SCALE_SETS}"
                )
            } else {
                format!(
                    "a per-scale-set variable: {}",
                    SCALE_SET_VARIABLES.join(", ")
                )
            };
            problems.push(problem(Some(key), expected));
            continue;
        };
        match value {
            Value::String(text) => overrides.insert(*variable, text.clone()),
            // `"MAX_RUNNERS": 20` reads as "20", `true` as "true".
            Value::Number(_) | Value::Bool(_) => overrides.insert(*variable, value.to_string()),
            Value::Null | Value::Array(_) | Value::Object(_) => {
                let expected =
                    format!("a string, a number or a boolean, found {}", describe(value));
                problems.push(problem(Some(key), expected));
                None
            }
        };
    }
    Some(overrides)
}

/// Files the problems of scale set `index`: those about its own variables under its index,
/// the deployment's once (every scale set reads the same deployment variables).
fn file(index: usize, err: ConfigError, problems: &mut Vec<Problem>) {
    for problem in err.into_problems() {
        if problem
            .variables()
            .iter()
            .any(|v| SCALE_SET_VARIABLES.contains(v))
        {
            problems.push(Problem::InScaleSet {
                index,
                problem: Box::new(problem),
            });
        } else if !problems.contains(&problem) {
            problems.push(problem);
        }
    }
}

/// Two scale sets with one name (names match ignoring case, as labels do) or one id would
/// share one message queue, lease and ledger.
fn unique(configs: &[(usize, Config)], problems: &mut Vec<Problem>) {
    for (n, (index, config)) in configs.iter().enumerate() {
        let earlier = |same: &dyn Fn(&Config) -> bool| {
            configs[..n]
                .iter()
                .find(|(_, other)| same(other))
                .map(|(first, _)| *first)
        };
        let name = &config.github.scale_set_name;
        if let Some(first) =
            earlier(&|other| other.github.scale_set_name.eq_ignore_ascii_case(name))
        {
            problems.push(duplicate(
                *index,
                first,
                RUNNER_SCALE_SET_NAME,
                name.clone(),
            ));
        }
        let Some(id) = config.github.scale_set_id else {
            continue;
        };
        if let Some(first) = earlier(&|other| other.github.scale_set_id == Some(id)) {
            problems.push(duplicate(
                *index,
                first,
                RUNNER_SCALE_SET_ID,
                id.to_string(),
            ));
        }
    }
}

fn duplicate(index: usize, first: usize, variable: &'static str, value: String) -> Problem {
    Problem::InScaleSet {
        index,
        problem: Box::new(Problem::Invalid {
            variable,
            value: Some(value),
            expected: format!("a value no other scale set has; {SCALE_SETS}[{first}] has it too"),
        }),
    }
}

/// A JSON value for an error line: scalars as JSON text (escaped, so on one line), arrays and
/// objects by kind.
fn describe(value: &Value) -> String {
    match value {
        Value::Array(_) => "an array".to_owned(),
        Value::Object(_) => "an object".to_owned(),
        scalar => scalar.to_string(),
    }
}
