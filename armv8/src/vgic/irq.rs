//! The state of one virtual interrupt, and the state changes registers and list registers
//! make to it.
//!
//! While a vCPU runs, some of its interrupts sit in list registers, where the guest changes
//! their state without the hypervisor seeing it (acknowledge: pending → active; EOI:
//! active → inactive). The model therefore splits the state of an interrupt held in a list
//! register in three:
//! - what [`super::sched`] put in the list register (`LR_PENDING`, `LR_ACTIVE`), a copy
//!   for reads from other vCPUs;
//! - what happened since, from elsewhere (`PENDING`, `ACTIVE`: set again; `CANCEL_*`:
//!   cleared by a register write);
//! - and, at the next [`super::Vgic::sync_from`], the list register's own state, merged
//!   with the above.
//!
//! Pending is always a latch: an edge sets it, the guest's acknowledge clears it. A
//! level-triggered passthrough interrupt keeps its level in the physical GIC, which holds
//! it active (so it cannot fire again) until the guest's EOI deactivates it through the
//! list register's HW bit. A virtual-only interrupt (an emulated device's) keeps its level
//! here (`LINE`): level-sensitive, it is pending again whenever a fold finds the guest
//! done with it while the line is still high.

/// Enabled (GICD_ISENABLER).
pub const ENABLED: u16 = 1 << 0;
/// Group 1 (GICD_IGROUPR); group 0 otherwise.
pub const GROUP1: u16 = 1 << 1;
/// Edge-triggered (GICD_ICFGR 0b10); level otherwise.
pub const EDGE: u16 = 1 << 2;
/// Pending, not (yet) in a list register.
pub const PENDING: u16 = 1 << 3;
/// Active, not in a list register.
pub const ACTIVE: u16 = 1 << 4;
/// Held in a list register of vCPU `lr_vcpu`.
pub const IN_LR: u16 = 1 << 5;
/// Put in the list register as pending (copy, for reads).
pub const LR_PENDING: u16 = 1 << 6;
/// Put in the list register as active (copy, for reads).
pub const LR_ACTIVE: u16 = 1 << 7;
/// Pending cleared by a register write while in a list register.
pub const CANCEL_PENDING: u16 = 1 << 8;
/// Active cleared by a register write while in a list register.
pub const CANCEL_ACTIVE: u16 = 1 << 9;
/// The linked physical interrupt (`hw`) waits for the hypervisor to deactivate it.
pub const DEACTIVATE: u16 = 1 << 10;
/// The emulated device's interrupt line is high (virtual-only interrupts).
pub const LINE: u16 = 1 << 11;

/// One virtual interrupt. Eight bytes with no padding (`repr(C)`), compared as one word.
#[derive(Clone, Copy, Debug)]
#[repr(C, align(8))]
pub struct Irq {
    flags: u16,
    priority: u8,
    /// vCPU whose list registers hold it, and which one (meaningful with `IN_LR`).
    lr_vcpu: u8,
    lr_index: u8,
    /// GICv2 SGIs: the CPU interface that requested it last (GICV_IAR.CPUID).
    source: u8,
    /// The physical INTID it is linked to (HW=1), 0 for none: SGIs are never physical.
    hw: u16,
}

const _: () = assert!(core::mem::size_of::<Irq>() == 8);

impl Irq {
    /// Every field in one word (in memory order, so the compiler loads it at once).
    #[inline(always)] // the IRQ exit's fast path compares states
    fn bits(&self) -> u64 {
        u64::from(self.flags)
            | u64::from(self.priority) << 16
            | u64::from(self.lr_vcpu) << 24
            | u64::from(self.lr_index) << 32
            | u64::from(self.source) << 40
            | u64::from(self.hw) << 48
    }
}

impl PartialEq for Irq {
    #[inline(always)] // the IRQ exit's fast path compares states
    fn eq(&self, other: &Irq) -> bool {
        self.bits() == other.bits()
    }
}
impl Eq for Irq {}

impl Irq {
    /// Reset state: disabled, inactive, level, group 0, priority 0. (SGIs read as edge
    /// whatever this says: their ICFGR field is read-only.)
    pub const RESET: Irq = Irq {
        flags: 0,
        priority: 0,
        lr_vcpu: 0,
        lr_index: 0,
        source: 0,
        hw: 0,
    };

    #[inline(always)] // hot: every fill and sync scans all private interrupts
    fn has(&self, f: u16) -> bool {
        self.flags & f != 0
    }
    fn put(&mut self, f: u16, on: bool) {
        if on {
            self.flags |= f;
        } else {
            self.flags &= !f;
        }
    }

    #[inline(always)] // hot: every fill and sync scans all private interrupts
    pub fn enabled(&self) -> bool {
        self.has(ENABLED)
    }
    pub fn set_enabled(&mut self, on: bool) {
        self.put(ENABLED, on);
    }
    #[inline(always)] // hot: every fill and sync scans all private interrupts
    pub fn group1(&self) -> bool {
        self.has(GROUP1)
    }
    pub fn set_group1(&mut self, on: bool) {
        self.put(GROUP1, on);
    }
    pub fn edge(&self) -> bool {
        self.has(EDGE)
    }
    /// The emulated device's line is high.
    pub fn line(&self) -> bool {
        self.has(LINE)
    }
    pub(crate) fn set_line(&mut self, high: bool) {
        self.put(LINE, high);
    }
    pub fn set_edge(&mut self, on: bool) {
        self.put(EDGE, on);
    }
    #[inline(always)] // hot: every fill and sync scans all private interrupts
    pub fn priority(&self) -> u8 {
        self.priority
    }
    pub fn set_priority(&mut self, p: u8) {
        self.priority = p & super::PRIORITY_MASK;
    }
    pub fn source(&self) -> u8 {
        self.source
    }
    pub fn set_source(&mut self, cpu: u8) {
        self.source = cpu;
    }

    /// The vCPU whose list registers hold it, if any.
    #[inline(always)] // hot: every fill and sync scans all private interrupts
    pub fn lr_vcpu(&self) -> Option<usize> {
        self.has(IN_LR).then_some(usize::from(self.lr_vcpu))
    }
    /// The vCPU and list register index holding it, if any.
    pub fn lr_slot(&self) -> Option<(usize, usize)> {
        self.has(IN_LR)
            .then_some((usize::from(self.lr_vcpu), usize::from(self.lr_index)))
    }

    /// The physical INTID a guest EOI deactivates, while the link holds.
    pub fn hw(&self) -> Option<u32> {
        (self.hw != 0 && !self.has(DEACTIVATE)).then_some(u32::from(self.hw))
    }
    /// Links the interrupt to physical `pintid`. Not while an earlier physical interrupt
    /// still waits for the hypervisor to deactivate it: forgetting that one would leave it
    /// active for ever (and while it is active it cannot have fired again anyway).
    pub(crate) fn link(&mut self, pintid: u32) {
        if !self.has(DEACTIVATE) {
            self.hw = u16::try_from(pintid).unwrap_or(0);
        }
    }

    /// Pending as the guest's registers show it.
    pub fn is_pending(&self) -> bool {
        self.has(PENDING) || (self.has(LR_PENDING) && !self.has(CANCEL_PENDING))
    }
    /// Active as the guest's registers show it.
    pub fn is_active(&self) -> bool {
        self.has(ACTIVE) || (self.has(LR_ACTIVE) && !self.has(CANCEL_ACTIVE))
    }
    /// Pending and not in a list register: waiting for one.
    #[inline(always)] // hot: every fill and sync scans all private interrupts
    pub(crate) fn waiting(&self) -> bool {
        self.has(PENDING)
    }
    /// Active and not in a list register.
    #[inline(always)] // hot: every fill and sync scans all private interrupts
    pub(crate) fn active_outside(&self) -> bool {
        self.has(ACTIVE)
    }

    /// Neither pending nor active, in no list register, nothing left to deactivate.
    pub(crate) fn flags_idle(&self) -> bool {
        !self.has(PENDING | ACTIVE | IN_LR | DEACTIVATE)
    }
    /// In a list register, and nothing changed it from outside since (no register write
    /// set or cleared its pending or active state).
    pub(crate) fn untouched_in_lr(&self) -> bool {
        self.has(IN_LR) && !self.has(PENDING | ACTIVE | CANCEL_PENDING | CANCEL_ACTIVE | DEACTIVATE)
    }

    pub fn set_pending(&mut self) {
        self.flags |= PENDING;
    }
    /// Returns whether a physical interrupt now waits for deactivation.
    pub fn clear_pending(&mut self) -> bool {
        self.flags &= !PENDING;
        if self.has(IN_LR) {
            self.flags |= CANCEL_PENDING;
        }
        self.settle()
    }
    pub fn set_active(&mut self) {
        self.flags |= ACTIVE;
    }
    /// Returns whether a physical interrupt now waits for deactivation.
    pub fn clear_active(&mut self) -> bool {
        self.flags &= !ACTIVE;
        if self.has(IN_LR) {
            self.flags |= CANCEL_ACTIVE;
        }
        self.settle()
    }

    /// A hardware-linked interrupt the guest made idle outside a list register leaves its
    /// physical interrupt active: hand it to the hypervisor for deactivation. (In a list
    /// register the decision waits for the fold, which sees the list register's state.)
    fn settle(&mut self) -> bool {
        if self.hw().is_some() && !self.has(IN_LR) && !self.is_pending() && !self.is_active() {
            self.flags |= DEACTIVATE;
            return true;
        }
        false
    }

    /// The physical INTID to deactivate, once.
    pub(crate) fn take_deactivation(&mut self) -> Option<u32> {
        if !self.has(DEACTIVATE) {
            return None;
        }
        self.flags &= !DEACTIVATE;
        let p = u32::from(self.hw);
        self.hw = 0;
        Some(p)
    }

    /// Moves the interrupt into list register `index` of `vcpu`: `pending` and `active`
    /// say what the list register holds; what stays behind keeps its flags.
    pub(crate) fn put_in_lr(&mut self, vcpu: usize, index: usize, pending: bool, active: bool) {
        self.flags &= !(LR_PENDING | LR_ACTIVE | CANCEL_PENDING | CANCEL_ACTIVE);
        if pending {
            self.flags = (self.flags & !PENDING) | LR_PENDING;
        }
        if active {
            self.flags = (self.flags & !ACTIVE) | LR_ACTIVE;
        }
        self.flags |= IN_LR;
        self.lr_vcpu = u8::try_from(vcpu).unwrap_or(u8::MAX);
        self.lr_index = u8::try_from(index).unwrap_or(u8::MAX);
    }

    /// Folds a list register's state back (`lr` = (pending, active) as the guest left it,
    /// `eoied` when a HW=1 list register came back invalid, i.e. the guest's EOI already
    /// deactivated the physical interrupt). Returns whether a physical interrupt now waits
    /// for deactivation.
    pub(crate) fn fold_lr(&mut self, lr_pending: bool, lr_active: bool, eoied: bool) -> bool {
        let active = (lr_active && !self.has(CANCEL_ACTIVE)) || self.has(ACTIVE);
        // A level-sensitive line still high asserts the interrupt again once it is inactive.
        let resampled = self.has(LINE) && !self.has(EDGE) && !active;
        let pending = (lr_pending && !self.has(CANCEL_PENDING)) || self.has(PENDING) || resampled;
        self.flags &= !(IN_LR | LR_PENDING | LR_ACTIVE | CANCEL_PENDING | CANCEL_ACTIVE | PENDING | ACTIVE);
        self.put(PENDING, pending);
        self.put(ACTIVE, active);
        if eoied && self.hw().is_some() {
            self.hw = 0;
        }
        self.settle()
    }

    /// Folds back with the list register's state as it was put there (the list register
    /// was not handed back: assume the guest did not touch it).
    pub(crate) fn fold_unchanged(&mut self) -> bool {
        let (p, a) = (self.has(LR_PENDING), self.has(LR_ACTIVE));
        self.fold_lr(p, a, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_and_clear_outside_a_list_register() {
        let mut i = Irq::RESET;
        i.set_pending();
        assert!(i.is_pending());
        assert!(!i.clear_pending(), "no physical link: nothing to deactivate");
        assert!(!i.is_pending());
        i.set_active();
        assert!(i.is_active());
        i.clear_active();
        assert!(!i.is_active());
    }

    #[test]
    fn priority_keeps_implemented_bits() {
        let mut i = Irq::RESET;
        i.set_priority(0xff);
        assert_eq!(i.priority(), 0xf8);
    }

    #[test]
    fn clearing_a_linked_interrupt_asks_for_deactivation_once() {
        let mut i = Irq::RESET;
        i.link(40);
        i.set_pending();
        assert!(i.clear_pending());
        assert_eq!(i.hw(), None, "the link is gone once deactivation is due");
        assert_eq!(i.take_deactivation(), Some(40));
        assert_eq!(i.take_deactivation(), None);
    }

    #[test]
    fn state_changes_while_in_a_list_register_merge_at_the_fold() {
        let mut i = Irq::RESET;
        i.set_pending();
        i.put_in_lr(1, 0, true, false);
        assert_eq!(i.lr_vcpu(), Some(1));
        assert!(i.is_pending(), "reads see the list register copy");
        i.set_pending(); // a new edge while the guest holds the first one
                         // The guest acknowledged: the list register is active; the new edge stays pending.
        i.fold_lr(false, true, false);
        assert!(i.is_pending() && i.is_active());
        assert_eq!(i.lr_vcpu(), None);

        i.put_in_lr(0, 1, true, true);
        i.clear_pending();
        i.clear_active();
        assert!(!i.is_pending() && !i.is_active());
        i.fold_lr(true, true, false);
        assert!(
            !i.is_pending() && !i.is_active(),
            "cancelled while in the list register"
        );
    }

    #[test]
    fn a_new_link_never_hides_a_deactivation_still_due() {
        let mut i = Irq::RESET;
        i.link(40);
        i.set_pending();
        assert!(i.clear_pending());
        i.link(41);
        i.set_pending();
        assert_eq!(i.take_deactivation(), Some(40));
        assert_eq!(i.hw(), None, "the new instance is virtual only");
    }

    #[test]
    fn eoi_through_a_hw_list_register_drops_the_link_without_deactivation() {
        let mut i = Irq::RESET;
        i.link(27);
        i.set_pending();
        i.put_in_lr(0, 0, true, false);
        assert!(!i.fold_lr(false, false, true));
        assert_eq!(i.hw(), None);
        assert_eq!(i.take_deactivation(), None);
    }

    #[test]
    fn a_level_line_still_high_makes_the_interrupt_pending_again_after_the_eoi() {
        let mut i = Irq::RESET;
        i.set_line(true);
        i.set_pending();
        i.put_in_lr(0, 0, true, false);
        i.fold_lr(false, true, false);
        assert!(i.is_active() && !i.is_pending(), "acknowledged, the handler runs");
        i.put_in_lr(0, 0, false, true);
        i.fold_lr(false, false, false);
        assert!(i.is_pending() && !i.is_active(), "EOIed with the line high: asserted again");
        i.put_in_lr(0, 0, true, false);
        i.set_line(false);
        i.clear_pending();
        i.fold_lr(true, false, false);
        assert!(!i.is_pending(), "the line dropped before the guest took it");
        i.set_edge(true);
        i.set_line(true);
        i.put_in_lr(0, 0, false, false);
        i.fold_lr(false, false, false);
        assert!(!i.is_pending(), "edge-triggered: only a rising edge sets it");
    }

    #[test]
    fn hw_list_register_cancelled_by_the_guest_needs_deactivation() {
        let mut i = Irq::RESET;
        i.link(33);
        i.set_pending();
        i.put_in_lr(0, 0, true, false);
        i.clear_pending();
        assert!(i.fold_lr(true, false, false));
        assert_eq!(i.take_deactivation(), Some(33));
    }
}
