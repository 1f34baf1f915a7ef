//! `Select`: one thread waits on several conflate receivers at once.
//!
//! The thread registers a clone of its `Thread` handle in the waiter cell of
//! every watched channel (the same cell and the same protocol a blocking
//! `recv` uses, see `slot.rs` and `waiter.rs`), so a sender's publishing
//! swap claims the registration and unparks it exactly as it would wake a
//! plain receive: senders neither know nor care that a `Select` waits. When
//! the wait ends, the thread takes back every registration that nobody
//! claimed. The spin, yield and park loops are the ones `recv` runs
//! (`wait.rs`).

use std::fmt;
use std::time::{Duration, Instant};

use crate::chan::Receiver;
use crate::error::{ReadyTimeoutError, TryReadyError};
use crate::slot::Chan;
use crate::sync::{self, Thread};
use crate::wait::{self, TimedOut, WaitSet};
use crate::waiter::Waiter;

/// Waits on several [`Receiver`]s at once and says which one is ready.
///
/// Add receivers with [`recv`](Select::recv), which returns each one's
/// index (0, 1, 2, … in the order added), then call
/// [`ready`](Select::ready), [`ready_timeout`](Select::ready_timeout),
/// [`ready_deadline`](Select::ready_deadline) or
/// [`try_ready`](Select::try_ready): each returns the index of a *ready*
/// receiver, one whose next [`try_recv`](Receiver::try_recv) will not say
/// `Empty`, because a value waits in its slot or because it is disconnected
/// with nothing left. Then receive from that receiver yourself. Nothing is
/// taken out of any channel by `Select`.
///
/// Readiness is level-triggered, as in crossbeam-channel's `Select::ready`:
/// a disconnected receiver stays ready until you [`remove`](Select::remove)
/// it. When several are ready the choice is fair: one that stays ready is
/// chosen within as many calls as there are watched receivers (the scan
/// starts after the index chosen last).
///
/// Senders never wait on a `Select`, and a receiver can be watched by
/// several `Select`s (on its thread) and used on its own between calls. A
/// blocked `ready` spins briefly, then parks, like [`Receiver::recv`].
///
/// `Select` is not `Send`: it holds the receivers by shared reference, and a
/// [`Receiver`] is not `Sync`.
///
/// # Examples
///
/// A leader loop in the style of Nomad's `monitorLeadership`: leadership
/// changes, a shutdown channel closed by dropping its sender, and a periodic
/// deadline.
///
/// ```
/// use conflate::Select;
/// use std::thread;
/// use std::time::{Duration, Instant};
///
/// let (leader_tx, leader_rx) = conflate::channel::<bool>();
/// let (shutdown_tx, shutdown_rx) = conflate::channel::<()>();
///
/// let raft = thread::spawn(move || {
///     leader_tx.send(true).unwrap();
///     thread::sleep(Duration::from_millis(5));
///     leader_tx.send(false).unwrap();
///     drop(shutdown_tx); // closing the shutdown channel stops the loop
/// });
///
/// let mut sel = Select::new();
/// let leadership = sel.recv(&leader_rx);
/// let shutdown = sel.recv(&shutdown_rx);
/// let mut last_state = None;
/// let mut tick = Instant::now() + Duration::from_millis(50);
/// loop {
///     match sel.ready_deadline(tick) {
///         Ok(i) if i == leadership => match leader_rx.try_recv() {
///             Ok(leader) => last_state = Some(leader),
///             Err(_) => {
///                 sel.remove(leadership); // raft is gone: stop watching
///             }
///         },
///         Ok(i) if i == shutdown => break, // disconnected: shut down
///         Ok(_) => unreachable!(),
///         Err(_) => tick += Duration::from_millis(50), // periodic work here
///     }
/// }
/// raft.join().unwrap();
/// // Shutdown may win the race with the last leadership value; that value
/// // is still there (a conflate channel delivers it before its close).
/// if let Ok(leader) = leader_rx.try_recv() {
///     last_state = Some(leader);
/// }
/// assert_eq!(last_state, Some(false));
/// ```
pub struct Select<'a> {
    /// Watched channels by index; `None` once removed (indices stay put).
    watched: Vec<Option<&'a dyn Watch>>,
    /// How many entries of `watched` are `Some`.
    live: usize,
    /// Where the next scan starts: one past the index chosen last.
    next: usize,
}

impl<'a> Select<'a> {
    /// An empty `Select`, watching nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut sel = conflate::Select::new();
    /// assert!(sel.try_ready().is_err()); // nothing watched, nothing ready
    /// ```
    #[must_use]
    pub fn new() -> Select<'a> {
        Select {
            watched: Vec::new(),
            live: 0,
            next: 0,
        }
    }

    /// Starts watching `rx` and returns its index: 0 for the first receiver
    /// added, then 1, 2, … Indices of removed receivers are not reused.
    ///
    /// This is the only `Select` method that may allocate (the list of
    /// watched receivers grows); waiting allocates nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// let (_a_tx, a) = conflate::channel::<u8>();
    /// let (_b_tx, b) = conflate::channel::<String>();
    /// let mut sel = conflate::Select::new();
    /// assert_eq!(sel.recv(&a), 0);
    /// assert_eq!(sel.recv(&b), 1); // receivers of different types mix
    /// ```
    pub fn recv<T>(&mut self, rx: &'a Receiver<T>) -> usize {
        let chan: &'a Chan<T> = rx.chan();
        self.watched.push(Some(chan));
        self.live += 1;
        self.watched.len() - 1
    }

    /// Stops watching the receiver at `index`. Other indices stay as they
    /// are.
    ///
    /// # Panics
    ///
    /// If `index` was never returned by [`recv`](Select::recv) or was
    /// already removed (as crossbeam-channel's `Select::remove` does).
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, a) = conflate::channel::<u8>();
    /// let (_keep, b) = conflate::channel::<u8>();
    /// let mut sel = conflate::Select::new();
    /// let ia = sel.recv(&a);
    /// let ib = sel.recv(&b);
    /// drop(tx); // `a` is now disconnected, so ready for good...
    /// assert_eq!(sel.try_ready(), Ok(ia));
    /// sel.remove(ia); // ...until removed
    /// assert!(sel.try_ready().is_err());
    /// assert_eq!(sel.recv(&a), 2, "indices are not reused");
    /// # let _ = ib;
    /// ```
    pub fn remove(&mut self, index: usize) {
        match self.watched.get_mut(index) {
            Some(entry @ Some(_)) => {
                *entry = None;
                self.live -= 1;
            }
            Some(None) => panic!("Select::remove: index {index} was already removed"),
            None => panic!(
                "Select::remove: no receiver was added with index {index} ({} added)",
                self.watched.len()
            ),
        }
    }

    /// Returns the index of a ready receiver without waiting.
    ///
    /// # Errors
    ///
    /// [`TryReadyError`] if no watched receiver is ready (or none is
    /// watched).
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = conflate::channel();
    /// let mut sel = conflate::Select::new();
    /// let i = sel.recv(&rx);
    /// assert!(sel.try_ready().is_err());
    /// tx.send(5).unwrap();
    /// assert_eq!(sel.try_ready(), Ok(i));
    /// assert_eq!(rx.try_recv(), Ok(5)); // never Empty right after
    /// ```
    pub fn try_ready(&mut self) -> Result<usize, TryReadyError> {
        self.attempt().ok_or(TryReadyError)
    }

    /// Blocks until a watched receiver is ready and returns its index.
    ///
    /// A value or a close arriving on any watched receiver while this
    /// blocks wakes it.
    ///
    /// # Panics
    ///
    /// If no receiver is watched: it would block forever (crossbeam-channel
    /// panics in the same case).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::thread;
    ///
    /// let (tx_a, a) = conflate::channel::<&str>();
    /// let (tx_b, b) = conflate::channel::<u64>();
    /// let mut sel = conflate::Select::new();
    /// let ia = sel.recv(&a);
    /// let ib = sel.recv(&b);
    /// let t = thread::spawn(move || tx_b.send(7).unwrap());
    /// assert_eq!(sel.ready(), ib);
    /// assert_eq!(b.try_recv(), Ok(7));
    /// t.join().unwrap();
    /// # drop((tx_a, ia));
    /// ```
    pub fn ready(&mut self) -> usize {
        assert!(
            self.live > 0,
            "Select::ready with no receiver watched would block forever"
        );
        match wait::wait(self, None) {
            Ok(index) => index,
            Err(TimedOut) => unreachable!("a wait without deadline timed out"),
        }
    }

    /// Waits at most `timeout` for a watched receiver to be ready.
    ///
    /// A zero timeout is a [`try_ready`](Select::try_ready); a timeout too
    /// large to add to `Instant::now()` (such as `Duration::MAX`) waits
    /// without limit.
    ///
    /// # Errors
    ///
    /// [`ReadyTimeoutError`] if none became ready in time (with nothing
    /// watched, once the time is up). A value that raced the timeout stays
    /// in its channel, and every receiver works on its own afterwards.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let (tx, rx) = conflate::channel();
    /// let mut sel = conflate::Select::new();
    /// let i = sel.recv(&rx);
    /// assert!(sel.ready_timeout(Duration::from_millis(1)).is_err());
    /// tx.send("late").unwrap();
    /// assert_eq!(sel.ready_timeout(Duration::from_secs(1)), Ok(i));
    /// assert_eq!(rx.recv(), Ok("late"));
    /// ```
    pub fn ready_timeout(&mut self, timeout: Duration) -> Result<usize, ReadyTimeoutError> {
        self.ready_until(Instant::now().checked_add(timeout))
    }

    /// Waits until `deadline` for a watched receiver to be ready.
    ///
    /// A deadline in the past makes it a [`try_ready`](Select::try_ready).
    ///
    /// # Errors
    ///
    /// As [`ready_timeout`](Select::ready_timeout).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    ///
    /// let (tx, rx) = conflate::channel::<()>();
    /// let mut sel = conflate::Select::new();
    /// let i = sel.recv(&rx);
    /// let soon = Instant::now() + Duration::from_millis(2);
    /// assert!(sel.ready_deadline(soon).is_err());
    /// drop(tx); // disconnected and empty: ready
    /// assert_eq!(sel.ready_deadline(Instant::now()), Ok(i));
    /// ```
    pub fn ready_deadline(&mut self, deadline: Instant) -> Result<usize, ReadyTimeoutError> {
        self.ready_until(Some(deadline))
    }

    /// `ready_timeout` and `ready_deadline`; `None` waits without limit.
    fn ready_until(&mut self, deadline: Option<Instant>) -> Result<usize, ReadyTimeoutError> {
        if self.live == 0 {
            sleep_until(deadline);
            return Err(ReadyTimeoutError);
        }
        wait::wait(self, deadline).map_err(|TimedOut| ReadyTimeoutError)
    }

    /// The watched channels with their indices.
    fn live(&self) -> impl Iterator<Item = (usize, &'a dyn Watch)> + '_ {
        (self.watched.iter().enumerate()).filter_map(|(i, w)| w.map(|w| (i, w)))
    }
}

/// With nothing watched, a timed wait just waits out its deadline (and an
/// endless one never returns, as the contract asks).
fn sleep_until(deadline: Option<Instant>) {
    loop {
        match deadline {
            None => sync::park(),
            Some(deadline) => {
                if sync::park_until(deadline) {
                    return;
                }
            }
        }
    }
}

impl WaitSet for Select<'_> {
    type Output = usize;

    /// One fair scan: from one past the index chosen last, wrapping around.
    fn attempt(&mut self) -> Option<usize> {
        let n = self.watched.len();
        for offset in 0..n {
            let index = (self.next + offset) % n;
            if let Some(watch) = self.watched[index]
                && watch.is_ready()
            {
                self.next = (index + 1) % n;
                return Some(index);
            }
        }
        None
    }

    fn looks_ready(&self) -> bool {
        self.live().any(|(_, w)| w.is_ready())
    }

    fn register(&mut self, me: &Thread) -> bool {
        for (registered, (_, watch)) in self.live().enumerate() {
            if !watch.register(Waiter::Thread(me.clone())) {
                // Something arrived here: take back the ones before it.
                for (_, earlier) in self.live().take(registered) {
                    earlier.unregister();
                }
                return false;
            }
        }
        true
    }

    fn any_claimed(&self) -> bool {
        self.live().any(|(_, w)| !w.is_waiting())
    }

    fn unregister_all(&mut self) -> bool {
        let mut none_claimed = true;
        for (_, watch) in self.live() {
            // Not short-circuiting: every registration must be taken back.
            none_claimed &= watch.unregister();
        }
        none_claimed
    }
}

impl Default for Select<'_> {
    /// Same as [`Select::new`].
    fn default() -> Self {
        Select::new()
    }
}

impl fmt::Debug for Select<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Select")
            .field("watched", &self.live)
            .field("added", &self.watched.len())
            .finish_non_exhaustive()
    }
}

/// A channel as `Select` sees it, whatever its value type. Each method is
/// one of the receiver's own operations on its channel.
pub(crate) trait Watch {
    /// A value waits, or the channel is closed with nothing left.
    fn is_ready(&self) -> bool;
    /// Registers `waiter` (see `Chan::register`); `false` if a value or
    /// the close got in first.
    fn register(&self, waiter: Waiter) -> bool;
    /// Our registration is in place and unclaimed.
    fn is_waiting(&self) -> bool;
    /// Takes the registration back; `false` if it was claimed (or none).
    fn unregister(&self) -> bool;
}

impl<T> Watch for Chan<T> {
    fn is_ready(&self) -> bool {
        let word = self.peek();
        word.value().is_some() || word.is_closed()
    }

    fn register(&self, waiter: Waiter) -> bool {
        Chan::register(self, waiter).is_ok()
    }

    fn is_waiting(&self) -> bool {
        self.peek().is_waiting()
    }

    fn unregister(&self) -> bool {
        Chan::unregister(self)
    }
}
