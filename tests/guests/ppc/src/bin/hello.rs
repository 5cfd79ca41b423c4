//! Hello: prints, reads its MSR and PVR (both privileged: emulated under bulkhead), reads
//! back with `tlbre` the TLB1 entry the runtime wrote for the console, an unused one and
//! a TLB0 entry it writes itself (never used), searches them with `tlbsx`, checks that
//! XER survives emulated instructions that compute with carries, and powers off through the platform's power-off GPIO.
#![no_std]
#![no_main]

use core::arch::asm;
use guests_ppc::{mfmsr, mfspr, msr, mtspr, println, spr, timer, tlb};

/// A page nothing uses, for the TLB0 entry.
const TLB0_VA: u32 = 0x7105_3000;

/// tlbre of the entry MAS0 (and, for TLB0, MAS2's EPN) selects: (MAS1, MAS2, MAS3).
fn tlb_read(mas0: u32, mas2: u32) -> (u32, u32, u32) {
    // SAFETY: MAS0/MAS2 select the entry; tlbre only loads MAS1-3 (and MAS7) from it.
    unsafe {
        mtspr::<{ spr::MAS0 }>(mas0);
        mtspr::<{ spr::MAS2 }>(mas2);
        asm!("tlbre", "isync", options(nostack));
    }
    (mfspr::<{ spr::MAS1 }>(), mfspr::<{ spr::MAS2 }>(), mfspr::<{ spr::MAS3 }>())
}

/// Whether XER (CA set and clear) reads back unchanged right after `mfspr DEC` and `mtspr
/// DEC` of a running decrementer (with TCR[DIE] clear and set; MSR[EE] is clear) and a
/// `tlbsx` hit: instructions that compute with carries when emulated.
fn xer_kept() -> bool {
    let mut kept = true;
    for die in [0, timer::TCR_DIE] {
        for xer in [0u32, 1 << 29] {
            let (after_read, after_write, after_search): (u32, u32, u32);
            // SAFETY: the decrementer and TCR are this guest's own (no interrupt: MSR[EE]
            // is clear, and both are stopped and cleared below); tlbsx only loads MAS.
            unsafe {
                mtspr::<{ spr::TCR }>(die);
                mtspr::<{ spr::DEC }>(0x4000_0000);
                asm!("mtxer {x}", "mfspr {t}, 22", "mfxer {y}", x = in(reg) xer, t = out(reg) _, y = out(reg) after_read, options(nostack));
                asm!("mtxer {x}", "mtspr 22, {v}", "mfxer {y}", x = in(reg) xer, v = in(reg) 0x3000_0000u32, y = out(reg) after_write, options(nostack));
                mtspr::<{ spr::MAS6 }>(0);
                asm!("mtxer {x}", ".long 0x7C004F24", "mfxer {y}", x = in(reg) xer, y = out(reg) after_search, in("r9") TLB0_VA, options(nostack));
                mtspr::<{ spr::TCR }>(0);
                mtspr::<{ spr::DEC }>(0);
                mtspr::<{ spr::TSR }>(timer::TSR_DIS);
            }
            kept &= after_read == xer && after_write == xer && after_search == xer;
        }
    }
    kept
}

#[no_mangle]
fn main() {
    println!("hello: e500 guest up");
    let m = mfmsr();
    let state = if m & msr::PR != 0 { "problem" } else { "supervisor" };
    println!("hello: msr {m:#010x} ({state} state), pvr {:#010x}", mfspr::<{ spr::PVR }>());
    for esel in [1, 15] {
        let (mas1, mas2, mas3) = tlb_read(tlb::MAS0_TLB1 | esel << tlb::MAS0_ESEL_SHIFT, 0);
        println!("hello: tlbre TLB1[{esel}]: mas1 {mas1:#010x} mas2 {mas2:#010x} mas3 {mas3:#010x}");
    }
    // SAFETY: a TLB0 entry (way 2 of the page's set) for a page this guest never touches,
    // supervisor read only.
    unsafe {
        mtspr::<{ spr::MAS0 }>(2 << tlb::MAS0_ESEL_SHIFT);
        mtspr::<{ spr::MAS1 }>(tlb::MAS1_VALID | tlb::TSIZE_4K << tlb::MAS1_TSIZE_SHIFT);
        mtspr::<{ spr::MAS2 }>(TLB0_VA | tlb::COHERENT);
        mtspr::<{ spr::MAS3 }>(tlb::SR);
        asm!("isync", "tlbwe", "isync", options(nostack));
    }
    let (mas1, mas2, mas3) = tlb_read(2 << tlb::MAS0_ESEL_SHIFT, TLB0_VA);
    println!("hello: tlbre TLB0 way 2: mas1 {mas1:#010x} mas2 {mas2:#010x} mas3 {mas3:#010x}");
    // tlbsx (PID 0, address space 0): a TLB0 hit, a TLB1 hit (the console page) and a miss.
    // MAS0[NV] is left out (the hardware's round-robin hint).
    for ea in [TLB0_VA + 0x123, 0xe000_4500, 0x7300_0000] {
        let (mas0, mas1, mas2, mas3): (u32, u32, u32, u32);
        // SAFETY: tlbsx only loads the MAS registers.
        unsafe {
            mtspr::<{ spr::MAS6 }>(0);
            asm!(".long 0x7C004F24", "isync", in("r9") ea, options(nostack)); // tlbsx 0, r9
        }
        (mas0, mas1, mas2, mas3) = (mfspr::<{ spr::MAS0 }>() & !3, mfspr::<{ spr::MAS1 }>(), mfspr::<{ spr::MAS2 }>(), mfspr::<{ spr::MAS3 }>());
        if mas1 & tlb::MAS1_VALID != 0 {
            println!("hello: tlbsx {ea:#010x}: mas0 {mas0:#010x} mas1 {mas1:#010x} mas2 {mas2:#010x} mas3 {mas3:#010x}");
        } else {
            println!("hello: tlbsx {ea:#010x}: miss, mas1 {mas1:#010x}");
        }
    }
    println!("hello: XER kept across mfspr DEC, mtspr DEC, tlbsx: {}", xer_kept());
    println!("hello: powering off");
}
