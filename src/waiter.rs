//! The receiver's waiter (a parked thread or a task's `Waker`) and the cell
//! that hands it from the receiver to the one thread that claims it.
//!
//! The cell knows nothing of the slot word: `slot.rs` decides who may touch
//! it (the receiver while nobody has claimed it, then the claimer alone, see
//! the protocol essay there) and calls the methods below accordingly. One
//! thread may sit in the cells of several channels at once: a `Select`
//! registers a clone of its `Thread` handle in each channel it watches, and
//! whichever sender claims one of them unparks it.

use std::task::Waker;

use crate::sync::{AtomicBool, Ordering, Thread, UnsafeCell, receiver_waits_until};

/// Whoever waits for the next value.
pub(crate) enum Waiter {
    /// A thread blocked in a receive, a blocking iterator, or `Select`.
    Thread(Thread),
    /// A task awaiting a `RecvFuture` (or polling `poll_recv`).
    Task(Waker),
}

impl Waiter {
    /// Wakes the waiter, consuming it.
    pub(crate) fn wake(self) {
        match self {
            Waiter::Thread(thread) => thread.unpark(),
            Waiter::Task(waker) => waker.wake(),
        }
    }
}

/// The receiver's waiter and the flag that says no claimer is reading it.
///
/// Ownership (the slot word decides which case holds):
/// - while the slot word is not `WAITING` and `free` is true, the cell is
///   the receiver's: it may write it ([`fill`](WaiterCell::fill)) or empty
///   it ([`clear_unclaimed`](WaiterCell::clear_unclaimed));
/// - once the RMW that removes `WAITING` (or first meets it) has claimed it,
///   the cell is that thread's until it stores `free = true`
///   ([`wake_claimed`](WaiterCell::wake_claimed)).
pub(crate) struct WaiterCell {
    /// The waiter, if one is registered or was left by a claim in progress.
    cell: UnsafeCell<Option<Waiter>>,
    /// True when the receiver may write `cell`: nothing has registered since
    /// the last claim finished, or the receiver took its registration back.
    free: AtomicBool,
}

impl WaiterCell {
    pub(crate) fn new() -> Self {
        WaiterCell {
            cell: UnsafeCell::new(None),
            free: AtomicBool::new(true),
        }
    }

    /// Receiver: stores `waiter`, first waiting until a claimer of the
    /// previous one (if any) is done with the cell. The caller publishes
    /// the cell afterwards with its Release CAS of the slot word.
    ///
    /// # Safety
    ///
    /// Called by the receiver only, while the slot word is not `WAITING`.
    pub(crate) unsafe fn fill(&self, waiter: Waiter) {
        // Bounded by the claimer's few steps between its claim and its
        // `free` store (no user code runs there).
        // ORDERING: Acquire: pairs with the claimer's Release store of
        // `free`, so its use of the cell happens before our write.
        receiver_waits_until(|| self.free.load(Ordering::Acquire));
        self.cell.with_mut(|cell| {
            // SAFETY: `free` is true (acquired above) and the word is not
            // WAITING (the caller's contract), so no sender may read the
            // cell; the receiver is its only writer.
            unsafe { *cell = Some(waiter) };
        });
        // ORDERING: Relaxed: published by the caller's Release CAS on the
        // slot word; only the receiver reads this flag as false, the claimer
        // only ever stores `true`.
        self.free.store(false, Ordering::Relaxed);
    }

    /// Receiver: empties the cell after a registration that nobody claimed
    /// (the CAS failed, or the receiver undid it), so no stale thread handle
    /// or waker is kept alive.
    ///
    /// # Safety
    ///
    /// Called by the receiver only, after its own CAS removed `WAITING` or
    /// failed to set it, so that no sender claimed the cell.
    pub(crate) unsafe fn clear_unclaimed(&self) {
        let old = self.cell.with_mut(|cell| {
            // SAFETY: unclaimed, per the caller's contract, so the cell is
            // still the receiver's.
            unsafe { (*cell).take() }
        });
        // ORDERING: Relaxed: the cell never left the receiver's hands.
        self.free.store(true, Ordering::Relaxed);
        drop(old);
    }

    /// Loom models only: whether a waiter is in the cell. Call it only once
    /// every other thread of the model is done with the channel.
    #[cfg(loom)]
    pub(crate) fn is_occupied(&self) -> bool {
        // SAFETY: the caller's contract: no other thread touches the cell.
        self.cell.with(|cell| unsafe { (*cell).is_some() })
    }

    /// Claimer: takes the waiter out, frees the cell, then wakes the waiter.
    /// The waking side never waits for anyone.
    ///
    /// # Safety
    ///
    /// The caller's RMW on the slot word removed (or first met) `WAITING`
    /// with Acquire ordering: that claims the cell for this thread alone and
    /// makes the receiver's write of it visible.
    #[cold]
    pub(crate) unsafe fn wake_claimed(&self) {
        let waiter = self.cell.with_mut(|cell| {
            // SAFETY: claimed for us alone, per the caller's contract.
            unsafe { (*cell).take() }
        });
        // ORDERING: Release: our use of the cell happens before the
        // receiver's next write to it (it acquires this flag first).
        self.free.store(true, Ordering::Release);
        debug_assert!(waiter.is_some(), "a claimed waiter cell was empty");
        if let Some(waiter) = waiter {
            waiter.wake();
        }
    }
}
