//! Configuration of one fake server instance.
//!
//! Every knob the real service does not document (token lifetimes, session TTL,
//! poll hold) is configurable so tests can run in milliseconds; the defaults are
//! the values reported for the real service (docs/protocol.md §18.1, §18.2, §9.1).

use std::time::Duration;

/// The well-known PAT the fake accepts by default.
pub const DEFAULT_PAT: &str = "ghp_fake_token";

/// Which flavour of the Actions service the fake imitates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// GitHub Enterprise Server: jobs arrive as `JobAvailable` and must be acquired
    /// through `acquirejobs` before they become `JobAssigned` (docs/protocol.md §11).
    #[default]
    Ghes,
    /// github.com (broker): jobs arrive directly as `JobAssigned`, never more than the
    /// `X-ScaleSetMaxCapacity` of the latest poll (docs/protocol.md §9.1, §18.11).
    Dotcom,
}

/// When JSON responses of the Actions service start with a UTF-8 BOM (docs/protocol.md §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Bom {
    /// Never prefix a BOM.
    #[default]
    Never,
    /// Prefix every JSON response of the Actions service and message queue.
    Always,
    /// Prefix every Nth such response (1 = always, 0 = never).
    EveryNth(u32),
}

/// A GitHub App the fake knows, so App credentials can be exercised (docs/protocol.md §3.3).
#[derive(Debug, Clone)]
pub struct AppOptions {
    /// The App id; the App JWT's `iss` must equal it (or `client_id`).
    pub app_id: String,
    /// Optional client id, also accepted as `iss`.
    pub client_id: Option<String>,
    /// The installation whose access tokens may be minted.
    pub installation_id: u64,
    /// RSA public key (PEM) that verifies the RS256 App JWT.
    pub public_key_pem: String,
}

/// Options of a [`crate::FakeServer`]. Construct with `FakeOptions::default()` and
/// adjust the public fields or use the `with_*` helpers.
#[derive(Debug, Clone)]
pub struct FakeOptions {
    /// GHES (acquire flow) or github.com (direct assignment).
    pub mode: Mode,
    /// TCP port on 127.0.0.1; 0 picks an ephemeral port.
    pub port: u16,
    /// Personal access tokens accepted as `Bearer` on the registration-token endpoint.
    pub pats: Vec<String>,
    /// Optional GitHub App.
    pub app: Option<AppOptions>,
    /// Lifetime of admin tokens from runner-registration.
    pub admin_token_ttl: Duration,
    /// Lifetime of message queue tokens from session create/refresh.
    pub mq_token_ttl: Duration,
    /// Lifetime of registration tokens.
    pub registration_token_ttl: Duration,
    /// Lifetime of App installation tokens.
    pub installation_token_ttl: Duration,
    /// A session that sees no poll (or other session call) for this long is gone.
    pub session_idle_ttl: Duration,
    /// How long an empty long poll is held before the 202 (≈50 s real).
    pub poll_hold: Duration,
    /// BOM policy for Actions service JSON responses.
    pub bom: Bom,
    /// How long a started job runs before it completes by itself; `None` = until
    /// completed or cancelled through the control API.
    pub default_job_duration: Option<Duration>,
    /// Runner groups besides `Default` (id 1); they get ids 2, 3, … in order.
    pub extra_runner_groups: Vec<String>,
    /// github.com since mid-2025 sends `runnerRequestId: 0` with a non-empty `jobId`
    /// (docs/protocol.md §10, §18.4); set to imitate it (only meaningful in dotcom mode).
    pub zero_runner_request_ids: bool,
    /// Answer in the sparse shapes of a .NET data contract service: defaults left out,
    /// `null` for empty values, no statistics on refresh, an unknown job message in
    /// every message (see `sparse.rs`).
    pub sparse: bool,
}

impl Default for FakeOptions {
    fn default() -> Self {
        const HOUR: Duration = Duration::from_secs(3600);
        Self {
            mode: Mode::Ghes,
            port: 0,
            pats: vec![DEFAULT_PAT.to_owned()],
            app: None,
            admin_token_ttl: HOUR,
            mq_token_ttl: HOUR,
            registration_token_ttl: HOUR,
            installation_token_ttl: HOUR,
            session_idle_ttl: Duration::from_secs(300),
            poll_hold: Duration::from_secs(50),
            bom: Bom::Never,
            default_job_duration: None,
            extra_runner_groups: Vec::new(),
            zero_runner_request_ids: false,
            sparse: false,
        }
    }
}

impl FakeOptions {
    /// Sets the mode.
    pub fn with_mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// Sets the empty-poll hold.
    pub fn with_poll_hold(mut self, hold: Duration) -> Self {
        self.poll_hold = hold;
        self
    }

    /// Sets the session idle TTL.
    pub fn with_session_idle_ttl(mut self, ttl: Duration) -> Self {
        self.session_idle_ttl = ttl;
        self
    }

    /// Sets the BOM policy.
    pub fn with_bom(mut self, bom: Bom) -> Self {
        self.bom = bom;
        self
    }

    /// Sets the GitHub App.
    pub fn with_app(mut self, app: AppOptions) -> Self {
        self.app = Some(app);
        self
    }

    /// Sets the default job duration.
    pub fn with_job_duration(mut self, duration: Duration) -> Self {
        self.default_job_duration = Some(duration);
        self
    }

    /// Answers in sparse shapes (see [`FakeOptions::sparse`]).
    pub fn with_sparse(mut self, sparse: bool) -> Self {
        self.sparse = sparse;
        self
    }

    /// Options suited to tests: short poll hold (200 ms), everything else default.
    pub fn for_tests() -> Self {
        Self::default().with_poll_hold(Duration::from_millis(200))
    }
}
