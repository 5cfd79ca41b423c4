//! A vCPU's interrupts: the glue between its partition's virtual GIC ([`crate::vgic`], the
//! pure model) and this CPU's GIC ([`crate::irq`]), following `docs/vgic.md`.
//!
//! The rhythm around every guest entry ([`VcpuIrqs::before_entry`], [`VcpuIrqs::after_exit`]):
//! fold the list registers back into the model after an exit (`sync_from`) and refill them
//! before the next entry (`fill`), but only when there is something to do: a sync only if
//! the last fill put an interrupt in them (the guest cannot change an empty list register),
//! a fill only if the model may have changed for this vCPU since (an injection, a guest
//! access to the distributor, a sync, a kick). A hypercall or console access with no
//! interrupt in flight costs two flag tests.
//!
//! The trap side, answered here rather than in the core because the model is
//! arch-specific (as PSCI is): data aborts in the partition's GICD window (and GICR on
//! GICv3) go to the model, so do trapped writes to ICC_SGI1R_EL1 (HCR_EL2.IMO traps them
//! from EL1). The vCPU completes the access and reports `Exit::Emulated` with any
//! [`Refusal`] for the core to log. On GICv2 the guest's CPU interface is the hardware's
//! GICV frame, mapped by stage-2 where it expects its GICC ([`crate::guest_dt`]).
//!
//! The IRQ side ([`VcpuIrqs::interrupts`]): acknowledge, drop the priority, and hand the
//! virtual timer PPI and the partition's own SPIs to the model with HW = 1, so the guest's
//! EOI deactivates the physical interrupt; the maintenance interrupt and kicks only make
//! the next entry refill; the hypervisor's deadline ([`crate::deadline`]) runs the
//! board's handler.
//!
//! Locking: one lock per partition around its [`Vgic`] (vCPUs on several CPUs share it),
//! never held across a guest entry or while waiting.

use hv::config::MAX_CPUS;
use hv::exit::{MmioAccess, Refusal};
use spin::Mutex;

use crate::gic::Version;
use crate::guest_dt;
use crate::irq::{self, Ack, Local, MAX_LRS};
use crate::vgic::{distributor, ConfigError, Denied, Effects, Irq, Lr, LrState, Outcome, VcpuSet, Vgic, VgicConfig, MAX_SPIS};

/// Interrupts acknowledged per exit at most (the rest cause another exit at once).
const MAX_ACKS: usize = 8;

/// A partition's virtual GIC and what the glue needs to rebuild and reach it.
pub struct PartitionGic {
    vgic: Mutex<Vgic>,
    version: Version,
    /// The vCPUs' affinities as the guest sees them (VMPIDR_EL2: Aff0 = vCPU index).
    affinities: heapless::Vec<u64, MAX_CPUS>,
    /// The physical CPU (MPIDR affinity) running each vCPU, for kicks.
    cpus: heapless::Vec<u64, MAX_CPUS>,
    /// The partition's physical SPIs (its devices'), routed to its first CPU.
    spis: heapless::Vec<u32, MAX_SPIS>,
    /// Every SPI the model owns: the physical ones and the virtual-only ones (no physical
    /// source: e.g. the emulated console's, which the guest may configure but which is
    /// never routed to or from the hardware).
    model_spis: heapless::Vec<u32, MAX_SPIS>,
    /// The guest-physical windows that trap to the model: (base, size).
    gicd: (u64, u64),
    gicr: (u64, u64),
}

impl PartitionGic {
    /// The virtual GIC of a partition running on physical CPUs `cpus` (vCPU order) and
    /// owning the interrupts `irqs` of its devices (SPIs kept; PPIs are every vCPU's anyway).
    pub fn new(version: Version, cpus: &[u64], irqs: &[u32]) -> Result<PartitionGic, ConfigError> {
        Self::with_virtual(version, cpus, irqs, &[])
    }

    /// As [`PartitionGic::new`], and the model also owns the virtual-only SPIs `virt`
    /// (guest-visible, configurable, never tied to a physical interrupt).
    pub fn with_virtual(version: Version, cpus: &[u64], irqs: &[u32], virt: &[u32]) -> Result<PartitionGic, ConfigError> {
        if cpus.len() > MAX_CPUS {
            return Err(ConfigError::TooManyVcpus);
        }
        let mut g = PartitionGic {
            vgic: Mutex::new(Vgic::new(&VgicConfig { version, vcpus: &[0], spis: &[] })?),
            version,
            affinities: (0..cpus.len() as u64).collect(),
            cpus: cpus.iter().copied().collect(),
            spis: heapless::Vec::new(),
            model_spis: heapless::Vec::new(),
            gicd: (guest_dt::GICD_BASE, if version == Version::V3 { distributor::SIZE_V3 } else { distributor::SIZE_V2 }),
            gicr: (0, 0),
        };
        for &i in irqs.iter().filter(|&&i| i >= crate::vgic::PRIVATE_IRQS) {
            g.spis.push(i).map_err(|_| ConfigError::TooManySpis)?;
        }
        for &i in g.spis.iter().chain(virt) {
            g.model_spis.push(i).map_err(|_| ConfigError::TooManySpis)?;
        }
        *g.vgic.get_mut() = Vgic::new(&g.config())?;
        if version == Version::V3 {
            g.gicr = (guest_dt::GICR_BASE, g.vgic.get_mut().gicr_size());
        }
        Ok(g)
    }

    fn config(&self) -> VgicConfig<'_> {
        VgicConfig { version: self.version, vcpus: &self.affinities, spis: &self.model_spis }
    }

    pub fn version(&self) -> Version {
        self.version
    }

    /// The SPIs the partition owns (enabled in the physical distributor, routed to it).
    pub fn spis(&self) -> &[u32] {
        &self.spis
    }

    /// The line of virtual-only SPI `intid` (an emulated device's) is now `high`, seen from
    /// any CPU (e.g. console input arriving on another one): the vCPUs that must look again
    /// are kicked, this CPU's too (it then exits at its next entry and refills).
    pub fn set_line(&self, intid: u32, high: bool) {
        let kick = self.vgic.lock().set_line(intid, high);
        for v in kick.unwrap_or_default().iter() {
            if let Some(&cpu) = self.cpus.get(v) {
                irq::kick(cpu);
            }
        }
    }
}

/// The answer to a guest access the vGIC emulates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Emulated {
    /// Complete the access (a load receives `value`); report `refusal`, if any.
    Done { value: u64, refusal: Option<Refusal> },
    /// A width or alignment the register does not take: a fault for the partition's policy.
    Bad,
}

/// One vCPU's interrupt state on the physical CPU that runs it.
pub struct VcpuIrqs {
    gic: &'static PartitionGic,
    /// This CPU's GIC; `None` without one (then no interrupt is ever delivered).
    local: Option<Local>,
    index: usize,
    /// What the list registers were last given (and, after an exit, hold).
    shadow: [Lr; MAX_LRS],
    /// The last fill left some list register valid: the next exit must sync.
    in_lrs: bool,
    /// The model may have changed for this vCPU: the next entry must fill.
    dirty: bool,
    /// A kick arrived since [`VcpuIrqs::idle`] last looked: the vCPU must go back to the
    /// run loop (to refill, or because its partition was stopped).
    kicked: bool,
    /// List register 0 holds the virtual timer put there by the fast path
    /// ([`VcpuIrqs::timer_alone`]), and the others are free.
    lr0_timer: bool,
    /// What the fast path wrote to list register 0 (hardware layout), and the model's
    /// state of the timer right after ([`Vgic::timer_again`] compares it).
    lr0_raw: u64,
    lr0_irq: Irq,
}

impl VcpuIrqs {
    /// vCPU `index` of the partition whose GIC is `gic`, on this physical CPU: sets up this
    /// CPU's interrupt controller for it ([`irq::init_cpu`]).
    pub fn new(gic: &'static PartitionGic, index: usize) -> VcpuIrqs {
        let local = if index == 0 { irq::init_cpu(gic.spis()) } else { irq::init_cpu(&[]) };
        VcpuIrqs {
            gic,
            local,
            index,
            shadow: [Lr::INVALID; MAX_LRS],
            in_lrs: false,
            dirty: false,
            kicked: false,
            lr0_timer: false,
            lr0_raw: 0,
            lr0_irq: Irq::RESET,
        }
    }

    /// Before `eret`: refill the list registers if the model may have changed.
    #[inline(always)] // every exit: the test stays on the trap path, the work out of line
    pub fn before_entry(&mut self) {
        if self.dirty {
            self.refill();
        }
    }

    #[inline(never)]
    fn refill(&mut self) {
        self.dirty = false;
        self.lr0_timer = false;
        let Some(l) = self.local else { return };
        let lrs = &mut self.shadow[..l.lrs()];
        let need = self.gic.vgic.lock().fill(self.index, lrs);
        l.write_lrs(lrs, need);
        self.in_lrs = lrs.iter().any(|lr| lr.state != LrState::Invalid);
    }

    /// Whether the last fill or fast path left an interrupt in the list registers (the
    /// next exit then folds them back).
    #[inline(always)]
    pub fn in_flight(&self) -> bool {
        self.in_lrs
    }

    /// After the guest exits: fold the list registers back if they held anything.
    #[inline(always)] // every exit: the test stays on the trap path, the work out of line
    pub fn after_exit(&mut self) {
        if self.in_lrs {
            self.sync();
        }
    }

    #[inline(never)]
    fn sync(&mut self) {
        let Some(l) = self.local else { return };
        // The fast path's timer, EOIed: fold it alone; nothing else needs a refill.
        if core::mem::take(&mut self.lr0_timer) && !self.dirty {
            let lr = l.read_lr(0);
            if self.gic.vgic.lock().sync_alone(self.index, &lr) {
                self.shadow[0] = lr;
                self.in_lrs = false;
                return;
            }
        }
        self.in_lrs = false;
        self.dirty = true;
        let Some(l) = self.local else { return };
        let lrs = &mut self.shadow[..l.lrs()];
        l.read_lrs(lrs);
        let kick = {
            let mut vgic = self.gic.vgic.lock();
            let kick = vgic.sync_from(self.index, lrs);
            vgic.take_deactivations(|p| l.deactivate(p));
            kick
        };
        self.kick(kick);
    }

    /// The rest of an IRQ exit that [`VcpuIrqs::timer_again`] did not take, `first` the
    /// interrupt acknowledged already: fold the list registers back, route `first` and
    /// whatever else is pending.
    pub fn interrupt_exit(&mut self, first: Option<Ack>) {
        self.after_exit();
        if let (Some(a), Some(l)) = (first, self.local) {
            self.route(l, a);
            self.interrupts();
        }
    }

    /// A physical IRQ (an IRQ exit, or a wake from idle): acknowledge what is pending and
    /// route it.
    #[inline(never)]
    pub fn interrupts(&mut self) {
        let Some(l) = self.local else { return };
        for _ in 0..MAX_ACKS {
            let Some(a) = l.ack() else { break };
            self.route(l, a);
        }
    }

    /// Routes acknowledged interrupt `a`.
    fn route(&mut self, l: Local, a: Ack) {
        match a.intid() {
            irq::MAINTENANCE | irq::KICK => {
                self.kicked |= a.intid() == irq::KICK;
                l.finish(a);
                self.dirty = true;
            }
            irq::VTIMER if self.timer_alone(a) => {}
            irq::DEADLINE => {
                crate::deadline::expired(); // the timer off first: its line is low again
                l.finish(a);
            }
            intid if intid == irq::VTIMER || intid >= crate::vgic::PRIVATE_IRQS => {
                l.eoi(a);
                if let Some(handle) = irq::own(intid) {
                    handle(); // the hypervisor's own (the console's input): the board's
                    l.deactivate(intid);
                    return;
                }
                let injected = self.gic.vgic.lock().inject(self.index, intid, Some(intid));
                match injected {
                    Ok(kick) => self.kick(kick),
                    // Not the partition's (cannot happen: only its SPIs are routed here).
                    Err(_) => l.deactivate(intid),
                }
            }
            _ => l.finish(a),
        }
    }

    /// A WFI: sleep until the vCPU has an interrupt to take.
    #[inline(never)] // not on the hypercall path's frame
    pub fn idle(&mut self) {
        if self.local.is_none() {
            irq::wait();
            return;
        }
        // On entry the list registers hold nothing (the exit folded them back) or only
        // the fast path's spent timer shot (`spent`: after_wfi_exit kept it). Either way
        // the model alone says whether an interrupt waits, until the timer goes back into
        // list register 0, pending (then nothing else waits: no refill). Anything but the
        // timer's next shot first folds the spent one back, as the exit would have. A kick
        // also ends the wait (a WFI may complete early): the core then sees whether the
        // partition stopped.
        let mut spent = self.in_lrs;
        self.kicked = false;
        loop {
            if self.in_lrs && !spent {
                break;
            }
            if self.kicked || self.gic.vgic.lock().has_deliverable(self.index) {
                if spent {
                    self.sync();
                }
                self.dirty = true;
                break;
            }
            if let Some(l) = self.local {
                l.resignal();
            }
            irq::wait();
            match self.timer_again() {
                Ok(()) => spent = false, // pending again: the loop ends
                Err(first) => {
                    if core::mem::take(&mut spent) {
                        self.sync();
                    }
                    if let (Some(a), Some(l)) = (first, self.local) {
                        self.route(l, a);
                        self.interrupts();
                    }
                }
            }
        }
        self.kicked = false;
    }

    /// A guest load or store: `Some` if it falls in a window of the virtual distributor
    /// or redistributors (the access is then emulated), `None` otherwise.
    pub fn mmio(&mut self, a: &MmioAccess) -> Option<Emulated> {
        let inside = |(base, size): (u64, u64)| a.addr.checked_sub(base).filter(|&o| o < size);
        let (gicd, gicr) = (inside(self.gic.gicd), inside(self.gic.gicr));
        if gicd.is_none() && gicr.is_none() {
            return None;
        }
        let mut vgic = self.gic.vgic.lock();
        let outcome = match (gicd, gicr) {
            (Some(o), _) => vgic.gicd(self.index, o, a.width, a.write),
            (_, Some(o)) => vgic.gicr(o, a.width, a.write),
            _ => Outcome::Bad,
        };
        Some(match outcome {
            Outcome::Read(value) => Emulated::Done { value, refusal: None },
            Outcome::Write(fx) => Emulated::Done { value: 0, refusal: self.effects(&mut vgic, fx) },
            Outcome::Bad => Emulated::Bad,
        })
    }

    /// The line of virtual-only SPI `intid` (an emulated device's), from this vCPU's exit
    /// (an access to the device): as [`PartitionGic::set_line`], this vCPU refilled before
    /// it re-enters.
    pub fn set_line(&mut self, intid: u32, high: bool) {
        let kick = self.gic.vgic.lock().set_line(intid, high);
        self.kick(kick.unwrap_or_default());
    }

    /// A trapped write of ICC_SGI1R_EL1: SGIs to the partition's own vCPUs.
    pub fn sgi(&mut self, value: u64) -> Option<Refusal> {
        let mut vgic = self.gic.vgic.lock();
        let fx = vgic.sgi1r(self.index, value);
        self.effects(&mut vgic, fx)
    }

    /// Carries out what a guest write asks beyond the model (called with its lock held).
    fn effects(&mut self, vgic: &mut Vgic, fx: Effects) -> Option<Refusal> {
        if fx.deactivate {
            if let Some(l) = self.local {
                vgic.take_deactivations(|p| l.deactivate(p));
            }
        }
        self.kick(fx.kick);
        fx.denied.map(|d| match d {
            Denied::Intid { first, .. } => Refusal::IrqState { intid: first },
            Denied::SgiTarget { first, .. } => Refusal::IpiTarget { target: first },
        })
    }

    /// Makes the vCPUs in `set` refill: this one at its next entry, others by an SGI to
    /// their physical CPU.
    fn kick(&mut self, set: VcpuSet) {
        for v in set.iter() {
            if v == self.index {
                self.dirty = true;
            } else if let (Some(l), Some(&cpu)) = (self.local, self.gic.cpus.get(v)) {
                l.kick(cpu);
            }
        }
    }

    /// The vCPU (re)starts: this CPU's virtual interface back to reset, and no physical
    /// interrupt left active on behalf of a previous run. If it is the partition's only vCPU
    /// on (its boot, or a restart), the whole model is reset; otherwise (a sibling started
    /// with PSCI CPU_ON) only this vCPU's SGIs, PPIs and redistributor: the running vCPUs'
    /// state and the shared distributor stay as they are.
    pub fn reset(&mut self) {
        let alone = crate::smp::mine().is_none_or(|(g, i)| g.others_on(i).next().is_none());
        if let Ok(fresh) = Vgic::new(&self.gic.config()) {
            let mut vgic = self.gic.vgic.lock();
            match (alone, fresh.vcpus.get(self.index), vgic.vcpus.get_mut(self.index)) {
                (false, Some(new), Some(old)) => *old = *new,
                _ => *vgic = fresh,
            }
        }
        if let Some(l) = self.local {
            l.reset_virtual();
            l.clear_active(irq::VTIMER);
            if self.index == 0 && alone {
                self.gic.spis().iter().for_each(|&s| l.clear_active(s));
            }
        }
        self.shadow = [Lr::INVALID; MAX_LRS];
        self.in_lrs = false;
        self.dirty = false;
        self.lr0_timer = false;
    }
}

#[path = "virq/timer.rs"]
mod timer;

#[cfg(test)]
mod tests {
    use super::*;
    use hv::exit::Width;

    fn gic(version: Version) -> &'static PartitionGic {
        Box::leak(Box::new(PartitionGic::new(version, &[1], &[39, 20]).unwrap()))
    }

    #[test]
    fn the_partition_gic_keeps_spis_and_windows() {
        let g = gic(Version::V3);
        assert_eq!(g.spis(), [39]);
        assert_eq!(g.gicd, (0x800_0000, 0x1_0000));
        assert_eq!(g.gicr, (0x80a_0000, 0x2_0000));
        assert_eq!(gic(Version::V2).gicr, (0, 0), "GICv2: no redistributors");
    }

    #[test]
    fn virtual_spis_are_the_models_not_the_hardwares() {
        let g = Box::leak(Box::new(PartitionGic::with_virtual(Version::V3, &[1], &[39], &[33]).unwrap()));
        assert_eq!(g.spis(), [39], "only physical SPIs are routed and enabled in the hardware");
        let mut v = VcpuIrqs::new(g, 0);
        let store = MmioAccess { addr: 0x800_0104, width: Width::Word, write: Some(1 << 1), reg: 0, sign_extend: false };
        assert_eq!(v.mmio(&store), Some(Emulated::Done { value: 0, refusal: None }), "INTID 33 is the partition's");
        let typer = MmioAccess { addr: 0x800_0004, write: None, ..store };
        assert!(matches!(v.mmio(&typer), Some(Emulated::Done { value, .. }) if value & 0x1f >= 1), "TYPER shows SPIs");
        assert!(PartitionGic::with_virtual(Version::V3, &[1], &[33], &[33]).is_err(), "one owner per INTID");
    }

    #[test]
    fn distributor_accesses_are_emulated_and_refusals_reported() {
        let mut v = VcpuIrqs::new(gic(Version::V3), 0);
        let store = |addr, value| MmioAccess { addr, width: Width::Word, write: Some(value), reg: 0, sign_extend: false };
        // ISENABLER1 bit 8: INTID 40, not the partition's.
        assert_eq!(v.mmio(&store(0x800_0104, 1 << 8)), Some(Emulated::Done { value: 0, refusal: Some(Refusal::IrqState { intid: 40 }) }));
        // Its own SPI 39: enabled, nothing reported.
        assert_eq!(v.mmio(&store(0x800_0104, 1 << 7)), Some(Emulated::Done { value: 0, refusal: None }));
        let load = MmioAccess { addr: 0x800_0104, width: Width::Word, write: None, reg: 0, sign_extend: false };
        assert_eq!(v.mmio(&load), Some(Emulated::Done { value: 1 << 7, refusal: None }));
        let half = MmioAccess { width: Width::Half, ..load };
        assert_eq!(v.mmio(&half), Some(Emulated::Bad));
        assert_eq!(v.mmio(&MmioAccess { addr: 0x900_0018, ..load }), None, "the console is not the GIC's");
        assert_eq!(v.mmio(&MmioAccess { addr: 0x80a_0014, ..load }).is_some(), true, "GICR_WAKER");
    }
}
