//! API.md rule 1: the channel holds at most one value, and a receive returns
//! the latest one sent.

mod helpers;

use conflate::{TryRecvError, channel};

#[test]
fn latest_value_wins() {
    let (tx, rx) = channel::<u32>();
    for v in 1..=10 {
        tx.send(v).unwrap();
    }
    assert_eq!(rx.try_recv(), Ok(10));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
}

#[test]
fn a_receive_empties_the_slot() {
    let (tx, rx) = channel::<u32>();
    tx.send(1).unwrap();
    assert!(!rx.is_empty());
    assert_eq!(rx.recv(), Ok(1));
    assert!(rx.is_empty());
    tx.send(2).unwrap();
    assert_eq!(rx.recv(), Ok(2));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
}

#[test]
fn replace_returns_the_displaced_value() {
    let (tx, rx) = channel::<u32>();
    assert_eq!(tx.replace(1), Ok(None));
    assert_eq!(tx.replace(2), Ok(Some(1)));
    assert_eq!(tx.replace(3), Ok(Some(2)));
    assert_eq!(rx.try_recv(), Ok(3));
    assert_eq!(tx.replace(4), Ok(None));
    tx.send(5).unwrap();
    assert_eq!(tx.replace(6), Ok(Some(5)));
    assert_eq!(rx.recv(), Ok(6));
}

#[test]
fn clones_share_the_one_slot() {
    let (tx_a, rx) = channel::<&str>();
    let tx_b = tx_a.clone();
    tx_a.send("a1").unwrap();
    tx_b.send("b1").unwrap();
    tx_a.send("a2").unwrap();
    assert_eq!(rx.try_recv(), Ok("a2"));
    tx_b.send("b2").unwrap();
    assert_eq!(tx_a.replace("a3"), Ok(Some("b2")));
    assert_eq!(rx.try_recv(), Ok("a3"));
}

/// Sends made on other threads, ordered by joins, follow the same rule.
#[test]
fn latest_across_joined_threads() {
    let rounds = helpers::scaled(50, 5);
    let (tx, rx) = channel::<usize>();
    for round in 0..rounds {
        let first = round * 3;
        std::thread::scope(|s| {
            s.spawn(|| tx.send(first).unwrap());
        });
        std::thread::scope(|s| {
            s.spawn(|| tx.clone().send(first + 1).unwrap());
        });
        std::thread::scope(|s| {
            s.spawn(|| assert_eq!(tx.replace(first + 2), Ok(Some(first + 1))));
        });
        assert_eq!(rx.try_recv(), Ok(first + 2));
        assert!(rx.is_empty());
    }
}

/// Whatever the interleaving of two producers, each producer's values reach
/// the consumer in the order it sent them, and after both are joined the
/// slot holds the last value of one of them.
#[test]
fn per_producer_order_is_kept() {
    let per_producer = helpers::scaled(20_000, 200) as u64;
    let (tx, rx) = channel::<(u8, u64)>();
    std::thread::scope(|s| {
        for p in 0..2u8 {
            let tx = tx.clone();
            s.spawn(move || {
                for i in 0..per_producer {
                    tx.send((p, i)).unwrap();
                }
            });
        }
        drop(tx);
        let mut last = [None::<u64>; 2];
        let mut received = 0u64;
        while let Ok((p, i)) = rx.recv() {
            let prev = &mut last[usize::from(p)];
            assert!(
                prev.is_none_or(|prev| prev < i),
                "producer {p}: {i} after {prev:?}"
            );
            *prev = Some(i);
            received += 1;
        }
        // The final value of one producer is the last one received, so each
        // producer whose last value was received ends at `per_producer - 1`.
        assert!(last.contains(&Some(per_producer - 1)), "{last:?}");
        assert!(received >= 1);
        assert_eq!(received + rx.overwritten(), 2 * per_producer);
    });
}
