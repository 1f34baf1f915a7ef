//! Configuration hot reload: hand the newest configuration to a worker that
//! also has periodic work to do.
//!
//! Run it with
//!
//! ```text
//! cargo run --release --example config_reload
//! ```
//!
//! A *watcher* thread publishes configurations in bursts, the way a file
//! watcher reports several saves of the same file in quick succession. A
//! *worker* thread runs a periodic tick with whatever configuration it has,
//! and applies a new one as soon as it is published. Applying takes time,
//! and only the newest configuration matters, so versions published while
//! the worker is busy should be skipped, not queued.
//!
//! * The worker waits with `recv_timeout(TICK)`: a value means "reconfigure
//!   now", `Timeout` means "time for the periodic work", `Disconnected`
//!   means the watcher is gone and every published version has been seen.
//! * The watcher publishes with `replace`, which never blocks and hands back
//!   the version it displaced, so the watcher can log which versions the
//!   worker never saw. `Receiver::overwritten` counts the same displacements
//!   from the worker's side; the example checks that both counts agree and
//!   that the worker ends on the last version published.

use std::thread;
use std::time::{Duration, Instant};

use conflate::RecvTimeoutError;

/// The worker's periodic work runs when no new configuration arrived for
/// this long.
const TICK: Duration = Duration::from_millis(10);

/// How long applying a configuration takes.
const APPLY: Duration = Duration::from_millis(2);

/// The watcher publishes `BURSTS` bursts of `PER_BURST` versions, with
/// `IN_BURST` between versions and `BETWEEN_BURSTS` between bursts.
const BURSTS: u32 = 4;
const PER_BURST: u32 = 25;
const IN_BURST: Duration = Duration::from_micros(100);
const BETWEEN_BURSTS: Duration = Duration::from_millis(25);

#[derive(Debug, Clone, PartialEq)]
struct Config {
    version: u32,
    /// A made-up setting that changes with every version.
    max_connections: u32,
}

impl Config {
    fn version(version: u32) -> Self {
        Config {
            version,
            max_connections: 100 + 10 * version,
        }
    }
}

/// What the worker did.
struct WorkerReport {
    applied: Vec<u32>,
    ticks: u32,
    current: Config,
    overwritten: u64,
}

fn main() {
    let start = Instant::now();
    let (tx, rx) = conflate::channel::<Config>();

    let watcher = thread::spawn(move || {
        let mut superseded = Vec::new();
        let mut version = 0;
        for _ in 0..BURSTS {
            for _ in 0..PER_BURST {
                version += 1;
                match tx.replace(Config::version(version)) {
                    Ok(Some(unseen)) => superseded.push(unseen.version),
                    Ok(None) => {}
                    Err(_) => panic!("the worker stopped early"),
                }
                thread::sleep(IN_BURST);
            }
            thread::sleep(BETWEEN_BURSTS);
        }
        // Dropping `tx` here closes the channel; the worker still receives
        // the last version if it has not taken it yet.
        (version, superseded)
    });

    let worker = thread::spawn(move || {
        let mut report = WorkerReport {
            applied: Vec::new(),
            ticks: 0,
            current: Config::version(0),
            overwritten: 0,
        };
        loop {
            match rx.recv_timeout(TICK) {
                Ok(config) => {
                    thread::sleep(APPLY);
                    println!(
                        "{:>7.2?}  worker applied v{} (max_connections = {})",
                        start.elapsed(),
                        config.version,
                        config.max_connections
                    );
                    report.applied.push(config.version);
                    report.current = config;
                }
                Err(RecvTimeoutError::Timeout) => report.ticks += 1,
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        // Every `replace` has returned once the channel reports
        // disconnection, so this count is final.
        report.overwritten = rx.overwritten();
        report
    });

    let (last_published, superseded) = watcher.join().expect("watcher panicked");
    let report = worker.join().expect("worker panicked");

    println!();
    println!("published:  {last_published} versions in {BURSTS} bursts");
    println!(
        "applied:    {} versions {:?}",
        report.applied.len(),
        report.applied
    );
    println!(
        "skipped:    {} (replace returned them), overwritten() = {}",
        superseded.len(),
        report.overwritten
    );
    println!("idle ticks: {}", report.ticks);
    println!("elapsed:    {:.2?}", start.elapsed());

    assert_eq!(
        report.current,
        Config::version(last_published),
        "the worker must end on the last published configuration"
    );
    assert_eq!(
        report.overwritten,
        superseded.len() as u64,
        "overwritten() must count exactly the versions `replace` handed back"
    );
    assert_eq!(
        report.applied.len() + superseded.len(),
        last_published as usize,
        "every version must be applied or skipped, exactly once"
    );
    assert!(
        report.applied.windows(2).all(|w| w[0] < w[1]),
        "versions must be applied in publication order"
    );
}
