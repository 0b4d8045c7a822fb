//! Test support shared by the integration tests: moto_server set-up, the in-process fake
//! Actions Service, and a harness that runs whole cycles against both.
#![allow(dead_code)]

pub mod aws_proxy;
pub mod cli;
pub mod cycle;
pub mod fake;
pub mod faulty;
pub mod invariants;
pub mod moto;
pub mod runner_boot;
pub mod secrets;
