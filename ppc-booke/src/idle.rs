//! Sleeping the physical CPU while a guest waits for an interrupt, or while a core has
//! nothing to run.
//!
//! The hypervisor runs with MSR[EE] = 0 and treats any interrupt taken in supervisor state
//! as its own fault, except in one place: the four-instruction wait loop `bh_idle_wait`
//! below, entered like a guest (through [`crate::trap::enter`], so traps save into a frame
//! of its own and come back as a return from `enter`) but in supervisor state with
//! MSR[EE] set. There it sets MSR[WE] with `mtmsr` (doze, with HID0[DOZE]); the next
//! decrementer (or external) interrupt wakes the core, and the trap path recognises the
//! wait loop by its address and returns to [`doze`]'s caller.
//!
//! Why `mtmsr` and not `rfi`: QEMU never lets `rfi` set MSR[WE] ("MSR:POW cannot be set by
//! any form of rfi"), so an earlier design, a branch-to-self entered in problem state
//! with WE in SRR1, never dozed there: it spun until the next interrupt. With one core
//! that only wasted host time; with two under QEMU's round-robin TCG, a core spinning in
//! its "doze" took the other core's time slices (U-Boot on core 0 slowed to a crawl while
//! the idle core 1 spun).

/// MSR[WE]: wait state enable (doze, nap or sleep per HID0).
#[cfg(target_arch = "powerpc")]
const MSR_WE: u32 = 1 << 18;
/// HID0[DOZE]: MSR[WE] selects doze (the timebase and decrementer keep running).
#[cfg(target_arch = "powerpc")]
const HID0_DOZE: u32 = 1 << 23;

/// Dozes until the next interrupt. The caller has armed whatever should wake it (or
/// nothing, for a core that sleeps for good).
#[cfg(target_arch = "powerpc")]
pub fn doze() {
    use crate::spr;
    use crate::trap::{msr, TrapFrame};
    extern "C" {
        static bh_idle_wait: u8;
    }
    // SAFETY: HID0[DOZE] only matters while MSR[WE] is set, which only the wait loop sets.
    unsafe { spr::write::<{ spr::HID0 }>(spr::read::<{ spr::HID0 }>() | HID0_DOZE) };
    let mut frame = TrapFrame::ZERO;
    // Only the address of the loop is taken (no read).
    frame.srr0 = core::ptr::addr_of!(bh_idle_wait) as u32;
    frame.srr1 = msr::ME | msr::EE;
    // SAFETY: the frame enters the wait loop in supervisor state, address space 0, with
    // interrupts on; it touches no memory and no register the hypervisor keeps (all
    // GPRs come from the zeroed frame), and its first interrupt returns here through the
    // trap path (bh_trap_dispatch's idle check).
    let _ = unsafe { crate::trap::enter(&mut frame) };
}

// The wait loop. bh_trap_dispatch treats a supervisor-state trap whose SRR0 lies in these
// four instructions as the end of a doze.
#[cfg(target_arch = "powerpc")]
core::arch::global_asm!(
    r#"
    .section .text.bh_idle_wait, "ax"
    .balign 16
    .globl bh_idle_wait
bh_idle_wait:
    lis 3, {msr_doze}@h                # MSR = ME | EE | WE: doze until an interrupt
    ori 3, 3, {msr_doze}@l
    mtmsr 3                            # (an interrupt ends it: back through the trap path)
    b bh_idle_wait                     # woken without one: doze again
    "#,
    msr_doze = const crate::trap::msr::ME | crate::trap::msr::EE | MSR_WE,
);
