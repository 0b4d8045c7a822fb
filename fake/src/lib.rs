//! `ghaec2-fake`: a faithful fake of GitHub's Actions service ("runner scale set"
//! protocol) with fault injection, written from `docs/protocol.md` (§15 lists what it
//! must reproduce). One HTTP server on 127.0.0.1 plays three hosts: the GitHub REST
//! API (`/api/v3/...`, GHES layout), the Actions service (`/tenant/<n>/_apis/...`) and
//! the message queue (`/queue/<scaleSetId>/<sessionId>/messages?tenant=<n>`).
//!
//! # Use from tests
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use ghaec2_fake::{FakeOptions, FakeServer, JobSpec, Mode};
//! let fake = FakeServer::start(FakeOptions::for_tests().with_mode(Mode::Dotcom)).await?;
//! let config_url = fake.config_url("my-org"); // GHES-style: client calls /api/v3/...
//! // ... run the client against config_url with PAT ghaec2_fake::DEFAULT_PAT ...
//! let job = fake.enqueue_job(JobSpec::with_labels(["my-scale-set"]))?;
//! // connect a runner with the encodedJITConfig the client generated:
//! // fake.connect_runner(&encoded)?; fake.succeed_job(job.runner_request_id)?;
//! fake.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # Behaviour (interpretations of docs/protocol.md)
//!
//! * Token chain (§1–§4): PATs from the options (default [`DEFAULT_PAT`]) or App
//!   installation tokens buy registration tokens; those buy an HS256 JWT admin token
//!   (`exp` set) and the tenant URL. Tenants are per account: org and repo scopes of
//!   one owner share a tenant, an enterprise has its own.
//! * Sessions (§8): one live session per scale set (409), idle TTL renewed by every
//!   poll/ack/acquire/refresh; a message queue token whose session is gone answers 401
//!   (so the client refreshes, gets 404, and recreates).
//! * Queue (§9): ids +1 per scale set across sessions; undeleted messages are
//!   redelivered; ≤ 50 job messages per envelope; statistics at delivery time; the
//!   queue URL's `tenant` query parameter is required (proves clients keep it).
//! * Jobs (§10, §11): routed to the first scale set whose labels include all the job's
//!   labels. GHES: `JobAvailable` until acquired ⇒ `JobAssigned`. Dotcom: `JobAssigned`
//!   while assigned jobs < the latest `X-ScaleSetMaxCapacity` (0 pauses; unlimited
//!   until a poll sends it). Unset times are sent as Go's zero time.
//! * Statistics: assigned = waiting + running; acquired = acquired and unfinished
//!   (GHES only); registered = connected, not removed runners.
//! * Sparse mode ([`FakeOptions::sparse`], `--sparse`): every Actions service and queue
//!   answer leaves defaults out, sends `null` for empty values, a refresh has no
//!   `statistics`, and every message body opens with a job message of an unknown kind.
//! * Workflow runs (§19): each job belongs to a run (its `workflowRunId`; several jobs may
//!   share one through [`JobSpec`]'s `workflowRunId`). A run is `queued` until the control
//!   API completes it; `rerun-failed-jobs` on a completed run that did not succeed raises
//!   `run_attempt`, makes it `queued` again and re-enqueues the jobs of the finished attempt
//!   that did not succeed; on any other run it answers 403 "This workflow run cannot be rerun".
//! * Scale set delete with a running job ⇒ 400 `TaskAgentJobStillRunningException`.
//! * Test-only levers on [`Fake`]: `requeue_job` (the job's `JobCompleted` "canceled", then
//!   `JobAssigned` again under the same ids), `lag_statistics` (the next N messages carry
//!   statistics frozen now), `push_raw_event` (any job message, e.g. an unknown type), and
//!   `issued_secrets` (every PAT, token and JIT config, for secret-hygiene checks).
//!
//! # Control API (`/_fake/...`, JSON; not logged, never faulted)
//!
//! | request | body | response |
//! |---|---|---|
//! | `POST /_fake/jobs` | [`JobSpec`]: `{"labels":[…], "scaleSetId"?, "durationMs"?, "repositoryName"?, "ownerName"?, "jobWorkflowRef"?, "jobDisplayName"?, "eventName"?, "workflowRunId"?}` | 201 [`Job`] (`runnerRequestId`, `jobId`, `state`, times…) |
//! | `POST /_fake/runners/connect` | `{"encodedJITConfig": "…"}` | 200 runner `{id, name, runnerScaleSetId, online, job, status, busy, …}` |
//! | `POST /_fake/jobs/{id}/complete` | `{"result"?: "succeeded"}` | 200 [`Job`]; `{id}` = runnerRequestId or jobId |
//! | `POST /_fake/jobs/{id}/cancel` | – | 200 [`Job`] |
//! | `POST /_fake/runs/{id}/complete` | `{"conclusion"?: "success"}` | 200 [`WorkflowRun`] |
//! | `GET/POST/DELETE /_fake/faults` | POST: [`Fault`] `{"endpoint","times","action":{"kind":"status","status",json?,text?,retryAfterSecs?} \| {"kind":"html","status"} \| {"kind":"emptyOk"} \| {"kind":"delay","ms"} \| {"kind":"emptyMessageQueueUrl"} \| {"kind":"sessionWithoutStatistics"}}` | 200 list / 201 / 204 |
//! | `POST /_fake/scale-sets/{id}/delete` | – | 204 (server-side delete) |
//! | `POST /_fake/sessions/stale` | `{"scaleSetId", "ownerName"?, "ttlMs"?}` | 201 session view |
//! | `POST /_fake/tokens/expire` | `{"admin"?, "messageQueue"?, "registration"?, "installation"?}` (empty ⇒ admin + MQ) | 200 `{"expired": n}` |
//! | `GET /_fake/state` | – | 200 [`Snapshot`] |
//! | `GET /_fake/calls`, `DELETE /_fake/calls` | – | 200 [`Call`] list / 204 |
//!
//! Errors: `{"error": "…"}` with 400/404/409.
//!
//! # Layout
//!
//! | file | responsibility |
//! |---|---|
//! | `options.rs` | [`FakeOptions`], [`Mode`], [`Bom`], [`AppOptions`] |
//! | `wire.rs` | protocol constants: headers, message types, exception type names |
//! | `endpoints.rs` | route patterns and endpoint names; request classification |
//! | `tokens.rs` | scopes, token registry, JWT minting, App JWT verification |
//! | `jit.rs` | the encodedJITConfig 3-file layout (encode/decode) |
//! | `state/` | the pure, synchronous state machine (no I/O), unit-tested |
//! | `server.rs` | [`FakeServer`]: shared state behind a `Mutex`, router, job ticker |
//! | `middleware.rs` | faults, api-version check, correlation headers, BOM, call log |
//! | `github.rs` | registration token, installation token, runner-registration, workflow runs |
//! | `actions.rs` | runner groups, scale sets, JIT configs, agents |
//! | `sessions.rs` | session create/refresh/delete |
//! | `queue.rs` | long poll, ack, acquirejobs, acquirablejobs |
//! | `faults.rs` | [`Fault`] rules and their named constructors |
//! | `sparse.rs` | sparse mode: the one transform of every Actions answer |
//! | `calls.rs` | [`Call`] log records |
//! | `respond.rs` | .NET / GitHub error bodies, auth helpers |
//! | `control.rs`, `control_http.rs` | [`Fake`] control handle and its HTTP API |
//! | `tls.rs` | [`PrivateCa`] and [`FakeServer::start_tls`]: HTTPS as a GHES behind a private CA |
//! | `main.rs` | the standalone `ghaec2-fake` binary |

mod actions;
pub mod calls;
mod control;
mod control_http;
pub mod endpoints;
pub mod faults;
mod github;
pub mod jit;
mod middleware;
mod options;
mod queue;
mod respond;
mod server;
mod sessions;
pub mod sparse;
pub mod state;
pub mod tls;
pub mod tokens;
pub mod wire;

pub use calls::Call;
pub use control::{Fake, STALE_OWNER};
pub use faults::{Fault, FaultAction};
pub use options::{AppOptions, Bom, DEFAULT_PAT, FakeOptions, Mode};
pub use server::{FakeServer, StartError};
pub use state::{
    ExpireTokens, Fail, Job, JobSpec, JobState, RunnerView, SessionView, Snapshot, Statistics,
    WorkflowRun,
};
pub use tls::PrivateCa;
