//! Stress: several producers and one consumer, every kind of send and
//! receive, sender clones made and dropped at random, and optionally the
//! receiver dropped at a random point. Each value is a drop-recording
//! payload, so the exactly-once rule is checked for every one of them.
//!
//! The `#[ignore]`d tests are the long run (about ten million sends in total;
//! `.ci/stress.sh` runs them in release). The others are small versions that
//! plain `cargo test` (and Miri, scaled down further) runs.

mod helpers;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use conflate::{Receiver, SendError, Sender, channel};
use helpers::{DropLog, Rng, Tracked, block_on, within_limit};

#[derive(Clone, Copy, Debug)]
struct Config {
    producers: usize,
    per_producer: usize,
    /// Drop the receiver after this many receives (`None`: drain to the end).
    drop_receiver_after: Option<u64>,
    /// The main thread sends one last value after joining the producers.
    final_from_main: bool,
    seed: u64,
}

#[derive(Debug, Default)]
struct Outcome {
    sent_ok: u64,
    handed_back: u64,
    replaced: u64,
    received: u64,
    overwritten: u64,
}

/// Varies a producer's speed so that the consumer (which shares two cores
/// with 2-4 producers) keeps up sometimes and falls behind other times,
/// instead of the producers finishing before it ever runs.
fn pace(rng: &mut Rng) {
    match rng.below(64) {
        0 => std::thread::yield_now(),
        1..=15 if !cfg!(miri) => {
            for _ in 0..rng.below(512) {
                std::hint::spin_loop();
            }
        }
        _ => {}
    }
}

/// A producer's work: `per_producer` values with ids `base..base + n`, in
/// order, through a changing set of cloned senders.
fn produce<'a>(
    tx: Sender<Tracked<'a>>,
    log: &'a DropLog,
    base: usize,
    n: usize,
    seed: u64,
) -> (u64, u64, u64) {
    let mut rng = Rng::new(seed);
    let mut pool = vec![tx];
    let (mut ok, mut back, mut replaced) = (0u64, 0u64, 0u64);
    let mut receiver_gone = false;
    for id in base..base + n {
        pace(&mut rng);
        // Churn the senders now and then; the channel must never see the
        // sender count reach zero here, as one clone always stays.
        if rng.one_in(512) {
            let c = pool[rng.below(pool.len() as u64) as usize].clone();
            pool.push(c);
        }
        if pool.len() > 1 && rng.one_in(512) {
            pool.swap_remove(rng.below(pool.len() as u64) as usize);
        }
        let tx = &pool[rng.below(pool.len() as u64) as usize];
        let result = if rng.one_in(8) {
            tx.replace(log.item(id)).map(|old| {
                if let Some(old) = old {
                    // Handed back, so not dropped by the channel.
                    log.assert_alive(old.id());
                    replaced += 1;
                }
            })
        } else {
            tx.send(log.item(id))
        };
        match result {
            Ok(()) => {
                assert!(
                    !receiver_gone,
                    "a send succeeded after the receiver was dropped"
                );
                ok += 1;
            }
            Err(SendError(v)) => {
                assert_eq!(v.id(), id, "SendError must carry the caller's value");
                log.assert_alive(id);
                receiver_gone = true;
                back += 1;
            }
        }
    }
    (ok, back, replaced)
}

/// The consumer: receives with a random mix of methods until disconnection
/// (or until it has received `limit` values, then drops the receiver).
/// Returns the number received, the last id received, and `overwritten()`.
fn consume(
    mut rx: Receiver<Tracked<'_>>,
    cfg: Config,
    log: &DropLog,
    drained: &AtomicBool,
) -> (u64, Option<usize>, u64) {
    let mut rng = Rng::new(cfg.seed ^ 0xC0FFEE);
    let mut last_seq = vec![None::<usize>; cfg.producers + 1];
    let mut received = 0u64;
    let mut last_id = None;
    loop {
        if cfg.drop_receiver_after.is_some_and(|k| received >= k) {
            let overwritten = rx.overwritten();
            drop(rx);
            return (received, last_id, overwritten);
        }
        // Mostly `try_recv` (fast, so the receiver races the senders' node
        // recycling often), the rest split between the blocking kinds.
        let got = match rng.below(10) {
            0 | 1 => rx.recv().ok(),
            2..=6 => match rx.try_recv() {
                Ok(v) => Some(v),
                Err(e) if e.is_disconnected() => None,
                Err(_) => continue,
            },
            7 => match rx.recv_timeout(Duration::from_micros(rng.below(50))) {
                Ok(v) => Some(v),
                Err(e) if e.is_disconnected() => None,
                Err(_) => continue,
            },
            8 => match rx.recv_deadline(Instant::now() + Duration::from_micros(rng.below(50))) {
                Ok(v) => Some(v),
                Err(e) if e.is_disconnected() => None,
                Err(_) => continue,
            },
            _ => block_on(rx.recv_async()).ok(),
        };
        let Some(item) = got else {
            // Disconnected: final, and only once nothing waits.
            assert!(rx.try_recv().unwrap_err().is_disconnected());
            assert!(rx.is_empty());
            drained.store(true, Ordering::SeqCst);
            return (received, last_id, rx.overwritten());
        };
        let id = item.id();
        log.assert_alive(id);
        let (producer, seq) = (id / cfg.per_producer, id % cfg.per_producer);
        let prev = &mut last_seq[producer];
        assert!(
            prev.is_none_or(|p| p < seq),
            "producer {producer}: {seq} after {prev:?}"
        );
        *prev = Some(seq);
        last_id = Some(id);
        received += 1;
    }
}

fn run(cfg: Config) -> Outcome {
    let n = cfg.per_producer;
    // Ids: producer p owns p*n .. p*n+n; the main thread's final value is
    // producers*n, which decodes as "producer `producers`, seq 0".
    let final_id = cfg.producers * n;
    let log = DropLog::new(final_id + 1);
    let drained = AtomicBool::new(false);
    let (tx, rx) = channel();
    let mut out = Outcome::default();
    let (received, last_id, overwritten) = std::thread::scope(|s| {
        let producers: Vec<_> = (0..cfg.producers)
            .map(|p| {
                let tx = tx.clone();
                let log = &log;
                let seed = cfg.seed.wrapping_add(p as u64 + 1);
                s.spawn(move || produce(tx, log, p * n, n, seed))
            })
            .collect();
        let main_tx = cfg.final_from_main.then(|| tx.clone());
        drop(tx);
        let (log, drained) = (&log, &drained);
        let consumer = within_limit(s, "consumer", move || consume(rx, cfg, log, drained));
        for h in producers {
            let (ok, back, replaced) = h.join().unwrap();
            out.sent_ok += ok;
            out.handed_back += back;
            out.replaced += replaced;
        }
        if let Some(main_tx) = main_tx {
            match main_tx.send(log.item(final_id)) {
                Ok(()) => out.sent_ok += 1,
                Err(SendError(v)) => {
                    assert_eq!(v.id(), final_id);
                    out.handed_back += 1;
                }
            }
        }
        consumer.join()
    });
    out.received = received;
    out.overwritten = overwritten;

    // Every value was dropped exactly once, whoever dropped it.
    let used = if cfg.final_from_main {
        final_id + 1
    } else {
        final_id
    };
    log.assert_all_dropped_once(0..used);
    assert_eq!(log.total_drops(), used);
    assert_eq!(out.sent_ok + out.handed_back, used as u64);

    if cfg.drop_receiver_after.is_none() {
        assert!(drained.load(Ordering::SeqCst));
        assert_eq!(out.handed_back, 0);
        // Drained to disconnection: each successful send was either received
        // or displaced.
        assert_eq!(out.received + out.overwritten, out.sent_ok, "{out:?}");
        assert!(out.replaced <= out.overwritten);
        let last = last_id.expect("nothing received");
        if cfg.final_from_main {
            assert_eq!(last, final_id, "the final value was not the last received");
        } else {
            // Some producer's last value is the last received.
            assert_eq!(
                last % n,
                n - 1,
                "last received {last} is no producer's final value"
            );
        }
    } else {
        assert!(out.received + out.overwritten <= out.sent_ok, "{out:?}");
    }
    out
}

fn report(name: &str, cfg: Config, started: Instant, out: &Outcome) {
    println!(
        "{name}: {} producers x {} = {} values in {:.2?}; received {}, overwritten {}, \
         replaced {}, handed back {}",
        cfg.producers,
        cfg.per_producer,
        cfg.producers * cfg.per_producer,
        started.elapsed(),
        out.received,
        out.overwritten,
        out.replaced,
        out.handed_back
    );
}

fn drain_run(name: &str, producers: usize, per_producer: usize, final_from_main: bool, seed: u64) {
    let cfg = Config {
        producers,
        per_producer,
        drop_receiver_after: None,
        final_from_main,
        seed,
    };
    let started = Instant::now();
    let out = run(cfg);
    report(name, cfg, started, &out);
}

/// Several rounds, each dropping the receiver after a random number of
/// receives (zero included).
fn receiver_drop_runs(name: &str, producers: usize, per_producer: usize, rounds: u64) {
    let mut rng = Rng::new(99);
    for round in 0..rounds {
        let k = rng.below(per_producer as u64 / 100 + 1);
        let cfg = Config {
            producers,
            per_producer,
            drop_receiver_after: Some(if round == 0 { 0 } else { k }),
            final_from_main: round % 2 == 0,
            seed: round,
        };
        let started = Instant::now();
        let out = run(cfg);
        report(name, cfg, started, &out);
    }
}

// Small versions, run by plain `cargo test` and by Miri.

#[test]
fn quick_two_producers() {
    drain_run(
        "quick_two_producers",
        2,
        helpers::scaled(20_000, 60),
        true,
        1,
    );
}

#[test]
fn quick_three_producers_racing_to_close() {
    drain_run(
        "quick_three_producers_racing_to_close",
        3,
        helpers::scaled(10_000, 40),
        false,
        2,
    );
}

#[test]
fn quick_receiver_drop() {
    receiver_drop_runs(
        "quick_receiver_drop",
        2,
        helpers::scaled(5_000, 40),
        helpers::scaled(4, 2) as u64,
    );
}

// The long run: 4M + 3M + 3M (= 10M) sends. Release build advised.

#[test]
#[ignore = "long; run by .ci/stress.sh in release"]
fn stress_two_producers() {
    drain_run("stress_two_producers", 2, 2_000_000, true, 11);
}

#[test]
#[ignore = "long; run by .ci/stress.sh in release"]
fn stress_four_producers_racing_to_close() {
    drain_run(
        "stress_four_producers_racing_to_close",
        4,
        750_000,
        false,
        12,
    );
}

#[test]
#[ignore = "long; run by .ci/stress.sh in release"]
fn stress_three_producers_receiver_drop() {
    receiver_drop_runs("stress_three_producers_receiver_drop", 3, 250_000, 4);
}

/// `Publisher`: one sending thread, three observer threads that subscribe,
/// receive and drop subscribers at random; every subscriber still held at
/// the end, drained after the publisher is dropped, ends on the last value,
/// and every check of `helpers::publisher_race` holds throughout. 4 x 3M
/// values: about 13 s in release on two cores, 24 s with the machine busy
/// (load 6); `PUBLISHER_STRESS_VALUES` overrides the values per seed.
#[test]
#[ignore = "long; run by .ci/stress.sh in release"]
fn stress_publisher_subscribers_come_and_go() {
    let values = std::env::var("PUBLISHER_STRESS_VALUES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3_000_000);
    for seed in 0..4 {
        let started = Instant::now();
        let totals = helpers::publisher_race::Race {
            senders: 1,
            values,
            observers: 3,
            steps: 10_000,
            max_held: 6,
            seed: 500 + seed,
        }
        .run();
        println!(
            "stress_publisher_subscribers_come_and_go: seed {seed}, {values} values in {:.2?}: {totals:?}",
            started.elapsed()
        );
        assert!(totals.drained > 0 && totals.subscribes > 100, "{totals:?}");
    }
}
