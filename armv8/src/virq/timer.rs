//! The virtual timer's fast path: its interrupt (PPI 27) goes straight into list register
//! 0 with no sync, no fill and no scan of the model (`docs/vgic.md`, "Virtual timer fast
//! path"), and a spent shot stays there across a trapped WFI.
//!
//! - A first shot, with the list registers empty and the model as the last fill left it:
//!   `Vgic::inject_alone` ([`VcpuIrqs::timer_alone`], from the general routing).
//! - Every next shot, once the guest has EOIed the last one and nothing changed since: the
//!   same list-register value again, the model untouched (`Vgic::timer_again`;
//!   [`VcpuIrqs::timer_again`], the IRQ exit's and the idle wake's fast path). The GIC
//!   version is picked once ([`Cpuif`]): the path is straight-line register accesses.

use super::VcpuIrqs;
use crate::irq::{self, Ack, Cpuif, Interface, Local};
use crate::vgic::Irq;

impl VcpuIrqs {
    /// After a trapped WFI: as [`VcpuIrqs::after_exit`], except that the fast path's spent
    /// timer shot stays in list register 0, unfolded, for the wait ([`VcpuIrqs::idle`]),
    /// where the timer's next shot then only rewrites it ([`VcpuIrqs::timer_again`]).
    pub fn after_wfi_exit(&mut self) {
        let spent = match self.local.as_ref().map(Local::interface) {
            Some(Interface::V3(c)) => self.timer_spent_on(&c),
            Some(Interface::V2(c)) => self.timer_spent_on(&c),
            None => false,
        };
        if !spent {
            self.after_exit();
        }
    }

    /// The IRQ exit's fast path: acknowledge, and if it is the virtual timer's next shot
    /// with nothing else going on (the model as the last fill left it, list register 0
    /// holding only the fast path's previous shot, which the guest has EOIed: it reads
    /// back as written with its State cleared) and `Vgic::timer_again` confirms that the
    /// model needs no change, the same value goes back into list register 0: pending
    /// again, HW = 1. No sync, no fill, no scan, no call, nothing left for `before_entry`.
    /// `Err(first)`: nothing done but the acknowledge of `first` (the general path
    /// routes it: [`VcpuIrqs::interrupt_exit`]). The GIC version is picked once.
    #[inline(always)] // the IRQ exit's path
    pub fn timer_again(&mut self) -> Result<(), Option<Ack>> {
        match self.local.as_ref().map(Local::interface) {
            Some(Interface::V3(c)) => self.timer_again_on(&c),
            Some(Interface::V2(c)) => self.timer_again_on(&c),
            None => Err(None),
        }
    }

    #[inline(always)] // the IRQ exit's path
    fn timer_again_on<C: Cpuif>(&mut self, c: &C) -> Result<(), Option<Ack>> {
        let raw = c.iar(); // a PPI's IAR value is its INTID
        if raw != irq::VTIMER
            || !self.timer_spent_on(c)
            || !self.gic.vgic.lock().timer_again(self.index, irq::VTIMER, &self.lr0_irq)
        {
            return Err(C::acked(raw));
        }
        if let Some(a) = C::acked(raw) {
            c.eoi(a);
        }
        c.write_lr(0, self.lr0_raw);
        Ok(())
    }

    /// List register 0 holds only the fast path's last shot, spent (the guest EOIed it: it
    /// reads back as written with its State cleared), and nothing changed for this vCPU
    /// since (no `dirty`).
    #[inline(always)] // the IRQ exit's path
    fn timer_spent_on<C: Cpuif>(&self, c: &C) -> bool {
        self.in_lrs && self.lr0_timer && !self.dirty && c.read_lr(0) == self.lr0_raw & !C::LR_STATE
    }

    /// The virtual timer's fast path for a first shot (`a` its acknowledge): with the
    /// list registers empty and the model as the last fill left it, straight into list
    /// register 0 (`Vgic::inject_alone`); the next shots then take
    /// [`VcpuIrqs::timer_again`]. False: nothing was done; the general path follows.
    pub(super) fn timer_alone(&mut self, a: Ack) -> bool {
        let Some(l) = &self.local else { return false };
        if self.dirty || self.in_lrs {
            return false;
        }
        let raw = {
            let mut vgic = self.gic.vgic.lock();
            let Some(lr) = vgic.inject_alone(self.index, a.intid()) else { return false };
            self.lr0_irq = vgic.private_state(self.index, a.intid()).unwrap_or(Irq::RESET);
            self.shadow[0] = lr;
            l.encode_lr(&lr)
        };
        l.eoi(a);
        l.write_lr_raw(0, raw);
        (self.lr0_raw, self.in_lrs, self.lr0_timer) = (raw, true, true);
        true
    }
}
