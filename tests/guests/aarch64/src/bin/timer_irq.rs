//! Timer interrupts: takes the EL1 virtual timer's interrupt ten times through its own IRQ
//! vector, sleeping in WFI in between, printing one line per tick, then powers off. Runs
//! the same natively (GICv2 on plain QEMU virt) and as a partition (the vGIC of either
//! version): only the tick lines and the final one, so the two runs print the same.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use guests_aarch64::{counter, counter_hz, gic, on_irq, println, timer_at, timer_off, wait_until, VTIMER_IRQ};

const TICKS: u32 = 10;

/// Interrupts taken so far.
static TAKEN: AtomicU32 = AtomicU32::new(0);
/// The timer period in counter ticks, and the next deadline.
static PERIOD: AtomicU64 = AtomicU64::new(0);
static DEADLINE: AtomicU64 = AtomicU64::new(0);

/// Re-arms the timer one period after the last deadline (no drift), or stops it after
/// the last tick; its line drops before the EOI either way.
fn tick(intid: u32) {
    if intid != VTIMER_IRQ {
        return;
    }
    if TAKEN.fetch_add(1, Ordering::AcqRel) + 1 < TICKS {
        let next = DEADLINE.load(Ordering::Acquire) + PERIOD.load(Ordering::Acquire);
        DEADLINE.store(next, Ordering::Release);
        timer_at(next);
    } else {
        timer_off();
    }
}

#[no_mangle]
fn main() {
    gic::init();
    on_irq(tick);
    gic::enable_private(VTIMER_IRQ);
    let period = counter_hz() / 100; // 10 ms
    PERIOD.store(period, Ordering::Release);
    DEADLINE.store(counter() + period, Ordering::Release);
    timer_at(DEADLINE.load(Ordering::Acquire));
    let mut printed = 0;
    while printed < TICKS {
        wait_until(|| TAKEN.load(Ordering::Acquire) > printed);
        let taken = TAKEN.load(Ordering::Acquire);
        for n in printed + 1..=taken {
            println!("timer-irq: tick {n}");
        }
        printed = taken;
    }
    println!("timer-irq: done");
}
