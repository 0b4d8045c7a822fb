//! `ghaec2-demo`: ghaec2 run end to end on one machine, against moto_server (AWS) and the
//! in-process fake Actions Service. Two binaries share this library:
//!
//! * `demo` (`make demo`): a realistic workload, a runner simulator, a live view, a summary
//!   and a report under `target/demo/`;
//! * `bench` (`make bench`): the measured scenarios that write `BENCHMARKS.md`.
//!
//! moto itself is started by `scripts/with-moto.sh`, which sets `AWS_ENDPOINT_URL`; the AWS side
//! in it (table, network, AMI, instance profile) and the bench's fault-injecting proxy come from
//! `ghaec2-testkit` (`testkit/`), shared with the integration tests.
//!
//! | module | responsibility |
//! |---|---|
//! | `stand_ins` | [`StandIns`]: the fake, the AWS side, and ghaec2 as a child process |
//! | `stats` | percentiles of measured durations |
//! | `cost` | the monthly Lambda cost of one scale set |
//! | `workload` | the demo's seeded job plan: trickle, burst, long jobs, one cancelled job |
//! | `simulator` | the runner simulator: plays the launched instances (JIT fetch as user-data does, runner, power-off) |
//! | `view` | the demo's live view and ghaec2's decision records |
//! | `chart` | the demo's SVG chart of runners and jobs over time |
//! | `report` | the demo's pickup pairing, final summary, verdict and markdown report |
//! | `status` | `ghaec2 --status` run to its end, what its JSON shows, the demo's look at it mid-burst |

pub mod chart;
pub mod cost;
pub mod report;
pub mod simulator;
pub mod stand_ins;
pub mod stats;
pub mod status;
pub mod template;
pub mod view;
pub mod workload;

pub use stand_ins::{Ghaec2Process, LogLine, StandIns, StandInsOptions};
