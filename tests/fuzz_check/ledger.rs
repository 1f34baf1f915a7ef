//! The accounting payload: every value sent through the channel under test
//! is a [`Tracked`] that reports its end to a shared [`Ledger`], so the
//! checks can tell "dropped by the channel" from "handed back to the caller"
//! and count both per value (API.md rule 2).

use std::cell::Cell;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::Once;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};

/// Which kind of thread a drop happened on. The threaded check uses it to
/// tell a value displaced by a producer's `send` (dropped on that producer)
/// from one freed by the receiver's drop (dropped on the consumer) or by the
/// last handle at the very end (dropped on the main thread).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Role {
    Main = 0,
    Producer = 1,
    Consumer = 2,
}

thread_local! {
    static ROLE: Cell<Role> = const { Cell::new(Role::Main) };
    /// Values dropped (not retired) on this thread so far.
    static DROPS_HERE: Cell<u64> = const { Cell::new(0) };
    /// Id of the value dropped last on this thread.
    static LAST_DROPPED: Cell<Option<usize>> = const { Cell::new(None) };
}

/// Values dropped on the current thread so far (retired ones not counted).
/// The difference across a call tells what that call dropped.
pub(super) fn drops_on_this_thread() -> u64 {
    DROPS_HERE.with(Cell::get)
}

/// Id of the value dropped last on the current thread (retired ones not
/// counted).
pub(super) fn last_dropped_on_this_thread() -> Option<usize> {
    LAST_DROPPED.with(Cell::get)
}

/// Tags the current thread for the drop accounting.
pub(super) fn set_role(role: Role) {
    ROLE.with(|r| r.set(role));
}

/// What happened to one value so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Fate {
    /// Drops done by the channel (or by anything but [`Tracked::retire`]),
    /// indexed by [`Role`].
    pub(super) dropped: [u32; 3],
    /// Times the value came back to the test (receive, `replace`,
    /// `SendError`) and was retired.
    pub(super) returned: u32,
}

impl Fate {
    pub(super) fn drops(&self) -> u32 {
        self.dropped.iter().sum()
    }

    /// Ends counted so far, of any kind. Exactly-once means this is 1 at the
    /// end of a run.
    pub(super) fn ends(&self) -> u32 {
        self.drops() + self.returned
    }
}

#[derive(Default)]
struct Entry {
    created: AtomicBool,
    dropped: [AtomicU32; 3],
    returned: AtomicU32,
}

/// Per-value counters for a fixed number of value ids.
pub(super) struct Ledger {
    entries: Vec<Entry>,
    /// While set, dropping a value made with `panicky = true` panics (after
    /// it has been counted). Only the single-threaded check arms it, and
    /// only around a `send` that the model says displaces such a value.
    armed: AtomicBool,
    /// Number of ends (drops plus returns) recorded so far, over all ids: a
    /// cheap way to notice a drop of a value the model did not expect to
    /// change.
    events: AtomicU64,
}

impl Ledger {
    pub(super) fn new(capacity: usize) -> Arc<Self> {
        install_panic_filter();
        Arc::new(Ledger {
            entries: (0..capacity).map(|_| Entry::default()).collect(),
            armed: AtomicBool::new(false),
            events: AtomicU64::new(0),
        })
    }

    pub(super) fn capacity(&self) -> usize {
        self.entries.len()
    }

    /// Makes the value with the given id. Each id may be made once.
    pub(super) fn value(self: &Arc<Self>, id: usize, panicky: bool) -> Tracked {
        let was = self.entries[id].created.swap(true, Ordering::Relaxed);
        assert!(!was, "fuzz_check bug: value id {id} made twice");
        Tracked {
            id,
            panicky,
            retired: false,
            ledger: Arc::clone(self),
        }
    }

    pub(super) fn was_created(&self, id: usize) -> bool {
        self.entries[id].created.load(Ordering::Relaxed)
    }

    pub(super) fn fate(&self, id: usize) -> Fate {
        let e = &self.entries[id];
        Fate {
            dropped: [
                e.dropped[0].load(Ordering::Relaxed),
                e.dropped[1].load(Ordering::Relaxed),
                e.dropped[2].load(Ordering::Relaxed),
            ],
            returned: e.returned.load(Ordering::Relaxed),
        }
    }

    pub(super) fn events(&self) -> u64 {
        self.events.load(Ordering::Relaxed)
    }

    pub(super) fn arm(&self, on: bool) {
        self.armed.store(on, Ordering::Relaxed);
    }
}

/// The payload sent through the channel under test.
pub(super) struct Tracked {
    id: usize,
    panicky: bool,
    retired: bool,
    ledger: Arc<Ledger>,
}

impl Tracked {
    pub(super) fn id(&self) -> usize {
        self.id
    }

    /// Ends a value that the channel handed back: counted as "returned",
    /// never as a drop, and never panics.
    pub(super) fn retire(mut self) -> usize {
        self.retired = true;
        self.id
    }
}

impl std::fmt::Debug for Tracked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tracked({})", self.id)
    }
}

/// Panic payload of an intended panic in [`Tracked`]'s `Drop`.
pub(super) struct IntendedDropPanic;

impl Drop for Tracked {
    fn drop(&mut self) {
        let entry = &self.ledger.entries[self.id];
        if self.retired {
            entry.returned.fetch_add(1, Ordering::Relaxed);
        } else {
            let role = ROLE.with(Cell::get) as usize;
            entry.dropped[role].fetch_add(1, Ordering::Relaxed);
            DROPS_HERE.with(|n| n.set(n.get() + 1));
            LAST_DROPPED.with(|last| last.set(Some(self.id)));
        }
        self.ledger.events.fetch_add(1, Ordering::Relaxed);
        if !self.retired && self.panicky && self.ledger.armed.load(Ordering::Relaxed) {
            std::panic::panic_any(IntendedDropPanic);
        }
    }
}

/// Keeps the intended drop panics quiet and, in the fuzz targets, keeps
/// libfuzzer-sys's hook (which aborts on every panic, caught or not) from
/// seeing them. Every other panic still goes to the previous hook.
fn install_panic_filter() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().is::<IntendedDropPanic>() {
                return;
            }
            previous(info);
        }));
    });
}

/// A `Waker` that counts its wake-ups.
#[derive(Default)]
pub(super) struct CountingWaker(AtomicUsize);

impl CountingWaker {
    pub(super) fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

struct Unparker(Thread);

impl Wake for Unparker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs a future to completion on the current thread, parking between
/// polls. No runtime: the channel must wake the parked thread itself.
pub(super) fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let waker = Waker::from(Arc::new(Unparker(thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        thread::park();
    }
}
