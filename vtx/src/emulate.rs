//! What a partition sees of the CPU's identity and model-specific registers (the analogue
//! of armv8's `sysreg.rs`).
//!
//! MSRs: one bitmap for every vCPU ([`MSR_BITMAP`]). The registers the guest's own state
//! consists of run natively, without exits: those the VMCS saves and loads at every exit
//! and entry (EFER, PAT, SYSENTER_*, FS/GS base) and those the hypervisor never uses while
//! each vCPU has its CPU to itself (STAR, LSTAR, CSTAR, FMASK, KERNEL_GS_BASE, TSC_AUX);
//! the TSC may be read, not written. Every other MSR exits: the local APIC's go to the
//! virtual APIC ([`crate::vlapic`]), the rest are refused (`Fault::Forbidden`; `#GP` under
//! policy `inject`): machine-check, performance-monitoring, power, VMX capability and
//! platform registers are the hypervisor's or the machine's.
//!
//! CPUID: the real CPU's answers, minus what the partition cannot use (VMX, SMX,
//! MONITOR/MWAIT), plus the hypervisor-present bit and leaf 0x4000_0000, with the vCPU's
//! own APIC id and OSXSAVE as its CR4 says.

use core::arch::x86_64::__cpuid_count;

/// MSRs that run natively, read and write.
const NATIVE: &[u32] = &[
    0x174,       // IA32_SYSENTER_CS
    0x175,       // IA32_SYSENTER_ESP
    0x176,       // IA32_SYSENTER_EIP
    0x277,       // IA32_PAT
    0xc000_0080, // IA32_EFER
    0xc000_0081, // IA32_STAR
    0xc000_0082, // IA32_LSTAR
    0xc000_0083, // IA32_CSTAR
    0xc000_0084, // IA32_FMASK
    0xc000_0100, // IA32_FS_BASE
    0xc000_0101, // IA32_GS_BASE
    0xc000_0102, // IA32_KERNEL_GS_BASE
    0xc000_0103, // IA32_TSC_AUX
];
/// MSRs that may be read natively; writes exit.
const NATIVE_READ: &[u32] = &[
    0x10, // IA32_TSC
];

/// The MSR bitmap (SDM Vol. 3C, 25.6.9): read bitmaps for MSRs 0..0x1fff and
/// 0xc000_0000..0xc000_1fff, then the write bitmaps; a set bit exits.
#[repr(C, align(4096))]
pub struct MsrBitmap(pub [u8; 4096]);

const READ_LOW: usize = 0;
const READ_HIGH: usize = 1024;
const WRITE_LOW: usize = 2048;
const WRITE_HIGH: usize = 3072;

/// The byte offset and bit of `msr` in a bitmap quarter, if a bitmap covers it.
const fn position(msr: u32) -> Option<(usize, u8)> {
    let (high, index) = match msr {
        0..=0x1fff => (false, msr),
        0xc000_0000..=0xc000_1fff => (true, msr - 0xc000_0000),
        _ => return None,
    };
    Some(((index / 8) as usize + if high { READ_HIGH } else { READ_LOW }, 1 << (index % 8)))
}

const fn build() -> MsrBitmap {
    let mut b = [0xff; 4096];
    let mut i = 0;
    while i < NATIVE.len() {
        if let Some((at, bit)) = position(NATIVE[i]) {
            b[at] &= !bit;
            b[at + WRITE_LOW] &= !bit;
        }
        i += 1;
    }
    let mut i = 0;
    while i < NATIVE_READ.len() {
        if let Some((at, bit)) = position(NATIVE_READ[i]) {
            b[at] &= !bit;
        }
        i += 1;
    }
    MsrBitmap(b)
}

/// Shared by every vCPU; read-only.
pub static MSR_BITMAP: MsrBitmap = build();

const _: () = assert!(WRITE_HIGH - WRITE_LOW == READ_HIGH - READ_LOW);

/// Whether an access to `msr` exits (`write`: WRMSR, else RDMSR).
pub fn msr_exits(msr: u32, write: bool) -> bool {
    match position(msr) {
        Some((at, bit)) => MSR_BITMAP.0[at + if write { WRITE_LOW } else { 0 }] & bit != 0,
        None => true,
    }
}

// CPUID leaf 1 bits.
const LEAF1_ECX_MONITOR: u32 = 1 << 3;
const LEAF1_ECX_VMX: u32 = 1 << 5;
const LEAF1_ECX_SMX: u32 = 1 << 6;
const LEAF1_ECX_OSXSAVE: u32 = 1 << 27;
const LEAF1_ECX_HYPERVISOR: u32 = 1 << 31;
const CR4_OSXSAVE: u64 = 1 << 18;
/// The hypervisor leaves (0x4000_0000..0x4fff_ffff): leaf 0x4000_0000 names the hypervisor.
const HYPERVISOR_LEAF: u32 = 0x4000_0000;
const HYPERVISOR_LEAVES_END: u32 = 0x5000_0000;
const SIGNATURE: &[u8; 12] = b"bulkhead  hv";

/// The guest's CPUID(`leaf`, `subleaf`) answer: EAX, EBX, ECX, EDX.
pub fn cpuid(leaf: u32, subleaf: u32, apic_id: u32, guest_cr4: u64) -> [u32; 4] {
    if (HYPERVISOR_LEAF..HYPERVISOR_LEAVES_END).contains(&leaf) {
        let word = |i: usize| u32::from_le_bytes([SIGNATURE[i], SIGNATURE[i + 1], SIGNATURE[i + 2], SIGNATURE[i + 3]]);
        return if leaf == HYPERVISOR_LEAF { [HYPERVISOR_LEAF, word(0), word(4), word(8)] } else { [0; 4] };
    }
    let r = __cpuid_count(leaf, subleaf);
    filter(leaf, [r.eax, r.ebx, r.ecx, r.edx], apic_id, guest_cr4)
}

/// The real answer `r` as the partition sees it.
fn filter(leaf: u32, mut r: [u32; 4], apic_id: u32, guest_cr4: u64) -> [u32; 4] {
    match leaf {
        1 => {
            r[1] = (r[1] & 0x00ff_ffff) | (apic_id & 0xff) << 24;
            r[2] &= !(LEAF1_ECX_MONITOR | LEAF1_ECX_VMX | LEAF1_ECX_SMX | LEAF1_ECX_OSXSAVE);
            r[2] |= LEAF1_ECX_HYPERVISOR;
            if guest_cr4 & CR4_OSXSAVE != 0 {
                r[2] |= LEAF1_ECX_OSXSAVE;
            }
        }
        // Extended topology: EDX is the x2APIC id.
        0xb | 0x1f => r[3] = apic_id,
        _ => {}
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guests_own_msrs_run_natively_the_rest_exits() {
        assert!(!msr_exits(0xc000_0080, false) && !msr_exits(0xc000_0080, true), "EFER");
        assert!(!msr_exits(0x277, true), "PAT");
        assert!(!msr_exits(0x10, false) && msr_exits(0x10, true), "the TSC: read only");
        assert!(msr_exits(0x1b, false), "APIC base: the virtual APIC");
        assert!(msr_exits(0x6e0, true) && msr_exits(0x832, true), "TSC deadline, x2APIC");
        assert!(msr_exits(0x3a, true), "IA32_FEATURE_CONTROL");
        assert!(msr_exits(0x480, false), "VMX capabilities");
        assert!(msr_exits(0x1d9, true), "IA32_DEBUGCTL");
        assert!(msr_exits(0x4000_0000, false) && msr_exits(0xc001_0000, true), "outside both ranges");
        assert!(msr_exits(0xc000_0104, true));
    }

    #[test]
    fn cpuid_hides_vmx_and_names_the_hypervisor() {
        let r = filter(1, [0x50654, 0x0102_0800, 0x7ffa_fbff | LEAF1_ECX_OSXSAVE, 0xbfeb_fbff], 3, 0);
        assert_eq!(r[1] >> 24, 3, "the vCPU's APIC id");
        assert_eq!(r[1] & 0xffff, 0x0800);
        assert_eq!(r[2] & (LEAF1_ECX_VMX | LEAF1_ECX_SMX | LEAF1_ECX_MONITOR), 0);
        assert_ne!(r[2] & LEAF1_ECX_HYPERVISOR, 0);
        assert_eq!(r[2] & LEAF1_ECX_OSXSAVE, 0, "the guest's CR4.OSXSAVE is clear");
        assert_ne!(filter(1, r, 3, CR4_OSXSAVE)[2] & LEAF1_ECX_OSXSAVE, 0);
        assert_eq!(filter(0xb, [1, 2, 0x100, 0], 5, 0)[3], 5);
        let sig = cpuid(HYPERVISOR_LEAF, 0, 0, 0);
        let bytes: Vec<u8> = sig[1..].iter().flat_map(|w| w.to_le_bytes()).collect();
        assert_eq!(&bytes, SIGNATURE);
        assert_eq!(cpuid(HYPERVISOR_LEAF + 1, 0, 0, 0), [0; 4]);
    }
}
