//! Boots "an instance" on this machine: runs the real user-data script (`src/aws/user_data.sh`
//! as `user_data::render` renders it) with the AWS CLI against moto, beside
//!
//! - a stand-in IMDSv2 and release download server (in-process HTTP): the token, the instance
//!   id (only with the token), and a stub runner tarball for this machine's architecture;
//! - the stub runner: `bin/Runner.Listener --version` prints a chosen version, `run.sh` records
//!   the `ACTIONS_RUNNER_INPUT_JITCONFIG` it got and exits with a chosen status,
//!   `bin/installdependencies.sh` records that it ran;
//! - stubs on `PATH` for what must not run for real here: `systemctl`/`shutdown` record the
//!   power-off, `runuser` runs the command as the test user, `useradd`/`usermod`/`chown` do
//!   nothing.
//!
//! The AWS CLI comes from the venv `scripts/venv.sh` creates (`awscli` in requirements-dev.txt).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, put};
use ghaec2::aws::UserDataParams;
use ghaec2::aws::runner_release::RunnerRelease;
use ghaec2::aws::user_data;

/// What the stand-in IMDS hands out as the session token.
const IMDS_TOKEN: &str = "imds-session-token";

/// The runner the stub tarball (or the baked image) holds.
#[derive(Debug, Clone)]
pub struct StubRunner {
    /// What `Runner.Listener --version` prints.
    pub version: String,
    /// `run.sh`'s exit status.
    pub exit_status: i32,
}

/// Where the runner comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Image {
    /// A stock image: the script downloads the release.
    Stock,
    /// The runner is baked into the image already.
    Baked,
    /// A stock image, but the download does not match the pinned SHA-256.
    TamperedDownload,
}

/// One boot to run.
#[derive(Debug, Clone)]
pub struct Boot {
    /// The script's parameters: table, scale set, ARNs; the runner directory, IMDS and release
    /// are pointed at the stand-ins when the boot runs.
    pub params: UserDataParams,
    /// What the script's AWS CLI talks to (`AWS_ENDPOINT_URL`).
    pub aws_endpoint: String,
    /// Where the runner comes from.
    pub image: Image,
    /// The runner.
    pub runner: StubRunner,
}

/// What a boot did.
#[derive(Debug, Clone)]
pub struct Booted {
    /// The script's exit status.
    pub exit_status: Option<i32>,
    /// Its output (stdout and stderr).
    pub output: String,
    /// Power-off commands it ran.
    pub power_offs: Vec<String>,
    /// The JIT config of each run of `run.sh`.
    pub runs: Vec<String>,
    /// Release files it asked the download server for.
    pub downloads: Vec<String>,
    /// Times `installdependencies.sh` ran.
    pub dependency_installs: usize,
    /// How long the script ran.
    pub elapsed: Duration,
}

impl Booted {
    /// Whether the script powered the instance off.
    pub fn powered_off(&self) -> bool {
        !self.power_offs.is_empty()
    }
}

/// The venv's `aws` (AWS CLI v1 from requirements-dev.txt): `$GHAEC2_VENV`, else the default
/// path of `scripts/venv.sh`.
pub fn aws_cli_dir() -> PathBuf {
    let venv = std::env::var_os("GHAEC2_VENV")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/ghaec2-venv")))
        .expect("GHAEC2_VENV or HOME");
    let bin = venv.join("bin");
    assert!(
        bin.join("aws").exists(),
        "no AWS CLI in {}: run scripts/venv.sh (awscli is in requirements-dev.txt)",
        bin.display()
    );
    bin
}

/// The tarball name the script asks for on this machine, as the release names it.
pub fn tarball_name(version: &str) -> String {
    let arch = match std::env::consts::ARCH {
        "aarch64" => "arm64",
        _ => "x64",
    };
    format!("actions-runner-linux-{arch}-{version}.tar.gz")
}

impl Boot {
    /// A stock-image boot with a runner of the pinned version that exits 0, waiting 4 s for
    /// its JIT config.
    pub fn new(params: UserDataParams, aws_endpoint: &str) -> Self {
        Self {
            params,
            aws_endpoint: aws_endpoint.to_owned(),
            image: Image::Stock,
            runner: StubRunner {
                version: RunnerRelease::pinned().version,
                exit_status: 0,
            },
        }
    }

    /// Boots `instance_id`: runs the rendered script to its end.
    pub async fn run(self, instance_id: &str) -> Booted {
        let dir = std::env::temp_dir().join(format!("ghaec2-boot-{}", uuid::Uuid::new_v4()));
        let record = dir.join("record");
        let runner_dir = dir.join("runner");
        for sub in ["record", "runner", "stubs", "stage", "tmp"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        write_stubs(&dir.join("stubs"), &record);
        let stage = dir.join("stage");
        write_runner(&stage, &self.runner, &record);
        let tarball = dir.join("runner.tar.gz");
        run_ok(
            Command::new("tar")
                .arg("-czf")
                .arg(&tarball)
                .arg("-C")
                .arg(&stage)
                .arg("."),
        );
        let sha = sha256(&tarball);
        let mut served = std::fs::read(&tarball).unwrap();
        match self.image {
            Image::Stock => {}
            Image::Baked => write_runner(&runner_dir, &self.runner, &record),
            Image::TamperedDownload => served.extend_from_slice(b"tampered"),
        }

        let server = StandIn::start(instance_id, &self.runner.version, served).await;
        let mut params = self.params.clone();
        let other = "0".repeat(64);
        let (x64, arm64) = if std::env::consts::ARCH == "aarch64" {
            (other, sha)
        } else {
            (sha, other)
        };
        params.runner_release = RunnerRelease {
            version: self.runner.version.clone(),
            url: format!("{}/releases", server.url),
            sha256_x64: x64,
            sha256_arm64: arm64,
        };
        // The production script, pointed at this machine: the runner directory, IMDS and a
        // shorter JIT wait.
        let script = ghaec2::aws::user_data::render(&params).unwrap();
        let script = retarget(
            &script,
            &[
                (
                    "RUNNER_DIR",
                    user_data::RUNNER_DIR,
                    runner_dir.to_str().unwrap(),
                ),
                ("IMDS", user_data::IMDS_URL, &server.url),
                (
                    "WAIT_SECONDS",
                    &user_data::JIT_WAIT_SECONDS.to_string(),
                    "4",
                ),
            ],
        );
        let script_path = dir.join("user-data.sh");
        std::fs::write(&script_path, script).unwrap();

        let path = format!(
            "{}:{}:/usr/local/bin:/usr/bin:/bin",
            dir.join("stubs").display(),
            aws_cli_dir().display()
        );
        let mut command = Command::new("bash");
        command
            .arg(&script_path)
            .current_dir(&dir)
            .env_clear()
            .env("PATH", path)
            .env("HOME", &dir)
            .env("TMPDIR", dir.join("tmp"))
            .env("AWS_ENDPOINT_URL", &self.aws_endpoint)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            // AWS CLI v2's default retries (the instance's CLI); v1 would try 5 times.
            .env("AWS_RETRY_MODE", "standard")
            .env("AWS_MAX_ATTEMPTS", "3");
        let started = Instant::now();
        let output = tokio::task::spawn_blocking(move || command.output().unwrap())
            .await
            .unwrap();
        let elapsed = started.elapsed();
        let lines = |name: &str| -> Vec<String> {
            std::fs::read_to_string(record.join(name))
                .map(|text| text.lines().map(str::to_owned).collect())
                .unwrap_or_default()
        };
        let booted = Booted {
            exit_status: output.status.code(),
            output: format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ),
            power_offs: lines("power"),
            runs: lines("runs"),
            downloads: server.downloads(),
            dependency_installs: lines("installdependencies").len(),
            elapsed,
        };
        std::fs::remove_dir_all(&dir).ok();
        booted
    }
}

fn run_ok(command: &mut Command) -> String {
    let out = command.output().unwrap();
    assert!(out.status.success(), "{command:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

fn sha256(file: &Path) -> String {
    let out = run_ok(Command::new("sha256sum").arg(file));
    out.split_whitespace().next().unwrap().to_owned()
}

fn write_executable(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// The stub runner's files under `root` (a tarball's stage or a baked runner directory).
fn write_runner(root: &Path, runner: &StubRunner, record: &Path) {
    let record = record.display();
    write_executable(
        &root.join("bin/Runner.Listener"),
        &format!("#!/bin/sh\necho {}\n", runner.version),
    );
    write_executable(
        &root.join("run.sh"),
        &format!(
            "#!/bin/bash\nprintf '%s\\n' \"$ACTIONS_RUNNER_INPUT_JITCONFIG\" >> {record}/runs\nexit {}\n",
            runner.exit_status
        ),
    );
    write_executable(
        &root.join("bin/installdependencies.sh"),
        &format!("#!/bin/sh\necho ran >> {record}/installdependencies\n"),
    );
}

/// Stubs for the commands that must not act on this machine.
fn write_stubs(stubs: &Path, record: &Path) {
    let record = record.display();
    for power in ["systemctl", "shutdown"] {
        write_executable(
            &stubs.join(power),
            &format!("#!/bin/sh\necho \"{power} $*\" >> {record}/power\n"),
        );
    }
    // `runuser -u USER -- COMMAND…`: run the command as whoever runs the test.
    write_executable(
        &stubs.join("runuser"),
        "#!/bin/bash\n[ \"$1\" = -u ] && [ \"$3\" = -- ] || exit 64\nshift 3\nexec \"$@\"\n",
    );
    for harmless in ["useradd", "usermod", "chown"] {
        write_executable(&stubs.join(harmless), "#!/bin/sh\nexit 0\n");
    }
}

struct Shared {
    instance_id: String,
    tarball_name: String,
    tarball: Vec<u8>,
    downloads: Mutex<Vec<String>>,
}

/// The stand-in IMDSv2 and release download server; stops when dropped.
struct StandIn {
    url: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl StandIn {
    async fn start(instance_id: &str, version: &str, tarball: Vec<u8>) -> Self {
        let shared = Arc::new(Shared {
            instance_id: instance_id.to_owned(),
            tarball_name: tarball_name(version),
            tarball,
            downloads: Mutex::new(Vec::new()),
        });
        let app = axum::Router::new()
            .route("/latest/api/token", put(token))
            .route("/latest/meta-data/instance-id", get(instance))
            .route("/releases/{file}", get(download))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { url, shared, task }
    }

    fn downloads(&self) -> Vec<String> {
        self.shared.downloads.lock().unwrap().clone()
    }
}

async fn token(headers: HeaderMap) -> (StatusCode, String) {
    if headers.contains_key("x-aws-ec2-metadata-token-ttl-seconds") {
        (StatusCode::OK, IMDS_TOKEN.to_owned())
    } else {
        (StatusCode::BAD_REQUEST, String::new())
    }
}

async fn instance(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> (StatusCode, String) {
    let token = headers
        .get("x-aws-ec2-metadata-token")
        .and_then(|v| v.to_str().ok());
    if token == Some(IMDS_TOKEN) {
        (StatusCode::OK, shared.instance_id.clone())
    } else {
        (StatusCode::UNAUTHORIZED, String::new())
    }
}

async fn download(
    State(shared): State<Arc<Shared>>,
    UrlPath(file): UrlPath<String>,
) -> (StatusCode, Vec<u8>) {
    shared.downloads.lock().unwrap().push(file.clone());
    if file == shared.tarball_name {
        (StatusCode::OK, shared.tarball.clone())
    } else {
        (StatusCode::NOT_FOUND, Vec::new())
    }
}

/// `script` with each `NAME='production value'` assignment set to another value; panics when
/// the script no longer assigns it so.
fn retarget(script: &str, assignments: &[(&str, &str, &str)]) -> String {
    let mut script = script.to_owned();
    for (name, production, here) in assignments {
        let from = format!("{name}='{production}'");
        assert!(
            script.contains(&from),
            "the user-data script no longer has {from}"
        );
        script = script.replace(&from, &format!("{name}='{here}'"));
    }
    script
}
