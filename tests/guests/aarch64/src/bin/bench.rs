//! Benchmarks: what a round trip through the hypervisor costs, in guest-visible
//! instructions (guest and hypervisor together), for a null hypercall (through the core's
//! run loop), a PSCI query (answered by the vCPU) and an emulated PL011 register read.
//!
//! Run under QEMU's `-icount shift=0` (`cargo xtask bench`): then 1 instruction takes
//! 1 ns and the 62.5 MHz virtual counter advances once per 16 instructions, so the counts
//! are deterministic. Each operation runs `CALLS` times; the cost of the empty loop is
//! subtracted. Output: `bench: <what>: <n.n> instructions`, read by the runner.
//!
//! Interrupts: the virtual timer's latency, from the counter reaching CNTV_CVAL to the
//! guest's IRQ handler reading the counter (resolution: one tick, 16 instructions), over
//! `CALLS` interrupts, with the guest asleep in WFI and with the guest busy; and how often
//! the hypervisor is entered while the guest idles 10 ms in WFI (the STATS exit counter).
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use guests_aarch64::{
    counter, counter_hz, gic, hvc, irq_entry_count, irqs_on, on_irq, println, timer_at, timer_cval, timer_off,
    wait_until, VTIMER_IRQ,
};

const CALLS: u64 = 1000;
/// Instructions per virtual-counter tick under `-icount shift=0`.
const INSNS_PER_TICK: u64 = 16;
const HV_VERSION: u64 = 0xC600_0000;
const PSCI_VERSION: u64 = 0x8400_0000;
const UART_FR: usize = 0x0900_0018;
const HV_STATS: u64 = 0xC600_0003;
/// How far ahead each latency sample arms the timer: time enough for the guest to be
/// asleep (or spinning) before it fires.
const ARM_AHEAD: u64 = 256;

/// The last interrupt: taken, and its latency in counter ticks.
static FIRED: AtomicBool = AtomicBool::new(false);
static LATENCY: AtomicU64 = AtomicU64::new(0);

fn timer_irq(intid: u32) {
    if intid == VTIMER_IRQ {
        LATENCY.store(irq_entry_count().wrapping_sub(timer_cval()), Ordering::Release);
        timer_off();
        FIRED.store(true, Ordering::Release);
    }
}

/// Prints min/median/max of `CALLS` timer interrupts, `wfi`: asleep or spinning meanwhile.
fn latency(what: &str, wfi: bool) {
    let mut samples = [0u32; CALLS as usize];
    for s in samples.iter_mut() {
        FIRED.store(false, Ordering::Release);
        timer_at(counter() + ARM_AHEAD);
        if wfi {
            wait_until(|| FIRED.load(Ordering::Acquire));
        } else {
            while !FIRED.load(Ordering::Acquire) {}
        }
        *s = (LATENCY.load(Ordering::Acquire) * INSNS_PER_TICK) as u32;
    }
    samples.sort_unstable();
    let (min, median, max) = (samples[0], samples[samples.len() / 2], samples[samples.len() - 1]);
    println!("bench: {what} min/median/max: {min}/{median}/{max} instructions");
}

/// Exits the hypervisor counted while the guest slept 10 ms in WFI (its own timer wakes it).
fn idle_entries() {
    let before = hvc(HV_STATS, [0; 4])[1];
    FIRED.store(false, Ordering::Release);
    timer_at(counter() + counter_hz() / 100);
    wait_until(|| FIRED.load(Ordering::Acquire));
    let after = hvc(HV_STATS, [0; 4])[1];
    // The second STATS call counts itself.
    let n = after.wrapping_sub(before).wrapping_sub(1);
    println!("bench: hypervisor entries while idle for 10 ms (WFI; the hypervisor arms no timer): {n} exits");
}

fn ticks(f: impl Fn()) -> u64 {
    let start = counter();
    for _ in 0..CALLS {
        f();
    }
    counter() - start
}

/// Prints the cost of one `f` above the empty loop, with one decimal.
fn report(what: &str, empty: u64, f: impl Fn()) {
    let tenths = ticks(f).saturating_sub(empty) * INSNS_PER_TICK * 10 / CALLS;
    println!("bench: {what}: {}.{} instructions", tenths / 10, tenths % 10);
}

#[no_mangle]
fn main() {
    let empty = ticks(|| core::hint::black_box(()));
    report("null hypercall round trip", empty, || {
        hvc(HV_VERSION, [0; 4]);
    });
    report("PSCI_VERSION round trip", empty, || {
        hvc(PSCI_VERSION, [0; 4]);
    });
    // SAFETY: reading the (emulated) PL011 flag register has no side effects.
    report("emulated MMIO read (PL011 FR)", empty, || unsafe {
        core::ptr::read_volatile(UART_FR as *const u32);
    });
    gic::init();
    on_irq(timer_irq);
    gic::enable_private(VTIMER_IRQ);
    irqs_on();
    latency("virtual timer interrupt latency", true);
    latency("virtual timer interrupt latency, guest busy,", false);
    idle_entries();
}
