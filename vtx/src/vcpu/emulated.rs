//! The exits a vCPU answers itself, or hands to the core as an emulated access: I/O ports
//! ([`crate::ioports`]: the console to the core, the shutdown port and the guest's 8259s
//! ([`crate::vpic`]) here), the virtual local APIC's MSRs ([`crate::vlapic`]) and MOV to/from CR3 and CR8.
//! Each returns `None` (or false) for what the partition may not do: the caller makes that
//! a `Fault::Forbidden`.

use hv::exit::{Exit, MmioAccess, PowerRequest, Refusal, Width};

use super::{Vcpu, RAX, RDX, RSP};
use crate::ioports::{self, Port};
use crate::smp::Delivery;
use crate::trap::CrAccess;
use crate::vlapic::VLapic;
use crate::vmcs;

impl Vcpu {
    /// An IN or OUT that exited; `None` if the partition may not use the port.
    pub(super) fn port(&mut self, port: u16, width: u8, input: bool) -> Option<Exit> {
        match ioports::classify(port, width, self.console) {
            Port::Console => Some(Exit::Mmio(MmioAccess {
                addr: ioports::io_address(port),
                width: Width::Byte,
                write: (!input).then_some(self.ctx.gpr[RAX] & 0xff),
                reg: RAX as u8,
                sign_extend: false,
            })),
            Port::Shutdown => {
                let off = !input && self.shutdown.write(self.ctx.gpr[RAX] as u8);
                if input {
                    self.ctx.gpr[RAX] |= 0xff; // nothing to read: all ones, as an empty port
                }
                self.step();
                Some(if off { Exit::Power(PowerRequest::SystemOff) } else { Exit::Emulated(None) })
            }
            Port::Pic { pic, offset } => {
                let al = self.ctx.gpr[RAX] as u8;
                let mut refusal = None;
                if input {
                    self.ctx.gpr[RAX] = (self.ctx.gpr[RAX] & !0xff) | u64::from(self.pic.read(pic, offset));
                } else if let Err(irq) = self.pic.write(pic, offset, al) {
                    refusal = Some(Refusal::PicLine { irq });
                }
                self.step();
                Some(Exit::Emulated(refusal))
            }
            Port::Refused => None,
        }
    }

    /// An RDMSR or WRMSR that exited; `None` if refused.
    pub(super) fn msr(&mut self, msr: u32, write: bool) -> Option<Exit> {
        if !VLapic::owns(msr) {
            return None;
        }
        let g = &mut self.ctx.gpr;
        if write && msr == crate::vlapic::ICR {
            let ipi = self.lapic.icr((g[RDX] << 32) | (g[RAX] & 0xffff_ffff)).ok()?;
            self.step();
            return Some(Exit::Emulated(ipi.and_then(|ipi| self.send_ipi(ipi))));
        }
        if write {
            let value = (g[RDX] << 32) | (g[RAX] & 0xffff_ffff);
            self.lapic.write(msr, value).ok()?;
        } else {
            let value = self.lapic.read(msr).ok()?;
            g[RAX] = value & 0xffff_ffff;
            g[RDX] = value >> 32;
        }
        self.step();
        Some(Exit::Emulated(None))
    }

    /// Carries out an interrupt command ([`crate::smp::Group::send`]); the refusal of a
    /// destination that is not the partition's.
    fn send_ipi(&mut self, ipi: crate::vlapic::Ipi) -> Option<Refusal> {
        match self.group.send(self.index as usize, ipi) {
            Delivery::Local(vector) => self.lapic.raise(vector),
            Delivery::Kick(cpu) => crate::irq::kick(cpu),
            Delivery::Nothing => {}
            Delivery::Refused(target) => return Some(Refusal::IpiTarget { target }),
        }
        None
    }

    /// A MOV to or from CR3 (if the CPU forces CR3 exits) or CR8 (the virtual APIC's task
    /// priority); false for anything else (changing CR0 or CR4 bits the guest does not
    /// own: NE, VMXE, bits this CPU lacks).
    pub(super) fn control_register(&mut self, access: CrAccess) -> bool {
        match access {
            CrAccess::Read { cr: 3, gpr } => self.set_gpr(gpr, vmcs::read(vmcs::GUEST_CR3)),
            CrAccess::Read { cr: 8, gpr } => self.set_gpr(gpr, self.lapic.cr8()),
            CrAccess::Write { cr: 3, gpr } => {
                // SAFETY: the guest's own CR3: it translates guest-virtual to guest-physical
                // addresses, all of them through the EPT.
                unsafe { vmcs::write(vmcs::GUEST_CR3, self.gpr(gpr)) };
            }
            CrAccess::Write { cr: 8, gpr } => self.lapic.set_cr8(self.gpr(gpr)),
            _ => return false,
        }
        true
    }

    fn gpr(&self, n: u8) -> u64 {
        match usize::from(n) {
            RSP => vmcs::read(vmcs::GUEST_RSP),
            i => self.ctx.gpr[i & 15],
        }
    }

    fn set_gpr(&mut self, n: u8, v: u64) {
        match usize::from(n) {
            // SAFETY: the guest's own stack pointer.
            RSP => unsafe { vmcs::write(vmcs::GUEST_RSP, v) },
            i => self.ctx.gpr[i & 15] = v,
        }
    }

}
