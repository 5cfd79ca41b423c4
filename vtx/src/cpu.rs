//! What this CPU offers for virtualization, read from CPUID and the VMX capability MSRs
//! (never assumed), and VMXON.
//!
//! Sources: SDM Vol. 3D appendix A (VMX capability reporting) and Vol. 3C ch. 24-25.
//! Each MSR is read only when the register that announces it says it exists: reading an
//! absent MSR raises #GP.

use core::arch::asm;
use core::arch::x86_64::{CpuidResult, __cpuid};
use core::fmt;

use crate::msr::{self, rdmsr, wrmsr};
use crate::vmcs::proc2::{ENABLE_EPT, ENABLE_VPID};
use crate::vmx::{self, Region, VmFail, REGION_SIZE};

// Control-register bits (SDM Vol. 3A, 2.5). The entry code uses the paging ones too.
pub const CR0_PE: u64 = 1 << 0;
pub const CR0_NE: u64 = 1 << 5;
pub const CR0_PG: u64 = 1 << 31;
pub const CR4_PAE: u64 = 1 << 5;
pub const CR4_VMXE: u64 = 1 << 13;

/// CPUID leaf 1, ECX: VMX.
const CPUID1_ECX_VMX: u32 = 1 << 5;

// IA32_VMX_BASIC fields.
const BASIC_REVISION_MASK: u64 = 0x7fff_ffff;
const BASIC_VMCS_SIZE_SHIFT: u64 = 32;
const BASIC_VMCS_SIZE_MASK: u64 = 0x1fff;
/// VMXON/VMCS addresses limited to 32 bits.
const BASIC_32BIT_ADDRESSES: u64 = 1 << 48;
const BASIC_MEMORY_TYPE_SHIFT: u64 = 50;
const BASIC_MEMORY_TYPE_MASK: u64 = 0xf;
/// The IA32_VMX_TRUE_*_CTLS MSRs exist.
const BASIC_TRUE_CONTROLS: u64 = 1 << 55;
const MEMORY_TYPE_UC: u8 = 0;
const MEMORY_TYPE_WB: u8 = 6;

/// A control's "may be 1" bit in a VMX control capability MSR (the high half).
const fn allowed1(control_bit: u32) -> u64 {
    1 << (32 + control_bit)
}
/// Pin-based control 6: activate VMX-preemption timer.
const PIN_PREEMPTION_TIMER: u64 = allowed1(6);
/// Primary processor-based control 31: activate secondary controls.
const PROC_SECONDARY_CONTROLS: u64 = allowed1(31);
/// Secondary processor-based controls 1, 5, 7.
const PROC2_EPT: u64 = allowed1(1);
const PROC2_VPID: u64 = allowed1(5);
const PROC2_UNRESTRICTED_GUEST: u64 = allowed1(7);

// IA32_VMX_EPT_VPID_CAP bits.
const EPT_WALK_4: u64 = 1 << 6;
const EPT_WB: u64 = 1 << 14;
const EPT_2M_PAGES: u64 = 1 << 16;
const EPT_1G_PAGES: u64 = 1 << 17;
const EPT_INVEPT: u64 = 1 << 20;
/// INVVPID exists, with its single-context and all-context types.
const CAP_INVVPID: u64 = 1 << 32;
const CAP_INVVPID_SINGLE: u64 = 1 << 41;
const CAP_INVVPID_ALL: u64 = 1 << 42;

/// IA32_VMX_MISC bits 4:0: the preemption timer counts once every 2^rate TSC ticks.
const MISC_PREEMPTION_RATE_MASK: u64 = 0x1f;

fn cpuid(leaf: u32) -> CpuidResult {
    __cpuid(leaf)
}

pub fn read_cr0() -> u64 {
    let v;
    // SAFETY: reading CR0 at CPL 0 has no side effect.
    unsafe { asm!("mov {}, cr0", out(reg) v, options(nomem, nostack, preserves_flags)) }
    v
}

pub fn read_cr3() -> u64 {
    let v;
    // SAFETY: reading CR3 has no side effect.
    unsafe { asm!("mov {}, cr3", out(reg) v, options(nomem, nostack, preserves_flags)) }
    v
}

pub fn read_cr4() -> u64 {
    let v;
    // SAFETY: reading CR4 at CPL 0 has no side effect.
    unsafe { asm!("mov {}, cr4", out(reg) v, options(nomem, nostack, preserves_flags)) }
    v
}

/// # Safety
/// `v` keeps protected mode, paging and write protection as the hypervisor set them.
unsafe fn write_cr0(v: u64) {
    // SAFETY: forwarded to the caller.
    unsafe { asm!("mov cr0, {}", in(reg) v, options(nostack, preserves_flags)) }
}

/// # Safety
/// `v` keeps PAE (long mode) set.
unsafe fn write_cr4(v: u64) {
    // SAFETY: forwarded to the caller.
    unsafe { asm!("mov cr4, {}", in(reg) v, options(nostack, preserves_flags)) }
}

/// The time-stamp counter.
pub fn rdtsc() -> u64 {
    // SAFETY: RDTSC only reads the counter (CR4.TSD is clear: the hypervisor runs at CPL 0).
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Stops this CPU for good: interrupts off, then HLT (NMIs wake it: halt again).
pub fn halt_forever() -> ! {
    loop {
        // SAFETY: CLI/HLT only stop this CPU.
        unsafe { asm!("cli", "hlt", options(nomem, nostack)) }
    }
}

/// Vendor and signature from CPUID leaves 0 and 1.
#[derive(Clone, Copy, Debug)]
pub struct Cpu {
    vendor: [u8; 12],
    pub family: u32,
    pub model: u32,
    pub stepping: u32,
}

impl fmt::Display for Cpu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let vendor = core::str::from_utf8(&self.vendor).unwrap_or("?");
        write!(f, "{vendor} family {:#x} model {:#x} stepping {}", self.family, self.model, self.stepping)
    }
}

/// Why VMX cannot be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoVmx {
    /// CPUID.1:ECX.VMX is clear (QEMU TCG, for one).
    NotAvailable,
    /// IA32_FEATURE_CONTROL is locked with VMXON outside SMX disallowed.
    DisabledByFirmware,
}

impl fmt::Display for NoVmx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NoVmx::NotAvailable => "not available",
            NoVmx::DisabledByFirmware => "disabled by firmware (IA32_FEATURE_CONTROL locked, VMXON off)",
        })
    }
}

/// A yes/no capability.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flag(pub bool);

impl fmt::Display for Flag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0 { "yes" } else { "no" })
    }
}

/// IA32_VMX_BASIC: what a VMXON region or VMCS must look like.
#[derive(Clone, Copy, Debug)]
pub struct Vmcs {
    pub revision: u32,
    pub size: u32,
    pub memory_type: u8,
    pub addresses_32bit: bool,
}

impl fmt::Display for Vmcs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let memory_type = match self.memory_type {
            MEMORY_TYPE_UC => "uncacheable",
            MEMORY_TYPE_WB => "write-back",
            _ => "unknown memory type",
        };
        write!(f, "{:#x}, {}-byte region, {memory_type}", self.revision, self.size)
    }
}

/// EPT support: IA32_VMX_EPT_VPID_CAP, `None` when the secondary controls do not allow
/// EPT. Shown as `yes` and the capabilities the port relies on or could use.
#[derive(Clone, Copy, Debug)]
pub struct EptSupport(pub Option<u64>);

impl fmt::Display for EptSupport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(cap) = self.0 else { return f.write_str("no") };
        f.write_str("yes")?;
        const FACTS: [(u64, &str); 5] =
            [(EPT_WALK_4, "4-level walk"), (EPT_WB, "WB"), (EPT_2M_PAGES, "2M pages"), (EPT_1G_PAGES, "1G pages"), (EPT_INVEPT, "INVEPT")];
        for (_, what) in FACTS.iter().filter(|(bit, _)| cap & bit != 0) {
            write!(f, ", {what}")?;
        }
        Ok(())
    }
}

/// The VMX-preemption timer: `Some(rate)` counts once every 2^rate TSC ticks.
#[derive(Clone, Copy, Debug)]
pub struct PreemptionTimer(pub Option<u8>);

impl fmt::Display for PreemptionTimer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(rate) => write!(f, "yes, TSC/2^{rate}"),
            None => f.write_str("no"),
        }
    }
}

/// VMX is usable: the capabilities the hypervisor will build on.
#[derive(Clone, Copy, Debug)]
pub struct Vmx {
    /// bulkhead (not the firmware) set and locked IA32_FEATURE_CONTROL.
    pub enabled_here: bool,
    pub vmcs: Vmcs,
    pub ept: EptSupport,
    pub vpid: Flag,
    pub unrestricted_guest: Flag,
    pub preemption_timer: PreemptionTimer,
}

impl fmt::Display for Vmx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.enabled_here { "yes, enabled by bulkhead" } else { "yes, enabled by firmware" })
    }
}

/// Everything [`probe`] found.
#[derive(Clone, Copy, Debug)]
pub struct Probe {
    pub cpu: Cpu,
    pub vmx: Result<Vmx, NoVmx>,
}

/// Reads the CPU's identity and VMX capabilities. If the firmware left
/// IA32_FEATURE_CONTROL unlocked, enables VMXON outside SMX and locks it (as every VMM
/// does); that is the only state it changes.
pub fn probe() -> Probe {
    let leaf0 = cpuid(0);
    let mut vendor = [0u8; 12];
    for (i, reg) in [leaf0.ebx, leaf0.edx, leaf0.ecx].iter().enumerate() {
        vendor[i * 4..i * 4 + 4].copy_from_slice(&reg.to_le_bytes());
    }
    let leaf1 = cpuid(1);
    let base_family = (leaf1.eax >> 8) & 0xf;
    let family = if base_family == 0xf { base_family + ((leaf1.eax >> 20) & 0xff) } else { base_family };
    let mut model = (leaf1.eax >> 4) & 0xf;
    if base_family == 0x6 || base_family == 0xf {
        model |= ((leaf1.eax >> 16) & 0xf) << 4;
    }
    let cpu = Cpu { vendor, family, model, stepping: leaf1.eax & 0xf };
    let vmx = if leaf1.ecx & CPUID1_ECX_VMX == 0 { Err(NoVmx::NotAvailable) } else { probe_vmx() };
    Probe { cpu, vmx }
}

/// Only called when CPUID says VMX exists, so the VMX capability MSRs exist.
fn probe_vmx() -> Result<Vmx, NoVmx> {
    let wanted = msr::FEATURE_CONTROL_LOCK | msr::FEATURE_CONTROL_VMX_OUTSIDE_SMX;
    // SAFETY: IA32_FEATURE_CONTROL exists on every CPU with VMX.
    let fc = unsafe { rdmsr(msr::IA32_FEATURE_CONTROL) };
    let enabled_here = fc & msr::FEATURE_CONTROL_LOCK == 0;
    if enabled_here {
        // SAFETY: unlocked, so writable; only adds the VMX enable and the lock.
        unsafe { wrmsr(msr::IA32_FEATURE_CONTROL, fc | wanted) };
    } else if fc & msr::FEATURE_CONTROL_VMX_OUTSIDE_SMX == 0 {
        return Err(NoVmx::DisabledByFirmware);
    }

    // SAFETY: IA32_VMX_BASIC exists on every CPU with VMX.
    let basic = unsafe { rdmsr(msr::IA32_VMX_BASIC) };
    let vmcs = Vmcs {
        revision: (basic & BASIC_REVISION_MASK) as u32,
        size: ((basic >> BASIC_VMCS_SIZE_SHIFT) & BASIC_VMCS_SIZE_MASK) as u32,
        memory_type: ((basic >> BASIC_MEMORY_TYPE_SHIFT) & BASIC_MEMORY_TYPE_MASK) as u8,
        addresses_32bit: basic & BASIC_32BIT_ADDRESSES != 0,
    };
    let pin = if basic & BASIC_TRUE_CONTROLS != 0 { msr::IA32_VMX_TRUE_PINBASED_CTLS } else { msr::IA32_VMX_PINBASED_CTLS };
    // SAFETY: PINBASED exists with VMX; TRUE_PINBASED is chosen only when BASIC bit 55 says it exists.
    let pin = unsafe { rdmsr(pin) };
    let preemption_timer = (pin & PIN_PREEMPTION_TIMER != 0).then(|| {
        // SAFETY: IA32_VMX_MISC exists on every CPU with VMX.
        (unsafe { rdmsr(msr::IA32_VMX_MISC) } & MISC_PREEMPTION_RATE_MASK) as u8
    });

    // SAFETY: IA32_VMX_PROCBASED_CTLS exists on every CPU with VMX.
    let proc1 = unsafe { rdmsr(msr::IA32_VMX_PROCBASED_CTLS) };
    let proc2 = if proc1 & PROC_SECONDARY_CONTROLS != 0 {
        // SAFETY: exists because the secondary controls may be activated (checked above).
        unsafe { rdmsr(msr::IA32_VMX_PROCBASED_CTLS2) }
    } else {
        0
    };
    // SAFETY: exists because EPT may be enabled (checked first).
    let ept = (proc2 & PROC2_EPT != 0).then(|| unsafe { rdmsr(msr::IA32_VMX_EPT_VPID_CAP) });
    Ok(Vmx {
        enabled_here,
        vmcs,
        ept: EptSupport(ept),
        vpid: Flag(proc2 & PROC2_VPID != 0),
        unrestricted_guest: Flag(proc2 & PROC2_UNRESTRICTED_GUEST != 0),
        preemption_timer: PreemptionTimer(preemption_timer),
    })
}

/// Why a CPU could not enter VMX operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VmxonError {
    /// IA32_VMX_BASIC asks for more than a page per region.
    RegionTooLarge(u32),
    Vmxon(VmFail),
}

/// [`vmxon`]'s result, printable as a `hw:` fact.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VmxonResult(pub Result<(), VmxonError>);

impl fmt::Display for VmxonResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Ok(()) => f.write_str("ok"),
            Err(VmxonError::RegionTooLarge(n)) => write!(f, "failed: VMCS region of {n} bytes"),
            Err(VmxonError::Vmxon(e)) => {
                f.write_str("failed: ")?;
                e.fmt(f)
            }
        }
    }
}

/// CR0 and CR4 as VMX operation requires them (CR4.VMXE set). The fixed-bit MSRs exist
/// with VMX; setting must-be-1 bits (PE, NE, PG and VMXE on every CPU so far) and clearing
/// must-be-0 ones keeps PE/PG/PAE, which are allowed-1 on every VMX CPU.
fn set_vmx_fixed_bits() {
    // SAFETY: as above; the MSRs exist on every CPU with VMX (the callers have a `Vmx`).
    unsafe {
        let cr0 = (read_cr0() | rdmsr(msr::IA32_VMX_CR0_FIXED0)) & rdmsr(msr::IA32_VMX_CR0_FIXED1);
        write_cr0(cr0);
        let cr4 = (read_cr4() | CR4_VMXE | rdmsr(msr::IA32_VMX_CR4_FIXED0)) & rdmsr(msr::IA32_VMX_CR4_FIXED1);
        write_cr4(cr4);
    }
}

/// Enters VMX operation on this CPU for good, with `region` as its VMXON region (the
/// boot CPU does so at first light: its result is the `vmxon` fact).
pub fn vmxon(vmx: &Vmx, region: &'static Region) -> VmxonResult {
    if vmx.vmcs.size as usize > REGION_SIZE {
        return VmxonResult(Err(VmxonError::RegionTooLarge(vmx.vmcs.size)));
    }
    set_vmx_fixed_bits();
    // SAFETY: the caller gives this CPU's own region (static, 4 KiB aligned, identity-
    // mapped below 4 GiB), which it never uses for anything else; CR0/CR4 are set above.
    VmxonResult(unsafe {
        region.prepare(vmx.vmcs.revision);
        vmx::vmxon(region.phys()).map_err(VmxonError::Vmxon)
    })
}

/// VMX control capabilities: `(allowed-0 settings, allowed-1 settings)` of each control
/// word, from the "true" MSRs where the CPU has them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ControlCaps {
    pub pin: (u32, u32),
    pub proc: (u32, u32),
    pub proc2: (u32, u32),
    pub exit: (u32, u32),
    pub entry: (u32, u32),
    /// IA32_VMX_EPT_VPID_CAP (0 if neither EPT nor VPID may be enabled).
    pub ept_vpid: u64,
}

impl ControlCaps {
    /// The capabilities of this CPU (which has VMX).
    pub fn read() -> ControlCaps {
        let split = |v: u64| (v as u32, (v >> 32) as u32);
        // SAFETY: every MSR read exists on a CPU with VMX; the TRUE ones when BASIC bit 55
        // says so, PROCBASED_CTLS2 when the primary controls allow secondary controls.
        unsafe {
            let t = rdmsr(msr::IA32_VMX_BASIC) & BASIC_TRUE_CONTROLS != 0;
            let pick = |tr: u32, plain: u32| split(rdmsr(if t { tr } else { plain }));
            let proc = pick(msr::IA32_VMX_TRUE_PROCBASED_CTLS, msr::IA32_VMX_PROCBASED_CTLS);
            let proc2 = if proc.1 & (1 << 31) != 0 { split(rdmsr(msr::IA32_VMX_PROCBASED_CTLS2)) } else { (0, 0) };
            // Exists when EPT or VPID may be enabled.
            let ept_vpid = if proc2.1 & (ENABLE_EPT | ENABLE_VPID) != 0 { rdmsr(msr::IA32_VMX_EPT_VPID_CAP) } else { 0 };
            ControlCaps {
                ept_vpid,
                pin: pick(msr::IA32_VMX_TRUE_PINBASED_CTLS, msr::IA32_VMX_PINBASED_CTLS),
                proc,
                proc2,
                exit: pick(msr::IA32_VMX_TRUE_EXIT_CTLS, msr::IA32_VMX_EXIT_CTLS),
                entry: pick(msr::IA32_VMX_TRUE_ENTRY_CTLS, msr::IA32_VMX_ENTRY_CTLS),
            }
        }
    }
}

/// The control word for `wanted` under capability `(must1, may1)`: the wanted bits plus
/// those the CPU forces on; `Err(missing)` if the CPU cannot set some wanted bit.
pub fn adjust(wanted: u32, (must1, may1): (u32, u32)) -> Result<u32, u32> {
    let missing = wanted & !may1;
    if missing != 0 {
        return Err(missing);
    }
    Ok(wanted | must1)
}

/// A vCPU's virtual-processor identifier: the tag of its cached linear translations, so
/// that VM entries and exits need not flush them, and the INVVPID type that drops them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Vpid {
    pub tag: u16,
    /// [`crate::vmx::INVVPID_SINGLE_CONTEXT`] or [`crate::vmx::INVVPID_ALL_CONTEXTS`].
    pub invvpid: u64,
}

/// VPID `tag` (not 0: the hypervisor's own) if the secondary controls allow VPID
/// (`proc2_may1`) and INVVPID (`cap`: IA32_VMX_EPT_VPID_CAP) can drop its translations,
/// by single context if it can, else all contexts; `None`: no VPID, every entry and exit
/// flushes.
pub fn vpid(tag: u16, proc2_may1: u32, cap: u64) -> Option<Vpid> {
    let invvpid = if cap & CAP_INVVPID_SINGLE != 0 {
        crate::vmx::INVVPID_SINGLE_CONTEXT
    } else if cap & CAP_INVVPID_ALL != 0 {
        crate::vmx::INVVPID_ALL_CONTEXTS
    } else {
        return None;
    };
    (tag != 0 && proc2_may1 & ENABLE_VPID != 0 && cap & CAP_INVVPID != 0).then_some(Vpid { tag, invvpid })
}

/// The VMX fixed bits of CR0 or CR4: `(must be 1, may be 1)`.
pub fn cr_fixed(cr4: bool) -> (u64, u64) {
    let (f0, f1) = if cr4 {
        (msr::IA32_VMX_CR4_FIXED0, msr::IA32_VMX_CR4_FIXED1)
    } else {
        (msr::IA32_VMX_CR0_FIXED0, msr::IA32_VMX_CR0_FIXED1)
    };
    // SAFETY: the fixed-bit MSRs exist on every CPU with VMX (the only callers set up VMCSs).
    unsafe { (rdmsr(f0), rdmsr(f1)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_keep_forced_bits_and_refuse_missing_ones() {
        assert_eq!(adjust(0b0100, (0b0011, 0b1111)), Ok(0b0111));
        assert_eq!(adjust(0b1_0000, (0, 0b1111)), Err(0b1_0000));
    }

    #[test]
    fn a_vpid_needs_the_control_and_an_invvpid_that_drops_it() {
        let (single, all) = (CAP_INVVPID | CAP_INVVPID_SINGLE | CAP_INVVPID_ALL, CAP_INVVPID | CAP_INVVPID_ALL);
        assert_eq!(vpid(1, ENABLE_VPID, single), Some(Vpid { tag: 1, invvpid: crate::vmx::INVVPID_SINGLE_CONTEXT }));
        assert_eq!(vpid(3, ENABLE_VPID, all), Some(Vpid { tag: 3, invvpid: crate::vmx::INVVPID_ALL_CONTEXTS }));
        assert_eq!(vpid(1, 0, single), None, "the control cannot be set");
        assert_eq!(vpid(1, ENABLE_VPID, CAP_INVVPID), None, "INVVPID of neither type");
        assert_eq!(vpid(1, ENABLE_VPID, CAP_INVVPID_SINGLE), None, "no INVVPID at all");
        assert_eq!(vpid(0, ENABLE_VPID, single), None, "VPID 0 is the hypervisor's");
    }
}
