//! Metronome: one line every 200 ms of virtual time for a minute, then powers off. A neighbour
//! that is still running when a slower partition (Linux) is being driven at its console;
//! scenarios that use it end once they have seen what they wait for.
#![no_std]
#![no_main]

use guests_aarch64::{counter_hz, println, sleep_ticks};

const BEATS: u32 = 300;

#[no_mangle]
fn main() {
    let period = counter_hz() / 5;
    println!("metronome: start");
    for n in 1..=BEATS {
        sleep_ticks(period);
        println!("metronome: beat {n}");
    }
    println!("metronome: done");
}
