//! Single-threaded differential check: a fuzzer-chosen script of calls runs
//! on the real channel and on a sequential one-slot model, and every result
//! and every value's fate is compared after each step.
//!
//! The model also keeps `skipped()` (API.md rule 11: the displacements
//! between the last two values taken, exact on one thread) and compares it
//! after every step, so a receive that returns a value must set it and one
//! that fails must leave it alone; and it answers `Select` calls (rule 10:
//! ready iff a value waits or the channel is closed and empty).
//!
//! Publisher operations drive a `Publisher` of their own next to the
//! channel, checked against a model of the latest value and of each
//! subscriber's slot (see `publisher_ops.rs`, API.md rule 12).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use arbitrary::{Arbitrary, Unstructured};
use conflate::{
    ReadyTimeoutError, Receiver, RecvError, RecvTimeoutError, Select, SendError, Sender,
    TryReadyError, TryRecvError, channel,
};

use super::ledger::{CountingWaker, Fate, IntendedDropPanic, Ledger, Tracked, block_on};
use super::publisher_ops::{PubHarness, PubOp};
use super::take_all;

/// Longest script run per input, so one input stays in the milliseconds.
const MAX_OPS: usize = 512;
/// Longest script run while a `RecvFuture` is alive.
const MAX_ASYNC_OPS: usize = 32;
/// Most senders alive at once (clones beyond it are skipped).
const MAX_SENDERS: usize = 16;

/// Decoded input: two flags, then operations until the data runs out.
#[derive(Debug)]
struct Script {
    /// Compare `is_empty`, `is_disconnected` (both sides) and `overwritten`
    /// with the model after every step, not only when the script asks.
    observe_every_step: bool,
    /// At the end, drop the receiver before the senders (else after).
    receiver_dropped_first: bool,
    ops: Vec<Op>,
}

impl Script {
    fn decode(data: &[u8]) -> Option<Self> {
        let mut u = Unstructured::new(data);
        Some(Script {
            observe_every_step: bool::arbitrary(&mut u).ok()?,
            receiver_dropped_first: bool::arbitrary(&mut u).ok()?,
            ops: take_all(&mut u, MAX_OPS),
        })
    }
}

#[derive(Arbitrary, Debug)]
enum Op {
    /// `send` a fresh value; a `panicky` one panics in `Drop` if a later
    /// `send` displaces it.
    Send {
        sender: u8,
        panicky: bool,
    },
    Replace {
        sender: u8,
    },
    TryRecv,
    RecvTimeoutZero,
    RecvDeadlineNow,
    RecvDeadlinePast,
    /// `recv_timeout` with a real but tiny wait (at most 2 µs).
    RecvTimeoutTiny {
        nanos: u16,
    },
    /// A blocking receive, only run when the model says it cannot block.
    RecvReady(ReadyRecv),
    TryIter,
    /// `iter()` to its end, only run when no sender is left.
    IterToEnd,
    /// `into_iter()` on the receiver (which it consumes): to the end when
    /// no sender is left, else one value when the model has one.
    IntoIter,
    CloneSender {
        sender: u8,
    },
    DropSender {
        sender: u8,
    },
    DropReceiver,
    IsEmpty,
    ReceiverIsDisconnected,
    SenderIsDisconnected {
        sender: u8,
    },
    Overwritten,
    SameChannel {
        a: u8,
        b: u8,
    },
    /// `same_channel` against a sender of another channel.
    SameChannelOther {
        sender: u8,
    },
    Debug,
    /// Make a `RecvFuture` and run a sub-script while it is alive.
    Async(Vec<AsyncOp>),
    /// Ask a fresh `Select` which receiver is ready.
    Select {
        how: SelectHow,
        watched: Watched,
    },
    /// An operation on the script's `Publisher` and its subscribers.
    Publisher(PubOp),
}

/// How the `Select` is asked.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum SelectHow {
    TryReady,
    ReadyTimeoutZero,
    ReadyDeadlineNow,
    ReadyDeadlinePast,
    /// `ready_timeout` with a real but tiny wait (at most 2 µs).
    ReadyTimeoutTiny {
        nanos: u16,
    },
    /// `ready`, only run when the model says it cannot block.
    Ready,
    /// `ready_timeout(Duration::MAX)`, same condition.
    ReadyTimeoutMax,
}

/// What the `Select` watches. The other channel never gets a value and
/// keeps its sender, so it is never ready.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Watched {
    Receiver,
    OtherThenReceiver,
    ReceiverTwice,
    /// The receiver, removed again: nothing is watched.
    Removed,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum ReadyRecv {
    Recv,
    TimeoutMax,
    DeadlineFar,
    IterNext,
    RefIntoIterNext,
    BlockOnAsync,
}

#[derive(Arbitrary, Debug)]
enum AsyncOp {
    /// Poll the future with waker 0 or 1.
    Poll {
        second_waker: bool,
    },
    Send {
        sender: u8,
    },
    Replace {
        sender: u8,
    },
    CloneSender {
        sender: u8,
    },
    DropSender {
        sender: u8,
    },
}

/// What a receive reported, with the value already retired to its id.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum Got {
    Value(usize),
    /// `Empty` or `Timeout`: nothing now, senders remain.
    Nothing,
    Disconnected,
}

/// The sequential specification plus the expected fate of every value.
struct Model {
    ledger: Arc<Ledger>,
    next_id: usize,
    panicky: Vec<bool>,
    /// Id of the value in the slot.
    slot: Option<usize>,
    senders: usize,
    receiver_alive: bool,
    overwritten: u64,
    /// Displacements since the receiver last took a value.
    displaced_since_take: u64,
    /// `skipped()`: `displaced_since_take` when the last value was taken.
    skipped: u64,
    expected: Vec<Fate>,
    events: u64,
    /// Ids whose fate changed in the current step.
    touched: Vec<usize>,
    step: usize,
}

impl Model {
    fn fresh(&mut self, panicky: bool) -> Tracked {
        let id = self.next_id;
        self.next_id += 1;
        self.panicky.push(panicky);
        self.ledger.value(id, panicky)
    }

    fn expect_drop(&mut self, id: usize) {
        self.expected[id].dropped[0] += 1;
        self.events += 1;
        self.touched.push(id);
    }

    /// Retires a value the channel handed back, after checking its id.
    fn returned(&mut self, value: Tracked, expected: usize, what: &str) {
        let id = value.retire();
        assert_eq!(
            id, expected,
            "step {}: {what} handed back the wrong value",
            self.step
        );
        self.expected[id].returned += 1;
        self.events += 1;
        self.touched.push(id);
    }

    /// A value displaced from the slot (rule 7, and rule 11's count).
    fn displaced(&mut self) {
        self.overwritten += 1;
        self.displaced_since_take += 1;
    }

    /// The receiver takes the value in the slot, if any (rule 11).
    fn take(&mut self) -> Option<usize> {
        let id = self.slot.take()?;
        self.skipped = self.displaced_since_take;
        self.displaced_since_take = 0;
        Some(id)
    }

    /// The model's answer to a non-blocking receive (rules 1 and 4).
    fn receive(&mut self) -> Got {
        match self.take() {
            Some(id) => Got::Value(id),
            None if self.senders == 0 => Got::Disconnected,
            None => Got::Nothing,
        }
    }

    /// Rule 10: would a `Select` watching the receiver call it ready?
    fn ready(&self) -> bool {
        self.slot.is_some() || self.senders == 0
    }

    /// Compares a real receive with the model's and retires the value.
    fn check_receive(&mut self, got: Result<Tracked, Got>, what: &str) {
        let want = self.receive();
        match (got, want) {
            (Ok(value), Got::Value(id)) => self.returned(value, id, what),
            (Ok(value), want) => panic!(
                "step {}: {what} returned {value:?}, model says {want:?}",
                self.step
            ),
            (Err(got), want) => {
                assert_eq!(got, want, "step {}: {what}", self.step);
            }
        }
    }

    /// Compares every counter and the fate of each touched value.
    fn check_ledger(&mut self) {
        assert_eq!(
            self.ledger.events(),
            self.events,
            "step {}: values dropped or returned that the model did not expect (touched {:?})",
            self.step,
            self.touched
        );
        for &id in &self.touched {
            let fate = self.ledger.fate(id);
            assert_eq!(
                (fate.drops(), fate.returned),
                (self.expected[id].drops(), self.expected[id].returned),
                "step {}: fate of value {id} (drops, returns)",
                self.step
            );
        }
        self.touched.clear();
    }
}

fn try_recv_got(r: Result<Tracked, TryRecvError>) -> Result<Tracked, Got> {
    r.map_err(|e| {
        assert_eq!(e.is_empty(), e == TryRecvError::Empty);
        assert_eq!(e.is_disconnected(), e == TryRecvError::Disconnected);
        match e {
            TryRecvError::Empty => Got::Nothing,
            TryRecvError::Disconnected => Got::Disconnected,
        }
    })
}

fn timeout_got(r: Result<Tracked, RecvTimeoutError>) -> Result<Tracked, Got> {
    r.map_err(|e| {
        assert_eq!(e.is_timeout(), e == RecvTimeoutError::Timeout);
        assert_eq!(e.is_disconnected(), e == RecvTimeoutError::Disconnected);
        match e {
            RecvTimeoutError::Timeout => Got::Nothing,
            RecvTimeoutError::Disconnected => Got::Disconnected,
        }
    })
}

fn recv_got(r: Result<Tracked, RecvError>) -> Result<Tracked, Got> {
    r.map_err(|e| {
        assert_eq!(TryRecvError::from(e), TryRecvError::Disconnected);
        assert_eq!(RecvTimeoutError::from(e), RecvTimeoutError::Disconnected);
        Got::Disconnected
    })
}

fn pick(len: usize, i: u8) -> Option<usize> {
    (len > 0).then(|| usize::from(i) % len)
}

/// `send` on sender `i` (if any), compared with the model, including the
/// panicking-`Drop` case: the send must still take effect.
fn send(model: &mut Model, txs: &[Sender<Tracked>], i: u8, panicky: bool) {
    let Some(i) = pick(txs.len(), i) else { return };
    let value = model.fresh(panicky);
    let id = value.id();
    let displaced = if model.receiver_alive {
        model.slot
    } else {
        None
    };
    let expect_panic = displaced.is_some_and(|old| model.panicky[old]);
    model.ledger.arm(expect_panic);
    let result = catch_unwind(AssertUnwindSafe(|| txs[i].send(value)));
    model.ledger.arm(false);
    if !model.receiver_alive {
        match result {
            Ok(Err(SendError(value))) => model.returned(value, id, "send's SendError"),
            Ok(Ok(())) => panic!(
                "step {}: send succeeded after the receiver was dropped",
                model.step
            ),
            Err(_) => panic!("step {}: send panicked with no value to drop", model.step),
        }
        return;
    }
    match result {
        Ok(Ok(())) => assert!(
            !expect_panic,
            "step {}: displacing a panicky value did not panic",
            model.step
        ),
        Ok(Err(e)) => panic!(
            "step {}: send failed with the receiver alive: {e:?}",
            model.step
        ),
        Err(payload) => {
            assert!(
                expect_panic && payload.is::<IntendedDropPanic>(),
                "step {}: send panicked unexpectedly",
                model.step
            );
        }
    }
    if let Some(old) = displaced {
        model.expect_drop(old);
        model.displaced();
    }
    model.slot = Some(id);
}

fn replace(model: &mut Model, txs: &[Sender<Tracked>], i: u8) {
    let Some(i) = pick(txs.len(), i) else { return };
    let value = model.fresh(false);
    let id = value.id();
    match (txs[i].replace(value), model.receiver_alive) {
        (Err(e), false) => {
            let value = if id & 1 == 0 { e.into_inner() } else { e.0 };
            model.returned(value, id, "replace's SendError");
        }
        (Ok(old), true) => match (old, model.slot.replace(id)) {
            (None, None) => {}
            (Some(value), Some(want)) => {
                model.displaced();
                model.returned(value, want, "replace");
            }
            (old, want) => panic!(
                "step {}: replace returned {old:?}, model has {want:?} in the slot",
                model.step
            ),
        },
        (Ok(_), false) => panic!(
            "step {}: replace succeeded after the receiver was dropped",
            model.step
        ),
        (Err(e), true) => panic!(
            "step {}: replace failed with the receiver alive: {e:?}",
            model.step
        ),
    }
}

fn clone_sender(model: &mut Model, txs: &mut Vec<Sender<Tracked>>, i: u8) {
    let Some(i) = pick(txs.len(), i) else { return };
    if txs.len() >= MAX_SENDERS {
        return;
    }
    let tx = txs[i].clone();
    assert!(
        tx.same_channel(&txs[i]),
        "step {}: a clone is on another channel",
        model.step
    );
    txs.push(tx);
    model.senders += 1;
}

fn drop_sender(model: &mut Model, txs: &mut Vec<Sender<Tracked>>, i: u8) {
    let Some(i) = pick(txs.len(), i) else { return };
    drop(txs.swap_remove(i));
    model.senders -= 1;
}

struct Harness {
    model: Model,
    txs: Vec<Sender<Tracked>>,
    rx: Option<Receiver<Tracked>>,
    other_tx: Sender<Tracked>,
    other_rx: Receiver<Tracked>,
    publisher: PubHarness,
}

impl Harness {
    fn observe(&self) {
        let m = &self.model;
        if let Some(rx) = &self.rx {
            assert_eq!(rx.is_empty(), m.slot.is_none(), "step {}: is_empty", m.step);
            assert_eq!(
                rx.is_disconnected(),
                m.senders == 0,
                "step {}: Receiver::is_disconnected",
                m.step
            );
            assert_eq!(
                rx.overwritten(),
                m.overwritten,
                "step {}: overwritten",
                m.step
            );
        }
        self.check_skipped();
        for tx in &self.txs {
            assert_eq!(
                tx.is_disconnected(),
                !m.receiver_alive,
                "step {}: Sender::is_disconnected",
                m.step
            );
        }
    }

    /// Rule 11, after every step: only a receive that returned a value may
    /// have changed `skipped()`, and it must match the model.
    fn check_skipped(&self) {
        if let Some(rx) = &self.rx {
            assert_eq!(
                rx.skipped(),
                self.model.skipped,
                "step {}: skipped",
                self.model.step
            );
        }
    }

    fn run(&mut self, op: Op) {
        let model = &mut self.model;
        let txs = &mut self.txs;
        match op {
            Op::Send { sender, panicky } => send(model, txs, sender, panicky),
            Op::Replace { sender } => replace(model, txs, sender),
            Op::CloneSender { sender } => clone_sender(model, txs, sender),
            Op::DropSender { sender } => drop_sender(model, txs, sender),
            Op::SenderIsDisconnected { sender } => {
                if let Some(i) = pick(txs.len(), sender) {
                    assert_eq!(
                        txs[i].is_disconnected(),
                        !model.receiver_alive,
                        "step {}",
                        model.step
                    );
                }
            }
            Op::SameChannel { a, b } => {
                if let (Some(a), Some(b)) = (pick(txs.len(), a), pick(txs.len(), b)) {
                    assert!(
                        txs[a].same_channel(&txs[b]),
                        "step {}: same_channel",
                        model.step
                    );
                }
            }
            Op::SameChannelOther { sender } => {
                if let Some(i) = pick(txs.len(), sender) {
                    assert!(
                        !txs[i].same_channel(&self.other_tx),
                        "step {}: same_channel",
                        model.step
                    );
                    assert!(
                        !self.other_tx.same_channel(&txs[i]),
                        "step {}: same_channel",
                        model.step
                    );
                }
            }
            Op::Debug => {
                for tx in txs.iter() {
                    assert!(!format!("{tx:?}").is_empty());
                }
                if let Some(rx) = &self.rx {
                    assert!(!format!("{rx:?}").is_empty());
                    assert!(!format!("{:?}", rx.try_iter()).is_empty());
                    assert!(!format!("{:?}", rx.iter()).is_empty());
                }
            }
            Op::DropReceiver => {
                if let Some(rx) = self.rx.take() {
                    drop(rx);
                    model.receiver_alive = false;
                    if let Some(id) = model.slot.take() {
                        model.expect_drop(id);
                    }
                }
            }
            Op::IntoIter => {
                let Some(rx) = self.rx.take() else { return };
                let mut iter = rx.into_iter();
                if model.senders == 0 {
                    let want: Vec<usize> = model.take().into_iter().collect();
                    let got: Vec<usize> = iter.by_ref().map(Tracked::retire).collect();
                    assert_eq!(
                        got, want,
                        "step {}: into_iter after the last sender",
                        model.step
                    );
                    for id in got {
                        model.expected[id].returned += 1;
                        model.events += 1;
                        model.touched.push(id);
                    }
                    assert!(
                        iter.next().is_none(),
                        "step {}: IntoIter restarted",
                        model.step
                    );
                } else if let Some(want) = model.take() {
                    let value = iter.next().expect("into_iter with a value waiting");
                    model.returned(value, want, "into_iter");
                }
                drop(iter);
                model.receiver_alive = false;
                if let Some(id) = model.slot.take() {
                    model.expect_drop(id);
                }
            }
            Op::Async(script) => self.run_async(script),
            Op::Publisher(op) => self.publisher.run(op, model.step),
            Op::Select { how, watched } => {
                if let Some(rx) = &self.rx {
                    run_select(model, rx, &self.other_rx, how, watched);
                }
            }
            op => {
                let Some(rx) = self.rx.as_mut() else { return };
                run_receive(model, rx, op);
            }
        }
    }

    fn run_async(&mut self, script: Vec<AsyncOp>) {
        let Some(rx) = self.rx.as_mut() else { return };
        let model = &mut self.model;
        let txs = &mut self.txs;
        let wakers: [Arc<CountingWaker>; 2] = Default::default();
        // The waker of the last poll that returned `Pending`, with its wake
        // count at that time: the channel owes it a wake-up when a value
        // arrives or the last sender leaves.
        let mut registered: Option<(usize, usize)> = None;
        let mut future = pin!(rx.recv_async());
        for op in script.into_iter().take(MAX_ASYNC_OPS) {
            model.step += 1;
            match op {
                AsyncOp::Poll { second_waker } => {
                    let w = usize::from(second_waker);
                    let waker = Waker::from(Arc::clone(&wakers[w]));
                    let poll = future.as_mut().poll(&mut Context::from_waker(&waker));
                    let want = model.receive();
                    registered = None;
                    match (poll, want) {
                        (Poll::Ready(Ok(value)), Got::Value(id)) => {
                            model.returned(value, id, "RecvFuture")
                        }
                        (Poll::Ready(Err(RecvError)), Got::Disconnected) => {}
                        (Poll::Pending, Got::Nothing) => registered = Some((w, wakers[w].count())),
                        (poll, want) => panic!(
                            "step {}: RecvFuture polled {poll:?}, model says {want:?}",
                            model.step
                        ),
                    }
                }
                AsyncOp::Send { sender } => send(model, txs, sender, false),
                AsyncOp::Replace { sender } => replace(model, txs, sender),
                AsyncOp::CloneSender { sender } => clone_sender(model, txs, sender),
                AsyncOp::DropSender { sender } => drop_sender(model, txs, sender),
            }
            let owed = model.slot.is_some() || model.senders == 0;
            if let Some((w, before)) = registered.filter(|_| owed) {
                assert!(
                    wakers[w].count() > before,
                    "step {}: pending RecvFuture's waker {w} not woken (value arrived or last sender left)",
                    model.step
                );
                registered = None;
            }
            model.check_ledger();
        }
        // Dropping the future, pending or not, must lose nothing: the model
        // is unchanged and the next step compares the slot.
    }
}

/// One `Select` call over the receiver (and the never-ready other one),
/// compared with the model. A `Select` takes nothing, so the model is
/// unchanged.
fn run_select(
    model: &Model,
    rx: &Receiver<Tracked>,
    other: &Receiver<Tracked>,
    how: SelectHow,
    watched: Watched,
) {
    let mut sel = Select::new();
    let indices: Vec<usize> = match watched {
        Watched::Receiver => vec![sel.recv(rx)],
        Watched::OtherThenReceiver => {
            assert_eq!(sel.recv(other), 0, "step {}: first index", model.step);
            vec![sel.recv(rx)]
        }
        Watched::ReceiverTwice => vec![sel.recv(rx), sel.recv(rx)],
        Watched::Removed => {
            let i = sel.recv(rx);
            sel.remove(i);
            Vec::new()
        }
    };
    let ready = model.ready() && !indices.is_empty();
    let got = match how {
        SelectHow::TryReady => sel.try_ready().map_err(|TryReadyError| ()),
        SelectHow::ReadyTimeoutZero => sel.ready_timeout(Duration::ZERO).map_err(|_| ()),
        SelectHow::ReadyDeadlineNow => sel.ready_deadline(Instant::now()).map_err(|_| ()),
        SelectHow::ReadyDeadlinePast => {
            let now = Instant::now();
            let past = now.checked_sub(Duration::from_secs(1)).unwrap_or(now);
            sel.ready_deadline(past).map_err(|_| ())
        }
        SelectHow::ReadyTimeoutTiny { nanos } => {
            let timeout = Duration::from_nanos(u64::from(nanos % 2001));
            sel.ready_timeout(timeout).map_err(|ReadyTimeoutError| ())
        }
        SelectHow::Ready | SelectHow::ReadyTimeoutMax if !ready => return, // would block
        SelectHow::Ready => Ok(sel.ready()),
        SelectHow::ReadyTimeoutMax => sel.ready_timeout(Duration::MAX).map_err(|_| ()),
    };
    match got {
        Ok(i) => assert!(
            ready && indices.contains(&i),
            "step {}: Select {how:?} over {watched:?} said {i} is ready, model says ready: {ready}",
            model.step
        ),
        Err(()) => assert!(
            !ready,
            "step {}: Select {how:?} over {watched:?} found nothing, model says ready",
            model.step
        ),
    }
}

/// The receive operations and receiver queries.
fn run_receive(model: &mut Model, rx: &mut Receiver<Tracked>, op: Op) {
    match op {
        Op::TryRecv => model.check_receive(try_recv_got(rx.try_recv()), "try_recv"),
        Op::RecvTimeoutZero => model.check_receive(
            timeout_got(rx.recv_timeout(Duration::ZERO)),
            "recv_timeout(0)",
        ),
        Op::RecvDeadlineNow => model.check_receive(
            timeout_got(rx.recv_deadline(Instant::now())),
            "recv_deadline(now)",
        ),
        Op::RecvDeadlinePast => {
            let now = Instant::now();
            let past = now.checked_sub(Duration::from_secs(1)).unwrap_or(now);
            model.check_receive(timeout_got(rx.recv_deadline(past)), "recv_deadline(past)");
        }
        Op::RecvTimeoutTiny { nanos } => {
            let timeout = Duration::from_nanos(u64::from(nanos % 2001));
            model.check_receive(timeout_got(rx.recv_timeout(timeout)), "recv_timeout(tiny)");
        }
        Op::RecvReady(how) => {
            if model.slot.is_none() && model.senders > 0 {
                return; // would block forever on one thread
            }
            let got = match how {
                ReadyRecv::Recv => recv_got(rx.recv()),
                ReadyRecv::TimeoutMax => timeout_got(rx.recv_timeout(Duration::MAX)),
                ReadyRecv::DeadlineFar => {
                    let far = Instant::now() + Duration::from_secs(1 << 30);
                    timeout_got(rx.recv_deadline(far))
                }
                ReadyRecv::IterNext => rx.iter().next().ok_or(Got::Disconnected),
                ReadyRecv::RefIntoIterNext => (&*rx).into_iter().next().ok_or(Got::Disconnected),
                ReadyRecv::BlockOnAsync => recv_got(block_on(rx.recv_async())),
            };
            model.check_receive(got, "blocking receive with a value or no sender");
        }
        Op::TryIter => {
            let want: Vec<usize> = model.take().into_iter().collect();
            let got: Vec<usize> = rx.try_iter().map(Tracked::retire).collect();
            assert_eq!(got, want, "step {}: try_iter", model.step);
            for id in got {
                model.expected[id].returned += 1;
                model.events += 1;
                model.touched.push(id);
            }
        }
        Op::IterToEnd => {
            if model.senders > 0 {
                return; // would block forever on one thread
            }
            let want: Vec<usize> = model.take().into_iter().collect();
            let got: Vec<usize> = rx.iter().map(Tracked::retire).collect();
            assert_eq!(got, want, "step {}: iter after the last sender", model.step);
            for id in got {
                model.expected[id].returned += 1;
                model.events += 1;
                model.touched.push(id);
            }
        }
        Op::IsEmpty => assert_eq!(
            rx.is_empty(),
            model.slot.is_none(),
            "step {}: is_empty",
            model.step
        ),
        Op::ReceiverIsDisconnected => {
            assert_eq!(
                rx.is_disconnected(),
                model.senders == 0,
                "step {}: is_disconnected",
                model.step
            );
        }
        Op::Overwritten => assert_eq!(
            rx.overwritten(),
            model.overwritten,
            "step {}: overwritten",
            model.step
        ),
        _ => unreachable!("sender-side op routed to run_receive"),
    }
}

/// Decodes a script from `data`, runs it on the channel and on the model,
/// and panics on the first difference.
pub(crate) fn check_ops(data: &[u8]) {
    let Some(script) = Script::decode(data) else {
        return;
    };
    let capacity: usize = script
        .ops
        .iter()
        .map(|op| match op {
            Op::Async(sub) => sub.len().min(MAX_ASYNC_OPS),
            _ => 1,
        })
        .sum();
    let ledger = Ledger::new(capacity);
    let publisher_values = script
        .ops
        .iter()
        .filter(|op| matches!(op, Op::Publisher(PubOp::Send)))
        .count();
    let (tx, rx) = channel();
    let (other_tx, other_rx) = channel();
    let mut h = Harness {
        model: Model {
            ledger: Arc::clone(&ledger),
            next_id: 0,
            panicky: Vec::new(),
            slot: None,
            senders: 1,
            receiver_alive: true,
            overwritten: 0,
            displaced_since_take: 0,
            skipped: 0,
            expected: vec![Fate::default(); capacity],
            events: 0,
            touched: Vec::new(),
            step: 0,
        },
        txs: vec![tx],
        rx: Some(rx),
        other_tx,
        other_rx,
        publisher: PubHarness::new(publisher_values),
    };
    for op in script.ops {
        h.model.step += 1;
        h.run(op);
        h.model.check_ledger();
        h.check_skipped();
        if script.observe_every_step {
            h.observe();
        }
    }
    h.observe();

    // Tear down in the chosen order. The value left in the slot (if any)
    // is dropped during the receiver's drop (rule 5), never by a sender's.
    h.model.step += 1;
    let left = h.model.slot.take();
    if script.receiver_dropped_first {
        drop(h.rx.take());
        if let Some(id) = left {
            h.model.expect_drop(id);
        }
        h.model.check_ledger();
        h.txs.clear();
        h.model.check_ledger();
    } else {
        h.txs.clear();
        h.model.check_ledger();
        drop(h.rx.take());
        if let Some(id) = left {
            h.model.expect_drop(id);
        }
        h.model.check_ledger();
    }
    drop(h.other_tx);
    drop(h.other_rx);
    h.publisher
        .finish(script.receiver_dropped_first, h.model.step);

    // Every value made ends exactly once, as the model says, and no value
    // (each holds the ledger) is still alive anywhere.
    let model = h.model;
    for id in 0..model.next_id {
        let fate = ledger.fate(id);
        assert!(ledger.was_created(id));
        assert_eq!(
            fate.ends(),
            1,
            "value {id}: dropped/returned {fate:?}, want exactly once"
        );
        assert_eq!(
            (fate.drops(), fate.returned),
            (model.expected[id].drops(), model.expected[id].returned),
            "value {id}: fate"
        );
    }
    assert!(model.next_id <= ledger.capacity());
    drop(model);
    assert_eq!(
        Arc::strong_count(&ledger),
        1,
        "a value is still alive after every handle was dropped"
    );
}
