//! A wait-free *conflating* channel for threads: producers overwrite one
//! slot and never block; the consumer always receives the latest value.
//!
//! # Why
//!
//! Some state only matters in its latest version: "I am the leader now",
//! the current configuration, a progress figure, a metrics snapshot. A
//! bounded queue makes the publisher wait when the listener is slow, and an
//! unbounded one grows without limit and delivers stale values first.
//!
//! The waiting is the dangerous part. A thread-based Raft node that
//! publishes leadership changes on a bounded channel stalls when that
//! channel is full; if the listener is itself waiting on a Raft call, the
//! two deadlock. HashiCorp Nomad hit exactly this under leadership flapping
//! and fixed it with a proxy that keeps only the last value and always
//! delivers it before the close. `conflate` is that fix as a primitive, with
//! no proxy thread: `send` is wait-free, and the last value before the close
//! is never lost.
//!
//! # Example
//!
//! ```
//! use std::thread;
//!
//! let (tx, rx) = conflate::channel();
//!
//! let raft = thread::spawn(move || {
//!     // Flap leadership; `send` never waits for the listener.
//!     for term in 0..10_000u64 {
//!         tx.send((term, term % 2 == 0)).unwrap();
//!     }
//!     // Dropping the last sender closes the channel after its last value.
//! });
//!
//! let mut last = None;
//! for (term, leader) in &rx {
//!     // Terms only ever increase: stale values were overwritten.
//!     assert!(last.map_or(true, |(t, _)| t < term));
//!     last = Some((term, leader));
//! }
//! raft.join().unwrap();
//! assert_eq!(last, Some((9_999, false))); // the final state always arrives
//! ```
//!
//! # Guarantees
//!
//! - **One slot.** The channel holds at most one value; a send displaces
//!   the value still there. After sends `v1 … vn` with no receive between,
//!   the next receive returns `vn`.
//! - **Exactly once.** Every value sent is received, returned by
//!   [`Sender::replace`], handed back in [`SendError`], or dropped exactly
//!   once (when displaced, or when the receiver or the channel goes away).
//!   Nothing leaks.
//! - **Producers never wait.** [`Sender::send`], [`Sender::replace`] and
//!   dropping a [`Sender`] are wait-free: a fixed handful of atomic
//!   read-modify-writes, no lock, no retry loop, no spinning on the
//!   receiver. In steady state they allocate nothing (slot nodes are
//!   recycled).
//! - **Close after the last value.** When the last `Sender` is dropped, a
//!   value still in the slot is received first; only then do receives report
//!   disconnection, and a blocked receiver (thread or task) wakes.
//! - **Receiver gone.** Dropping the [`Receiver`] drops the value in the
//!   slot; later sends return their value in [`SendError`].
//! - **No lost wake-up.** A blocked receive always returns when a value
//!   arrives; a timed-out receive leaves a racing value for the next call;
//!   dropping a pending [`RecvFuture`] loses nothing.
//! - **Happens-before.** A send happens before the receive that returns its
//!   value, as with every std channel.
//! - **Linearizable.** Every concurrent history behaves like some sequence
//!   of the calls on a one-slot model; [`Receiver::overwritten`] may trail a
//!   displacing send that is still in progress.
//! - **No runtime.** Blocking receives spin briefly, then park the thread;
//!   [`Receiver::recv_async`] works on any executor through
//!   [`std::task::Waker`].
//!
//! # Waiting on several channels
//!
//! A leader loop waits for *leadership changed*, *shut down* and *time for
//! periodic work* at once, as Nomad's `monitorLeadership` does with a Go
//! `select`. [`Select`] watches several receivers (of any value types) and
//! returns the index of one that is ready; a shutdown channel of `()` is
//! closed by dropping its sender, which makes its index ready for good.
//! When the loop receives `true` while it believes it is already leader,
//! [`Receiver::skipped`] says whether that is a repeat (0) or a flap:
//! leadership was lost and regained in between, and the loop must set up
//! leadership again.
//!
//! ```
//! use conflate::Select;
//! use std::thread;
//! use std::time::{Duration, Instant};
//!
//! let (leader_tx, leader_rx) = conflate::channel::<bool>();
//! let (stop_tx, stop_rx) = conflate::channel::<()>();
//!
//! // The Raft thread: wins, loses and wins again before the loop looks.
//! let raft = thread::spawn(move || {
//!     leader_tx.send(true).unwrap();
//!     thread::sleep(Duration::from_millis(20));
//!     leader_tx.send(false).unwrap(); // never waits for the leader loop
//!     leader_tx.send(true).unwrap();
//!     thread::sleep(Duration::from_millis(20));
//!     drop(stop_tx); // shut down
//!     leader_tx
//! });
//!
//! let mut sel = Select::new();
//! let leadership = sel.recv(&leader_rx);
//! let shutdown = sel.recv(&stop_rx);
//! let (mut leader, mut setups, mut ticks) = (false, 0, 0);
//! let mut next_tick = Instant::now() + Duration::from_millis(5);
//! loop {
//!     match sel.ready_deadline(next_tick) {
//!         // Shutdown stays ready: first take a last leadership value.
//!         Ok(i) if i == shutdown && leader_rx.is_empty() => break,
//!         Ok(i) if i == shutdown => continue,
//!         Ok(i) if i == leadership => {
//!             let Ok(now_leader) = leader_rx.try_recv() else {
//!                 sel.remove(leadership); // the Raft side is gone
//!                 continue;
//!             };
//!             // Set up on a new leadership, and again after a flap.
//!             if now_leader && (!leader || leader_rx.skipped() > 0) {
//!                 setups += 1;
//!             }
//!             leader = now_leader;
//!         }
//!         Ok(_) => unreachable!(),
//!         Err(_) => {
//!             ticks += 1; // periodic work
//!             next_tick += Duration::from_millis(5);
//!         }
//!     }
//! }
//! let _leader_tx = raft.join().unwrap();
//! assert!(leader);
//! assert_eq!(setups, 2, "the first win and the flap");
//! assert!(ticks > 0);
//! ```
//!
//! `skipped()` is exact when sends do not overlap in time (one producer
//! thread, as here, or producers that take turns): each send numbers its
//! value with a plain load and store, and the receiver counts the gap. For
//! sends from several threads at the same instant it can be off (see its
//! docs). Exact counting there needs each send to know the number of the
//! value it displaces *as it publishes*: a send publishes with one swap,
//! which learns what it displaced only after its own value is out, and the
//! one that displaces it next may come before it can record anything. The
//! designs that close that gap make a send wait for another send's
//! bookkeeping, or publish with a compare-exchange that is retried until no
//! other send came in between; the first breaks "producers never wait" and
//! the second makes `send` lock-free instead of wait-free. conflate keeps
//! `send` wait-free and documents the limit.
//!
//! # Several observers
//!
//! A Raft node often has more than one listener for its leadership: the
//! leader loop, metrics, a health endpoint. [`Publisher`] fans one value
//! out to all of them. Each [`subscribe`](Publisher::subscribe) returns a
//! plain [`Receiver`] with its own slot (so [`Select`], `skipped()`,
//! `recv_async` and the close after the last value all work on it), already
//! holding the current state; [`send`](Publisher::send) puts a clone into
//! every live subscriber and never waits: no lock, no retry loop.
//!
//! ```
//! use std::thread;
//!
//! let leadership = conflate::Publisher::new();
//! let leader_loop = leadership.subscribe();
//! leadership.send((1, true));
//! let health = leadership.subscribe(); // late: starts from the current state
//! assert_eq!(health.try_recv(), Ok((1, true)));
//!
//! let raft = thread::spawn(move || {
//!     leadership.send((2, false));
//!     // Dropping the publisher closes every subscriber after its last value.
//! });
//! assert_eq!(leader_loop.iter().last(), Some((2, false)));
//! assert_eq!(health.iter().last(), Some((2, false)));
//! raft.join().unwrap();
//! ```
//!
//! Pick `Publisher` over `tokio::sync::watch` when the publishing thread
//! must never wait: watch's `send` takes a write lock that any receiver's
//! `borrow()` can hold, and watch has no blocking receive for plain
//! threads; watch's send is O(1) while a `Publisher`'s is O(subscribers),
//! since every subscriber has a slot of its own. Pick it over one
//! [`channel`] per observer fed by hand when observers come and go: a late
//! subscriber starts from the latest value, a dropped one is skipped and
//! freed, and the publishing code does not change.
//!
//! # Choosing a channel
//!
//! | you need | use |
//! |---|---|
//! | every value, in order | `std::sync::mpsc`, `crossbeam-channel` |
//! | the latest value, producer must never wait, blocking or async receive | **`conflate`** |
//! | the latest value, several observers, producer must never wait | **`conflate::Publisher`** |
//! | the latest value inside a tokio program, many readers | `tokio::sync::watch` |
//! | the latest value, one producer, a reader that polls | `triple_buffer` |
//! | shared read-mostly state, readers poll | `arc-swap` |
//!
//! `std::sync::mpsc::sync_channel(1)` or `crossbeam_channel::bounded(1)` can
//! emulate a one-slot channel, but their `send` blocks when the slot is
//! full, which is the deadlock above. `tokio::sync::watch` keeps the latest
//! value but has no blocking receive for plain threads and takes a lock on
//! send. `triple_buffer` is wait-free but single-producer and cannot block
//! the reader until a value arrives.
//!
//! # Implementation
//!
//! The slot is one tagged pointer to a node. Nodes come from a small arena
//! (six nodes, allocated with the channel: 768 bytes for values of up to
//! 64 bytes) with one flag per node, so steady state allocates nothing and
//! a `send` is two atomic read-modify-writes, each a single instruction:
//! claim a node (a compare-exchange on its flag) and swap it into the slot.
//! Between the two, a plain load and store number the value for
//! [`Receiver::skipped`].
//! The displaced node goes back, and is counted, with plain stores, since
//! only its holder writes its flag and its count. The protocol (states,
//! transitions and their memory orderings) is described in `src/slot.rs`,
//! and is model-checked with loom against the code itself.

#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_debug_implementations)]
#![doc(test(attr(deny(warnings))))]

mod chan;
mod error;
mod publisher;
mod select;
mod slot;
mod state;
mod sync;
mod wait;
mod waiter;

pub use chan::{IntoIter, Iter, Receiver, RecvFuture, Sender, TryIter, channel};
pub use error::{
    ReadyTimeoutError, RecvError, RecvTimeoutError, SendError, TryReadyError, TryRecvError,
};
pub use publisher::Publisher;
pub use select::Select;

/// The README's examples run as doctests, so they cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
