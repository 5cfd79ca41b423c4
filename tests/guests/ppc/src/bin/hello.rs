//! Hello: prints, reads its MSR and PVR (both privileged: emulated under bulkhead), reads
//! back with `tlbre` the TLB1 entry the runtime wrote for the console, an unused one and
//! a TLB0 entry it writes itself (never used), and powers off through the platform's power-off GPIO.
#![no_std]
#![no_main]

use core::arch::asm;
use guests_ppc::{mfmsr, mfspr, msr, mtspr, println, spr, tlb};

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
    println!("hello: powering off");
}
