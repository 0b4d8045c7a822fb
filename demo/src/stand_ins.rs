//! The stand-ins of a local run: the fake Actions Service in this process, the AWS side
//! prepared in moto_server, and ghaec2 itself as a child process whose JSON log lines are
//! handed back as they come.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};

use aws_config::SdkConfig;
use ghaec2::aws::InstanceArns;
use ghaec2_fake::{DEFAULT_PAT, FakeOptions, FakeServer, Mode};
use ghaec2_testkit::moto;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

/// Result of the set-up steps: their errors are reported, not recovered from.
pub type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// What the stand-ins serve.
#[derive(Debug, Clone)]
pub struct StandInsOptions {
    /// The fake's options (mode, poll hold, job duration…).
    pub fake: FakeOptions,
    /// moto region; moto keeps state per region, so concurrent runs take different ones.
    pub region: String,
}

impl Default for StandInsOptions {
    fn default() -> Self {
        Self {
            fake: FakeOptions::default().with_mode(Mode::Dotcom),
            region: "us-east-1".to_owned(),
        }
    }
}

/// The fake Actions Service and the AWS side, ready for ghaec2.
#[derive(Debug)]
pub struct StandIns {
    /// The fake Actions Service (in-process).
    pub fake: FakeServer,
    /// SDK configuration for moto.
    pub sdk: SdkConfig,
    /// EC2 in moto.
    pub ec2: aws_sdk_ec2::Client,
    /// DynamoDB in moto.
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// The state table.
    pub table: String,
    /// Instance ARNs in moto's account and region (the JIT item key).
    pub arns: InstanceArns,
    env: Vec<(String, String)>,
}

impl StandIns {
    /// Starts the fake and prepares the AWS side in the moto_server of `AWS_ENDPOINT_URL`.
    pub async fn start(options: StandInsOptions) -> Result<Self> {
        let fake = FakeServer::start(options.fake).await?;
        let sdk = moto::sdk_config(&options.region).await;
        let ec2 = aws_sdk_ec2::Client::new(&sdk);
        let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
        let network = moto::network(&ec2).await;
        let ami = moto::ami(&aws_sdk_ssm::Client::new(&sdk)).await;
        let table = moto::table(&dynamodb).await;
        let profile = moto::instance_profile().await;
        let env = [
            ("GITHUB_CONFIG_URL", fake.fake().config_url("my-org")),
            ("GITHUB_TOKEN", DEFAULT_PAT.to_owned()),
            ("AWS_REGION", options.region.clone()),
            ("AWS_ENDPOINT_URL", moto::endpoint()),
            ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
            ("STATE_TABLE_NAME", table.clone()),
            ("EC2_SUBNET_ID", network.subnet_ids.join(",")),
            ("EC2_SECURITY_GROUP_ID", network.security_group_id),
            ("EC2_AMI_ID", ami),
            ("EC2_INSTANCE_PROFILE", profile),
            ("EC2_INSTANCE_TYPE", "t3.micro,t3.small".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        Ok(Self {
            fake,
            arns: InstanceArns::new(options.region, moto::ACCOUNT_ID),
            sdk,
            ec2,
            dynamodb,
            table,
            env,
        })
    }

    /// Drops `name` from the environment ghaec2 gets: `GITHUB_TOKEN`, say, when a run reads
    /// the token from SSM as a deployment does.
    pub fn unset_env(&mut self, name: &str) {
        self.env.retain(|(k, _)| k != name);
    }

    /// The environment ghaec2 needs to run against these stand-ins (without the scale set
    /// settings: `RUNNER_SCALE_SET_NAME`, `MIN_RUNNERS`, … come from the caller).
    pub fn env(&self) -> &[(String, String)] {
        &self.env
    }

    /// `program args…` with only the stand-ins' environment plus `extra` (later entries win),
    /// no stdin, killed if dropped: for a run to its end, `--status` say.
    pub fn command(&self, program: &Path, args: &[&str], extra: &[(String, String)]) -> Command {
        let mut command = Command::new(program);
        command
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(self.env.iter().chain(extra).map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .kill_on_drop(true);
        command
    }

    /// Starts `binary` with `args`, the stand-ins' environment plus `extra` (later entries
    /// win), stdout and stderr appended to `log`. Its JSON log lines arrive on
    /// [`Ghaec2Process::lines`]; the child is killed if the handle is dropped.
    pub async fn spawn_ghaec2(
        &self,
        binary: &Path,
        args: &[&str],
        extra: &[(String, String)],
        log: &Path,
    ) -> Result<Ghaec2Process> {
        let mut child = self
            .command(binary, args, extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("starting {}: {e}", binary.display()))?;
        let pid = child.id().ok_or("ghaec2 exited at once")?;
        let (tx, lines) = mpsc::unbounded_channel();
        let file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .await
            .map_err(|e| format!("opening {}: {e}", log.display()))?;
        let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
        let (file_out, file_err) = (file.try_clone().await?, file);
        if let Some(out) = stdout {
            tokio::spawn(forward(out, Stream::Stdout, file_out, tx.clone()));
        }
        if let Some(err) = stderr {
            tokio::spawn(forward(err, Stream::Stderr, file_err, tx));
        }
        Ok(Ghaec2Process {
            child,
            pid,
            lines,
            log: log.to_owned(),
        })
    }
}

/// Which stream a line came from: stdout carries only the JSON summary of `--once`,
/// stderr the JSON logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// The summary.
    Stdout,
    /// The logs.
    Stderr,
}

/// One line of ghaec2's output, parsed when it is JSON.
#[derive(Debug, Clone)]
pub struct LogLine {
    /// Where it came from.
    pub stream: Stream,
    /// When this process read it.
    pub at: chrono::DateTime<chrono::Utc>,
    /// The line parsed, or the raw text as a JSON string.
    pub json: Value,
}

impl LogLine {
    /// The `msg` field of a log line.
    pub fn msg(&self) -> Option<&str> {
        self.json.get("msg").and_then(Value::as_str)
    }
}

async fn forward(
    source: impl tokio::io::AsyncRead + Unpin,
    stream: Stream,
    mut file: tokio::fs::File,
    tx: mpsc::UnboundedSender<LogLine>,
) {
    let mut lines = BufReader::new(source).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let _ = file.write_all(format!("{line}\n").as_bytes()).await;
        let json = serde_json::from_str(&line).unwrap_or(Value::String(line));
        let _ = tx.send(LogLine {
            stream,
            at: chrono::Utc::now(),
            json,
        });
    }
}

/// ghaec2 running as a child process.
#[derive(Debug)]
pub struct Ghaec2Process {
    child: Child,
    pid: u32,
    /// Its output, line by line.
    pub lines: mpsc::UnboundedReceiver<LogLine>,
    log: PathBuf,
}

impl Ghaec2Process {
    /// The child's PID.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Where its output goes.
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// Waits for it to exit by itself (`--once`, `--dry-run`).
    pub async fn wait(&mut self) -> Result<ExitStatus> {
        Ok(self.child.wait().await?)
    }

    /// Stops it as the platform would: SIGTERM (ghaec2 finishes the message in hand,
    /// persists and deletes its session), then waits for it to exit.
    pub async fn stop(mut self) -> Result<ExitStatus> {
        if self.child.try_wait()?.is_none() {
            // By PID through kill(1): no libc binding needed for one signal.
            std::process::Command::new("kill")
                .args(["-TERM", &self.pid.to_string()])
                .status()?;
        }
        Ok(self.child.wait().await?)
    }
}
