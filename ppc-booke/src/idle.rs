//! Sleeping the physical CPU while a guest waits for an interrupt.
//!
//! The hypervisor runs with MSR[EE] = 0 and treats any interrupt taken in supervisor state
//! as its own fault, so it does not doze itself: it dozes in a one-instruction "guest", a
//! branch-to-self in a page of its own entered in problem state with MSR[WE] (doze, with
//! HID0[DOZE]) and MSR[EE] set. The next decrementer (or external) interrupt wakes the
//! core and comes back through the normal guest-exit path of [`crate::trap::run`]. The stub
//! page is mapped in address space 1 with a TLB1 entry only while it runs, under a PID of
//! its own ([`crate::shadow::pid::IDLE`]) so that no shadow entry can also match.

/// MSR[WE]: wait state enable (doze, nap or sleep per HID0).
#[cfg(target_arch = "powerpc")]
const MSR_WE: u32 = 1 << 18;
/// HID0[DOZE]: MSR[WE] selects doze (the timebase and decrementer keep running).
#[cfg(target_arch = "powerpc")]
const HID0_DOZE: u32 = 1 << 23;

/// Dozes until the next interrupt, using TLB1 entry `esel` (free while no guest runs;
/// free again afterwards). The caller has armed whatever should wake it.
#[cfg(target_arch = "powerpc")]
pub fn doze(esel: u8) {
    use crate::spr;
    use crate::tlb::{Memory, PageSize, Perms, Tlb1Entry};
    use crate::trap::{msr, TrapFrame};
    extern "C" {
        static bh_idle_stub: u8;
    }
    // Only the address of the stub is taken (no read).
    let page = core::ptr::addr_of!(bh_idle_stub) as u32;
    let mapping = Tlb1Entry {
        esel,
        va: page,
        pa: page as u64,
        size: PageSize::K4,
        memory: Memory::Normal,
        perms: Perms::USER_RX,
        iprot: false,
        guest_space: true,
    };
    // SAFETY: the entry maps only the stub's own page (a branch to itself), read/execute,
    // in address space 1; PID0 = IDLE keeps every shadow entry from matching meanwhile;
    // HID0[DOZE] only matters while MSR[WE] is set, which only the stub's MSR has.
    unsafe {
        spr::write::<{ spr::HID0 }>(spr::read::<{ spr::HID0 }>() | HID0_DOZE);
        spr::write::<{ spr::PID0 }>(crate::shadow::pid::IDLE);
        crate::tlb::write(&mapping);
    }
    let mut frame = TrapFrame::ZERO;
    frame.srr0 = page;
    frame.srr1 = msr::EE | MSR_WE;
    // SAFETY: the only problem-state mapping PID IDLE can use in address space 1 is the
    // stub page.
    let _ = unsafe { crate::trap::run(&mut frame) };
    // SAFETY: nothing but the finished stub used the entry.
    unsafe { crate::tlb::invalidate(&mapping) };
}

// The idle stub, alone in its 4 KiB page (the board's linker script keeps .guest_probe).
#[cfg(target_arch = "powerpc")]
core::arch::global_asm!(
    r#"
    .section .guest_probe, "ax"
    .balign 4096                       # a page of its own: it is mapped for problem state
    .globl bh_idle_stub
bh_idle_stub:
    b .                                # doze here (MSR[WE]) until an interrupt
    .balign 4096                       # nothing else shares the page
    "#
);
