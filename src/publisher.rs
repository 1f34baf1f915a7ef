//! `Publisher`: one value source, several observers, each with a plain
//! conflate `Receiver` of its own.

// # Protocol
//
// ## Parts
//
// - `latest`: a conflate channel of the publisher's own (sender `latest`,
//   receiver `Registry::latest_rx`). Every send puts a clone into it first,
//   so it always holds the latest value; only `subscribe` takes from it.
// - The subscriber list: segments of slots (`Segment`), the first inline,
//   each next one twice as large, linked through `next` and freed only with
//   the publisher. A slot is an `AtomicPtr` to one subscriber's channel,
//   owned as a `Sender` turned into that pointer (`Sender::into_raw`), or
//   null. Only `subscribe` (under `registry`'s lock) writes slots; `send`
//   only reads them.
// - Reclamation, two epochs: every send announces itself in
//   `active[epoch & 1]` (one `fetch_add` at the start, one `fetch_sub` at
//   the end) and reads slots only in between. `subscribe` unlinks the slots
//   of subscribers whose receiver is gone (null store), then advances
//   `epoch`, and drops those `Sender`s (the last handle of a channel frees
//   it) once it has seen the counter of the epoch before that at zero. It
//   never waits for that: the unlinked senders stay in `Registry::retired`
//   until a later `subscribe` (or the publisher's drop) finds the count at
//   zero. At most one set waits at a time (the epoch only advances when
//   `retired` is empty), so the counter it waits on gets no new sends and
//   drains. And the epoch only advances when the counter of the parity it
//   moves to is zero too: a send still counted there read the epoch two
//   advances ago, may hold a pointer being unlinked, and would otherwise
//   count in the parity that the new retired set does not wait on (see
//   `next_epoch_drained`).
//
// ## Why a send never reads a freed channel
//
// All accesses named here are `SeqCst`. A send loads `epoch`, increments
// `active[e]`, then loads slots; `subscribe` stores null into a slot, then
// advances `epoch`, then (now or later) loads `active[old]`. If that load
// sees zero, a send that had read the old epoch either finished (its
// decrement, Release, came before; the load acquires its reads) or had
// not incremented yet: its increment, and so its slot loads, come after our
// load in the total order, hence after the null store, so it reads null. A
// send that read the new epoch read it after the advance, so after the null
// store too. Either way no send still holds the pointer whose sender we
// drop (and with it, the receiver being gone, the channel).
//
// ## Why a new subscriber never ends on an older value
//
// A send puts its value into `latest` with a `SeqCst` swap, then loads the
// slots (`SeqCst`); `subscribe` stores its new slot (`SeqCst`), then, after
// a `SeqCst` fence, takes the value in `latest`. This is a Dekker pair: at
// least one side sees the other. Either the send sees the new slot and puts
// its value into the new channel itself, or `subscribe` finds that value
// (or a later one) in `latest`. `subscribe` then gives the new channel a
// clone with `put_if_empty`, which displaces nothing: if a send got there
// first, its value is at least as new and stays. It gives the value back
// to `latest` the same way, so a newer one put there meanwhile stays too.
// A send that raced the subscribe thus either reaches the new receiver or
// is the value it starts with, and no stale value ever displaces a newer
// one in its slot.
//
// It can be both: `subscribe` takes the racing send's value from `latest`
// and gives it to the new channel, then the send, which had already seen
// the new slot, puts the same value there again. Telling the two apart
// would need either `subscribe` to wait for the send (it must not) or the
// send to check and put in one step (a compare-exchange loop on the send
// path), so the receiver may get that one value twice in a row, or have
// its starting copy displaced by the same value (one displacement counted
// for a value it did see); it never gets any other value twice, and never
// an older one after a newer.
//
// ## Several sending threads
//
// Sends through a shared `&Publisher` are safe: every step above is the
// same for them. Racing sends reach the subscribers in no agreed order, so
// two subscribers may end on different ones of the values whose sends
// overlapped last; with sends from one thread, every subscriber ends on the
// last value sent.

use std::fmt;
use std::ptr;

use crate::chan::{Receiver, Sender, channel};
use crate::slot::Chan;
use crate::sync::{
    AtomicPtr, AtomicUsize, CachePadded, Mutex, MutexGuard, Ordering, dekker_fence, fence,
};

/// Slots in the first segment (the next ones double).
const FIRST_SEGMENT: usize = 4;

/// Sends the latest value to every subscriber: a wait-free fan-out whose
/// every subscriber is a plain conflate [`Receiver`].
///
/// [`send`](Publisher::send) puts a clone of the value into each live
/// subscriber's channel (the last one gets the value itself) and keeps it as
/// the latest value. It never waits for a subscriber or for
/// [`subscribe`](Publisher::subscribe): it takes no lock, has no retry loop,
/// and allocates nothing beyond what `T::clone` does. Each subscriber's
/// `Receiver` has everything a `channel()` receiver has: blocking, timed and
/// async receives, [`Select`](crate::Select), its own
/// [`overwritten`](Receiver::overwritten) and [`skipped`](Receiver::skipped),
/// and the close after the last value when the `Publisher` is dropped.
///
/// [`subscribe`](Publisher::subscribe) returns a receiver that already
/// holds the latest value, if one was sent. (If a send races the
/// `subscribe` call, its value may arrive twice in a row: as the starting
/// value and from the send itself. No other value repeats, and values never
/// go back.) A dropped subscriber costs
/// nothing from then on: sends skip it and
/// [`subscriber_count`](Publisher::subscriber_count) stops counting it at
/// once; the next `subscribe` frees its channel.
///
/// `Publisher<T>` is `Send` and `Sync` when `T: Send`, so several threads
/// may send through `&Publisher`. With sends from one thread every
/// subscriber ends on the last value sent; sends from several threads at
/// the same instant reach the subscribers in no agreed order, so they may
/// end on different ones of those last racing values.
///
/// # Examples
///
/// ```
/// use std::thread;
///
/// let leadership = conflate::Publisher::new();
/// let leader_loop = leadership.subscribe();
/// let metrics = leadership.subscribe();
///
/// let raft = thread::spawn(move || {
///     for term in 1..=100u64 {
///         leadership.send((term, term % 2 == 1)); // never waits
///     }
///     // Dropping the publisher closes every subscriber after its last value.
/// });
///
/// let last_seen = leader_loop.iter().last();
/// raft.join().unwrap();
/// assert_eq!(last_seen, Some((100, false)));
/// assert_eq!(metrics.iter().last(), Some((100, false)));
/// ```
pub struct Publisher<T> {
    /// The sender of the latest-value channel (see the protocol above).
    latest: Sender<T>,
    /// Which of `active` sends announce themselves in (only its parity
    /// matters). Advanced by `subscribe` under the lock.
    epoch: CachePadded<AtomicUsize>,
    /// Sends in progress, by epoch parity.
    active: [CachePadded<AtomicUsize>; 2],
    /// The first segment of subscriber slots.
    first: Segment<T>,
    /// What only `subscribe`, `subscriber_count` and the drop touch.
    registry: Mutex<Registry<T>>,
}

/// A run of subscriber slots and the link to the next, larger run.
struct Segment<T> {
    /// Null, or a subscriber's channel: a `Sender<T>` turned into its
    /// channel pointer by `Sender::into_raw` in `subscribe` (one load from a
    /// send to the channel, where a boxed sender took two).
    slots: Box<[AtomicPtr<Chan<T>>]>,
    /// The next segment (twice as many slots), or null. Written once, by
    /// `subscribe` under the lock; freed by the publisher's drop.
    next: AtomicPtr<Segment<T>>,
}

impl<T> Segment<T> {
    fn new(len: usize) -> Self {
        Segment {
            slots: (0..len).map(|_| AtomicPtr::new(ptr::null_mut())).collect(),
            next: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// The next segment, if any.
    fn next(&self) -> Option<&Segment<T>> {
        // ORDERING: Acquire: pairs with the Release store in `subscribe`,
        // so the new segment's slots are initialized before we read them.
        let next = self.next.load(Ordering::Acquire);
        // SAFETY: a non-null `next` points to a segment that lives until the
        // publisher is dropped (only the drop frees segments).
        unsafe { next.as_ref() }
    }
}

/// The state behind the lock.
struct Registry<T> {
    /// The receiver of the latest-value channel.
    latest_rx: Receiver<T>,
    /// Senders (as channel pointers) unlinked before the last epoch
    /// advance, to drop once the previous epoch's sends are done.
    retired: Vec<*mut Chan<T>>,
    /// Senders unlinked while `retired` was still waiting; they wait next.
    unlinked: Vec<*mut Chan<T>>,
}

// SAFETY: the raw pointers are `Sender<T>`s (turned into their channel
// pointers) owned by the registry, and a `Sender<T>` is `Send` when
// `T: Send`; the receiver is `Send` when `T: Send`.
unsafe impl<T: Send> Send for Registry<T> {}

// SAFETY: a `Publisher<T>` moves `T` values between threads (into the
// subscribers' and the latest-value channels, out of the latest one in
// `subscribe`), which needs `T: Send`. It never shares a `&T` between
// threads: clones are made by the thread that owns the value. Its raw
// pointers are senders (as channel pointers) and segments it owns, read by
// sends under the epoch protocol above.
unsafe impl<T: Send> Send for Publisher<T> {}
// SAFETY: as above: `&Publisher` only lets threads send (moving and cloning
// their own values), subscribe and count, all synchronized as described.
unsafe impl<T: Send> Sync for Publisher<T> {}

/// The latest value while `subscribe` holds it: gives it back to the
/// latest-value channel when dropped (after its clone, or while a panic in
/// `T::clone` unwinds), never displacing a newer value a send put there.
struct GiveBack<'a, T>(&'a Chan<T>, Option<T>);

impl<T> Drop for GiveBack<'_, T> {
    fn drop(&mut self) {
        if let Some(value) = self.1.take() {
            // A refusal means a newer value is there: ours is dropped.
            let _ = self.0.put_if_empty(value, 0);
        }
    }
}

/// Decrements a send's epoch counter when the send ends, also if a
/// `T::clone` or a displaced value's `drop` panics.
struct Announced<'a>(&'a AtomicUsize);

impl Drop for Announced<'_> {
    fn drop(&mut self) {
        // ORDERING: Release: our reads of the slots (and of the senders they
        // point to) happen before a `subscribe` that acquires a zero count
        // frees what we read.
        self.0.fetch_sub(1, Ordering::Release);
    }
}

impl<T: Clone> Publisher<T> {
    /// A publisher with no subscribers and no value yet.
    ///
    /// # Examples
    ///
    /// ```
    /// let p = conflate::Publisher::<u32>::new();
    /// assert_eq!(p.subscriber_count(), 0);
    /// assert_eq!(p.send(1), 0); // kept as the latest value all the same
    /// assert_eq!(p.subscribe().try_recv(), Ok(1));
    /// ```
    #[must_use]
    pub fn new() -> Publisher<T> {
        let (latest, latest_rx) = channel();
        Publisher {
            latest,
            epoch: CachePadded::new(AtomicUsize::new(0)),
            active: [
                CachePadded::new(AtomicUsize::new(0)),
                CachePadded::new(AtomicUsize::new(0)),
            ],
            first: Segment::new(FIRST_SEGMENT),
            registry: Mutex::new(Registry {
                latest_rx,
                retired: Vec::new(),
                unlinked: Vec::new(),
            }),
        }
    }

    /// Puts `value` into every live subscriber's channel and keeps it as
    /// the latest value; returns how many subscribers it was put to.
    ///
    /// Each subscriber gets a clone, the last one the value itself (and the
    /// latest-value copy is one more clone). It never waits: no lock, no
    /// retry loop, O(subscribers) steps; a subscriber that is slow, blocked
    /// or gone, and a `subscribe` in progress, cannot hold it up. It
    /// allocates nothing beyond what `T::clone` allocates.
    ///
    /// # Examples
    ///
    /// ```
    /// let p = conflate::Publisher::new();
    /// let a = p.subscribe();
    /// let b = p.subscribe();
    /// assert_eq!(p.send("term 1"), 2);
    /// drop(b);
    /// assert_eq!(p.send("term 2"), 1); // b is skipped
    /// assert_eq!(a.try_recv(), Ok("term 2"));
    /// assert_eq!(a.skipped(), 1); // "term 1" was displaced
    /// ```
    pub fn send(&self, value: T) -> usize {
        // ORDERING: SeqCst (the load and the increment): our part of the
        // reclamation argument in the protocol essay.
        let parity = self.epoch.load(Ordering::SeqCst) & 1;
        let counter = &self.active[parity];
        counter.fetch_add(1, Ordering::SeqCst);
        dekker_fence();
        let _announced = Announced(counter);
        // The latest value first: the write half of the Dekker pair with
        // `subscribe` (a SeqCst swap, then SeqCst loads of the slots).
        let _ = self.latest.chan().put_with::<false, true>(value.clone());
        dekker_fence();
        let mut put = 0;
        // One subscriber is held back so that it can get the value itself.
        let mut held_back: Option<&Chan<T>> = None;
        let mut segment = Some(&self.first);
        while let Some(seg) = segment {
            for slot in seg.slots.iter() {
                // ORDERING: SeqCst: the read half of both pairs in the
                // essay (reclamation, and the Dekker pair with subscribe).
                let ptr = slot.load(Ordering::SeqCst);
                // SAFETY: a non-null slot points to a channel that a sender
                // owns, and that sender is not dropped while we are
                // announced (see the essay).
                let Some(chan) = (unsafe { ptr.as_ref() }) else {
                    continue;
                };
                if chan.is_receiver_gone() {
                    continue; // a dropped subscriber: skip it
                }
                if let Some(previous) = held_back.replace(chan) {
                    put += usize::from(previous.send(value.clone()).is_ok());
                }
            }
            segment = seg.next();
        }
        if let Some(last) = held_back {
            put += usize::from(last.send(value).is_ok());
        }
        put
    }

    /// A new subscriber: a plain [`Receiver`] that already holds the latest
    /// value sent, if any, and gets every later send, conflated.
    ///
    /// It takes a lock that only other `subscribe` and `subscriber_count`
    /// calls (and the drop) take, never a send; it never waits for a send
    /// in progress. A send racing it either reaches the new receiver or is
    /// the value it starts with, or both: then that value arrives twice in a
    /// row, or the send's own put displaces the starting copy of the same
    /// value, which the new receiver counts as one displacement
    /// (`skipped() == 1` and `overwritten() == 1` on its first value). It
    /// may allocate (the new channel, and room
    /// for more subscribers), and it frees the channels of dropped
    /// subscribers.
    ///
    /// # Examples
    ///
    /// ```
    /// let config = conflate::Publisher::new();
    /// config.send("v1");
    /// config.send("v2");
    /// let late = config.subscribe(); // starts from the current state
    /// assert_eq!(late.try_recv(), Ok("v2"));
    /// assert_eq!(late.overwritten(), 0, "its own counts start at zero");
    /// config.send("v3");
    /// assert_eq!(late.try_recv(), Ok("v3"));
    /// ```
    pub fn subscribe(&self) -> Receiver<T> {
        let (tx, rx) = channel();
        // Sends number their values from 2 on; a starting value is number 1.
        // The numbers of `skipped()` then stay exact however the starting
        // value and the sends' puts interleave: a send's put either comes
        // after the starting value (numbers 1, 2, 3, …, as if the starting
        // value had been sent) or, if it got there first, the starting
        // value is not put and number 1 counts as already taken.
        rx.chan().number_puts_after(1);
        let mut registry = self.lock();
        self.collect(&mut registry);
        self.install(tx.into_raw().cast_mut());
        // The read half of the Dekker pair with `send`: the new slot is
        // stored (SeqCst) before we look at the latest value.
        // ORDERING: SeqCst fence: orders the slot store before the loads of
        // the latest-value channel below, against sends' SeqCst swap of
        // that channel and SeqCst slot loads.
        fence(Ordering::SeqCst);
        let mut started = false;
        let mut overtaken = None;
        if let Ok(value) = registry.latest_rx.try_recv() {
            // Until it is given back, the latest value lives in `back`,
            // which gives it back also if `T::clone` panics.
            let back = GiveBack(self.latest.chan(), Some(value));
            let copy = back.1.clone();
            if let Some(copy) = copy {
                match rx.chan().put_if_empty(copy, 1) {
                    Ok(()) => started = true,
                    Err(copy) => overtaken = Some(copy),
                }
            }
            drop(back);
        }
        if !started {
            rx.chan().count_from(1);
        }
        drop(registry);
        // A copy a send overtook (it put a newer value first) is dropped
        // here, outside the lock.
        drop(overtaken);
        rx
    }

    /// How many subscribers are live: their `Receiver` exists. A dropped
    /// subscriber stops counting at once.
    ///
    /// It takes the same lock as `subscribe`, never one a send takes.
    ///
    /// # Examples
    ///
    /// ```
    /// let p = conflate::Publisher::<u8>::new();
    /// let a = p.subscribe();
    /// let b = p.subscribe();
    /// assert_eq!(p.subscriber_count(), 2);
    /// drop(a);
    /// assert_eq!(p.subscriber_count(), 1);
    /// # drop(b);
    /// ```
    #[must_use]
    pub fn subscriber_count(&self) -> usize {
        let _registry = self.lock();
        let mut live = 0;
        let mut segment = Some(&self.first);
        while let Some(seg) = segment {
            for slot in seg.slots.iter() {
                // ORDERING: Relaxed: slots are written only under the lock
                // we hold.
                let ptr = slot.load(Ordering::Relaxed);
                // SAFETY: freed only under the lock we hold.
                if let Some(chan) = unsafe { ptr.as_ref() } {
                    live += usize::from(!chan.is_receiver_gone());
                }
            }
            segment = seg.next();
        }
        live
    }
}

impl<T> Publisher<T> {
    /// The registry, also after a panic elsewhere while it was held (its
    /// state is consistent between each of our steps).
    fn lock(&self) -> MutexGuard<'_, Registry<T>> {
        self.registry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Stores `tx` in a free slot, adding a segment if every slot is taken.
    /// Called under the lock.
    fn install(&self, tx: *mut Chan<T>) {
        let mut seg = &self.first;
        loop {
            for slot in seg.slots.iter() {
                // ORDERING: Relaxed: slots are written only under the lock.
                if slot.load(Ordering::Relaxed).is_null() {
                    // ORDERING: SeqCst: the write half of the Dekker pair
                    // with `send` (see the essay); also publishes the
                    // sender (Release).
                    slot.store(tx, Ordering::SeqCst);
                    return;
                }
            }
            match seg.next() {
                Some(next) => seg = next,
                None => {
                    let grown = Box::new(Segment::new(seg.slots.len() * 2));
                    // The new segment's first slot, before it is published.
                    // ORDERING: Relaxed: published by the store below.
                    grown.slots[0].store(tx, Ordering::Relaxed);
                    // ORDERING: SeqCst: publishes the segment with its slot
                    // (Release for sends' Acquire in `next`), and is the
                    // write half of the Dekker pair for that slot.
                    seg.next.store(Box::into_raw(grown), Ordering::SeqCst);
                    return;
                }
            }
        }
    }

    /// Unlinks the senders of dropped subscribers and frees those no send
    /// can still be reading. Called under the lock; never waits.
    fn collect(&self, registry: &mut Registry<T>) {
        // Free the set waiting on the previous epoch, if its sends are done.
        if !registry.retired.is_empty() && self.previous_epoch_drained() {
            free_senders(&mut registry.retired);
        }
        let mut segment = Some(&self.first);
        while let Some(seg) = segment {
            for slot in seg.slots.iter() {
                // ORDERING: Relaxed: slots are written only under the lock.
                let ptr = slot.load(Ordering::Relaxed);
                // SAFETY: freed only under the lock we hold.
                if unsafe { ptr.as_ref() }.is_some_and(Chan::is_receiver_gone) {
                    // ORDERING: SeqCst: ordered before the epoch advance
                    // below (see the essay).
                    slot.store(ptr::null_mut(), Ordering::SeqCst);
                    registry.unlinked.push(ptr);
                }
            }
            segment = seg.next();
        }
        if registry.retired.is_empty() && !registry.unlinked.is_empty() && self.next_epoch_drained()
        {
            std::mem::swap(&mut registry.retired, &mut registry.unlinked);
            // ORDERING: SeqCst: after the unlinking stores, before the
            // counter load (see the essay). Only we write `epoch`.
            self.epoch.fetch_add(1, Ordering::SeqCst);
            dekker_fence();
            if self.previous_epoch_drained() {
                free_senders(&mut registry.retired);
            }
        }
    }

    /// Whether no send is announced under the parity the next epoch will
    /// use. Such a send read the epoch two advances ago (or earlier) and
    /// is still running; it may hold a pointer we are about to unlink, and
    /// after the advance it would count in the *current* parity, which the
    /// new retired set does not wait on. So the epoch advances only when
    /// that counter, read after the unlinking stores, is zero: a send that
    /// increments it later loads the slots after the unlinking and reads
    /// null.
    fn next_epoch_drained(&self) -> bool {
        // ORDERING: Relaxed: only we (under the lock) write `epoch`.
        let next = self.epoch.load(Ordering::Relaxed).wrapping_add(1) & 1;
        dekker_fence();
        // ORDERING: SeqCst: after the unlinking stores (see above).
        self.active[next].load(Ordering::SeqCst) == 0
    }

    /// Whether every send announced in the epoch before the current one is
    /// done.
    fn previous_epoch_drained(&self) -> bool {
        // ORDERING: Relaxed: only we (under the lock) write `epoch`.
        let previous = (self.epoch.load(Ordering::Relaxed) ^ 1) & 1;
        // ORDERING: SeqCst: the read of the reclamation argument; its
        // Acquire pairs with each send's Release decrement.
        self.active[previous].load(Ordering::SeqCst) == 0
    }
}

/// Drops unlinked senders that no send can be reading any more.
fn free_senders<T>(senders: &mut Vec<*mut Chan<T>>) {
    for tx in senders.drain(..) {
        // SAFETY: made by `Sender::into_raw` in `subscribe`, unlinked from
        // its slot (so turned back only here), and no send can still hold
        // it (the caller checked the epoch, or holds `&mut Publisher`).
        drop(unsafe { Sender::from_raw(tx) });
    }
}

impl<T> Drop for Publisher<T> {
    /// Closes every subscriber's channel: each receives its pending value,
    /// then `Disconnected`.
    fn drop(&mut self) {
        let registry = self
            .registry
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        free_senders(&mut registry.retired);
        free_senders(&mut registry.unlinked);
        let mut next = self.first.next.load(Ordering::Relaxed);
        for slot in self.first.slots.iter() {
            let tx = slot.swap(ptr::null_mut(), Ordering::Relaxed);
            if !tx.is_null() {
                // SAFETY: made by `Sender::into_raw` in `subscribe`; the slot
                // owned it, and `&mut self`: no send runs.
                drop(unsafe { Sender::from_raw(tx) });
            }
        }
        while !next.is_null() {
            // SAFETY: made by `Box::into_raw` in `install`; `&mut self`.
            let seg = unsafe { Box::from_raw(next) };
            // ORDERING: Relaxed (here and below): `&mut self`, no other
            // thread can touch the publisher.
            next = seg.next.load(Ordering::Relaxed);
            for slot in seg.slots.iter() {
                let tx = slot.swap(ptr::null_mut(), Ordering::Relaxed);
                if !tx.is_null() {
                    // SAFETY: as above.
                    drop(unsafe { Sender::from_raw(tx) });
                }
            }
        }
    }
}

impl<T: Clone> Default for Publisher<T> {
    /// Same as [`Publisher::new`].
    fn default() -> Self {
        Publisher::new()
    }
}

impl<T> fmt::Debug for Publisher<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Publisher").finish_non_exhaustive()
    }
}
