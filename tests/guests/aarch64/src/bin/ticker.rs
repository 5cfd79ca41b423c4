//! Ticker: counts virtual-timer periods and prints one line per tick, then powers off.
//! Proves a partition owns its EL1 virtual timer and its virtual counter runs.
#![no_std]
#![no_main]

use guests_aarch64::{counter, counter_hz, println, sleep_ticks};

const TICKS: u32 = 5;

#[no_mangle]
fn main() {
    let hz = counter_hz();
    println!("ticker: start");
    let start = counter();
    for n in 1..=TICKS {
        sleep_ticks(hz / 100); // 10 ms of virtual time
        println!("tick {n}");
    }
    let elapsed = counter().wrapping_sub(start);
    println!("ticker: {} ticks, time advanced: {}", TICKS, elapsed >= TICKS as u64 * (hz / 100));
}
