//! The shared block: the slot word, the spare node, the counters and the
//! receiver's waiter cell, and the protocol that ties them together.

// # Protocol
//
// ## Words
//
// `slot` (see `state.rs`) is one tagged pointer:
//
//   node address | CLOSED (bit 1) | WAITING (bit 0)
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
//
// `spare` holds at most one empty node for reuse, so steady state allocates
// nothing. `overwritten` counts displacements. `senders` counts live
// `Sender`s. `gate` holds RX_GONE (the receiver is dropping or gone) and the
// number of puts in progress. `waiter.cell` holds the receiver's `Waiter`;
// `waiter.free` says no sender is still reading it.
//
// ## Transitions (who, which RMW, ordering: reasons live in `state.rs`)
//
//   from           to              who                 how
//   any open word  node            send / replace      swap          AcqRel
//   EMPTY          WAITING         receiver, to wait   CAS           Release
//   WAITING        EMPTY           receiver, give up   CAS           Relaxed
//   node[|CLOSED]  EMPTY[|CLOSED]  receiver, take      fetch_and     Acquire
//   x              x|CLOSED        last sender drop    fetch_or      AcqRel
//   x              EMPTY           receiver drop,      swap          Acquire
//                                  after the gate drained
//
// Senders only ever use unconditional RMWs (swap, fetch_add, fetch_sub,
// fetch_or): no CAS, no loop, no lock, no waiting on another thread. That is
// the whole wait-free argument: a put is a spare-node swap, a gate
// increment, a slot swap, a gate decrement, and on a displacement one
// counter increment and one spare swap, whatever other threads do.
//
// ## Who may touch what
//
// - A node's value cell belongs to whoever holds the node: the sender that
//   took it from `spare` (or allocated it) until its `publish`; the slot
//   after that; then the one thread whose RMW on `slot` returned it (the
//   receiver's `take`, a displacing sender, or the receiver's drop's
//   sweep). The holder moves the value out and returns the node
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
// - send / replace: the slot swap; a refused one, the gate access that saw
//   RX_GONE.
// - try_recv and the receive that returns a value: the `take` fetch_and, or,
//   for Empty / Disconnected, the load that saw no node.
// - A blocking receive that returns a value: its `take`.
// - Receiver drop: the `fetch_or(RX_GONE)` on the gate. Every put that
//   entered the gate before it swaps before the sweep (the receiver waits
//   for them), so it is ordered before the drop and its value is displaced
//   or swept; every later put is refused. Sender drop (last): the fetch_or.
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
// Receiver: sets RX_GONE in the gate, waits until no put is between its
// gate entry and the end of its slot swap, then sweeps the slot and drops
// the value (rule 5). A put that enters after RX_GONE returns its value in
// `SendError`; a put that entered before it finishes its swap before the
// sweep, so its value is displaced by a later put or dropped by the sweep,
// inside the drop. The receiver's wait is bounded by those puts' own few
// steps; senders never wait for the receiver.

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
    /// Live senders, and the gate every put passes: written by senders
    /// (rarely the count, on every put the gate).
    handles: CachePadded<Handles>,
    /// Written by the receiver when it waits and by a claiming sender.
    waiter: CachePadded<WaiterSlot>,
}

struct Handles {
    senders: AtomicUsize,
    /// `RX_GONE` plus `IN_FLIGHT` times the number of puts between their
    /// check of `RX_GONE` and the end of their slot swap.
    gate: AtomicUsize,
}

/// Gate bit: the receiver is dropping or gone; puts are refused.
const RX_GONE: usize = 1;
/// Gate unit: one put in progress.
const IN_FLIGHT: usize = 2;

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
                gate: AtomicUsize::new(0),
            }),
            waiter: CachePadded::new(WaiterSlot {
                cell: UnsafeCell::new(None),
                free: AtomicBool::new(true),
            }),
        }
    }

    // ---- nodes -------------------------------------------------------

    /// Gets an empty node (the spare, or a new one) holding `value`.
    #[inline]
    fn node_with(&self, value: T) -> NonNull<Node<T>> {
        // ORDERING: Acquire: pairs with the Release in `recycle`, so the
        // previous holder's move out of the value cell happens before our
        // write into it.
        let spare = self.spare.swap(std::ptr::null_mut(), Ordering::Acquire);
        match NonNull::new(spare) {
            Some(node) => {
                // SAFETY: swapping the node out of `spare` made it ours
                // alone, and its value cell is uninitialized (the previous
                // holder moved the value out before recycling it).
                unsafe { Self::write(node, value) };
                node
            }
            None => Self::alloc(value),
        }
    }

    #[cold]
    fn alloc(value: T) -> NonNull<Node<T>> {
        let node = Box::new(Node {
            value: UnsafeCell::new(MaybeUninit::new(value)),
            _track: LeakTrack::new(),
        });
        NonNull::from(Box::leak(node))
    }

    /// Writes `value` into an empty node.
    ///
    /// # Safety
    ///
    /// - The caller holds `node` exclusively (no other thread can reach it).
    /// - Its value cell is uninitialized (else the old value would leak).
    #[inline]
    unsafe fn write(node: NonNull<Node<T>>, value: T) {
        // SAFETY: the caller guarantees `node` is live and exclusively ours.
        let node = unsafe { node.as_ref() };
        node.value.with_mut(|cell| {
            // SAFETY: exclusive access, per the caller's contract.
            unsafe { (*cell).write(value) };
        });
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
        // ORDERING: Relaxed: the flag carries no data. A put that happens
        // after the receiver's drop reads it by coherence and never touches
        // the slot; this load spares a refused put the gate's RMWs.
        if self.handles.gate.load(Ordering::Relaxed) & RX_GONE != 0 {
            return Put::Refused(value);
        }
        // The node is filled before entering the gate, so the receiver's
        // drop only ever waits for the few instructions between the entry
        // and the swap (never for the allocator).
        let node = self.node_with(value);
        // ORDERING: Relaxed: entering only has to be ordered against the
        // receiver's `fetch_or(RX_GONE)` on this same word, which the
        // modification order does: either we see RX_GONE, or the receiver
        // sees our count and waits for our exit below.
        if self.handles.gate.fetch_add(IN_FLIGHT, Ordering::Relaxed) & RX_GONE != 0 {
            // ORDERING: Relaxed: we touched nothing the receiver reads.
            self.handles.gate.fetch_sub(IN_FLIGHT, Ordering::Relaxed);
            // SAFETY: `node` never left our hands and holds `value`.
            return Put::Refused(unsafe { self.unload(node) });
        }
        let old = self.slot.publish(node);
        // ORDERING: Release: a dropping receiver that acquires a zero count
        // sees our publish, so its sweep comes after it in the slot word's
        // modification order and takes our node (or a later one).
        self.handles.gate.fetch_sub(IN_FLIGHT, Ordering::Release);
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
        }
        Put::Sent(None)
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
        self.handles.gate.load(Ordering::Relaxed) & RX_GONE != 0
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
        // ORDERING: Acquire: pairs with the claimer's Release store, so its
        // use of the cell happens before our next write.
        receiver_waits_until(|| self.waiter.free.load(Ordering::Acquire));
    }

    /// The receiver's drop: close the gate, wait for the puts already past
    /// it, sweep the slot.
    pub(crate) fn close_receiver(&self) {
        // ORDERING: Relaxed: see the entry in `put`; the count we then wait
        // on lives in this same word.
        self.handles.gate.fetch_or(RX_GONE, Ordering::Relaxed);
        // Puts that entered before RX_GONE have their node filled already and
        // only a slot swap and a gate decrement left. Only the receiver waits
        // here, never a sender.
        // ORDERING: Acquire: pairs with each exiting put's Release, so every
        // swap made through the gate comes before our sweep.
        receiver_waits_until(|| self.handles.gate.load(Ordering::Acquire) & !RX_GONE == 0);
        // The old word can be WAITING only if a pending `RecvFuture` was
        // leaked; sweeping takes that registration back, and the waiter left
        // in the cell is dropped with the channel.
        if let Some(node) = self.slot.sweep().node() {
            // SAFETY: our Acquire swap took `node` out of the slot, so it is
            // ours, and it synchronized with the publish of its value.
            let value = unsafe { self.unload(node) };
            drop(value);
        }
    }
}

/// The receiver's only busy wait: for a sender to finish a few of its own
/// steps. Spins briefly, then yields so a preempted sender can run.
fn receiver_waits_until(mut done: impl FnMut() -> bool) {
    let mut spins = 0u32;
    while !done() {
        if spins < 64 {
            crate::sync::spin_loop();
            spins += 1;
        } else {
            crate::sync::yield_now();
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
