//! ghaec2 autoscales GitHub Actions self-hosted runners on EC2 spot capacity.
//!
//! It listens to the Actions Service "runner scale set" message queue (the protocol behind
//! actions-runner-controller's listener) and runs as an AWS Lambda driven by an EventBridge
//! schedule; the same binary runs on a workstation (`ghaec2`, `--once`, `--dry-run`,
//! `--teardown`). The protocol as ghaec2 speaks it is `docs/protocol.md`; the cycle, the
//! invariants and the interfaces are `docs/design.md`.
//!
//! # Layout
//!
//! - [`config`]: the validated [`config::Config`] of each scale set (a [`config::Deployment`]
//!   holds them all), parsed once from the environment; errors name the variable, the value
//!   (unless secret) and what was expected.
//! - [`actions`]: the GitHub + Actions Service client: credentials and the admin connection
//!   ([`actions::auth`]), the retrying HTTP layer ([`actions::http`]), wire types
//!   ([`actions::wire`]), pure message parsing ([`actions::messages`]), admin endpoints
//!   ([`actions::client`]) and the message session ([`actions::session`]).
//! - [`app`]: start-up shared by every mode: AWS SDK configuration, secrets, the client.
//! - [`ports`]: the roles the cycle needs from AWS (state store, fleet, JIT store).
//! - [`scaling`]: pure decisions: desired count and the reconcile plan.
//! - [`rerun`]: pure decision: when to re-run an interrupted job's workflow run, exactly once.
//! - [`dry_run`]: `--dry-run`, checks that change nothing and a report.
//! - [`teardown`]: `--teardown`, everything of the scale set removed, for `make destroy`.
//! - [`status`]: `--status`, what each scale set looks like now (lease, session, runners,
//!   mismatches), read-only.
//! - [`backoff`]: the one retry policy; [`clock`]: the wall clock the cycle is given.
//! - [`telemetry`]: JSON logs; [`metrics`]: CloudWatch Embedded Metric Format lines.
//! - [`event`]: what a Lambda event asks for: a cycle, the dry run, or a spot interruption.
//! - [`serve`]: one cycle for every configured scale set at once, each failing alone.
//! - [`cycle`]: one invocation: the [`cycle::Listener`] (lease, session, drain loop, each
//!   message) and the [`cycle::Reconciler`] (the fleet policy).
//! - [`aws`]: DynamoDB state and JIT stores, the EC2 fleet, the user-data script.

pub mod actions;
pub mod app;
pub mod aws;
pub mod backoff;
pub mod clock;
pub mod config;
pub mod cycle;
pub mod dry_run;
pub mod event;
pub mod metrics;
pub mod ports;
pub mod rerun;
pub mod scaling;
pub mod serve;
pub mod status;
pub mod teardown;
pub mod telemetry;
