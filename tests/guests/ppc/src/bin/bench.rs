//! Bench: cost of the operations a trap-and-emulate guest pays for, measured with the
//! timebase around loops of each. Run under `-icount shift=0` (1 ns of virtual time per
//! instruction, timebase 400 MHz: 2.5 instructions per tick). Every line is
//! `bench: <what>: <n> instructions`, per operation with the loop's own overhead (an
//! empty loop of the same shape) subtracted. The guest cannot tell whether it runs
//! natively or as a partition: run it both ways and compare (docs/booke-emulation.md).
#![no_std]
#![no_main]

use core::arch::asm;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use guests_ppc::{ivor, mfmsr, mfspr, msr, mtspr, println, set_trap_handler, spr, timebase, timer, tlb, tlb1_write, Frame, Mapping};

const N: u64 = 2000;
/// Instructions per timebase tick under `-icount shift=0` (1 GHz / 400 MHz), times 2.
const INSNS_PER_TICK_X2: u64 = 5;
/// Decrementer interrupts timed for the latency line.
const DEC_SAMPLES: usize = 15;
/// Timebase ticks from arming the decrementer to its expiry.
const DEC_DELAY: u32 = 20_000;

/// Low word of the timebase at the last decrementer interrupt's handler entry (no
/// 64-bit atomics on this core; the latency is far below 2^32 ticks).
static DEC_AT: AtomicU32 = AtomicU32::new(0);
static DEC_SEEN: AtomicBool = AtomicBool::new(false);

fn on_trap(f: &mut Frame) -> bool {
    match f.vector {
        ivor::SYSTEM_CALL => true,
        ivor::DECREMENTER => {
            DEC_AT.store(timebase() as u32, Ordering::Relaxed);
            DEC_SEEN.store(true, Ordering::Release);
            // SAFETY: acknowledge and stop the decrementer (this guest's own).
            unsafe {
                mtspr::<{ spr::TSR }>(timer::TSR_DIS);
                mtspr::<{ spr::TCR }>(0);
            }
            true
        }
        _ => false,
    }
}

fn instructions(ticks: u64) -> u64 {
    ticks * INSNS_PER_TICK_X2 / 2
}

/// Instructions `f` takes (timebase resolution: 2.5 instructions).
fn measure(f: impl Fn()) -> u64 {
    let start = timebase();
    f();
    instructions(timebase() - start)
}

/// Instructions per iteration of `body` (run N times).
fn per_iteration(body: impl Fn()) -> u64 {
    measure(|| {
        for _ in 0..N {
            body();
        }
    }) / N
}

/// Prints the instructions per iteration of `body` (run N times), less `overhead`.
fn report(what: &str, overhead: u64, body: impl Fn()) -> u64 {
    let per = per_iteration(body);
    println!("bench: {what}: {} instructions", per.saturating_sub(overhead));
    per
}

/// Decrementer latency: timebase at the guest handler's entry minus the expiry it was
/// armed for, in instructions (includes the guest's own exception entry code).
fn decrementer_latency() {
    let mut samples = [0u64; DEC_SAMPLES];
    let quiet = mfmsr() & !msr::EE;
    for s in samples.iter_mut() {
        DEC_SEEN.store(false, Ordering::Relaxed);
        // SAFETY: the decrementer and MSR[EE] belong to this guest. A decrementer event
        // left pending by the register moves above (QEMU raises one natively when DEC is
        // written with 0) is cleared first.
        let expiry = unsafe {
            mtspr::<{ spr::TSR }>(timer::TSR_DIS);
            mtspr::<{ spr::TCR }>(timer::TCR_DIE);
            let now = timebase();
            mtspr::<{ spr::DEC }>(DEC_DELAY);
            now + u64::from(DEC_DELAY)
        };
        // SAFETY: as above; interrupts on while waiting, off again after.
        unsafe { asm!("mtmsr {0}", "isync", in(reg) quiet | msr::EE) };
        while !DEC_SEEN.load(Ordering::Acquire) {}
        // SAFETY: as above.
        unsafe { asm!("mtmsr {0}", "isync", in(reg) quiet) };
        let late = DEC_AT.load(Ordering::Relaxed).wrapping_sub(expiry as u32);
        *s = instructions(u64::from(late.min(u32::MAX / 2)));
    }
    samples.sort_unstable();
    println!("bench: decrementer latency min: {} instructions", samples[0]);
    println!("bench: decrementer latency median: {} instructions", samples[DEC_SAMPLES / 2]);
    println!("bench: decrementer latency max: {} instructions", samples[DEC_SAMPLES - 1]);
}

/// Writes a TLB0 entry (4 KiB, supervisor read, TID 0, address space 0) for `va`, mapped
/// to physical 0, in way 0 of its set.
///
/// # Safety
/// `va` must be an address the guest does not otherwise use.
unsafe fn tlb0_write(va: u32) {
    // SAFETY: forwarded; the MAS registers only stage the entry.
    unsafe {
        mtspr::<{ spr::MAS0 }>(0);
        mtspr::<{ spr::MAS1 }>(tlb::MAS1_VALID | tlb::TSIZE_4K << tlb::MAS1_TSIZE_SHIFT);
        mtspr::<{ spr::MAS2 }>(va | tlb::COHERENT);
        mtspr::<{ spr::MAS3 }>(tlb::SR);
        mtspr::<{ spr::MAS7 }>(0);
        asm!("isync", "tlbwe", "isync", options(nostack));
    }
}

/// A small pseudo-random step: the unit of work of the two mixed loops.
#[inline(always)]
fn work(x: u32) -> u32 {
    let x = x ^ (x << 13);
    let x = x ^ (x >> 17);
    x ^ (x << 5)
}

#[no_mangle]
fn main() {
    set_trap_handler(on_trap);
    let m = mfmsr();
    let sprg0 = mfspr::<{ spr::SPRG0 }>();
    let scratch = Mapping { esel: 7, va: 0x7000_0000, pa: 0, tsize: tlb::TSIZE_4K, wimge: tlb::COHERENT, perms: tlb::SR };
    // SAFETY: (all loops) each writes back a value the register already holds, or
    // touches only the scratch TLB entry and the MAS registers, or calls our own handler.
    let empty = report("empty loop", 0, || unsafe { asm!("nop") });
    report("mtmsr", empty, || unsafe { asm!("mtmsr {0}", in(reg) m) });
    report("mfmsr", empty, || unsafe { asm!("mfmsr {0}", out(reg) _) });
    report("mfspr SPRG0", empty, || unsafe { asm!("mfspr {0}, {1}", out(reg) _, const spr::SPRG0) });
    report("mtspr SPRG0", empty, || unsafe { asm!("mtspr {1}, {0}", in(reg) sprg0, const spr::SPRG0) });
    report("wrteei", empty, || unsafe { asm!("wrteei 0") });
    report("wrtee", empty, || unsafe { asm!("wrtee {0}", in(reg) m) });
    // Plain SPRs and read-only identification: the Program vector's own fast path.
    let srr0 = mfspr::<{ spr::SRR0 }>();
    report("mfspr SRR0", empty, || unsafe { asm!("mfspr {0}, {1}", out(reg) _, const spr::SRR0) });
    report("mtspr SRR0", empty, || unsafe { asm!("mtspr {1}, {0}", in(reg) srr0, const spr::SRR0) });
    report("mfspr ESR", empty, || unsafe { asm!("mfspr {0}, {1}", out(reg) _, const spr::ESR) });
    report("mtspr DEAR", empty, || unsafe { asm!("mtspr {1}, {0}", in(reg) 0, const spr::DEAR) });
    report("mfspr PVR", empty, || unsafe { asm!("mfspr {0}, {1}", out(reg) _, const spr::PVR) });
    report("mfspr PIR", empty, || unsafe { asm!("mfspr {0}, {1}", out(reg) _, const spr::PIR) });
    // rfi to the next instruction with the current MSR: three emulated instructions; the
    // line is the rfi alone (the two mtspr SRR0/SRR1 measured as mtspr SRR0 subtracted).
    let mtspr_srr0 = per_iteration(|| unsafe { asm!("mtspr {1}, {0}", in(reg) srr0, const spr::SRR0) });
    report("rfi", empty + 2 * (mtspr_srr0 - empty), || unsafe {
        asm!("bl 1f", "1: mflr {t}", "addi {t}, {t}, 20", "mtspr {srr0}, {t}", "mtspr {srr1}, {m}", "rfi",
            t = out(reg) _, m = in(reg) m, srr0 = const spr::SRR0, srr1 = const spr::SRR1, out("lr") _)
    });
    // Timer registers. Values written back as they are: DEC and TCR 0, no TSR bit (no
    // deadline moves, nothing to re-arm).
    report("mfspr DEC", empty, || unsafe { asm!("mfspr {0}, {1}", out(reg) _, const spr::DEC) });
    report("mtspr DEC", empty, || unsafe { asm!("mtspr {1}, {0}", in(reg) 0, const spr::DEC) });
    report("mfspr TSR", empty, || unsafe { asm!("mfspr {0}, {1}", out(reg) _, const spr::TSR) });
    report("mtspr TSR", empty, || unsafe { asm!("mtspr {1}, {0}", in(reg) 0, const spr::TSR) });
    report("mtspr TCR", empty, || unsafe { asm!("mtspr {1}, {0}", in(reg) 0, const spr::TCR) });
    // TCR written with a value it does not hold: ARE set, then cleared (the decrementer is
    // stopped and its interrupt disabled, so no deadline moves); the line is one write.
    let tcr_pair = per_iteration(|| unsafe {
        asm!("mtspr {2}, {0}", "mtspr {2}, {1}", in(reg) timer::TCR_ARE, in(reg) 0, const spr::TCR)
    });
    println!("bench: mtspr TCR (changing it: ARE set, cleared; per write): {} instructions", tcr_pair.saturating_sub(empty) / 2);
    // DEC written while its interrupt is enabled (a tickless kernel's next event): every
    // write moves the deadline the hypervisor arms the physical decrementer for. 2^30
    // ticks (2.7 s) never expire during the loop.
    // SAFETY: the decrementer is this guest's own; stopped and disabled again after.
    unsafe { mtspr::<{ spr::TCR }>(timer::TCR_DIE) };
    report("mtspr DEC (interrupt enabled: re-armed)", empty, || unsafe {
        asm!("mtspr {1}, {0}", in(reg) 0x4000_0000u32, const spr::DEC)
    });
    // SAFETY: as above.
    unsafe {
        mtspr::<{ spr::DEC }>(0);
        mtspr::<{ spr::TCR }>(0);
        mtspr::<{ spr::TSR }>(timer::TSR_DIS);
    }
    report("tlbwe (TLB1 write: 5 mtspr MAS + tlbwe)", empty, || unsafe { tlb1_write(&scratch) });
    report("TLB0 write (5 mtspr MAS + tlbwe)", empty, || unsafe { tlb0_write(0x7100_0000) });
    // tlbsx 0, r9 (E500CORERM 12.4.3), searching for the scratch entry's page.
    report("tlbsx", empty, || unsafe { asm!(".long 0x7C004F24", in("r9") scratch.va, out("r0") _) });
    report("tlbre", empty, || unsafe { asm!("tlbre") });
    // tlbivax of a TLB0 page no entry maps (E500CORERM 12.4.4: EA bit 60 clear).
    report("tlbivax (no entry hit)", empty, || unsafe { asm!("tlbivax 0, {0}", in(reg) 0x7200_0000u32) });
    // tlbsx of that page: a miss, the MAS registers loaded from the MAS4 defaults.
    report("tlbsx (miss)", empty, || unsafe { asm!(".long 0x7C004F24", in("r9") 0x7200_0000u32, out("r0") _) });
    report("sc round trip (guest's own handler)", empty, || unsafe { asm!("sc", out("r0") _, out("r3") _) });
    decrementer_latency();
    // A syscall-heavy and a compute-only loop: compare with a native run for the ratio.
    let syscalls = measure(|| {
        let mut x = 1u32;
        for _ in 0..N {
            for _ in 0..20 {
                x = work(x);
            }
            // SAFETY: a system call into our own handler.
            unsafe { asm!("sc", inout("r3") x, out("r0") _) };
        }
        core::hint::black_box(x);
    });
    println!("bench: syscall-heavy loop (sc per 20 steps, x{N}): {syscalls} instructions");
    let compute = measure(|| {
        let mut x = 1u32;
        for _ in 0..N * 20 {
            x = core::hint::black_box(work(x));
        }
    });
    println!("bench: compute-only loop (x{}): {compute} instructions", N * 20);
}
