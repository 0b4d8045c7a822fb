//! `SCALE_SETS`: several scale sets from one environment, where the list comes from, and every
//! way the list can be wrong.

use super::*;
use crate::config::vars::{DEPLOYMENT_VARIABLES, SCALE_SET_VARIABLES};

/// The deployment's variables and the EC2 settings, without a scale set name.
fn top_level() -> HashMap<&'static str, String> {
    let mut vars = minimal();
    without(&mut vars, &["RUNNER_SCALE_SET_NAME"]);
    vars
}

fn deploy(vars: &HashMap<&'static str, String>, list: &str) -> Result<Deployment, ConfigError> {
    Deployment::from_lookup(|name| vars.get(name).cloned(), Some(list))
}

fn deployment(vars: &HashMap<&'static str, String>, list: &str) -> Deployment {
    deploy(vars, list).unwrap_or_else(|e| panic!("unexpected error:\n{e}"))
}

fn list_problems(vars: &HashMap<&'static str, String>, list: &str) -> Vec<String> {
    match deploy(vars, list) {
        Ok(deployment) => panic!("expected an error, got {deployment:?}"),
        Err(err) => err.problems().iter().map(ToString::to_string).collect(),
    }
}

fn source(vars: &[(&str, &str)]) -> Result<Option<ScaleSetsSource>, String> {
    let vars: HashMap<&str, &str> = vars.iter().copied().collect();
    ScaleSetsSource::from_lookup(|name| vars.get(name).map(|v| (*v).to_owned()))
        .map_err(|e| e.to_string())
}

const NAME_REQUIRED: &str = "RUNNER_SCALE_SET_NAME is required: the runner scale set's name, which workflows use in `runs-on`";

#[test]
fn without_a_list_the_environment_is_one_scale_set() {
    let lookup = |vars: &HashMap<&'static str, String>, list: Option<&str>| {
        let vars = vars.clone();
        Deployment::from_lookup(move |name| vars.get(name).cloned(), list)
    };
    for list in [None, Some(""), Some(" \n ")] {
        let deployment = lookup(&minimal(), list).unwrap_or_else(|e| panic!("{e}"));
        assert!(deployment.is_single());
        assert_eq!(
            format!("{:?}", deployment.into_scale_sets()),
            format!("{:?}", [ok(&minimal())])
        );
    }
    // The same problems, worded as without SCALE_SETS.
    let vars = with(&[("MAX_RUNNERS", "ten")]);
    let err = lookup(&vars, None).err().map(|e| e.to_string());
    assert_eq!(err, load(&vars).err().map(|e| e.to_string()));
    assert_eq!(
        err.as_deref(),
        Some(r#"MAX_RUNNERS="ten": expected a whole number from 0 to 1000"#)
    );
}

#[test]
fn each_element_overrides_the_top_level_environment_for_its_scale_set() {
    let mut vars = top_level();
    vars.extend([
        ("AWS_REGION", "eu-west-1".to_owned()),
        ("MAX_RUNNERS", "5".to_owned()),
        ("STATE_TABLE_NAME", "shared-table".to_owned()),
    ]);
    let deployment = deployment(
        &vars,
        r#"[
          {"RUNNER_SCALE_SET_NAME": "linux-x64", "RUNNER_LABELS": "linux-x64,x64"},
          {"RUNNER_SCALE_SET_NAME": "linux-arm64", "RUNNER_LABELS": "linux-arm64,arm64",
           "EC2_INSTANCE_TYPE": "m7g.large,m6g.large", "MAX_RUNNERS": 20,
           "EC2_ASSOCIATE_PUBLIC_IP": true, "EC2_SPOT_PRICE": 0.05, "EC2_AMI_ID": ""}
        ]"#,
    );
    assert!(!deployment.is_single());
    assert_eq!(deployment.shared().github.scale_set_name, "linux-x64");
    let [x64, arm64] = <[Config; 2]>::try_from(deployment.into_scale_sets())
        .unwrap_or_else(|sets| panic!("{} scale sets", sets.len()));

    assert_eq!(x64.github.labels, ["linux-x64", "x64"]);
    assert_eq!(x64.scaling.max_runners, 5, "inherited");
    assert_eq!(
        x64.ec2.instance_types,
        ["m7i.large", "m6i.large", "m5.large"]
    );
    assert_eq!(x64.ec2.ami_id.as_deref(), Some("ami-0123456789abcdef0"));
    assert!(!x64.ec2.associate_public_ip);

    assert_eq!(arm64.github.scale_set_name, "linux-arm64");
    assert_eq!(arm64.github.labels, ["linux-arm64", "arm64"]);
    assert_eq!(arm64.scaling.max_runners, 20, "a JSON number");
    assert_eq!(arm64.ec2.instance_types, ["m7g.large", "m6g.large"]);
    assert!(arm64.ec2.associate_public_ip, "a JSON boolean");
    assert_eq!(arm64.ec2.spot_max_price.as_deref(), Some("0.05"));
    assert_eq!(
        arm64.ec2.ami_id, None,
        "a blank value unsets the top-level one"
    );

    for config in [&x64, &arm64] {
        assert_eq!(config.ec2.region.as_deref(), Some("eu-west-1"));
        assert_eq!(config.runtime.state_table_name, "shared-table");
        assert_eq!(config.ec2.subnet_ids, ["subnet-0123abcd"]);
        assert_eq!(
            config.github.config_url.as_str(),
            "https://github.com/my-org"
        );
    }
}

#[test]
fn a_list_that_is_not_a_json_array_of_objects_is_refused() {
    let expected_list = "SCALE_SETS: expected a JSON array of scale sets, each an object of \
         per-scale-set variables, such as [{\"RUNNER_SCALE_SET_NAME\":\"linux-x64\"},\
         {\"RUNNER_SCALE_SET_NAME\":\"linux-arm64\",\"EC2_INSTANCE_TYPE\":\"m7g.large\"}]";
    let cases = [
        (
            "[{\"RUNNER_SCALE_SET_NAME\": \"a\"},\n]",
            format!("{expected_list}; it is not JSON: trailing comma at line 2 column 1"),
        ),
        (
            "RUNNER_SCALE_SET_NAME=a",
            format!("{expected_list}; it is not JSON: expected value at line 1 column 1"),
        ),
        (
            r#"{"RUNNER_SCALE_SET_NAME": "a"}"#,
            format!("{expected_list}, found an object"),
        ),
        (r#""linux""#, format!("{expected_list}, found \"linux\"")),
        (
            " [ ] ",
            "SCALE_SETS: expected at least one scale set, found []".to_owned(),
        ),
        (
            r#"[{"RUNNER_SCALE_SET_NAME": "a"}, "linux-arm64", null, [1]]"#,
            [
                r#"SCALE_SETS[1]: expected an object of per-scale-set variables such as {"RUNNER_SCALE_SET_NAME":"linux-arm64"}, found "linux-arm64""#,
                r#"SCALE_SETS[2]: expected an object of per-scale-set variables such as {"RUNNER_SCALE_SET_NAME":"linux-arm64"}, found null"#,
                r#"SCALE_SETS[3]: expected an object of per-scale-set variables such as {"RUNNER_SCALE_SET_NAME":"linux-arm64"}, found an array"#,
            ]
            .join("\n"),
        ),
    ];
    for (list, expected) in cases {
        assert_eq!(
            list_problems(&top_level(), list).join("\n"),
            expected,
            "{list}"
        );
    }
}

#[test]
fn an_element_may_set_only_per_scale_set_variables() {
    let got = list_problems(
        &top_level(),
        r#"[{"RUNNER_SCALE_SET_NAME": "a", "MAX_RUNNER": "3", "max_runners": "3"},
            {"GITHUB_TOKEN": "ghp_elementS3cr3t", "RUNNER_SCALE_SET_NAME": "b", "STATE_TABLE_NAME": "t"}]"#,
    );
    let every = SCALE_SET_VARIABLES.join(", ");
    let shared = |name: &str| {
        format!(
            "SCALE_SETS[1] {name:?}: expected a per-scale-set variable; {name} is the \
             deployment's, shared by every scale set, so set it outside SCALE_SETS"
        )
    };
    assert_eq!(
        got,
        [
            format!("SCALE_SETS[0] \"MAX_RUNNER\": expected a per-scale-set variable: {every}"),
            format!("SCALE_SETS[0] \"max_runners\": expected a per-scale-set variable: {every}"),
            shared("GITHUB_TOKEN"),
            shared("STATE_TABLE_NAME"),
        ]
    );
    assert!(every.starts_with("RUNNER_SCALE_SET_NAME, RUNNER_SCALE_SET_ID, "));
}

#[test]
fn values_must_be_strings_numbers_or_booleans() {
    let got = list_problems(
        &top_level(),
        r#"[{"EC2_INSTANCE_TYPE": {"arm64": "m7g.large"}, "MAX_RUNNERS": null, "MIN_RUNNERS": 1,
             "RUNNER_LABELS": ["x", "y"], "RUNNER_SCALE_SET_NAME": "a"}]"#,
    );
    assert_eq!(
        got,
        [
            r#"SCALE_SETS[0] "EC2_INSTANCE_TYPE": expected a string, a number or a boolean, found an object"#,
            r#"SCALE_SETS[0] "MAX_RUNNERS": expected a string, a number or a boolean, found null"#,
            r#"SCALE_SETS[0] "RUNNER_LABELS": expected a string, a number or a boolean, found an array"#,
        ]
    );
}

#[test]
fn a_bad_value_is_named_with_its_element_index() {
    let list =
        r#"[{"RUNNER_SCALE_SET_NAME": "a"}, {"RUNNER_SCALE_SET_NAME": "b", "MAX_RUNNERS": "x"}]"#;
    assert_eq!(
        list_problems(&top_level(), list),
        [r#"SCALE_SETS[1] MAX_RUNNERS="x": expected a whole number from 0 to 1000"#]
    );
    // A bad top-level value shows under each scale set that does not override it.
    let mut vars = top_level();
    vars.insert("MAX_RUNNERS", "ten".to_owned());
    let list =
        r#"[{"RUNNER_SCALE_SET_NAME": "a", "MAX_RUNNERS": 3}, {"RUNNER_SCALE_SET_NAME": "b"}]"#;
    assert_eq!(
        list_problems(&vars, list),
        [r#"SCALE_SETS[1] MAX_RUNNERS="ten": expected a whole number from 0 to 1000"#]
    );
    // Settings that depend on each other are checked per scale set.
    vars.insert("MAX_RUNNERS", "10".to_owned());
    vars.insert("MIN_RUNNERS", "5".to_owned());
    assert_eq!(
        list_problems(&vars, list),
        [r#"SCALE_SETS[0] MIN_RUNNERS="5": expected at most MAX_RUNNERS (3)"#]
    );
}

#[test]
fn every_scale_set_needs_a_name_from_its_element_or_the_top_level() {
    let list = r#"[{"RUNNER_SCALE_SET_NAME": "a"}, {"MAX_RUNNERS": "3"}]"#;
    assert_eq!(
        list_problems(&top_level(), list),
        [format!("SCALE_SETS[1] {NAME_REQUIRED}")]
    );
    // A top-level name serves an element without one.
    let mut vars = top_level();
    vars.insert("RUNNER_SCALE_SET_NAME", "fallback".to_owned());
    let names: Vec<String> = deployment(&vars, list)
        .scale_sets()
        .map(|c| c.github.scale_set_name.clone())
        .collect();
    assert_eq!(names, ["a", "fallback"]);
}

#[test]
fn names_and_ids_are_unique_across_scale_sets() {
    let list = r#"[{"RUNNER_SCALE_SET_NAME": "linux", "RUNNER_SCALE_SET_ID": 7},
                   {"RUNNER_SCALE_SET_NAME": "b"},
                   {"RUNNER_SCALE_SET_NAME": "Linux", "RUNNER_SCALE_SET_ID": "8"},
                   {"RUNNER_SCALE_SET_NAME": "c", "RUNNER_SCALE_SET_ID": "7"}]"#;
    assert_eq!(
        list_problems(&top_level(), list),
        [
            r#"SCALE_SETS[2] RUNNER_SCALE_SET_NAME="Linux": expected a value no other scale set has; SCALE_SETS[0] has it too"#,
            r#"SCALE_SETS[3] RUNNER_SCALE_SET_ID="7": expected a value no other scale set has; SCALE_SETS[0] has it too"#,
        ]
    );
    // Two elements without a name both take the top-level one.
    let mut vars = top_level();
    vars.insert("RUNNER_SCALE_SET_NAME", "linux".to_owned());
    assert_eq!(
        list_problems(&vars, r#"[{"MAX_RUNNERS": 1}, {"MAX_RUNNERS": 2}]"#),
        [
            r#"SCALE_SETS[1] RUNNER_SCALE_SET_NAME="linux": expected a value no other scale set has; SCALE_SETS[0] has it too"#
        ]
    );
}

#[test]
fn every_problem_is_reported_at_once_and_the_deployments_own_once() {
    let mut vars = top_level();
    without(&mut vars, &["GITHUB_CONFIG_URL", "EC2_SUBNET_ID"]);
    let got = list_problems(
        &vars,
        r#"[{"RUNNER_SCALE_SET_NAME": "a", "DRAIN_WINDOW_SECONDS": 60, "EC2_SUBNET_ID": "subnet-0123abcd"},
            {"MAX_RUNNERS": "x", "EC2_SUBNET_ID": "subnet-0123abcd"},
            {"RUNNER_SCALE_SET_NAME": "c"}]"#,
    );
    let starts = [
        r#"SCALE_SETS[0] "DRAIN_WINDOW_SECONDS": expected a per-scale-set variable; "#.to_owned(),
        "GITHUB_CONFIG_URL is required: ".to_owned(),
        format!("SCALE_SETS[1] {NAME_REQUIRED}"),
        r#"SCALE_SETS[1] MAX_RUNNERS="x": expected a whole number"#.to_owned(),
        "SCALE_SETS[2] EC2_SUBNET_ID is required: ".to_owned(),
    ];
    assert_eq!(got.len(), starts.len(), "{got:#?}");
    for (line, start) in got.iter().zip(starts) {
        assert!(
            line.starts_with(&start),
            "{line:?} does not start with {start:?}"
        );
    }
}

#[test]
fn the_list_comes_from_scale_sets_or_its_ssm_parameter() {
    assert_eq!(source(&[]), Ok(None));
    assert_eq!(
        source(&[("SCALE_SETS", " "), ("SCALE_SETS_SSM_PARAMETER", "")]),
        Ok(None)
    );
    assert_eq!(
        source(&[("SCALE_SETS", " [{}] ")]),
        Ok(Some(ScaleSetsSource::Inline("[{}]".to_owned())))
    );
    assert_eq!(
        source(&[("SCALE_SETS_SSM_PARAMETER", "/ghaec2/scale-sets")]),
        Ok(Some(ScaleSetsSource::SsmParameter {
            name: "/ghaec2/scale-sets".to_owned(),
            region: None
        }))
    );
    assert_eq!(
        source(&[
            ("SCALE_SETS_SSM_PARAMETER", "/ghaec2/scale-sets"),
            ("AWS_DEFAULT_REGION", "eu-west-1")
        ]),
        Ok(Some(ScaleSetsSource::SsmParameter {
            name: "/ghaec2/scale-sets".to_owned(),
            region: Some("eu-west-1".to_owned())
        }))
    );
}

#[test]
fn a_bad_source_is_refused() {
    assert_eq!(
        source(&[("SCALE_SETS", "[]"), ("SCALE_SETS_SSM_PARAMETER", "/p")]),
        Err(
            "SCALE_SETS and SCALE_SETS_SSM_PARAMETER are both set: expected only one of them: \
             the list itself in SCALE_SETS, or in SCALE_SETS_SSM_PARAMETER the name of the SSM \
             parameter that holds it"
                .to_owned()
        )
    );
    assert_eq!(
        source(&[("SCALE_SETS_SSM_PARAMETER", "/has space")]),
        Err(
            "SCALE_SETS_SSM_PARAMETER=\"/has space\": expected an SSM parameter name or ARN \
             such as /ghaec2/scale-sets (letters, digits and _ . - / :)"
                .to_owned()
        )
    );
    assert_eq!(
        source(&[("SCALE_SETS_SSM_PARAMETER", "/p"), ("AWS_REGION", "Europe")]),
        Err("AWS_REGION=\"Europe\": expected an AWS region such as eu-west-1".to_owned())
    );
}

#[test]
fn every_variable_belongs_to_the_scale_set_or_to_the_deployment() {
    let source = include_str!("../vars.rs");
    let names: Vec<&str> = source
        .lines()
        .filter_map(|line| line.trim().strip_prefix("pub const "))
        .filter_map(|rest| rest.split_once("&str = \""))
        .filter_map(|(_, value)| value.split_once('"'))
        .map(|(name, _)| name)
        .collect();
    assert!(names.contains(&vars::EC2_SUBNET_ID), "{names:?}");
    for name in &names {
        let places = [
            SCALE_SET_VARIABLES.contains(name),
            DEPLOYMENT_VARIABLES.contains(name),
        ];
        assert_eq!(
            places.iter().filter(|p| **p).count(),
            1,
            "{name} must be in exactly one of SCALE_SET_VARIABLES and DEPLOYMENT_VARIABLES"
        );
    }
    assert_eq!(
        names.len(),
        SCALE_SET_VARIABLES.len() + DEPLOYMENT_VARIABLES.len()
    );
}
