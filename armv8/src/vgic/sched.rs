//! Injecting interrupts and scheduling them into list registers.
//!
//! The glue keeps a shadow copy of each vCPU's list registers (`[Lr; N]`, N from
//! ICH_VTR_EL2.ListRegs + 1 or GICH_VTR) and follows one rhythm around every guest entry:
//! 1. after the guest exits: read the hardware list registers into the shadow, then
//!    [`Vgic::sync_from`] folds every one of them back into the model;
//! 2. handle the exit (MMIO to the GIC windows, physical interrupts → [`Vgic::inject`]);
//! 3. before `eret`: [`Vgic::fill`] rewrites the whole shadow from the model, the glue
//!    writes it to the hardware and sets the maintenance enables it asks for.
//!
//! Folding everything back and refilling from scratch is simple and always consistent;
//! with four list registers it costs a few dozen instructions per exit, and a statically
//! partitioned guest exits rarely.
//!
//! Choice of what goes in: active interrupts first (the guest must be able to EOI them,
//! and an interrupt missing from the list registers cannot be), then pending, enabled
//! interrupts of enabled groups by priority (lower value first, then lower INTID).

use super::irq::Irq;
use super::lr::{Lr, LrState};
use super::{Slot, VcpuSet, Version, Vgic, PRIVATE_IRQS, SPI_END};

/// What the list registers cannot hold yet, and which maintenance interrupt brings the
/// hypervisor back to refill them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum NeedMaintenance {
    /// Everything deliverable is in the list registers: clear UIE and NPIE.
    No,
    /// More is pending than fits, and some list register holds a pending interrupt: set
    /// ICH_HCR_EL2.NPIE (GICH_HCR.NPIE), raised once the guest has acknowledged them all.
    NoPending,
    /// More is pending than fits, but every list register holds an active interrupt
    /// (NPIE would fire at once): set ICH_HCR_EL2.UIE (GICH_HCR.UIE), raised when at most
    /// one list register is still valid.
    Underflow,
}

/// Why an interrupt could not be injected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InjectError {
    /// The partition does not own this INTID (a routing table bug in the glue).
    NotOwned(u32),
    /// A private interrupt for a vCPU the partition does not have.
    NoSuchVcpu(usize),
    /// A hardware link to something other than a PPI or SPI.
    BadPhysical(u32),
}

/// Sort key: active first, then priority, then INTID.
type Key = (bool, u8, u32);

/// Most list registers a fill hands out (GICv3 has at most 16).
pub const MAX_LRS: usize = 16;

impl Vgic {
    /// Makes `intid` pending. Private interrupts (SGI, PPI) go to vCPU `vcpu` (the one on
    /// whose physical CPU the PPI fired); SPIs follow their route and ignore `vcpu`.
    /// `hw`: the physical INTID the hypervisor acknowledged and left active; the guest's
    /// EOI will deactivate it through the list register's HW bit.
    ///
    /// Returns the vCPUs to kick: the target if the interrupt can be delivered now (it
    /// stays pending otherwise, and with it the physical interrupt), and the vCPU whose
    /// list registers hold an earlier instance.
    pub fn inject(&mut self, vcpu: usize, intid: u32, hw: Option<u32>) -> Result<VcpuSet, InjectError> {
        if let Some(p) = hw {
            if !(super::FIRST_PPI..SPI_END).contains(&p) {
                return Err(InjectError::BadPhysical(p));
            }
        }
        let slot = self.slot(vcpu, intid);
        match slot {
            Slot::Reserved if intid < PRIVATE_IRQS => return Err(InjectError::NoSuchVcpu(vcpu)),
            Slot::Reserved | Slot::Foreign => return Err(InjectError::NotOwned(intid)),
            Slot::Private(..) | Slot::Spi(_) => {}
        }
        if let Some(irq) = self.irq_mut(slot) {
            irq.set_pending();
            if let Some(p) = hw {
                irq.link(p);
            }
        }
        let mut kick = VcpuSet::default();
        self.kick_for(slot, &mut kick);
        Ok(kick)
    }

    /// The line of virtual-only SPI `intid` (an emulated device's interrupt, with no
    /// physical source) is now `high`. Level-sensitive (the reset configuration): pending
    /// while the line is high, again after the guest's EOI if it still is
    /// ([`Irq::fold_lr`]); a falling line withdraws it unless the guest took it already.
    /// Edge-triggered: pending once per rising edge. Returns the vCPUs to kick.
    pub fn set_line(&mut self, intid: u32, high: bool) -> Result<VcpuSet, InjectError> {
        let slot = self.slot(0, intid);
        if !matches!(slot, Slot::Spi(_)) {
            return Err(InjectError::NotOwned(intid));
        }
        if let Some(irq) = self.irq_mut(slot) {
            let (was, edge) = (irq.line(), irq.edge());
            irq.set_line(high);
            if high && !was {
                irq.set_pending();
            } else if !high && was && !edge {
                self.deactivate_pending |= irq.clear_pending();
            }
        }
        let mut kick = VcpuSet::default();
        self.kick_for(slot, &mut kick);
        Ok(kick)
    }

    /// The fast path for hardware-linked private interrupt `intid` (the virtual timer) of
    /// `vcpu`, whose list registers are all free and whose state has not changed since a
    /// fill found nothing to put in them (the glue knows): if the interrupt can be
    /// delivered at once (enabled, its group enabled, idle, not held anywhere), it becomes
    /// pending in list register 0, linked to the same physical INTID, and that list register
    /// is returned. Nothing else can be waiting, so no maintenance is needed. `None`: use
    /// [`Vgic::inject`] and a fill.
    pub fn inject_alone(&mut self, vcpu: usize, intid: u32) -> Option<Lr> {
        if !(super::FIRST_PPI..PRIVATE_IRQS).contains(&intid) {
            return None;
        }
        if vcpu >= self.n_vcpus {
            return None;
        }
        let irq = self.vcpus.get(vcpu)?.private.get(intid as usize)?;
        let idle = irq.flags_idle() && irq.hw().is_none();
        if !(idle && irq.enabled() && self.group_enabled(irq.group1())) {
            return None;
        }
        let irq = self.vcpus.get_mut(vcpu)?.private.get_mut(intid as usize)?;
        irq.link(intid);
        irq.put_in_lr(vcpu, 0, true, false);
        Some(Lr {
            state: LrState::Pending,
            hw: true,
            group1: irq.group1(),
            priority: irq.priority(),
            vintid: intid,
            pintid: intid,
            eoi_maintenance: false,
            source: 0,
        })
    }

    /// The other half of [`Vgic::inject_alone`]: `lr` is list register 0 as the guest left
    /// it, holding only what `inject_alone` put there. If the guest is done with it (EOI,
    /// which deactivated the physical interrupt) and nothing happened to it meanwhile,
    /// folds it back and returns true: the list registers are free again and the model is
    /// as the last fill left it. False: nothing changed; use [`Vgic::sync_from`].
    pub fn sync_alone(&mut self, vcpu: usize, lr: &Lr) -> bool {
        if lr.state != LrState::Invalid || !lr.hw || lr.vintid >= PRIVATE_IRQS || vcpu >= self.n_vcpus {
            return false;
        }
        let Some(irq) = self.vcpus.get_mut(vcpu).and_then(|v| v.private.get_mut(lr.vintid as usize)) else {
            return false;
        };
        if irq.lr_slot() != Some((vcpu, 0)) || !irq.untouched_in_lr() {
            return false;
        }
        let deactivate = irq.fold_lr(false, false, true);
        debug_assert!(!deactivate, "the guest's EOI deactivated it");
        true
    }

    /// The state of `vcpu`'s private interrupt `intid` (what [`Vgic::timer_again`] compares).
    pub fn private_state(&self, vcpu: usize, intid: u32) -> Option<Irq> {
        self.vcpus.get(vcpu).filter(|_| vcpu < self.n_vcpus)?.private.get(intid as usize).copied()
    }

    /// The next shot of the fast path's interrupt `intid` of `vcpu`: [`Vgic::inject_alone`]
    /// put it in list register 0, leaving it in state `since` ([`Vgic::private_state`]
    /// right after), the guest has EOIed it (the list register came back invalid, the
    /// physical interrupt deactivated) and it fired again. [`Vgic::sync_alone`] of that
    /// list register followed by [`Vgic::inject_alone`] then leaves the model exactly as it
    /// is and gives the same list register whenever nothing touched the interrupt
    /// meanwhile (its state is still `since`: every register write changes a flag or its
    /// priority) and its group is still enabled. This checks exactly that and changes
    /// nothing: true means list register 0 gets its old value back. False: use that pair,
    /// or the general path.
    #[inline(always)] // the IRQ exit's fast path
    pub fn timer_again(&self, vcpu: usize, intid: u32, since: &Irq) -> bool {
        debug_assert!(since.lr_slot() == Some((vcpu, 0)) && since.untouched_in_lr() && since.hw() == Some(intid));
        // (No vCPU-count check: `since` came from this slot, so the vCPU exists.)
        let now = self.vcpus.get(vcpu).and_then(|v| v.private.get(intid as usize));
        now.is_some_and(|now| now == since) && self.group_enabled(since.group1())
    }

    /// Whether vCPU `vcpu` has an interrupt to take (the glue's WFI decision; call after
    /// [`Vgic::sync_from`]).
    pub fn has_deliverable(&self, vcpu: usize) -> bool {
        self.slots_of(vcpu)
            .any(|slot| self.irq(slot).is_some_and(|irq| self.deliverable(irq)))
    }

    /// Fills `lrs` (all of them: every entry is overwritten) with vCPU `vcpu`'s most
    /// urgent interrupts, and says which maintenance interrupt to arm.
    pub fn fill(&mut self, vcpu: usize, lrs: &mut [Lr]) -> NeedMaintenance {
        // A fill without a sync in between: take back what the last fill handed out.
        self.release(vcpu);
        let picked = self.most_urgent(vcpu, lrs.len());
        let mut placed_pending = false;
        for (index, lr) in lrs.iter_mut().enumerate() {
            *lr = Lr::INVALID;
            let Some(&Some(slot)) = picked.get(index) else { continue };
            let version = self.version;
            let deliverable = self.irq(slot).is_some_and(|irq| self.deliverable(irq));
            let Some(intid) = self.intid(slot) else { continue };
            let Some(irq) = self.irq_mut(slot) else { continue };
            let active = irq.active_outside();
            // A hardware-linked interrupt is never pending and active in a list register:
            // its second instance stays here until the first is deactivated.
            let pending = deliverable && !(active && irq.hw().is_some());
            irq.put_in_lr(vcpu, index, pending, active);
            placed_pending |= pending;
            *lr = Lr {
                state: LrState::from_flags(pending, active),
                hw: irq.hw().is_some(),
                group1: irq.group1(),
                priority: irq.priority(),
                vintid: intid,
                pintid: irq.hw().unwrap_or(0),
                eoi_maintenance: false,
                source: if version == Version::V2 && intid < super::FIRST_PPI {
                    irq.source()
                } else {
                    0
                },
            };
        }
        let left_over = self
            .slots_of(vcpu)
            .any(|slot| self.irq(slot).is_some_and(|irq| self.deliverable(irq)));
        match (left_over, placed_pending) {
            (false, _) => NeedMaintenance::No,
            (true, true) => NeedMaintenance::NoPending,
            (true, false) => NeedMaintenance::Underflow,
        }
    }

    /// Folds vCPU `vcpu`'s list registers, as the guest left them, back into the model.
    /// Afterwards no interrupt is held in a list register of `vcpu`. Returns the other
    /// vCPUs to kick: SPIs rerouted while this vCPU held them now wait for their new
    /// target.
    pub fn sync_from(&mut self, vcpu: usize, lrs: &[Lr]) -> VcpuSet {
        let mut kick = VcpuSet::default();
        for slot in self.all_slots() {
            let Some(intid) = self.intid(slot) else { continue };
            let Some(irq) = self.irq_mut(slot) else { continue };
            let Some((v, index)) = irq.lr_slot() else { continue };
            if v != vcpu {
                continue;
            }
            let deactivate = match lrs.get(index) {
                Some(lr) if lr.vintid == intid => {
                    let eoied = lr.hw && lr.state == LrState::Invalid;
                    irq.fold_lr(lr.state.pending(), lr.state.active(), eoied)
                }
                // Not handed back (or overwritten): assume the guest did not touch it.
                _ => irq.fold_unchanged(),
            };
            self.deactivate_pending |= deactivate;
            if self.irq(slot).is_some_and(|irq| self.deliverable(irq)) {
                if let Some(t) = self.target(slot).filter(|&t| t != vcpu) {
                    kick.insert(t);
                }
            }
        }
        kick
    }

    /// Pending, not yet in a list register, enabled, and its group enabled.
    #[inline(always)] // hot: every fill and sync scans all private interrupts
    fn deliverable(&self, irq: &Irq) -> bool {
        irq.waiting() && irq.enabled() && self.group_enabled(irq.group1())
    }

    /// The (at most `n`, at most [`MAX_LRS`]) interrupts of `vcpu` that most need a list
    /// register, most urgent first: one scan keeping a short sorted list (with four list
    /// registers, a scan per list register cost a few thousand instructions more).
    fn most_urgent(&self, vcpu: usize, n: usize) -> [Option<Slot>; MAX_LRS] {
        let n = n.min(MAX_LRS);
        let mut picked: [Option<(Key, Slot)>; MAX_LRS] = [None; MAX_LRS];
        let mut count = 0;
        for slot in self.slots_of(vcpu) {
            let Some(irq) = self.irq(slot) else { continue };
            let active = irq.active_outside();
            if irq.lr_vcpu().is_some() || !(active || self.deliverable(irq)) {
                continue;
            }
            let key = (!active, irq.priority(), self.intid(slot).unwrap_or(u32::MAX));
            let mut at = count;
            while at > 0 && picked[at - 1].is_some_and(|(k, _)| key < k) {
                at -= 1;
            }
            if at >= n {
                continue;
            }
            count = (count + 1).min(n);
            picked.copy_within(at..count - 1, at + 1);
            picked[at] = Some((key, slot));
        }
        picked.map(|p| p.map(|(_, slot)| slot))
    }

    /// Takes back, unchanged, whatever `vcpu`'s list registers were last given.
    fn release(&mut self, vcpu: usize) {
        for slot in self.all_slots() {
            if let Some(irq) = self.irq_mut(slot) {
                if irq.lr_vcpu() == Some(vcpu) {
                    self.deactivate_pending |= irq.fold_unchanged();
                }
            }
        }
    }

    /// The interrupts delivered to `vcpu`: its SGIs and PPIs, and the SPIs routed to it.
    #[inline(always)] // hot: every fill and sync scans all private interrupts
    fn slots_of(&self, vcpu: usize) -> impl Iterator<Item = Slot> + '_ {
        let private = (0..PRIVATE_IRQS)
            .map(move |i| self.slot(vcpu, i))
            .filter(|s| *s != Slot::Reserved);
        let spis = (0..self.n_spis).filter(move |&s| self.spis.get(s).is_some_and(|s| s.target == Some(vcpu)));
        private.chain(spis.map(Slot::Spi))
    }

    /// Every interrupt of the partition (list registers may hold an SPI whose route
    /// changed since, so folding looks at all of them).
    #[inline(always)] // hot: every fill and sync scans all private interrupts
    fn all_slots(&self) -> impl Iterator<Item = Slot> {
        let n = self.n_vcpus;
        let private = (0..n).flat_map(|v| (0..PRIVATE_IRQS).map(move |i| Slot::Private(v, i)));
        private.chain((0..self.n_spis).map(Slot::Spi))
    }
}

#[cfg(test)]
#[path = "sched_tests.rs"]
mod tests;
