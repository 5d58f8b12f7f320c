//! One call as the operations see it: its credential, its deadline, and
//! whether its caller still waits.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio_util::sync::CancellationToken;

use super::credential::Credential;

/// When the caller stops waiting (its `grpc-timeout`), if it said.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Deadline(Option<std::time::Instant>);

impl Deadline {
    /// No deadline: the caller waits as long as the gateway's own bounds allow.
    pub const NONE: Deadline = Deadline(None);

    /// The deadline `timeout` from now.
    pub fn after(timeout: std::time::Duration) -> Self {
        Deadline(std::time::Instant::now().checked_add(timeout))
    }

    /// The deadline at `at`; none for `None` (a timeout too far to represent).
    pub fn at(at: Option<std::time::Instant>) -> Self {
        Deadline(at)
    }

    /// The instant, if any.
    pub fn instant(self) -> Option<std::time::Instant> {
        self.0
    }

    /// Time left; `None` without a deadline, zero once it has passed.
    pub fn remaining(self) -> Option<std::time::Duration> {
        self.0
            .map(|at| at.saturating_duration_since(std::time::Instant::now()))
    }

    /// Completes when the deadline passes; never without one.
    pub fn passed(self) -> Passed {
        Passed {
            at: self.0,
            timer: None,
        }
    }

    /// Whether the caller has stopped waiting.
    pub fn has_passed(self) -> bool {
        self.remaining().is_some_and(|left| left.is_zero())
    }
}

pin_project_lite::pin_project! {
    /// A deadline passing ([`Deadline::passed`]): a type of its own, so that
    /// the layers racing a call against it hold it inline, and its timer is
    /// set on the first poll, not when it is made.
    #[derive(Debug)]
    pub struct Passed {
        at: Option<std::time::Instant>,
        #[pin]
        timer: Option<tokio::time::Sleep>,
    }
}

impl Future for Passed {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut this = self.project();
        let Some(at) = *this.at else {
            return Poll::Pending;
        };
        if this.timer.is_none() {
            this.timer.set(Some(tokio::time::sleep_until(at.into())));
        }
        match this.timer.as_pin_mut() {
            Some(timer) => timer.poll(cx),
            None => Poll::Pending,
        }
    }
}

/// One call as the operations see it: the caller's credential, its deadline,
/// and whether the caller is gone.
#[derive(Debug, Clone)]
pub struct Call {
    /// Forwarded to the portal.
    pub credential: Credential,
    /// The caller's `grpc-timeout`, if it sent one.
    pub deadline: Deadline,
    /// Tells work that outlives the caller's future that the caller is gone.
    pub gone: Departure,
}

impl Call {
    /// A call without deadline, whose departure nothing watches yet.
    pub fn new(credential: Credential) -> Self {
        Self {
            credential,
            deadline: Deadline::NONE,
            gone: Departure::UNWATCHED,
        }
    }

    /// Whether the caller still waits: not when its deadline passed or it left.
    /// Nothing is sent to the portal for a caller that stopped waiting.
    pub fn still_waited_for(&self) -> Result<(), Abandoned> {
        Abandoned::check(self.deadline, &self.gone)
    }
}

/// Why nobody waits for a call's answer any more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Abandoned {
    /// The caller's deadline passed.
    Deadline,
    /// The caller cancelled, or its connection or stream ended.
    CallerGone,
}

impl Abandoned {
    /// Why a caller with this deadline and departure no longer waits, if it does not.
    pub fn check(deadline: Deadline, gone: &Departure) -> Result<(), Abandoned> {
        // The deadline first: when it passes, the caller's call is dropped
        // and `gone` fires in the same moment, and the deadline is the cause.
        if deadline.has_passed() {
            Err(Abandoned::Deadline)
        } else if gone.happened() {
            Err(Abandoned::CallerGone)
        } else {
            Ok(())
        }
    }

    /// Completes when such a caller stops waiting, and says why.
    pub async fn when(deadline: Deadline, gone: &Departure) -> Abandoned {
        tokio::select! {
            biased;
            () = deadline.passed() => Abandoned::Deadline,
            () = gone.signalled() => Abandoned::CallerGone,
        }
    }
}

/// A caller's going away, as seen by work that may outlive the caller's own
/// future: a write on its task, or a SyncUsers item. Work running inside
/// the caller's future (every read) needs no signal, since the future is
/// dropped when the caller leaves. Such work is left unwatched and pays
/// for no token, no allocation, and no place in a shared waiters' list.
#[derive(Debug, Clone)]
pub struct Departure(Option<CancellationToken>);

impl Departure {
    /// Watched by nothing: the caller's going away drops what waits for it.
    pub const UNWATCHED: Departure = Departure(None);

    /// The token that signals the departure, made now if nothing watched
    /// it yet; cancelling it tells every clone of this departure.
    pub fn watch(&mut self) -> CancellationToken {
        self.0.get_or_insert_with(CancellationToken::new).clone()
    }

    /// A departure of its own that this one's signal also reaches.
    pub fn child(&self) -> Departure {
        Departure(self.0.as_ref().map(CancellationToken::child_token))
    }

    /// Whether the caller has been signalled gone.
    pub fn happened(&self) -> bool {
        self.0.as_ref().is_some_and(CancellationToken::is_cancelled)
    }

    /// Completes when the caller is signalled gone; never while unwatched.
    pub async fn signalled(&self) {
        match &self.0 {
            Some(token) => token.cancelled().await,
            None => std::future::pending().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_departure_is_signalled_to_every_clone_and_child_once_watched() {
        let unwatched = Departure::UNWATCHED;
        assert!(!unwatched.happened());
        assert!(!unwatched.child().happened());
        assert!(unwatched.0.is_none(), "nothing is made until watched");

        let mut departure = Departure::UNWATCHED;
        let token = departure.watch();
        let clone = departure.clone();
        let child = departure.child();
        assert!(!clone.happened() && !child.happened());
        token.cancel();
        assert!(departure.happened() && clone.happened() && child.happened());
        clone.signalled().await;
        child.signalled().await;
        assert_eq!(
            Abandoned::check(Deadline::NONE, &clone),
            Err(Abandoned::CallerGone)
        );
        assert_eq!(
            Abandoned::when(Deadline::NONE, &child).await,
            Abandoned::CallerGone
        );
    }

    #[tokio::test]
    async fn an_unwatched_departure_never_ends_a_wait_but_the_deadline_does() {
        let deadline = Deadline::after(std::time::Duration::from_millis(10));
        assert_eq!(
            Abandoned::when(deadline, &Departure::UNWATCHED).await,
            Abandoned::Deadline
        );
        assert_eq!(
            Abandoned::check(Deadline::NONE, &Departure::UNWATCHED),
            Ok(())
        );
    }
}
