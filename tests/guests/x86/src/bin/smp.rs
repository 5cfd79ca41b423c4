//! SMP: an ordinary two-CPU kernel. The boot CPU starts CPU 1 with INIT and STARTUP (the
//! runtime's real-mode trampoline at 0x8000, `guests_x86::start_ap`), which reaches long
//! mode on the same page tables and reports in; then they exchange fixed IPIs in turn
//! (ping 0x41 to CPU 1, pong 0x42 back to CPU 0), each taken through the IDT and ended
//! with an EOI, each CPU halted (HLT) while it waits; then a fixed IPI to x2APIC id 5,
//! which no CPU has (natively lost; bulkhead refuses it: not one of the partition's
//! vCPUs), and power off. Natively on Bochs with three CPUs and as a partition of two
//! vCPUs it prints the same lines.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU32, Ordering};
use guests_x86::{interrupts_off, println, set_trap_handler, start_ap, wait_for_interrupt, x2apic, Frame, AP_TRAMPOLINE};

const PING: u8 = 0x41;
const PONG: u8 = 0x42;
const ROUNDS: u32 = 3;
/// An x2APIC id no CPU of the machine (nor vCPU of the partition) has.
const NOBODY: u32 = 5;

/// Pings CPU 1 took, pongs CPU 0 took.
static PINGS: AtomicU32 = AtomicU32::new(0);
static PONGS: AtomicU32 = AtomicU32::new(0);
/// CPU 1's progress: 1 once it printed its first line, 2 when it is done.
static AP_STEP: AtomicU32 = AtomicU32::new(0);

fn on_trap(f: &mut Frame) -> bool {
    let count = match f.vector as u8 {
        PING => &PINGS,
        PONG => &PONGS,
        _ => return false,
    };
    count.fetch_add(1, Ordering::AcqRel);
    x2apic::eoi();
    true
}

/// Halts (interrupts on) until `count` reaches `n`.
fn wait_for(count: &AtomicU32, n: u32) {
    while count.load(Ordering::Acquire) < n {
        wait_for_interrupt();
    }
}

#[no_mangle]
fn main() {
    x2apic::enable();
    set_trap_handler(on_trap);
    println!("smp: cpu {} boots, starting cpu 1 at {:#x}", x2apic::id(), AP_TRAMPOLINE);
    if !start_ap(1, ap_main) {
        println!("smp: cpu 1 did not start");
        return;
    }
    while AP_STEP.load(Ordering::Acquire) < 1 {
        core::hint::spin_loop();
    }
    for round in 1..=ROUNDS {
        x2apic::send(1, x2apic::ICR_FIXED | u64::from(PING));
        wait_for(&PONGS, round);
        println!("smp: cpu 0 got pong {round}");
    }
    while AP_STEP.load(Ordering::Acquire) < 2 {
        core::hint::spin_loop();
    }
    x2apic::send(NOBODY, x2apic::ICR_FIXED | u64::from(PING));
    println!("smp: {ROUNDS} rounds, ping to cpu {NOBODY}: {} pings arrived", PINGS.load(Ordering::Acquire));
}

/// CPU 1, in long mode on its own stack.
fn ap_main() -> ! {
    x2apic::enable();
    println!("smp: cpu {} in long mode", x2apic::id());
    AP_STEP.store(1, Ordering::Release);
    for round in 1..=ROUNDS {
        wait_for(&PINGS, round);
        println!("smp: cpu 1 got ping {round}");
        x2apic::send(0, x2apic::ICR_FIXED | u64::from(PONG));
    }
    AP_STEP.store(2, Ordering::Release);
    loop {
        interrupts_off();
        wait_for_interrupt(); // halted for good: nothing is sent to it any more
    }
}
