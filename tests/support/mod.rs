//! Test support shared by the integration tests: moto_server set-up, the AWS proxy and the
//! ports in memory (from `testkit/`, which the demo and the bench share), the in-process fake
//! Actions Service, and a harness that runs whole cycles against the fake and either AWS side.
#![allow(dead_code)]

pub use ghaec2_testkit::{aws_proxy, moto};

pub mod cli;
pub mod cycle;
pub mod fake;
pub mod faulty;
pub mod invariants;
pub mod records;
pub mod runner_boot;
pub mod secrets;
pub mod stand_in;
