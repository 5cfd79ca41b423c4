//! The hardware side of [`super`]: EL2 system registers and the context-switch assembly.

use super::{Vcpu, REPLACED, SCTLR_EL1_RESET};
use crate::stage2::Stage2;
use aarch64_cpu::registers::*;

extern "C" {
    /// Enters the guest from `vcpu`'s context, for good: exits are handled on this stack.
    fn __guest_enter(vcpu: *mut u8) -> !;
}

/// Enters the guest; from then on `vcpu` belongs to the trap path (`super::guest_trap`).
pub fn enter(vcpu: &mut Vcpu) -> ! {
    // SAFETY: the caller's borrow of `vcpu` never ends (this never returns), so the
    // pointer __guest_trap passes to guest_trap is the only way to the vCPU from now on;
    // everything below the caller's frame is free stack for the trap path, and the guest
    // can only reach memory its stage-2 maps.
    unsafe { __guest_enter((vcpu as *mut Vcpu).cast()) }
}

/// ESR_EL2 of the exception just taken.
pub fn esr() -> u64 {
    ESR_EL2.get()
}

/// The guest's PC: ELR_EL2 holds it from an exit to the next entry (see the assembly).
pub fn elr() -> u64 {
    ELR_EL2.get()
}

pub fn set_elr(pc: u64) {
    ELR_EL2.set(pc);
}

/// The guest's PSTATE, in SPSR_EL2 likewise.
pub fn spsr() -> u64 {
    SPSR_EL2.get()
}

pub fn set_spsr(pstate: u64) {
    SPSR_EL2.set(pstate);
}

/// FAR_EL2 and HPFAR_EL2 of the abort just taken.
pub fn fault_address() -> (u64, u64) {
    (FAR_EL2.get(), HPFAR_EL2.get())
}

/// EL2's configuration for a guest on this CPU (see the module comment of `super`);
/// `trap_wfi`: the guest's WFI exits (HCR_EL2.TWI) instead of sleeping the CPU itself.
pub fn configure_el2(stage2: &Stage2, vmpidr: u64, trap_wfi: bool) {
    HCR_EL2.write(
        HCR_EL2::VM::Enable
            + HCR_EL2::SWIO::SET
            + HCR_EL2::FMO::EnableVirtualFIQ
            + HCR_EL2::IMO::EnableVirtualIRQ
            + HCR_EL2::AMO::SET
            + HCR_EL2::FB::SET
            + HCR_EL2::BSU::InnerShareable
            + HCR_EL2::TWI.val(trap_wfi.into())
            + HCR_EL2::TSC::EnableTrapEl1SmcToEl2
            + HCR_EL2::TIDCP::SET
            + HCR_EL2::TACR::SET
            + HCR_EL2::TSW::SET
            + HCR_EL2::RW::EL1IsAarch64,
    );
    CNTHCTL_EL2.write(CNTHCTL_EL2::EL1PCTEN::SET + CNTHCTL_EL2::EL1PCEN::CLEAR);
    MDCR_EL2.write(
        MDCR_EL2::TDA::SET
            + MDCR_EL2::TDOSA::SET
            + MDCR_EL2::TDRA::SET
            + MDCR_EL2::TPM::SET
            + MDCR_EL2::TPMCR::SET
            + MDCR_EL2::HPMN.val(pmu_counters()),
    );
    let midr = MIDR_EL1.get();
    // SAFETY: VPIDR_EL2 only changes what the guest reads as MIDR_EL1 (aarch64-cpu
    // has no accessor for it).
    unsafe { core::arch::asm!("msr vpidr_el2, {}", in(reg) midr, options(nomem, nostack)) };
    VMPIDR_EL2.set(vmpidr);
    VTCR_EL2.set(stage2.vtcr);
    VTTBR_EL2.set(stage2.vttbr);
    // SAFETY: drops this VMID's stale translations (none should exist); affects no
    // memory.
    unsafe { core::arch::asm!("isb", "tlbi vmalls12e1", "dsb nsh", "isb", options(nostack)) };
}

/// PMCR_EL0.N: event counters implemented.
const PMCR_N_SHIFT: u64 = 11;
const PMCR_N_MASK: u64 = 0x1f;

/// Event counters the PMU has (all of them left to EL1 in HPMN; TPM traps them anyway).
fn pmu_counters() -> u64 {
    let pmcr: u64;
    // SAFETY: reading PMCR_EL0 at EL2 has no side effects.
    unsafe { core::arch::asm!("mrs {}, pmcr_el0", out(reg) pmcr, options(nomem, nostack)) };
    (pmcr >> PMCR_N_SHIFT) & PMCR_N_MASK
}

/// Back to the EL1 state of a CPU out of reset, as far as a guest can tell: MMU and
/// caches off, virtual timer off, vectors at 0, the virtual counter restarted, no
/// stale translations of this VMID.
pub fn reset_el1() {
    SCTLR_EL1.set(SCTLR_EL1_RESET);
    VBAR_EL1.set(0);
    CNTV_CTL_EL0.set(0);
    CNTVOFF_EL2.set(CNTPCT_EL0.get());
    // SAFETY: TLB and instruction-cache invalidation for this VMID; affects no memory.
    unsafe { core::arch::asm!("isb", "tlbi vmalls12e1", "ic iallu", "dsb nsh", "isb", options(nostack)) };
}

/// Writes the EL1 exception registers for an exception the guest takes at EL1;
/// returns VBAR_EL1 (the guest's own vector base).
pub fn deliver_el1(esr: u64, far: Option<u64>, elr: u64, spsr: u64) -> u64 {
    ESR_EL1.set(esr);
    if let Some(far) = far {
        FAR_EL1.set(far);
    }
    ELR_EL1.set(elr);
    SPSR_EL1.set(spsr);
    VBAR_EL1.get()
}

core::arch::global_asm!(
    // The light path of one kind of exit (HVC, IRQ, WFx: see trap.rs), one copy per
    // handler so that each calls its own directly: x19..x29 are callee-saved, so the
    // guest's values survive the handler in the registers themselves and the context's
    // copies are left stale. Only when the handler replaced the whole context (a reset:
    // Vcpu::replaced) are all registers loaded from it.
    ".macro light_path handler",
    "    mrs   x0, tpidr_el2",                       // this CPU's vCPU
    "    stp   x2, x3, [x0, #16 * 1]",               // guest x2..x18
    "    stp   x4, x5, [x0, #16 * 2]",               //
    "    stp   x6, x7, [x0, #16 * 3]",               //
    "    stp   x8, x9, [x0, #16 * 4]",               //
    "    stp   x10, x11, [x0, #16 * 5]",             //
    "    stp   x12, x13, [x0, #16 * 6]",             //
    "    stp   x14, x15, [x0, #16 * 7]",             //
    "    stp   x16, x17, [x0, #16 * 8]",             //
    "    str   x18, [x0, #16 * 9]",                  //
    "    str   x30, [x0, #16 * 15]",                 // and x30
    "    ldp   x2, x3, [sp], #16",                   // guest x0, x1 off the stack ...
    "    stp   x2, x3, [x0]",                        // ... into the context
    "    bl    \\handler",                           // handler(vcpu), on this stack
    "    mrs   x0, tpidr_el2",                       // the vCPU again
    "    ldrb  w1, [x0, #{replaced}]",               // the context replaced (a reset)?
    "    cbnz  w1, __guest_replaced",                // then load every register
    "    ldp   x2, x3, [x0, #16 * 1]",               // guest x2..x18
    "    ldp   x4, x5, [x0, #16 * 2]",               //
    "    ldp   x6, x7, [x0, #16 * 3]",               //
    "    ldp   x8, x9, [x0, #16 * 4]",               //
    "    ldp   x10, x11, [x0, #16 * 5]",             //
    "    ldp   x12, x13, [x0, #16 * 6]",             //
    "    ldp   x14, x15, [x0, #16 * 7]",             //
    "    ldp   x16, x17, [x0, #16 * 8]",             //
    "    ldr   x18, [x0, #16 * 9]",                  //
    "    ldr   x30, [x0, #16 * 15]",                 // and x30
    "    ldp   x0, x1, [x0]",                        // x0, x1 last
    "    eret",                                      // into the guest
    ".endm",
    "",
    ".section .text.guest, \"ax\"",
    ".global __guest_enter",
    ".global __guest_trap",
    ".global __guest_hvc",
    ".global __guest_irq",
    ".global __guest_wfx",
    "__guest_enter:",                                // x0 = &mut Vcpu (its Context first)
    "    msr   tpidr_el2, x0",                       // where the trap paths save the guest
    "    b     __guest_load_all",                    // load the guest, eret
    "",
    // ELR_EL2 and SPSR_EL2 are the guest's PC and PSTATE throughout an exit: nothing at
    // EL2 changes them in between (interrupts stay masked, and the one exception EL2
    // expects of itself, a semihosting call nobody answers, keeps them: semihosting.rs);
    // Rust reads and writes them in place (super::hw::elr ...), so no path saves or
    // loads them.
    "__guest_trap:",                                 // from trap.rs: guest x0/x1 pushed, x1 = slot
    "    mrs   x0, tpidr_el2",                       // this CPU's vCPU
    "    stp   x2, x3, [x0, #16 * 1]",               // guest x2..x30
    "    stp   x4, x5, [x0, #16 * 2]",               //
    "    stp   x6, x7, [x0, #16 * 3]",               //
    "    stp   x8, x9, [x0, #16 * 4]",               //
    "    stp   x10, x11, [x0, #16 * 5]",             //
    "    stp   x12, x13, [x0, #16 * 6]",             //
    "    stp   x14, x15, [x0, #16 * 7]",             //
    "    stp   x16, x17, [x0, #16 * 8]",             //
    "    stp   x18, x19, [x0, #16 * 9]",             //
    "    stp   x20, x21, [x0, #16 * 10]",            //
    "    stp   x22, x23, [x0, #16 * 11]",            //
    "    stp   x24, x25, [x0, #16 * 12]",            //
    "    stp   x26, x27, [x0, #16 * 13]",            //
    "    stp   x28, x29, [x0, #16 * 14]",            //
    "    str   x30, [x0, #16 * 15]",                 //
    "    ldp   x2, x3, [sp], #16",                   // guest x0, x1 off the stack ...
    "    stp   x2, x3, [x0]",                        // ... into the context
    "    bl    {guest_trap}",                        // guest_trap(vcpu, slot), on this stack
    "    mrs   x0, tpidr_el2",                       // the vCPU again
    "__guest_load_all:",                             // x0 = the vCPU
    "    ldp   x2, x3, [x0, #16 * 1]",               // guest x2..x30 (all registers)
    "    ldp   x4, x5, [x0, #16 * 2]",               //
    "    ldp   x6, x7, [x0, #16 * 3]",               //
    "    ldp   x8, x9, [x0, #16 * 4]",               //
    "    ldp   x10, x11, [x0, #16 * 5]",             //
    "    ldp   x12, x13, [x0, #16 * 6]",             //
    "    ldp   x14, x15, [x0, #16 * 7]",             //
    "    ldp   x16, x17, [x0, #16 * 8]",             //
    "    ldp   x18, x19, [x0, #16 * 9]",             //
    "    ldp   x20, x21, [x0, #16 * 10]",            //
    "    ldp   x22, x23, [x0, #16 * 11]",            //
    "    ldp   x24, x25, [x0, #16 * 12]",            //
    "    ldp   x26, x27, [x0, #16 * 13]",            //
    "    ldp   x28, x29, [x0, #16 * 14]",            //
    "    ldr   x30, [x0, #16 * 15]",                 //
    "    ldp   x0, x1, [x0]",                        // x0, x1 last (x0 was the pointer)
    "    eret",                                      // into the guest
    "",
    "__guest_replaced:",                             // a light path's handler reset the vCPU
    "    strb  wzr, [x0, #{replaced}]",              // done with the flag ...
    "    b     __guest_load_all",                    // ... and load all of it
    "",
    "__guest_hvc:",                                  // from trap.rs: guest x0/x1 pushed
    "    light_path {hvc}",                          //
    "__guest_irq:",                                  //
    "    light_path {irq}",                          //
    "__guest_wfx:",                                  //
    "    light_path {wfx}",                          //
    guest_trap = sym super::exits::guest_trap,
    hvc = sym super::exits::guest_hvc,
    irq = sym super::exits::guest_irq,
    wfx = sym super::exits::guest_wfx,
    replaced = const REPLACED,
);
