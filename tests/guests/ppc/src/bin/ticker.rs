//! Ticker: the decrementer with DECAR auto-reload, five interrupts through its own IVOR10
//! handler, dozing (MSR[WE] with HID0[DOZE]) between them. Under bulkhead the decrementer
//! is virtual: the hypervisor delivers each tick from its own (tickless) timer.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU32, Ordering};
use guests_ppc::{ivor, mfmsr, mfspr, msr, mtmsr, mtspr, println, set_trap_handler, spr, timebase, timer, Frame};

const TICKS: u32 = 5;
/// 10 ms at QEMU's 400 MHz timebase.
const PERIOD: u32 = 4_000_000;

static COUNT: AtomicU32 = AtomicU32::new(0);

fn on_trap(f: &mut Frame) -> bool {
    if f.vector != ivor::DECREMENTER {
        return false;
    }
    // SAFETY: acknowledging the decrementer (write 1 to clear TSR[DIS]); stopping it after
    // the last tick.
    unsafe { mtspr::<{ spr::TSR }>(timer::TSR_DIS) };
    let n = COUNT.load(Ordering::Relaxed) + 1;
    COUNT.store(n, Ordering::Relaxed);
    println!("tick {n}");
    if n == TICKS {
        // SAFETY: as above.
        unsafe { mtspr::<{ spr::TCR }>(0) };
    }
    // Wake up for good: the interrupted MSR had WE set (dozing); without this, rfi would
    // doze again.
    f.srr1 &= !msr::WE;
    true
}

#[no_mangle]
fn main() {
    set_trap_handler(on_trap);
    println!("ticker: start");
    let start = timebase();
    // SAFETY: the decrementer and HID0's doze mode belong to this guest.
    unsafe {
        mtspr::<{ spr::HID0 }>(mfspr::<{ spr::HID0 }>() | timer::HID0_DOZE);
        mtspr::<{ spr::DECAR }>(PERIOD);
        mtspr::<{ spr::DEC }>(PERIOD);
        mtspr::<{ spr::TCR }>(timer::TCR_DIE | timer::TCR_ARE);
    }
    let quiet = mfmsr() & !(msr::EE | msr::WE);
    // The count is checked with interrupts off, and one mtmsr both enables them and dozes:
    // a tick cannot slip in between (it is taken at once if already pending).
    // SAFETY: (all three) the guest's own interrupt enable and doze bits.
    unsafe { mtmsr(quiet) };
    while COUNT.load(Ordering::Relaxed) < TICKS {
        // SAFETY: as above.
        unsafe { mtmsr(quiet | msr::EE | msr::WE) };
        // SAFETY: as above.
        unsafe { mtmsr(quiet) };
    }
    let elapsed = timebase().wrapping_sub(start);
    println!("ticker: {TICKS} ticks, time advanced: {}", elapsed >= u64::from(TICKS) * u64::from(PERIOD));
}
