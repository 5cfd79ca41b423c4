//! Traps: the hypervisor's own CPU exceptions (the IDT) and the guests' VM exits, decoded
//! by exit reason into what they mean ([`decode`]).
//!
//! - Hypervisor exceptions (vectors 0-31): a hypervisor bug; `idt::handle` reports vector,
//!   error code and RIP through the board's panic handler, which prints them and powers
//!   off. Path: `IDT[v]` -> stub `v` (pushes a 0 error code where the CPU pushes none, then
//!   the vector) -> `trap_common` (passes the frame) -> `handle`. The hypervisor runs
//!   with interrupts masked: physical interrupts reach it only as VM exits.
//! - VM exits ([`crate::vcpu`] saves the guest's registers and reads the exit fields):
//!   [`decode`] turns the basic exit reason and its qualification into a [`VmExit`]; the
//!   vCPU answers what is its own (CPUID, the virtual APIC, emulated ports) and hands the
//!   rest to the core as an `hv::exit::Exit`. Every field is guest-influenced and is only
//!   ever masked; nothing here can fail.

#[cfg(target_os = "none")]
mod idt;
#[cfg(target_os = "none")]
pub use idt::{init, TrapFrame};

/// Basic VM-exit reasons (SDM Vol. 3D, appendix C).
pub mod reason {
    /// An exception or NMI: only NMIs exit (the exception bitmap is empty).
    pub const NMI: u16 = 0;
    pub const EXTERNAL_INTERRUPT: u16 = 1;
    pub const TRIPLE_FAULT: u16 = 2;
    pub const INTERRUPT_WINDOW: u16 = 7;
    pub const CPUID: u16 = 10;
    pub const HLT: u16 = 12;
    pub const VMCALL: u16 = 18;
    /// VMCLEAR, VMLAUNCH, VMPTRLD, VMPTRST, VMREAD, VMRESUME, VMWRITE, VMXOFF, VMXON.
    pub const VMCLEAR: u16 = 19;
    pub const VMXON: u16 = 27;
    pub const CR_ACCESS: u16 = 28;
    pub const IO: u16 = 30;
    pub const RDMSR: u16 = 31;
    pub const WRMSR: u16 = 32;
    pub const INVALID_GUEST_STATE: u16 = 33;
    pub const MSR_LOADING: u16 = 34;
    pub const MWAIT: u16 = 36;
    pub const MONITOR: u16 = 39;
    pub const MACHINE_CHECK: u16 = 41;
    pub const EPT_VIOLATION: u16 = 48;
    pub const EPT_MISCONFIG: u16 = 49;
    pub const INVEPT: u16 = 50;
    pub const PREEMPTION_TIMER: u16 = 52;
    pub const INVVPID: u16 = 53;
    pub const WBINVD: u16 = 54;
}

/// A control-register access (MOV to/from CR0, CR3, CR4, CR8; CLTS; LMSW).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrAccess {
    /// MOV to CR`cr` from general register `gpr` (hardware numbering: 0 RAX .. 15 R15).
    Write { cr: u8, gpr: u8 },
    /// MOV from CR`cr` to `gpr`.
    Read { cr: u8, gpr: u8 },
    /// CLTS or LMSW: they change only CR0 bits the guest owns, so they exit only if it
    /// tried to change one it does not.
    Other,
}

/// What a VM exit is, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VmExit {
    Hypercall,
    /// IN (`input`) or OUT of `width` bytes at `port` (not a string instruction).
    Io { port: u16, width: u8, input: bool },
    /// RDMSR or WRMSR (the MSR is in ECX).
    Msr { write: bool },
    Cpuid,
    Cr(CrAccess),
    Hlt,
    Wbinvd,
    /// A physical interrupt (acknowledged on exit: its vector).
    Interrupt { vector: u8 },
    /// A physical NMI: another CPU forces this vCPU out of its guest (`irq::force_exit`).
    Nmi,
    /// The guest can take an interrupt again.
    InterruptWindow,
    /// The VMX-preemption timer: a deadline of the hypervisor's (the guest's virtual timer).
    Deadline,
    /// An access to a guest-physical address the EPT does not map (or maps without the
    /// right); `fetch` for an instruction fetch.
    Ept { addr: u64, write: bool, fetch: bool },
    /// An instruction or access the partition may not use: `(reason, detail)`.
    Forbidden { reason: u16, detail: u32 },
    /// The guest cannot go on: triple fault, invalid guest state, a machine check, a
    /// broken EPT.
    Broken { reason: u16 },
}

/// Exit-qualification fields.
mod qual {
    pub const IO_SIZE_MASK: u64 = 0b111;
    pub const IO_IN: u64 = 1 << 3;
    pub const IO_STRING: u64 = 1 << 4;
    pub const IO_PORT_SHIFT: u64 = 16;
    pub const CR_NUMBER_MASK: u64 = 0xf;
    pub const CR_TYPE_SHIFT: u64 = 4;
    pub const CR_TYPE_MASK: u64 = 0b11;
    pub const CR_GPR_SHIFT: u64 = 8;
    pub const CR_GPR_MASK: u64 = 0xf;
    pub const EPT_WRITE: u64 = 1 << 1;
    pub const EPT_FETCH: u64 = 1 << 2;
}
/// VM-exit interruption information: the vector (bits 7:0) and the valid bit.
const EXIT_INTERRUPT_VECTOR_MASK: u32 = 0xff;

/// Decodes a VM exit: `exit_reason` (the VMCS field: basic reason in bits 15:0, bit 31 for
/// a failed VM entry), its qualification, the guest-physical address of an EPT exit and
/// the interruption information of an interrupt exit.
pub fn decode(exit_reason: u32, qualification: u64, gpa: u64, interruption: u32) -> VmExit {
    let r = exit_reason as u16;
    match r {
        reason::VMCALL => VmExit::Hypercall,
        reason::IO if qualification & qual::IO_STRING == 0 => VmExit::Io {
            port: (qualification >> qual::IO_PORT_SHIFT) as u16,
            // Size field: 0, 1 or 3 for 1, 2 or 4 bytes.
            width: (qualification & qual::IO_SIZE_MASK) as u8 + 1,
            input: qualification & qual::IO_IN != 0,
        },
        reason::RDMSR => VmExit::Msr { write: false },
        reason::WRMSR => VmExit::Msr { write: true },
        reason::CPUID => VmExit::Cpuid,
        reason::CR_ACCESS => {
            let cr = (qualification & qual::CR_NUMBER_MASK) as u8;
            let gpr = ((qualification >> qual::CR_GPR_SHIFT) & qual::CR_GPR_MASK) as u8;
            VmExit::Cr(match (qualification >> qual::CR_TYPE_SHIFT) & qual::CR_TYPE_MASK {
                0 => CrAccess::Write { cr, gpr },
                1 => CrAccess::Read { cr, gpr },
                _ => CrAccess::Other,
            })
        }
        reason::HLT => VmExit::Hlt,
        reason::WBINVD => VmExit::Wbinvd,
        reason::EXTERNAL_INTERRUPT => VmExit::Interrupt { vector: (interruption & EXIT_INTERRUPT_VECTOR_MASK) as u8 },
        reason::NMI => VmExit::Nmi,
        reason::INTERRUPT_WINDOW => VmExit::InterruptWindow,
        reason::PREEMPTION_TIMER => VmExit::Deadline,
        reason::EPT_VIOLATION => VmExit::Ept {
            addr: gpa,
            write: qualification & qual::EPT_WRITE != 0,
            fetch: qualification & qual::EPT_FETCH != 0,
        },
        reason::TRIPLE_FAULT
        | reason::INVALID_GUEST_STATE
        | reason::MSR_LOADING
        | reason::MACHINE_CHECK
        | reason::EPT_MISCONFIG => VmExit::Broken { reason: r },
        _ => VmExit::Forbidden { reason: r, detail: qualification as u32 },
    }
}

/// `Fault::Forbidden`'s syndrome: the exit reason in bits 47:32, the detail (exit
/// qualification, or the MSR number of an RDMSR/WRMSR) in bits 31:0.
pub fn syndrome(reason: u16, detail: u32) -> u64 {
    u64::from(reason) << 32 | u64::from(detail)
}

/// Exception vectors [`crate::vcpu`] injects under policy `inject`.
pub const UD: u8 = 6;
pub const GP: u8 = 13;

/// The exception a refused exit of `reason` raises in the guest, as the hardware would
/// without a hypervisor: `#UD` for the VMX instructions and MONITOR/MWAIT (CPUID says the
/// partition has neither), `#GP(0)` otherwise (privileged MSRs, ports, control registers).
pub fn exception_for(reason: u16) -> u8 {
    match reason {
        reason::VMCALL..=reason::VMXON | reason::INVEPT | reason::INVVPID | reason::MWAIT | reason::MONITOR => UD,
        _ => GP,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_exits_name_port_width_and_direction() {
        // `out dx, al` to 0x3f8; `in eax, dx` from 0xcfc; `rep outsb` is refused.
        assert_eq!(decode(30, 0x03f8_0000, 0, 0), VmExit::Io { port: 0x3f8, width: 1, input: false });
        assert_eq!(decode(30, 0x0cfc_0000 | 0b1011, 0, 0), VmExit::Io { port: 0xcfc, width: 4, input: true });
        assert_eq!(decode(30, 0x03f8_0030, 0, 0), VmExit::Forbidden { reason: 30, detail: 0x03f8_0030 });
    }

    #[test]
    fn control_register_accesses() {
        // mov cr4, rbx (gpr 3); mov r9, cr3; lmsw.
        assert_eq!(decode(28, 0x304, 0, 0), VmExit::Cr(CrAccess::Write { cr: 4, gpr: 3 }));
        assert_eq!(decode(28, 0x913, 0, 0), VmExit::Cr(CrAccess::Read { cr: 3, gpr: 9 }));
        assert_eq!(decode(28, 0x30, 0, 0), VmExit::Cr(CrAccess::Other));
    }

    #[test]
    fn memory_interrupts_and_the_rest() {
        assert_eq!(decode(48, 0b010, 0x0300_0000, 0), VmExit::Ept { addr: 0x0300_0000, write: true, fetch: false });
        assert_eq!(decode(48, 0b100, 0x10, 0), VmExit::Ept { addr: 0x10, write: false, fetch: true });
        assert_eq!(decode(1, 0, 0, 0x8000_00ef), VmExit::Interrupt { vector: 0xef });
        assert_eq!(decode(0, 0, 0, 0), VmExit::Nmi, "exception or NMI: only NMIs exit");
        assert_eq!(decode(2, 0, 0, 0), VmExit::Broken { reason: 2 });
        assert_eq!(decode(0x8000_0021, 0, 0, 0), VmExit::Broken { reason: 33 }, "failed VM entry: invalid guest state");
        assert_eq!(decode(27, 0, 0, 0), VmExit::Forbidden { reason: 27, detail: 0 }, "VMXON");
        assert_eq!(decode(18, 0, 0, 0), VmExit::Hypercall);
        assert_eq!(decode(52, 0, 0, 0), VmExit::Deadline);
        assert_eq!(decode(0xffff, 7, 0, 0), VmExit::Forbidden { reason: 0xffff, detail: 7 }, "unknown reasons are refused");
    }

    #[test]
    fn refusals_raise_what_the_cpu_would() {
        assert_eq!(exception_for(reason::VMXON), UD);
        assert_eq!(exception_for(reason::VMCALL), UD, "an undefined hypercall");
        assert_eq!(exception_for(reason::MONITOR), UD);
        assert_eq!(exception_for(reason::WRMSR), GP);
        assert_eq!(exception_for(reason::IO), GP);
        assert_eq!(syndrome(32, 0x3a), 0x20_0000_003a);
    }
}
