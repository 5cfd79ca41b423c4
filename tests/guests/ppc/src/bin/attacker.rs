//! Attacker: what a hostile partition tries on e500, in order. Meant for bulkhead only
//! (natively nothing stops it):
//! 1. floods the hypervisor with traps (privileged instructions and system calls);
//! 2. maps physical 0 (where a naive guest expects the hypervisor) and reads it back:
//!    under bulkhead that is its own RAM, so it reads its own entry code;
//! 3. maps and writes the hypervisor's memory (physical 0x0100_0000..: its device tree);
//! 4. maps and writes another partition's memory (physical 0x0200_0000);
//! 5. maps and writes the MPIC (CCSR + 0x40000): under bulkhead that is its own MPIC
//!    model (the write goes to a read-only register and is ignored);
//! 6. maps and writes the global utilities block (CCSR + 0xE0000, which can reset the
//!    SoC), which it was not given.
//!
//! With fault policy `stop` the partition is stopped at step 3; with `inject` each refused
//! access comes back as a data storage interrupt, reported here, and the attacker goes on.
#![no_std]
#![no_main]

use guests_ppc::{ivor, mfmsr, println, set_trap_handler, tlb, tlb1_write, Frame, Mapping, CCSR_PA, RAM};

const FLOOD: u32 = 20_000;
const WINDOW: u32 = 0x4000_0000;
const MPIC_OFFSET: u64 = 0x4_0000;
const GUTS_OFFSET: u64 = 0xe_0000;

fn on_trap(f: &mut Frame) -> bool {
    match f.vector {
        ivor::SYSTEM_CALL => {}
        ivor::DATA_STORAGE | ivor::DATA_TLB => {
            println!("attacker: refused: data access at {:#010x} (IVOR{})", f.dear, f.vector);
            f.srr0 += 4;
        }
        _ => return false,
    }
    true
}

/// Maps `pa` at WINDOW with a 16 MiB (or 4 KiB device) page and writes a word there.
fn poke(what: &str, pa: u64, device: bool) {
    let (tsize, wimge) = if device {
        (tlb::TSIZE_4K, tlb::INHIBITED | tlb::GUARDED)
    } else {
        (RAM.tsize, tlb::COHERENT)
    };
    println!("attacker: writing {what} (physical {pa:#x})");
    // SAFETY: the window is an address this guest uses for nothing else; the write is the
    // attack, and a refusal comes back through on_trap.
    unsafe {
        tlb1_write(&Mapping { esel: 6, va: WINDOW, pa, tsize, wimge, perms: tlb::SR | tlb::SW });
        core::ptr::write_volatile(WINDOW as *mut u32, 0xdead_beef);
    }
}

#[no_mangle]
fn main() {
    set_trap_handler(on_trap);
    println!("attacker: flooding with {FLOOD} privileged instructions and {FLOOD} system calls");
    let mut reads = 0u32;
    for _ in 0..FLOOD {
        reads += u32::from(mfmsr() == 0);
        // SAFETY: a system call into our own handler, which returns at once.
        unsafe { core::arch::asm!("sc", out("r0") _, out("r3") _) };
    }
    println!("attacker: still running after the flood ({reads} MSR reads answered)");

    // SAFETY: a read-only look at physical 0 through a fresh window.
    let first = unsafe {
        tlb1_write(&Mapping { esel: 6, va: WINDOW, pa: 0, tsize: RAM.tsize, wimge: tlb::COHERENT, perms: tlb::SR });
        core::ptr::read_volatile(WINDOW as *const u32)
    };
    let own: u32;
    // SAFETY: reads this guest's own first instruction (RAM mapped at 0).
    unsafe { core::arch::asm!("lwz {0}, 0({1})", out(reg) own, in(reg_nonzero) 0u32) };
    println!("attacker: physical 0 holds {first:#010x}; own code {}", if first == own { "(same: isolated)" } else { "(different!)" });

    poke("hypervisor memory", 0x0100_0000, false);
    poke("another partition's memory", 0x0200_0000, false);
    poke("the MPIC", CCSR_PA + MPIC_OFFSET, true);
    poke("the global utilities", CCSR_PA + GUTS_OFFSET, true);
    println!("attacker: done");
}
