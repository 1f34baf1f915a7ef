//! Error types, shaped like `std::sync::mpsc`'s and `crossbeam-channel`'s.

use std::error::Error;
use std::fmt;

/// The receiver is gone: the value of a [`send`] or [`replace`] comes back.
///
/// [`send`]: crate::Sender::send
/// [`replace`]: crate::Sender::replace
///
/// `Debug` does not require `T: Debug`, so `send(x).unwrap()` works for any
/// `T`.
///
/// # Examples
///
/// ```
/// let (tx, rx) = conflate::channel();
/// drop(rx);
/// let err = tx.send(String::from("late")).unwrap_err();
/// assert_eq!(err.to_string(), "sending on a closed channel");
/// assert_eq!(err.into_inner(), "late");
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SendError<T>(pub T);

impl<T> SendError<T> {
    /// Returns the value that could not be sent.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = conflate::channel();
    /// drop(rx);
    /// assert_eq!(tx.send(7).unwrap_err().into_inner(), 7);
    /// ```
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SendError { .. }")
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("sending on a closed channel")
    }
}

impl<T> Error for SendError<T> {}

/// Every sender is gone and no value is left: returned by [`recv`] and by
/// [`recv_async`]'s future.
///
/// [`recv`]: crate::Receiver::recv
/// [`recv_async`]: crate::Receiver::recv_async
///
/// # Examples
///
/// ```
/// use conflate::RecvError;
///
/// let (tx, rx) = conflate::channel::<u8>();
/// drop(tx);
/// assert_eq!(rx.recv(), Err(RecvError));
/// assert_eq!(RecvError.to_string(), "receiving on a closed channel");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecvError;

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("receiving on a closed channel")
    }
}

impl Error for RecvError {}

/// Why [`try_recv`] returned no value.
///
/// [`try_recv`]: crate::Receiver::try_recv
///
/// # Examples
///
/// ```
/// use conflate::TryRecvError;
///
/// let (tx, rx) = conflate::channel::<u8>();
/// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
/// drop(tx);
/// assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryRecvError {
    /// No value is waiting now, but a sender still exists.
    ///
    /// ```
    /// let (_tx, rx) = conflate::channel::<u8>();
    /// assert!(rx.try_recv().unwrap_err().is_empty());
    /// ```
    Empty,
    /// Every sender is gone and the last value (if any) was received.
    ///
    /// ```
    /// let (tx, rx) = conflate::channel::<u8>();
    /// drop(tx);
    /// assert!(rx.try_recv().unwrap_err().is_disconnected());
    /// ```
    Disconnected,
}

impl TryRecvError {
    /// `true` for [`TryRecvError::Empty`].
    ///
    /// ```
    /// assert!(conflate::TryRecvError::Empty.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        matches!(self, TryRecvError::Empty)
    }

    /// `true` for [`TryRecvError::Disconnected`].
    ///
    /// ```
    /// assert!(conflate::TryRecvError::Disconnected.is_disconnected());
    /// ```
    pub fn is_disconnected(&self) -> bool {
        matches!(self, TryRecvError::Disconnected)
    }
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryRecvError::Empty => f.write_str("receiving on an empty channel"),
            TryRecvError::Disconnected => f.write_str("receiving on a closed channel"),
        }
    }
}

impl Error for TryRecvError {}

impl From<RecvError> for TryRecvError {
    /// [`RecvError`] means the channel is closed and empty.
    fn from(_: RecvError) -> Self {
        TryRecvError::Disconnected
    }
}

/// Why [`recv_timeout`] or [`recv_deadline`] returned no value.
///
/// [`recv_timeout`]: crate::Receiver::recv_timeout
/// [`recv_deadline`]: crate::Receiver::recv_deadline
///
/// # Examples
///
/// ```
/// use conflate::RecvTimeoutError;
/// use std::time::Duration;
///
/// let (tx, rx) = conflate::channel::<u8>();
/// assert_eq!(rx.recv_timeout(Duration::ZERO), Err(RecvTimeoutError::Timeout));
/// drop(tx);
/// assert_eq!(rx.recv_timeout(Duration::ZERO), Err(RecvTimeoutError::Disconnected));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecvTimeoutError {
    /// The time ran out with no value. A value that arrives at the same
    /// moment stays in the channel for the next receive.
    ///
    /// ```
    /// let (_tx, rx) = conflate::channel::<u8>();
    /// let err = rx.recv_timeout(std::time::Duration::from_millis(1)).unwrap_err();
    /// assert!(err.is_timeout());
    /// ```
    Timeout,
    /// Every sender is gone and the last value (if any) was received.
    ///
    /// ```
    /// let (tx, rx) = conflate::channel::<u8>();
    /// drop(tx);
    /// let err = rx.recv_timeout(std::time::Duration::from_secs(1)).unwrap_err();
    /// assert!(err.is_disconnected());
    /// ```
    Disconnected,
}

impl RecvTimeoutError {
    /// `true` for [`RecvTimeoutError::Timeout`].
    ///
    /// ```
    /// assert!(conflate::RecvTimeoutError::Timeout.is_timeout());
    /// ```
    pub fn is_timeout(&self) -> bool {
        matches!(self, RecvTimeoutError::Timeout)
    }

    /// `true` for [`RecvTimeoutError::Disconnected`].
    ///
    /// ```
    /// assert!(conflate::RecvTimeoutError::Disconnected.is_disconnected());
    /// ```
    pub fn is_disconnected(&self) -> bool {
        matches!(self, RecvTimeoutError::Disconnected)
    }
}

impl fmt::Display for RecvTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecvTimeoutError::Timeout => f.write_str("timed out waiting on a channel"),
            RecvTimeoutError::Disconnected => f.write_str("receiving on a closed channel"),
        }
    }
}

impl Error for RecvTimeoutError {}

impl From<RecvError> for RecvTimeoutError {
    /// [`RecvError`] means the channel is closed and empty.
    fn from(_: RecvError) -> Self {
        RecvTimeoutError::Disconnected
    }
}

/// No watched receiver was ready: returned by [`Select::try_ready`].
///
/// Like crossbeam-channel's `TrySelectError`. Also returned when the
/// `Select` watches nothing.
///
/// [`Select::try_ready`]: crate::Select::try_ready
///
/// # Examples
///
/// ```
/// use conflate::{Select, TryReadyError};
///
/// let (_tx, rx) = conflate::channel::<u8>();
/// let mut sel = Select::new();
/// sel.recv(&rx);
/// assert_eq!(sel.try_ready(), Err(TryReadyError));
/// assert_eq!(TryReadyError.to_string(), "no receiver was ready");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TryReadyError;

impl fmt::Display for TryReadyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no receiver was ready")
    }
}

impl Error for TryReadyError {}

/// No watched receiver became ready before the deadline: returned by
/// [`Select::ready_timeout`] and [`Select::ready_deadline`].
///
/// Like crossbeam-channel's `ReadyTimeoutError`. Nothing is lost: a value
/// that raced the deadline stays in its channel.
///
/// [`Select::ready_timeout`]: crate::Select::ready_timeout
/// [`Select::ready_deadline`]: crate::Select::ready_deadline
///
/// # Examples
///
/// ```
/// use conflate::{ReadyTimeoutError, Select};
/// use std::time::Duration;
///
/// let (_tx, rx) = conflate::channel::<u8>();
/// let mut sel = Select::new();
/// sel.recv(&rx);
/// assert_eq!(sel.ready_timeout(Duration::from_millis(1)), Err(ReadyTimeoutError));
/// assert_eq!(ReadyTimeoutError.to_string(), "timed out waiting for a ready receiver");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadyTimeoutError;

impl fmt::Display for ReadyTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("timed out waiting for a ready receiver")
    }
}

impl Error for ReadyTimeoutError {}
