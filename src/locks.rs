//! Per-user locks that serialize read-modify-write sequences inside one
//! gateway process, so two concurrent merges for the same user cannot drop
//! each other's contacts. Entries live only while someone holds or awaits them.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

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
    /// Waits until no other writer holds `user`, then holds it. Dropping the
    /// returned future while it waits gives up the place in line and, if
    /// nobody else holds or awaits `user`, its entry.
    pub async fn lock(&self, user: UserId) -> UserGuard {
        let slot = {
            let mut slots = lock_slots(&self.slots);
            Arc::clone(slots.entry(user).or_default())
        };
        let guard = Acquire {
            pending: Some(Box::pin(slot.lock_owned())),
            user,
            slots: Arc::clone(&self.slots),
        }
        .await;
        UserGuard {
            guard: Some(guard),
            user,
            slots: Arc::clone(&self.slots),
        }
    }

    /// How many users currently have a lock entry (held or awaited); the
    /// tests check that entries never outlive their locks.
    #[cfg(test)]
    fn len(&self) -> usize {
        lock_slots(&self.slots).len()
    }

    /// Whether no lock is held or awaited.
    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

type Pending = Pin<Box<dyn Future<Output = OwnedMutexGuard<()>> + Send>>;

/// Waiting for a user's lock. Its `Drop` first lets go of the wait (and the
/// reference to the mutex it holds), then removes the entry if that was the last.
struct Acquire {
    pending: Option<Pending>,
    user: UserId,
    slots: Slots,
}

impl Future for Acquire {
    type Output = OwnedMutexGuard<()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some(pending) = self.pending.as_mut() else {
            // Polled again after completion: nothing more will come.
            return Poll::Pending;
        };
        let guard = std::task::ready!(pending.as_mut().poll(cx));
        self.pending = None;
        Poll::Ready(guard)
    }
}

impl Drop for Acquire {
    fn drop(&mut self) {
        self.pending.take();
        forget_if_unused(&self.slots, self.user);
    }
}

impl Drop for UserGuard {
    fn drop(&mut self) {
        self.guard.take();
        forget_if_unused(&self.slots, self.user);
    }
}

/// Removes `user`'s entry when only the map still points at its mutex: nobody
/// holds or awaits it. Every holder and waiter keeps a reference, and new ones
/// take theirs under the map's lock, so the count cannot race.
fn forget_if_unused(slots: &Slots, user: UserId) {
    let mut slots = lock_slots(slots);
    if slots
        .get(&user)
        .is_some_and(|slot| Arc::strong_count(slot) == 1)
    {
        slots.remove(&user);
    }
}

/// A poisoned map only means another thread panicked mid-update; the map is still usable.
fn lock_slots(slots: &Slots) -> std::sync::MutexGuard<'_, HashMap<UserId, Arc<AsyncMutex<()>>>> {
    slots
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
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

    #[tokio::test]
    async fn a_waiter_that_gives_up_after_the_holder_left_leaves_no_entry() {
        let locks = UserLocks::default();
        let holder = locks.lock(user(1)).await;
        let waiter = tokio::spawn({
            let locks = locks.clone();
            async move { locks.lock(user(1)).await }
        });
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        // The holder leaves; the waiter is next in line but has not run yet when it is cancelled.
        drop(holder);
        waiter.abort();
        assert!(waiter.await.unwrap_err().is_cancelled());
        assert!(locks.is_empty(), "{} entries left", locks.len());
        // The user can still be locked afterwards.
        drop(locks.lock(user(1)).await);
        assert!(locks.is_empty());
    }
}
