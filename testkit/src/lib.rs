//! What ghaec2's integration tests, the demo and the bench share to stand in for AWS. It is a
//! dev-only crate: the `ghaec2` binary never depends on it.
//!
//! - [`moto`]: SDK configuration for moto_server and the resources a run needs (the state
//!   table from the production key schema, a network, an AMI, an instance profile).
//! - [`aws_proxy`]: a fault-injecting proxy in front of moto, each proxy an AWS account of its
//!   own.
//! - [`memory`]: the cycle's three ports in memory, with the AWS adapters' semantics.
//!
//! Two test tiers use them. The fast tier runs the cycle's behaviour tests on [`memory`]: no
//! AWS calls, so a cycle costs its listening window and little more. The moto tier runs the
//! AWS adapters on [`moto`] behind [`aws_proxy`], for what only real requests show: wire
//! shapes, the SDK's retries, IAM-shaped requests, EC2's eventual consistency.
//! `tests/port_contract.rs` runs the same port scenarios on both, so they cannot drift apart.

pub mod aws_proxy;
pub mod memory;
pub mod moto;
