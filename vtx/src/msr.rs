//! Model-specific registers: the numbers this port uses, declared once, and the
//! `rdmsr`/`wrmsr` instructions.
//!
//! Reading or writing an MSR the CPU does not implement raises #GP: callers check the
//! CPUID bit or capability MSR that says the register exists (see `cpu::probe`).

use core::arch::asm;

/// Lock (bit 0) and "VMXON allowed outside SMX" (bit 2).
pub const IA32_FEATURE_CONTROL: u32 = 0x3a;
/// VMCS revision, region size, memory type, "true" control MSRs present.
pub const IA32_VMX_BASIC: u32 = 0x480;
/// Pin-based VM-execution controls: allowed-0 settings (low half), allowed-1 (high half).
pub const IA32_VMX_PINBASED_CTLS: u32 = 0x481;
/// Primary processor-based VM-execution controls (allowed-0 low, allowed-1 high).
pub const IA32_VMX_PROCBASED_CTLS: u32 = 0x482;
/// Miscellaneous VMX data; bits 4:0 are the preemption-timer rate.
pub const IA32_VMX_MISC: u32 = 0x485;
/// CR0 bits that must be 1 in VMX operation.
pub const IA32_VMX_CR0_FIXED0: u32 = 0x486;
/// CR0 bits that may be 1 in VMX operation.
pub const IA32_VMX_CR0_FIXED1: u32 = 0x487;
/// CR4 bits that must be 1 in VMX operation.
pub const IA32_VMX_CR4_FIXED0: u32 = 0x488;
/// CR4 bits that may be 1 in VMX operation.
pub const IA32_VMX_CR4_FIXED1: u32 = 0x489;
/// Secondary processor-based controls (exists only if the primary controls allow them).
pub const IA32_VMX_PROCBASED_CTLS2: u32 = 0x48b;
/// EPT and VPID capabilities (exists only if EPT or VPID may be enabled).
pub const IA32_VMX_EPT_VPID_CAP: u32 = 0x48c;
/// VM-exit and VM-entry controls (allowed-0 low, allowed-1 high).
pub const IA32_VMX_EXIT_CTLS: u32 = 0x483;
pub const IA32_VMX_ENTRY_CTLS: u32 = 0x484;
/// The controls without the default-1 class (exist if IA32_VMX_BASIC bit 55).
pub const IA32_VMX_TRUE_PINBASED_CTLS: u32 = 0x48d;
pub const IA32_VMX_TRUE_PROCBASED_CTLS: u32 = 0x48e;
pub const IA32_VMX_TRUE_EXIT_CTLS: u32 = 0x48f;
pub const IA32_VMX_TRUE_ENTRY_CTLS: u32 = 0x490;
/// Page attribute table.
pub const IA32_PAT: u32 = 0x277;
/// Extended feature enable: long mode, no-execute.
pub const IA32_EFER: u32 = 0xc000_0080;

/// IA32_FEATURE_CONTROL: no more writes until reset.
pub const FEATURE_CONTROL_LOCK: u64 = 1 << 0;
/// IA32_FEATURE_CONTROL: VMXON allowed outside SMX operation.
pub const FEATURE_CONTROL_VMX_OUTSIDE_SMX: u64 = 1 << 2;
/// IA32_EFER: long mode enable.
pub const EFER_LME: u64 = 1 << 8;

/// Reads MSR `msr`.
///
/// # Safety
/// The CPU implements `msr` (otherwise #GP).
pub unsafe fn rdmsr(msr: u32) -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: forwarded to the caller; `rdmsr` touches no memory.
    unsafe { asm!("rdmsr", in("ecx") msr, out("eax") lo, out("edx") hi, options(nomem, nostack, preserves_flags)) }
    (u64::from(hi) << 32) | u64::from(lo)
}

/// Writes `value` to MSR `msr`.
///
/// # Safety
/// The CPU implements `msr`, accepts `value`, and the write does not break what the
/// hypervisor relies on (paging, long mode).
pub unsafe fn wrmsr(msr: u32, value: u64) {
    let (lo, hi) = (value as u32, (value >> 32) as u32);
    // SAFETY: forwarded to the caller.
    unsafe { asm!("wrmsr", in("ecx") msr, in("eax") lo, in("edx") hi, options(nostack, preserves_flags)) }
}
