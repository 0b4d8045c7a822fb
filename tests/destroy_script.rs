//! scripts/destroy.sh (`make destroy`) and scripts/status.sh (`make status`), which share
//! scripts/stack-env.sh, offline: `aws`, `sam` and `ghaec2` are stubs that log
//! their arguments, so the test sees what the script would call, in which order, and with which
//! environment. What the real AWS calls do is verified only on paper (README "Tear down").
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const OUTPUTS: &str = r#"[{"OutputKey":"FunctionName","OutputValue":"ghaec2-ScalerFunction-X"},{"OutputKey":"ScheduleRule","OutputValue":"ghaec2-ScalerFunctionTick-Y"}]"#;
const CONFIGURATION: &str = r#"{"FunctionArn":"arn:aws:lambda:eu-west-1:123456789012:function:ghaec2-ScalerFunction-X","Environment":{"Variables":{"GITHUB_CONFIG_URL":"https://github.com/acme","RUNNER_SCALE_SET_NAME":"linux x","GITHUB_TOKEN_SSM_PARAMETER":"/ghaec2/token","GITHUB_ENTERPRISE_URL":""}}}"#;

struct Stubs {
    dir: PathBuf,
}

impl Stubs {
    /// `aws`, `sam` and a `ghaec2` that exits with `teardown_exit`, in a fresh directory.
    fn new(teardown_exit: i32) -> Stubs {
        let dir = std::env::temp_dir().join(format!("destroy-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("calls.log");
        let log = log.display();
        let stub = |name: &str, body: String| {
            let path = dir.join(name);
            std::fs::write(&path, format!("#!/usr/bin/env bash\n{body}\n")).unwrap();
            Command::new("chmod").arg("+x").arg(&path).status().unwrap();
        };
        stub(
            "aws",
            format!(
                "echo \"aws $*\" >>'{log}'\ncase \"$1 $2\" in\n\
                 'cloudformation describe-stacks') echo '{OUTPUTS}' ;;\n\
                 'lambda get-function-configuration') echo '{CONFIGURATION}' ;;\nesac"
            ),
        );
        stub("sam", format!("echo \"sam $*\" >>'{log}'"));
        stub(
            "ghaec2",
            format!(
                "echo \"ghaec2 $*\" >>'{log}'\nenv >'{}'\nexit {teardown_exit}",
                dir.join("ghaec2.env").display()
            ),
        );
        Stubs { dir }
    }

    fn run(&self, args: &[&str], stdin: &str) -> Output {
        self.run_script("scripts/destroy.sh", args, stdin)
    }

    fn run_script(&self, script: &str, args: &[&str], stdin: &str) -> Output {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join(script);
        let path = format!(
            "{}:{}",
            self.dir.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut child = Command::new(script)
            .args(args)
            .env("PATH", path)
            .env("STACK", "my-stack")
            .env("SETTLE_SECONDS", "0")
            .env("GHAEC2", self.dir.join("ghaec2"))
            .env("AWS_PROFILE", "ops")
            .env("GITHUB_TOKEN", "ghp_from_the_operators_shell")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("calls.log"))
            .unwrap_or_default()
            .lines()
            .map(|line| line.split(" --").next().unwrap_or(line).to_owned())
            .collect()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("calls.log")).unwrap_or_default()
    }

    fn teardown_env(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("ghaec2.env"))
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for Stubs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn text(output: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn the_scripts_parse() {
    for script in ["destroy.sh", "status.sh", "stack-env.sh"] {
        let script = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("scripts")
            .join(script);
        let status = Command::new("bash")
            .arg("-n")
            .arg(&script)
            .status()
            .unwrap();
        assert!(status.success(), "{}", script.display());
    }
}

#[test]
fn status_reads_the_stack_then_runs_ghaec2_status_with_the_functions_configuration() {
    let stubs = Stubs::new(0);
    let output = stubs.run_script("scripts/status.sh", &["--json"], "");
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(
        stubs.calls(),
        [
            "aws cloudformation describe-stacks",
            "aws lambda get-function-configuration",
            "ghaec2",
        ],
        "reads only"
    );
    assert!(
        stubs.log().contains("ghaec2 --status --json"),
        "{}",
        stubs.log()
    );
    let env = stubs.teardown_env();
    for expected in [
        "RUNNER_SCALE_SET_NAME=linux x",
        "AWS_REGION=eu-west-1",
        "AWS_PROFILE=ops",
    ] {
        assert!(env.iter().any(|l| l == expected), "{expected:?} in {env:?}");
    }
    assert!(
        !env.iter().any(|l| l.starts_with("GITHUB_TOKEN=")),
        "{env:?}"
    );
}

#[test]
fn status_passes_the_region_to_the_aws_calls() {
    let stubs = Stubs::new(0);
    let output = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/status.sh"))
        .env(
            "PATH",
            format!(
                "{}:{}",
                stubs.dir.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .env("STACK", "my-stack")
        .env("GHAEC2", stubs.dir.join("ghaec2"))
        .env("REGION", "eu-west-1")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output));
    assert!(
        stubs.log().contains("--region eu-west-1"),
        "{}",
        stubs.log()
    );
}

#[test]
fn stops_the_schedule_then_tears_down_with_the_functions_configuration_then_deletes() {
    let stubs = Stubs::new(0);
    let output = stubs.run(&["--yes", "--keep-scale-set"], "");
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(
        stubs.calls(),
        [
            "aws cloudformation describe-stacks",
            "aws lambda get-function-configuration",
            "aws lambda put-function-concurrency",
            "aws events disable-rule",
            "ghaec2",
            "sam delete",
        ]
    );
    let log = stubs.log();
    for expected in [
        "--stack-name my-stack --query",
        "--function-name ghaec2-ScalerFunction-X --reserved-concurrent-executions 0",
        "disable-rule --name ghaec2-ScalerFunctionTick-Y",
        "ghaec2 --teardown --keep-scale-set",
        "sam delete --stack-name my-stack --no-prompts",
    ] {
        assert!(log.contains(expected), "{expected:?} in {log}");
    }
    let env = stubs.teardown_env();
    for expected in [
        "GITHUB_CONFIG_URL=https://github.com/acme",
        "RUNNER_SCALE_SET_NAME=linux x",
        "GITHUB_ENTERPRISE_URL=",
        "GITHUB_TOKEN_SSM_PARAMETER=/ghaec2/token",
        "AWS_REGION=eu-west-1",
        "AWS_PROFILE=ops",
    ] {
        assert!(env.iter().any(|l| l == expected), "{expected:?} in {env:?}");
    }
    assert!(
        !env.iter().any(|l| l.starts_with("GITHUB_TOKEN=")),
        "the operator's shell stays out: {env:?}"
    );
}

#[test]
fn a_failed_teardown_leaves_the_stack_and_says_how_to_go_on() {
    let stubs = Stubs::new(1);
    let output = stubs.run(&["--yes"], "");
    assert!(!output.status.success());
    assert!(
        !stubs.calls().contains(&"sam delete".to_owned()),
        "{}",
        stubs.log()
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("Run make destroy again"), "{stderr}");
    assert!(
        stderr.contains("aws events enable-rule --name ghaec2-ScalerFunctionTick-Y"),
        "{stderr}"
    );
}

#[test]
fn dry_run_reads_and_only_lists_the_changes() {
    let stubs = Stubs::new(0);
    let output = stubs.run(&["--dry-run"], "");
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(
        stubs.calls(),
        [
            "aws cloudformation describe-stacks",
            "aws lambda get-function-configuration",
        ]
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let listed: Vec<&str> = stdout.lines().collect();
    assert_eq!(listed.len(), 5, "{stdout}");
    assert!(listed[0].starts_with("would run: aws lambda put-function-concurrency"));
    assert!(listed[1].starts_with("would run: aws events disable-rule"));
    assert_eq!(listed[2], "would run: sleep 0");
    assert!(listed[3].contains("--teardown"));
    assert!(
        listed[3].contains("RUNNER_SCALE_SET_NAME AWS_REGION"),
        "{stdout}"
    );
    assert!(!stdout.contains("https://github.com/acme"), "names only");
    assert!(listed[4].starts_with("would run: sam delete"));
}

#[test]
fn nothing_changes_without_confirmation() {
    let stubs = Stubs::new(0);
    let output = stubs.run(&[], "not-my-stack\n");
    assert!(!output.status.success());
    assert_eq!(stubs.calls().len(), 2, "reads only: {}", stubs.log());
}
