//! A virtual CPU: the port side of `hv::exit::Vcpu`, over this CPU's VMCS.
//!
//! One vCPU per physical CPU, pinned for good, with the CPU's one VMCS current from
//! [`Vcpu::new`] on. The guest's state is the VMCS's (segments, control registers, RIP,
//! RSP, RFLAGS, EFER, PAT) plus the general registers, which the exit path saves into
//! [`Context`]; nothing else is switched: the hypervisor is soft-float (the guest's x87,
//! SSE and AVX registers stay live) and uses no MSR, debug register or CR2 of the guest's.
//!
//! Boot state (a Multiboot kernel's, [`hw::boot_state`]): 32-bit protected mode, paging
//! off, flat 4 GiB code and data segments, interrupts off, EAX = 0x2BADB002, EBX = the
//! Multiboot information the loader wrote ([`crate::loader`]). The guest turns on paging
//! and long mode itself (unrestricted guest, EPT).
//!
//! Exits are handled on the trap path, with no host context to switch back to:
//! [`Vcpu::run`] launches the guest and never returns; a VM exit lands on `vtx_vm_exit`
//! ([`hw`]) with the stack the launch left (its top holds the vCPU), which saves the
//! guest's registers into the vCPU and calls [`vm_exit`]: decode ([`crate::trap::decode`]),
//! answer what is the vCPU's own, let the core decide the rest (`hv::run::exit`), prepare
//! the next entry ([`Vcpu::before_entry`]), return; `vtx_vm_exit` loads the registers back
//! and resumes. A null hypercall is: exit, save, one VMREAD, the core's hypercall, two
//! VMREADs and a VMWRITE to step over VMCALL, restore, VMRESUME.
//!
//! Answered here (not the core's business): CPUID ([`crate::emulate`]), the virtual local
//! APIC's MSRs ([`crate::vlapic`], reported as `Exit::Emulated`), MOV to/from CR3 and CR8,
//! WBINVD (a no-op: it would write back other partitions' cache lines too), the
//! shutdown port and the unwired legacy PICs ([`crate::ioports`]). Reported to the core: VMCALL (`Hypercall`), console
//! port accesses (`Mmio` at [`crate::ioports::io_address`]), HLT (`Idle`), physical
//! interrupts, the virtual timer's deadline and interrupt windows (`Interrupt`), EPT
//! violations (`Fault::Memory`, `Fault::Fetch`), every refused instruction or register
//! (`Fault::Forbidden`), and a guest that cannot go on (`Fault::Hardware`).
//!
//! Idle: a HLT exits; [`hv::exit::Vcpu::idle`] makes the next VM entry enter the guest in
//! the HLT activity state, so the CPU really halts, in the guest, until the VMX-preemption
//! timer (armed for the guest's own timer deadline, if any) or a physical interrupt ends
//! it. With no timer armed, nothing wakes it: the hypervisor is not entered again.
//!
//! Several vCPUs ([`crate::smp`]): vCPU 0 starts in the boot state, the others in real
//! mode at their STARTUP vector ([`crate::smp::Start`]). A write to the ICR goes through
//! the partition's [`crate::smp::Group`]: a fixed IPI to a sibling sets its vector in the
//! sibling's mailbox and sends its CPU the [`crate::irq::KICK`]; the kick's exit takes the
//! mailbox into the virtual APIC, which delivers as for the timer.

use hv::exit::{Exit, Fault, MmioAccess, Width};
use hv::partition::PartitionRt;
use hv::run::Platform;

use crate::ept::Ept;
use crate::smp::{Group, Start};
use crate::ioports::{IoBitmaps, ShutdownPort};
use crate::trap::{self, reason, VmExit};
use crate::vlapic::VLapic;
use crate::vpic::VPic;
use crate::vmcs::{self, event, proc};

/// General-register numbers, as exit qualifications name them.
pub const RAX: usize = 0;
pub const RCX: usize = 1;
pub const RDX: usize = 2;
pub const RBX: usize = 3;
/// RSP lives in the VMCS; its slot in [`Context`] is unused.
pub const RSP: usize = 4;
pub const RSI: usize = 6;
pub const RDI: usize = 7;

/// The guest's general registers, saved on every exit and loaded on every entry, in the
/// hardware's numbering (RAX, RCX, RDX, RBX, RSP (unused), RBP, RSI, RDI, R8..R15).
#[repr(C)]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Context {
    pub gpr: [u64; 16],
}

// The assembly finds the context at the vCPU's address.
const _: () = assert!(core::mem::offset_of!(Vcpu, ctx) == 0);

/// RFLAGS.IF.
const RFLAGS_IF: u64 = 1 << 9;
/// Bytes of a VMCALL (0f 01 c1), for tests.
#[cfg(test)]
const VMCALL_LENGTH: u64 = 3;

/// The core's side, for the trap path: the partition and the board.
type Core = (&'static PartitionRt, &'static dyn Platform);

/// What a vCPU is made from.
#[derive(Clone, Copy)]
pub struct Setup {
    /// This vCPU's index in its partition (its APIC id).
    pub index: u32,
    /// The tag of its cached translations (VPID), if the CPU has VPIDs: not 0, and no
    /// other partition's.
    pub vpid: u16,
    pub ept: Ept,
    pub io: &'static IoBitmaps,
    /// The partition has an emulated console (COM1).
    pub console: bool,
    /// Bit n: the partition owns ISA IRQ n (its passthrough devices'), routed to this CPU.
    pub irqs: u16,
    /// This CPU's VMCS region and the CPU's VMX facts.
    pub vmcs: &'static crate::vmx::Region,
    pub vmx: crate::cpu::Vmx,
    /// This CPU's task register (selector, base), for the host state.
    pub tr: (u16, u64),
    /// The partition's vCPUs (the ICR's destinations).
    pub group: &'static Group,
}

/// Why a vCPU could not be set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetupError {
    /// The VMCS could not be made current.
    Vmcs(crate::vmx::VmFail),
    /// The CPU cannot set these bits of a VM-execution, exit or entry control word.
    Controls { which: &'static str, missing: u32 },
    /// The preemption timer is missing.
    NoPreemptionTimer,
}

impl core::fmt::Display for SetupError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SetupError::Vmcs(e) => {
                f.write_str("VMCS: ")?;
                e.fmt(f)
            }
            SetupError::Controls { which, missing } => write!(f, "VMX lacks {which} controls {missing:#x}"),
            SetupError::NoPreemptionTimer => f.write_str("VMX lacks the preemption timer"),
        }
    }
}

#[repr(C)] // the context first: the assembly finds it at the vCPU's address
pub struct Vcpu {
    ctx: Context,
    index: u32,
    console: bool,
    lapic: VLapic,
    shutdown: ShutdownPort,
    pic: VPic,
    /// The basic reason of the last exit (which exception a refusal raises).
    last_reason: u16,
    /// The primary and pin-based controls as last written (the interrupt-window and
    /// preemption-timer bits change at run time).
    proc: u32,
    pin: u32,
    /// The configuration, for the boot state.
    controls: hw::Controls,
    /// The preemption timer counts every 2^rate TSC ticks.
    timer_rate: u8,
    /// An exception is being injected at the next entry (an interrupt waits for it).
    injecting: bool,
    group: &'static Group,
    core: Option<Core>,
}

impl Vcpu {
    /// The vCPU of `setup`, starting as `start` says. Must be called on the physical CPU
    /// that will run it, in VMX operation: it makes this CPU's VMCS current and programs
    /// it.
    pub fn new(setup: &Setup, start: Start) -> Result<Vcpu, SetupError> {
        let controls = hw::configure(setup)?;
        let mut v = Vcpu {
            ctx: Context::default(),
            index: setup.index,
            console: setup.console,
            lapic: VLapic::new(setup.index),
            shutdown: ShutdownPort::default(),
            pic: VPic::new(setup.irqs),
            last_reason: 0,
            proc: controls.proc,
            pin: controls.pin,
            controls,
            timer_rate: setup.vmx.preemption_timer.0.unwrap_or(0),
            injecting: false,
            group: setup.group,
            core: None,
        };
        v.start(start);
        Ok(v)
    }

    /// Puts the vCPU in its state at `start`: the boot state, or an AP's after STARTUP.
    fn start(&mut self, start: Start) {
        match start {
            Start::Boot { entry, info } => hv::exit::Vcpu::reset(self, entry, info),
            Start::Sipi { vector } => {
                hv::exit::Vcpu::reset(self, 0, 0);
                self.ctx.gpr = [0; 16];
                hw::sipi_state(vector, &self.controls);
            }
        }
    }

    /// The tag of this vCPU's cached translations (0: none, every entry and exit flushes).
    pub fn vpid(&self) -> u16 {
        self.controls.vpid.map_or(0, |v| v.tag)
    }

    /// Runs the guest of partition `p` for good: each exit is decoded and decided on the
    /// trap path ([`vm_exit`]), which resumes the guest. Parks when `p` is stopped.
    pub fn run(&mut self, p: &'static PartitionRt, platform: &'static dyn Platform) -> ! {
        self.core = Some((p, platform));
        if p.is_stopped() {
            platform.park();
        }
        self.before_entry();
        hw::launch(self)
    }

    /// Decodes the exit just taken, answers what is the vCPU's own; `None` when the guest
    /// can go straight back in.
    #[inline(always)] // one call site; the hypercall's exit stays a constant for the core
    fn exit(&mut self) -> Option<Exit> {
        let exit_reason = vmcs::read(vmcs::EXIT_REASON) as u32;
        self.last_reason = exit_reason as u16;
        if exit_reason == u32::from(reason::VMCALL) {
            return Some(Exit::Hypercall);
        }
        self.slow_exit(exit_reason)
    }

    /// Every exit but a hypercall.
    #[inline(never)] // keeps the hypercall path's frame small
    fn slow_exit(&mut self, exit_reason: u32) -> Option<Exit> {
        let r = exit_reason as u16;
        let qualification = vmcs::read(vmcs::EXIT_QUALIFICATION);
        let gpa = if r == reason::EPT_VIOLATION { vmcs::read(vmcs::GUEST_PHYSICAL_ADDRESS) } else { 0 };
        let interruption = if r == reason::EXTERNAL_INTERRUPT { vmcs::read(vmcs::EXIT_INTERRUPTION_INFO) as u32 } else { 0 };
        let forbidden = |detail: u32| Some(Exit::Fault(Fault::Forbidden { syndrome: trap::syndrome(r, detail) }));
        match trap::decode(exit_reason, qualification, gpa, interruption) {
            VmExit::Hypercall => Some(Exit::Hypercall),
            VmExit::Io { port, width, input } => self.port(port, width, input).or_else(|| forbidden(qualification as u32)),
            VmExit::Msr { write } => {
                let msr = self.ctx.gpr[RCX] as u32;
                self.msr(msr, write).or_else(|| forbidden(msr))
            }
            VmExit::Cpuid => {
                let g = &mut self.ctx.gpr;
                let cr4 = vmcs::read(vmcs::GUEST_CR4);
                let r = crate::emulate::cpuid(g[RAX] as u32, g[RCX] as u32, self.index, cr4);
                for (reg, v) in [RAX, RBX, RCX, RDX].into_iter().zip(r) {
                    g[reg] = u64::from(v);
                }
                self.step();
                None
            }
            VmExit::Cr(access) => {
                if self.control_register(access) {
                    self.step();
                    None
                } else {
                    forbidden(qualification as u32)
                }
            }
            VmExit::Hlt => {
                self.step(); // the guest resumes after the HLT once woken
                Some(Exit::Idle)
            }
            VmExit::Wbinvd => {
                self.step();
                None
            }
            VmExit::Interrupt { vector } => {
                crate::irq::eoi();
                if vector == crate::irq::KICK {
                    let lapic = &mut self.lapic; // fixed IPIs from its siblings
                    self.group.take_ipis(self.index as usize, |v| lapic.raise(v));
                } else if let Some(irq) = crate::irq::irq_of(vector) {
                    self.pic.raise(irq); // a passthrough device's: its line in the guest's 8259
                }
                Some(Exit::Interrupt)
            }
            // The virtual timer's deadline or an open interrupt window: `before_entry`
            // delivers what is pending. An NMI: the partition stops or restarts (the core
            // parks the vCPU).
            VmExit::InterruptWindow | VmExit::Deadline | VmExit::Nmi => Some(Exit::Interrupt),
            VmExit::Ept { addr, fetch: true, .. } => Some(Exit::Fault(Fault::Fetch { addr })),
            VmExit::Ept { addr, write, .. } => Some(Exit::Fault(Fault::Memory { addr, write })),
            VmExit::Forbidden { reason, detail } => Some(Exit::Fault(Fault::Forbidden { syndrome: trap::syndrome(reason, detail) })),
            VmExit::Broken { reason } => Some(Exit::Fault(Fault::Hardware { syndrome: u64::from(reason) })),
        }
    }

    /// Steps over the instruction that exited, and out of any STI or MOV SS shadow it was
    /// in (that shadow covered this very instruction).
    fn step(&mut self) {
        let rip = vmcs::read(vmcs::GUEST_RIP).wrapping_add(vmcs::read(vmcs::EXIT_INSTRUCTION_LENGTH));
        let blocking = vmcs::read(vmcs::GUEST_INTERRUPTIBILITY);
        // SAFETY: the guest's own instruction pointer and interruptibility.
        unsafe {
            vmcs::write(vmcs::GUEST_RIP, rip);
            if blocking & vmcs::INTERRUPTIBILITY_STI_MOVSS != 0 {
                vmcs::write(vmcs::GUEST_INTERRUPTIBILITY, blocking & !vmcs::INTERRUPTIBILITY_STI_MOVSS);
            }
        }
    }

    /// Before every VM entry: deliver the virtual timer's interrupt if it is due, or a
    /// passthrough device's through the guest's 8259, if the guest can take it (else ask
    /// for an exit when it can), and arm the preemption timer for the next deadline. With
    /// no timer armed and nothing pending: both off, no TSC read.
    #[inline(always)]
    fn before_entry(&mut self) {
        let idle = self.lapic.deadline().is_none() && !self.lapic.waiting() && !self.pic.requested();
        if idle {
            self.set_controls(self.pin & !vmcs::pin::PREEMPTION_TIMER, self.proc & !proc::INTERRUPT_WINDOW_EXITING);
            self.injecting = false;
            return;
        }
        self.deliver();
    }

    #[inline(never)]
    fn deliver(&mut self) {
        let now = crate::cpu::rdtsc();
        let mut open = false;
        if !self.injecting {
            let rflags = vmcs::read(vmcs::GUEST_RFLAGS);
            open = rflags & RFLAGS_IF != 0 && vmcs::read(vmcs::GUEST_INTERRUPTIBILITY) & vmcs::INTERRUPTIBILITY_STI_MOVSS == 0;
            if let Some(vector) = self.lapic.poll(now, open) {
                self.inject_event(u32::from(vector) | event::TYPE_EXTERNAL, None);
                open = false; // one event per entry
            }
        }
        self.injecting = false;
        let mut waiting = self.lapic.waiting();
        if self.pic.requested() {
            waiting |= self.deliver_from_pic(open);
        }
        let window = if waiting { proc::INTERRUPT_WINDOW_EXITING } else { 0 };
        let (pin, ticks) = match self.lapic.deadline() {
            Some(d) => (self.pin | vmcs::pin::PREEMPTION_TIMER, (d.saturating_sub(now) >> self.timer_rate).saturating_add(1)),
            None => (self.pin & !vmcs::pin::PREEMPTION_TIMER, 0),
        };
        if ticks != 0 {
            // SAFETY: the hypervisor's own deadline for this vCPU.
            unsafe { vmcs::write(vmcs::PREEMPTION_TIMER_VALUE, ticks.min(u64::from(u32::MAX))) };
        }
        self.set_controls(pin, (self.proc & !proc::INTERRUPT_WINDOW_EXITING) | window);
    }

    /// A passthrough device's interrupt, through the guest's 8259 (an ExtINT: above any
    /// task priority), if the guest can take one now (`open`); whether one still waits.
    #[inline(never)]
    fn deliver_from_pic(&mut self, open: bool) -> bool {
        if open {
            if let Some(vector) = self.pic.acknowledge() {
                self.inject_event(u32::from(vector) | event::TYPE_EXTERNAL, None);
            }
        }
        self.pic.waiting()
    }

    fn set_controls(&mut self, pin: u32, proc: u32) {
        // SAFETY: only the preemption-timer and interrupt-window bits differ from what
        // `hw::configure` checked the CPU allows.
        unsafe {
            if pin != self.pin {
                vmcs::write(vmcs::PIN_CONTROLS, u64::from(pin));
                self.pin = pin;
            }
            if proc != self.proc {
                vmcs::write(vmcs::PROC_CONTROLS, u64::from(proc));
                self.proc = proc;
            }
        }
    }

    /// Injects an event at the next VM entry (which then finds the guest active).
    fn inject_event(&mut self, info: u32, error_code: Option<u32>) {
        let error = if error_code.is_some() { event::DELIVER_ERROR_CODE } else { 0 };
        // SAFETY: an event for the guest's own IDT.
        unsafe {
            vmcs::write(vmcs::ENTRY_INTERRUPTION_INFO, u64::from(info | error | event::VALID));
            vmcs::write(vmcs::ENTRY_EXCEPTION_ERROR_CODE, u64::from(error_code.unwrap_or(0)));
            vmcs::write(vmcs::GUEST_ACTIVITY_STATE, vmcs::ACTIVITY_ACTIVE);
        }
    }
}

/// Every VM exit, on the hypervisor's stack (from `vtx_vm_exit`, the guest's registers
/// saved in `vcpu`): the port decodes, the core decides, and the guest resumes from `vcpu`
/// when this returns.
#[cfg_attr(not(target_os = "none"), allow(dead_code))]
extern "C" fn vm_exit(vcpu: &mut Vcpu) {
    if let Some(exit) = vcpu.exit() {
        if let Some((p, platform)) = vcpu.core {
            hv::run::exit(vcpu, p, platform, exit);
        }
    }
    vcpu.before_entry();
}

impl hv::exit::Vcpu for Vcpu {
    fn index(&self) -> usize {
        self.index as usize
    }

    fn hypercall_args(&self) -> (u64, [u64; 4]) {
        let g = &self.ctx.gpr;
        (g[RAX], [g[RDI], g[RSI], g[RDX], g[RCX]])
    }

    fn hypercall_return(&mut self, ret: [u64; 4]) {
        let g = &mut self.ctx.gpr;
        (g[RAX], g[RDI], g[RSI], g[RDX]) = (ret[0], ret[1], ret[2], ret[3]);
        self.step();
    }

    fn mmio_complete(&mut self, access: &MmioAccess, value: u64) {
        if access.write.is_none() {
            let g = &mut self.ctx.gpr[RAX];
            *g = match access.width {
                Width::Byte => (*g & !0xff) | (value & 0xff),
                Width::Half => (*g & !0xffff) | (value & 0xffff),
                Width::Word => value & 0xffff_ffff, // IN EAX zero-extends
                Width::Double => value,
            };
        }
        self.step();
    }

    /// A fault under policy `inject`: the exception the CPU would raise without a
    /// hypervisor (`#UD` for VMX instructions and undefined hypercalls, `#GP(0)` for the
    /// rest), at the faulting instruction. A guest that cannot go on (triple fault) is put
    /// back in its boot state, halted with interrupts off: a PC without reset logic.
    fn inject(&mut self, fault: &Fault) {
        let vector = match fault {
            Fault::Hypercall { .. } => trap::UD,
            Fault::Forbidden { .. } => trap::exception_for(self.last_reason),
            Fault::Hardware { .. } => {
                hw::boot_state(vmcs::read(vmcs::GUEST_RIP), &self.controls);
                // SAFETY: a valid boot state, halted with interrupts off.
                unsafe { vmcs::write(vmcs::GUEST_ACTIVITY_STATE, vmcs::ACTIVITY_HLT) };
                self.lapic = VLapic::new(self.index);
                return;
            }
            _ => trap::GP,
        };
        // #GP pushes an error code in protected mode only: VM entry refuses one otherwise
        // (the guest may run in real mode: unrestricted guest).
        let protected = vmcs::read(vmcs::GUEST_CR0) & crate::cpu::CR0_PE != 0;
        let error = (vector == trap::GP && protected).then_some(0);
        self.inject_event(u32::from(vector) | event::TYPE_HARDWARE_EXCEPTION, error);
        self.injecting = true;
    }

    fn reset(&mut self, entry: u64, info: u64) {
        self.ctx = Context::default();
        self.ctx.gpr[RAX] = u64::from(crate::loader::MULTIBOOT_MAGIC);
        self.ctx.gpr[RBX] = info;
        self.lapic = VLapic::new(self.index);
        self.shutdown = ShutdownPort::default();
        self.pic.reset();
        self.injecting = false;
        hw::boot_state(entry, &self.controls);
    }

    fn idle(&mut self) {
        // SAFETY: the guest's own activity state: it halts, in the guest, at the next entry.
        unsafe { vmcs::write(vmcs::GUEST_ACTIVITY_STATE, vmcs::ACTIVITY_HLT) };
    }
}

/// The VMCS programming and the entry/exit assembly.
#[path = "vcpu/hw.rs"]
mod hw;

/// The exits the vCPU answers itself: ports, MSRs, control registers.
#[path = "vcpu/emulated.rs"]
mod emulated;

#[cfg(test)]
#[path = "vcpu/tests.rs"]
mod tests;
