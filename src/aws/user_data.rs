//! The runner instances' user-data: `user_data.sh`, rendered with the table, region, JIT key
//! scheme and the runner release to install on images without one. It never holds a secret:
//! the JIT config travels through DynamoDB ([`super::jit_store`]), and user-data is readable by
//! anyone who may describe the instance.

use base64::Engine;

use super::identity::InstanceArns;
use super::runner_release::RunnerRelease;
use super::schema;
use crate::ports::{PortError, PortErrorKind};

const TEMPLATE: &str = include_str!("user_data.sh");

/// Default oldest runner version, as configuration has it.
pub use crate::config::DEFAULT_RUNNER_MIN_VERSION as DEFAULT_MIN_RUNNER_VERSION;

/// How long the script waits for its JIT config, in seconds.
pub const JIT_WAIT_SECONDS: u32 = 60;
/// Where the runner lives on the instance (baked in, or unpacked there on boot).
pub const RUNNER_DIR: &str = "/opt/actions-runner";
/// The instance metadata service.
pub const IMDS_URL: &str = "http://169.254.169.254";

/// What the script is rendered with. [`UserDataParams::new`] gives production's values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserDataParams {
    /// State table holding the JIT material.
    pub table_name: String,
    /// Scale set the instances serve, for their boot-failure records.
    pub scale_set_name: String,
    /// Instance ARNs of the account and region (also gives the region).
    pub arns: InstanceArns,
    /// Oldest runner version to start; `None` starts any.
    pub min_runner_version: Option<String>,
    /// The runner installed when the image has none.
    pub runner_release: RunnerRelease,
}

impl UserDataParams {
    /// For `table_name`, `scale_set_name` and `arns`, with the default minimum runner version
    /// and the pinned runner release.
    pub fn new(
        table_name: impl Into<String>,
        scale_set_name: impl Into<String>,
        arns: InstanceArns,
    ) -> Self {
        Self {
            table_name: table_name.into(),
            scale_set_name: scale_set_name.into(),
            arns,
            min_runner_version: Some(DEFAULT_MIN_RUNNER_VERSION.to_owned()),
            runner_release: RunnerRelease::pinned(),
        }
    }
}

/// Values go between single quotes in the script: allow only characters that need no quoting
/// anywhere (config validation already restricts them; this makes the script safe by itself).
fn shell_safe(value: &str) -> bool {
    value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"._:/#-_".contains(&b))
}

/// The script, rendered.
pub fn render(params: &UserDataParams) -> Result<String, PortError> {
    let release = &params.runner_release;
    let values = [
        ("@@TABLE_NAME@@", params.table_name.clone()),
        ("@@REGION@@", params.arns.region().to_owned()),
        ("@@SCALE_SET_NAME@@", params.scale_set_name.clone()),
        (
            "@@JIT_KEY_PREFIX@@",
            format!("{}{}", schema::JIT_PREFIX, params.arns.prefix()),
        ),
        ("@@PARTITION_KEY@@", schema::PARTITION_KEY.to_owned()),
        ("@@SORT_KEY@@", schema::SORT_KEY.to_owned()),
        ("@@JIT_SORT_KEY@@", schema::JIT_SORT_KEY.to_owned()),
        ("@@JIT_CONFIG_ATTRIBUTE@@", schema::jit::CONFIG.to_owned()),
        (
            "@@BOOT_FAILURE_SORT_KEY@@",
            schema::BOOT_FAILURE_SORT_KEY.to_owned(),
        ),
        (
            "@@REASON_ATTRIBUTE@@",
            schema::boot_failure::REASON.to_owned(),
        ),
        (
            "@@INSTANCE_ATTRIBUTE@@",
            schema::boot_failure::INSTANCE_ID.to_owned(),
        ),
        (
            "@@SCALE_SET_ATTRIBUTE@@",
            schema::boot_failure::SCALE_SET_NAME.to_owned(),
        ),
        ("@@TTL_ATTRIBUTE@@", schema::TTL_ATTRIBUTE.to_owned()),
        (
            "@@BOOT_FAILURE_TTL_SECONDS@@",
            schema::BOOT_FAILURE_TTL.as_secs().to_string(),
        ),
        (
            "@@MIN_RUNNER_VERSION@@",
            params.min_runner_version.clone().unwrap_or_default(),
        ),
        ("@@JIT_WAIT_SECONDS@@", JIT_WAIT_SECONDS.to_string()),
        ("@@RUNNER_DIR@@", RUNNER_DIR.to_owned()),
        ("@@RUNNER_VERSION@@", release.version.clone()),
        ("@@RUNNER_URL@@", release.url.clone()),
        ("@@RUNNER_SHA256_X64@@", release.sha256_x64.clone()),
        ("@@RUNNER_SHA256_ARM64@@", release.sha256_arm64.clone()),
        ("@@IMDS_URL@@", IMDS_URL.to_owned()),
    ];
    let mut script = TEMPLATE.to_owned();
    for (placeholder, value) in values {
        if !shell_safe(&value) {
            return Err(PortError {
                operation: "render user-data",
                kind: PortErrorKind::Fatal,
                message: format!("{placeholder} has characters that are unsafe in a shell script"),
            });
        }
        script = script.replace(placeholder, &value);
    }
    Ok(script)
}

/// The rendered script, base64-encoded as launch templates take it.
pub fn render_base64(params: &UserDataParams) -> Result<String, PortError> {
    render(params).map(|script| base64::engine::general_purpose::STANDARD.encode(script))
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::process::{Command, Stdio};

    use super::*;

    fn params() -> UserDataParams {
        UserDataParams::new(
            "ghaec2-state",
            "linux_x64",
            InstanceArns::new("eu-west-1", "123456789012"),
        )
    }

    #[test]
    fn renders_every_placeholder() {
        let script = render(&params()).unwrap();
        assert!(!script.contains("@@"), "placeholder left");
        assert!(script.contains("TABLE='ghaec2-state'"));
        assert!(script.contains("KEY_PREFIX='jit#arn:aws:ec2:eu-west-1:123456789012:instance/'"));
        assert!(script.contains("MIN_RUNNER_VERSION='2.329.0'"));
        assert!(script.contains("SCALE_SET='linux_x64'"));
        assert!(script.contains("RUNNER_DIR='/opt/actions-runner'"));
        assert!(script.contains("IMDS='http://169.254.169.254'"));
        assert!(
            script.contains(
                "RUNNER_URL='https://github.com/actions/runner/releases/download/v2.329.0'"
            )
        );
        let pinned = RunnerRelease::pinned();
        assert!(script.contains(&format!("RUNNER_SHA256_X64='{}'", pinned.sha256_x64)));
        assert!(script.contains(&format!("RUNNER_SHA256_ARM64='{}'", pinned.sha256_arm64)));
        assert!(script.contains("FAILURE_SORT_KEY='boot-failure'"));
        assert!(script.contains("FAILURE_TTL_SECONDS='86400'"));
    }

    #[test]
    fn checks_the_download_before_unpacking_it() {
        let script = render(&params()).unwrap();
        let check = script.find("sha256sum -c").unwrap();
        let unpack = script.find("tar -xzf").unwrap();
        let dependencies = script.find("bin/installdependencies.sh").unwrap();
        assert!(check < unpack && unpack < dependencies);
        assert!(script.contains("[ -x \"$RUNNER_DIR/bin/Runner.Listener\" ] || install_runner"));
    }

    #[test]
    fn uses_imdsv2_deletes_after_reading_and_powers_off() {
        let script = render(&params()).unwrap();
        assert!(script.contains("-X PUT \"$IMDS/latest/api/token\""));
        assert!(script.contains("X-aws-ec2-metadata-token-ttl-seconds"));
        assert!(script.contains("-H \"X-aws-ec2-metadata-token: $imds_token\""));
        let read = script.find("ddb get-item").unwrap();
        let delete = script.find("ddb delete-item").unwrap();
        let run = script.find("/run.sh\"").unwrap();
        assert!(
            read < delete && delete < run,
            "delete must follow the read and precede the run"
        );
        assert!(script.contains("--consistent-read"));
        assert!(
            script
                .lines()
                .any(|l| l.starts_with("trap ") && l.contains("poweroff") && l.ends_with(" EXIT"))
        );
        assert!(script.contains("set +x"));
        assert!(script.contains("ACTIONS_RUNNER_INPUT_JITCONFIG"));
        assert!(
            !script.contains("--jitconfig \"$"),
            "the config must not travel in argv"
        );
        assert!(
            !script.contains("echo \"$jit") && !script.contains("$ACTIONS_RUNNER_INPUT_JITCONFIG")
        );
    }

    #[test]
    fn is_valid_bash() {
        let script = render(&params()).unwrap();
        let mut bash = Command::new("bash")
            .arg("-n")
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        bash.stdin
            .take()
            .unwrap()
            .write_all(script.as_bytes())
            .unwrap();
        let out = bash.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "bash -n: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[test]
    fn builds_the_same_item_key_as_the_jit_store() {
        let p = params();
        let script = render(&p).unwrap();
        let wanted = [
            "KEY_PREFIX=",
            "PK_ATTRIBUTE=",
            "SK_ATTRIBUTE=",
            "SORT_KEY=",
            "key=",
        ];
        let mut snippet: String = script
            .lines()
            .filter(|l| wanted.iter().any(|w| l.starts_with(w)))
            .map(|l| format!("{l}\n"))
            .collect();
        snippet = format!("instance_id=i-0123456789abcdef0\n{snippet}printf '%s' \"$key\"\n");
        let out = Command::new("bash")
            .arg("-c")
            .arg(&snippet)
            .output()
            .unwrap();
        let key: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let expected = schema::jit_key(p.arns.jit_pk("i-0123456789abcdef0"));
        for (attribute, value) in expected {
            assert_eq!(
                key[&attribute]["S"].as_str(),
                value.as_s().ok().map(String::as_str),
                "{attribute}"
            );
        }
    }

    #[test]
    fn holds_nothing_secret_looking() {
        let script = render(&params()).unwrap();
        for marker in [
            "ghp_",
            "ghs_",
            "github_pat_",
            "eyJ",
            "BEGIN",
            "PRIVATE KEY",
            "AKIA",
        ] {
            assert!(!script.contains(marker), "{marker}");
        }
        // No long base64-like run, as a token or an encoded JIT config would be. The release's
        // URL and published SHA-256 hashes are public.
        let release = RunnerRelease::pinned();
        let mut rest = script.clone();
        for public in [release.url, release.sha256_x64, release.sha256_arm64] {
            rest = rest.replace(&public, "");
        }
        let longest = rest
            .split(|c: char| !(c.is_ascii_alphanumeric() || "+/=".contains(c)))
            .map(str::len)
            .max()
            .unwrap_or(0);
        assert!(longest < 32, "a {longest}-character opaque run");
    }

    #[test]
    fn refuses_unsafe_values_and_renders_without_minimum() {
        let mut unsafe_params = params();
        unsafe_params.table_name = "t'; reboot; '".into();
        assert!(render(&unsafe_params).is_err());
        let mut any = params();
        any.min_runner_version = None;
        assert!(render(&any).unwrap().contains("MIN_RUNNER_VERSION=''"));
    }

    #[test]
    fn encodes_base64() {
        let encoded = render_base64(&params()).unwrap();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .unwrap();
        assert_eq!(
            String::from_utf8(decoded).unwrap(),
            render(&params()).unwrap()
        );
    }
}
