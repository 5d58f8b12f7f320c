//! Per-user locks that serialize read-modify-write sequences inside one
//! gateway process, so two concurrent merges for the same user cannot drop
//! each other's contacts. Entries live only while someone holds or awaits them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

use crate::domain::UserId;

type Slots = Arc<Mutex<HashMap<UserId, Arc<AsyncMutex<()>>>>>;

/// A lock per user id.
#[derive(Debug, Default, Clone)]
pub struct UserLocks {
    slots: Slots,
}

/// Holds one user's lock; dropping it lets the next writer in.
#[derive(Debug)]
pub struct UserGuard {
    guard: Option<OwnedMutexGuard<()>>,
    user: UserId,
    slots: Slots,
}

impl UserLocks {
    /// Waits until no other writer holds `user`, then holds it.
    pub async fn lock(&self, user: UserId) -> UserGuard {
        let slot = {
            let mut slots = self
                .slots
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            Arc::clone(slots.entry(user).or_default())
        };
        UserGuard {
            guard: Some(slot.lock_owned().await),
            user,
            slots: Arc::clone(&self.slots),
        }
    }

    /// How many users currently have a lock entry (held or awaited).
    pub fn len(&self) -> usize {
        self.slots
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .len()
    }

    /// Whether no lock is held or awaited.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for UserGuard {
    fn drop(&mut self) {
        self.guard.take();
        let mut slots = self
            .slots
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // Only the map still points at the mutex: nobody holds or awaits it.
        if slots
            .get(&self.user)
            .is_some_and(|slot| Arc::strong_count(slot) == 1)
        {
            slots.remove(&self.user);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(n: u128) -> UserId {
        UserId::from(uuid::Uuid::from_u128(n))
    }

    #[tokio::test]
    async fn second_writer_waits_for_the_first() {
        let locks = UserLocks::default();
        let first = locks.lock(user(1)).await;
        let waiter = tokio::spawn({
            let locks = locks.clone();
            async move { locks.lock(user(1)).await }
        });
        // Another user is not blocked by the held one.
        let other = locks.lock(user(2)).await;
        drop(other);
        // The test runtime is single-threaded: yielding lets the waiter run
        // until it blocks on the lock.
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert!(
            !waiter.is_finished(),
            "the waiter got the lock while it was held"
        );
        drop(first);
        let second = waiter.await.unwrap();
        drop(second);
        assert!(locks.is_empty());
    }
}
