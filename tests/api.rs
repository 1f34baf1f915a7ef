//! The public surface fixed by API.md: names, trait implementations of the
//! handles and errors, `same_channel`, the `is_*` queries and the iterators.

mod helpers;

use std::error::Error;
use std::fmt::Debug;
use std::time::{Duration, Instant};

use conflate::{
    IntoIter, Iter, Receiver, RecvError, RecvFuture, RecvTimeoutError, SendError, Sender, TryIter,
    TryRecvError, channel,
};

/// A payload that implements nothing but `Send`.
struct Opaque(u32);

fn assert_send<T: Send>() {}
fn assert_sync<T: Sync>() {}
fn assert_error<E: Error + Clone + PartialEq + Eq + Send + Sync + 'static>() {}
fn assert_copy<T: Copy>() {}
fn assert_debug<T: Debug>() {}

#[test]
fn auto_traits() {
    assert_send::<Sender<Opaque>>();
    assert_sync::<Sender<Opaque>>();
    assert_send::<Receiver<Opaque>>();
    assert_send::<RecvFuture<'static, Opaque>>();
    assert_send::<SendError<Opaque>>();
    assert_send::<IntoIter<Opaque>>();
}

#[test]
fn handles_and_iterators_are_debug() {
    assert_debug::<Sender<i32>>();
    assert_debug::<Receiver<i32>>();
    assert_debug::<RecvFuture<'static, i32>>();
    assert_debug::<Iter<'static, i32>>();
    assert_debug::<TryIter<'static, i32>>();
    assert_debug::<IntoIter<i32>>();

    let (tx, mut rx) = channel::<i32>();
    assert!(!format!("{tx:?}").is_empty());
    assert!(!format!("{rx:?}").is_empty());
    assert!(!format!("{:?}", rx.iter()).is_empty());
    assert!(!format!("{:?}", rx.try_iter()).is_empty());
    assert!(!format!("{:?}", rx.recv_async()).is_empty());
    assert!(!format!("{:?}", rx.into_iter()).is_empty());
}

#[test]
fn error_types_follow_std() {
    assert_error::<SendError<u32>>();
    assert_error::<RecvError>();
    assert_error::<TryRecvError>();
    assert_error::<RecvTimeoutError>();
    assert_copy::<SendError<u32>>();
    assert_copy::<RecvError>();
    assert_copy::<TryRecvError>();
    assert_copy::<RecvTimeoutError>();
}

#[test]
fn send_error_is_debug_without_debug_payload() {
    let err = SendError(Opaque(7));
    let text = format!("{err:?}");
    assert!(text.contains("SendError"), "{text}");
    assert_eq!(err.into_inner().0, 7);
}

#[test]
fn error_display_is_short_lowercase_text() {
    let texts = [
        SendError(1u8).to_string(),
        RecvError.to_string(),
        TryRecvError::Empty.to_string(),
        TryRecvError::Disconnected.to_string(),
        RecvTimeoutError::Timeout.to_string(),
        RecvTimeoutError::Disconnected.to_string(),
    ];
    for text in &texts {
        assert!(!text.is_empty());
        assert!(!text.ends_with('.'), "{text:?}");
        let first = text.chars().next().unwrap();
        assert!(first.is_lowercase(), "{text:?}");
    }
    // Distinct conditions read differently.
    assert_ne!(texts[2], texts[3]);
    assert_ne!(texts[4], texts[5]);
}

#[test]
fn error_helpers_and_conversions() {
    assert!(TryRecvError::Empty.is_empty());
    assert!(!TryRecvError::Empty.is_disconnected());
    assert!(TryRecvError::Disconnected.is_disconnected());
    assert!(!TryRecvError::Disconnected.is_empty());
    assert!(RecvTimeoutError::Timeout.is_timeout());
    assert!(!RecvTimeoutError::Timeout.is_disconnected());
    assert!(RecvTimeoutError::Disconnected.is_disconnected());
    assert!(!RecvTimeoutError::Disconnected.is_timeout());

    assert_eq!(TryRecvError::from(RecvError), TryRecvError::Disconnected);
    assert_eq!(
        RecvTimeoutError::from(RecvError),
        RecvTimeoutError::Disconnected
    );

    assert_eq!(SendError(3), SendError(3));
    assert_ne!(SendError(3), SendError(4));
    let copy = SendError(5);
    let clone = copy;
    assert_eq!(copy.into_inner(), clone.0);
    assert_ne!(TryRecvError::Empty, TryRecvError::Disconnected);
    assert_ne!(RecvTimeoutError::Timeout, RecvTimeoutError::Disconnected);
}

#[test]
fn errors_work_as_boxed_errors() {
    let errors: Vec<Box<dyn Error + Send + Sync>> = vec![
        Box::new(SendError(1u8)),
        Box::new(RecvError),
        Box::new(TryRecvError::Empty),
        Box::new(RecvTimeoutError::Timeout),
    ];
    for e in &errors {
        assert!(e.source().is_none());
        assert!(!e.to_string().is_empty());
    }
}

#[test]
fn same_channel() {
    let (tx1, _rx1) = channel::<u8>();
    let (tx2, _rx2) = channel::<u8>();
    let tx1b = tx1.clone();
    assert!(tx1.same_channel(&tx1));
    assert!(tx1.same_channel(&tx1b));
    assert!(tx1b.same_channel(&tx1));
    assert!(!tx1.same_channel(&tx2));
    assert!(!tx2.same_channel(&tx1b));
    // A clone made from a clone still names the same channel.
    let tx1c = tx1b.clone();
    drop(tx1b);
    assert!(tx1c.same_channel(&tx1));
}

#[test]
fn is_empty_and_is_disconnected() {
    let (tx, rx) = channel::<u8>();
    assert!(rx.is_empty());
    assert!(!rx.is_disconnected());
    assert!(!tx.is_disconnected());

    tx.send(1).unwrap();
    assert!(!rx.is_empty());
    assert_eq!(rx.try_recv(), Ok(1));
    assert!(rx.is_empty());

    let tx2 = tx.clone();
    drop(tx);
    assert!(!rx.is_disconnected(), "a clone is still alive");
    tx2.send(2).unwrap();
    drop(tx2);
    // The last value still waits: disconnected, but not empty.
    assert!(rx.is_disconnected());
    assert!(!rx.is_empty());
    assert_eq!(rx.try_recv(), Ok(2));
    assert!(rx.is_empty());
    assert!(rx.is_disconnected());

    let (tx, rx) = channel::<u8>();
    drop(rx);
    assert!(tx.is_disconnected());
}

#[test]
fn every_receive_method_returns_a_waiting_value() {
    let (tx, mut rx) = channel::<u32>();
    tx.send(1).unwrap();
    assert_eq!(rx.recv(), Ok(1));
    tx.send(2).unwrap();
    assert_eq!(rx.try_recv(), Ok(2));
    tx.send(3).unwrap();
    assert_eq!(rx.recv_timeout(Duration::from_secs(3600)), Ok(3));
    tx.send(4).unwrap();
    assert_eq!(
        rx.recv_deadline(Instant::now() + Duration::from_secs(3600)),
        Ok(4)
    );
    tx.send(5).unwrap();
    assert_eq!(helpers::block_on(rx.recv_async()), Ok(5));
    tx.send(6).unwrap();
    assert_eq!(rx.iter().next(), Some(6));
    tx.send(7).unwrap();
    assert_eq!(rx.try_iter().next(), Some(7));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
}

#[test]
fn try_iter_yields_what_is_there_and_stops() {
    let (tx, rx) = channel::<u32>();
    assert_eq!(rx.try_iter().count(), 0);
    tx.send(1).unwrap();
    tx.send(2).unwrap();
    assert_eq!(rx.try_iter().collect::<Vec<_>>(), [2]);
    assert_eq!(rx.try_iter().count(), 0);
    tx.send(3).unwrap();
    drop(tx);
    // After disconnection the last value is still yielded, then nothing.
    assert_eq!(rx.try_iter().collect::<Vec<_>>(), [3]);
    assert_eq!(rx.try_iter().count(), 0);
}

#[test]
fn iter_ends_after_the_last_value_at_disconnection() {
    let (tx, rx) = channel::<u32>();
    tx.send(1).unwrap();
    drop(tx);
    assert_eq!(rx.iter().collect::<Vec<_>>(), [1]);
    assert_eq!(rx.iter().next(), None);

    let (tx, rx) = channel::<u32>();
    drop(tx);
    assert_eq!((&rx).into_iter().count(), 0);
}

#[test]
fn into_iterator_for_receiver_and_reference() {
    let (tx, rx) = channel::<u32>();
    tx.send(10).unwrap();
    let mut seen = Vec::new();
    for v in &rx {
        seen.push(v);
        if v == 10 {
            tx.send(11).unwrap();
        } else {
            break;
        }
    }
    assert_eq!(seen, [10, 11]);

    tx.send(12).unwrap();
    drop(tx);
    let owned: IntoIter<u32> = rx.into_iter();
    assert_eq!(owned.collect::<Vec<_>>(), [12]);
}

/// A producer that waits for each value to be taken before sending the next
/// one: with no overwrites, the blocking iterator sees every value in order.
#[test]
fn iter_across_threads_with_handshake() {
    let rounds = helpers::scaled(2_000, 20);
    let (tx, rx) = channel::<usize>();
    let (ack_tx, ack_rx) = channel::<usize>();
    std::thread::scope(|s| {
        let producer = helpers::within_limit(s, "producer", move || {
            for i in 0..rounds {
                tx.send(i).unwrap();
                assert_eq!(ack_rx.recv(), Ok(i));
            }
        });
        let consumer = helpers::within_limit(s, "consumer", move || {
            let mut n = 0;
            for v in rx {
                assert_eq!(v, n);
                ack_tx.send(v).unwrap();
                n += 1;
            }
            n
        });
        producer.join();
        assert_eq!(consumer.join(), rounds);
    });
}

#[test]
fn handles_move_between_threads() {
    let (tx, rx) = channel::<String>();
    let rx = std::thread::spawn(move || {
        tx.send("from a thread".to_owned()).unwrap();
        rx
    })
    .join()
    .unwrap();
    assert_eq!(rx.recv().as_deref(), Ok("from a thread"));
    assert_eq!(rx.recv(), Err(RecvError));
}
