//! A 3-node in-memory Raft cluster (tikv's `raft` crate) on plain threads,
//! publishing "am I leader, in which term" through conflate.
//!
//! This is the shape of Nomad's leadership-flapping deadlock, rebuilt on a
//! real Raft implementation. In Nomad the Raft thread pushed leadership changes
//! into a bounded notify channel, while the listener (the leader loop), on
//! gaining leadership, called back into Raft (a barrier) and waited for the
//! answer. When leadership changed during that wait, the Raft thread blocked
//! on the full channel, the listener blocked on the Raft thread, and the
//! server hung. Here the Raft thread only ever calls [`conflate::Sender::send`],
//! which never waits, so the same callback pattern cannot deadlock.
//!
//! Threads:
//! - **node** (one per node): owns a `RawNode`, ticks it every [`TICK`], steps
//!   the messages in its inbox (an `std::sync::mpsc` channel), handles every
//!   `Ready`, and then publishes a [`Leadership`] to each of its observers
//!   when it changed. Publishing is one `send` per observer (one
//!   `conflate::channel()` each), timed with `Instant`.
//! - **leader loop** (one per node): waits with [`conflate::Select`] on the
//!   node's leadership receiver and on a shutdown receiver (a
//!   `conflate::channel::<()>()` whose sender is dropped to stop). On gaining
//!   leadership it runs "establish leadership": a barrier (the node thread
//!   proposes a no-op entry and answers once it is committed, or once
//!   leadership is lost) and then [`SETUP_WORK`] of setup. It counts flaps:
//!   `true` again after `true`, with [`conflate::Receiver::skipped`] saying how
//!   many changes it never saw.
//! - **main**: a second observer of every node. It forces leader changes
//!   (partitions that isolate the leader, then a leadership transfer away and
//!   back while the leader loop is busy), stops the nodes, then the leader
//!   loops, prints a timeline and checks the invariants; it exits non-zero if
//!   one fails.
//!
//! Run with `cargo run --release` in this directory. `RAFT_CLUSTER_LOG=1`
//! turns on raft-rs's own log (filtered by `RUST_LOG`).

use std::collections::{BTreeMap, BTreeSet};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use conflate::{Receiver, Select, Sender, TryRecvError};
use raft::StateRole;
use raft::prelude::{ConfState, Config, Entry, Message, RawNode};
use raft::storage::MemStorage;

/// Node ids are 1..=NODES (raft-rs reserves 0 for "none").
const NODES: u64 = 3;
/// How often each node calls `RawNode::tick`.
const TICK: Duration = Duration::from_millis(5);
/// Election timeout in ticks: raft-rs randomizes it in [10, 20) ticks, so
/// 50-100 ms.
const ELECTION_TICK: usize = 10;
const HEARTBEAT_TICK: usize = 2;
/// The "establish leadership" work a leader loop does after its barrier
/// (Nomad restores state, starts workers, ...). Leadership changes while it
/// runs are what the leader loop sees late, through `skipped()`.
const SETUP_WORK: Duration = Duration::from_millis(100);
/// How many times the current leader is cut off from the others.
const PARTITION_ROUNDS: usize = 3;
/// Each forced change must be seen by the main observer within this time.
const STEP_DEADLINE: Duration = Duration::from_secs(2);
/// The slowest single `send` allowed, wall time, among the sends during
/// which the kernel did not preempt the node thread.
///
/// A send is one atomic swap of the slot plus, since observers here are
/// parked between changes, one `Thread::unpark`: a futex wake. On this 2-core
/// VM with other builds running (load average 5 to 7.5), a bare unpark of a
/// parked thread that is not preempted takes 1-3 µs at the median and 17-20
/// µs at p99; the slowest unpreempted send of a run is 4-6 µs when the machine
/// is quiet, 15-30 µs under that load, and 50-70 µs in 4 of 70 loaded runs
/// (an interrupt or the hypervisor inside the timed window). So 100 µs allows
/// for the kernel's wake-up path and that noise, and is still far below
/// anything that waits for a listener: the leader loops spend 0.1 ms and more
/// in a barrier and 100 ms in setup, so a send that waited for them (Nomad's
/// full notify channel) would take milliseconds.
///
/// A send the kernel preempted (it often runs the woken observer at once, on
/// the sender's CPU) takes as long as the scheduler keeps the node thread off
/// the CPU, up to milliseconds on a loaded machine. Such sends are counted
/// and shown, and checked, like every send, to have never blocked (no
/// voluntary context switch), which is what waiting would be.
const SEND_BOUND: Duration = Duration::from_micros(100);
/// The payload of a barrier entry (its content is never read back).
const BARRIER: &[u8] = b"barrier";
/// A pause before each forced change, so that the leader loop of the
/// current leader has seen its leadership and committed its barrier.
const SETTLE: Duration = Duration::from_millis(20);
/// How long main waits for a leadership transfer before asking again
/// (longer than the largest election timeout, after which raft-rs gives up a
/// transfer).
const TRANSFER_RETRY: Duration = Duration::from_millis(150);

/// What a node publishes after a `Ready` that changed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Leadership {
    is_leader: bool,
    term: u64,
}

impl std::fmt::Display for Leadership {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let role = if self.is_leader {
            "leader"
        } else {
            "not leader"
        };
        write!(f, "{role} in term {}", self.term)
    }
}

/// What a node thread reads from its inbox.
enum ToNode {
    /// A Raft message from a peer.
    Raft(Box<Message>),
    /// A leader loop's barrier: answer once a no-op entry proposed now is
    /// committed in this term (Ok with its index), or at once if that fails.
    Barrier(BarrierReply),
    /// Hand leadership to this node (main's flap round).
    TransferLeader(u64),
    /// Stop the node thread.
    Stop,
}

/// Where a node thread answers a barrier.
type BarrierReply = mpsc::Sender<Result<u64, BarrierError>>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BarrierError {
    /// The node was not leader when the barrier arrived.
    NotLeader,
    /// Raft refused the proposal (e.g. during a leadership transfer).
    Dropped,
    /// Leadership was lost before the entry committed.
    LostLeadership,
    /// The node thread stopped before answering.
    NodeGone,
}

impl std::fmt::Display for BarrierError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BarrierError::NotLeader => "not leader any more",
            BarrierError::Dropped => "proposal dropped (leadership transfer under way)",
            BarrierError::LostLeadership => "leadership lost before the entry committed",
            BarrierError::NodeGone => "node stopped",
        })
    }
}

/// The in-memory network: every node's inbox and which nodes are isolated.
struct Network {
    inboxes: Vec<mpsc::Sender<ToNode>>,
    isolated: Vec<AtomicBool>,
}

impl Network {
    fn inbox(&self, id: u64) -> &mpsc::Sender<ToNode> {
        &self.inboxes[index(id)]
    }

    /// Whether messages between `a` and `b` are dropped now.
    fn cut(&self, a: u64, b: u64) -> bool {
        // ORDERING: Relaxed: the flag needs no data to come with it; a
        // message that races the change is dropped or delivered, as on a
        // real network.
        self.isolated[index(a)].load(Ordering::Relaxed)
            || self.isolated[index(b)].load(Ordering::Relaxed)
    }

    fn set_isolated(&self, id: u64, isolated: bool) {
        // ORDERING: Relaxed, as in `cut`.
        self.isolated[index(id)].store(isolated, Ordering::Relaxed);
    }

    fn deliver(&self, msg: Message) {
        if !self.cut(msg.from, msg.to) {
            // The receiving node may already have stopped: that is a lost
            // message, which Raft tolerates.
            let _ = self.inbox(msg.to).send(ToNode::Raft(Box::new(msg)));
        }
    }
}

fn index(id: u64) -> usize {
    usize::try_from(id - 1).expect("node id fits usize")
}

fn ids() -> impl Iterator<Item = u64> {
    1..=NODES
}

/// What a node thread reports when it stops.
struct NodeReport {
    /// The node's real state after its last `Ready`, read from raft-rs.
    final_state: Leadership,
    /// (when, term) each time it became leader, from raft-rs itself.
    led: Vec<(Instant, u64)>,
    /// (when, term) each time it stopped being leader.
    stepped_down: Vec<(Instant, u64)>,
    sends: SendStats,
}

/// What a node thread measured around its `send` calls.
#[derive(Clone, Default)]
struct SendStats {
    /// Every send's wall time.
    times: Vec<Duration>,
    /// The slowest single send, wall time (`Instant` before and after).
    slowest: Duration,
    /// The slowest among the sends that the kernel did not preempt.
    slowest_unpreempted: Duration,
    /// Sends during which the kernel preempted the node thread (an
    /// involuntary context switch): their wall time includes however long
    /// other threads ran on that CPU.
    preempted: u64,
    /// Voluntary context switches during sends: a send that parked, slept
    /// or blocked on a lock would count here. Must stay 0.
    blocked: u64,
    /// Whether the context switches could be counted (Linux only).
    counted: bool,
}

impl SendStats {
    fn merge(self, other: SendStats) -> SendStats {
        SendStats {
            times: [self.times, other.times].concat(),
            slowest: self.slowest.max(other.slowest),
            slowest_unpreempted: self.slowest_unpreempted.max(other.slowest_unpreempted),
            preempted: self.preempted + other.preempted,
            blocked: self.blocked + other.blocked,
            counted: self.counted && other.counted,
        }
    }
}

/// The calling thread's (voluntary, involuntary) context switches so far.
#[cfg(target_os = "linux")]
fn context_switches() -> Option<(u64, u64)> {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::uninit();
    // SAFETY: the pointer is valid for writing one `rusage`, which is all
    // getrusage writes.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_THREAD, usage.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: getrusage returned 0, so it filled in `usage`.
    let usage = unsafe { usage.assume_init() };
    Some((
        u64::try_from(usage.ru_nvcsw).ok()?,
        u64::try_from(usage.ru_nivcsw).ok()?,
    ))
}

/// Context switches cannot be counted per thread here.
#[cfg(not(target_os = "linux"))]
fn context_switches() -> Option<(u64, u64)> {
    None
}

/// A node thread's state: the `RawNode` and what it owes to others.
struct Node {
    raw: RawNode<MemStorage>,
    net: Arc<Network>,
    observers: Vec<Sender<Leadership>>,
    published: Option<Leadership>,
    /// Barriers waiting for their entry to commit: (index, term, reply).
    barriers: Vec<(u64, u64, BarrierReply)>,
    led: Vec<(Instant, u64)>,
    stepped_down: Vec<(Instant, u64)>,
    sends: SendStats,
}

fn run_node(
    id: u64,
    inbox: mpsc::Receiver<ToNode>,
    net: Arc<Network>,
    observers: Vec<Sender<Leadership>>,
    logger: &slog::Logger,
) -> NodeReport {
    let config = Config {
        id,
        election_tick: ELECTION_TICK,
        heartbeat_tick: HEARTBEAT_TICK,
        // A leader that hears from no quorum for an election timeout steps
        // down, so an isolated leader publishes `false` on its own; pre-vote
        // keeps it from disrupting the cluster with a higher term on heal.
        check_quorum: true,
        pre_vote: true,
        ..Config::default()
    };
    // Every node starts with the same 3-voter configuration and an empty log.
    let storage =
        MemStorage::new_with_conf_state(ConfState::from((ids().collect::<Vec<_>>(), vec![])));
    let raw = RawNode::new(&config, storage, logger).expect("a valid raft config");
    let mut node = Node {
        raw,
        net,
        observers,
        published: None,
        barriers: Vec::new(),
        led: Vec::new(),
        stepped_down: Vec::new(),
        sends: SendStats {
            counted: true,
            ..SendStats::default()
        },
    };
    node.publish();
    let mut next_tick = Instant::now() + TICK;
    loop {
        // Waiting here is waiting for our own inbox or clock, never for a
        // listener.
        match inbox.recv_timeout(next_tick.saturating_duration_since(Instant::now())) {
            Ok(ToNode::Raft(msg)) => {
                if !node.net.cut(msg.from, id) {
                    // A stale or unexpected message is an error raft-rs
                    // reports and ignores; nothing to do about it here.
                    let _ = node.raw.step(*msg);
                }
            }
            Ok(ToNode::Barrier(reply)) => node.barrier(reply),
            Ok(ToNode::TransferLeader(to)) => node.raw.transfer_leader(to),
            Ok(ToNode::Stop) | Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        let now = Instant::now();
        if now >= next_tick {
            node.raw.tick();
            next_tick = now + TICK;
        }
        node.handle_ready();
        node.publish();
    }
    // Nothing changed since the last publish, but make sure the last value
    // sent is the state reported.
    node.publish();
    NodeReport {
        final_state: node.state(),
        led: node.led,
        stepped_down: node.stepped_down,
        sends: node.sends,
    }
    // `node.observers` drop here: every observer gets the last value, then
    // `Disconnected` (close after the last value).
}

impl Node {
    fn state(&self) -> Leadership {
        Leadership {
            is_leader: self.raw.raft.state == StateRole::Leader,
            term: self.raw.raft.term,
        }
    }

    /// The `Ready` dance of raft-rs with an in-memory log: send, persist,
    /// advance, apply.
    fn handle_ready(&mut self) {
        if !self.raw.has_ready() {
            return;
        }
        let mut ready = self.raw.ready();
        // A leader's messages may go out before its entries are persisted.
        self.send_all(ready.take_messages());
        if !ready.snapshot().is_empty() {
            // No log is ever compacted here, so no snapshot is ever sent;
            // applied anyway so the wiring is complete.
            let snapshot = ready.snapshot().clone();
            self.raw
                .store()
                .wl()
                .apply_snapshot(snapshot)
                .expect("in-memory snapshot");
        }
        let committed = ready.take_committed_entries();
        self.apply(&committed);
        self.raw
            .store()
            .wl()
            .append(ready.entries())
            .expect("in-memory append");
        if let Some(hard_state) = ready.hs() {
            self.raw.store().wl().set_hardstate(hard_state.clone());
        }
        self.send_all(ready.take_persisted_messages());
        let mut light = self.raw.advance(ready);
        if let Some(commit) = light.commit_index() {
            self.raw.store().wl().mut_hard_state().set_commit(commit);
        }
        self.send_all(light.take_messages());
        let committed = light.take_committed_entries();
        self.apply(&committed);
        self.raw.advance_apply();
    }

    fn send_all(&self, messages: Vec<Message>) {
        for msg in messages {
            self.net.deliver(msg);
        }
    }

    /// "Applies" committed entries: there is no state machine, but barriers
    /// are answered here.
    fn apply(&mut self, entries: &[Entry]) {
        for entry in entries {
            self.barriers.retain(|(index, term, reply)| {
                if *index != entry.index {
                    return true;
                }
                let answer = if entry.term == *term {
                    Ok(*index)
                } else {
                    Err(BarrierError::LostLeadership)
                };
                // A leader loop that stopped waiting is fine: nobody to tell.
                let _ = reply.send(answer);
                false
            });
        }
    }

    fn barrier(&mut self, reply: BarrierReply) {
        let state = self.state();
        if !state.is_leader {
            let _ = reply.send(Err(BarrierError::NotLeader));
            return;
        }
        let index = self.raw.raft.raft_log.last_index() + 1;
        match self.raw.propose(vec![], BARRIER.to_vec()) {
            Ok(()) if self.raw.raft.raft_log.last_index() == index => {
                self.barriers.push((index, state.term, reply));
            }
            _ => {
                let _ = reply.send(Err(BarrierError::Dropped));
            }
        }
    }

    /// Publishes the node's state to every observer if it changed since the
    /// last publish. This is the only thing the node thread does towards its
    /// listeners, and `send` never waits.
    ///
    /// Only changes are published, so that every value an observer misses is
    /// a real change and `skipped()` counts changes, not repeats.
    fn publish(&mut self) {
        let state = self.state();
        let previous = self.published.replace(state);
        if previous == Some(state) {
            return;
        }
        let now = Instant::now();
        if state.is_leader {
            self.led.push((now, state.term));
        } else if let Some(previous) = previous.filter(|p| p.is_leader) {
            self.stepped_down.push((now, previous.term));
        }
        // Barriers of another term, or of a leader that is no more, fail.
        self.barriers.retain(|(_, term, reply)| {
            let alive = state.is_leader && *term == state.term;
            if !alive {
                let _ = reply.send(Err(BarrierError::LostLeadership));
            }
            alive
        });
        for observer in &self.observers {
            let before = context_switches();
            let start = Instant::now();
            // Err only hands the value back when the observer is gone: fine.
            let _ = observer.send(state);
            let took = start.elapsed();
            let after = context_switches();
            let stats = &mut self.sends;
            stats.times.push(took);
            stats.slowest = stats.slowest.max(took);
            match before.zip(after) {
                Some(((voluntary0, involuntary0), (voluntary1, involuntary1))) => {
                    stats.blocked += voluntary1 - voluntary0;
                    if involuntary1 > involuntary0 {
                        stats.preempted += 1;
                    } else {
                        stats.slowest_unpreempted = stats.slowest_unpreempted.max(took);
                    }
                }
                None => {
                    stats.counted = false;
                    stats.slowest_unpreempted = stats.slowest_unpreempted.max(took);
                }
            }
        }
    }
}

/// One leadership term as a leader loop handled it.
struct Establish {
    term: u64,
    started: Instant,
    /// The barrier's answer: Ok(index committed, how long it took).
    barrier: Result<(u64, Duration), BarrierError>,
}

/// What a leader loop reports when it stops.
#[derive(Default)]
struct LoopReport {
    /// Every value received, with `skipped()` right after it.
    received: Vec<(Instant, Leadership, u64)>,
    /// `true` again right after `true`: leadership lost and regained without
    /// the loop seeing the loss. (when, old term, new term, skipped).
    flaps: Vec<(Instant, u64, u64, u64)>,
    /// `false` right after `true`: losses the loop saw as they came.
    losses_seen: u64,
    establishes: Vec<Establish>,
}

impl LoopReport {
    fn last(&self) -> Option<Leadership> {
        self.received.last().map(|&(_, value, _)| value)
    }

    /// Records a received value; true if leadership was (re)gained.
    fn observe(&mut self, value: Leadership, skipped: u64) -> bool {
        let previous = self.last();
        let now = Instant::now();
        self.received.push((now, value, skipped));
        match previous {
            Some(p) if p.is_leader && value.is_leader => {
                // Only changes are published, so this is a new term; a
                // skipped() > 0 says how many changes in between were never
                // seen (at least the loss).
                self.flaps.push((now, p.term, value.term, skipped));
                true
            }
            Some(p) if p.is_leader => {
                self.losses_seen += 1;
                false
            }
            _ => value.is_leader,
        }
    }
}

/// The leader loop of one node, Nomad-style.
fn leader_loop(
    leadership: Receiver<Leadership>,
    shutdown: Receiver<()>,
    node: mpsc::Sender<ToNode>,
) -> LoopReport {
    let mut report = LoopReport::default();
    let mut select = Select::new();
    let leadership_index = select.recv(&leadership);
    let shutdown_index = select.recv(&shutdown);
    loop {
        let ready = select.ready();
        if ready == shutdown_index {
            // The shutdown sender is gone. A value may still wait (the node
            // stops first, so it is its last one): take it, then stop.
            if let Ok(value) = leadership.try_recv() {
                report.observe(value, leadership.skipped());
            }
            return report;
        }
        debug_assert_eq!(ready, leadership_index);
        match leadership.try_recv() {
            Ok(value) => {
                if report.observe(value, leadership.skipped()) {
                    establish(value.term, &node, &shutdown, &mut report);
                }
            }
            // The node stopped and its last value was received: from now on
            // only the shutdown receiver matters.
            Err(TryRecvError::Disconnected) => select.remove(leadership_index),
            Err(TryRecvError::Empty) => panic!("Select chose a receiver with nothing to receive"),
        }
    }
}

/// "Establish leadership": call back into the node thread and wait for its
/// answer, then do the setup work. While this runs the node goes on
/// publishing; with a bounded notify channel this is where Nomad deadlocked.
fn establish(
    term: u64,
    node: &mpsc::Sender<ToNode>,
    shutdown: &Receiver<()>,
    report: &mut LoopReport,
) {
    let started = Instant::now();
    let (reply_tx, reply_rx) = mpsc::channel();
    let barrier = if node.send(ToNode::Barrier(reply_tx)).is_err() {
        Err(BarrierError::NodeGone)
    } else {
        // The node thread always answers: on commit, on losing leadership,
        // or by dropping the reply sender when it stops.
        match reply_rx.recv() {
            Ok(Ok(index)) => Ok((index, started.elapsed())),
            Ok(Err(error)) => Err(error),
            Err(mpsc::RecvError) => Err(BarrierError::NodeGone),
        }
    };
    let ok = barrier.is_ok();
    report.establishes.push(Establish {
        term,
        started,
        barrier,
    });
    if ok {
        // Setup work, cut short by shutdown (its receiver only ever reports
        // Disconnected, when the sender is dropped).
        let _ = shutdown.recv_timeout(SETUP_WORK);
    }
}

/// Main's own observer of every node.
struct Monitor {
    receivers: Vec<Receiver<Leadership>>,
    latest: Vec<Option<Leadership>>,
    closed: Vec<bool>,
    /// Every value received: (when, node id, value).
    seen: Vec<(Instant, u64, Leadership)>,
}

impl Monitor {
    /// Receives until `done` holds, or fails at the deadline.
    fn wait_until(
        &mut self,
        what: &str,
        within: Duration,
        done: impl Fn(&Monitor) -> bool,
    ) -> Result<(), String> {
        let deadline = Instant::now() + within;
        let mut select = Select::new();
        for (rx, &closed) in self.receivers.iter().zip(&self.closed) {
            let i = select.recv(rx);
            if closed {
                select.remove(i);
            }
        }
        while !done(self) {
            let Ok(i) = select.ready_deadline(deadline) else {
                return Err(format!("no {what} within {within:?}"));
            };
            match self.receivers[i].try_recv() {
                Ok(value) => {
                    self.latest[i] = Some(value);
                    self.seen.push((Instant::now(), i as u64 + 1, value));
                }
                Err(TryRecvError::Disconnected) => {
                    self.closed[i] = true;
                    select.remove(i);
                }
                Err(TryRecvError::Empty) => {
                    panic!("Select chose a receiver with nothing to receive")
                }
            }
        }
        Ok(())
    }
}

/// The node that claims leadership in the highest term, if any.
fn leader(latest: &[Option<Leadership>]) -> Option<(u64, u64)> {
    latest
        .iter()
        .zip(ids())
        .filter_map(|(value, id)| value.filter(|v| v.is_leader).map(|v| (id, v.term)))
        .max_by_key(|&(_, term)| term)
}

fn term_of(latest: &[Option<Leadership>], id: u64) -> u64 {
    latest[index(id)].map_or(0, |v| v.term)
}

fn is_leader(latest: &[Option<Leadership>], id: u64) -> bool {
    latest[index(id)].is_some_and(|v| v.is_leader)
}

fn main() -> ExitCode {
    let start = Instant::now();
    let logger = if std::env::var_os("RAFT_CLUSTER_LOG").is_some() {
        raft::default_logger()
    } else {
        slog::Logger::root(slog::Discard, slog::o!())
    };

    let (inbox_txs, inbox_rxs): (Vec<_>, Vec<_>) = ids().map(|_| mpsc::channel()).unzip();
    let net = Arc::new(Network {
        inboxes: inbox_txs,
        isolated: ids().map(|_| AtomicBool::new(false)).collect(),
    });

    let mut nodes = Vec::new();
    let mut loops = Vec::new();
    let mut shutdowns = Vec::new();
    let mut monitor = Monitor {
        receivers: Vec::new(),
        latest: vec![None; index(NODES) + 1],
        closed: vec![false; index(NODES) + 1],
        seen: Vec::new(),
    };
    for (id, inbox) in ids().zip(inbox_rxs) {
        // One conflate channel per observer: the leader loop and main.
        let (loop_tx, loop_rx) = conflate::channel();
        let (main_tx, main_rx) = conflate::channel();
        monitor.receivers.push(main_rx);
        let (shutdown_tx, shutdown_rx) = conflate::channel::<()>();
        shutdowns.push(shutdown_tx);

        let node_net = Arc::clone(&net);
        let node_logger = logger.new(slog::o!("node" => id));
        nodes.push(
            thread::Builder::new()
                .name(format!("node-{id}"))
                .spawn(move || run_node(id, inbox, node_net, vec![loop_tx, main_tx], &node_logger))
                .expect("spawn a node thread"),
        );
        let node_inbox = net.inbox(id).clone();
        loops.push(
            thread::Builder::new()
                .name(format!("leader-loop-{id}"))
                .spawn(move || leader_loop(loop_rx, shutdown_rx, node_inbox))
                .expect("spawn a leader loop"),
        );
    }

    let mut chaos: Vec<(Instant, String)> = Vec::new();
    let forced = force_leader_changes(&net, &mut monitor, &mut chaos);

    // Stop the nodes first, so that each observer's last value is its node's
    // final state; then the leader loops, through their shutdown channels.
    for id in ids() {
        let _ = net.inbox(id).send(ToNode::Stop);
    }
    let node_reports: Vec<NodeReport> = nodes
        .into_iter()
        .map(|h| h.join().expect("a node thread panicked"))
        .collect();
    let drained = monitor.wait_until("close of every node's channel", STEP_DEADLINE, |m| {
        m.closed.iter().all(|&c| c)
    });
    drop(shutdowns);
    let loop_reports: Vec<LoopReport> = loops
        .into_iter()
        .map(|h| h.join().expect("a leader loop panicked"))
        .collect();
    let elapsed = start.elapsed();

    print_timeline(start, &chaos, &node_reports, &loop_reports);
    let failures = check(&forced.and(drained), &monitor, &node_reports, &loop_reports);
    println!("finished in {:.2} s", elapsed.as_secs_f64());
    if failures == 0 {
        ExitCode::SUCCESS
    } else {
        println!("{failures} invariant(s) failed");
        ExitCode::FAILURE
    }
}

/// Forces leader changes, each confirmed through main's observers.
fn force_leader_changes(
    net: &Network,
    monitor: &mut Monitor,
    chaos: &mut Vec<(Instant, String)>,
) -> Result<(), String> {
    monitor.wait_until("first leader", STEP_DEADLINE, |m| {
        leader(&m.latest).is_some()
    })?;

    // Partitions: cut the leader off until another node leads and the old
    // leader has stepped down on its own (check_quorum), then heal.
    for _ in 0..PARTITION_ROUNDS {
        // Give the leader loop time to see its leadership and commit its
        // barrier before the leader is cut off.
        thread::sleep(SETTLE);
        let (old, old_term) = leader(&monitor.latest).expect("a leader");
        net.set_isolated(old, true);
        chaos.push((
            Instant::now(),
            format!("partition: isolate node {old} (leader of term {old_term})"),
        ));
        monitor.wait_until("new leader", STEP_DEADLINE, |m| {
            leader(&m.latest).is_some_and(|(id, term)| id != old && term > old_term)
        })?;
        monitor.wait_until("step-down of the isolated leader", STEP_DEADLINE, |m| {
            !is_leader(&m.latest, old)
        })?;
        let (_, new_term) = leader(&monitor.latest).expect("a leader");
        net.set_isolated(old, false);
        chaos.push((Instant::now(), format!("partition: heal node {old}")));
        monitor.wait_until("rejoin of the healed node", STEP_DEADLINE, |m| {
            term_of(&m.latest, old) >= new_term
        })?;
    }

    // A flap: leadership moves to `other`, whose leader loop runs its
    // barrier (well under a millisecond) and then its setup. While it is in
    // the setup, leadership goes back to `first` and returns to `other`: the
    // loop then receives `true` twice in a row, with skipped() > 0 for the
    // loss it never saw.
    let (first, _) = leader(&monitor.latest).expect("a leader");
    let other = ids().find(|&id| id != first).expect("3 nodes");
    transfer(net, monitor, chaos, first, other)?;
    thread::sleep(SETTLE);
    transfer(net, monitor, chaos, other, first)?;
    transfer(net, monitor, chaos, first, other)?;
    // Let the last establish finish before stopping.
    thread::sleep(SETUP_WORK + SETUP_WORK / 2);
    Ok(())
}

/// Moves leadership from `from` to `to` with raft's leadership transfer.
/// raft-rs gives up a transfer that takes longer than an election timeout,
/// so it is asked again until main sees `to` lead.
fn transfer(
    net: &Network,
    monitor: &mut Monitor,
    chaos: &mut Vec<(Instant, String)>,
    from: u64,
    to: u64,
) -> Result<(), String> {
    let deadline = Instant::now() + STEP_DEADLINE;
    let mut result = Ok(());
    while Instant::now() < deadline {
        let _ = net.inbox(from).send(ToNode::TransferLeader(to));
        chaos.push((
            Instant::now(),
            format!("transfer leadership: node {from} -> node {to}"),
        ));
        result = monitor.wait_until("transferred leadership", TRANSFER_RETRY, |m| {
            leader(&m.latest).is_some_and(|(id, _)| id == to)
        });
        if result.is_ok() {
            break;
        }
    }
    result
}

fn ms(start: Instant, at: Instant) -> u128 {
    at.duration_since(start).as_millis()
}

fn print_timeline(
    start: Instant,
    chaos: &[(Instant, String)],
    nodes: &[NodeReport],
    loops: &[LoopReport],
) {
    let mut events: Vec<(Instant, String)> = chaos.to_vec();
    for (id, (node, lp)) in ids().zip(nodes.iter().zip(loops)) {
        for &(at, term) in &node.led {
            events.push((at, format!("term {term}: node {id} leads")));
        }
        for &(at, term) in &node.stepped_down {
            events.push((at, format!("term {term}: node {id} steps down")));
        }
        for e in &lp.establishes {
            let what = match e.barrier {
                Ok((index, took)) => format!(
                    "barrier committed at index {index} in {:.1} ms",
                    took.as_secs_f64() * 1e3
                ),
                Err(error) => format!("barrier failed: {error}"),
            };
            events.push((
                e.started,
                format!("term {}: node {id} leader loop establishes: {what}", e.term),
            ));
        }
        for &(at, old, new, skipped) in &lp.flaps {
            events.push((
                at,
                format!("term {new}: node {id} leader loop sees a flap (leader in {old}, now {new}, skipped {skipped})"),
            ));
        }
    }
    events.sort_by_key(|&(at, _)| at);
    println!(
        "raft_cluster: {NODES} raft-rs nodes on threads, tick {TICK:?}, leadership published through conflate"
    );
    println!("timeline (ms since start):");
    for (at, what) in &events {
        println!("{:>6}  {what}", ms(start, *at));
    }
    println!();
    println!(
        "node  led terms  loop: values  losses seen  flaps (hidden)  barriers ok/failed  sends  slowest send  not preempted  preempted"
    );
    for (id, (node, lp)) in ids().zip(nodes.iter().zip(loops)) {
        let hidden = lp.flaps.iter().filter(|f| f.3 > 0).count();
        let ok = lp.establishes.iter().filter(|e| e.barrier.is_ok()).count();
        let terms: Vec<String> = node.led.iter().map(|(_, t)| t.to_string()).collect();
        println!(
            "{id:>4}  {:>9}  {:>12}  {:>11}  {:>14}  {:>18}  {:>5}  {:>12}  {:>13}  {:>9}",
            if terms.is_empty() {
                "-".to_string()
            } else {
                terms.join(",")
            },
            lp.received.len(),
            lp.losses_seen,
            format!("{} ({hidden})", lp.flaps.len()),
            format!("{ok}/{}", lp.establishes.len() - ok),
            node.sends.times.len(),
            micros(node.sends.slowest),
            micros(node.sends.slowest_unpreempted),
            node.sends.preempted,
        );
    }
    println!();
}

/// What went wrong, for a failed check's line.
fn details(problems: &[String]) -> String {
    if problems.is_empty() {
        String::new()
    } else {
        format!(": {}", problems.join("; "))
    }
}

fn micros(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

/// Checks the invariants, prints one line each; returns how many failed.
fn check(
    forced: &Result<(), String>,
    monitor: &Monitor,
    nodes: &[NodeReport],
    loops: &[LoopReport],
) -> usize {
    let mut failures = 0;
    let mut verdict = |ok: bool, what: String| {
        println!("{}  {what}", if ok { "ok  " } else { "FAIL" });
        if !ok {
            failures += 1;
        }
    };

    verdict(
        forced.is_ok(),
        match forced {
            Ok(()) => {
                format!("every forced leader change was seen by main within {STEP_DEADLINE:?}")
            }
            Err(e) => format!("forced leader changes: {e}"),
        },
    );

    // At most one leader per term, among every value any observer received.
    let mut leaders: BTreeMap<u64, BTreeSet<u64>> = BTreeMap::new();
    for (id, lp) in ids().zip(loops) {
        for &(_, value, _) in &lp.received {
            if value.is_leader {
                leaders.entry(value.term).or_default().insert(id);
            }
        }
    }
    for &(_, id, value) in &monitor.seen {
        if value.is_leader {
            leaders.entry(value.term).or_default().insert(id);
        }
    }
    let doubled: Vec<String> = leaders
        .iter()
        .filter(|(_, ids)| ids.len() > 1)
        .map(|(term, ids)| format!("term {term}: {ids:?}"))
        .collect();
    verdict(
        doubled.is_empty() && !leaders.is_empty(),
        format!(
            "at most one leader per term among observers ({} terms with a leader){}",
            leaders.len(),
            details(&doubled)
        ),
    );

    // Every observer ends on its node's real final state.
    let mut mismatches = Vec::new();
    for (id, (node, lp)) in ids().zip(nodes.iter().zip(loops)) {
        let real = Some(node.final_state);
        if lp.last() != real {
            mismatches.push(format!(
                "node {id} leader loop ended on {:?}, node is {}",
                lp.last(),
                node.final_state
            ));
        }
        if monitor.latest[index(id)] != real {
            mismatches.push(format!(
                "main ended on {:?} for node {id}, node is {}",
                monitor.latest[index(id)],
                node.final_state
            ));
        }
    }
    let finals: Vec<String> = ids()
        .zip(nodes)
        .map(|(id, n)| format!("node {id}: {}", n.final_state))
        .collect();
    verdict(
        mismatches.is_empty(),
        format!(
            "every observer ends on its node's final state ({}){}",
            finals.join(", "),
            details(&mismatches)
        ),
    );

    // Publishing never waited, and took a few microseconds.
    let sends = nodes.iter().fold(
        SendStats {
            counted: true,
            ..SendStats::default()
        },
        |all, n| all.merge(n.sends.clone()),
    );
    let mut times = sends.times.clone();
    times.sort();
    let count = times.len();
    let median = times.get(count / 2).copied().unwrap_or_default();
    if sends.counted {
        verdict(
            sends.blocked == 0 && count > 0,
            format!(
                "no send blocked: {} voluntary context switches during {count} sends",
                sends.blocked
            ),
        );
    } else {
        println!("n/a   no send blocked: context switches are counted on Linux only");
    }
    verdict(
        sends.slowest_unpreempted <= SEND_BOUND && count > 0,
        format!(
            "sends take {} at the median; slowest {} <= {} µs, not counting the {} the kernel preempted (slowest of all: {})",
            micros(median),
            micros(sends.slowest_unpreempted),
            SEND_BOUND.as_micros(),
            sends.preempted,
            micros(sends.slowest),
        ),
    );

    // The Nomad pattern ran: leader loops called back into their node and got answers.
    let barriers: usize = loops.iter().map(|l| l.establishes.len()).sum();
    let barriers_ok: usize = loops
        .iter()
        .map(|l| l.establishes.iter().filter(|e| e.barrier.is_ok()).count())
        .sum();
    verdict(
        barriers_ok > 0,
        format!(
            "leader loops called back into their node thread and got every answer ({barriers_ok} of {barriers} barriers committed)"
        ),
    );

    let flaps: usize = loops.iter().map(|l| l.flaps.len()).sum();
    let hidden: usize = loops
        .iter()
        .map(|l| l.flaps.iter().filter(|f| f.3 > 0).count())
        .sum();
    println!(
        "info  flaps seen by leader loops: {flaps}, of which hidden (skipped() > 0): {hidden}"
    );
    failures
}
