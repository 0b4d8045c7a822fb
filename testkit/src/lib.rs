//! What ghaec2's integration tests, the demo and the bench share to stand in for AWS. It is a
//! dev-only crate: the `ghaec2` binary never depends on it.
//!
//! - [`moto`]: SDK configuration for moto_server and the resources a run needs (the state
//!   table from the production key schema, a network, an AMI, an instance profile).
//! - [`aws_proxy`]: a fault-injecting proxy in front of moto, each proxy an AWS account of its
//!   own.

pub mod aws_proxy;
pub mod moto;
