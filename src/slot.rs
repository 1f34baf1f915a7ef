//! The shared block: the slot word, the node arena with its flags, the
//! sender count and the receiver's waiter cell, and the protocol that ties
//! them together.

// # Protocol
//
// ## Words
//
// `slot` (see `state.rs`) is one tagged pointer:
//
//   node address | SPARE (bit 6) | arena index (bits 3-5) | OVERFLOW (bit 2)
//                | CLOSED (bit 1) | WAITING (bit 0)
//
// (Nodes are 128-byte aligned.) The index says which arena flag a node taken
// out of the word goes back to; OVERFLOW marks a heap node instead. SPARE
// marks a node without a value: the receiver's last node, which its `take`
// leaves in the slot in place of the value it takes out, so that the sender
// whose swap removes it gives it back to the arena. That keeps the arena
// off the receiver's fast path: its cache line stays with the senders.
//
// Its values in practice:
//
//   EMPTY            null or a spare: no value, receiver not waiting
//   WAITING          no value (null or a spare), the receiver parked (or its
//                    task is pending) and its waiter sits in `waiter.cell`
//   node             a value, in a node owned by the slot, tagged with its
//                    arena index or OVERFLOW (see below)
//   CLOSED           every sender gone, no value: receives report Disconnected
//   node|CLOSED      every sender gone, a last value still to deliver
//   WAITING|CLOSED   the last sender's drop claimed the waiter; no value
//
// `pool` (one 64-byte cache line) holds, per arena node `i`:
//
//   held[i]     bool: node `i` is taken (by a put, the slot, the receiver)
//   counts[i]   displacements of values that sat in node `i`
//
// plus `rx_gone`, set once when the receiver's drop begins, and the address
// of the arena's block of ARENA nodes, allocated with the channel.
// `held[i]` is set by a claim's compare-exchange and cleared by the node's
// holder with a plain Release store: a store, not an RMW, because nobody
// else writes a flag that is set. `counts[i]` is written by the holder
// only, so bumping it is a load and a store. `overwritten()` sums the
// counts (and `handles.overflow_count`, for heap nodes).
//
// `handles.senders` counts live `Sender`s. `handles.overflow` is the gate of
// overflow puts: how many are between their entry and their swap.
// `waiter.cell` holds the receiver's `Waiter`; `waiter.free` says no sender
// is still reading it.
//
// ## A put (send / replace), and what each step is for
//
//   1. claim      a compare-exchange false → true on the first `held[i]` a
//                 plain load shows clear (at most ARENA attempts), SeqCst;
//                 then a SeqCst load of `rx_gone`. Gives the put a node of
//                 its own, and is also its gate entry: a claim that then
//                 sees `rx_gone` gives the node back and refuses the put.
//   2. publish    swap on `slot`, AcqRel. The linearization point.
//   3. release    on a displacement: `counts[i] += 1` by load and store,
//                 then `held[i] = false`, Release. The value is moved out
//                 first (only if it needs dropping or `replace` returns it)
//                 and dropped by `send` after, so no user code runs while a
//                 put holds a node. If the swap took out the receiver's
//                 spare instead, the same without the count.
//
// So a put makes two locked RMWs, the claim and the swap, whatever it
// displaces. The receiver's take is one swap on `slot` (AcqRel: it also
// hands its previous node over as the spare) and keeps the node it took in
// `rx_spare` for its next take. In steady state nothing is allocated. Every
// RMW a put makes is a single instruction and their number is bounded, so a
// put is wait-free: it never waits on another thread's progress.
//
// ## The receiver's gate: a Dekker pair
//
// The claim writes `held[i]` then reads `rx_gone`; the receiver's drop
// writes `rx_gone` then reads every `held[i]`. All four are SeqCst, so they
// fall in one total order, and at least one side sees the other's write:
// the put refuses, or the receiver sees the node held and waits for the
// put's swap. Both can happen (the put refuses and the receiver waits until
// it gives the node back). On x86 the claim's compare-exchange is a locked
// instruction, which already orders the load after it, so the pair costs
// the send path one plain load. Loom treats SeqCst accesses as AcqRel and
// would report the pair broken, so under loom a SeqCst fence sits on each
// side (`sync::dekker_fence`); without those fences loom does find the
// lost put (checked by removing them).
//
// If all arena nodes are taken (more puts in flight than ARENA - 2), the put
// uses a heap node tagged OVERFLOW instead: it enters `handles.overflow`
// with a SeqCst fetch_add, reads `rx_gone` (the same Dekker pair), swaps,
// leaves with a Release fetch_sub. Whoever takes an OVERFLOW node out of
// the slot frees it and counts a displacement in `handles.overflow_count`.
//
// ## Transitions of `slot` (who, which RMW, ordering: reasons in `state.rs`)
//
//   from           to              who                 how
//   any open word  node            send / replace      swap          AcqRel
//   EMPTY          WAITING         receiver, to wait   CAS           Release
//   WAITING        EMPTY           receiver, give up   CAS           Relaxed
//   (both keep any spare in the word)
//   node[|CLOSED]  EMPTY[|CLOSED]  receiver, take      swap          AcqRel
//                                  (CLOSED stored back: only the receiver
//                                  is left once it is set)
//   x              x|CLOSED        last sender drop    fetch_or      AcqRel
//   x              EMPTY           receiver drop,      swap          Acquire
//                                  after admitted puts finished
//
// (On x86 a `fetch_or` whose result is used is a compare-exchange loop; only
// the last sender's drop uses one, never a put.)
//
// ## Who may touch what
//
// - A node's value cell belongs to whoever holds the node: the sender that
//   claimed its flag (or allocated an overflow node) until its `publish`;
//   the slot after that; then the one thread whose RMW on `slot` returned
//   it (the receiver's `take`, a displacing sender, or the receiver's drop's
//   sweep). The holder moves the value out and releases the node: clears
//   its flag with Release (or frees an overflow node); the next claimer
//   acquires the flag before writing. The count `pool.counts[i]` belongs
//   to whoever holds node `i` the same way.
// - The receiver keeps the arena node it took last, empty, in `rx_spare`,
//   and its next `take` swaps it into the word as SPARE (Release). The
//   sender whose swap removes it (AcqRel) owns it and releases it to the
//   arena; the receiver's drop releases its own first and, if the sweep finds
//   its spare still in the word, that one too.
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
// - send / replace: the slot swap; a refused one, its load that saw
//   `rx_gone`.
// - try_recv and the receive that returns a value: the `take` swap, or,
//   for Empty / Disconnected, the load that saw no node.
// - A blocking receive that returns a value: its `take`.
// - Receiver drop: its store of `rx_gone`. A put whose `rx_gone` load came
//   before that store in the SeqCst order is admitted, and its call was
//   already running then: the receiver waits until every admitted put has
//   swapped, so all of them can be ordered before the drop in their swap
//   order, and their values are displaced or swept. Every later put is
//   refused.
// - Sender drop (last): the fetch_or on `slot`.
// - overwritten(): trails, as rule 7 allows (the count follows the swap).
//
// ## Closing, both ways
//
// Last sender: `senders.fetch_sub` (AcqRel) returns 1, so every other
// sender's sends happen before; then `fetch_or(CLOSED)` keeps any node in
// place, so the receiver takes the last value first and sees CLOSED only in
// the word that remains (rule 4). If the old word was WAITING, the closer
// claimed the waiter and wakes it.
//
// Receiver: gives its `rx_spare` back, stores `rx_gone`, then waits until
// (a) no overflow put is in the gate and (b) every arena node is free or
// in the slot (`admitted_puts_done` argues why that cannot be true while an
// admitted arena put has not swapped), then sweeps the slot and drops the
// value (rule 5). The wait is bounded by those puts' own few steps: no user
// code and no allocator runs between a claim and a release (arena nodes
// exist from the start; an overflow put allocates before it enters its
// gate). Senders never wait for the receiver.

use std::mem::MaybeUninit;
use std::ptr::NonNull;

use crate::state::{Kind, MAX_ARENA, NODE_ALIGN, SlotWord, Word};
use crate::sync::receiver_waits_until;
use crate::sync::{
    AtomicBool, AtomicU64, AtomicUsize, CachePadded, LeakTrack, Ordering, UnsafeCell,
};
use crate::waiter::{Waiter, WaiterCell};

/// Heap cell for one value. Aligned to 128 bytes, which leaves the slot
/// word's seven tag bits free (`state::NODE_ALIGN`) and keeps a value of up
/// to 64 bytes on one cache line.
#[repr(C, align(128))]
pub(crate) struct Node<T> {
    /// Initialized exactly while the node is in the slot or in the hands of
    /// a sender between writing the value and publishing, or of a thread
    /// between taking the node and moving the value out.
    value: UnsafeCell<MaybeUninit<T>>,
    /// The put's sequence number (`Pool::next_seq`), written with the value
    /// and read by whoever takes the value out; owned like `value`. After
    /// the value (`repr(C)`), so that a value of up to 56 bytes and its
    /// number share the node's first cache line. For a larger value an
    /// arena node's number is on the slot word's line instead
    /// (`SlotLine::seqs`, see `seq_on_slot_line`) and this field is unused.
    seq: UnsafeCell<u64>,
    /// Under loom, reports a node that is never freed.
    _track: LeakTrack,
}

const _: () = assert!(std::mem::align_of::<Node<()>>() >= NODE_ALIGN);

impl<T> Node<T> {
    fn empty() -> Self {
        Node {
            value: UnsafeCell::new(MaybeUninit::uninit()),
            seq: UnsafeCell::new(0),
            _track: LeakTrack::new(),
        }
    }
}

/// Arena size: how many nodes a channel keeps for reuse, each with its flag
/// in `Pool::held`. One is in the slot, one may be in the receiver's hands, and
/// each put in progress holds one, so six cover four concurrent puts before a
/// put falls back to a heap overflow node. The nodes are allocated with the
/// channel, in one block: six times 128 bytes for a value of up to 64 bytes
/// (a node is the value rounded up to 128 bytes).
///
/// The checkers use fewer, so that a few racing threads already reach the
/// overflow path: loom two (two racing puts over a waiting value), and
/// three for Miri, the fuzz targets (`cfg(fuzzing)`) and the ThreadSanitizer
/// and stress runs of `.ci/` (`--cfg conflate_small_arena`). Three is the
/// least that keeps one sender's steady state allocation-free (the slot's
/// node, the receiver's spare, the put's own), which `tests/alloc.rs` checks
/// under Miri too.
const ARENA: usize = if cfg!(loom) {
    2
} else if cfg!(any(miri, fuzzing, conflate_small_arena)) {
    3
} else {
    6
};

const _: () = assert!(
    ARENA <= MAX_ARENA,
    "arena indices live in the slot word's tag bits"
);

// The pool is one cache line (see `Pool`).
const _: () = assert!(size_of::<Pool>() <= 64);

/// The arena: one flag per node, the receiver-gone flag the claims check,
/// the put sequence counter and the per-node displacement counts. With six
/// nodes this is exactly one 64-byte cache line, so a put's claim, sequence
/// number and release touch one line (with the counts on a second line, two
/// producers at once measured 30 % slower). The block's address, which
/// nobody writes, sits on the rarely written `Handles` line.
struct Pool {
    /// `held[i]`: arena node `i` is taken (by a put, the slot, or the
    /// receiver). Set by a claim's compare-exchange, cleared by the holder
    /// with a plain Release store.
    held: [AtomicBool; ARENA],
    /// The receiver is dropping or gone. Stored once by the receiver's drop;
    /// every claim reads it after its compare-exchange (see `claim`).
    rx_gone: AtomicBool,
    /// The number of admitted puts so far: each put loads it (an arena put
    /// before its claim), writes one more as the value's sequence number
    /// (into its node, or onto the slot line: `Chan::write_seq`) before its
    /// swap, and stores that back (an arena put after its swap): a load and
    /// a store, not an RMW. When puts do not overlap, this numbers them in
    /// swap order and `Receiver::skipped` is exact; see `Chan::next_number`
    /// and `Seen::took`.
    next_seq: AtomicU64,
    /// `counts[i]`: how many values arena node `i` held that a put
    /// displaced. Written (load, add one, store) only by the holder of node
    /// `i`, so no RMW is needed; `overwritten()` sums them.
    counts: [AtomicU64; ARENA],
}

/// The words every put and take touch, each on its own cache line. Sharing
/// one line measured no better: a consumer polling `try_recv` then reads the
/// line the producer's claim and release write, and the blocking round trip
/// did not gain either.
struct Core<T> {
    /// The slot word, and the numbers of the arena nodes' values.
    slot: CachePadded<SlotLine<T>>,
    /// The arena: node flags, receiver-gone flag, counts.
    pool: CachePadded<Pool>,
}

/// The slot word's cache line: the word, and the sequence numbers of the
/// values in the arena nodes when values are too large to share a cache
/// line with their number in the node (see `seq_on_slot_line`).
///
/// `seqs[i]` is owned like arena node `i`'s value: written by the put that
/// holds the node, before its publishing swap, and read by whoever takes
/// the node out of the slot (an RMW that synchronizes with that swap).
struct SlotLine<T> {
    /// The slot word: value node and flags.
    word: SlotWord<Node<T>>,
    /// `seqs[i]`: the number of the value in arena node `i`.
    seqs: [UnsafeCell<u64>; ARENA],
}

// The slot word and the numbers share one cache line.
#[cfg(not(loom))]
const _: () = assert!(size_of::<SlotLine<()>>() <= 64);

/// The block shared by every handle of one channel.
pub(crate) struct Chan<T> {
    /// The slot word and the arena.
    core: Core<T>,
    /// Live senders, and the gate of overflow puts (both rarely written).
    handles: CachePadded<Handles<T>>,
    /// Written by the receiver when it waits and by a claiming sender.
    waiter: CachePadded<WaiterCell>,
    /// The receiver's last node, empty, with its kind (always an arena
    /// node): left in the slot as a spare by the next `take`. Only the
    /// receiver touches it (`Receiver` is not `Sync`).
    rx_spare: UnsafeCell<Option<(NonNull<Node<T>>, Kind)>>,
    /// The receiver's record for `skipped()`; only the receiver touches it.
    rx_seen: UnsafeCell<Seen>,
}

/// What the receiver remembers of the values it took.
#[derive(Clone, Copy, Debug, Default)]
struct Seen {
    /// The highest sequence number among the values taken so far (0 before
    /// the first: numbers start at 1).
    last_seq: u64,
    /// `Receiver::skipped`: displacements between the value taken last and
    /// the one before it.
    skipped: u64,
}

impl Seen {
    /// Records the take of the value numbered `seq`.
    ///
    /// Puts numbered `last_seq + 1 ..= seq` were all put since the value
    /// taken last, and every one of them but the last was displaced (only
    /// the receiver takes values, and it took none in between), so they
    /// make `seq - last_seq - 1` displacements. That is exact when puts do
    /// not overlap, because then the numbers follow the swap order (see
    /// `Chan::number_put`). Overlapping puts can repeat a number or swap
    /// out of order, so a number at or below `last_seq` counts as no
    /// displacement instead of wrapping around, and `last_seq` never moves
    /// back.
    #[inline]
    fn took(&mut self, seq: u64) {
        if seq > self.last_seq {
            self.skipped = seq - self.last_seq - 1;
            self.last_seq = seq;
        } else {
            self.skipped = 0;
        }
    }
}

struct Handles<T> {
    /// The arena's `ARENA` nodes, one block allocated with the channel and
    /// freed with it (node `i` is `nodes.add(i)`). A node's value cell is
    /// owned as its flag says. Written only by `Chan::new`.
    nodes: NonNull<Node<T>>,
    senders: AtomicUsize,
    /// The overflow gate: how many overflow puts are between their entry
    /// and the end of their slot swap.
    overflow: AtomicUsize,
    /// Displacements of values that sat in heap overflow nodes.
    overflow_count: AtomicU64,
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

/// What a put's claim on the arena got.
enum Claim {
    /// Arena node `i` is ours.
    Node(usize),
    /// Every arena node is taken: use a heap overflow node.
    Full,
    /// The receiver is gone.
    Refused,
}

// SAFETY: a `Chan<T>` moves `T` values between threads (a sender's value is
// dropped or returned on the receiver's thread and vice versa), which needs
// `T: Send`; it never hands out `&T`, so `T: Sync` is not needed. The raw
// node pointers are owned by the channel. Every access to the `UnsafeCell`s
// follows the ownership rules of the protocol essay, which make them
// exclusive.
unsafe impl<T: Send> Send for Chan<T> {}
// SAFETY: as above: shared `&Chan<T>` only lets threads move whole `T`
// values through the protocol, never share a `&T`.
unsafe impl<T: Send> Sync for Chan<T> {}

impl<T> Chan<T> {
    pub(crate) fn new() -> Self {
        Chan {
            core: Core {
                slot: CachePadded::new(SlotLine {
                    word: SlotWord::new(),
                    seqs: std::array::from_fn(|_| UnsafeCell::new(0)),
                }),
                pool: CachePadded::new(Pool {
                    held: std::array::from_fn(|_| AtomicBool::new(false)),
                    rx_gone: AtomicBool::new(false),
                    next_seq: AtomicU64::new(0),
                    counts: std::array::from_fn(|_| AtomicU64::new(0)),
                }),
            },
            handles: CachePadded::new(Handles {
                nodes: Self::alloc_arena(),
                senders: AtomicUsize::new(1),
                overflow: AtomicUsize::new(0),
                overflow_count: AtomicU64::new(0),
            }),
            waiter: CachePadded::new(WaiterCell::new()),
            rx_spare: UnsafeCell::new(None),
            rx_seen: UnsafeCell::new(Seen::default()),
        }
    }

    // ---- nodes -------------------------------------------------------

    /// Claims a free arena node: at most `ARENA` compare-exchange attempts,
    /// one per node that a plain load shows free, then reports `Full` (the
    /// caller uses a heap node). A claimed node is ours unless the receiver
    /// is gone, which the claim checks right after its compare-exchange.
    ///
    /// That check and the receiver's drop form a store-then-load pair on
    /// each side (Dekker's pattern): we write `held[i]` then read
    /// `rx_gone`; the receiver writes `rx_gone` then reads every `held[i]`.
    /// With both sides sequentially consistent, at least one sees the
    /// other's write: we refuse, or the receiver waits for our swap.
    #[inline]
    fn claim(&self) -> Claim {
        let pool = &self.core.pool;
        for (index, held) in pool.held.iter().enumerate() {
            // ORDERING: Relaxed: only a guess that spares a compare-exchange
            // on a node that is taken; the compare-exchange decides.
            if held.load(Ordering::Relaxed) {
                continue;
            }
            if held
                .compare_exchange(
                    false,
                    true,
                    // ORDERING: SeqCst. Acquire: pairs with the holder's
                    // Release in `release`, so its move out of the node
                    // happens before our write. SeqCst: one half of the
                    // Dekker pair with the receiver's drop (see above).
                    Ordering::SeqCst,
                    // ORDERING: Relaxed: a failure only moves on to the next
                    // node.
                    Ordering::Relaxed,
                )
                .is_err()
            {
                continue;
            }
            crate::sync::dekker_fence();
            // ORDERING: SeqCst: the other read of the Dekker pair.
            if pool.rx_gone.load(Ordering::SeqCst) {
                // ORDERING: Release: we wrote nothing, but the next claimer
                // must still happen after the previous holder's move out (a
                // plain store ends the release sequence of its store), and
                // it must see `rx_gone` as we did, so that it refuses too.
                held.store(false, Ordering::Release);
                return Claim::Refused;
            }
            return Claim::Node(index);
        }
        Claim::Full
    }

    /// Reads the number the next put gets: one more than the last put's.
    /// An arena put reads it before its claim, so that the load's latency
    /// hides behind the claim's compare-exchange, and stores the number
    /// back (`store_number`) after its swap, so that the swap, which waits
    /// for every earlier store to drain, does not wait for this one. Only
    /// the number written for the node (`write_seq`) must precede the swap.
    ///
    /// Exact when puts do not overlap: a put that starts after another
    /// returned (on any thread) reads that put's store, wherever in the put
    /// the load sits. Two puts whose load and swap overlap may read the
    /// same number or store them out of order; `Receiver::skipped` documents
    /// what that means.
    #[inline]
    fn next_number(&self) -> u64 {
        // ORDERING: Relaxed: the number carries no data. A put that happens
        // after an earlier one (program order, or any synchronization
        // between their threads) reads that put's store by coherence, which
        // is all exactness for non-overlapping puts needs.
        (self.core.pool.next_seq.load(Ordering::Relaxed)).wrapping_add(1)
    }

    /// Records `seq`, from `next_number`, as the last admitted put's number.
    #[inline]
    fn store_number(&self, seq: u64) {
        // ORDERING: Relaxed: see `next_number`.
        self.core.pool.next_seq.store(seq, Ordering::Relaxed);
    }

    /// Gives an admitted put its sequence number (`next_number`, then
    /// `store_number`), for the puts that read it after admission.
    #[inline]
    fn number_put(&self) -> u64 {
        let seq = self.next_number();
        self.store_number(seq);
        seq
    }

    /// Writes `value` and its number `seq` into arena node `index` of the
    /// block at `nodes` (`Handles::nodes`, read by the caller before its
    /// claim so that the node's address does not wait for a load issued
    /// after the claim's locked compare-exchange), which we just claimed.
    #[inline]
    fn fill_arena(
        &self,
        nodes: NonNull<Node<T>>,
        index: usize,
        value: T,
        seq: u64,
    ) -> NonNull<Node<T>> {
        debug_assert!(index < ARENA);
        // SAFETY: `index < ARENA` (claims only return such indices), and the
        // block holds `ARENA` nodes for the channel's whole life.
        let node = unsafe { nodes.add(index) };
        // SAFETY: the node is ours with its flag, and empty: never used, or
        // its previous holder moved the value out before releasing it. The
        // value is moved in one place only, so it is copied once.
        unsafe { Self::write(node, value) };
        // SAFETY: as above: node `index` is ours, and so is its number.
        unsafe { self.write_seq(node, Kind::Arena(index), seq) };
        node
    }

    /// Allocates the arena's block of `ARENA` empty nodes.
    fn alloc_arena() -> NonNull<Node<T>> {
        let block: Box<[Node<T>]> = (0..ARENA).map(|_| Node::empty()).collect();
        let first = Box::into_raw(block).cast::<Node<T>>();
        NonNull::new(first).expect("a Box is never null")
    }

    /// Allocates an empty overflow node.
    #[cold]
    fn alloc() -> NonNull<Node<T>> {
        NonNull::from(Box::leak(Box::new(Node::empty())))
    }

    /// Writes `value` into an empty node.
    ///
    /// A mid-sized value (see `copies_by_words`) is copied one 8-byte word
    /// at a time, with volatile stores so the compiler cannot merge them
    /// back into the 16-byte moves its memcpy uses. A value built just
    /// before `send` still sits in the store buffer as the 8-byte stores
    /// that built it, and a 16-byte load spanning two of them cannot be
    /// forwarded from there: it waits for both to reach the cache. Measured
    /// on `send_idle` 64B: 8.8 ns with the plain copy, 5.0 ns by words.
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
            if copies_by_words::<T>() {
                // The bytes move to the node; the value is not dropped here.
                let value = std::mem::ManuallyDrop::new(value);
                let src = (&raw const *value).cast::<MaybeUninit<u64>>();
                let dst = cell.cast::<MaybeUninit<u64>>();
                for i in 0..size_of::<T>() / 8 {
                    // SAFETY: `T` is a whole number of 8-byte words and at
                    // least 8-aligned (`copies_by_words`), so word `i` is in
                    // bounds and aligned; `MaybeUninit<u64>` copies padding
                    // and pointer provenance as they are.
                    let from = unsafe { src.add(i) };
                    // SAFETY: as above.
                    let word = unsafe { from.read() };
                    // SAFETY: as above, for the node's cell.
                    let to = unsafe { dst.add(i) };
                    // SAFETY: as above; the node is exclusively ours, per
                    // the caller's contract.
                    unsafe { to.write_volatile(word) };
                }
            } else {
                // SAFETY: exclusive access, per the caller's contract.
                unsafe { (*cell).write(value) };
            }
        });
    }

    /// Whether arena nodes keep their values' numbers on the slot line
    /// (`SlotLine::seqs`) rather than in the node: for a value of more than
    /// 56 bytes, whose number in the node would fall on the node's second
    /// cache line, so that a receiver on another CPU fetched two node lines
    /// per value; the slot line it swaps anyway costs it nothing more. A
    /// smaller value keeps its number next to it: on the slot line, the
    /// put's store of the number, just before its swap, meets a receiver
    /// polling that line. Measured against 6f63926 (before numbering),
    /// `send_contended` u64 / 64B, paired medians of 1000 interleaved
    /// blocks: numbers in the node −1 % / +3.6 %, all on the slot line
    /// +3.9 % / +1.1 %, split by this rule −2.1 % / +2.9 %
    /// (docs/select-bench.md 2d). A constant per `T`.
    const fn seq_on_slot_line() -> bool {
        size_of::<T>() > 56
    }

    /// Writes a put's sequence number for the node it holds: in the node,
    /// or for an arena node and a large value on the slot line (see
    /// `seq_on_slot_line`).
    ///
    /// # Safety
    ///
    /// As for `write`: the caller holds `node` exclusively, and `kind` is
    /// the node's.
    #[inline]
    unsafe fn write_seq(&self, node: NonNull<Node<T>>, kind: Kind, seq: u64) {
        match kind {
            Kind::Arena(index) if Self::seq_on_slot_line() => {
                self.core.slot.seqs[index].with_mut(|cell| {
                    // SAFETY: the holder of arena node `index` owns its number,
                    // and the caller holds the node.
                    unsafe { cell.write(seq) }
                })
            }
            _ => {
                // SAFETY: the caller guarantees `node` is live and ours.
                let node = unsafe { node.as_ref() };
                // SAFETY: exclusive access, per the caller's contract.
                node.seq.with_mut(|cell| unsafe { cell.write(seq) });
            }
        }
    }

    /// Reads the sequence number of the value in a node (see `write_seq`).
    ///
    /// # Safety
    ///
    /// As for `read`: the caller holds `node`, having acquired it through an
    /// RMW that synchronizes with the put that wrote it; `kind` is the
    /// node's.
    #[inline]
    unsafe fn read_seq(&self, node: NonNull<Node<T>>, kind: Kind) -> u64 {
        match kind {
            Kind::Arena(index) if Self::seq_on_slot_line() => {
                self.core.slot.seqs[index].with(|cell| {
                    // SAFETY: the caller holds arena node `index`, so its number
                    // too, and acquired the put's write of it.
                    unsafe { cell.read() }
                })
            }
            _ => {
                // SAFETY: the caller guarantees `node` is live and ours.
                let node = unsafe { node.as_ref() };
                // SAFETY: exclusive access, per the caller's contract.
                node.seq.with(|cell| unsafe { cell.read() })
            }
        }
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

    /// Gives back an empty node we hold, first counting one displacement if
    /// `displaced` (a put overwrote its value): an arena node returns to the
    /// pool, an overflow node is freed. `kind` comes from the slot word the
    /// node was taken out of (or, for a node never published, from its
    /// maker).
    ///
    /// # Safety
    ///
    /// The caller holds `node` exclusively, its value cell is empty, and
    /// `kind` is the node's.
    #[inline]
    unsafe fn release(&self, node: NonNull<Node<T>>, kind: Kind, displaced: bool) {
        let index = match kind {
            Kind::Arena(index) => index,
            Kind::Overflow => {
                if displaced {
                    // ORDERING: Relaxed: a counter with no data attached
                    // (rule 7); overflow nodes are rare, so one RMW here.
                    self.handles.overflow_count.fetch_add(1, Ordering::Relaxed);
                }
                // SAFETY: ours, empty, and overflow nodes come from `alloc`.
                unsafe { Self::free(node) };
                return;
            }
        };
        debug_assert!(index < ARENA, "arena index {index} out of range");
        let pool = &self.core.pool;
        if displaced {
            // Only the holder of node `index` writes its count, and holders
            // follow one another through the Release below and the next
            // claim's Acquire, so a load and a store lose nothing.
            // ORDERING: Relaxed (both): the holders' order comes from the
            // flag; readers (`overwritten`) only need coherence.
            let now = pool.counts[index].load(Ordering::Relaxed);
            pool.counts[index].store(now.wrapping_add(1), Ordering::Relaxed);
        }
        // ORDERING: Release: our move out of the node (and our count store)
        // happens before the next claimer's write (it acquires in `claim`).
        pool.held[index].store(false, Ordering::Release);
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

    /// Takes the value out of a node we hold and releases the node.
    ///
    /// # Safety
    ///
    /// As for `read`, and `kind` is the node's.
    #[inline]
    unsafe fn unload(&self, node: NonNull<Node<T>>, kind: Kind, displaced: bool) -> T {
        // SAFETY: forwarded from the caller.
        let value = unsafe { Self::read(node) };
        // SAFETY: we hold it and just emptied it; `kind` is forwarded.
        unsafe { self.release(node, kind, displaced) };
        value
    }

    // ---- senders -----------------------------------------------------

    /// `Sender::send`, and a publisher's put into each subscriber: puts
    /// `value` in the slot and drops any displaced value after the put is
    /// done (so no user `Drop` runs while we hold a node); gives `value`
    /// back if the receiver is gone.
    #[inline(always)]
    pub(crate) fn send(&self, value: T) -> Result<(), T> {
        match self.put::<false>(value) {
            Put::Sent(displaced) => {
                drop(displaced);
                Ok(())
            }
            Put::Refused(value) => Err(value),
        }
    }

    /// `send` (`KEEP` false) and `replace` (`KEEP` true): puts `value` in
    /// the slot. With `KEEP` false the displaced value is returned only if
    /// it needs dropping; one without drop glue is left in its node.
    #[inline]
    pub(crate) fn put<const KEEP: bool>(&self, value: T) -> Put<T> {
        self.put_with::<KEEP, false>(value)
    }

    /// `put`, with a `SeqCst` publishing swap when `SC` (see
    /// `SlotWord::publish`). Always inlined, like `displaced`: the
    /// publisher's send makes several puts and the compiler otherwise calls
    /// them out of line.
    #[inline(always)]
    pub(crate) fn put_with<const KEEP: bool, const SC: bool>(&self, value: T) -> Put<T> {
        // Read before the claim (see `next_number` and `fill_arena`); unused
        // unless admitted.
        let seq = self.next_number();
        let nodes = self.handles.nodes;
        let index = match self.claim() {
            Claim::Node(index) => index,
            Claim::Full => return self.put_overflow::<KEEP, SC>(value),
            Claim::Refused => return Put::Refused(value),
        };
        let node = self.fill_arena(nodes, index, value, seq);
        let old = self.core.slot.word.publish::<SC>(node, Kind::Arena(index));
        // After the swap: only the next put reads the counter, so the swap
        // need not wait for this store (see `next_number`).
        self.store_number(seq);
        self.displaced::<KEEP>(old)
    }

    /// Puts `value` only if the slot holds no value, displacing nothing:
    /// `subscribe` hands a new subscriber its first value, and gives the
    /// latest value back to the publisher's own channel, this way, so that
    /// a value a send put there meanwhile (always a newer one) is never
    /// displaced by an older one. Gives `value` back if the slot holds a
    /// value (or the close) when it looks, or gets one before its
    /// compare-exchange.
    ///
    /// If every arena node is taken it uses a heap node: a full arena does
    /// not mean a newer value is on its way (a displacing put keeps the
    /// node it took out until it has counted it), so giving up could lose
    /// the latest value. Allocates then; `subscribe` may.
    ///
    /// The value gets the sequence number `seq` and the put counter is not
    /// touched, so a put racing this one (from a send) numbers its value as
    /// if this one did not exist: see `Publisher::subscribe` for how the
    /// numbers stay exact. Only for channels whose receiver is not waiting:
    /// the publisher's own, or a new subscriber's before its `Receiver` is
    /// handed out.
    pub(crate) fn put_if_empty(&self, value: T, seq: u64) -> Result<(), T> {
        let seen = self.peek();
        if seen.value().is_some() || seen.is_closed() || seen.is_waiting() {
            return Err(value);
        }
        let (node, kind) = match self.claim() {
            Claim::Node(index) => {
                // SAFETY: claims return indices below `ARENA`, and the block
                // holds `ARENA` nodes for the channel's whole life.
                let node = unsafe { self.handles.nodes.add(index) };
                // SAFETY: ours with its flag, and empty (see `fill_arena`).
                unsafe { Self::write(node, value) };
                (node, Kind::Arena(index))
            }
            Claim::Refused => return Err(value),
            Claim::Full => (self.enter_overflow(value)?, Kind::Overflow),
        };
        // SAFETY: `node` is still ours alone, and `kind` is its kind.
        unsafe { self.write_seq(node, kind, seq) };
        let result = self.core.slot.word.publish_if_unchanged(seen, node, kind);
        if kind == Kind::Overflow {
            self.leave_overflow();
        }
        match result {
            Ok(old) => {
                if let Some(spare) = old.spare() {
                    // SAFETY: our AcqRel CAS took the receiver's spare out of
                    // the slot, so it is ours, empty, and an arena node.
                    unsafe { self.release(spare, old.kind(), false) };
                }
                Ok(())
            }
            // SAFETY: `node` never left our hands and holds `value`.
            Err(_) => Err(unsafe { self.unload(node, kind, false) }),
        }
    }

    /// The rare put that found every arena node taken: a heap node, passed
    /// through the overflow gate so the receiver's drop can wait for it.
    #[cold]
    fn put_overflow<const KEEP: bool, const SC: bool>(&self, value: T) -> Put<T> {
        let node = match self.enter_overflow(value) {
            Ok(node) => node,
            Err(value) => return Put::Refused(value),
        };
        // Numbered once admitted, like an arena put.
        // SAFETY: `node` is still ours alone, and an overflow node.
        unsafe { self.write_seq(node, Kind::Overflow, self.number_put()) };
        let old = self.core.slot.word.publish::<SC>(node, Kind::Overflow);
        self.leave_overflow();
        self.displaced::<KEEP>(old)
    }

    /// A heap node holding `value`, admitted through the overflow gate, or
    /// the value back if the receiver is gone. The caller publishes the
    /// node, then calls `leave_overflow`.
    #[cold]
    fn enter_overflow(&self, value: T) -> Result<NonNull<Node<T>>, T> {
        // Allocate before entering, so a dropping receiver never waits for
        // the allocator.
        let node = Self::alloc();
        // SAFETY: new, empty, and ours alone.
        unsafe { Self::write(node, value) };
        // Entering the gate then reading `rx_gone` is this put's half of
        // the Dekker pair with the receiver's drop, as in `claim`: the
        // receiver stores `rx_gone` then reads the gate count.
        // ORDERING: SeqCst, for that pair.
        self.handles.overflow.fetch_add(1, Ordering::SeqCst);
        crate::sync::dekker_fence();
        // ORDERING: SeqCst: the other read of the Dekker pair.
        if self.core.pool.rx_gone.load(Ordering::SeqCst) {
            // ORDERING: Relaxed: we touched nothing the receiver reads.
            self.handles.overflow.fetch_sub(1, Ordering::Relaxed);
            // SAFETY: `node` never left our hands and holds `value`.
            return Err(unsafe { self.unload(node, Kind::Overflow, false) });
        }
        Ok(node)
    }

    /// Leaves the overflow gate after publishing (or failing to).
    #[cold]
    fn leave_overflow(&self) {
        // ORDERING: Release: a dropping receiver that acquires a zero count
        // sees our publish, so its sweep comes after it in the slot word's
        // modification order and takes our node (or a later one).
        self.handles.overflow.fetch_sub(1, Ordering::Release);
    }

    /// What a put does with the word its publish swapped out.
    ///
    /// Always inlined: `Publisher::send` makes a put per subscriber plus
    /// one, and with a plain `#[inline]` the compiler called this out of
    /// line there (10 % of that send's samples, `perf`, n = 1).
    #[inline(always)]
    fn displaced<const KEEP: bool>(&self, old: Word<Node<T>>) -> Put<T> {
        if let Some(node) = old.value() {
            if !KEEP && !std::mem::needs_drop::<T>() {
                // The value has no drop glue: abandoning its bytes in the
                // node is dropping it, and spares a copy out.
                // SAFETY: our AcqRel swap took `node` out of the slot, so it
                // is ours; its value cell counts as empty from now on.
                unsafe { self.release(node, old.kind(), true) };
                return Put::Sent(None);
            }
            // SAFETY: our AcqRel swap took `node` out of the slot, so it is
            // ours, and it synchronized with the publish of its value. The
            // value is moved out before the node goes back, and dropped (by
            // `send`) only after that, so user code never runs while we hold
            // a node.
            return Put::Sent(Some(unsafe { self.unload(node, old.kind(), true) }));
        }
        if let Some(spare) = old.spare() {
            // SAFETY: our AcqRel swap took the receiver's spare out of the
            // slot, so it is ours, and the receiver's Release `take` made its
            // move out of it visible; it is empty and an arena node.
            unsafe { self.release(spare, old.kind(), false) };
        }
        if old.is_waiting() {
            self.wake_claimed();
        }
        Put::Sent(None)
    }

    /// Takes the claimed waiter out of its cell, frees the cell, wakes it.
    #[cold]
    fn wake_claimed(&self) {
        // SAFETY: our RMW on the slot word removed (or first met) WAITING
        // with Acquire, which claims the cell for us alone and makes the
        // receiver's write of it visible.
        unsafe { self.waiter.wake_claimed() };
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
        if self.core.slot.word.close().is_waiting() {
            self.wake_claimed();
        }
    }

    pub(crate) fn is_receiver_gone(&self) -> bool {
        // ORDERING: Relaxed: an answer that may be stale, carrying no data.
        self.core.pool.rx_gone.load(Ordering::Relaxed)
    }

    // ---- receiver ------------------------------------------------------

    /// Takes the value if there is one.
    #[inline]
    pub(crate) fn try_take(&self) -> Take<T> {
        let seen = self.core.slot.word.peek();
        if seen.value().is_none() {
            return if seen.is_closed() {
                Take::Closed
            } else {
                Take::Empty
            };
        }
        // Only the receiver removes nodes, so the slot still holds one
        // (possibly a newer one).
        let spare = self.rx_spare.with_mut(|cell| {
            // SAFETY: only the receiver touches this cell.
            unsafe { (*cell).take() }
        });
        let taken = self.core.slot.word.take(spare);
        let Some(node) = taken.value() else {
            unreachable!("the slot lost a value that only the receiver removes")
        };
        // SAFETY: our `take` removed `node` from the slot, so it is ours, and
        // it synchronized with the publish of its value.
        let value = unsafe { Self::read(node) };
        // SAFETY: as above; the number was written with the value, and
        // `kind` comes from the word the node was taken out of.
        let seq = unsafe { self.read_seq(node, taken.kind()) };
        self.rx_seen.with_mut(|seen| {
            // SAFETY: only the receiver touches this cell.
            unsafe { (*seen).took(seq) }
        });
        match taken.kind() {
            // Keep the arena node, now empty, to leave in the slot next time.
            kind @ Kind::Arena(_) => self.rx_spare.with_mut(|cell| {
                // SAFETY: only the receiver touches this cell.
                unsafe { *cell = Some((node, kind)) }
            }),
            // SAFETY: ours and just emptied.
            Kind::Overflow => unsafe { self.release(node, Kind::Overflow, false) },
        }
        Take::Value(value)
    }

    /// Loom models only: whether a registration or a waiter is left in
    /// this channel (a `Select` must take back every registration nobody
    /// claimed, and a claimer must empty the cell).
    #[cfg(loom)]
    pub(crate) fn waiter_left(&self) -> bool {
        self.peek().is_waiting() || self.waiter.is_occupied()
    }

    /// A new subscriber's channel, before any sender can reach it: puts
    /// will number their values from `after + 1` on, leaving the numbers up
    /// to `after` to a starting value (see `Publisher::subscribe`).
    pub(crate) fn number_puts_after(&self, after: u64) {
        // ORDERING: Relaxed: the channel is not shared yet; the store is
        // published with the sender that `subscribe` installs.
        self.core.pool.next_seq.store(after, Ordering::Relaxed);
    }

    /// A new subscriber's channel, before its `Receiver` is handed out:
    /// counts the value numbered `seq` as taken, so that the first value
    /// received counts only what was displaced after it.
    pub(crate) fn count_from(&self, seq: u64) {
        self.rx_seen.with_mut(|seen| {
            // SAFETY: only the receiver touches this cell, and the receiver
            // has not been handed out yet: the caller is its only user.
            unsafe { (*seen).last_seq = seq }
        });
    }

    /// `Receiver::skipped`: displacements between the last two values taken.
    pub(crate) fn skipped(&self) -> u64 {
        self.rx_seen.with(|seen| {
            // SAFETY: only the receiver touches this cell.
            unsafe { (*seen).skipped }
        })
    }

    /// Snapshot of the slot word.
    #[inline]
    pub(crate) fn peek(&self) -> Word<Node<T>> {
        self.core.slot.word.peek()
    }

    pub(crate) fn overwritten(&self) -> u64 {
        // Each count only grows and this thread reads each one no older
        // than last time (coherence), so the sum never decreases either.
        // ORDERING: Relaxed: counts made by calls that returned before this
        // one are visible by coherence; later ones may trail (rule 7). The
        // same for the loads below.
        let overflow = self.handles.overflow_count.load(Ordering::Relaxed);
        (self.core.pool.counts.iter())
            .map(|count| count.load(Ordering::Relaxed))
            .fold(overflow, u64::wrapping_add)
    }

    /// Stores `waiter` and registers it in the slot word. Fails, keeping
    /// nothing registered, if a value or the close got there first.
    pub(crate) fn register(&self, waiter: Waiter) -> Result<(), ()> {
        if self.core.slot.word.peek().is_waiting() {
            // A registration is still in place. Only a `RecvFuture` leaked
            // while pending (`mem::forget`) leaves one behind: take it back
            // (or, if a sender claimed it meanwhile, let the claim finish).
            self.unregister();
        }
        // SAFETY: we are the receiver (`Receiver` is not `Sync`, and a
        // `Select` holds it by shared reference on the receiver's thread),
        // and the word is not WAITING: the check above took back any
        // registration left in place.
        unsafe { self.waiter.fill(waiter) };
        let seen = self.core.slot.word.peek();
        let registrable = seen.value().is_none() && !seen.is_closed() && !seen.is_waiting();
        if registrable && self.core.slot.word.register(seen).is_ok() {
            return Ok(());
        }
        self.clear_own_cell();
        Err(())
    }

    /// Takes a registration back. Returns `false` if a sender claimed it
    /// first (then a value, or the close, is in the slot word).
    pub(crate) fn unregister(&self) -> bool {
        if self.core.slot.word.unregister() {
            self.clear_own_cell();
            true
        } else {
            false
        }
    }

    /// Empties the waiter cell after a registration that nobody claimed.
    fn clear_own_cell(&self) {
        // SAFETY: we are the receiver, and the word is not WAITING by our
        // own doing (the CAS failed or we undid it), so no sender claimed
        // the cell.
        unsafe { self.waiter.clear_unclaimed() };
    }

    /// The receiver's drop: refuse new puts, wait for the puts already
    /// admitted to finish their slot swap, sweep the slot.
    pub(crate) fn close_receiver(&self) {
        // Our own spare goes back first, so the count below sees it free.
        if let Some((node, kind)) = self.rx_spare.with_mut(|cell| {
            // SAFETY: only the receiver touches this cell.
            unsafe { (*cell).take() }
        }) {
            // SAFETY: the receiver's spare is ours, empty, an arena node.
            unsafe { self.release(node, kind, false) };
        }
        // ORDERING: SeqCst: our half of the Dekker pair with every claim
        // and overflow entry (see `claim`); the reads follow in
        // `admitted_puts_done`.
        self.core.pool.rx_gone.store(true, Ordering::SeqCst);
        crate::sync::dekker_fence();
        // Only the receiver waits here, never a sender, and only for admitted
        // puts' own few steps (no user code; see the essay).
        receiver_waits_until(|| self.admitted_puts_done());
        // The old word can be WAITING only if a pending `RecvFuture` was
        // leaked; sweeping takes that registration back, and the waiter left
        // in the cell is dropped with the channel.
        let swept = self.core.slot.word.sweep();
        if let Some(spare) = swept.spare() {
            // SAFETY: the spare we left is ours again, empty, an arena node.
            unsafe { self.release(spare, swept.kind(), false) };
        }
        if let Some(node) = swept.value() {
            // SAFETY: our Acquire swap took `node` out of the slot, so it is
            // ours, and it synchronized with the publish of its value.
            let value = unsafe { self.unload(node, swept.kind(), false) };
            drop(value);
        }
    }

    /// After `rx_gone`: whether every admitted put has made its slot swap.
    ///
    /// Overflow puts: the gate count is zero. Arena puts: every arena node
    /// is free or in the slot. A put admitted by the Dekker pair holds its
    /// node (flag set, not in the slot) from its claim to its swap; our load
    /// of the flag comes after the claim (Dekker), and the flag is cleared
    /// only after the node has left the slot again, so a flag seen clear
    /// (with Acquire) means the swap happened before our slot load, and a
    /// flag seen set passes only if the node is in the slot at that later
    /// load. The check can only err towards waiting (a displaced node on its
    /// way back, a refused claim's brief hold).
    fn admitted_puts_done(&self) -> bool {
        // ORDERING: SeqCst: the read side of the Dekker pair; Acquire (which
        // it includes) pairs with each overflow put's Release exit, so its
        // swap comes before our sweep.
        if self.handles.overflow.load(Ordering::SeqCst) != 0 {
            return false;
        }
        let pool = &self.core.pool;
        // ORDERING: SeqCst: the read side of the Dekker pair. Acquire (which
        // it includes): a node seen free was released after its holder took
        // it out of the slot, so that take (and the publish before it)
        // happens before our slot load.
        let held: [bool; ARENA] = std::array::from_fn(|i| pool.held[i].load(Ordering::SeqCst));
        let word = self.core.slot.word.peek();
        let in_slot = match (word.node(), word.kind()) {
            (Some(_), Kind::Arena(index)) => Some(index),
            _ => None,
        };
        (0..ARENA).all(|i| !held[i] || in_slot == Some(i))
    }
}

/// Whether `Chan::write` copies a `T` by 8-byte words: more than two words
/// (a value of two or fewer travels in registers), at most 256 bytes (a
/// larger one is better left to memcpy), a whole number of words, and
/// 8-aligned.
const fn copies_by_words<T>() -> bool {
    let size = size_of::<T>();
    size > 16 && size <= 256 && size.is_multiple_of(8) && align_of::<T>() >= 8
}

impl<T> Drop for Chan<T> {
    fn drop(&mut self) {
        // Move the last value out first, then free every node, then drop the
        // value: if its `Drop` panics, nothing is left to leak.
        let word = self.core.slot.word.get_mut();
        let last = word.value().map(|node| {
            // SAFETY: `&mut self`: every handle is gone, so the node is ours;
            // the last `Arc` drop synchronized with every earlier access.
            unsafe { Self::read(node) }
        });
        if let Some(node) = word.value().filter(|_| word.kind() == Kind::Overflow) {
            // SAFETY: emptied above; overflow nodes come from `alloc` and
            // are not in the arena.
            unsafe { Self::free(node) };
        }
        let block = std::ptr::slice_from_raw_parts_mut(self.handles.nodes.as_ptr(), ARENA);
        // SAFETY: `&mut self`: no other thread holds any node; every arena
        // node is empty (the slot's was emptied above, and `Node` never
        // drops its value cell); the block came from `alloc_arena` as a
        // boxed slice of `ARENA` nodes.
        drop(unsafe { Box::from_raw(block) });
        drop(last);
    }
}

/// The heap overflow path, driven directly: the tests hold every arena node
/// themselves, as puts stuck between their claim and their swap would, so
/// the next put must take a heap node. (Threads reach this path only with
/// more than `ARENA - 2` puts in flight; the checkers also run with a
/// smaller arena to reach it by racing.)
#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::Arc as StdArc;
    use std::sync::atomic::AtomicUsize as StdAtomicUsize;

    /// Counts its drops.
    #[derive(Debug)]
    struct Counted(u32, StdArc<StdAtomicUsize>);

    impl Drop for Counted {
        fn drop(&mut self) {
            // ORDERING: Relaxed: a counter read only by the same
            // single-threaded test.
            self.1.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// How many `Counted` values sharing `drops` were dropped so far.
    fn dropped(drops: &StdAtomicUsize) -> usize {
        // ORDERING: Relaxed: single-threaded test.
        drops.load(Ordering::Relaxed)
    }

    /// Claims every arena node, returning their indices as bits.
    fn hold_arena<T>(chan: &Chan<T>) -> u64 {
        let mut held = 0;
        for _ in 0..ARENA {
            match chan.claim() {
                Claim::Node(index) => held |= 1 << index,
                _ => panic!("a fresh arena has a free node"),
            }
        }
        assert!(matches!(chan.claim(), Claim::Full));
        held
    }

    /// Gives the held (never filled) nodes back.
    fn give_back<T>(chan: &Chan<T>, held: u64) {
        for (index, flag) in chan.core.pool.held.iter().enumerate() {
            if held & (1 << index) != 0 {
                // ORDERING: Relaxed: single-threaded test; nothing was
                // written.
                flag.store(false, Ordering::Relaxed);
            }
        }
    }

    /// A channel whose slot holds value 1 (counted in the returned counter)
    /// in a heap node, with the whole arena free again.
    fn heap_value_in_slot() -> (Chan<Counted>, StdArc<StdAtomicUsize>) {
        let drops = StdArc::new(StdAtomicUsize::new(0));
        let chan = Chan::new();
        let held = hold_arena(&chan);
        assert!(matches!(
            chan.put::<false>(Counted(1, drops.clone())),
            Put::Sent(None)
        ));
        assert_eq!(chan.peek().kind(), Kind::Overflow);
        give_back(&chan, held);
        (chan, drops)
    }

    #[test]
    fn full_arena_puts_use_heap_nodes_and_count_displacements() {
        let drops = StdArc::new(StdAtomicUsize::new(0));
        let chan = Chan::new();
        let held = hold_arena(&chan);
        let value = |n| Counted(n, drops.clone());
        assert!(matches!(chan.put::<true>(value(1)), Put::Sent(None)));
        assert_eq!(chan.peek().kind(), Kind::Overflow);
        match chan.put::<true>(value(2)) {
            Put::Sent(Some(old)) => assert_eq!(old.0, 1),
            _ => panic!("the second put must displace the first"),
        }
        // `send` gets a displaced value that needs dropping back, and drops
        // it after the put.
        match chan.put::<false>(value(3)) {
            Put::Sent(Some(old)) => assert_eq!(old.0, 2),
            _ => panic!("the third put must displace the second"),
        }
        assert_eq!(chan.overwritten(), 2);
        assert_eq!(dropped(&drops), 2);
        match chan.try_take() {
            Take::Value(v) => assert_eq!(v.0, 3),
            _ => panic!("the last value must be there"),
        }
        assert!(matches!(chan.try_take(), Take::Empty));
        // With the arena free again, puts use arena nodes.
        give_back(&chan, held);
        assert!(matches!(chan.put::<true>(value(4)), Put::Sent(None)));
        assert!(matches!(chan.peek().kind(), Kind::Arena(_)));
        drop(chan);
        assert_eq!(dropped(&drops), 4);
    }

    #[test]
    fn heap_node_displaced_by_an_arena_node_is_freed() {
        let (chan, drops) = heap_value_in_slot();
        match chan.put::<false>(Counted(2, drops.clone())) {
            Put::Sent(Some(old)) => assert_eq!(old.0, 1),
            _ => panic!("the arena put must displace the heap node's value"),
        }
        assert!(matches!(chan.peek().kind(), Kind::Arena(_)));
        assert_eq!(chan.overwritten(), 1);
        assert_eq!(dropped(&drops), 1);
        drop(chan);
        assert_eq!(dropped(&drops), 2);
    }

    #[test]
    fn receiver_drop_sweeps_a_heap_node_then_refuses() {
        // The held nodes stood for puts in flight; they finished (gave their
        // nodes back) before the receiver's drop, which would wait for them.
        let (chan, drops) = heap_value_in_slot();
        chan.close_receiver();
        assert_eq!(dropped(&drops), 1, "swept during the drop");
        assert!(chan.is_receiver_gone());
        match chan.put::<true>(Counted(2, drops.clone())) {
            Put::Refused(v) => assert_eq!(v.0, 2),
            _ => panic!("a put after the receiver's drop must be refused"),
        }
        assert_eq!(dropped(&drops), 2);
        drop(chan);
        assert_eq!(dropped(&drops), 2);
    }

    fn free_nodes<T>(chan: &Chan<T>) -> u32 {
        let held = chan.core.pool.held.iter();
        // ORDERING: Relaxed: single-threaded test.
        held.filter(|flag| !flag.load(Ordering::Relaxed)).count() as u32
    }

    #[test]
    fn receiver_hands_its_last_node_back_through_the_slot() {
        let chan = Chan::<u64>::new();
        assert!(matches!(chan.put::<true>(1), Put::Sent(None)));
        assert!(matches!(chan.try_take(), Take::Value(1)));
        // The node the receiver took is its spare; the slot has no value.
        assert_eq!(free_nodes(&chan), ARENA as u32 - 1);
        assert!(chan.peek().value().is_none() && chan.peek().spare().is_none());
        assert!(matches!(chan.put::<true>(2), Put::Sent(None)));
        assert!(matches!(chan.try_take(), Take::Value(2)));
        // Its first node now sits in the slot as a spare, its second in its
        // hands: two nodes out of the pool, no value anywhere.
        assert!(chan.peek().spare().is_some());
        assert_eq!(free_nodes(&chan), ARENA as u32 - 2);
        assert!(matches!(chan.try_take(), Take::Empty));
        // A put that swaps the spare out gives it back (and counts nothing).
        // With loom's two-node arena, that put found no free node and used
        // a heap node, so its own node is not an arena one.
        assert!(matches!(chan.put::<true>(3), Put::Sent(None)));
        let expected_free = if ARENA > 2 { ARENA - 2 } else { ARENA - 1 };
        assert_eq!(free_nodes(&chan), expected_free as u32);
        assert_eq!(chan.overwritten(), 0);
        // The receiver's drop gives back its own node and the slot's.
        chan.close_receiver();
        assert_eq!(free_nodes(&chan), ARENA as u32);
    }

    /// Sends `value` through a put and a take, and through a displacing put
    /// that returns it, and checks it comes back whole both times.
    fn round_trip<T: Clone + PartialEq + std::fmt::Debug>(value: T) {
        let chan = Chan::new();
        assert!(matches!(chan.put::<true>(value.clone()), Put::Sent(None)));
        match chan.try_take() {
            Take::Value(got) => assert_eq!(got, value),
            _ => panic!("the value must be there"),
        }
        assert!(matches!(chan.put::<true>(value.clone()), Put::Sent(None)));
        match chan.put::<true>(value.clone()) {
            Put::Sent(Some(got)) => assert_eq!(got, value),
            _ => panic!("the second put must displace the first"),
        }
    }

    #[test]
    fn values_copied_by_words_arrive_whole() {
        // Padding after `tag` (Miri checks that uninitialized bytes are
        // copied as such), pointers with provenance (the `String` and the
        // `Box` are used and freed after the trip).
        #[derive(Clone, Debug, PartialEq)]
        struct Mixed {
            tag: u8,
            text: String,
            boxed: Box<u64>,
        }
        assert!(copies_by_words::<Mixed>());
        round_trip(Mixed {
            tag: 7,
            text: "leader".repeat(3),
            boxed: Box::new(42),
        });
        assert!(copies_by_words::<String>());
        round_trip(String::from("term 12"));
        assert!(copies_by_words::<[u64; 32]>());
        round_trip(std::array::from_fn::<u64, 32, _>(|i| i as u64 * 3));
        // The memcpy side of each bound.
        assert!(!copies_by_words::<[u64; 2]>());
        round_trip([1u64, 2]);
        assert!(!copies_by_words::<[u64; 33]>());
        round_trip(std::array::from_fn::<u64, 33, _>(|i| i as u64));
        assert!(!copies_by_words::<[u32; 5]>());
        round_trip([1u32, 2, 3, 4, 5]);
        assert!(!copies_by_words::<[u8; 64]>());
        round_trip([9u8; 64]);
    }

    #[test]
    fn channel_drop_frees_a_heap_node_left_in_the_slot() {
        let (chan, drops) = heap_value_in_slot();
        drop(chan);
        assert_eq!(dropped(&drops), 1);
    }
}
