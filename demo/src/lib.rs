//! `ghaec2-demo`: ghaec2 run end to end on one machine, against moto_server (AWS) and the
//! in-process fake Actions Service. Two binaries share this library:
//!
//! * `demo` (`make demo`): a realistic workload, a runner simulator, a live view, a summary
//!   and a report under `target/demo/`;
//! * `bench` (`make bench`): the measured scenarios that write `BENCHMARKS.md`.
//!
//! moto itself is started by `scripts/with-moto.sh`, which sets `AWS_ENDPOINT_URL`.
//!
//! | module | responsibility |
//! |---|---|
//! | `moto` | the AWS side in moto: table (production schema), VPC, subnets, security group, AMI, instance profile (shared with the integration tests) |
//! | `stand_ins` | [`StandIns`]: the fake, the AWS side, and ghaec2 as a child process |
//! | `stats` | percentiles of measured durations |
//! | `cost` | the monthly Lambda cost of one scale set |

pub mod cost;
#[path = "../../tests/support/moto.rs"]
pub mod moto;
pub mod stand_ins;
pub mod stats;

pub use stand_ins::{Ghaec2Process, LogLine, StandIns, StandInsOptions};
