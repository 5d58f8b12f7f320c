//! The items of one stream between reading and answering: each user's in
//! arrival order with at most one ready or running, and the ids seen so far.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{BuildHasher as _, RandomState};
use std::sync::Arc;

use crate::domain::UserId;
use crate::operations::Operation;
use crate::telemetry::metrics::Metrics;

/// Every `item_id` a stream has seen, as 128-bit keyed fingerprints: 16
/// bytes an item whatever the id's length, and a false "duplicate" less
/// likely than 2^-80 in a stream of `--bulk-max-items` items.
pub(super) struct SeenIds {
    keys: (RandomState, RandomState),
    seen: HashSet<u128>,
}

impl SeenIds {
    pub(super) fn new() -> Self {
        Self {
            keys: (RandomState::new(), RandomState::new()),
            seen: HashSet::new(),
        }
    }

    /// Remembers `id`; false when it was seen before.
    pub(super) fn insert(&mut self, id: &str) -> bool {
        let high = u128::from(self.keys.0.hash_one(id));
        let low = u128::from(self.keys.1.hash_one(id));
        self.seen.insert(high << 64 | low)
    }
}

/// An item waiting or running: its id, its RPC's name and its user.
pub(super) struct Item {
    pub(super) id: String,
    pub(super) rpc: &'static str,
    pub(super) user: UserId,
    pub(super) operation: Operation,
    /// The bytes it holds of the stream's and the gateway's budgets, given
    /// back when the item is dropped (answered).
    #[expect(
        dead_code,
        reason = "held only to be given back when the item is dropped"
    )]
    pub(super) held: Option<HeldBytes>,
}

/// An item's share of the byte budgets, counted in
/// `people_gateway_sync_held_bytes` until it is given back.
#[derive(Debug)]
pub(super) struct HeldBytes {
    pub(super) stream: tokio::sync::OwnedSemaphorePermit,
    pub(super) gateway: tokio::sync::OwnedSemaphorePermit,
    pub(super) metrics: Arc<Metrics>,
}

impl Drop for HeldBytes {
    fn drop(&mut self) {
        let bytes = i64::try_from(self.stream.num_permits()).unwrap_or(i64::MAX);
        self.metrics.add_sync_held_bytes(-bytes);
    }
}

/// The items read and not started. At most one item per user is ready or
/// running; the others wait behind it in arrival order.
pub(super) struct Queue {
    pub(super) ready: VecDeque<Item>,
    behind: HashMap<UserId, VecDeque<Item>>,
    pub(super) len: usize,
    metrics: Arc<Metrics>,
}

impl Queue {
    pub(super) fn new(metrics: Arc<Metrics>) -> Self {
        Self {
            ready: VecDeque::new(),
            behind: HashMap::new(),
            len: 0,
            metrics,
        }
    }

    pub(super) fn push(&mut self, item: Item) {
        self.len += 1;
        self.metrics.add_sync_queued(1);
        match self.behind.get_mut(&item.user) {
            Some(waiting) => waiting.push_back(item),
            None => {
                self.behind.insert(item.user, VecDeque::new());
                self.ready.push_back(item);
            }
        }
    }

    /// The next item to start; its user stays busy until [`Queue::finished`].
    pub(super) fn next(&mut self) -> Option<Item> {
        let item = self.ready.pop_front()?;
        self.len -= 1;
        self.metrics.add_sync_queued(-1);
        Some(item)
    }

    /// `user`'s running item is answered: its next item, if any, is ready.
    pub(super) fn finished(&mut self, user: UserId) {
        match self.behind.get_mut(&user).and_then(VecDeque::pop_front) {
            Some(item) => self.ready.push_back(item),
            None => {
                self.behind.remove(&user);
            }
        }
    }

    /// Every item not started, in no particular order; the queue is empty after.
    pub(super) fn take_all(&mut self) -> Vec<Item> {
        let mut items: Vec<Item> = self.ready.drain(..).collect();
        for (_, waiting) in self.behind.drain() {
            items.extend(waiting);
        }
        self.metrics.add_sync_queued(-(self.len as i64));
        self.len = 0;
        items
    }
}

impl Drop for Queue {
    fn drop(&mut self) {
        self.metrics.add_sync_queued(-(self.len as i64));
    }
}

/// Counts one item at the portal while it lives.
pub(super) struct AtPortal(Arc<Metrics>);

impl AtPortal {
    pub(super) fn new(metrics: &Arc<Metrics>) -> Self {
        metrics.add_sync_in_flight(1);
        Self(Arc::clone(metrics))
    }
}

impl Drop for AtPortal {
    fn drop(&mut self) {
        self.0.add_sync_in_flight(-1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(n: u128) -> UserId {
        UserId::from(uuid::Uuid::from_u128(n))
    }

    fn item(id: &str, user_n: u128) -> Item {
        Item {
            held: None,
            id: id.to_owned(),
            rpc: "SetContacts",
            user: user(user_n),
            operation: Operation::EditContacts {
                user: crate::domain::UserRef::Id(user(user_n)),
                edit: crate::people::ContactEdit::Replace(Vec::new()),
                spam: None,
            },
        }
    }

    #[test]
    fn one_item_per_user_is_ready_and_the_rest_keep_their_order() {
        let mut queue = Queue::new(Arc::default());
        for (id, user) in [("a1", 1), ("b1", 2), ("a2", 1), ("a3", 1), ("b2", 2)] {
            queue.push(item(id, user));
        }
        assert_eq!(queue.len, 5);
        let first = queue.next().unwrap();
        let second = queue.next().unwrap();
        assert_eq!((first.id.as_str(), second.id.as_str()), ("a1", "b1"));
        assert!(
            queue.next().is_none(),
            "a user's second item became ready early"
        );
        queue.finished(user(1));
        assert_eq!(queue.next().unwrap().id, "a2");
        queue.finished(user(2));
        assert_eq!(queue.next().unwrap().id, "b2");
        queue.finished(user(1));
        assert_eq!(queue.next().unwrap().id, "a3");
        queue.finished(user(1));
        queue.finished(user(2));
        assert_eq!(queue.len, 0);
        assert!(queue.behind.is_empty());
    }

    #[test]
    fn ids_are_remembered_exactly() {
        let mut ids = SeenIds::new();
        assert!(ids.insert("a"));
        assert!(ids.insert("b"));
        assert!(!ids.insert("a"));
        assert!(ids.insert("A"));
    }
}
