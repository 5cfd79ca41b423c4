//! Ticker: the local APIC timer in TSC-deadline mode (x2APIC), five interrupts through its
//! own IDT, halted (HLT) between them. Under bulkhead the APIC is virtual: the hypervisor
//! delivers each tick from its own (tickless) timer, the VMX-preemption timer.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use guests_x86::{interrupts_off, println, rdtsc, set_trap_handler, wait_for_interrupt, x2apic, Frame};

const TICKS: u32 = 5;
const VECTOR: u8 = 0x40;
/// TSC ticks between interrupts.
const PERIOD: u64 = 2_000_000;

static COUNT: AtomicU32 = AtomicU32::new(0);
static NEXT: AtomicU64 = AtomicU64::new(0);

fn on_trap(f: &mut Frame) -> bool {
    if f.vector != u64::from(VECTOR) {
        return false;
    }
    let n = COUNT.load(Ordering::Relaxed) + 1;
    COUNT.store(n, Ordering::Relaxed);
    println!("tick {n}");
    if n < TICKS {
        let next = NEXT.load(Ordering::Relaxed) + PERIOD;
        NEXT.store(next, Ordering::Relaxed);
        x2apic::arm(next);
    }
    x2apic::eoi();
    true
}

#[no_mangle]
fn main() {
    set_trap_handler(on_trap);
    println!("ticker: start");
    x2apic::enable();
    x2apic::timer_deadline_mode(VECTOR);
    let start = rdtsc();
    NEXT.store(start + PERIOD, Ordering::Relaxed);
    x2apic::arm(start + PERIOD);
    // The count is checked with interrupts off; STI;HLT then waits without missing a tick.
    interrupts_off();
    while COUNT.load(Ordering::Relaxed) < TICKS {
        wait_for_interrupt();
    }
    let elapsed = rdtsc().wrapping_sub(start);
    println!("ticker: {TICKS} ticks, time advanced: {}", elapsed >= u64::from(TICKS) * PERIOD);
}
