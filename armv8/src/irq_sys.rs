//! The GICv3 system registers [`crate::irq`] uses: the physical CPU interface at EL2
//! (ICC_*) and the virtual interface control (ICH_*). aarch64-cpu declares some; the rest
//! are read and written by name here.

use aarch64_cpu::asm::barrier;
use aarch64_cpu::registers::*;
use core::arch::asm;

/// ICC_CTLR_EL1.EOImode (aarch64-cpu does not declare the field).
const ICC_CTLR_EOIMODE: u64 = 1 << 1;

/// ICC_SRE_EL2: system registers at EL2 (SRE), and EL1 may use its own ICC_SRE_EL1
/// (Enable) so the guest's ICC_* accesses reach the virtual interface. ICC_CTLR_EL1 at
/// EL2 is the physical interface's: EOImode = 1 splits priority drop from deactivation.
/// Then: everything unmasked, no preemption groups, group 1 on.
pub fn v3_cpu_interface_on() {
    ICC_SRE_EL2.modify(ICC_SRE_EL2::SRE::SET + ICC_SRE_EL2::ENABLE::SET);
    barrier::isb(barrier::SY);
    // SAFETY: ICC_CTLR_EL1, ICC_PMR_EL1, ICC_BPR1_EL1 and ICC_IGRPEN1_EL1 only configure
    // this CPU's interface (EOI mode, priority mask, binary point, group 1 enable); no
    // memory is touched.
    unsafe {
        asm!(
            "mrs {t}, icc_ctlr_el1",
            "orr {t}, {t}, {eoimode}",
            "msr icc_ctlr_el1, {t}",
            "msr icc_pmr_el1, {pmr}",
            "msr icc_bpr1_el1, xzr",
            "msr icc_igrpen1_el1, {on}",
            "isb",
            t = out(reg) _,
            eoimode = const ICC_CTLR_EOIMODE,
            pmr = in(reg) 0xffu64,
            on = in(reg) 1u64,
            options(nostack),
        );
    }
}

/// The virtual interface on (ICH_HCR_EL2.En, no maintenance causes), the guest's view
/// (ICH_VMCR_EL2) and active priorities cleared.
pub fn v3_virtual_reset() {
    ICH_VMCR_EL2.set(0);
    ICH_AP0R0_EL2.set(0);
    ICH_AP1R0_EL2.set(0);
    set_ich_hcr(false, false);
}

/// Acknowledges a group 1 interrupt: ICC_IAR1_EL1.
pub fn iar1() -> u32 {
    let v: u64;
    // SAFETY: acknowledging changes the interrupt's state in the GIC, not memory.
    unsafe { asm!("mrs {}, icc_iar1_el1", out(reg) v, options(nostack)) };
    v as u32
}

/// Priority drop: ICC_EOIR1_EL1.
pub fn eoir1(raw: u32) {
    // SAFETY: as above.
    unsafe { asm!("msr icc_eoir1_el1, {}", in(reg) u64::from(raw), options(nostack)) };
}

/// Deactivation: ICC_DIR_EL1.
pub fn dir(intid: u32) {
    // SAFETY: as above.
    unsafe { asm!("msr icc_dir_el1, {}", in(reg) u64::from(intid), options(nostack)) };
}

/// Sends an SGI: ICC_SGI1R_EL1, after the stores it announces are visible.
pub fn sgi1r(value: u64) {
    // SAFETY: generating an SGI touches no memory; the DSB orders earlier stores first.
    unsafe { asm!("dsb ish", "msr icc_sgi1r_el1, {}", "isb", in(reg) value, options(nostack)) };
}

/// ICH_HCR_EL2: En, and the maintenance causes NPIE / UIE.
pub fn set_ich_hcr(npie: bool, uie: bool) {
    ICH_HCR_EL2.write(ICH_HCR_EL2::En::SET + ICH_HCR_EL2::NPIE.val(npie.into()) + ICH_HCR_EL2::UIE.val(uie.into()));
}

macro_rules! by_index {
    ($n:expr, $reg:ident => $body:expr, $default:expr, [$($i:literal $r:ident),*]) => {
        match $n { $($i => { let $reg = &$r; $body })* _ => $default }
    };
}

/// ICH_LR<n>_EL2 (0 for n beyond 15).
pub fn ich_lr(n: usize) -> u64 {
    by_index!(n, r => r.get(), 0, [0 ICH_LR0_EL2, 1 ICH_LR1_EL2, 2 ICH_LR2_EL2, 3 ICH_LR3_EL2,
        4 ICH_LR4_EL2, 5 ICH_LR5_EL2, 6 ICH_LR6_EL2, 7 ICH_LR7_EL2, 8 ICH_LR8_EL2, 9 ICH_LR9_EL2,
        10 ICH_LR10_EL2, 11 ICH_LR11_EL2, 12 ICH_LR12_EL2, 13 ICH_LR13_EL2, 14 ICH_LR14_EL2, 15 ICH_LR15_EL2])
}

/// Writes ICH_LR<n>_EL2 (nothing for n beyond 15).
pub fn set_ich_lr(n: usize, v: u64) {
    by_index!(n, r => r.set(v), (), [0 ICH_LR0_EL2, 1 ICH_LR1_EL2, 2 ICH_LR2_EL2, 3 ICH_LR3_EL2,
        4 ICH_LR4_EL2, 5 ICH_LR5_EL2, 6 ICH_LR6_EL2, 7 ICH_LR7_EL2, 8 ICH_LR8_EL2, 9 ICH_LR9_EL2,
        10 ICH_LR10_EL2, 11 ICH_LR11_EL2, 12 ICH_LR12_EL2, 13 ICH_LR13_EL2, 14 ICH_LR14_EL2, 15 ICH_LR15_EL2])
}
