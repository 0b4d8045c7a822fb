//! Wall-clock time, given to the cycle rather than read from `Utc::now()` where it is needed,
//! so that a test can run a cycle on paused tokio time with a wall clock that follows it.

use chrono::{DateTime, Utc};

/// The wall clock the cycle reads: lease expiries, launch times, boot timeouts.
pub trait Clock: std::fmt::Debug + Send + Sync {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;
}

/// The system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}
