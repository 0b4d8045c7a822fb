//! GitHub and Actions Service client (docs/protocol.md).
//!
//! - [`auth`]: the token chain, PAT or App → registration token → admin connection.
//! - [`http`]: retries, `Retry-After`, BOM stripping, error mapping.
//! - [`client`]: admin calls (runner groups, scale sets, JIT configs, runners).
//! - [`session`]: message sessions, the long poll, acknowledgements, job acquisition.
//! - [`runs`]: workflow runs on the GitHub REST API: read one, re-run its failed jobs.
//! - [`wire`]: wire types of the calls; [`messages`]: job messages and their pure parsing.
//! - [`error`]: typed errors carrying `ActivityId` / `X-GitHub-Request-Id`.

pub mod auth;
pub mod client;
pub mod error;
pub mod http;
pub mod messages;
pub mod runs;
pub mod session;
pub mod wire;

pub use client::{ActionsClient, ClientOptions, RunnerRemoval};
pub use error::{ActionsError, ApiError};
pub use runs::WorkflowRun;
pub use session::Session;
