//! Watchdog: arms the Book E watchdog with its interrupt enabled and no reset
//! (TCR[WRC] = 0) and takes the watchdog critical interrupt through its own IVOR12
//! handler (`rfci`), which clears TSR[WIS] and TSR[ENW]. Each interrupt therefore needs two
//! time-outs (ENW, then WIS). Dozes (MSR[WE] with HID0[DOZE], MSR[CE] set) in between.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use guests_ppc::{ivor, mfmsr, mfspr, msr, mtmsr, mtspr, println, set_critical_handler, set_trap_handler, spr, timebase, timer, Frame};

const INTERRUPTS: u32 = 3;
/// Timebase bit 21: a time-out at each 0→1 transition, every 2^22 ticks (~10.5 ms at
/// QEMU's 400 MHz timebase).
const WDT_BIT: u32 = 21;
const TCR_WDT: u32 = timer::TCR_WIE | timer::period(WDT_BIT, timer::TCR_WP_SHIFT, timer::TCR_WPEXT_SHIFT);

static COUNT: AtomicU32 = AtomicU32::new(0);
/// The decrementer bounds the wait (a one-shot [`TIMEOUT`] ticks after the start): a
/// machine that never raises the event ends with a line saying so instead of hanging.
static TIMED_OUT: AtomicBool = AtomicBool::new(false);
/// ~1 s at QEMU's 400 MHz timebase.
const TIMEOUT: u32 = 400_000_000;

/// The decrementer's one-shot: stop waiting.
fn on_timeout(f: &mut Frame) -> bool {
    if f.vector != ivor::DECREMENTER {
        return false;
    }
    // SAFETY: acknowledging and disabling this guest's own decrementer.
    unsafe {
        mtspr::<{ spr::TSR }>(timer::TSR_DIS);
        mtspr::<{ spr::TCR }>(mfspr::<{ spr::TCR }>() & !timer::TCR_DIE);
    }
    TIMED_OUT.store(true, Ordering::Relaxed);
    f.srr1 &= !msr::WE;
    true
}

fn on_critical(f: &mut Frame) -> bool {
    if f.vector != ivor::WATCHDOG {
        return false;
    }
    // SAFETY: acknowledging the watchdog (write 1 to clear TSR[WIS] and TSR[ENW]: the
    // next interrupt again needs two time-outs); stopping it after the last one.
    unsafe { mtspr::<{ spr::TSR }>(timer::TSR_WIS | timer::TSR_ENW) };
    let n = COUNT.load(Ordering::Relaxed) + 1;
    COUNT.store(n, Ordering::Relaxed);
    println!("watchdog: interrupt {n}");
    if n == INTERRUPTS {
        // SAFETY: as above (WRC is 0, so TCR can be cleared).
        unsafe { mtspr::<{ spr::TCR }>(0) };
    }
    // Wake up for good: the interrupted MSR had WE set (dozing).
    f.srr1 &= !msr::WE;
    true
}

#[no_mangle]
fn main() {
    set_critical_handler(on_critical);
    set_trap_handler(on_timeout);
    println!("watchdog: start");
    let start = timebase();
    // SAFETY: the watchdog and HID0's doze mode belong to this guest; stale status is
    // cleared before the interrupt is enabled; WRC stays 0 (no reset).
    unsafe {
        mtspr::<{ spr::HID0 }>(mfspr::<{ spr::HID0 }>() | timer::HID0_DOZE);
        mtspr::<{ spr::TSR }>(timer::TSR_WIS | timer::TSR_ENW);
        mtspr::<{ spr::DEC }>(TIMEOUT);
        mtspr::<{ spr::TCR }>(TCR_WDT | timer::TCR_DIE);
    }
    println!("watchdog: reset control {}", (mfspr::<{ spr::TCR }>() & timer::TCR_WRC) >> 28);
    let quiet = mfmsr() & !(msr::CE | msr::EE | msr::WE);
    // SAFETY: (all three) the guest's own interrupt enables and doze bits; checked with
    // interrupts off, enabled and dozing in one mtmsr.
    unsafe { mtmsr(quiet) };
    while COUNT.load(Ordering::Relaxed) < INTERRUPTS && !TIMED_OUT.load(Ordering::Relaxed) {
        // SAFETY: as above.
        unsafe { mtmsr(quiet | msr::CE | msr::EE | msr::WE) };
        // SAFETY: as above.
        unsafe { mtmsr(quiet) };
    }
    // SAFETY: the timers are this guest's own; nothing waits any more (WRC is 0).
    unsafe { mtspr::<{ spr::TCR }>(0) };
    let n = COUNT.load(Ordering::Relaxed);
    if n < INTERRUPTS {
        println!("watchdog: timed out after {n} interrupts");
        return;
    }
    let elapsed = timebase().wrapping_sub(start);
    // Each interrupt takes two time-outs; the first of all may come at once.
    let least = u64::from(2 * INTERRUPTS - 1) << (WDT_BIT + 1);
    println!("watchdog: {INTERRUPTS} interrupts, time advanced: {}", elapsed >= least);
}
