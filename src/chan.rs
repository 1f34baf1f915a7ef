//! The handles: `Sender`, `Receiver`, `RecvFuture` and the iterators.

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::error::{RecvError, RecvTimeoutError, SendError, TryRecvError};
use crate::slot::{Chan, Put, Take};
use crate::sync::Arc;
use crate::wait;

/// Creates a conflating channel: one slot, many producers, one consumer.
///
/// Every [`send`](Sender::send) overwrites the slot and never waits; the
/// [`Receiver`] gets the latest value. Clone the [`Sender`] for more
/// producers.
///
/// # Examples
///
/// ```
/// let (tx, rx) = conflate::channel();
/// tx.send(1).unwrap();
/// tx.send(2).unwrap(); // displaces 1
/// assert_eq!(rx.recv(), Ok(2));
/// assert_eq!(rx.overwritten(), 1);
/// ```
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let chan = Arc::new(Chan::new());
    (
        Sender { chan: chan.clone() },
        Receiver {
            chan,
            _not_sync: PhantomData,
        },
    )
}

/// The sending half: overwrites the slot, never blocks.
///
/// `Clone` it to get more producers; the channel closes (after its last
/// value is received) when every clone is dropped. `Sender<T>` is `Send`
/// and `Sync` when `T: Send`, so one sender can also be shared by reference.
///
/// # Examples
///
/// ```
/// use std::thread;
///
/// let (tx, rx) = conflate::channel();
/// let handles: Vec<_> = (0..3)
///     .map(|i| {
///         let tx = tx.clone();
///         thread::spawn(move || tx.send(i).unwrap())
///     })
///     .collect();
/// for h in handles {
///     h.join().unwrap();
/// }
/// drop(tx);
/// // Whichever send came last is the one value left.
/// let last = rx.recv().unwrap();
/// assert!(last < 3);
/// assert_eq!(rx.overwritten(), 2);
/// assert!(rx.recv().is_err());
/// ```
pub struct Sender<T> {
    chan: Arc<Chan<T>>,
}

impl<T> Sender<T> {
    /// Puts `value` in the slot, dropping any value still there.
    ///
    /// Wait-free: it never blocks, parks, spins or takes a lock, and
    /// finishes in a bounded number of its own steps whatever other threads
    /// do. If the receiver is blocked, it is woken.
    ///
    /// It allocates nothing: the channel's six value nodes are allocated
    /// by [`channel`] and reused. Only when more than four sends are in
    /// progress at once does a send use a heap node for its one value; only
    /// then can the global allocator's own locking come into play.
    ///
    /// A displaced value is dropped on this thread, inside this call, after
    /// the new value is already in the slot; if its `Drop` panics, the panic
    /// propagates out of `send`, and the send has still taken effect.
    ///
    /// # Errors
    ///
    /// If the [`Receiver`] is gone, returns the value in [`SendError`].
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = conflate::channel();
    /// assert_eq!(tx.send("a"), Ok(()));
    /// assert_eq!(tx.send("b"), Ok(()));
    /// assert_eq!(rx.try_recv(), Ok("b"));
    /// drop(rx);
    /// assert_eq!(tx.send("c"), Err(conflate::SendError("c")));
    /// ```
    #[inline]
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        self.chan.send(value).map_err(SendError)
    }

    /// Puts `value` in the slot and returns the value it displaced, if any.
    ///
    /// Like [`send`](Sender::send) (wait-free, wakes the receiver), but the
    /// displaced value comes back to the caller instead of being dropped.
    /// A displacement counts in [`Receiver::overwritten`].
    ///
    /// # Errors
    ///
    /// If the [`Receiver`] is gone, returns the value in [`SendError`].
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = conflate::channel();
    /// assert_eq!(tx.replace(1), Ok(None));
    /// assert_eq!(tx.replace(2), Ok(Some(1)));
    /// assert_eq!(rx.recv(), Ok(2));
    /// assert_eq!(tx.replace(3), Ok(None));
    /// ```
    #[inline]
    pub fn replace(&self, value: T) -> Result<Option<T>, SendError<T>> {
        match self.chan.put::<true>(value) {
            Put::Sent(displaced) => Ok(displaced),
            Put::Refused(value) => Err(SendError(value)),
        }
    }

    /// Returns `true` if the [`Receiver`] is gone, so every later send
    /// fails.
    ///
    /// The answer may be stale by the time it is used: a `false` can turn
    /// `true` at any moment (never the reverse).
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = conflate::channel::<u8>();
    /// assert!(!tx.is_disconnected());
    /// drop(rx);
    /// assert!(tx.is_disconnected());
    /// ```
    #[must_use]
    pub fn is_disconnected(&self) -> bool {
        self.chan.is_receiver_gone()
    }

    /// Returns `true` if both senders feed the same channel.
    ///
    /// # Examples
    ///
    /// ```
    /// let (a, _rx) = conflate::channel::<u8>();
    /// let (b, _rx2) = conflate::channel::<u8>();
    /// assert!(a.same_channel(&a.clone()));
    /// assert!(!a.same_channel(&b));
    /// ```
    #[must_use]
    pub fn same_channel(&self, other: &Sender<T>) -> bool {
        Arc::ptr_eq(&self.chan, &other.chan)
    }

    /// The channel, for `Publisher`.
    pub(crate) fn chan(&self) -> &Chan<T> {
        &self.chan
    }

    /// The sender as its channel's pointer, still counted as a sender: a
    /// publisher slot holds it this way, so that a send reaches the channel
    /// with one load instead of two. `from_raw` turns it back.
    pub(crate) fn into_raw(self) -> *const Chan<T> {
        let this = std::mem::ManuallyDrop::new(self);
        // SAFETY: `this` is never used or dropped again, so the `Arc` is
        // moved out exactly once and its count (and the sender count) stay
        // with the returned pointer.
        let chan = unsafe { std::ptr::read(&this.chan) };
        Arc::into_raw(chan)
    }

    /// The sender that `into_raw` turned into `chan`.
    ///
    /// # Safety
    ///
    /// `chan` came from `into_raw` and is turned back only once.
    pub(crate) unsafe fn from_raw(chan: *const Chan<T>) -> Sender<T> {
        Sender {
            // SAFETY: from `Arc::into_raw` (in `into_raw`), once.
            chan: unsafe { Arc::from_raw(chan) },
        }
    }
}

impl<T> Clone for Sender<T> {
    /// Another producer for the same channel.
    fn clone(&self) -> Self {
        self.chan.add_sender();
        Sender {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    /// The last sender's drop closes the channel: a value still in the slot
    /// is delivered first, then receives report disconnection, and a
    /// blocked receiver wakes. Wait-free, like `send`.
    fn drop(&mut self) {
        self.chan.remove_sender();
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender").finish_non_exhaustive()
    }
}

/// The receiving half: takes the latest value.
///
/// There is one receiver per channel. It is `Send` when `T: Send` but not
/// `Sync`, and not `Clone`: the channel's wake-up protocol has room for one
/// waiter. Dropping it drops any value in the slot at once, and later sends
/// fail with [`SendError`].
///
/// # Examples
///
/// ```
/// use std::thread;
///
/// let (tx, rx) = conflate::channel();
/// let t = thread::spawn(move || {
///     for i in 0..1000 {
///         tx.send(i).unwrap();
///     }
/// });
/// // Received values only ever increase; the last one is always delivered.
/// let mut last = None;
/// for v in &rx {
///     assert!(last < Some(v));
///     last = Some(v);
/// }
/// t.join().unwrap();
/// assert_eq!(last, Some(999));
/// ```
pub struct Receiver<T> {
    chan: Arc<Chan<T>>,
    /// `Cell<()>` is `Send` but not `Sync`: two threads must not receive
    /// through one `&Receiver` at once (there is a single waiter cell).
    _not_sync: PhantomData<Cell<()>>,
}

impl<T> Receiver<T> {
    /// Waits for a value and takes it.
    ///
    /// Returns at once if a value is waiting. Otherwise it spins briefly,
    /// then parks the thread until a sender publishes a value or the last
    /// sender drops.
    ///
    /// # Errors
    ///
    /// [`RecvError`] when every sender is gone and the last value was
    /// already received.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::thread;
    ///
    /// let (tx, rx) = conflate::channel();
    /// let t = thread::spawn(move || tx.send(5).unwrap());
    /// assert_eq!(rx.recv(), Ok(5));
    /// t.join().unwrap();
    /// assert_eq!(rx.recv(), Err(conflate::RecvError)); // tx is gone
    /// ```
    pub fn recv(&self) -> Result<T, RecvError> {
        wait::recv_blocking(&self.chan, None).map_err(|_| RecvError)
    }

    /// Takes the value if one is waiting; never blocks.
    ///
    /// # Errors
    ///
    /// - [`TryRecvError::Empty`]: no value now, a sender still exists.
    /// - [`TryRecvError::Disconnected`]: every sender is gone and the last
    ///   value was received.
    ///
    /// # Examples
    ///
    /// ```
    /// use conflate::TryRecvError;
    ///
    /// let (tx, rx) = conflate::channel();
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    /// tx.send(1).unwrap();
    /// drop(tx);
    /// assert_eq!(rx.try_recv(), Ok(1)); // the last value comes first
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    /// ```
    #[inline]
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        match self.chan.try_take() {
            Take::Value(value) => Ok(value),
            Take::Empty => Err(TryRecvError::Empty),
            Take::Closed => Err(TryRecvError::Disconnected),
        }
    }

    /// Waits at most `timeout` for a value.
    ///
    /// A zero timeout is a non-blocking try. A timeout too large to add to
    /// `Instant::now()` (such as `Duration::MAX`) waits without limit.
    /// Spurious wake-ups are handled inside.
    ///
    /// # Errors
    ///
    /// - [`RecvTimeoutError::Timeout`]: no value in time. A value that
    ///   raced the timeout stays in the channel for the next receive.
    /// - [`RecvTimeoutError::Disconnected`]: every sender is gone and the
    ///   last value was received.
    ///
    /// # Examples
    ///
    /// ```
    /// use conflate::RecvTimeoutError;
    /// use std::time::Duration;
    ///
    /// let (tx, rx) = conflate::channel();
    /// assert_eq!(rx.recv_timeout(Duration::from_millis(1)), Err(RecvTimeoutError::Timeout));
    /// tx.send('x').unwrap();
    /// assert_eq!(rx.recv_timeout(Duration::from_secs(1)), Ok('x'));
    /// ```
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        wait::recv_blocking(&self.chan, Instant::now().checked_add(timeout))
    }

    /// Waits until `deadline` for a value.
    ///
    /// A deadline in the past is a non-blocking try.
    ///
    /// # Errors
    ///
    /// As [`recv_timeout`](Receiver::recv_timeout).
    ///
    /// # Examples
    ///
    /// ```
    /// use conflate::RecvTimeoutError;
    /// use std::time::{Duration, Instant};
    ///
    /// let (tx, rx) = conflate::channel();
    /// let soon = Instant::now() + Duration::from_millis(1);
    /// assert_eq!(rx.recv_deadline(soon), Err(RecvTimeoutError::Timeout));
    /// tx.send(3).unwrap();
    /// assert_eq!(rx.recv_deadline(Instant::now()), Ok(3));
    /// ```
    pub fn recv_deadline(&self, deadline: Instant) -> Result<T, RecvTimeoutError> {
        wait::recv_blocking(&self.chan, Some(deadline))
    }

    /// Returns a future that resolves to the next value.
    ///
    /// It works on any executor (it only uses the `Waker` it is polled
    /// with) and is `Send` when `T: Send`. Dropping it before it completes
    /// loses no value: a value that arrived stays for the next receive.
    ///
    /// # Errors
    ///
    /// The future yields [`RecvError`] when every sender is gone and the
    /// last value was received.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::future::Future;
    /// # use std::sync::Arc;
    /// # use std::task::{Context, Poll, Wake, Waker};
    /// # struct Unpark(std::thread::Thread);
    /// # impl Wake for Unpark {
    /// #     fn wake(self: Arc<Self>) { self.0.unpark() }
    /// # }
    /// # fn block_on<F: Future>(fut: F) -> F::Output {
    /// #     let mut fut = std::pin::pin!(fut);
    /// #     let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    /// #     let mut cx = Context::from_waker(&waker);
    /// #     loop {
    /// #         if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) { return v; }
    /// #         std::thread::park();
    /// #     }
    /// # }
    /// let (tx, mut rx) = conflate::channel();
    /// let t = std::thread::spawn(move || tx.send("ready").unwrap());
    /// assert_eq!(block_on(rx.recv_async()), Ok("ready"));
    /// t.join().unwrap();
    /// assert_eq!(block_on(rx.recv_async()), Err(conflate::RecvError));
    /// ```
    pub fn recv_async(&mut self) -> RecvFuture<'_, T> {
        RecvFuture {
            receiver: self,
            registered: false,
        }
    }

    /// One poll of a receive, for code that implements its own futures or
    /// streams: the same step a [`RecvFuture`] takes each time it is polled.
    ///
    /// Returns `Ready(Ok(value))` if a value waits, `Ready(Err(RecvError))`
    /// once every sender is gone and the last value was taken, and
    /// otherwise `Pending` with the context's waker registered: the next
    /// value or the close wakes it. A later poll with another waker
    /// replaces the registration, so only the newest waker is woken. A
    /// registration left behind when you stop polling is harmless: the next
    /// receive of any kind takes it back.
    ///
    /// With the `stream` feature, `Receiver` implements
    /// `futures_core::Stream` through this method.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::task::{Context, Poll, Waker};
    ///
    /// let (tx, mut rx) = conflate::channel();
    /// let mut cx = Context::from_waker(Waker::noop());
    /// assert!(rx.poll_recv(&mut cx).is_pending());
    /// tx.send(3).unwrap();
    /// assert_eq!(rx.poll_recv(&mut cx), Poll::Ready(Ok(3)));
    /// drop(tx);
    /// assert_eq!(rx.poll_recv(&mut cx), Poll::Ready(Err(conflate::RecvError)));
    /// ```
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Result<T, RecvError>> {
        // Only the receiver registers, and `&mut self` rules out a live
        // `RecvFuture` or `Select`: a registration in place is ours (left by
        // an earlier `Pending`, or by a leaked future) to take back.
        let mut registered = self.chan.peek().is_waiting();
        wait::poll_recv(&self.chan, &mut registered, cx)
    }

    /// A blocking iterator: each `next` is a [`recv`](Receiver::recv); it
    /// ends when the channel is disconnected and empty.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = conflate::channel();
    /// tx.send(1).unwrap();
    /// drop(tx);
    /// assert_eq!(rx.iter().collect::<Vec<_>>(), [1]);
    /// ```
    #[must_use = "iterators are lazy and do nothing unless consumed"]
    pub fn iter(&self) -> Iter<'_, T> {
        Iter { receiver: self }
    }

    /// A non-blocking iterator: each `next` is a
    /// [`try_recv`](Receiver::try_recv); it ends at the first empty or
    /// disconnected slot. Since the slot holds one value, it yields at most
    /// one value unless senders keep sending while it runs.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = conflate::channel();
    /// assert_eq!(rx.try_iter().count(), 0);
    /// tx.send(1).unwrap();
    /// tx.send(2).unwrap();
    /// assert_eq!(rx.try_iter().collect::<Vec<_>>(), [2]);
    /// ```
    #[must_use = "iterators are lazy and do nothing unless consumed"]
    pub fn try_iter(&self) -> TryIter<'_, T> {
        TryIter { receiver: self }
    }

    /// Returns `true` if no value is waiting now.
    ///
    /// The answer may be stale by the time it is used (a sender may have
    /// sent since).
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = conflate::channel();
    /// assert!(rx.is_empty());
    /// tx.send(()).unwrap();
    /// assert!(!rx.is_empty());
    /// ```
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.chan.peek().value().is_none()
    }

    /// Returns `true` if every sender is gone. A last value may still be
    /// waiting: receives return it before reporting disconnection.
    ///
    /// The answer may be stale: a `false` can turn `true` at any moment
    /// (never the reverse).
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = conflate::channel();
    /// tx.send(9).unwrap();
    /// drop(tx);
    /// assert!(rx.is_disconnected());
    /// assert_eq!(rx.recv(), Ok(9));
    /// ```
    #[must_use]
    pub fn is_disconnected(&self) -> bool {
        self.chan.peek().is_closed()
    }

    /// How many values `send` or `replace` displaced before the receiver
    /// took them.
    ///
    /// Never decreases. It counts every displacement by a call that
    /// returned before this one was made; one still in progress may not be
    /// counted yet.
    ///
    /// The count is a `u64`: it would wrap to zero only after 2^64
    /// displacements, over 500 years at one per nanosecond.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = conflate::channel();
    /// for i in 0..10 {
    ///     tx.send(i).unwrap();
    /// }
    /// assert_eq!(rx.recv(), Ok(9));
    /// assert_eq!(rx.overwritten(), 9);
    /// ```
    #[must_use]
    pub fn overwritten(&self) -> u64 {
        self.chan.overwritten()
    }
}

impl<T> Receiver<T> {
    /// How many values were displaced between the value received last and
    /// the one received before it (since the channel was made, for the
    /// first value): the values this receiver never saw.
    ///
    /// It is 0 before the first value, and only a receive that returns a
    /// value changes it. With sends that do not overlap in time (one
    /// producer thread, or producers that take turns), it is exact: after
    /// receiving `v` right after `u` from a producer sending 0, 1, 2, …,
    /// `skipped() == v - u - 1`, and over a whole run the `skipped()` of
    /// every value received plus the displacements since the last one add
    /// up to [`overwritten`](Receiver::overwritten).
    ///
    /// Use it to tell a flap from a repeat: a leader loop that receives
    /// `true` again with `skipped() > 0` knows leadership was lost and
    /// regained in between.
    ///
    /// # Sends that overlap
    ///
    /// Each send numbers its value with a load and a store (no atomic
    /// read-modify-write, so that `send` keeps its cost), and `skipped`
    /// is the gap between two numbers. When two sends from different
    /// threads run at the same instant, they can draw the same number or
    /// put their values in the other order; then one receive may count one
    /// displacement too few or too many (never a wrapped-around value: a
    /// number that does not advance counts as 0), and the sum over a run
    /// may then differ from `overwritten()`, which itself stays exact. See
    /// the crate docs' "Waiting on several channels" for why exactness for
    /// overlapping sends would cost `send` its wait-freedom.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = conflate::channel();
    /// assert_eq!(rx.skipped(), 0);
    /// for term in 0..5u64 {
    ///     tx.send(term).unwrap();
    /// }
    /// assert_eq!(rx.recv(), Ok(4));
    /// assert_eq!(rx.skipped(), 4); // 0, 1, 2 and 3 were displaced
    /// tx.send(5).unwrap();
    /// assert_eq!(rx.recv(), Ok(5));
    /// assert_eq!(rx.skipped(), 0); // nothing in between
    ///
    /// // Flap detection: `true` again, but with values in between.
    /// let (tx, rx) = conflate::channel();
    /// tx.send(true).unwrap();
    /// assert_eq!(rx.recv(), Ok(true));
    /// tx.send(false).unwrap(); // lost leadership...
    /// tx.send(true).unwrap(); // ...and regained it before we looked
    /// assert_eq!(rx.recv(), Ok(true));
    /// assert!(rx.skipped() > 0, "a flap, not a repeat");
    /// ```
    #[must_use]
    pub fn skipped(&self) -> u64 {
        self.chan.skipped()
    }

    /// The channel, for `Select`.
    pub(crate) fn chan(&self) -> &Chan<T> {
        &self.chan
    }

    /// Loom models only (this method does not exist in normal builds):
    /// whether a waiter registration, or a waiter in its cell, is left in
    /// this channel. Call it only after every other thread of the model is
    /// done with the channel.
    #[cfg(loom)]
    #[doc(hidden)]
    pub fn loom_waiter_left(&self) -> bool {
        self.chan.waiter_left()
    }
}

impl<T> Drop for Receiver<T> {
    /// Drops the value in the slot, if any, right away; later sends return
    /// their value in [`SendError`].
    ///
    /// A send racing this drop is ordered either before it (its value is
    /// dropped here) or after it (it gets its value back). To keep that
    /// clean, the drop waits for sends already past their first step to
    /// finish their swap: a few instructions of theirs, never the other way
    /// round (senders never wait for the receiver).
    fn drop(&mut self) {
        self.chan.close_receiver();
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver").finish_non_exhaustive()
    }
}

impl<T> IntoIterator for Receiver<T> {
    type Item = T;
    type IntoIter = IntoIter<T>;

    /// A blocking iterator that owns the receiver.
    fn into_iter(self) -> IntoIter<T> {
        IntoIter { receiver: self }
    }
}

impl<'a, T> IntoIterator for &'a Receiver<T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;

    /// Same as [`Receiver::iter`].
    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

/// With the `stream` feature: a `Receiver` is a stream of the values it
/// receives, ending (`None`) once every sender is gone and the last value
/// was taken. Each `poll_next` is a [`Receiver::poll_recv`]. `Receiver` is
/// `Unpin`, so `StreamExt::next` works on it directly.
///
/// # Examples
///
/// ```
/// # #[cfg(feature = "stream")] {
/// use futures_core::Stream;
/// use std::pin::Pin;
/// use std::task::{Context, Poll, Waker};
///
/// let (tx, mut rx) = conflate::channel();
/// let mut cx = Context::from_waker(Waker::noop());
/// tx.send("a").unwrap();
/// tx.send("b").unwrap(); // conflated: "a" is displaced
/// assert_eq!(Pin::new(&mut rx).poll_next(&mut cx), Poll::Ready(Some("b")));
/// assert!(Pin::new(&mut rx).poll_next(&mut cx).is_pending());
/// drop(tx);
/// assert_eq!(Pin::new(&mut rx).poll_next(&mut cx), Poll::Ready(None));
/// # }
/// ```
#[cfg(feature = "stream")]
impl<T> futures_core::Stream for Receiver<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.get_mut().poll_recv(cx).map(Result::ok)
    }
}

/// With the `stream` feature: the stream is terminated once every sender is
/// gone and the last value was taken (it then yields `None` at once, every
/// time).
#[cfg(feature = "stream")]
impl<T> futures_core::FusedStream for Receiver<T> {
    fn is_terminated(&self) -> bool {
        let word = self.chan.peek();
        word.is_closed() && word.value().is_none()
    }
}

/// The future returned by [`Receiver::recv_async`].
///
/// Polling takes the value if one is waiting; otherwise it registers the
/// task's waker (replacing the waker of an earlier poll, so the last waker
/// wins) and returns `Pending`. Polling again after it completed starts a
/// fresh receive, as if `recv_async` had been called again. Dropping it
/// withdraws its waker and loses no value.
///
/// # Examples
///
/// Poll it by hand with a no-op waker:
///
/// ```
/// use std::future::Future;
/// use std::task::{Context, Poll, Waker};
///
/// let (tx, mut rx) = conflate::channel();
/// let mut cx = Context::from_waker(Waker::noop());
/// let mut fut = rx.recv_async();
/// assert!(std::pin::Pin::new(&mut fut).poll(&mut cx).is_pending());
/// tx.send(1).unwrap();
/// assert_eq!(std::pin::Pin::new(&mut fut).poll(&mut cx), Poll::Ready(Ok(1)));
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct RecvFuture<'a, T> {
    receiver: &'a mut Receiver<T>,
    /// Whether this future's waker is registered in the channel.
    registered: bool,
}

impl<T> Future for RecvFuture<'_, T> {
    type Output = Result<T, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        wait::poll_recv(&this.receiver.chan, &mut this.registered, cx)
    }
}

impl<T> Drop for RecvFuture<'_, T> {
    fn drop(&mut self) {
        wait::cancel(&self.receiver.chan, self.registered);
    }
}

impl<T> fmt::Debug for RecvFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvFuture")
            .field("registered", &self.registered)
            .finish_non_exhaustive()
    }
}

/// Blocking iterator over received values, from [`Receiver::iter`].
///
/// Each `next` waits like [`Receiver::recv`]; `None` once every sender is
/// gone and the last value was taken.
///
/// # Examples
///
/// ```
/// let (tx, rx) = conflate::channel();
/// let t = std::thread::spawn(move || {
///     for i in 1..=3 {
///         tx.send(i).unwrap();
///     }
/// });
/// let got: Vec<i32> = rx.iter().collect();
/// t.join().unwrap();
/// assert_eq!(got.last(), Some(&3));
/// ```
#[must_use = "iterators are lazy and do nothing unless consumed"]
pub struct Iter<'a, T> {
    receiver: &'a Receiver<T>,
}

impl<T> Iterator for Iter<'_, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        self.receiver.recv().ok()
    }
}

impl<T> fmt::Debug for Iter<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Iter").finish_non_exhaustive()
    }
}

/// Non-blocking iterator, from [`Receiver::try_iter`]; ends at the first
/// empty or disconnected slot.
///
/// # Examples
///
/// ```
/// let (tx, rx) = conflate::channel();
/// tx.send(4).unwrap();
/// let mut it = rx.try_iter();
/// assert_eq!(it.next(), Some(4));
/// assert_eq!(it.next(), None);
/// ```
#[must_use = "iterators are lazy and do nothing unless consumed"]
pub struct TryIter<'a, T> {
    receiver: &'a Receiver<T>,
}

impl<T> Iterator for TryIter<'_, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        self.receiver.try_recv().ok()
    }
}

impl<T> fmt::Debug for TryIter<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TryIter").finish_non_exhaustive()
    }
}

/// Owning blocking iterator, from `Receiver::into_iter`.
///
/// # Examples
///
/// ```
/// let (tx, rx) = conflate::channel();
/// tx.send("only").unwrap();
/// drop(tx);
/// assert_eq!(rx.into_iter().collect::<Vec<_>>(), ["only"]);
/// ```
#[must_use = "iterators are lazy and do nothing unless consumed"]
pub struct IntoIter<T> {
    receiver: Receiver<T>,
}

impl<T> Iterator for IntoIter<T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        self.receiver.recv().ok()
    }
}

impl<T> fmt::Debug for IntoIter<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntoIter").finish_non_exhaustive()
    }
}
