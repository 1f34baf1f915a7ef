//! API.md "Sizes": each handle is one pointer, whatever the payload type.
#![cfg(not(loom))]

use std::mem::size_of;

use conflate::{Receiver, Sender};

const PTR: usize = size_of::<*const ()>();

fn check<T>() {
    assert_eq!(
        size_of::<Sender<T>>(),
        PTR,
        "Sender<{}>",
        std::any::type_name::<T>()
    );
    assert_eq!(
        size_of::<Receiver<T>>(),
        PTR,
        "Receiver<{}>",
        std::any::type_name::<T>()
    );
}

#[test]
fn handles_are_one_pointer() {
    check::<()>();
    check::<u8>();
    check::<u64>();
    check::<String>();
    check::<[u64; 64]>();
    check::<Box<dyn Send>>();
}
