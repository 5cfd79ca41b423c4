//! The hardware side of a vCPU: this CPU's VMCS programmed once (controls, bitmaps, EPT,
//! host state), the guest's boot state, and the VM entry/exit assembly.
//!
//! Controls (each checked against the CPU's capability MSRs; a missing one is a
//! [`SetupError`]):
//! - pin-based: external-interrupt and NMI exiting (physical interrupts and NMIs are the
//!   hypervisor's: an NMI is how another CPU forces this vCPU out, `irq::force_exit`), the
//!   preemption timer when a deadline is armed;
//! - primary: HLT, MWAIT, MONITOR, RDPMC and CR8 exits, I/O and MSR bitmaps, interrupt-window
//!   exiting when an interrupt waits; secondary: EPT, unrestricted guest (the boot state is
//!   protected mode without paging), WBINVD exits, RDTSCP and INVPCID where the CPU has them
//!   (else they #UD in the guest, as CPUID then says), VPID where the CPU has it and
//!   INVVPID can drop one VPID's (or all) translations: the guest's TLB entries survive
//!   VM exits and entries; the boot state (start, restart) drops them;
//! - exit: 64-bit host, acknowledge interrupts on exit, save DR7/DEBUGCTL, save/load EFER
//!   and PAT; entry: load DR7/DEBUGCTL, EFER and PAT (the guest's own values, switched by
//!   the CPU; its DR0-DR3 and DR6 stay live, the hypervisor uses no debug register).
//! - CR0/CR4: the bits VMX fixes (CR0.NE, CR4.VMXE, bits this CPU lacks) belong to the host:
//!   the guest reads NE = 1 and VMXE = 0 and exits if it tries to change them. Everything
//!   else in CR0/CR3/CR4 is the guest's, without exits.
//! - no exception exits: the guest handles its own exceptions.

use super::{Setup, SetupError, Vcpu};
use crate::cpu::{self, ControlCaps, CR0_NE, CR0_PE, CR0_PG};
use crate::vmcs::{self, entry, exit, pin, proc, proc2};

const WANT_PIN: u32 = pin::EXTERNAL_INTERRUPT_EXITING | pin::NMI_EXITING;
const WANT_PROC: u32 = proc::HLT_EXITING
    | proc::MWAIT_EXITING
    | proc::MONITOR_EXITING
    | proc::RDPMC_EXITING
    | proc::CR8_LOAD_EXITING
    | proc::CR8_STORE_EXITING
    | proc::USE_IO_BITMAPS
    | proc::USE_MSR_BITMAPS
    | proc::SECONDARY_CONTROLS;
const WANT_PROC2: u32 = proc2::ENABLE_EPT | proc2::UNRESTRICTED_GUEST | proc2::WBINVD_EXITING;
const OPTIONAL_PROC2: u32 = proc2::ENABLE_RDTSCP | proc2::ENABLE_INVPCID;
const WANT_EXIT: u32 = exit::SAVE_DEBUG_CONTROLS
    | exit::HOST_64BIT | exit::ACK_INTERRUPT_ON_EXIT | exit::SAVE_PAT | exit::LOAD_PAT | exit::SAVE_EFER | exit::LOAD_EFER;
const WANT_ENTRY: u32 = entry::LOAD_DEBUG_CONTROLS | entry::LOAD_PAT | entry::LOAD_EFER;

/// CR0 as a Multiboot kernel finds it: protected mode, the x87 present (ET), native x87
/// errors (NE, which VMX requires anyway).
const BOOT_CR0: u64 = CR0_PE | CR0_ET | CR0_NE;
const CR0_ET: u64 = 1 << 4;
/// IA32_PAT at reset.
const PAT_RESET: u64 = 0x0007_0406_0007_0406;
/// Flat 4 GiB segments: code (execute/read, accessed, 32-bit, 4 KiB granularity) and data
/// (read/write, accessed); an unusable LDTR; a busy 32-bit TSS (VM entry requires one).
const CODE32_ACCESS: u64 = 0xc09b;
const DATA32_ACCESS: u64 = 0xc093;
const UNUSABLE: u64 = 1 << 16;
const TSS_BUSY_ACCESS: u64 = 0x8b;
const BOOT_CS: u64 = 0x08;
const BOOT_DS: u64 = 0x10;
/// RFLAGS bit 1 is always set; DR7 at reset.
const RFLAGS_RESERVED: u64 = 1 << 1;
const DR7_RESET: u64 = 0x400;

/// What the vCPU keeps of the configuration: the run-time-variable controls as programmed
/// and the control-register bits VMX forces on in the guest.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Controls {
    pub pin: u32,
    pub proc: u32,
    /// CR0 bits that must be 1 (PE and PG excepted: unrestricted guest), CR4 bits likewise.
    pub cr0_must1: u64,
    pub cr4_must1: u64,
    /// The vCPU's VPID, if enabled.
    pub vpid: Option<cpu::Vpid>,
}

/// Makes this CPU's VMCS current and programs everything but the guest's state.
pub fn configure(s: &Setup) -> Result<Controls, SetupError> {
    let region = s.vmcs.phys();
    // SAFETY: the region is this CPU's VMCS, used by nothing else; in VMX operation
    // (the board's vmxon), VMCLEAR then VMPTRLD make it the current, clear VMCS.
    unsafe {
        s.vmcs.prepare(s.vmx.vmcs.revision);
        crate::vmx::vmclear(region).map_err(SetupError::Vmcs)?;
        crate::vmx::vmptrld(region).map_err(SetupError::Vmcs)?;
    }
    if s.vmx.preemption_timer.0.is_none() {
        return Err(SetupError::NoPreemptionTimer);
    }
    let caps = ControlCaps::read();
    let adjust = |which, wanted, cap| cpu::adjust(wanted, cap).map_err(|missing| SetupError::Controls { which, missing });
    adjust("pin-based", WANT_PIN | pin::PREEMPTION_TIMER, caps.pin)?;
    adjust("processor-based", WANT_PROC | proc::INTERRUPT_WINDOW_EXITING, caps.proc)?;
    let pin = adjust("pin-based", WANT_PIN, caps.pin)?;
    let proc = adjust("processor-based", WANT_PROC, caps.proc)?;
    let vpid = cpu::vpid(s.vpid, caps.proc2.1, caps.ept_vpid);
    let with_vpid = if vpid.is_some() { proc2::ENABLE_VPID } else { 0 };
    let proc2 = adjust("secondary processor-based", WANT_PROC2 | with_vpid | (OPTIONAL_PROC2 & caps.proc2.1), caps.proc2)?;
    let exit = adjust("VM-exit", WANT_EXIT, caps.exit)?;
    let entry = adjust("VM-entry", WANT_ENTRY, caps.entry)?;
    let (io_a, io_b) = s.io.addresses();
    let (cr0_fixed, cr4_fixed) = (cpu::cr_fixed(false), cpu::cr_fixed(true));
    let (cr0_mask, cr4_mask) = (host_owned(cr0_fixed) & !(CR0_PE | CR0_PG), host_owned(cr4_fixed));
    // SAFETY: controls the CPU allows (checked above); bitmaps and EPT of this partition,
    // static and identity-mapped; the host state is this CPU's current one, with the exit
    // path of `vtx_vm_exit` (HOST_RSP is set at launch).
    unsafe {
        use vmcs::*;
        write(PIN_CONTROLS, u64::from(pin));
        write(PROC_CONTROLS, u64::from(proc));
        write(PROC_CONTROLS2, u64::from(proc2));
        write(EXIT_CONTROLS, u64::from(exit));
        write(ENTRY_CONTROLS, u64::from(entry));
        for f in [EXCEPTION_BITMAP, CR3_TARGET_COUNT, EXIT_MSR_STORE_COUNT, EXIT_MSR_LOAD_COUNT, ENTRY_MSR_LOAD_COUNT] {
            write(f, 0);
        }
        write(IO_BITMAP_A, io_a);
        write(IO_BITMAP_B, io_b);
        write(MSR_BITMAP, crate::emulate::MSR_BITMAP.0.as_ptr() as u64);
        write(EPT_POINTER, s.ept.pointer);
        write(VPID, vpid.map_or(0, |v| u64::from(v.tag)));
        write(CR0_GUEST_HOST_MASK, cr0_mask);
        write(CR4_GUEST_HOST_MASK, cr4_mask);
        write(CR0_READ_SHADOW, BOOT_CR0);
        write(CR4_READ_SHADOW, 0);
        host_state(s.tr);
    }
    Ok(Controls { pin, proc, cr0_must1: cr0_fixed.0 & !(CR0_PE | CR0_PG), cr4_must1: cr4_fixed.0, vpid })
}

/// The bits of a control register VMX fixes: must be 1, or may not be 1 (low 32 bits).
fn host_owned((must1, may1): (u64, u64)) -> u64 {
    (must1 | !may1) & 0xffff_ffff
}

/// The host state a VM exit loads: this CPU as it is now.
///
/// # Safety
/// This CPU's VMCS is current.
unsafe fn host_state((tr, tr_base): (u16, u64)) {
    use crate::gdt::{KERNEL_CS, KERNEL_DS};
    use vmcs::*;
    let (gdt, idt) = descriptor_tables();
    unsafe extern "C" {
        // The exit path in this file's assembly.
        fn vtx_vm_exit();
    }
    // SAFETY: forwarded to the caller; every value is this CPU's own (the MSRs exist on
    // every x86-64 CPU).
    unsafe {
        write(HOST_CR0, cpu::read_cr0());
        write(HOST_CR3, cpu::read_cr3());
        write(HOST_CR4, cpu::read_cr4());
        write(HOST_CS_SELECTOR, u64::from(KERNEL_CS));
        for f in [HOST_SS_SELECTOR, HOST_DS_SELECTOR, HOST_ES_SELECTOR] {
            write(f, u64::from(KERNEL_DS));
        }
        for f in [HOST_FS_SELECTOR, HOST_GS_SELECTOR, HOST_FS_BASE, HOST_GS_BASE, HOST_SYSENTER_CS, HOST_SYSENTER_ESP, HOST_SYSENTER_EIP] {
            write(f, 0);
        }
        write(HOST_TR_SELECTOR, u64::from(tr));
        write(HOST_TR_BASE, tr_base);
        write(HOST_GDTR_BASE, gdt);
        write(HOST_IDTR_BASE, idt);
        write(HOST_EFER, crate::msr::rdmsr(crate::msr::IA32_EFER));
        write(HOST_PAT, crate::msr::rdmsr(crate::msr::IA32_PAT));
        write(HOST_RIP, vtx_vm_exit as *const () as u64);
    }
}

/// The bases of this CPU's GDT and IDT.
fn descriptor_tables() -> (u64, u64) {
    #[repr(C, packed)]
    #[derive(Default)]
    struct Pointer {
        limit: u16,
        base: u64,
    }
    let (mut gdt, mut idt) = (Pointer::default(), Pointer::default());
    // SAFETY: SGDT and SIDT store 10 bytes each into the pointers.
    unsafe { core::arch::asm!("sgdt [{}]", "sidt [{}]", in(reg) &mut gdt, in(reg) &mut idt, options(nostack, preserves_flags)) };
    (gdt.base, idt.base)
}

/// The part of the boot state that is the same for every partition: flat 32-bit segments,
/// an unusable LDTR, a busy TSS (VM entry wants one), no GDT or IDT, paging and interrupts
/// off, nothing pending, no event to inject.
#[rustfmt::skip]
const BOOT_STATE: &[(vmcs::Field, u64)] = {
    use vmcs::*;
    const FLAT: u64 = 0xffff_ffff;
    &[
        (GUEST_CS_SELECTOR, BOOT_CS), (GUEST_CS_ACCESS, CODE32_ACCESS), (GUEST_CS_LIMIT, FLAT), (GUEST_CS_BASE, 0),
        (GUEST_SS_SELECTOR, BOOT_DS), (GUEST_SS_ACCESS, DATA32_ACCESS), (GUEST_SS_LIMIT, FLAT), (GUEST_SS_BASE, 0),
        (GUEST_DS_SELECTOR, BOOT_DS), (GUEST_DS_ACCESS, DATA32_ACCESS), (GUEST_DS_LIMIT, FLAT), (GUEST_DS_BASE, 0),
        (GUEST_ES_SELECTOR, BOOT_DS), (GUEST_ES_ACCESS, DATA32_ACCESS), (GUEST_ES_LIMIT, FLAT), (GUEST_ES_BASE, 0),
        (GUEST_FS_SELECTOR, BOOT_DS), (GUEST_FS_ACCESS, DATA32_ACCESS), (GUEST_FS_LIMIT, FLAT), (GUEST_FS_BASE, 0),
        (GUEST_GS_SELECTOR, BOOT_DS), (GUEST_GS_ACCESS, DATA32_ACCESS), (GUEST_GS_LIMIT, FLAT), (GUEST_GS_BASE, 0),
        (GUEST_LDTR_SELECTOR, 0), (GUEST_LDTR_ACCESS, UNUSABLE), (GUEST_LDTR_LIMIT, 0), (GUEST_LDTR_BASE, 0),
        (GUEST_TR_SELECTOR, 0), (GUEST_TR_ACCESS, TSS_BUSY_ACCESS), (GUEST_TR_LIMIT, 0x67), (GUEST_TR_BASE, 0),
        (GUEST_GDTR_BASE, 0), (GUEST_GDTR_LIMIT, 0), (GUEST_IDTR_BASE, 0), (GUEST_IDTR_LIMIT, 0),
        (CR0_READ_SHADOW, BOOT_CR0), (CR4_READ_SHADOW, 0), (GUEST_CR3, 0),
        (GUEST_RSP, 0), (GUEST_RFLAGS, RFLAGS_RESERVED), (GUEST_DR7, DR7_RESET), (GUEST_DEBUGCTL, 0),
        (GUEST_EFER, 0), (GUEST_PAT, PAT_RESET),
        (GUEST_SYSENTER_CS, 0), (GUEST_SYSENTER_ESP, 0), (GUEST_SYSENTER_EIP, 0),
        (GUEST_PENDING_DEBUG, 0), (GUEST_INTERRUPTIBILITY, 0), (GUEST_ACTIVITY_STATE, ACTIVITY_ACTIVE),
        (ENTRY_INTERRUPTION_INFO, 0), (VMCS_LINK_POINTER, u64::MAX),
    ]
};

/// The guest's boot state (a Multiboot kernel's), starting at `entry`: [`BOOT_STATE`], CR0
/// and CR4 with the bits VMX forces, and IA-32e mode off; the translations the guest's
/// previous life cached under its VPID dropped (they would outlive its page tables: a
/// VM entry does not flush them). The general registers are the vCPU's
/// ([`Vcpu::reset`](hv::exit::Vcpu::reset)).
pub fn boot_state(entry: u64, c: &Controls) {
    if let Some(v) = c.vpid {
        // SAFETY: in VMX operation (the VMCS is current), a type this CPU's INVVPID
        // supports (`cpu::vpid`) and a VPID other than 0: it cannot fail.
        let _ = unsafe { crate::vmx::invvpid(v.invvpid, v.tag) };
    }
    // SAFETY: guest state only: a flat 32-bit protected-mode machine, which the
    // unrestricted-guest control allows without paging; the controls stay as configured
    // but for IA-32e mode, off at boot.
    unsafe {
        use vmcs::*;
        for &(field, value) in BOOT_STATE {
            write(field, value);
        }
        write(GUEST_CR0, BOOT_CR0 | c.cr0_must1);
        write(GUEST_CR4, c.cr4_must1);
        write(GUEST_RIP, entry);
        write(ENTRY_CONTROLS, read(ENTRY_CONTROLS) & !u64::from(entry::IA32E_GUEST));
    }
}

/// Real mode as a STARTUP IPI leaves an AP: 64 KiB segments at 0 but CS, which is at
/// the page `vector` names (CS = vector << 8, IP = 0).
#[rustfmt::skip]
const REAL_MODE: &[(vmcs::Field, u64)] = {
    use vmcs::*;
    const CODE16: u64 = 0x9b;
    const DATA16: u64 = 0x93;
    const LIMIT: u64 = 0xffff;
    &[
        (GUEST_CS_ACCESS, CODE16), (GUEST_CS_LIMIT, LIMIT),
        (GUEST_SS_SELECTOR, 0), (GUEST_SS_ACCESS, DATA16), (GUEST_SS_LIMIT, LIMIT),
        (GUEST_DS_SELECTOR, 0), (GUEST_DS_ACCESS, DATA16), (GUEST_DS_LIMIT, LIMIT),
        (GUEST_ES_SELECTOR, 0), (GUEST_ES_ACCESS, DATA16), (GUEST_ES_LIMIT, LIMIT),
        (GUEST_FS_SELECTOR, 0), (GUEST_FS_ACCESS, DATA16), (GUEST_FS_LIMIT, LIMIT),
        (GUEST_GS_SELECTOR, 0), (GUEST_GS_ACCESS, DATA16), (GUEST_GS_LIMIT, LIMIT),
        (GUEST_GDTR_LIMIT, LIMIT), (GUEST_IDTR_LIMIT, LIMIT), (GUEST_RIP, 0),
    ]
};

/// An AP's state after a STARTUP IPI with `vector`, over a [`boot_state`]: real mode
/// ([`REAL_MODE`], CR0.PE off: unrestricted guest) at `vector << 12`.
pub fn sipi_state(vector: u8, c: &Controls) {
    // SAFETY: guest state only: real mode, which unrestricted guest allows.
    unsafe {
        use vmcs::*;
        for &(field, value) in REAL_MODE {
            write(field, value);
        }
        write(GUEST_CS_SELECTOR, u64::from(vector) << 8);
        write(GUEST_CS_BASE, u64::from(vector) << 12);
        write(GUEST_CR0, (BOOT_CR0 & !CR0_PE) | c.cr0_must1);
    }
}

/// Enters the guest for the first time; every later entry resumes from `vtx_vm_exit`.
#[cfg(not(test))]
pub fn launch(vcpu: &mut Vcpu) -> ! {
    unsafe extern "C" {
        fn vtx_vm_launch(vcpu: *mut u8) -> !;
    }
    // SAFETY: the VMCS is current and complete (configure, boot_state); the vCPU outlives
    // the guest (its owner's frame never returns), and the stack below this call becomes
    // the exit path's.
    unsafe { vtx_vm_launch((vcpu as *mut Vcpu).cast()) }
}

#[cfg(test)]
pub fn launch(_vcpu: &mut Vcpu) -> ! {
    unreachable!("host builds only unit-test the pure parts")
}

/// VMLAUNCH or VMRESUME failed: the host or control state is wrong, a hypervisor bug (the
/// guest's state fails as an exit, not here).
#[cfg_attr(test, allow(dead_code))]
extern "C" fn vm_entry_failed() -> ! {
    panic!("VM entry failed: VM-instruction error {}", vmcs::read(vmcs::VM_INSTRUCTION_ERROR))
}

// The entry and exit paths. The stack the launch leaves is the exit path's for good: at
// its top, the vCPU (twice, to keep RSP 16-byte aligned for the call into Rust).
#[cfg(not(test))]
core::arch::global_asm!(
    ".macro load_guest",                     // RDI = the vCPU: its context's registers
    "    mov rax, [rdi + 0 * 8]",
    "    mov rcx, [rdi + 1 * 8]",
    "    mov rdx, [rdi + 2 * 8]",
    "    mov rbx, [rdi + 3 * 8]",
    "    mov rbp, [rdi + 5 * 8]",            // (slot 4, RSP, is the VMCS's)
    "    mov rsi, [rdi + 6 * 8]",
    "    mov r8, [rdi + 8 * 8]",
    "    mov r9, [rdi + 9 * 8]",
    "    mov r10, [rdi + 10 * 8]",
    "    mov r11, [rdi + 11 * 8]",
    "    mov r12, [rdi + 12 * 8]",
    "    mov r13, [rdi + 13 * 8]",
    "    mov r14, [rdi + 14 * 8]",
    "    mov r15, [rdi + 15 * 8]",
    "    mov rdi, [rdi + 7 * 8]",            // RDI last
    ".endm",
    ".pushsection .text.vmx, \"ax\"",
    ".global vtx_vm_launch",
    "vtx_vm_launch:",                        // RDI = the vCPU
    "    and rsp, -16",
    "    sub rsp, 16",
    "    mov [rsp], rdi",                    // the vCPU, for every exit
    "    mov [rsp + 8], rdi",
    "    mov rax, {host_rsp}",
    "    vmwrite rax, rsp",                  // exits land with this stack
    "    load_guest",
    "    vmlaunch",
    "    jmp 2f",                            // only on failure
    ".global vtx_vm_exit",
    "vtx_vm_exit:",                          // from the guest: RSP = HOST_RSP
    "    push rax",
    "    mov rax, [rsp + 8]",                // the vCPU
    "    mov [rax + 1 * 8], rcx",
    "    mov [rax + 2 * 8], rdx",
    "    mov [rax + 3 * 8], rbx",
    "    mov [rax + 5 * 8], rbp",
    "    mov [rax + 6 * 8], rsi",
    "    mov [rax + 7 * 8], rdi",
    "    mov [rax + 8 * 8], r8",
    "    mov [rax + 9 * 8], r9",
    "    mov [rax + 10 * 8], r10",
    "    mov [rax + 11 * 8], r11",
    "    mov [rax + 12 * 8], r12",
    "    mov [rax + 13 * 8], r13",
    "    mov [rax + 14 * 8], r14",
    "    mov [rax + 15 * 8], r15",
    "    pop qword ptr [rax]",               // the guest's RAX; RSP back at HOST_RSP
    "    mov rdi, rax",
    "    call {vm_exit}",                    // decode, decide, prepare the next entry
    "    mov rdi, [rsp]",
    "    load_guest",
    "    vmresume",
    "2:",                                    // VMLAUNCH/VMRESUME failed
    "    call {failed}",
    "    ud2",
    ".popsection",
    host_rsp = const vmcs::HOST_RSP.0,
    vm_exit = sym super::vm_exit,
    failed = sym vm_entry_failed,
);
