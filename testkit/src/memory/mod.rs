//! The three ports of the cycle (`ghaec2::ports`) in memory, with the semantics of the AWS
//! adapters they stand in for, so that the cycle's behaviour tests need no moto_server and
//! spend their time in the cycle, not in emulated AWS calls. `tests/port_contract.rs` runs one
//! set of scenarios against both, so neither can drift.
//!
//! - [`MemoryStateStore`]: lease, fence, state record and runner ledger
//!   (`src/aws/state.rs`, docs/design.md §1.1).
//! - [`MemoryFleet`]: instances tagged with their scale set, launches idempotent per client
//!   token, terminated instances kept listed (`src/aws/fleet.rs`).
//! - [`MemoryJitStore`]: JIT configs and boot-failure reports by instance
//!   (`src/aws/jit_store.rs`), with what the instance itself does: read and delete its
//!   config, report that its runner could not start.
//!
//! Each is a cheap handle: clones share one store, as SDK clients share one account. Faults
//! are injected by wrapping a port (`tests/support/faulty.rs`), as for the AWS adapters.

mod fleet;
mod jit;
mod state;

use std::sync::{Mutex, MutexGuard, PoisonError};

pub use fleet::{MemoryFleet, MemoryInstance};
pub use jit::MemoryJitStore;
pub use state::MemoryStateStore;

/// Locks `book`; a panic in another test thread holding it leaves the data as it was.
fn lock<T>(book: &Mutex<T>) -> MutexGuard<'_, T> {
    book.lock().unwrap_or_else(PoisonError::into_inner)
}
