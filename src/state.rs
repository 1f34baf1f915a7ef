//! The slot word: one tagged pointer that holds the value node and the
//! channel's flags, with one method per transition so each ordering is fixed
//! (and argued) in exactly one place. The protocol essay is in `slot.rs`.

use std::ptr::{self, NonNull};

use crate::sync::{AtomicTaggedPtr, Ordering};

/// The receiver has stored its waiter (parked thread or task waker) and is
/// waiting for a value. Set only by the receiver, only on a word that was
/// exactly `EMPTY`, with a release CAS that publishes the waiter cell. The
/// read-modify-write that removes it (a sender's `swap`) or first sees it
/// next to `CLOSED` (the last sender's `fetch_or`) *claims* the waiter: that
/// thread alone takes it out of the cell and wakes it.
pub(crate) const WAITING: usize = 0b001;

/// Every `Sender` is gone. Set once, by the last `Sender`'s drop, with
/// `fetch_or`, so a value node still in the word stays there and is delivered
/// before the receiver reports disconnection. Never cleared for good: no
/// sender exists afterwards to overwrite it, and the receiver's `take` stores
/// it back right after its swap.
pub(crate) const CLOSED: usize = 0b010;

/// The node in the word is a heap overflow node, not one of the channel's
/// arena nodes (see `slot.rs`): whoever takes it out frees it instead of
/// returning it to the arena. Set by the publishing sender together with the
/// node, cleared with it.
const OVERFLOW: usize = 0b100;

/// An arena node's index sits in bits 3 to 5, next to the node, so whoever
/// takes the node out knows which arena flag to clear without reading the
/// node (which would put a second cache line on the path).
const INDEX_SHIFT: usize = 3;

/// Arena indices must fit in the three index bits.
pub(crate) const MAX_ARENA: usize = 8;

/// The node in the word holds no value: it is the receiver's last node,
/// handed back empty by its `take` so that the sender that swaps it out
/// returns it to the arena (and the receiver never writes the arena on
/// its fast path). Always an arena node.
const SPARE: usize = 0b100_0000;

/// The tag bits. Nodes are aligned to 128 bytes (`NODE_ALIGN`), so a node's
/// address never has them set.
const TAG_MASK: usize = 0b111_1111;

/// The alignment every node must have for the tags to fit.
pub(crate) const NODE_ALIGN: usize = TAG_MASK + 1;

/// Which kind of node a word holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Arena node `i`.
    Arena(usize),
    /// A heap overflow node.
    Overflow,
}

impl Kind {
    #[inline]
    fn bits(self) -> usize {
        match self {
            Kind::Arena(index) => {
                debug_assert!(index < MAX_ARENA);
                index << INDEX_SHIFT
            }
            Kind::Overflow => OVERFLOW,
        }
    }
}

/// A snapshot of the slot word.
pub(crate) struct Word<N>(*mut N);

impl<N> Clone for Word<N> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<N> Copy for Word<N> {}

impl<N> Word<N> {
    /// The node in the word, holding a value or `SPARE`.
    #[inline]
    pub(crate) fn node(self) -> Option<NonNull<N>> {
        NonNull::new(self.0.map_addr(|a| a & !TAG_MASK))
    }

    /// The node holding a value, if the word has one.
    #[inline]
    pub(crate) fn value(self) -> Option<NonNull<N>> {
        if self.tags() & SPARE != 0 {
            None
        } else {
            self.node()
        }
    }

    /// The receiver's empty node handed back, if the word has one.
    #[inline]
    pub(crate) fn spare(self) -> Option<NonNull<N>> {
        if self.tags() & SPARE != 0 {
            self.node()
        } else {
            None
        }
    }

    #[inline]
    fn tags(self) -> usize {
        self.0.addr() & TAG_MASK
    }

    /// No value, `WAITING` without `CLOSED` (a spare may be there): the
    /// receiver registered and nobody claimed it yet.
    #[inline]
    pub(crate) fn is_waiting(self) -> bool {
        self.tags() & (WAITING | CLOSED) == WAITING && self.value().is_none()
    }

    #[inline]
    pub(crate) fn is_closed(self) -> bool {
        self.tags() & CLOSED != 0
    }

    /// The kind of node the word holds (meaningful only with a node).
    #[inline]
    pub(crate) fn kind(self) -> Kind {
        let tags = self.tags();
        if tags & OVERFLOW != 0 {
            Kind::Overflow
        } else {
            Kind::Arena((tags >> INDEX_SHIFT) & (MAX_ARENA - 1))
        }
    }
}

/// The slot word. Its methods are the protocol's transitions.
#[derive(Debug)]
pub(crate) struct SlotWord<N>(AtomicTaggedPtr<N>);

impl<N> SlotWord<N> {
    /// An empty, open slot.
    pub(crate) fn new() -> Self {
        SlotWord(AtomicTaggedPtr::new(ptr::null_mut()))
    }

    /// Reads the word without changing it.
    #[inline]
    pub(crate) fn peek(&self) -> Word<N> {
        // ORDERING: Acquire: when this shows `CLOSED`, the receiver reports
        // disconnection, and everything the senders did must be visible by
        // then. The node itself is only read after `take`, which acquires
        // on its own.
        Word(self.0.load(Ordering::Acquire))
    }

    /// Sender: puts `node` in the slot, tagged with its kind, returning
    /// what it displaced.
    #[inline]
    ///
    /// With `SC`, the swap is also `SeqCst`: the publisher's "latest value"
    /// channel uses it as the write half of a Dekker pair with `subscribe`
    /// (see `publisher.rs`). On x86 both are the same `xchg`.
    pub(crate) fn publish<const SC: bool>(&self, node: NonNull<N>, kind: Kind) -> Word<N> {
        debug_assert_eq!(node.as_ptr().addr() & TAG_MASK, 0, "misaligned node");
        let tagged = node.as_ptr().map_addr(|a| a | kind.bits());
        // ORDERING: AcqRel. Release: the value written into `node` must be
        // visible to the receiver that takes the node (it acquires in
        // `take`), and to a later sender that displaces it. Acquire: what we
        // get back is now ours: the value of a displaced node (written by
        // another sender) or, if it is `WAITING`, the waiter cell (written
        // by the receiver before its release CAS in `register`). SeqCst
        // when `SC`, for the Dekker pair named above.
        let order = if SC {
            Ordering::SeqCst
        } else {
            Ordering::AcqRel
        };
        Word(self.0.swap(tagged, order))
    }

    /// `subscribe`'s put: `seen` (no value, not `CLOSED`, not `WAITING`) →
    /// `node`, only if the word is still `seen`. Returns the old word (it
    /// may hold a spare, now the caller's) or, on failure, the word found.
    #[inline]
    pub(crate) fn publish_if_unchanged(
        &self,
        seen: Word<N>,
        node: NonNull<N>,
        kind: Kind,
    ) -> Result<Word<N>, Word<N>> {
        debug_assert!(seen.value().is_none() && seen.tags() & (WAITING | CLOSED) == 0);
        let tagged = node.as_ptr().map_addr(|a| a | kind.bits());
        self.0
            .compare_exchange(
                seen.0,
                tagged,
                // ORDERING: AcqRel, as `publish`: Release publishes the
                // value; Acquire makes a spare we take out ours.
                Ordering::AcqRel,
                // ORDERING: Relaxed: on failure the caller only learns that
                // a value got there first and gives its own back.
                Ordering::Relaxed,
            )
            .map(Word)
            .map_err(Word)
    }

    /// Last sender: marks the channel closed, keeping any node in place.
    #[inline]
    pub(crate) fn close(&self) -> Word<N> {
        // ORDERING: AcqRel. Release: a receiver that sees `CLOSED` reports
        // disconnection at once, so every send (ordered before this call by
        // the sender count's AcqRel) must be visible to it. Acquire: if the
        // old word is `WAITING`, we claim the waiter cell and read it.
        Word(self.0.fetch_or(CLOSED, Ordering::AcqRel))
    }

    /// Receiver: takes the value node out (with its kind), leaving `spare`
    /// (the receiver's last node, empty, tagged `SPARE`) or nothing in its
    /// place, and keeping `CLOSED`. Called only when the word holds a value
    /// (so not `WAITING`).
    ///
    /// A swap rather than a `fetch_and`: on x86 a `fetch_and` whose result
    /// is used is a compare-exchange loop, a swap is one instruction.
    /// Clearing `CLOSED` for a moment is safe: it is set only once every
    /// sender is gone, and then the receiver (this thread) is the only one
    /// left that reads or writes the word, so it puts the bit back before
    /// anyone can look.
    #[inline]
    pub(crate) fn take(&self, spare: Option<(NonNull<N>, Kind)>) -> Word<N> {
        let new = match spare {
            Some((node, kind)) => {
                debug_assert!(matches!(kind, Kind::Arena(_)));
                node.as_ptr().map_addr(|a| a | kind.bits() | SPARE)
            }
            None => ptr::null_mut(),
        };
        // ORDERING: AcqRel. Acquire: pairs with the Release of the `publish`
        // that put the value node here, so its value is visible before we
        // read it (and with the closing `fetch_or`, when CLOSED comes back
        // with it). Release: the spare we leave goes to whichever sender
        // swaps it out, and our earlier move out of it must happen before
        // that sender returns it to the arena and the next claimer writes it.
        let old = Word(self.0.swap(new, Ordering::AcqRel));
        if old.is_closed() {
            // ORDERING: Relaxed: only this thread reads the word from now on.
            self.0
                .store(new.map_addr(|a| a | CLOSED), Ordering::Relaxed);
        }
        old
    }

    /// Receiver: no value → the same word plus `WAITING`. `seen` is the
    /// word the receiver just read, with no value, `CLOSED` or `WAITING`.
    /// Fails (returning the word) if a sender or the close changed it.
    #[inline]
    pub(crate) fn register(&self, seen: Word<N>) -> Result<(), Word<N>> {
        debug_assert!(seen.value().is_none() && seen.tags() & (WAITING | CLOSED) == 0);
        self.0
            .compare_exchange(
                seen.0,
                seen.0.map_addr(|a| a | WAITING),
                // ORDERING: Release: publishes the waiter we just wrote into
                // the waiter cell to the sender that claims it (it acquires in
                // `publish` / `close`).
                Ordering::Release,
                // ORDERING: Relaxed: on failure the caller takes the value
                // with `take`, which acquires by itself.
                Ordering::Relaxed,
            )
            .map(|_| ())
            .map_err(Word)
    }

    /// Receiver: removes `WAITING` again (any spare stays). Returns `false`
    /// if a sender (or the closing drop) claimed the waiter first.
    #[inline]
    pub(crate) fn unregister(&self) -> bool {
        // ORDERING: Relaxed: only the receiver adds WAITING, and a sender
        // that removes it swaps the whole word, so a word that still shows
        // WAITING is the one our CAS expects; the CAS decides.
        let seen = Word(self.0.load(Ordering::Relaxed));
        if !seen.is_waiting() {
            return false;
        }
        self.0
            .compare_exchange(
                seen.0,
                seen.0.map_addr(|a| a & !WAITING),
                // ORDERING: Relaxed: on success the waiter cell was never
                // handed to anyone (the word still said WAITING), so it is
                // still ours with nothing to synchronize.
                Ordering::Relaxed,
                // ORDERING: Relaxed: on failure the caller goes on to `take`,
                // which acquires by itself.
                Ordering::Relaxed,
            )
            .is_ok()
    }

    /// Receiver drop: takes out whatever the word holds (a value or a
    /// spare), leaving it empty.
    /// No sender publishes afterwards (the arena flags and the overflow gate in
    /// `slot.rs` see to it).
    #[inline]
    pub(crate) fn sweep(&self) -> Word<N> {
        // ORDERING: Acquire: we read (and drop) the value of the node we
        // take out, published by a sender's Release swap. A spare we take
        // back is our own.
        Word(self.0.swap(ptr::null_mut(), Ordering::Acquire))
    }

    /// Reads the word through exclusive access, when the channel is freed.
    pub(crate) fn get_mut(&mut self) -> Word<N> {
        Word(self.0.get_mut())
    }
}
