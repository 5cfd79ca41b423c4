//! Per-CPU hypervisor state: what the trap path of each physical core needs for itself.
//!
//! Everything the vectors touch is either a core's own register (SPRG0/1, SRR0/1, the MAS
//! registers, TLB0, the decrementer) or lives here, one [`CpuLocal`] per core. SPRG2 holds
//! the address of the running core's `CpuLocal` from its first instruction on (set by
//! [`crate::entry`]), so the assembly finds the core's fault frame and fault stack with one
//! `mfspr`, without knowing which core it runs on. SPRG2 is supervisor-only: guests reach
//! their own (virtual) SPRG2 through the emulator, never the real one.
//!
//! Statics the trap path used before this existed (one fault frame, one fault stack) were
//! single-CPU assumptions: two cores faulting at once would have saved into the same frame.
//! Everything else per vCPU (the guest's trap frame, shadow TLB bookkeeping, the current
//! vCPU) lives in the `Guest` on the stack of the core that runs it.

use core::mem::offset_of;

use crate::trap::TrapFrame;

/// Cores the port supports: e500v2 SoCs (MPC8572, P2020) have at most two.
pub const MAX_CPUS: usize = 2;

/// Bytes of the stack a hypervisor fault is reported on (so that a fault caused by a bad
/// r1 can still be reported). Must fit a 16-bit `addi` immediate with the frame before it.
pub const FAULT_STACK_SIZE: usize = 8 * 1024;

/// One core's trap-path state. `repr(C)`: the assembly reaches the fields by offset.
#[repr(C, align(16))]
pub struct CpuLocal {
    /// Where traps taken by the hypervisor itself are saved (SPRG0 points here whenever no
    /// guest runs on this core). First: SPRG2 is also this frame's address.
    fault_frame: TrapFrame,
    /// Hypervisor stack top a secondary core starts on (written before its release).
    stack_top: u32,
    /// This core's number (PIR, the `reg` of its `/cpus` node).
    cpu: u32,
    fault_stack: [u8; FAULT_STACK_SIZE],
}

/// Offset of the fault frame in [`CpuLocal`] (SPRG0 = SPRG2 + this while no guest runs).
pub const FAULT_FRAME: usize = offset_of!(CpuLocal, fault_frame);
/// Offset of the secondary start-up stack top.
pub const STACK_TOP: usize = offset_of!(CpuLocal, stack_top);
/// Offset of the fault stack's top (it grows down from here).
pub const FAULT_STACK_TOP: usize = offset_of!(CpuLocal, fault_stack) + FAULT_STACK_SIZE;

const _: () = assert!(FAULT_FRAME == 0 && FAULT_STACK_TOP < 0x8000 && STACK_TOP < 0x8000);

impl CpuLocal {
    const fn new(cpu: u32) -> Self {
        CpuLocal { fault_frame: TrapFrame::ZERO, stack_top: 0, cpu, fault_stack: [0; FAULT_STACK_SIZE] }
    }
}

/// The cores' areas. Only the assembly (through SPRG2) and the functions below touch them.
static mut CPUS: [CpuLocal; MAX_CPUS] = [CpuLocal::new(0), CpuLocal::new(1)];

// For `entry`: the boot core's area is the first.
#[cfg(target_arch = "powerpc")]
core::arch::global_asm!(
    r#"
    .globl bh_percpu_areas
    .set bh_percpu_areas, {cpus}
    "#,
    cpus = sym CPUS,
);

/// The address of core `cpu`'s area, or `None` beyond [`MAX_CPUS`].
pub fn area(cpu: usize) -> Option<*mut CpuLocal> {
    if cpu >= MAX_CPUS {
        return None;
    }
    // Only the address is taken (addr_of_mut! creates no reference to the static mut).
    Some(core::ptr::addr_of_mut!(CPUS).cast::<CpuLocal>().wrapping_add(cpu))
}

/// Prepares core `cpu` (not the boot core) to start on the stack ending at `stack_top`;
/// returns the value its entry expects in r3 (its area's address).
///
/// # Safety
/// Core `cpu` is not running yet, and `stack_top` ends memory nobody else uses.
pub unsafe fn prepare_secondary(cpu: usize, stack_top: u32) -> Option<u32> {
    let area = area(cpu)?;
    // SAFETY: the area is core `cpu`'s, which does not run yet (caller): no one else
    // accesses it. The volatile write is read by the other core after its release.
    unsafe { core::ptr::addr_of_mut!((*area).stack_top).write_volatile(stack_top) };
    Some(area as usize as u32)
}

/// The number of the core this runs on (from SPRG2, set at entry).
#[cfg(target_arch = "powerpc")]
pub fn this_cpu() -> u32 {
    let area = crate::spr::read::<{ crate::spr::SPRG2 }>() as usize as *const CpuLocal;
    // SAFETY: SPRG2 holds this core's area from its entry on (crate::entry) and is never
    // written afterwards; `cpu` is written only by the const initialiser.
    unsafe { core::ptr::addr_of!((*area).cpu).read() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn areas_exist_for_each_core_only() {
        assert!(area(0).is_some() && area(MAX_CPUS - 1).is_some());
        assert!(area(MAX_CPUS).is_none());
        let (a, b) = (area(0).unwrap() as usize, area(1).unwrap() as usize);
        assert_eq!(b - a, core::mem::size_of::<CpuLocal>());
        assert_eq!(a % 16, 0, "stacks stay 16-byte aligned");
    }
}
