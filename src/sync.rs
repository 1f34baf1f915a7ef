//! The one place that names std's or loom's atomics, cells, `Arc` and thread
//! parking, so that `--cfg loom` model-checks the real protocol code.
//!
//! Everything else in the crate imports these items from `crate::sync` and
//! contains no `cfg(loom)` of its own, except for tuning constants.

#[cfg(not(loom))]
pub(crate) use std::sync::Arc;
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{
    AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering, fence,
};
#[cfg(not(loom))]
pub(crate) use std::sync::{Mutex, MutexGuard};
#[cfg(not(loom))]
pub(crate) use std::thread::{Thread, current, park};

#[cfg(loom)]
pub(crate) use loom::sync::Arc;
#[cfg(loom)]
pub(crate) use loom::sync::atomic::{
    AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering, fence,
};
#[cfg(loom)]
pub(crate) use loom::sync::{Mutex, MutexGuard};
#[cfg(loom)]
pub(crate) use loom::thread::{Thread, current, park};

use std::time::Instant;

/// A hint that we are busy-waiting on another thread's progress.
#[inline]
pub(crate) fn spin_loop() {
    #[cfg(not(loom))]
    std::hint::spin_loop();
    #[cfg(loom)]
    loom::hint::spin_loop();
}

/// Gives the rest of this time slice to another thread.
#[inline]
pub(crate) fn yield_now() {
    #[cfg(not(loom))]
    std::thread::yield_now();
    #[cfg(loom)]
    loom::thread::yield_now();
}

/// Parks the current thread until `deadline` (or an unpark, or a spurious
/// wake-up) and reports whether the deadline may have passed.
///
/// Loom has no clock, so under loom this is a yield that reports the deadline
/// as passed: the timeout is modelled as a wake-up that may come before the
/// value does. Callers must treat every return as possibly spurious and
/// re-read the channel state.
pub(crate) fn park_until(deadline: Instant) -> bool {
    #[cfg(not(loom))]
    {
        let now = Instant::now();
        if now >= deadline {
            return true;
        }
        std::thread::park_timeout(deadline - now);
        Instant::now() >= deadline
    }
    #[cfg(loom)]
    {
        let _ = deadline;
        loom::thread::yield_now();
        true
    }
}

/// The receiver's only busy wait: for another thread to finish a few of its
/// own steps (a claimer's `free` store, an admitted put's swap). Spins
/// briefly, then yields so a preempted thread can run. Never used by a
/// sender.
pub(crate) fn receiver_waits_until(mut done: impl FnMut() -> bool) {
    let mut spins = 0u32;
    while !done() {
        if spins < 64 {
            spin_loop();
            spins += 1;
        } else {
            yield_now();
        }
    }
}

/// The fence of a Dekker pair: placed between a thread's `SeqCst` write of
/// one atomic and its `SeqCst` read of another, where two threads each write
/// one and read the other and at least one must see the other's write.
///
/// Under std this is nothing: `SeqCst` accesses are in one total order with
/// each other (C++20 [atomics.order]), which already gives the guarantee,
/// and on x86 the write is a locked instruction that orders the read by
/// itself, so a fence instruction would only cost time. Loom models
/// `SeqCst` accesses as `AcqRel` (loom issue #180) but models `SeqCst`
/// fences, so under loom the fence stands in for the accesses' own order;
/// the code loom checks is otherwise the same.
#[inline]
pub(crate) fn dekker_fence() {
    // ORDERING: SeqCst: the fence of the Dekker pair, as documented above.
    #[cfg(loom)]
    fence(Ordering::SeqCst);
}

/// A zero-sized stand-in for loom's allocation tracker: under loom, every
/// slot node carries a `loom::alloc::Track`, so a node that is never freed
/// fails the model with a leak report.
#[cfg(not(loom))]
#[derive(Debug)]
pub(crate) struct LeakTrack;

#[cfg(not(loom))]
impl LeakTrack {
    #[inline]
    pub(crate) fn new() -> Self {
        LeakTrack
    }
}

#[cfg(loom)]
#[derive(Debug)]
pub(crate) struct LeakTrack(#[allow(dead_code)] loom::alloc::Track<()>);

#[cfg(loom)]
impl LeakTrack {
    pub(crate) fn new() -> Self {
        LeakTrack(loom::alloc::Track::new(()))
    }
}

/// `UnsafeCell` with loom's closure-based access API, so call sites are the
/// same under std and loom (loom checks every access for data races).
#[cfg(not(loom))]
#[derive(Debug)]
pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

#[cfg(not(loom))]
impl<T> UnsafeCell<T> {
    #[inline]
    pub(crate) const fn new(value: T) -> Self {
        UnsafeCell(std::cell::UnsafeCell::new(value))
    }

    /// Calls `f` with a shared raw pointer to the contents.
    #[inline]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }

    /// Calls `f` with a unique raw pointer to the contents.
    #[inline]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}

#[cfg(loom)]
pub(crate) use loom::cell::UnsafeCell;

/// An atomic pointer whose low bits may carry tags, with the bitwise
/// read-modify-writes the slot protocol needs.
///
/// Under std this is `AtomicPtr`, whose `fetch_or`/`fetch_and` keep the
/// pointer's provenance (strict-provenance clean, checked by Miri). Loom's
/// `AtomicPtr` has no bitwise operations, so under loom the word is an
/// `AtomicUsize` holding an exposed address; Miri never runs loom builds.
#[cfg(not(loom))]
#[derive(Debug)]
pub(crate) struct AtomicTaggedPtr<T>(std::sync::atomic::AtomicPtr<T>);

#[cfg(not(loom))]
impl<T> AtomicTaggedPtr<T> {
    #[inline]
    pub(crate) fn new(p: *mut T) -> Self {
        AtomicTaggedPtr(std::sync::atomic::AtomicPtr::new(p))
    }
    #[inline]
    pub(crate) fn load(&self, order: Ordering) -> *mut T {
        self.0.load(order)
    }
    #[inline]
    pub(crate) fn swap(&self, p: *mut T, order: Ordering) -> *mut T {
        self.0.swap(p, order)
    }
    #[inline]
    pub(crate) fn store(&self, p: *mut T, order: Ordering) {
        self.0.store(p, order)
    }
    #[inline]
    pub(crate) fn fetch_or(&self, bits: usize, order: Ordering) -> *mut T {
        self.0.fetch_or(bits, order)
    }
    #[inline]
    pub(crate) fn compare_exchange(
        &self,
        current: *mut T,
        new: *mut T,
        success: Ordering,
        failure: Ordering,
    ) -> Result<*mut T, *mut T> {
        self.0.compare_exchange(current, new, success, failure)
    }
    /// Reads the word through exclusive access (no other handle exists).
    #[inline]
    pub(crate) fn get_mut(&mut self) -> *mut T {
        *self.0.get_mut()
    }
}

#[cfg(loom)]
#[derive(Debug)]
pub(crate) struct AtomicTaggedPtr<T>(AtomicUsize, std::marker::PhantomData<*mut T>);

#[cfg(loom)]
impl<T> AtomicTaggedPtr<T> {
    fn to_ptr(addr: usize) -> *mut T {
        std::ptr::with_exposed_provenance_mut(addr)
    }
    pub(crate) fn new(p: *mut T) -> Self {
        AtomicTaggedPtr(
            AtomicUsize::new(p.expose_provenance()),
            std::marker::PhantomData,
        )
    }
    pub(crate) fn load(&self, order: Ordering) -> *mut T {
        Self::to_ptr(self.0.load(order))
    }
    pub(crate) fn swap(&self, p: *mut T, order: Ordering) -> *mut T {
        Self::to_ptr(self.0.swap(p.expose_provenance(), order))
    }
    pub(crate) fn store(&self, p: *mut T, order: Ordering) {
        self.0.store(p.expose_provenance(), order)
    }
    pub(crate) fn fetch_or(&self, bits: usize, order: Ordering) -> *mut T {
        Self::to_ptr(self.0.fetch_or(bits, order))
    }
    pub(crate) fn compare_exchange(
        &self,
        current: *mut T,
        new: *mut T,
        success: Ordering,
        failure: Ordering,
    ) -> Result<*mut T, *mut T> {
        self.0
            .compare_exchange(
                current.expose_provenance(),
                new.expose_provenance(),
                success,
                failure,
            )
            .map(Self::to_ptr)
            .map_err(Self::to_ptr)
    }
    pub(crate) fn get_mut(&mut self) -> *mut T {
        // SAFETY: `&mut self` proves no other thread can touch the word.
        Self::to_ptr(unsafe { self.0.unsync_load() })
    }
}

// SAFETY: the loom word is an integer; the `PhantomData<*mut T>` only records
// the pointee type, exactly as `AtomicPtr<T>` (which is Send + Sync) does.
#[cfg(loom)]
unsafe impl<T> Send for AtomicTaggedPtr<T> {}
// SAFETY: as for Send above.
#[cfg(loom)]
unsafe impl<T> Sync for AtomicTaggedPtr<T> {}

/// Pads and aligns a value to a cache line, so words written by different
/// threads do not share one (false sharing).
pub(crate) use crossbeam_utils::CachePadded;
