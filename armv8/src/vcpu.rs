//! A virtual CPU: the port side of `hv::exit::Vcpu`.
//!
//! One vCPU per physical CPU, pinned for good: the guest owns its CPU's EL1 and EL0
//! system registers (MMU, vectors, timer, ...), so none are saved or restored; only what
//! the hypervisor itself uses while handling an exit is saved: the general registers and
//! ELR/SPSR_EL2 (the hypervisor is soft-float: the guest's FP/SIMD registers stay live).
//!
//! Exits are handled on the trap path, with no host context to switch back to:
//! - [`Vcpu::run`] points TPIDR_EL2 at the vCPU and enters the guest (`__guest_enter`);
//!   it never returns, and the stack below its frame is the trap stack from then on;
//! - a lower-EL exception reaches a guest slot of the vector table ([`crate::trap`]),
//!   which saves the guest's registers into the vCPU found in TPIDR_EL2 and calls the
//!   handler for that kind of exit on the same stack (`vcpu/exits.rs`: `guest_hvc`,
//!   `guest_irq`, `guest_wfx` or, for everything else, `guest_trap`). The handler decodes
//!   the exit ([`crate::trap::decode_sync`]), lets the core decide (`hv::run::exit`) and
//!   returns; the assembly then loads the guest's registers back from the vCPU and
//!   `eret`s.
//!
//! A null hypercall is thus: vector, save, the core's hypercall, restore, `eret`.
//! HVCs, WFIs and interrupts take a light path that saves only the registers a Rust call
//! may clobber (x0..x18, x30): their handling names no other register. Data aborts and
//! system-register traps, which name any Xt, save all of them ([`crate::trap`] picks).
//! The guest's PC and PSTATE are never copied: they stay in ELR_EL2 and SPSR_EL2 from the
//! exit to the next entry, and the vCPU reads and writes them there (`hw::elr` ...). Only
//! an exception taken at EL2 would change them: the hypervisor runs with interrupts
//! masked, and its semihosting calls keep both (`crate::semihosting`).
//!
//! Per-CPU EL2 configuration, set once by [`Vcpu::new`] on the CPU that runs it:
//! - HCR_EL2: stage-2 on (VM), EL1 is AArch64 (RW), physical IRQ/FIQ/SError to EL2
//!   (IMO/FMO/AMO), trap SMC (TSC), ACTLR (TACR), implementation-defined registers
//!   (TIDCP) and set/way cache maintenance (TSW: it would reach other partitions' lines);
//!   TLB and I-cache maintenance broadcast in the inner shareable domain (FB, BSU). The
//!   guest owns its MMU, so TVM is clear. WFE runs natively, and so does WFI on GICv3
//!   (TWI clear): the vCPU owns its CPU, so the guest's WFI sleeps the CPU itself until
//!   an interrupt for it (virtual, in the list registers) or for the hypervisor (physical:
//!   an IRQ exit) is pending. GICv2 traps WFI (TWI) for QEMU 7.2's missing re-signalling
//!   ([`crate::virq::VcpuIrqs::idle`], `docs/linux-guest.md`).
//! - CNTHCTL_EL2: the physical counter readable (EL1PCTEN), the physical timer trapped
//!   (EL1PCEN clear: it belongs to the hypervisor). CNTVOFF_EL2 = the counter at the
//!   partition's start, so its virtual counter starts at its boot.
//! - MDCR_EL2: debug and performance-monitor registers trapped (TDA, TDOSA, TDRA, TPM,
//!   TPMCR).
//! - VMPIDR_EL2 = the vCPU index (Aff0), VPIDR_EL2 = MIDR_EL1.
//!
//! Interrupts ([`crate::virq`]): list registers refilled before an entry and folded back
//! after an exit when needed; IRQ exits acknowledged and routed to the vGIC before the
//! core sees `Exit::Interrupt` (the virtual timer alone straight into a list register);
//! accesses to the virtual distributor and trapped ICC_SGI1R_EL1 writes emulated here and
//! reported as `Exit::Emulated`; a trapped WFI sleeps until the vGIC has an interrupt for
//! the guest.

use hv::exit::{EmulatedDevice, Fault, MmioAccess};
use hv::partition::PartitionRt;
use hv::run::Platform;

use crate::gic::Version;
use crate::psci::guest as psci;
use crate::stage2::Stage2;
use crate::trap::{self, esr};
use crate::virq::{PartitionGic, VcpuIrqs};

/// The guest registers saved on an exit and loaded on the next entry (the light path:
/// only x0..x18 and x30; the others stay in the registers). The PC and PSTATE stay in
/// ELR_EL2 and SPSR_EL2.
#[repr(C, align(16))]
#[derive(Debug)]
pub struct Context {
    /// Guest x0..x30.
    pub x: [u64; 31],
}
// No FP/SIMD state here: the hypervisor is built for aarch64-unknown-none-softfloat and
// never touches FP/SIMD registers, and each vCPU owns its physical CPU, so the guest's
// q0..q31, FPSR and FPCR simply stay in the registers across exits.

impl Context {
    const fn new() -> Self {
        Context { x: [0; 31] }
    }
}

// The assembly finds the context at the vCPU's address (TPIDR_EL2), x0 first, and
// `replaced` within reach of an `ldrb` offset.
const _: () = assert!(core::mem::offset_of!(Context, x) == 0 && core::mem::offset_of!(Vcpu, ctx) == 0);
const REPLACED: usize = core::mem::offset_of!(Vcpu, replaced);
const _: () = assert!(REPLACED < 4096);

/// SPSR/PSTATE: EL1 using SP_EL1 (M[3:0] = 0b0101), and the DAIF mask bits.
const PSTATE_EL1H: u64 = 0b0101;
const PSTATE_DAIF: u64 = 0b1111 << 6;
/// PSTATE.M: AArch32 (bit 4), and the exception level (bits 3:2).
const PSTATE_M_AARCH32: u64 = 1 << 4;
const PSTATE_EL_SHIFT: u64 = 2;
const PSTATE_EL_MASK: u64 = 0b11;
/// PSTATE.M[0]: SP_ELx selected (not SP_EL0).
const PSTATE_SP_ELX: u64 = 1;

/// SCTLR_EL1 at reset, MMU and caches off: only the RES1 bits of Armv8.0 (29, 28, 23,
/// 22, 20, 11).
pub const SCTLR_EL1_RESET: u64 = 0x30d0_0800;

/// VBAR_EL1 offsets of the synchronous exception vectors, by where the exception comes
/// from.
const VECTOR_CURRENT_SP0: u64 = 0x000;
const VECTOR_CURRENT_SPX: u64 = 0x200;
const VECTOR_LOWER_A64: u64 = 0x400;
const VECTOR_LOWER_A32: u64 = 0x600;

/// ESR classes of the exceptions [`Vcpu::inject`] synthesises.
const EC_UNKNOWN: u64 = 0x00;

/// VMPIDR_EL2 bit 31 is RES1 (the multiprocessor-extensions format).
const MPIDR_RES1: u64 = 1 << 31;

/// What the exit being handled said, for completing or reflecting it (set by the paths
/// that need it; the pure-query hypercall path reads neither).
#[derive(Clone, Copy, Debug, Default)]
struct LastTrap {
    esr: u64,
    far: u64,
}

/// The core's side, for the trap path: the partition and the board.
type Core = (&'static PartitionRt, &'static dyn Platform);

#[repr(C)] // the context first: the assembly finds it at the vCPU's address
pub struct Vcpu {
    ctx: Context,
    stage2: Stage2,
    me: psci::Caller,
    last: LastTrap,
    irqs: VcpuIrqs,
    /// Set by [`Vcpu::run`].
    core: Option<Core>,
    /// [`hv::exit::Vcpu::reset`] replaced the whole context during this exit: the light
    /// trap paths (`vcpu/hw.rs`, which keep x19..x29 in the registers) must load every
    /// register from it (and clear this).
    replaced: bool,
}

impl Vcpu {
    /// vCPU `index` of `count` of the partition translated by `stage2`, starting at
    /// `entry` with x0 = `arg`, its interrupts from the partition's `gic`. Must be called
    /// on the physical CPU that will run it: it programs this CPU's EL2 virtualization
    /// registers, its GIC and the guest's EL1 reset state.
    pub fn new(stage2: Stage2, index: u32, count: u32, entry: u64, arg: u64, gic: &'static PartitionGic) -> Vcpu {
        let mut v = Vcpu {
            ctx: Context::new(),
            stage2,
            me: psci::Caller { index: u64::from(index), count: u64::from(count) },
            last: LastTrap::default(),
            irqs: VcpuIrqs::new(gic, index as usize),
            core: None,
            replaced: false,
        };
        // GICv2 keeps WFI trapped: QEMU 7.2 needs Local::resignal before each idle WFI.
        hw::configure_el2(&v.stage2, MPIDR_RES1 | u64::from(index), gic.version() == Version::V2);
        hv::exit::Vcpu::reset(&mut v, entry, arg);
        v
    }

    /// Runs the guest of partition `p` for good: each exit is decoded and decided on the
    /// trap path (`guest_trap`), which resumes the guest. Parks when `p` is stopped.
    pub fn run(&mut self, p: &'static PartitionRt, platform: &'static dyn Platform) -> ! {
        self.core = Some((p, platform));
        self.replaced = false; // __guest_enter loads every register anyway
        if p.is_stopped() {
            platform.park();
        }
        self.irqs.before_entry();
        hw::enter(self)
    }

    /// Steps over the instruction that trapped (2 bytes for a 16-bit T32 one).
    fn step(&mut self) {
        hw::set_elr(hw::elr().wrapping_add(if self.last.esr & esr::IL != 0 { 4 } else { 2 }));
    }
}

/// The exit handlers the trap paths call (`vcpu/hw.rs`), one per kind of exit.
#[path = "vcpu/exits.rs"]
mod exits;

impl hv::exit::Vcpu for Vcpu {
    fn index(&self) -> usize {
        self.me.index as usize
    }

    fn hypercall_args(&self) -> (u64, [u64; 4]) {
        let x = &self.ctx.x;
        (x[0], [x[1], x[2], x[3], x[4]])
    }

    fn hypercall_return(&mut self, ret: [u64; 4]) {
        // ELR_EL2 already points past the HVC.
        self.ctx.x[..4].copy_from_slice(&ret);
    }

    fn mmio_complete(&mut self, access: &MmioAccess, value: u64) {
        if access.write.is_none() {
            let value = extend(value, access, self.last.esr & esr::SF != 0);
            if let Some(r) = self.ctx.x.get_mut(access.reg as usize) {
                *r = value; // register 31 is XZR: the value is discarded
            }
        }
        self.step();
    }

    fn inject(&mut self, fault: &Fault) {
        let (from, pc) = (hw::spsr(), hw::elr());
        let lower = (from >> PSTATE_EL_SHIFT) & PSTATE_EL_MASK == 0;
        let il = esr::IL;
        let (ec, iss, far, pc) = match *fault {
            Fault::Memory { write, .. } => {
                let ec = if lower { esr::EC_DABT_LOWER } else { esr::EC_DABT_CURRENT };
                (ec, esr::FSC_EXTERNAL | if write { esr::WNR } else { 0 }, Some(self.last.far), pc)
            }
            Fault::Fetch { .. } => {
                let ec = if lower { esr::EC_IABT_LOWER } else { esr::EC_IABT_CURRENT };
                (ec, esr::FSC_EXTERNAL, Some(self.last.far), pc)
            }
            // An undefined HVC: the exception points at the HVC, not past it.
            Fault::Hypercall { .. } => (EC_UNKNOWN, 0, None, pc.wrapping_sub(4)),
            Fault::Forbidden { .. } | Fault::Firmware { .. } | Fault::Hardware { .. } => (EC_UNKNOWN, 0, None, pc),
        };
        let offset = if from & PSTATE_M_AARCH32 != 0 {
            VECTOR_LOWER_A32
        } else if lower {
            VECTOR_LOWER_A64
        } else if from & PSTATE_SP_ELX != 0 {
            VECTOR_CURRENT_SPX
        } else {
            VECTOR_CURRENT_SP0
        };
        let vbar = hw::deliver_el1(ec << esr::EC_SHIFT | il | iss, far, pc, from);
        hw::set_elr(vbar.wrapping_add(offset));
        hw::set_spsr(PSTATE_EL1H | PSTATE_DAIF);
    }

    fn reset(&mut self, entry: u64, arg: u64) {
        self.ctx = Context::new();
        self.ctx.x[0] = arg;
        hw::set_elr(entry);
        hw::set_spsr(PSTATE_EL1H | PSTATE_DAIF);
        self.last = LastTrap::default();
        self.replaced = true;
        hw::reset_el1();
        self.irqs.reset();
    }

    fn idle(&mut self) {
        self.irqs.idle();
    }

    /// The emulated PL011's line drives its virtual-only SPI (`guest_dt::UART_INTID`).
    fn device_irq(&mut self, device: EmulatedDevice, high: bool) {
        match device {
            EmulatedDevice::Console => self.irqs.set_line(crate::guest_dt::UART_INTID, high),
        }
    }
}

/// The loaded value as the register receives it: sign-extended from the access width if
/// the load was a signed one, then cut to 32 bits for a W register.
fn extend(value: u64, a: &MmioAccess, sixty_four: bool) -> u64 {
    let bits = 8 * a.width.bytes() as u32;
    let v = value & trap::width_mask(a.width);
    let v = if a.sign_extend && bits < 64 { (((v << (64 - bits)) as i64) >> (64 - bits)) as u64 } else { v };
    if sixty_four { v } else { v & u64::from(u32::MAX) }
}

/// The hardware side: system registers and the context-switch assembly.
#[cfg(target_arch = "aarch64")]
#[path = "vcpu/hw.rs"]
mod hw;

/// Host builds (unit tests): no hardware.
#[cfg(not(target_arch = "aarch64"))]
mod hw {
    use super::Vcpu;
    use crate::stage2::Stage2;

    pub fn enter(_vcpu: &mut Vcpu) -> ! {
        unreachable!("host builds only unit-test the pure parts; guests run only on AArch64")
    }
    pub fn esr() -> u64 {
        0
    }
    // ELR_EL2 and SPSR_EL2 of the test's "CPU", one per thread (tests run side by side);
    // host builds outside tests run no guest.
    #[cfg(test)]
    std::thread_local!(static EL2: core::cell::Cell<(u64, u64)> = const { core::cell::Cell::new((0, 0)) });
    fn el2<R>(f: impl FnOnce(&core::cell::Cell<(u64, u64)>) -> R) -> R {
        #[cfg(test)]
        return EL2.with(f);
        #[cfg(not(test))]
        {
            let _ = f;
            unreachable!("host builds only unit-test the pure parts")
        }
    }
    pub fn elr() -> u64 {
        el2(|r| r.get().0)
    }
    pub fn set_elr(pc: u64) {
        el2(|r| r.set((pc, r.get().1)));
    }
    pub fn spsr() -> u64 {
        el2(|r| r.get().1)
    }
    pub fn set_spsr(pstate: u64) {
        el2(|r| r.set((r.get().0, pstate)));
    }
    pub fn fault_address() -> (u64, u64) {
        (0, 0)
    }
    pub fn configure_el2(_stage2: &Stage2, _vmpidr: u64, _trap_wfi: bool) {}
    pub fn reset_el1() {}
    pub fn deliver_el1(_esr: u64, _far: Option<u64>, _elr: u64, _spsr: u64) -> u64 {
        0x4008_0800
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hv::exit::{Exit, PowerRequest, Vcpu as _, Width};

    fn vcpu() -> Vcpu {
        let gic = Box::leak(Box::new(PartitionGic::new(crate::gic::Version::V3, &[1], &[]).unwrap()));
        Vcpu::new(Stage2 { vttbr: 0, vtcr: 0 }, 0, 1, 0x4008_0000, 0x4000_0000, gic)
    }

    #[test]
    fn boot_state() {
        let v = vcpu();
        assert_eq!((hw::elr(), v.ctx.x[0]), (0x4008_0000, 0x4000_0000));
        assert_eq!(hw::spsr(), 0x3c5, "EL1h, DAIF masked");
    }

    #[test]
    fn loads_are_extended_as_the_instruction_says() {
        let a = |width, sign_extend| MmioAccess { addr: 0, width, write: None, reg: 1, sign_extend };
        assert_eq!(extend(0x80, &a(Width::Byte, true), true), 0xffff_ffff_ffff_ff80);
        assert_eq!(extend(0x80, &a(Width::Byte, true), false), 0xffff_ff80, "ldrsb w1");
        assert_eq!(extend(0x1_ff80, &a(Width::Half, false), true), 0xff80);
        assert_eq!(extend(u64::MAX, &a(Width::Double, true), true), u64::MAX);
        let mut v = vcpu();
        v.last.esr = esr::IL | esr::SF;
        v.mmio_complete(&a(Width::Word, false), 0x1_2345_6789);
        assert_eq!((v.ctx.x[1], hw::elr()), (0x2345_6789, 0x4008_0004));
        v.mmio_complete(&MmioAccess { addr: 0, width: Width::Word, write: None, reg: 31, sign_extend: false }, 7);
        assert_eq!(hw::elr(), 0x4008_0008, "XZR: value dropped, instruction stepped over");
    }

    #[test]
    fn injected_aborts_go_to_the_guest_vectors() {
        let mut v = vcpu();
        hw::set_spsr(0x3c5); // EL1h
        v.inject(&Fault::Memory { addr: 0x4900_0000, write: false });
        assert_eq!(hw::elr(), 0x4008_0800 + VECTOR_CURRENT_SPX);
        hw::set_spsr(0); // EL0t
        v.inject(&Fault::Memory { addr: 0x4900_0000, write: false });
        assert_eq!(hw::elr(), 0x4008_0800 + VECTOR_LOWER_A64);
        assert_eq!(hw::spsr(), 0x3c5);
    }

    #[test]
    fn a_reset_makes_the_light_trap_path_load_every_register() {
        let mut v = vcpu();
        v.replaced = false;
        v.reset(0x4008_0000, 0);
        assert!(v.replaced, "the light paths must then load x19..x29 from the context too");
    }

    #[test]
    fn psci_queries_stay_in_the_vcpu() {
        let mut v = vcpu();
        v.ctx.x[0] = psci::VERSION;
        assert_eq!(v.hvc(esr::EC_HVC64 << esr::EC_SHIFT), None);
        assert_eq!(v.ctx.x[0], psci::PSCI_1_1);
        v.ctx.x[0] = psci::SYSTEM_OFF;
        assert_eq!(v.hvc(0), Some(Exit::Power(PowerRequest::SystemOff)));
        v.ctx.x[0] = hv::hypercall::VERSION;
        assert_eq!(v.hvc(0), Some(Exit::Hypercall));
        assert_eq!(v.hvc(1), Some(Exit::Fault(Fault::Hypercall { number: hv::hypercall::VERSION })));
    }
}
