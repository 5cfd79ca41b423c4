//! The port contract: what every port (armv8, ppc-booke, vtx) implements, and the
//! arch-neutral [`Exit`] each port's trap decoding produces.
//!
//! A port runs guest code until something needs the hypervisor and decodes the cause into
//! an [`Exit`]. The port decodes; the core decides what the exit means for the partition:
//! [`crate::run::exit`] is that decision, for one exit. Nothing in a port should make
//! policy decisions (stop, restart, inject) on its own.
//!
//! Two ways to hand exits to the core, same decision either way:
//! - the port returns each exit from [`Run::run`] and the core's loop
//!   ([`crate::run::run_vcpu`]) decides, then calls `run` again (Book E);
//! - the port handles the exception on its trap stack: it decodes, calls
//!   [`crate::run::exit`] right there, and resumes the guest from the trap without
//!   switching back to a host context (ARMv8: a null hypercall never leaves the trap
//!   path). Such a port implements [`Vcpu`] only and has its own `run(p, platform) -> !`.
//!
//! Either way [`crate::run::exit`] is the only place a fault policy is applied, and the
//! port re-enters the guest only after it returned. For the hottest exits a port may ask
//! [`crate::run::query_exit`] or [`crate::run::interrupt_exit`] first: they do what
//! `exit` would for that exit (never a policy) or decline with nothing done.

/// Width of a decoded guest memory access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Width {
    Byte = 1,
    Half = 2,
    Word = 4,
    Double = 8,
}

impl Width {
    pub fn bytes(self) -> u64 {
        self as u64
    }
    pub fn from_bytes(n: u64) -> Option<Width> {
        match n {
            1 => Some(Width::Byte),
            2 => Some(Width::Half),
            4 => Some(Width::Word),
            8 => Some(Width::Double),
            _ => None,
        }
    }
}

/// A decoded guest load or store that hit no mapping (an emulated device, or nothing).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MmioAccess {
    /// Guest-physical address.
    pub addr: u64,
    pub width: Width,
    /// `Some(value)` for a store, `None` for a load.
    pub write: Option<u64>,
    /// Guest register receiving a load (port numbering; the port writes it back).
    pub reg: u8,
    /// Sign-extend a load into the register.
    pub sign_extend: bool,
}

/// Part of an access the port emulated was ignored: it reached beyond what the partition
/// owns. Not a fault (a real interrupt controller ignores such writes too), but worth a line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Interrupt-controller state of an interrupt the partition does not own (the first
    /// interrupt number the write touched).
    IrqState { intid: u32 },
    /// An inter-processor interrupt aimed at a CPU the partition does not have (affinity,
    /// CPU interface number or x2APIC id, as the guest wrote it).
    IpiTarget { target: u64 },
    /// MPIC (OpenPIC) registers of an interrupt source the partition does not own.
    MpicSource { source: u32 },
    /// An 8259 (legacy PC interrupt controller) line the partition does not own: its ISA
    /// IRQ number.
    PicLine { irq: u32 },
}

/// A guest fault the core turns into the partition's fault policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// A data access outside the partition's memory and devices that could not be
    /// decoded or emulated.
    Memory { addr: u64, write: bool },
    /// An instruction fetch outside the partition's memory.
    Fetch { addr: u64 },
    /// A privileged register or instruction the partition may not use.
    Forbidden { syndrome: u64 },
    /// A call to firmware the partition has no right to (e.g. SMC other than PSCI).
    Firmware { function: u64 },
    /// A hypercall number the ABI does not define.
    Hypercall { number: u64 },
    /// A machine check or other hardware error attributed to the partition.
    Hardware { syndrome: u64 },
}

/// Why a vCPU stopped running guest code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Exit {
    /// A hypercall: the arguments are in [`Vcpu::hypercall_args`].
    Hypercall,
    /// A decoded access to an unmapped guest-physical address.
    Mmio(MmioAccess),
    /// The port emulated an access itself and completed it: a device whose model is
    /// arch-specific (the ARM port's interrupt controller: its distributor windows and
    /// trapped SGI registers). Counted as MMIO; a [`Refusal`] is reported once per
    /// partition, the guest sees nothing.
    Emulated(Option<Refusal>),
    /// The guest has nothing to do until its next interrupt (WFI, wait, HLT).
    Idle,
    /// A physical interrupt was taken; the port has already routed it.
    Interrupt,
    /// Power management requested by the guest (PSCI and equivalents).
    Power(PowerRequest),
    /// The guest did something its partition's fault policy must decide about.
    Fault(Fault),
}

/// Guest requests to firmware-like power management.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PowerRequest {
    /// Stop this partition (PSCI SYSTEM_OFF).
    SystemOff,
    /// Restart this partition from its image (PSCI SYSTEM_RESET).
    SystemReset,
    /// Stop this vCPU (PSCI CPU_OFF).
    CpuOff,
}

/// An emulated device of a partition whose interrupt line the core reports to the port
/// ([`Vcpu::device_irq`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EmulatedDevice {
    /// The emulated console UART ([`crate::partition::VirtualUart`]).
    Console,
}

/// The per-vCPU half of the port contract: what the core's decision does to the vCPU.
pub trait Vcpu {
    /// This vCPU's index in its partition: whose counters ([`crate::partition::Stats`])
    /// its exits bump. A port that runs one vCPU per partition may keep the default.
    fn index(&self) -> usize {
        0
    }
    /// The hypercall number and up to four arguments, from the ABI registers.
    fn hypercall_args(&self) -> (u64, [u64; 4]);
    /// Completes a hypercall: result registers, and step over the calling instruction
    /// if the port did not already.
    fn hypercall_return(&mut self, ret: [u64; 4]);
    /// Completes an emulated load with `value` (the port sign-extends as decoded) or a
    /// store, and steps over the instruction.
    fn mmio_complete(&mut self, access: &MmioAccess, value: u64);
    /// Delivers the fault to the guest as the hardware would have (policy `inject`).
    fn inject(&mut self, fault: &Fault);
    /// Puts the vCPU back to its boot state with `entry` and `arg` (policy `restart`).
    fn reset(&mut self, entry: u64, arg: u64);
    /// Waits for an interrupt (the physical CPU sleeps; never a busy loop).
    fn idle(&mut self);
    /// The interrupt line of the partition's emulated `device` is now `high` (or low): the
    /// port makes the partition's interrupt controller follow it (a level-sensitive
    /// interrupt). Ports whose guests poll their emulated devices keep the default.
    fn device_irq(&mut self, _device: EmulatedDevice, _high: bool) {}
}

/// A vCPU whose port returns every exit to the core's loop ([`crate::run::run_vcpu`]).
pub trait Run: Vcpu {
    /// Runs guest code until the next exit.
    fn run(&mut self) -> Exit;
}

impl core::fmt::Display for Refusal {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Refusal::IrqState { intid } => {
                write!(f, "wrote distributor state of INTID {intid} it does not own; ignored")
            }
            Refusal::IpiTarget { target } => write!(f, "sent an IPI to CPU {target:#x} it does not have; ignored"),
            Refusal::MpicSource { source } => write!(f, "wrote MPIC state of source {source} it does not own; ignored"),
            Refusal::PicLine { irq } => write!(f, "unmasked 8259 line IRQ {irq} it does not own; ignored"),
        }
    }
}

impl core::fmt::Display for Fault {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Fault::Memory { addr, write } => {
                write!(f, "{} outside its memory at {addr:#x}", if write { "write" } else { "read" })
            }
            Fault::Fetch { addr } => write!(f, "instruction fetch outside its memory at {addr:#x}"),
            Fault::Forbidden { syndrome } => write!(f, "forbidden privileged operation (syndrome {syndrome:#x})"),
            Fault::Firmware { function } => write!(f, "firmware call {function:#x} not allowed"),
            Fault::Hypercall { number } => write!(f, "undefined hypercall {number:#x}"),
            Fault::Hardware { syndrome } => write!(f, "hardware error (syndrome {syndrome:#x})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_read_as_one_line() {
        assert_eq!(
            Refusal::IrqState { intid: 39 }.to_string(),
            "wrote distributor state of INTID 39 it does not own; ignored"
        );
        assert_eq!(Refusal::IpiTarget { target: 0x100 }.to_string(), "sent an IPI to CPU 0x100 it does not have; ignored");
        assert_eq!(Refusal::MpicSource { source: 42 }.to_string(), "wrote MPIC state of source 42 it does not own; ignored");
        assert_eq!(Refusal::PicLine { irq: 3 }.to_string(), "unmasked 8259 line IRQ 3 it does not own; ignored");
    }
}
