//! The exit handlers: each exception a guest takes to EL2 lands in one of them, on the
//! hypervisor's stack, with the guest's registers saved in the vCPU (light path: x0..x18
//! and x30; full path: all; `hw.rs`). The port decodes, the core decides, and the guest
//! resumes from the vCPU when the handler returns (the light path loads every register
//! if [`Vcpu::replaced`] says the whole context was replaced, and clears it).
//!
//! The hot ones ([`guest_hvc`], [`guest_irq`]) first try their commonest case with nothing
//! built and nothing called (no stack frame: compiled for speed, `lib.rs`), and reach the
//! general handling by tail calls.

use hv::exit::{Exit, Fault};

use super::{hw, psci, Vcpu};
use crate::irq::Ack;
use crate::trap::{self, esr, Vector};
use crate::virq::Emulated;

impl Vcpu {
    /// Hands `exit` to the core, which decides (`hv::run::exit`).
    #[inline(always)] // every handler; the hypercall's exit stays a constant for the core
    fn decide(&mut self, exit: Exit) {
        if let Some((p, platform)) = self.core {
            hv::run::exit(self, p, platform, exit);
        }
    }

    /// [`Vcpu::decide`] out of line, for the rare exits of a hot handler.
    #[inline(never)]
    fn decide_elsewhere(&mut self, exit: Exit) {
        self.decide(exit);
    }

    /// Before going back in: refill the list registers if the model changed.
    #[inline(always)] // every handler
    fn resume(&mut self) {
        self.irqs.before_entry();
    }

    /// A synchronous exception other than an HVC.
    #[inline(never)] // keeps the hypercall path's frame small
    fn sync(&mut self, esr: u64) -> Option<Exit> {
        let (far, hpfar) = hw::fault_address();
        self.last.far = far;
        if esr::ec(esr) == esr::EC_SYSREG {
            if let Some(value) = trap::sgi_write(esr, &self.ctx.x) {
                let refusal = self.irqs.sgi(value);
                self.step();
                return Some(Exit::Emulated(refusal));
            }
            if crate::sysreg::emulate(esr, &mut self.ctx.x) {
                self.step(); // RAZ/WI debug and PMU registers (sysreg.rs)
                return None;
            }
        }
        match trap::decode_sync(esr, far, hpfar, &self.ctx.x) {
            Exit::Hypercall => self.hvc(esr),
            Exit::Mmio(a) => match self.irqs.mmio(&a) {
                None => Some(Exit::Mmio(a)),
                Some(Emulated::Done { value, refusal }) => {
                    hv::exit::Vcpu::mmio_complete(self, &a, value);
                    Some(Exit::Emulated(refusal))
                }
                Some(Emulated::Bad) => Some(Exit::Fault(Fault::Memory { addr: a.addr, write: a.write.is_some() })),
            },
            Exit::Idle => {
                self.step(); // the trapped WFI is done once the CPU wakes
                Some(Exit::Idle)
            }
            exit => Some(exit),
        }
    }

    /// An HVC: PSCI is answered here; bulkhead's ABI (and the rest of SMCCC) goes to the
    /// core. `hvc #0` is the only conduit: other immediates are undefined calls.
    #[inline(always)] // the hypercall path
    pub(super) fn hvc(&mut self, esr: u64) -> Option<Exit> {
        let f = self.ctx.x[0];
        if esr & esr::IMM16_MASK != 0 {
            return Some(Exit::Fault(Fault::Hypercall { number: f }));
        }
        if !psci::is_psci(f) {
            return Some(Exit::Hypercall);
        }
        match psci::handle(f, [self.ctx.x[1], self.ctx.x[2], self.ctx.x[3]], self.me) {
            psci::Answer::Return(v) => {
                self.ctx.x[0] = v;
                None
            }
            psci::Answer::Power(r) => Some(Exit::Power(r)),
        }
    }
}

/// An HVC (light path): PSCI is answered by the vCPU, the rest decided by the core.
///
/// First the commonest case, with nothing built and nothing called: `hvc #0` to the
/// hypervisor service (SMCCC owner 6, bulkhead's ABI, never PSCI), no interrupt in a list
/// register (so `after_exit` has nothing to fold and, since no exit starts with the model
/// changed, `before_entry` nothing to refill), a pure query the core answers with
/// [`hv::run::query_exit`] (which replaces nothing). PSCI goes to [`guest_psci`],
/// everything else, or a declined query, to [`guest_hvc_general`]: tail calls, so that
/// this path needs no stack frame.
#[cfg_attr(not(target_arch = "aarch64"), allow(dead_code))]
#[cfg_attr(target_arch = "aarch64", optimize(speed))] // see lib.rs
pub(super) extern "C" fn guest_hvc(vcpu: &mut Vcpu) {
    let esr = hw::esr();
    if !vcpu.irqs.in_flight() && esr & esr::IMM16_MASK == 0 {
        let f = vcpu.ctx.x[0];
        if hv::hypercall::is_hypervisor_service(f) {
            if let Some((p, _)) = vcpu.core {
                if hv::run::query_exit(vcpu, p) {
                    return;
                }
            }
        } else if psci::is_psci(f) {
            return guest_psci(vcpu, esr, f);
        }
    }
    guest_hvc_general(vcpu, esr)
}

/// [`guest_hvc`] for PSCI (with no interrupt in flight): answered here, or a power request
/// for the general path (which asks again: `psci::handle` only acts for CPU_ON, which
/// always answers).
#[inline(never)]
fn guest_psci(vcpu: &mut Vcpu, esr: u64, f: u64) {
    vcpu.last.esr = esr;
    match psci::handle(f, [vcpu.ctx.x[1], vcpu.ctx.x[2], vcpu.ctx.x[3]], vcpu.me) {
        psci::Answer::Return(v) => vcpu.ctx.x[0] = v,
        psci::Answer::Power(_) => guest_hvc_general(vcpu, esr),
    }
}

/// [`guest_hvc`] for everything but the pure queries.
#[inline(never)]
fn guest_hvc_general(vcpu: &mut Vcpu, esr: u64) {
    vcpu.last.esr = esr;
    vcpu.irqs.after_exit();
    if esr & esr::IMM16_MASK == 0 && !psci::is_psci(vcpu.ctx.x[0]) {
        vcpu.decide(Exit::Hypercall); // what Vcpu::hvc says, with the exit known here
    } else if let Some(exit) = vcpu.hvc(esr) {
        vcpu.decide_elsewhere(exit);
    }
    vcpu.resume()
}

/// A physical IRQ or FIQ (light path): acknowledged and routed to the vGIC; the core
/// then sees `Exit::Interrupt`. First the commonest case: the virtual timer's next shot
/// alone, put straight back into its list register ([`crate::virq::VcpuIrqs::timer_again`], which
/// leaves nothing for `before_entry`), and the core's count of it
/// ([`hv::run::interrupt_exit`]), with no stack frame; everything else by tail calls.
#[cfg_attr(not(target_arch = "aarch64"), allow(dead_code))]
#[cfg_attr(target_arch = "aarch64", optimize(speed))] // see lib.rs
pub(super) extern "C" fn guest_irq(vcpu: &mut Vcpu) {
    match vcpu.irqs.timer_again() {
        Ok(()) => {
            if let Some((p, _)) = vcpu.core {
                if hv::run::interrupt_exit(vcpu, p) {
                    return;
                }
            }
            guest_irq_decide(vcpu) // the partition was stopped: the core parks
        }
        Err(first) => guest_irq_general(vcpu, first),
    }
}

/// [`guest_irq`] for everything but the timer alone, `first` acknowledged already.
#[inline(never)]
fn guest_irq_general(vcpu: &mut Vcpu, first: Option<Ack>) {
    vcpu.irqs.interrupt_exit(first);
    guest_irq_decide(vcpu)
}

/// The core's decision for an interrupt the vCPU has routed.
#[inline(never)]
fn guest_irq_decide(vcpu: &mut Vcpu) {
    vcpu.decide(Exit::Interrupt);
    vcpu.resume();
}

/// A trapped WFI or WFE (light path; only WFI is trapped, and only on GICv2): the core
/// idles the vCPU until the vGIC has an interrupt for it.
#[cfg_attr(not(target_arch = "aarch64"), allow(dead_code))]
pub(super) extern "C" fn guest_wfx(vcpu: &mut Vcpu) {
    vcpu.irqs.after_wfi_exit(); // keeps a spent timer shot for the wait
    vcpu.last.esr = hw::esr();
    vcpu.step(); // the trapped WFI is done once the CPU wakes
    vcpu.decide_elsewhere(Exit::Idle); // (the latency is in the idle loop's wake)
    vcpu.resume()
}

/// Every other exception (full path, from vector-table slot `vector`): data and
/// instruction aborts, trapped system registers, SMC, SError.
#[cfg_attr(not(target_arch = "aarch64"), allow(dead_code))]
pub(super) extern "C" fn guest_trap(vcpu: &mut Vcpu, vector: u64) {
    vcpu.irqs.after_exit();
    let exit = match Vector::from_index(vector) {
        Some(Vector::Lower64Sync | Vector::Lower32Sync) => {
            let esr = hw::esr();
            vcpu.last.esr = esr;
            vcpu.sync(esr)
        }
        _ => Some(Exit::Fault(Fault::Hardware { syndrome: hw::esr() })),
    };
    if let Some(exit) = exit {
        vcpu.decide(exit);
    }
    vcpu.resume();
    vcpu.replaced = false; // the full path loads every register anyway
}
