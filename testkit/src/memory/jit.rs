//! [`MemoryJitStore`]: the JIT items of `src/aws/jit_store.rs` in memory, and what an
//! instance's user-data script does with them (`src/aws/user_data.sh`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use ghaec2::ports::{BootFailure, JitListing, JitStore, PortError};
use secrecy::SecretString;

use super::lock;

/// Longest reason a listing reports, as `DynamoJitStore` cuts what an instance wrote.
const REASON_MAX: usize = 200;

/// [`JitStore`] in memory, for the instances of one scale set. As in the state table: a JIT
/// config and a boot-failure report per instance, apart; deleting either when it is not
/// there is fine; a listing reports both.
#[derive(Debug, Clone, Default)]
pub struct MemoryJitStore {
    book: Arc<Mutex<Book>>,
}

#[derive(Debug, Default)]
struct Book {
    configs: BTreeMap<String, SecretString>,
    /// Boot-failure reasons as the instances wrote them.
    boot_failures: BTreeMap<String, String>,
}

impl MemoryJitStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The instance reads its JIT config and deletes it, as its user-data script does.
    pub fn take(&self, instance_id: &str) -> Option<SecretString> {
        lock(&self.book).configs.remove(instance_id)
    }

    /// The instance reports that its runner could not start, as its user-data script does.
    pub fn report_boot_failure(&self, instance_id: &str, reason: &str) {
        lock(&self.book)
            .boot_failures
            .insert(instance_id.to_owned(), reason.to_owned());
    }
}

impl JitStore for MemoryJitStore {
    async fn put(&self, instance_id: &str, config: &SecretString) -> Result<(), PortError> {
        lock(&self.book)
            .configs
            .insert(instance_id.to_owned(), config.clone());
        Ok(())
    }

    async fn delete(&self, instance_id: &str) -> Result<(), PortError> {
        lock(&self.book).configs.remove(instance_id);
        Ok(())
    }

    async fn listing(&self) -> Result<JitListing, PortError> {
        let book = lock(&self.book);
        Ok(JitListing {
            instance_ids: book.configs.keys().cloned().collect(),
            boot_failures: book
                .boot_failures
                .iter()
                .map(|(instance_id, reason)| BootFailure {
                    instance_id: instance_id.clone(),
                    reason: reason.chars().take(REASON_MAX).collect(),
                })
                .collect(),
        })
    }

    async fn delete_boot_failure(&self, instance_id: &str) -> Result<(), PortError> {
        lock(&self.book).boot_failures.remove(instance_id);
        Ok(())
    }
}
