//! FIT: the fixed-interval timer, five interrupts through its own IVOR11 handler (which
//! clears TSR[FIS]), dozing (MSR[WE] with HID0[DOZE]) between them. Under bulkhead the FIT
//! is virtual: its events are timebase bit transitions the hypervisor counts, and it arms
//! its own (tickless) timer for the next one the guest has enabled.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use guests_ppc::{ivor, mfmsr, mfspr, msr, mtmsr, mtspr, println, set_trap_handler, spr, timebase, timer, Frame};

const TICKS: u32 = 5;
/// Timebase bit 21: an event at each 0→1 transition, every 2^22 ticks (~10.5 ms at QEMU's
/// 400 MHz timebase).
const FIT_BIT: u32 = 21;
const TCR_FIT: u32 = timer::TCR_FIE | timer::period(FIT_BIT, timer::TCR_FP_SHIFT, timer::TCR_FPEXT_SHIFT);

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

fn on_trap(f: &mut Frame) -> bool {
    if f.vector != ivor::FIXED_INTERVAL_TIMER {
        return on_timeout(f);
    }
    // SAFETY: acknowledging the FIT (write 1 to clear TSR[FIS]); stopping it after the
    // last tick.
    unsafe { mtspr::<{ spr::TSR }>(timer::TSR_FIS) };
    let n = COUNT.load(Ordering::Relaxed) + 1;
    COUNT.store(n, Ordering::Relaxed);
    println!("fit: tick {n}");
    if n == TICKS {
        // SAFETY: as above.
        unsafe { mtspr::<{ spr::TCR }>(0) };
    }
    // Wake up for good: the interrupted MSR had WE set (dozing).
    f.srr1 &= !msr::WE;
    true
}

#[no_mangle]
fn main() {
    set_trap_handler(on_trap);
    println!("fit: start");
    let start = timebase();
    // SAFETY: the FIT and HID0's doze mode belong to this guest; any stale FIS is cleared
    // before the interrupt is enabled.
    unsafe {
        mtspr::<{ spr::HID0 }>(mfspr::<{ spr::HID0 }>() | timer::HID0_DOZE);
        mtspr::<{ spr::TSR }>(timer::TSR_FIS);
        mtspr::<{ spr::DEC }>(TIMEOUT);
        mtspr::<{ spr::TCR }>(TCR_FIT | timer::TCR_DIE);
    }
    let quiet = mfmsr() & !(msr::EE | msr::WE);
    // SAFETY: (all three) the guest's own interrupt enable and doze bits; checked with
    // interrupts off, enabled and dozing in one mtmsr, as the ticker does.
    unsafe { mtmsr(quiet) };
    while COUNT.load(Ordering::Relaxed) < TICKS && !TIMED_OUT.load(Ordering::Relaxed) {
        // SAFETY: as above.
        unsafe { mtmsr(quiet | msr::EE | msr::WE) };
        // SAFETY: as above.
        unsafe { mtmsr(quiet) };
    }
    // SAFETY: the decrementer is this guest's own; nothing waits any more.
    unsafe { mtspr::<{ spr::TCR }>(0) };
    let n = COUNT.load(Ordering::Relaxed);
    if n < TICKS {
        println!("fit: timed out after {n} ticks");
        return;
    }
    let elapsed = timebase().wrapping_sub(start);
    // Five events need at least four full periods after the first.
    println!("fit: {TICKS} ticks, time advanced: {}", elapsed >= u64::from(TICKS - 1) << (FIT_BIT + 1));
}
