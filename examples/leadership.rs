//! Leadership flapping: the deadlock a bounded notify channel allows, and
//! the same program over `conflate`, which cannot deadlock.
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
//!   publishes every change on a *notify channel*.
//!   Between two changes it answers the requests that other threads sent
//!   it; it is the only thread that can answer them.
//! * the **leader loop** reacts to each notification. Each time it learns
//!   that the node became leader it does some slow set-up work and then makes
//!   a call that only the Raft thread can answer (think of a Raft barrier),
//!   waiting for the reply.
//!
//! The scenario runs twice:
//!
//! 1. The notify channel is `std::sync::mpsc::sync_channel(1)`. Once it holds
//!    an unread value, the Raft thread blocks in `send` until the leader loop
//!    reads it; but the leader loop is waiting for the Raft thread's reply.
//!    Each waits for the other: a deadlock. This is how HashiCorp Nomad's
//!    servers could hang when leadership flapped.
//! 2. The notify channel is `conflate::channel()`. `send` overwrites the slot
//!    and returns at once, so the Raft thread keeps answering requests, and
//!    the leader loop always reads the newest state. The run completes, and
//!    the last state the leader loop saw is the last state published.
//!
//! A watchdog in `main` declares a deadlock when neither thread has made
//! progress for one second. It then cancels the run: the leader loop waits
//! for replies in short slices and checks a cancel flag between them, so it
//! gives up its call and returns, which drops its end of the notify channel;
//! that wakes the Raft thread out of its blocked `send` with an error. Both
//! threads end and are joined, so the process exits normally, with status 0,
//! and leaves no thread stuck behind it (simpler than detaching the threads
//! and calling `std::process::exit`, which would hide whether they end).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

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

/// How often the leader loop checks the cancel flag while it waits for a
/// reply, and how often the watchdog looks at the progress counter.
const POLL: Duration = Duration::from_millis(10);

fn main() {
    println!(
        "{TRANSITIONS} leadership transitions in bursts of {BURST} with {PAUSE:?} pauses; \
         leader set-up {LEADER_SETUP:?}; deadlock declared after {STALL_LIMIT:?} without progress\n"
    );

    let (tx, rx) = mpsc::sync_channel(1);
    let std_run = run("std::sync::mpsc::sync_channel(1)", tx, rx);

    let (tx, rx) = conflate::channel();
    let conflate_run = run("conflate::channel()", tx, rx);

    // The example doubles as a check of the guarantees it relies on.
    assert!(
        conflate_run.finished,
        "the conflate run must finish: `send` never blocks the Raft thread"
    );
    assert_eq!(
        conflate_run.last_seen,
        Some(conflate_run.raft_final),
        "with conflate the leader loop must end on the state the Raft thread published last"
    );
    assert_eq!(
        conflate_run.published, TRANSITIONS,
        "with conflate every transition must be published"
    );
    let overwritten = conflate_run
        .overwritten
        .expect("the conflate receiver reports overwritten()");
    assert_eq!(
        conflate_run.received + overwritten,
        conflate_run.published,
        "with conflate every published value must be received or overwritten, exactly once"
    );

    println!(
        "conflate run checked: finished, ended on the last published state, \
         received + overwritten() = published"
    );

    if std_run.finished {
        // Possible in principle if the scheduler never lets the race happen.
        println!("note: the sync_channel(1) run happened to finish this time");
    }
}

/// The notify channel as the Raft thread sees it.
trait NotifyTx: Send + 'static {
    /// Publishes the new leadership state; `Err` once the listener is gone.
    fn publish(&self, is_leader: bool) -> Result<(), ()>;
}

/// The notify channel as the leader loop sees it.
trait NotifyRx: Send + 'static {
    /// Blocks for the next state; `None` once the Raft thread is gone.
    fn next(&mut self) -> Option<bool>;
    /// How many states were replaced before being read, if the channel knows.
    fn overwritten(&self) -> Option<u64>;
}

impl NotifyTx for mpsc::SyncSender<bool> {
    fn publish(&self, is_leader: bool) -> Result<(), ()> {
        // Blocks while the one-element buffer is full.
        self.send(is_leader).map_err(drop)
    }
}

impl NotifyRx for mpsc::Receiver<bool> {
    fn next(&mut self) -> Option<bool> {
        self.recv().ok()
    }
    fn overwritten(&self) -> Option<u64> {
        None
    }
}

impl NotifyTx for conflate::Sender<bool> {
    fn publish(&self, is_leader: bool) -> Result<(), ()> {
        // Never blocks: an unread state is overwritten.
        self.send(is_leader).map_err(drop)
    }
}

impl NotifyRx for conflate::Receiver<bool> {
    fn next(&mut self) -> Option<bool> {
        // After the last Sender is gone, a pending state is still returned
        // before `recv` reports disconnection.
        self.recv().ok()
    }
    fn overwritten(&self) -> Option<u64> {
        Some(conflate::Receiver::overwritten(self))
    }
}

/// A call to the Raft thread: it replies with the number of transitions it
/// has published so far.
struct Request {
    reply: mpsc::Sender<u64>,
}

/// What the Raft thread did.
struct RaftOutcome {
    /// Transitions published before the thread stopped.
    published: u64,
    /// The Raft thread's own leadership state when it stopped.
    final_state: bool,
    /// Whether publishing `final_state` failed (the run was cancelled).
    final_state_unpublished: bool,
}

/// What the leader loop saw.
struct LeaderOutcome {
    received: u64,
    calls_answered: u64,
    last_seen: Option<bool>,
    overwritten: Option<u64>,
}

/// The result of one scenario run.
struct Run {
    finished: bool,
    published: u64,
    received: u64,
    overwritten: Option<u64>,
    last_seen: Option<bool>,
    raft_final: bool,
}

fn run(name: &str, notify_tx: impl NotifyTx, notify_rx: impl NotifyRx) -> Run {
    println!("== notify channel: {name}");
    let progress = Arc::new(AtomicU64::new(0));
    let cancel = Arc::new(AtomicBool::new(false));
    let (request_tx, request_rx) = mpsc::channel::<Request>();

    let start = Instant::now();
    // Each thread also reports when it ended, so the elapsed time does not
    // depend on how often the watchdog looks.
    let raft = thread::spawn({
        let progress = Arc::clone(&progress);
        move || {
            (
                raft_thread(notify_tx, request_rx, &progress),
                Instant::now(),
            )
        }
    });
    let leader = thread::spawn({
        let progress = Arc::clone(&progress);
        let cancel = Arc::clone(&cancel);
        move || {
            let outcome = leader_loop(notify_rx, request_tx, &progress, &cancel);
            (outcome, Instant::now())
        }
    });

    // Watchdog: wait for both threads, or for a second without progress.
    let mut last_progress = progress.load(Ordering::Relaxed);
    let mut last_change = Instant::now();
    let mut deadlocked = false;
    while !(raft.is_finished() && leader.is_finished()) {
        thread::sleep(POLL);
        let now = progress.load(Ordering::Relaxed);
        if now != last_progress {
            last_progress = now;
            last_change = Instant::now();
        } else if last_change.elapsed() >= STALL_LIMIT {
            deadlocked = true;
            cancel.store(true, Ordering::Relaxed);
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
            "  DEADLOCKED: no progress for {STALL_LIMIT:?}; detected after {stalled_at:.2?}, \
             threads released and joined after {elapsed:.2?}"
        );
        println!(
            "  Raft thread was stuck in send after {} of {TRANSITIONS} transitions; \
             the leader loop was waiting for its reply",
            raft.published
        );
    } else {
        println!("  finished in {elapsed:.2?}");
    }
    println!("  transitions published:  {}", raft.published);
    println!("  notifications received: {}", leader.received);
    match leader.overwritten {
        Some(n) => println!("  overwritten():          {n}"),
        None => println!("  overwritten():          (not available)"),
    }
    println!("  Raft calls answered:    {}", leader.calls_answered);
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
        published: raft.published,
        received: leader.received,
        overwritten: leader.overwritten,
        last_seen: leader.last_seen,
        raft_final: raft.final_state,
    }
}

/// Flaps leadership, answering requests between transitions, then keeps
/// answering until the leader loop hangs up.
fn raft_thread(
    notify: impl NotifyTx,
    requests: mpsc::Receiver<Request>,
    progress: &AtomicU64,
) -> RaftOutcome {
    let mut is_leader = false;
    let mut published = 0;
    let mut final_state_unpublished = false;
    for _ in 0..TRANSITIONS {
        is_leader = !is_leader;
        if notify.publish(is_leader).is_err() {
            // The leader loop is gone (the watchdog cancelled it).
            final_state_unpublished = true;
            break;
        }
        published += 1;
        progress.fetch_add(1, Ordering::Relaxed);
        while let Ok(request) = requests.try_recv() {
            answer(request, published, progress);
        }
        if published % BURST == 0 {
            thread::sleep(PAUSE);
        }
    }
    // Closing the notify channel ends the leader loop once it has read the
    // last state; until then it may still need answers.
    drop(notify);
    for request in requests {
        answer(request, published, progress);
    }
    RaftOutcome {
        published,
        final_state: is_leader,
        final_state_unpublished,
    }
}

fn answer(request: Request, published: u64, progress: &AtomicU64) {
    // The caller may have given up (cancelled); that is fine.
    let _ = request.reply.send(published);
    progress.fetch_add(1, Ordering::Relaxed);
}

/// Reacts to leadership changes; on becoming leader, does slow set-up work
/// that ends with a call to the Raft thread.
fn leader_loop(
    mut notify: impl NotifyRx,
    requests: mpsc::Sender<Request>,
    progress: &AtomicU64,
    cancel: &AtomicBool,
) -> LeaderOutcome {
    let mut outcome = LeaderOutcome {
        received: 0,
        calls_answered: 0,
        last_seen: None,
        overwritten: None,
    };
    while let Some(is_leader) = notify.next() {
        outcome.received += 1;
        outcome.last_seen = Some(is_leader);
        progress.fetch_add(1, Ordering::Relaxed);
        if is_leader {
            thread::sleep(LEADER_SETUP);
            match call_raft(&requests, cancel) {
                Some(_published) => outcome.calls_answered += 1,
                None => break, // cancelled by the watchdog
            }
        }
    }
    // Read before `notify` is dropped; in a finished run every send is done.
    outcome.overwritten = notify.overwritten();
    outcome
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
