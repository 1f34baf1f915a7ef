//! The shared block: the slot word, the spare node, the counters and the
//! receiver's waiter cell, and the protocol that ties them together.

// # Protocol
//
// ## Words
//
// `slot` (see `state.rs`) is one tagged pointer:
//
//   node address | GONE (bit 2) | CLOSED (bit 1) | WAITING (bit 0)
//
// Its values in practice:
//
//   EMPTY            null: no value, receiver not waiting
//   WAITING          no value, the receiver parked (or its task is pending)
//                    and its waiter sits in `waiter.cell`
//   node             a value, in a heap node owned by the slot
//   CLOSED           every sender gone, no value: receives report Disconnected
//   node|CLOSED      every sender gone, a last value still to deliver
//   WAITING|CLOSED   the last sender's drop claimed the waiter; no value
//   GONE             the receiver is gone (senders may briefly put nodes here)
//
// `spare` holds at most one empty node for reuse, so steady state allocates
// nothing. `overwritten` counts displacements. `senders` counts live
// `Sender`s. `rx_gone` is set when the receiver drops. `waiter.cell` holds
// the receiver's `Waiter`; `waiter.free` says no sender is still reading it.
//
// ## Transitions (who, which RMW, ordering: reasons live in `state.rs`)
//
//   from           to              who                 how
//   any open word  node            send / replace      swap          AcqRel
//   EMPTY          WAITING         receiver, to wait   CAS           Release
//   WAITING        EMPTY           receiver, give up   CAS           Relaxed
//   node[|CLOSED]  EMPTY[|CLOSED]  receiver, take      fetch_and     Acquire
//   x              x|CLOSED        last sender drop    fetch_or      AcqRel
//   x              GONE            receiver drop       swap          AcqRel
//   x              GONE            sender that saw GONE  swap        AcqRel
//
// Senders only ever use unconditional RMWs (swap, fetch_or): no CAS, no
// loop, no lock, no waiting on another thread. That is the whole wait-free
// argument: `send` is a spare-node swap, a slot swap, and on a displacement
// one counter increment and one spare swap, whatever other threads do.
//
// ## Who may touch what
//
// - A node's value cell belongs to whoever holds the node: the sender that
//   took it from `spare` (or allocated it) until its `publish`; the slot
//   after that; then the one thread whose RMW on `slot` returned it (the
//   receiver's `take`, a displacing sender, the receiver's drop, or a
//   sender's `reclaim`). The holder moves the value out and returns the node
//   to `spare` with a release swap; whoever swaps it out of `spare` with
//   acquire may write it again. A node displaced out of `spare` is freed.
// - `waiter.cell` belongs to the receiver while the word is not WAITING and
//   `waiter.free` is true. The receiver writes its waiter, sets `free` to
//   false, and publishes both with the EMPTY → WAITING CAS. The one RMW that
//   then removes WAITING (a sender's swap) or meets it first (the closing
//   fetch_or) claims the cell: that thread takes the waiter out, stores
//   `free = true` with release, and only then wakes it. The receiver writes
//   the cell again only after acquiring `free == true`. So the waking side
//   never waits; if anyone spins it is the receiver, and only for the few
//   instructions between a claim and its `free` store.
// - If the receiver gives up (timeout, or a dropped `RecvFuture`), its
//   WAITING → EMPTY CAS decides: success means nobody claimed the cell; a
//   failure means a sender did, and a value (or CLOSED) is now in the word.
//
// ## Linearization points (API.md rule 9)
//
// - send / replace: the slot swap. (If `rx_gone` was already set they
//   return the value at the load of `rx_gone`.)
// - try_recv and the receive that returns a value: the `take` fetch_and, or,
//   for Empty / Disconnected, the load that saw no node.
// - A blocking receive that returns a value: its `take`.
// - Receiver drop: the swap to GONE. Sender drop (last): the fetch_or.
// - overwritten(): trails, as rule 7 allows (the increment follows the swap).
//
// ## Closing, both ways
//
// Last sender: `senders.fetch_sub` (AcqRel) returns 1, so every other
// sender's sends happen before; then `fetch_or(CLOSED)` keeps any node in
// place, so the receiver takes the last value first and sees CLOSED only in
// the word that remains (rule 4). If the old word was WAITING, the closer
// claimed the waiter and wakes it.
//
// Receiver: sets `rx_gone`, then swaps in GONE and drops the value it swept
// (rule 5). A send that starts after the drop returned sees `rx_gone` and
// hands its value back in `SendError`. A send that raced the drop (it read
// `rx_gone == false`) either swapped before the sweep (its value was swept,
// or displaced and dropped as an overwrite: ordered before the drop) or after
// it. In the latter case its swap returned GONE, so it swaps GONE back in
// and, if the node that comes out is its own (address and stamp), returns
// the value in `SendError`. Only when several sends race the same drop can
// the node that comes out be another racer's: then each of those racers had
// its value dropped by another as an overwrite, and they all report success
// (ordered before the drop). After every racing sender finishes, the word is
// GONE again and every value was returned or dropped exactly once.

use std::mem::MaybeUninit;
use std::ptr::NonNull;

use crate::state::{SlotWord, Word};
use crate::sync::{
    AtomicBool, AtomicTaggedPtr, AtomicU64, AtomicUsize, CachePadded, LeakTrack, Ordering,
    UnsafeCell,
};
use crate::wait::Waiter;

/// Heap cell for one value. Aligned to 8 so its address leaves the slot
/// word's three tag bits free.
#[repr(align(8))]
pub(crate) struct Node<T> {
    /// Initialized exactly while the node is in the slot or in the hands of
    /// a sender between writing the value and publishing, or of a thread
    /// between taking the node and moving the value out.
    value: UnsafeCell<MaybeUninit<T>>,
    /// Which call in progress wrote the value: the address of a local of
    /// that call's frame (see `Chan::put`). Written and read under the same
    /// ownership rules as `value`.
    stamp: UnsafeCell<usize>,
    /// Under loom, reports a node that is never freed.
    _track: LeakTrack,
}

/// The receiver's waiter and the flag that says no sender is reading it.
struct WaiterSlot {
    /// The receiver's waiter. Owned as described in the protocol essay.
    cell: UnsafeCell<Option<Waiter>>,
    /// True when the receiver may write `cell`: it has not registered since
    /// the last claim finished, or it took its registration back itself.
    free: AtomicBool,
}

/// The block shared by every handle of one channel.
pub(crate) struct Chan<T> {
    /// The slot word: value node and flags.
    slot: CachePadded<SlotWord<Node<T>>>,
    /// At most one empty node kept for reuse.
    spare: CachePadded<AtomicTaggedPtr<Node<T>>>,
    /// Values displaced by `send`/`replace` (written by senders only).
    overwritten: CachePadded<AtomicU64>,
    /// Live senders and the receiver-gone flag: written rarely, read by
    /// every send.
    handles: CachePadded<Handles>,
    /// Written by the receiver when it waits and by a claiming sender.
    waiter: CachePadded<WaiterSlot>,
}

struct Handles {
    senders: AtomicUsize,
    rx_gone: AtomicBool,
}

/// Refuse to count senders past this, like `Arc` does with its count.
const MAX_SENDERS: usize = isize::MAX as usize;

/// What `Chan::put` did with the caller's value.
pub(crate) enum Put<T> {
    /// The value is in the slot (or was dropped by a receiver drop it
    /// raced with); the displaced value, if any, is returned.
    Sent(Option<T>),
    /// The receiver is gone; the caller's value comes back.
    Refused(T),
}

/// What `Chan::try_take` found.
pub(crate) enum Take<T> {
    Value(T),
    Empty,
    Closed,
}

// SAFETY: a `Chan<T>` moves `T` values between threads (a sender's value is
// dropped or returned on the receiver's thread and vice versa), which needs
// `T: Send`; it never hands out `&T`, so `T: Sync` is not needed. Every
// access to the `UnsafeCell`s follows the ownership rules of the protocol
// essay, which make them exclusive.
unsafe impl<T: Send> Send for Chan<T> {}
// SAFETY: as above: shared `&Chan<T>` only lets threads move whole `T`
// values through the protocol, never share a `&T`.
unsafe impl<T: Send> Sync for Chan<T> {}

impl<T> Chan<T> {
    pub(crate) fn new() -> Self {
        Chan {
            slot: CachePadded::new(SlotWord::new()),
            spare: CachePadded::new(AtomicTaggedPtr::new(std::ptr::null_mut())),
            overwritten: CachePadded::new(AtomicU64::new(0)),
            handles: CachePadded::new(Handles {
                senders: AtomicUsize::new(1),
                rx_gone: AtomicBool::new(false),
            }),
            waiter: CachePadded::new(WaiterSlot {
                cell: UnsafeCell::new(None),
                free: AtomicBool::new(true),
            }),
        }
    }

    // ---- nodes -------------------------------------------------------

    /// Gets an empty node (the spare, or a new one) holding `value` and
    /// `stamp`.
    #[inline]
    fn node_with(&self, value: T, stamp: usize) -> NonNull<Node<T>> {
        // ORDERING: Acquire: pairs with the Release in `recycle`, so the
        // previous holder's move out of the value cell happens before our
        // write into it.
        let spare = self.spare.swap(std::ptr::null_mut(), Ordering::Acquire);
        match NonNull::new(spare) {
            Some(node) => {
                // SAFETY: swapping the node out of `spare` made it ours
                // alone, and its value cell is uninitialized (the previous
                // holder moved the value out before recycling it).
                unsafe { Self::write(node, value, stamp) };
                node
            }
            None => Self::alloc(value, stamp),
        }
    }

    #[cold]
    fn alloc(value: T, stamp: usize) -> NonNull<Node<T>> {
        let node = Box::new(Node {
            value: UnsafeCell::new(MaybeUninit::new(value)),
            stamp: UnsafeCell::new(stamp),
            _track: LeakTrack::new(),
        });
        NonNull::from(Box::leak(node))
    }

    /// Writes `value` and `stamp` into an empty node.
    ///
    /// # Safety
    ///
    /// - The caller holds `node` exclusively (no other thread can reach it).
    /// - Its value cell is uninitialized (else the old value would leak).
    #[inline]
    unsafe fn write(node: NonNull<Node<T>>, value: T, stamp: usize) {
        // SAFETY: the caller guarantees `node` is live and exclusively ours.
        let node = unsafe { node.as_ref() };
        node.value.with_mut(|cell| {
            // SAFETY: exclusive access, per the caller's contract.
            unsafe { (*cell).write(value) };
        });
        node.stamp.with_mut(|cell| {
            // SAFETY: exclusive access, per the caller's contract.
            unsafe { *cell = stamp };
        });
    }

    /// Reads a node's stamp.
    ///
    /// # Safety
    ///
    /// The caller holds `node` exclusively, having acquired it through an
    /// RMW that synchronizes with the write of its value and stamp.
    #[inline]
    unsafe fn stamp(node: NonNull<Node<T>>) -> usize {
        // SAFETY: the caller guarantees `node` is live and exclusively ours.
        let node = unsafe { node.as_ref() };
        node.stamp.with(|cell| {
            // SAFETY: exclusive access, per the caller's contract.
            unsafe { *cell }
        })
    }

    /// Moves the value out of a node, leaving it empty.
    ///
    /// # Safety
    ///
    /// - The caller holds `node` exclusively, having acquired it through an
    ///   RMW that synchronizes with the write of its value.
    /// - The value cell is initialized; afterwards it counts as empty.
    #[inline]
    unsafe fn read(node: NonNull<Node<T>>) -> T {
        // SAFETY: the caller guarantees `node` is live and exclusively ours.
        let node = unsafe { node.as_ref() };
        let value = node.value.with(|cell| {
            // SAFETY: the cell is live and exclusively ours, per the
            // caller's contract; the caller treats it as empty from now on.
            unsafe { cell.read() }
        });
        // SAFETY: the cell was initialized, per the caller's contract.
        unsafe { value.assume_init() }
    }

    /// Offers an empty node for reuse; frees the one it displaces, if any.
    #[inline]
    fn recycle(&self, node: NonNull<Node<T>>) {
        // ORDERING: AcqRel. Release: our move out of the value cell must
        // happen before the next holder's write (it acquires in
        // `node_with`). Acquire: a node we get back is freed by us, so its
        // previous holder's accesses must happen before the free.
        let old = self.spare.swap(node.as_ptr(), Ordering::AcqRel);
        if let Some(old) = NonNull::new(old) {
            // SAFETY: the swap made `old` ours; it is empty (only emptied
            // nodes are recycled) and was allocated by `alloc`.
            unsafe { Self::free(old) };
        }
    }

    /// Frees an empty node.
    ///
    /// # Safety
    ///
    /// The caller holds `node` exclusively, its value cell is empty, and it
    /// came from `alloc`.
    #[cold]
    unsafe fn free(node: NonNull<Node<T>>) {
        // SAFETY: allocated by `Box` in `alloc` and exclusively ours; the
        // value is `MaybeUninit`, so nothing is dropped twice.
        drop(unsafe { Box::from_raw(node.as_ptr()) });
    }

    /// Takes the value out of a node we hold and recycles the node.
    ///
    /// # Safety
    ///
    /// As for `read`.
    #[inline]
    unsafe fn unload(&self, node: NonNull<Node<T>>) -> T {
        // SAFETY: forwarded from the caller.
        let value = unsafe { Self::read(node) };
        self.recycle(node);
        value
    }

    // ---- senders -----------------------------------------------------

    /// `send` and `replace`: puts `value` in the slot.
    #[inline]
    pub(crate) fn put(&self, value: T) -> Put<T> {
        // ORDERING: Relaxed: the flag carries no data. A send that happens
        // after the receiver's drop reads `true` by coherence; one that reads
        // `false` raced the drop and is handled below.
        if self.handles.rx_gone.load(Ordering::Relaxed) {
            return Put::Refused(value);
        }
        // A stamp that no other call in progress can have: the address of a
        // local of this call. It tells our node from one that merely reuses
        // its memory (see `reclaim_after_receiver_gone`).
        let marker = 0u8;
        let stamp = (&raw const marker).addr();
        let node = self.node_with(value, stamp);
        let old = self.slot.publish(node);
        if let Some(displaced) = old.node() {
            // ORDERING: Relaxed: a counter with no data attached; a reader
            // that happens after this call sees it by coherence (rule 7).
            self.overwritten.fetch_add(1, Ordering::Relaxed);
            // SAFETY: our AcqRel swap took `displaced` out of the slot, so it
            // is ours, and it synchronized with the publish of its value.
            return Put::Sent(Some(unsafe { self.unload(displaced) }));
        }
        if old.is_waiting() {
            self.wake_claimed();
        } else if old.is_gone() {
            return self.reclaim_after_receiver_gone(node, stamp);
        }
        Put::Sent(None)
    }

    /// A sender's swap returned GONE: its node sits after the receiver's
    /// final sweep, so this put comes after the receiver's drop and must
    /// hand its value back. It puts GONE back and looks at what comes out:
    ///
    /// - its own node (same address *and* stamp): the value goes back to
    ///   the caller in `SendError`. This is the case unless other sends
    ///   raced the same drop.
    /// - another racing sender's node: this call's node was displaced by
    ///   that sender, which already dropped our value as an overwrite; we
    ///   drop theirs in turn. Both calls report success: the racing puts are
    ///   ordered just before the drop, and each value is dropped once.
    /// - nothing: our node was displaced and then taken back by another
    ///   racing sender; our value was dropped as an overwrite.
    ///
    /// The stamp matters because a displaced node is recycled: its address
    /// alone could now carry a third sender's value.
    #[cold]
    fn reclaim_after_receiver_gone(&self, own: NonNull<Node<T>>, stamp: usize) -> Put<T> {
        let Some(back) = self.slot.reclaim().node() else {
            return Put::Sent(None);
        };
        // SAFETY: our AcqRel swap took `back` out of the slot, so it is ours,
        // and it synchronized with the publish of its value and stamp.
        let is_own = back == own && unsafe { Self::stamp(back) } == stamp;
        // SAFETY: as above.
        let value = unsafe { self.unload(back) };
        if is_own {
            Put::Refused(value)
        } else {
            drop(value);
            Put::Sent(None)
        }
    }

    /// Takes the claimed waiter out of its cell, frees the cell, wakes it.
    #[cold]
    fn wake_claimed(&self) {
        let waiter = self.waiter.cell.with_mut(|cell| {
            // SAFETY: our RMW on the slot word removed (or first met)
            // WAITING with Acquire, which claims the cell for us alone and
            // makes the receiver's write of it visible.
            unsafe { (*cell).take() }
        });
        // ORDERING: Release: our use of the cell happens before the
        // receiver's next write to it (it acquires this flag first).
        self.waiter.free.store(true, Ordering::Release);
        debug_assert!(waiter.is_some(), "a claimed waiter cell was empty");
        if let Some(waiter) = waiter {
            waiter.wake();
        }
    }

    pub(crate) fn add_sender(&self) {
        // ORDERING: Relaxed: a new sender is made from an existing one, so
        // the count cannot reach zero meanwhile (the same argument as
        // `Arc::clone`).
        let old = self.handles.senders.fetch_add(1, Ordering::Relaxed);
        if old > MAX_SENDERS {
            std::process::abort();
        }
    }

    /// Drops one sender; the last one closes the channel.
    pub(crate) fn remove_sender(&self) {
        // ORDERING: AcqRel: every sender's sends happen before its drop's
        // Release; the last drop acquires them all, so its `close` comes
        // after every send in the slot word's modification order.
        if self.handles.senders.fetch_sub(1, Ordering::AcqRel) != 1 {
            return;
        }
        if self.slot.close().is_waiting() {
            self.wake_claimed();
        }
    }

    pub(crate) fn is_receiver_gone(&self) -> bool {
        // ORDERING: Relaxed: an answer that may be stale, carrying no data.
        self.handles.rx_gone.load(Ordering::Relaxed)
    }

    // ---- receiver ------------------------------------------------------

    /// Takes the value if there is one.
    #[inline]
    pub(crate) fn try_take(&self) -> Take<T> {
        let seen = self.slot.peek();
        if seen.node().is_none() {
            return if seen.is_closed() {
                Take::Closed
            } else {
                Take::Empty
            };
        }
        // Only the receiver removes nodes, so the slot still holds one
        // (possibly a newer one).
        match self.slot.take().node() {
            // SAFETY: our Acquire `take` removed `node` from the slot, so it
            // is ours, and it synchronized with the publish of its value.
            Some(node) => Take::Value(unsafe { self.unload(node) }),
            None => unreachable!("the slot lost a node that only the receiver removes"),
        }
    }

    /// Snapshot of the slot word.
    #[inline]
    pub(crate) fn peek(&self) -> Word<Node<T>> {
        self.slot.peek()
    }

    pub(crate) fn overwritten(&self) -> u64 {
        // ORDERING: Relaxed: counts made by calls that returned before this
        // one are visible by coherence; later ones may trail (rule 7).
        self.overwritten.load(Ordering::Relaxed)
    }

    /// Stores `waiter` and registers it in the slot word. Fails, keeping
    /// nothing registered, if a value or the close got there first.
    pub(crate) fn register(&self, waiter: Waiter) -> Result<(), ()> {
        if self.slot.peek().is_waiting() {
            // A registration is still in place. Only a `RecvFuture` leaked
            // while pending (`mem::forget`) leaves one behind: take it back
            // (or, if a sender claimed it meanwhile, let the claim finish).
            self.unregister();
        }
        self.wait_for_free_cell();
        self.waiter.cell.with_mut(|cell| {
            // SAFETY: `free` is true (acquired above) and the word is not
            // WAITING, so no sender may read the cell; the receiver is the
            // only writer and `Receiver` is not `Sync`.
            unsafe { *cell = Some(waiter) };
        });
        // ORDERING: Relaxed: published by the Release CAS in `register`; only
        // the receiver reads this flag, the claimer only stores `true`.
        self.waiter.free.store(false, Ordering::Relaxed);
        if self.slot.register().is_ok() {
            return Ok(());
        }
        self.clear_own_cell();
        Err(())
    }

    /// Takes a registration back. Returns `false` if a sender claimed it
    /// first (then a value, or the close, is in the slot word).
    pub(crate) fn unregister(&self) -> bool {
        if self.slot.unregister() {
            self.clear_own_cell();
            true
        } else {
            false
        }
    }

    /// Empties the waiter cell after a registration that nobody claimed, so
    /// no stale thread handle or waker is kept alive.
    fn clear_own_cell(&self) {
        let old = self.waiter.cell.with_mut(|cell| {
            // SAFETY: the word is not WAITING by our own doing (the CAS
            // failed or we undid it), so no sender claimed the cell.
            unsafe { (*cell).take() }
        });
        // ORDERING: Relaxed: the cell never left the receiver's hands.
        self.waiter.free.store(true, Ordering::Relaxed);
        drop(old);
    }

    /// Waits until a sender that claimed the waiter cell is done with it.
    /// Bounded by the claimer's few steps between its claim and its store.
    fn wait_for_free_cell(&self) {
        let mut spins = 0u32;
        // ORDERING: Acquire: pairs with the claimer's Release store, so its
        // use of the cell happens before our next write.
        while !self.waiter.free.load(Ordering::Acquire) {
            if spins < 64 {
                crate::sync::spin_loop();
                spins += 1;
            } else {
                crate::sync::yield_now();
            }
        }
    }

    /// The receiver's drop: sweep the slot, refuse later sends.
    pub(crate) fn close_receiver(&self) {
        // ORDERING: Relaxed: the flag carries no data (see `put`).
        self.handles.rx_gone.store(true, Ordering::Relaxed);
        // The old word can be WAITING only if a pending `RecvFuture` was
        // leaked; swapping GONE over it takes that registration back, and
        // the waiter left in the cell is dropped with the channel.
        let old = self.slot.mark_gone();
        if let Some(node) = old.node() {
            // SAFETY: our AcqRel swap took `node` out of the slot, so it is
            // ours, and it synchronized with the publish of its value.
            let value = unsafe { self.unload(node) };
            drop(value);
        }
    }
}

impl<T> Drop for Chan<T> {
    fn drop(&mut self) {
        // Free the spare first: if the slot value's `Drop` panics below,
        // nothing else is left to leak.
        if let Some(spare) = NonNull::new(self.spare.get_mut()) {
            // SAFETY: `&mut self`: every handle is gone; the spare is empty
            // and came from `alloc`.
            unsafe { Self::free(spare) };
        }
        if let Some(node) = self.slot.get_mut().node() {
            // SAFETY: `&mut self`: every handle is gone, so the node is ours;
            // the last `Arc` drop synchronized with every earlier access.
            let value = unsafe { Self::read(node) };
            // SAFETY: just emptied; it came from `alloc`.
            unsafe { Self::free(node) };
            drop(value);
        }
    }
}
