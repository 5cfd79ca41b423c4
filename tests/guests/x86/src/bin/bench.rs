//! Benchmarks: what a round trip through the hypervisor costs, in Bochs TSC ticks (guest
//! and hypervisor together), for a null hypercall (VMCALL through the core), a CPUID
//! (answered by the vCPU) and an emulated port read (the COM1 line status register, through
//! the core's NS16550 model); the virtual timer's interrupt latency, from the deadline to
//! the guest's handler reading the TSC, with the guest halted and busy; and how often the
//! hypervisor is entered over one halted timer period.
//!
//! Bochs has no instruction counter a guest can read; with `clock: sync=none` its TSC
//! advances with emulated instructions, deterministically. The guest calibrates it first:
//! a loop of a known instruction count, timed (Bochs 2.7: 1000 ticks per 1000
//! instructions, so the numbers are instructions, VM exits and entries counting as one).
//! Each operation runs `CALLS` times; the cost of the empty loop is subtracted. Output:
//! `bench: <what>: <n.n> <unit>`, read by the runner. Only meaningful as a partition.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use guests_x86::{inb, println, rdtsc, set_trap_handler, vmcall, wait_for_interrupt, x2apic, Frame};

const CALLS: u64 = 1000;
const SAMPLES: usize = 100;
const VERSION: u64 = 0xC600_0000;
const STATS: u64 = 0xC600_0003;
const COM1_LSR: u16 = 0x3fd;
const VECTOR: u8 = 0x40;
/// How far ahead each latency sample arms the timer (time enough to be halted first).
const ARM_AHEAD: u64 = 20_000;
/// The calibration loop: iterations of `dec rcx; jnz` (two instructions each).
const LOOP_ITERATIONS: u64 = 100_000;

static FIRED: AtomicBool = AtomicBool::new(false);
static DEADLINE: AtomicU64 = AtomicU64::new(0);
static LATENCY: AtomicU64 = AtomicU64::new(0);

fn on_trap(f: &mut Frame) -> bool {
    if f.vector != u64::from(VECTOR) {
        return false;
    }
    LATENCY.store(rdtsc().wrapping_sub(DEADLINE.load(Ordering::Relaxed)), Ordering::Relaxed);
    FIRED.store(true, Ordering::Release);
    x2apic::eoi();
    true
}

fn ticks(f: impl Fn()) -> u64 {
    let start = rdtsc();
    for _ in 0..CALLS {
        f();
    }
    rdtsc() - start
}

/// Prints the cost of one `f` above the empty loop, with one decimal.
fn report(what: &str, empty: u64, f: impl Fn()) {
    let tenths = ticks(f).saturating_sub(empty) * 10 / CALLS;
    println!("bench: {what}: {}.{} TSC ticks", tenths / 10, tenths % 10);
}

fn calibrate() {
    let start = rdtsc();
    // SAFETY: a counted loop on RCX, nothing else.
    unsafe { core::arch::asm!("2:", "dec rcx", "jnz 2b", inout("rcx") LOOP_ITERATIONS => _, options(nomem, nostack)) };
    let t = rdtsc() - start;
    let per_1000 = t * 1000 / (2 * LOOP_ITERATIONS);
    println!("bench: TSC ticks per 1000 instructions (calibration loop): {per_1000} ticks");
}

/// Min/median/max latency of `SAMPLES` timer interrupts, halted or busy meanwhile.
fn latency(what: &str, halted: bool) {
    let mut samples = [0u64; SAMPLES];
    for s in samples.iter_mut() {
        FIRED.store(false, Ordering::Release);
        let d = rdtsc() + ARM_AHEAD;
        DEADLINE.store(d, Ordering::Relaxed);
        x2apic::arm(d);
        if halted {
            while !FIRED.load(Ordering::Acquire) {
                wait_for_interrupt();
            }
        } else {
            guests_x86::interrupts_on();
            while !FIRED.load(Ordering::Acquire) {}
            guests_x86::interrupts_off();
        }
        *s = LATENCY.load(Ordering::Relaxed);
    }
    samples.sort_unstable();
    println!("bench: {what} min/median/max: {}/{}/{} TSC ticks", samples[0], samples[SAMPLES / 2], samples[SAMPLES - 1]);
}

/// Exits over one timer period of `period` TSC ticks the guest spends halted: arming the
/// deadline (WRMSR), the HLT, the deadline (the preemption timer), the EOI (WRMSR); nothing
/// in between, however long the period.
fn idle_entries(period: u64) {
    let before = vmcall(STATS, [0; 4])[1];
    FIRED.store(false, Ordering::Release);
    let d = rdtsc() + period;
    DEADLINE.store(d, Ordering::Relaxed);
    x2apic::arm(d);
    while !FIRED.load(Ordering::Acquire) {
        wait_for_interrupt();
    }
    let after = vmcall(STATS, [0; 4])[1];
    // The second STATS call counts itself.
    let n = after.wrapping_sub(before).wrapping_sub(1);
    println!("bench: hypervisor entries over a halted timer period of {period} TSC ticks (arm, HLT, deadline, EOI): {n} exits");
}

#[no_mangle]
fn main() {
    set_trap_handler(on_trap);
    calibrate();
    let empty = ticks(|| core::hint::black_box(()));
    report("null hypercall round trip", empty, || {
        vmcall(VERSION, [0; 4]);
    });
    report("CPUID round trip (answered by the vCPU)", empty, || {
        core::arch::x86_64::__cpuid(0);
    });
    // SAFETY: reading the (emulated) line status register has no side effect.
    report("emulated port read (COM1 LSR)", empty, || unsafe {
        inb(COM1_LSR);
    });
    x2apic::enable();
    x2apic::timer_deadline_mode(VECTOR);
    latency("virtual timer interrupt latency, guest halted,", true);
    latency("virtual timer interrupt latency, guest busy,", false);
    idle_entries(1_000_000);
    idle_entries(100_000_000);
}
