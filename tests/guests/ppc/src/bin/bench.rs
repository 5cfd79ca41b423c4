//! Bench: cost of the operations a trap-and-emulate guest pays for, measured with the
//! timebase around loops of each. Run under `-icount shift=0` (1 ns of virtual time per
//! instruction, timebase 400 MHz): instructions per operation = ticks * 10 / 4.
#![no_std]
#![no_main]

use core::arch::asm;
use guests_ppc::{ivor, mfmsr, println, set_trap_handler, spr, timebase, tlb, tlb1_write, Frame, Mapping};

const N: u32 = 200;
/// Instructions per timebase tick under `-icount shift=0` (1 GHz / 400 MHz), times 10.
const INSNS_PER_TICK_X10: u64 = 25;

fn on_trap(f: &mut Frame) -> bool {
    f.vector == ivor::SYSTEM_CALL
}

fn report(what: &str, f: impl Fn()) {
    let start = timebase();
    f();
    let ticks = timebase() - start;
    println!("bench: {what}: {} instructions per iteration", ticks * INSNS_PER_TICK_X10 / 10 / u64::from(N));
}

#[no_mangle]
fn main() {
    set_trap_handler(on_trap);
    let m = mfmsr();
    let scratch = Mapping { esel: 7, va: 0x7000_0000, pa: 0, tsize: tlb::TSIZE_4K, wimge: tlb::COHERENT, perms: tlb::SR };
    report("empty loop", || {
        for _ in 0..N {
            // SAFETY: no-op.
            unsafe { asm!("nop") };
        }
    });
    report("mtmsr (same value)", || {
        for _ in 0..N {
            // SAFETY: writes back the current MSR.
            unsafe { asm!("mtmsr {0}", in(reg) m) };
        }
    });
    report("mfspr SPRG0", || {
        for _ in 0..N {
            // SAFETY: reads a scratch register.
            unsafe { asm!("mfspr {0}, {1}", out(reg) _, const spr::SPRG0) };
        }
    });
    report("tlbwe (TLB1, 5 MAS writes + tlbwe)", || {
        for _ in 0..N {
            // SAFETY: rewrites an entry nothing uses.
            unsafe { tlb1_write(&scratch) };
        }
    });
    report("sc round trip (guest's own handler)", || {
        for _ in 0..N {
            // SAFETY: a system call into our own handler, which returns at once.
            unsafe { asm!("sc", out("r0") _, out("r3") _) };
        }
    });
}
