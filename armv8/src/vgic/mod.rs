//! The virtual GIC: what a partition sees of the interrupt controller, and the
//! bookkeeping that feeds the hardware's list registers.
//!
//! Each partition gets one [`Vgic`]. It shows only the partition's own interrupts: the
//! SGIs and PPIs of its vCPUs, and the SPIs of its passthrough devices, fixed at
//! construction ([`VgicConfig`]). Everything else reads as zero; writes to it are ignored
//! and *reported* ([`Denied`]), so the hypervisor can log "partition wrote distributor state
//! of INTID n it does not own" and the attacker tests can check that it did.
//!
//! The model is pure: no register of the real GIC is touched here. The hardware glue
//! (trap decoding, `ICH_LR<n>_EL2` / `GICH_LR<n>`, `ICH_HCR_EL2`, the maintenance interrupt,
//! acknowledging physical interrupts) calls this API with plain values. `docs/vgic.md`
//! describes the whole protocol; in short:
//! - trap path: a data abort in the GICD or GICR window → [`Vgic::gicd`] / [`Vgic::gicr`];
//!   a trapped `ICC_SGI1R_EL1` write → [`Vgic::sgi1r`];
//! - IRQ path: physical INTID → owner partition → [`Vgic::inject`];
//! - around every guest entry: [`Vgic::sync_from`] after the exit, [`Vgic::fill`] before
//!   the `eret`, then [`Vgic::take_deactivations`].
//!
//! Parts, in reading order:
//! - this file: configuration, per-partition state, what an access returns;
//! - `irq`: the state of one interrupt and the operations registers perform on it;
//! - `regs`: the per-INTID register arrays shared by the distributor and the
//!   redistributor's SGI frame (enable, pending, active, priority, ...);
//! - [`distributor`]: GICD, GICv3 layout and the GICv2 variant;
//! - [`redistributor`]: GICR (RD_base and SGI_base frames, one pair per vCPU);
//! - [`sgi`]: software-generated interrupts between a partition's own vCPUs;
//! - [`lr`]: the list-register format (GICv3 and GICv2 encodings);
//! - [`sched`]: injecting interrupts, filling list registers, folding them back.
//!
//! Threat model: every value reaching this module comes from the guest or from a glue
//! that decoded guest input. Nothing here panics on any input: indexing is checked and
//! offsets never overflow (they are bounded by the window sizes before any arithmetic).

pub mod distributor;
mod irq;
pub mod lr;
pub mod redistributor;
mod regs;
pub mod sched;
pub mod sgi;
#[cfg(test)]
mod tests;

pub use crate::gic::Version;
pub use irq::Irq;
pub use lr::{Lr, LrState};
pub use sched::NeedMaintenance;

/// Most vCPUs a partition can have: one per physical CPU (GICv2 also stops at 8 CPU
/// interfaces).
pub const MAX_VCPUS: usize = hv::config::MAX_CPUS;
/// Most SPIs a partition can own: every interrupt of every passthrough device.
pub const MAX_SPIS: usize = hv::config::MAX_DEVICES * hv::config::MAX_DEVICE_RANGES;

/// SGIs and PPIs: INTIDs 0..32 are private to each vCPU.
pub const PRIVATE_IRQS: u32 = 32;
/// First PPI; 0..16 are SGIs.
pub const FIRST_PPI: u32 = 16;
/// One past the last SPI: 1020..1024 are special INTIDs, never interrupts.
pub const SPI_END: u32 = 1020;
/// Priority bits the virtual interface implements: 5, the minimum of GICv2's GICH_LR
/// field and QEMU's ICH_VTR_EL2.PRIbits. Lower bits read as zero, as on a GIC with 32
/// priority levels.
pub const PRIORITY_MASK: u8 = 0xf8;

/// What the glue must tell the model about a partition.
#[derive(Clone, Copy, Debug)]
pub struct VgicConfig<'a> {
    pub version: Version,
    /// MPIDR affinity of each vCPU, by vCPU index, in MPIDR layout (Aff3 in bits 39:32,
    /// Aff2..Aff0 in bits 23:0): the values the guest reads in `MPIDR_EL1` (VMPIDR_EL2).
    /// SGI targets and SPI routes are matched against them.
    pub vcpus: &'a [u64],
    /// SPIs (32..1020) of the partition's passthrough devices, in any order.
    pub spis: &'a [u32],
}

/// A configuration the model cannot represent (the configuration checks should have
/// caught it; the model does not trust them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigError {
    NoVcpus,
    TooManyVcpus,
    TooManySpis,
    /// Not an SPI (below 32 or 1020 and above).
    NotAnSpi(u32),
    DuplicateSpi(u32),
    /// Two vCPUs with the same affinity: SGIs and routes could not tell them apart.
    DuplicateAffinity(u64),
}

/// MPIDR affinity bits kept (Aff3, Aff2, Aff1, Aff0).
pub(crate) const MPIDR_AFF_MASK: u64 = 0xff_00ff_ffff;

/// A set of vCPUs of the partition, by index (bit n = vCPU n).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VcpuSet(pub u8);

impl VcpuSet {
    pub fn contains(self, vcpu: usize) -> bool {
        vcpu < MAX_VCPUS && self.0 & (1 << vcpu) != 0
    }
    pub(crate) fn insert(&mut self, vcpu: usize) {
        if vcpu < MAX_VCPUS {
            self.0 |= 1 << vcpu;
        }
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    /// The vCPU indices in the set, lowest first.
    pub fn iter(self) -> impl Iterator<Item = usize> {
        (0..MAX_VCPUS).filter(move |&v| self.contains(v))
    }
}

/// A guest write that reached beyond what the partition owns. The owned part of the write
/// (if any) was applied; this part was ignored. The caller logs it; the guest sees nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Denied {
    /// Distributor state of interrupts the partition does not own: the first INTID the
    /// write touched and how many it touched.
    Intid { first: u32, count: u32 },
    /// SGIs aimed at CPUs that are not the partition's: the first target (affinity in
    /// MPIDR layout for GICv3, CPU interface number for GICv2) and how many.
    SgiTarget { first: u64, count: u32 },
}

/// What a guest write asks of the hypervisor beyond the model's own state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Effects {
    /// Set when the write touched what the partition does not own (log it).
    pub denied: Option<Denied>,
    /// vCPUs whose deliverable interrupts changed: sync and refill their list registers
    /// (an IPI for those running on another physical CPU; before `eret` for this one).
    pub kick: VcpuSet,
    /// Physical interrupts wait for deactivation: call [`Vgic::take_deactivations`].
    pub deactivate: bool,
}

impl Effects {
    /// Records `count` ignored INTIDs starting at `intid` (keeps the first, adds counts).
    pub(crate) fn deny_intid(&mut self, intid: u32) {
        self.denied = Some(match self.denied {
            Some(Denied::Intid { first, count }) => Denied::Intid {
                first,
                count: count.saturating_add(1),
            },
            _ => Denied::Intid { first: intid, count: 1 },
        });
    }
    pub(crate) fn deny_target(&mut self, target: u64) {
        self.denied = Some(match self.denied {
            Some(Denied::SgiTarget { first, count }) => Denied::SgiTarget {
                first,
                count: count.saturating_add(1),
            },
            _ => Denied::SgiTarget {
                first: target,
                count: 1,
            },
        });
    }
}

/// The answer to one decoded guest access to an emulated GIC window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum Outcome {
    /// A load: the value for the guest register (zero-extended from the access width).
    Read(u64),
    /// A store was carried out (reserved and read-only registers ignore stores, as the
    /// architecture says).
    Write(Effects),
    /// A width or alignment the register does not support, or an offset outside the
    /// window: the caller faults the partition (its fault policy decides).
    Bad,
}

/// Where an INTID's state lives, as seen from one register bank.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Slot {
    /// An SGI or PPI of vCPU `.0`.
    Private(usize, u32),
    /// Owned SPI number `.0` in the partition's table.
    Spi(usize),
    /// Architecturally reads as zero, ignores writes, and is nobody's state: e.g. INTIDs
    /// 0..32 in a GICv3 distributor, or the special INTIDs 1020..1024.
    Reserved,
    /// An interrupt the partition does not own: reads as zero, writes are reported.
    Foreign,
}

/// An owned SPI: its state plus its routing.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Spi {
    pub intid: u32,
    pub irq: Irq,
    /// GICv3 GICD_IROUTER value, masked to its defined fields.
    pub router: u64,
    /// GICv2 GICD_ITARGETSR byte (CPU interfaces = vCPU indices).
    pub targets: u8,
    /// The vCPU the route resolves to, if it names one of the partition's.
    pub target: Option<usize>,
}

impl Spi {
    const EMPTY: Spi = Spi {
        intid: 0,
        irq: Irq::RESET,
        router: 0,
        targets: 0,
        target: None,
    };
}

/// The per-vCPU part: its private interrupts and its redistributor.
#[derive(Clone, Copy, Debug)]
pub(crate) struct VcpuState {
    pub affinity: u64,
    pub private: [Irq; PRIVATE_IRQS as usize],
    /// GICR_WAKER.ProcessorSleep (ChildrenAsleep follows it at once).
    pub asleep: bool,
}

impl VcpuState {
    const RESET: VcpuState = VcpuState {
        affinity: 0,
        private: [Irq::RESET; PRIVATE_IRQS as usize],
        asleep: true,
    };
}

/// A partition's virtual GIC.
#[derive(Clone, Debug)]
pub struct Vgic {
    pub(crate) version: Version,
    /// GICD_CTLR group enables (EnableGrp0, EnableGrp1).
    pub(crate) ctlr: u32,
    pub(crate) vcpus: [VcpuState; MAX_VCPUS],
    pub(crate) n_vcpus: usize,
    /// Owned SPIs, sorted by INTID (binary search).
    pub(crate) spis: [Spi; MAX_SPIS],
    pub(crate) n_spis: usize,
    /// Some interrupt carries [`irq::DEACTIVATE`].
    pub(crate) deactivate_pending: bool,
}

impl Vgic {
    /// The virtual GIC of a partition, in its reset state: everything disabled and
    /// inactive, priorities 0, group 0, SPIs routed to vCPU 0, redistributors asleep.
    pub fn new(cfg: &VgicConfig<'_>) -> Result<Vgic, ConfigError> {
        let n_vcpus = cfg.vcpus.len();
        if n_vcpus == 0 {
            return Err(ConfigError::NoVcpus);
        }
        if n_vcpus > MAX_VCPUS {
            return Err(ConfigError::TooManyVcpus);
        }
        if cfg.spis.len() > MAX_SPIS {
            return Err(ConfigError::TooManySpis);
        }
        let mut vgic = Vgic {
            version: cfg.version,
            ctlr: 0,
            vcpus: [VcpuState::RESET; MAX_VCPUS],
            n_vcpus,
            spis: [Spi::EMPTY; MAX_SPIS],
            n_spis: 0,
            deactivate_pending: false,
        };
        for (i, &aff) in cfg.vcpus.iter().enumerate() {
            let aff = aff & MPIDR_AFF_MASK;
            if cfg.vcpus.iter().take(i).any(|&a| a & MPIDR_AFF_MASK == aff) {
                return Err(ConfigError::DuplicateAffinity(aff));
            }
            if let Some(v) = vgic.vcpus.get_mut(i) {
                v.affinity = aff;
            }
        }
        let router0 = vgic.vcpus[0].affinity;
        for &intid in cfg.spis {
            if !(PRIVATE_IRQS..SPI_END).contains(&intid) {
                return Err(ConfigError::NotAnSpi(intid));
            }
            // Insertion sort: at most MAX_SPIS entries, no allocation.
            let n = vgic.n_spis;
            let at = match vgic.spis[..n].binary_search_by_key(&intid, |s| s.intid) {
                Ok(_) => return Err(ConfigError::DuplicateSpi(intid)),
                Err(at) => at,
            };
            vgic.spis.copy_within(at..n, at + 1);
            vgic.spis[at] = Spi {
                intid,
                irq: Irq::RESET,
                router: router0,
                targets: 1,
                target: Some(0),
            };
            vgic.n_spis = n + 1;
        }
        Ok(vgic)
    }

    pub fn version(&self) -> Version {
        self.version
    }

    pub fn vcpus(&self) -> usize {
        self.n_vcpus
    }

    /// Whether the partition owns `intid` as an SPI.
    pub fn owns_spi(&self, intid: u32) -> bool {
        self.spi_index(intid).is_some()
    }

    /// Highest INTID the partition can see: its highest SPI, or 31 without SPIs.
    pub fn max_intid(&self) -> u32 {
        self.n_spis
            .checked_sub(1)
            .and_then(|i| self.spis.get(i))
            .map_or(PRIVATE_IRQS - 1, |s| s.intid)
    }

    pub(crate) fn spi_index(&self, intid: u32) -> Option<usize> {
        self.spis
            .get(..self.n_spis)?
            .binary_search_by_key(&intid, |s| s.intid)
            .ok()
    }

    /// Where `intid` lives for vCPU `vcpu` (its banked SGIs and PPIs).
    #[inline(always)] // hot: every fill and sync scans all private interrupts
    pub(crate) fn slot(&self, vcpu: usize, intid: u32) -> Slot {
        if intid < PRIVATE_IRQS {
            if vcpu < self.n_vcpus {
                Slot::Private(vcpu, intid)
            } else {
                Slot::Reserved
            }
        } else if intid >= SPI_END {
            Slot::Reserved
        } else {
            self.spi_index(intid).map_or(Slot::Foreign, Slot::Spi)
        }
    }

    #[inline(always)] // hot: every fill and sync scans all private interrupts
    pub(crate) fn irq(&self, slot: Slot) -> Option<&Irq> {
        match slot {
            Slot::Private(v, i) => self.vcpus.get(v)?.private.get(i as usize),
            Slot::Spi(s) => self.spis.get(s).map(|s| &s.irq),
            Slot::Reserved | Slot::Foreign => None,
        }
    }

    #[inline(always)] // hot: every fill and sync scans all private interrupts
    pub(crate) fn irq_mut(&mut self, slot: Slot) -> Option<&mut Irq> {
        match slot {
            Slot::Private(v, i) => self.vcpus.get_mut(v)?.private.get_mut(i as usize),
            Slot::Spi(s) => self.spis.get_mut(s).map(|s| &mut s.irq),
            Slot::Reserved | Slot::Foreign => None,
        }
    }

    /// The INTID a slot stands for.
    #[inline(always)] // hot: every fill and sync scans all private interrupts
    pub(crate) fn intid(&self, slot: Slot) -> Option<u32> {
        match slot {
            Slot::Private(_, i) => Some(i),
            Slot::Spi(s) => self.spis.get(s).map(|s| s.intid),
            Slot::Reserved | Slot::Foreign => None,
        }
    }

    /// The vCPU an interrupt is delivered to.
    pub(crate) fn target(&self, slot: Slot) -> Option<usize> {
        match slot {
            Slot::Private(v, _) => Some(v),
            Slot::Spi(s) => self.spis.get(s)?.target,
            Slot::Reserved | Slot::Foreign => None,
        }
    }

    /// The distributor lets interrupts of this group through (GICD_CTLR.EnableGrp0/1).
    #[inline(always)] // hot: every fill and sync scans all private interrupts
    pub(crate) fn group_enabled(&self, group1: bool) -> bool {
        self.ctlr
            & if group1 {
                distributor::CTLR_ENABLE_GRP1
            } else {
                distributor::CTLR_ENABLE_GRP0
            }
            != 0
    }

    /// After a change to `slot`: the vCPU that must refill its list registers. While a
    /// list register holds the interrupt that is its holder (nothing changes for the guest
    /// until the holder folds it back; the fold then names the next one); otherwise its
    /// target, if the interrupt can now be delivered.
    pub(crate) fn kick_for(&self, slot: Slot, kick: &mut VcpuSet) {
        let Some(irq) = self.irq(slot) else { return };
        if let Some(v) = irq.lr_vcpu() {
            kick.insert(v);
        } else if irq.waiting() && irq.enabled() && self.group_enabled(irq.group1()) {
            if let Some(t) = self.target(slot) {
                kick.insert(t);
            }
        }
    }

    /// Hands every physical interrupt the guest gave up without an EOI through a list
    /// register (it cleared the pending or active state of a hardware-linked interrupt)
    /// to `deactivate`, which writes it to ICC_DIR_EL1 / GICC_DIR. Call after
    /// [`Vgic::sync_from`] and after any write reporting [`Effects::deactivate`].
    pub fn take_deactivations(&mut self, mut deactivate: impl FnMut(u32)) {
        if !self.deactivate_pending {
            return;
        }
        self.deactivate_pending = false;
        let n = self.n_vcpus;
        let private = self.vcpus.iter_mut().take(n).flat_map(|v| v.private.iter_mut());
        let spis = self.spis.iter_mut().take(self.n_spis).map(|s| &mut s.irq);
        for irq in private.chain(spis) {
            if let Some(p) = irq.take_deactivation() {
                deactivate(p);
            }
        }
    }
}
