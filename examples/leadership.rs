//! Leadership flapping: the deadlock a bounded notify channel allows, and
//! the same program over `conflate`, which cannot deadlock and tells the
//! leader loop when leadership was lost and regained behind its back.
//!
//! Run it with
//!
//! ```text
//! cargo run --release --example leadership
//! ```
//!
//! Two threads take part, as in a thread-based Raft node:
//!
//! * the **Raft thread** flaps leadership `TRANSITIONS` times (follower,
//!   leader, follower, ...), in quick bursts separated by short pauses, and
//!   publishes every change on a *notify channel*. Between two changes it
//!   answers the requests that other threads sent it; it is the only thread
//!   that can answer them. After the last change it shuts the node down.
//! * the **leader loop** reacts to each notification. Each time it learns
//!   that the node became leader it does some slow set-up work and then makes
//!   a call that only the Raft thread can answer (think of a Raft barrier),
//!   waiting for the reply.
//!
//! The scenario runs twice:
//!
//! 1. The notify channel is `std::sync::mpsc::sync_channel(1)`, and the
//!    leader loop blocks in its `recv`. Once the channel holds an unread
//!    value, the Raft thread blocks in `send` until the leader loop reads
//!    it; but the leader loop is waiting for the Raft thread's reply. Each
//!    waits for the other: a deadlock. This is how HashiCorp Nomad's servers
//!    could hang when leadership flapped.
//! 2. The notify channel is `conflate::channel()`, and the leader loop is
//!    shaped like Nomad's `monitorLeadership`: it waits with
//!    `conflate::Select` on the notify receiver and on a shutdown channel, a
//!    `conflate::channel::<()>()` on which nothing is ever sent. The Raft
//!    thread shuts down by dropping its sender; that makes the shutdown
//!    index ready (disconnected and empty), and the loop ends there. `send`
//!    overwrites the slot and returns at once, so the Raft thread keeps
//!    answering requests, and the leader loop always reads the newest state.
//!    `Receiver::skipped` says how many states it missed: a `true` received
//!    while the loop already believes it is leader, with `skipped() > 0`, is
//!    a flap (leadership lost and regained while the loop was busy), and the
//!    loop establishes leadership again, as Nomad does.
//!
//! The conflate run checks its own claims and panics (exit status 101) if
//! one fails: it finished, through the shutdown channel; no send took long
//! enough to count as blocked, and sends completed while the leader loop
//! was busy and reading nothing; every value received is the transition
//! that `skipped()` says it is; the `skipped()` counts add up to
//! `overwritten()`; and the leader loop ends on the state the Raft thread
//! really is in.
//!
//! A watchdog in `main` declares a deadlock when neither thread has made
//! progress for one second. It then cancels the run: the leader loop waits
//! for replies (and, in the conflate run, for notifications) in short
//! slices and checks a cancel flag between them, so it gives up and returns,
//! which drops its end of the notify channel; that wakes the Raft thread out
//! of its blocked `send` with an error. Both threads end and are joined, so
//! the process exits normally, with status 0, and leaves no thread stuck
//! behind it (simpler than detaching the threads and calling
//! `std::process::exit`, which would hide whether they end).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use conflate::{Select, TryRecvError};

/// How many times the Raft thread changes leadership. Odd, so the node ends
/// as leader and the leader loop's last reaction needs one more reply.
const TRANSITIONS: u64 = 10_001;

/// The Raft thread flaps in bursts of `BURST` transitions, with `PAUSE`
/// between bursts (think of a scaled-down election timeout).
const BURST: u64 = 5;
const PAUSE: Duration = Duration::from_micros(100);

/// The slow part of becoming leader, done before the call to the Raft thread.
const LEADER_SETUP: Duration = Duration::from_millis(1);

/// With no progress for this long, the watchdog declares a deadlock.
const STALL_LIMIT: Duration = Duration::from_secs(1);

/// How often the leader loop checks the cancel flag while it waits, and how
/// often the watchdog looks at the progress counter.
const POLL: Duration = Duration::from_millis(10);

/// A send that takes this long counts as blocked. A conflate send is a few
/// atomic instructions; the margin is for the scheduler of a loaded machine.
const BLOCKED_SEND: Duration = Duration::from_millis(100);

fn main() {
    println!(
        "{TRANSITIONS} leadership transitions in bursts of {BURST} with {PAUSE:?} pauses; \
         leader set-up {LEADER_SETUP:?}; deadlock declared after {STALL_LIMIT:?} without progress\n"
    );

    let (tx, rx) = mpsc::sync_channel(1);
    let std_run = run(
        "std::sync::mpsc::sync_channel(1); the leader loop blocks in recv",
        tx,
        None,
        move |requests, shared| recv_leader_loop(rx, requests, shared),
    );

    let (tx, rx) = conflate::channel();
    let (shutdown_tx, shutdown_rx) = conflate::channel::<()>();
    let conflate_run = run(
        "conflate::channel(); the leader loop waits in Select on leadership and shutdown",
        tx,
        Some(shutdown_tx),
        move |requests, shared| select_leader_loop(rx, shutdown_rx, requests, shared),
    );

    check(&conflate_run);
    println!(
        "conflate run checked: ended through shutdown, no send blocked, skipped() exact on \
         every receive and summing to overwritten(), final state right"
    );

    if std_run.finished {
        // Possible in principle if the scheduler never lets the race happen.
        println!("note: the sync_channel(1) run happened to finish this time");
    }
}

/// The example doubles as a check of the guarantees it relies on.
fn check(run: &Run) {
    let (raft, leader) = (&run.raft, &run.leader);
    assert!(
        run.finished,
        "the conflate run must finish: `send` never blocks the Raft thread"
    );
    assert!(
        leader.ended_by_shutdown,
        "the leader loop must end through the shutdown channel"
    );
    assert_eq!(
        raft.published, TRANSITIONS,
        "with conflate every transition must be published"
    );
    assert!(
        raft.longest_send < BLOCKED_SEND,
        "a send took {:?}: the Raft thread was blocked by publishing",
        raft.longest_send
    );
    // A channel whose send waits while a value is unread lets at most one
    // send complete while the leader loop is busy and not reading.
    assert!(
        raft.most_sends_in_one_busy_stretch >= 2,
        "sends must complete while the leader loop reads nothing"
    );
    assert_eq!(
        leader.position, raft.published,
        "by skipped(), the last value received must be the last transition published"
    );
    assert_eq!(
        leader.last_seen,
        Some(raft.final_state),
        "the leader loop must end on the state the Raft thread is in"
    );
    let overwritten = leader
        .overwritten
        .expect("the conflate leader loop reads overwritten()");
    assert_eq!(
        leader.skipped_total, overwritten,
        "once the last value is received, the skipped() counts must add up to overwritten()"
    );
    assert_eq!(
        leader.received + overwritten,
        raft.published,
        "every published value must be received or overwritten, exactly once"
    );
}

/// The notify channel as the Raft thread sees it.
trait NotifyTx: Send + 'static {
    /// Publishes the new leadership state; `Err` once the listener is gone.
    fn publish(&self, is_leader: bool) -> Result<(), ()>;
}

impl NotifyTx for mpsc::SyncSender<bool> {
    fn publish(&self, is_leader: bool) -> Result<(), ()> {
        // Blocks while the one-element buffer is full.
        self.send(is_leader).map_err(drop)
    }
}

impl NotifyTx for conflate::Sender<bool> {
    fn publish(&self, is_leader: bool) -> Result<(), ()> {
        // Never blocks: an unread state is overwritten.
        self.send(is_leader).map_err(drop)
    }
}

/// A call to the Raft thread: it replies with the number of transitions it
/// has published so far.
struct Request {
    reply: mpsc::Sender<u64>,
}

/// What the threads of one run share with each other and with the watchdog.
#[derive(Default)]
struct Shared {
    /// Bumped by both threads on every step; the watchdog watches it.
    progress: AtomicU64,
    /// Set by the watchdog to release a deadlocked run.
    cancel: AtomicBool,
    /// Bumped by the leader loop when it starts its leader work (set-up and
    /// call) and again when it ends it: odd while the loop is busy there and
    /// reads no notification.
    busy: AtomicU64,
}

/// What the Raft thread did.
struct RaftOutcome {
    /// Transitions published before the thread stopped.
    published: u64,
    /// The Raft thread's own leadership state when it stopped.
    final_state: bool,
    /// Whether publishing `final_state` failed (the run was cancelled).
    final_state_unpublished: bool,
    /// The longest any one send took, the failed one included.
    longest_send: Duration,
    /// Sends that began and ended inside one busy stretch of the leader
    /// loop, so completed with no notification read meanwhile.
    sends_while_busy: u64,
    /// The most such sends inside any one busy stretch.
    most_sends_in_one_busy_stretch: u64,
}

/// What the leader loop saw.
#[derive(Default)]
struct LeaderOutcome {
    received: u64,
    calls_answered: u64,
    /// The state received last: what the loop believes the node is.
    last_seen: Option<bool>,
    /// The rest is known in the conflate run only.
    overwritten: Option<u64>,
    /// Which transition (1, 2, ...) the value received last was, worked out
    /// from `skipped()` alone.
    position: u64,
    skipped_total: u64,
    /// Receives that revealed a flap, and how many times leadership was lost
    /// and regained unseen in them (see `observe_skipped`).
    flaps_detected: u64,
    lost_and_regained: u64,
    ended_by_shutdown: bool,
}

/// The result of one scenario run.
struct Run {
    finished: bool,
    raft: RaftOutcome,
    leader: LeaderOutcome,
}

fn run(
    name: &str,
    notify_tx: impl NotifyTx,
    shutdown_tx: Option<conflate::Sender<()>>,
    leader_loop: impl FnOnce(mpsc::Sender<Request>, &Shared) -> LeaderOutcome + Send + 'static,
) -> Run {
    println!("== {name}");
    let shared = Arc::new(Shared::default());
    let (request_tx, request_rx) = mpsc::channel::<Request>();

    let start = Instant::now();
    // Each thread also reports when it ended, so the elapsed time does not
    // depend on how often the watchdog looks.
    let raft = thread::spawn({
        let shared = Arc::clone(&shared);
        move || {
            let outcome = raft_thread(notify_tx, shutdown_tx, request_rx, &shared);
            (outcome, Instant::now())
        }
    });
    let leader = thread::spawn({
        let shared = Arc::clone(&shared);
        move || (leader_loop(request_tx, &shared), Instant::now())
    });

    // Watchdog: wait for both threads, or for a second without progress.
    let mut last_progress = shared.progress.load(Ordering::Relaxed);
    let mut last_change = Instant::now();
    let mut deadlocked = false;
    while !(raft.is_finished() && leader.is_finished()) {
        thread::sleep(POLL);
        let now = shared.progress.load(Ordering::Relaxed);
        if now != last_progress {
            last_progress = now;
            last_change = Instant::now();
        } else if last_change.elapsed() >= STALL_LIMIT {
            deadlocked = true;
            shared.cancel.store(true, Ordering::Relaxed);
            break;
        }
    }
    let stalled_at = start.elapsed();

    // Both threads end on their own, or once cancelled (see the module docs).
    let (leader, leader_end) = leader.join().expect("leader loop panicked");
    let (raft, raft_end) = raft.join().expect("Raft thread panicked");
    let elapsed = leader_end.max(raft_end) - start;

    if deadlocked {
        println!(
            "  DEADLOCKED after {} of {TRANSITIONS} transitions: the Raft thread is stuck in \
             send, the leader loop waits for its reply",
            raft.published
        );
        println!(
            "  no progress for {STALL_LIMIT:?}: detected after {stalled_at:.2?}, \
             threads released and joined after {elapsed:.2?}"
        );
    } else {
        println!(
            "  finished in {elapsed:.2?}{}",
            if leader.ended_by_shutdown {
                ", ended through the shutdown channel"
            } else {
                ""
            }
        );
    }
    let overwritten = leader
        .overwritten
        .map_or_else(|| "n/a".to_owned(), |n| n.to_string());
    println!(
        "  published {}, received {}, overwritten() {overwritten}; Raft calls answered {}",
        raft.published, leader.received, leader.calls_answered
    );
    println!(
        "  longest send {:.1?}{}; {} sends completed while the leader loop was busy \
         (at most {} in one busy stretch)",
        raft.longest_send,
        if raft.longest_send >= BLOCKED_SEND {
            " (blocked)"
        } else {
            ""
        },
        raft.sends_while_busy,
        raft.most_sends_in_one_busy_stretch
    );
    if leader.overwritten.is_some() {
        println!(
            "  leadership lost and regained {} times, detected through skipped() \
             in {} receives of `true` while leader",
            leader.lost_and_regained, leader.flaps_detected
        );
    }
    println!(
        "  final state: leader loop saw {}, Raft thread is {}{}\n",
        describe(leader.last_seen),
        describe(Some(raft.final_state)),
        if raft.final_state_unpublished {
            " (its send of that state never completed)"
        } else {
            ""
        }
    );

    Run {
        finished: !deadlocked,
        raft,
        leader,
    }
}

/// Flaps leadership, answering requests between transitions, then shuts
/// down and keeps answering until the leader loop hangs up.
fn raft_thread(
    notify: impl NotifyTx,
    shutdown: Option<conflate::Sender<()>>,
    requests: mpsc::Receiver<Request>,
    shared: &Shared,
) -> RaftOutcome {
    let mut out = RaftOutcome {
        published: 0,
        final_state: false,
        final_state_unpublished: false,
        longest_send: Duration::ZERO,
        sends_while_busy: 0,
        most_sends_in_one_busy_stretch: 0,
    };
    // The busy stretch the last send completed in, and how many did so.
    let mut stretch = (0, 0);
    let mut is_leader = false;
    for _ in 0..TRANSITIONS {
        is_leader = !is_leader;
        // ORDERING: SeqCst on both sides of `busy`, so that an unchanged odd
        // value means the leader loop stayed busy for the whole send.
        let busy_before = shared.busy.load(Ordering::SeqCst);
        let sent_at = Instant::now();
        let sent = notify.publish(is_leader);
        out.longest_send = out.longest_send.max(sent_at.elapsed());
        if sent.is_err() {
            // The leader loop is gone (the watchdog cancelled it).
            out.final_state_unpublished = true;
            break;
        }
        if busy_before % 2 == 1 && shared.busy.load(Ordering::SeqCst) == busy_before {
            out.sends_while_busy += 1;
            if stretch.0 != busy_before {
                stretch = (busy_before, 0);
            }
            stretch.1 += 1;
            out.most_sends_in_one_busy_stretch = out.most_sends_in_one_busy_stretch.max(stretch.1);
        }
        out.published += 1;
        shared.progress.fetch_add(1, Ordering::Relaxed);
        while let Ok(request) = requests.try_recv() {
            answer(request, out.published, shared);
        }
        if out.published.is_multiple_of(BURST) {
            thread::sleep(PAUSE);
        }
    }
    // Shut down after the last publish, so that the last state is in the
    // notify channel (or already read) when the leader loop sees shutdown.
    drop(shutdown);
    // Closing the notify channel ends the std leader loop once it has read
    // the last state; until then it may still need answers.
    drop(notify);
    for request in requests {
        answer(request, out.published, shared);
    }
    out.final_state = is_leader;
    out
}

fn answer(request: Request, published: u64, shared: &Shared) {
    // The caller may have given up (cancelled); that is fine.
    let _ = request.reply.send(published);
    shared.progress.fetch_add(1, Ordering::Relaxed);
}

/// The std run's leader loop: blocks in `recv` on the notify channel and
/// ends when it closes.
fn recv_leader_loop(
    notify: mpsc::Receiver<bool>,
    requests: mpsc::Sender<Request>,
    shared: &Shared,
) -> LeaderOutcome {
    let mut out = LeaderOutcome::default();
    while let Ok(is_leader) = notify.recv() {
        out.seen(is_leader, shared);
        if is_leader && !out.lead(&requests, shared) {
            break; // cancelled by the watchdog
        }
    }
    out
}

/// The conflate run's leader loop, shaped like Nomad's `monitorLeadership`:
/// waits in a `Select` on leadership changes and on shutdown, and ends when
/// the shutdown channel is closed.
fn select_leader_loop(
    notify: conflate::Receiver<bool>,
    shutdown: conflate::Receiver<()>,
    requests: mpsc::Sender<Request>,
    shared: &Shared,
) -> LeaderOutcome {
    let mut out = LeaderOutcome::default();
    let mut sel = Select::new();
    let leadership = sel.recv(&notify);
    let stop = sel.recv(&shutdown);
    loop {
        // Waits in slices only so that the watchdog can cancel the run.
        let index = match sel.ready_timeout(POLL) {
            Ok(index) => index,
            Err(_) if shared.cancel.load(Ordering::Relaxed) => break,
            Err(_) => continue,
        };
        if index == stop {
            // Nothing is ever sent on it: it is ready because it is closed.
            assert_eq!(shutdown.try_recv(), Err(TryRecvError::Disconnected));
            // The last state was published before the shutdown, so if the
            // loop has not read it yet, it is in the slot: record it (for
            // the final check) without acting on it.
            if let Ok(is_leader) = notify.try_recv() {
                out.observe_skipped(is_leader, notify.skipped());
                out.seen(is_leader, shared);
            }
            out.ended_by_shutdown = true;
            break;
        }
        let is_leader = match notify.try_recv() {
            Ok(is_leader) => is_leader,
            Err(TryRecvError::Disconnected) => {
                sel.remove(leadership); // the Raft thread is gone; await shutdown
                continue;
            }
            Err(TryRecvError::Empty) => unreachable!("ready, so try_recv cannot be Empty"),
        };
        out.observe_skipped(is_leader, notify.skipped());
        out.seen(is_leader, shared);
        // Became leader, or lost and regained it (a flap): either way this
        // is a new term, and leadership is established (again).
        if is_leader && !out.lead(&requests, shared) {
            break; // cancelled by the watchdog
        }
    }
    // All sends are done: the Raft thread shut down after the last one.
    out.overwritten = Some(notify.overwritten());
    out
}

impl LeaderOutcome {
    fn seen(&mut self, is_leader: bool, shared: &Shared) {
        self.received += 1;
        self.last_seen = Some(is_leader);
        shared.progress.fetch_add(1, Ordering::Relaxed);
    }

    /// Checks a received value against `skipped()` and counts flaps; call it
    /// before `seen`, while `last_seen` is still the previous value.
    fn observe_skipped(&mut self, is_leader: bool, skipped: u64) {
        // Transition k (1, 2, ...) makes the node leader when k is odd, and
        // with one producer `skipped()` is exact: the value received is
        // transition `position + skipped + 1`.
        self.position += skipped + 1;
        self.skipped_total += skipped;
        assert_eq!(
            is_leader,
            self.position % 2 == 1,
            "skipped() must count exactly the states displaced since the last receive"
        );
        // A flap detected: `true` received while the loop believes it is
        // leader (the value received before was `true`) with `skipped() > 0`.
        // The Raft thread publishes only changes, so the skipped states are
        // `false, true, ..., false`, an odd number: leadership was lost and
        // regained `(skipped + 1) / 2` times while the loop was busy, and
        // the loop must establish it again. (`true` with `skipped() == 0`
        // would be a plain repeat; this Raft thread sends none. Flaps hidden
        // behind a received `false` need no action and are not counted.)
        if is_leader && self.last_seen == Some(true) && skipped > 0 {
            self.flaps_detected += 1;
            self.lost_and_regained += skipped.div_ceil(2);
        }
    }

    /// The leader work: slow set-up, then a call that only the Raft thread
    /// can answer. `false` if the run was cancelled meanwhile.
    fn lead(&mut self, requests: &mpsc::Sender<Request>, shared: &Shared) -> bool {
        // ORDERING: SeqCst, see `raft_thread`.
        shared.busy.fetch_add(1, Ordering::SeqCst);
        thread::sleep(LEADER_SETUP);
        let answered = call_raft(requests, &shared.cancel).is_some();
        shared.busy.fetch_add(1, Ordering::SeqCst);
        self.calls_answered += u64::from(answered);
        answered
    }
}

/// Sends a request to the Raft thread and waits for its reply. Returns
/// `None` if the run is cancelled or the Raft thread is gone.
fn call_raft(requests: &mpsc::Sender<Request>, cancel: &AtomicBool) -> Option<u64> {
    let (reply_tx, reply_rx) = mpsc::channel();
    requests.send(Request { reply: reply_tx }).ok()?;
    loop {
        match reply_rx.recv_timeout(POLL) {
            Ok(published) => return Some(published),
            Err(mpsc::RecvTimeoutError::Timeout) if !cancel.load(Ordering::Relaxed) => {}
            Err(_) => return None,
        }
    }
}

fn describe(state: Option<bool>) -> &'static str {
    match state {
        Some(true) => "leader",
        Some(false) => "follower",
        None => "nothing",
    }
}
