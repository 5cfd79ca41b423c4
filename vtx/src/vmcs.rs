//! The VMCS: field encodings (SDM Vol. 3D, appendix B), the control bits this port uses
//! (Vol. 3C, ch. 25), and VMREAD/VMWRITE on the current VMCS.
//!
//! Every field is declared once here; [`crate::vcpu`] programs them. A VMCS is reached only
//! through VMREAD/VMWRITE on the CPU where it is current: one per physical CPU, made current
//! by [`crate::vcpu::Vcpu::new`] and never switched.

#[cfg(not(test))]
use core::arch::asm;

/// A VMCS field encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field(pub u32);

macro_rules! fields {
    ($($(#[$doc:meta])* $name:ident = $enc:expr;)*) => {
        $($(#[$doc])* pub const $name: Field = Field($enc);)*
    };
}

// 16-bit fields.
fields! {
    VPID = 0x0000;
    GUEST_ES_SELECTOR = 0x0800;
    GUEST_CS_SELECTOR = 0x0802;
    GUEST_SS_SELECTOR = 0x0804;
    GUEST_DS_SELECTOR = 0x0806;
    GUEST_FS_SELECTOR = 0x0808;
    GUEST_GS_SELECTOR = 0x080a;
    GUEST_LDTR_SELECTOR = 0x080c;
    GUEST_TR_SELECTOR = 0x080e;
    HOST_ES_SELECTOR = 0x0c00;
    HOST_CS_SELECTOR = 0x0c02;
    HOST_SS_SELECTOR = 0x0c04;
    HOST_DS_SELECTOR = 0x0c06;
    HOST_FS_SELECTOR = 0x0c08;
    HOST_GS_SELECTOR = 0x0c0a;
    HOST_TR_SELECTOR = 0x0c0c;
}

// 64-bit fields.
fields! {
    IO_BITMAP_A = 0x2000;
    IO_BITMAP_B = 0x2002;
    MSR_BITMAP = 0x2004;
    EPT_POINTER = 0x201a;
    GUEST_PHYSICAL_ADDRESS = 0x2400;
    /// Must be all ones (no shadow VMCS).
    VMCS_LINK_POINTER = 0x2800;
    GUEST_DEBUGCTL = 0x2802;
    GUEST_PAT = 0x2804;
    GUEST_EFER = 0x2806;
    HOST_PAT = 0x2c00;
    HOST_EFER = 0x2c02;
}

// 32-bit fields.
fields! {
    PIN_CONTROLS = 0x4000;
    PROC_CONTROLS = 0x4002;
    EXCEPTION_BITMAP = 0x4004;
    CR3_TARGET_COUNT = 0x400a;
    EXIT_CONTROLS = 0x400c;
    EXIT_MSR_STORE_COUNT = 0x400e;
    EXIT_MSR_LOAD_COUNT = 0x4010;
    ENTRY_CONTROLS = 0x4012;
    ENTRY_MSR_LOAD_COUNT = 0x4014;
    ENTRY_INTERRUPTION_INFO = 0x4016;
    ENTRY_EXCEPTION_ERROR_CODE = 0x4018;
    ENTRY_INSTRUCTION_LENGTH = 0x401a;
    PROC_CONTROLS2 = 0x401e;
    VM_INSTRUCTION_ERROR = 0x4400;
    EXIT_REASON = 0x4402;
    EXIT_INTERRUPTION_INFO = 0x4404;
    IDT_VECTORING_INFO = 0x4408;
    IDT_VECTORING_ERROR_CODE = 0x440a;
    EXIT_INSTRUCTION_LENGTH = 0x440c;
    GUEST_ES_LIMIT = 0x4800;
    GUEST_CS_LIMIT = 0x4802;
    GUEST_SS_LIMIT = 0x4804;
    GUEST_DS_LIMIT = 0x4806;
    GUEST_FS_LIMIT = 0x4808;
    GUEST_GS_LIMIT = 0x480a;
    GUEST_LDTR_LIMIT = 0x480c;
    GUEST_TR_LIMIT = 0x480e;
    GUEST_GDTR_LIMIT = 0x4810;
    GUEST_IDTR_LIMIT = 0x4812;
    GUEST_ES_ACCESS = 0x4814;
    GUEST_CS_ACCESS = 0x4816;
    GUEST_SS_ACCESS = 0x4818;
    GUEST_DS_ACCESS = 0x481a;
    GUEST_FS_ACCESS = 0x481c;
    GUEST_GS_ACCESS = 0x481e;
    GUEST_LDTR_ACCESS = 0x4820;
    GUEST_TR_ACCESS = 0x4822;
    GUEST_INTERRUPTIBILITY = 0x4824;
    GUEST_ACTIVITY_STATE = 0x4826;
    GUEST_SYSENTER_CS = 0x482a;
    PREEMPTION_TIMER_VALUE = 0x482e;
    HOST_SYSENTER_CS = 0x4c00;
}

// Natural-width fields.
fields! {
    CR0_GUEST_HOST_MASK = 0x6000;
    CR4_GUEST_HOST_MASK = 0x6002;
    CR0_READ_SHADOW = 0x6004;
    CR4_READ_SHADOW = 0x6006;
    EXIT_QUALIFICATION = 0x6400;
    GUEST_CR0 = 0x6800;
    GUEST_CR3 = 0x6802;
    GUEST_CR4 = 0x6804;
    GUEST_ES_BASE = 0x6806;
    GUEST_CS_BASE = 0x6808;
    GUEST_SS_BASE = 0x680a;
    GUEST_DS_BASE = 0x680c;
    GUEST_FS_BASE = 0x680e;
    GUEST_GS_BASE = 0x6810;
    GUEST_LDTR_BASE = 0x6812;
    GUEST_TR_BASE = 0x6814;
    GUEST_GDTR_BASE = 0x6816;
    GUEST_IDTR_BASE = 0x6818;
    GUEST_DR7 = 0x681a;
    GUEST_RSP = 0x681c;
    GUEST_RIP = 0x681e;
    GUEST_RFLAGS = 0x6820;
    GUEST_PENDING_DEBUG = 0x6822;
    GUEST_SYSENTER_ESP = 0x6824;
    GUEST_SYSENTER_EIP = 0x6826;
    HOST_CR0 = 0x6c00;
    HOST_CR3 = 0x6c02;
    HOST_CR4 = 0x6c04;
    HOST_FS_BASE = 0x6c06;
    HOST_GS_BASE = 0x6c08;
    HOST_TR_BASE = 0x6c0a;
    HOST_GDTR_BASE = 0x6c0c;
    HOST_IDTR_BASE = 0x6c0e;
    HOST_SYSENTER_ESP = 0x6c10;
    HOST_SYSENTER_EIP = 0x6c12;
    HOST_RSP = 0x6c14;
    HOST_RIP = 0x6c16;
}

/// Pin-based VM-execution controls.
pub mod pin {
    pub const EXTERNAL_INTERRUPT_EXITING: u32 = 1 << 0;
    pub const NMI_EXITING: u32 = 1 << 3;
    pub const PREEMPTION_TIMER: u32 = 1 << 6;
}

/// Primary processor-based VM-execution controls.
pub mod proc {
    pub const INTERRUPT_WINDOW_EXITING: u32 = 1 << 2;
    pub const HLT_EXITING: u32 = 1 << 7;
    pub const MWAIT_EXITING: u32 = 1 << 10;
    pub const RDPMC_EXITING: u32 = 1 << 11;
    pub const CR8_LOAD_EXITING: u32 = 1 << 19;
    pub const CR8_STORE_EXITING: u32 = 1 << 20;
    pub const USE_IO_BITMAPS: u32 = 1 << 25;
    pub const USE_MSR_BITMAPS: u32 = 1 << 28;
    pub const MONITOR_EXITING: u32 = 1 << 29;
    pub const SECONDARY_CONTROLS: u32 = 1 << 31;
}

/// Secondary processor-based VM-execution controls.
pub mod proc2 {
    pub const ENABLE_EPT: u32 = 1 << 1;
    pub const ENABLE_RDTSCP: u32 = 1 << 3;
    pub const ENABLE_VPID: u32 = 1 << 5;
    pub const WBINVD_EXITING: u32 = 1 << 6;
    pub const UNRESTRICTED_GUEST: u32 = 1 << 7;
    pub const ENABLE_INVPCID: u32 = 1 << 12;
}

/// VM-exit controls.
pub mod exit {
    pub const SAVE_DEBUG_CONTROLS: u32 = 1 << 2;
    pub const HOST_64BIT: u32 = 1 << 9;
    pub const ACK_INTERRUPT_ON_EXIT: u32 = 1 << 15;
    pub const SAVE_PAT: u32 = 1 << 18;
    pub const LOAD_PAT: u32 = 1 << 19;
    pub const SAVE_EFER: u32 = 1 << 20;
    pub const LOAD_EFER: u32 = 1 << 21;
}

/// VM-entry controls.
pub mod entry {
    pub const LOAD_DEBUG_CONTROLS: u32 = 1 << 2;
    pub const IA32E_GUEST: u32 = 1 << 9;
    pub const LOAD_PAT: u32 = 1 << 14;
    pub const LOAD_EFER: u32 = 1 << 15;
}

/// VM-entry interruption information (and VM-exit interruption / IDT-vectoring
/// information, same layout): vector 7:0, type 10:8, error code 11, valid 31.
pub mod event {
    pub const TYPE_EXTERNAL: u32 = 0 << 8;
    pub const TYPE_HARDWARE_EXCEPTION: u32 = 3 << 8;
    pub const DELIVER_ERROR_CODE: u32 = 1 << 11;
    pub const VALID: u32 = 1 << 31;
}

/// Guest interruptibility state: blocking by STI (bit 0) and by MOV SS (bit 1).
pub const INTERRUPTIBILITY_STI_MOVSS: u64 = 0b11;
/// Guest activity states.
pub const ACTIVITY_ACTIVE: u64 = 0;
pub const ACTIVITY_HLT: u64 = 1;
pub const ACTIVITY_SHUTDOWN: u64 = 2;

/// Reads `field` of the current VMCS (0 if the read fails: no current VMCS, or a field
/// this CPU lacks).
#[cfg(not(test))]
#[inline(always)]
pub fn read(field: Field) -> u64 {
    let value: u64;
    // SAFETY: VMREAD only reads the current VMCS into a register; outside VMX operation it
    // would #UD, and the port only calls it once its VMCS is current.
    unsafe { asm!("vmread {v}, {f}", v = out(reg) value, f = in(reg) u64::from(field.0), options(nomem, nostack)) };
    value
}

/// Writes `value` to `field` of the current VMCS. A failed write (a field this CPU lacks)
/// leaves the VMCS unchanged and surfaces at the next VM entry.
///
/// # Safety
/// Host-state and control fields decide where the next VM exit goes and what the guest may
/// reach: the caller writes values that keep the hypervisor and other partitions safe.
#[cfg(not(test))]
#[inline(always)]
pub unsafe fn write(field: Field, value: u64) {
    // SAFETY: forwarded to the caller; VMWRITE touches only the current VMCS.
    unsafe { asm!("vmwrite {f}, {v}", f = in(reg) u64::from(field.0), v = in(reg) value, options(nomem, nostack)) };
}

// Host builds (unit tests of the vCPU's logic): a VMCS in a thread-local table.
#[cfg(test)]
std::thread_local! {
    static FAKE: core::cell::RefCell<std::collections::HashMap<u32, u64>> = Default::default();
}

#[cfg(test)]
pub fn read(field: Field) -> u64 {
    FAKE.with(|f| f.borrow().get(&field.0).copied().unwrap_or(0))
}

/// # Safety
/// None on the host: the table is ordinary memory.
#[cfg(test)]
pub unsafe fn write(field: Field, value: u64) {
    FAKE.with(|f| f.borrow_mut().insert(field.0, value));
}
