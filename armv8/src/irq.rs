//! Physical interrupts at EL2: the host GIC as the hypervisor drives it.
//!
//! Which interrupts exist for the hypervisor (everything else stays disabled in the
//! distributor, so a device nobody owns cannot even wake a CPU):
//! - the SPIs of each partition's passthrough devices, routed to the CPU running that
//!   partition's vCPU 0 (each CPU enables and routes its own partition's, [`init_cpu`]);
//! - per CPU: the virtual timer PPI 27 (the guest's CNTV_*), the maintenance PPI 25 (the
//!   list registers want a refill), the EL2 physical timer PPI 26 (the hypervisor's own
//!   deadline, [`crate::deadline`]) and SGI 0, the kick one CPU sends another when a vCPU
//!   there has something new.
//!
//! All in one group (group 1 on GICv3, with GICD_CTLR.DS = 1 as on QEMU; group 0, signalled
//! as IRQ, on a GICv2 without Security Extensions), one priority. The CPU interface runs
//! with EOImode = 1: [`Local::eoi`] drops the running priority, and the interrupt stays
//! active until [`Local::deactivate`] or, for interrupts handed to a guest with HW = 1
//! in the list register, the guest's own EOI.
//!
//! The hypervisor never takes an interrupt at EL2: PSTATE.I stays set. A physical IRQ
//! while a guest runs is a lower-EL IRQ exit (HCR_EL2.IMO); an idle vCPU sleeps in WFI,
//! which a pending interrupt ends whatever PSTATE.I says, and then polls [`Local::ack`].
//!
//! GICv3 through the system registers (ICC_*, ICH_*), the distributor and redistributors
//! through their MMIO blocks; GICv2 entirely through MMIO (GICD, GICC, GICH; the guest
//! gets GICV mapped where it expects its GICC).

use crate::gic::{
    GiccRegisters, GicdRegisters, GichRegisters, GicrRdRegisters, GicrSgiRegisters, Version, GICC_CTLR, GICD_CTLR,
    GICH_HCR, GICR_TYPER, GICR_WAKER,
};
use crate::vgic::{lr, Lr, NeedMaintenance};
use core::sync::atomic::{AtomicU64, Ordering};
use tock_registers::interfaces::{ReadWriteable, Readable, Writeable};

/// The virtual timer's PPI (CNTV), handed to the guest with HW = 1.
pub const VTIMER: u32 = 27;
/// The virtual interface's maintenance interrupt (PPI 9).
pub const MAINTENANCE: u32 = 25;
/// The EL2 physical timer's PPI (CNTHP, PPI 10): the hypervisor's deadline
/// ([`crate::deadline`]), never a guest's.
pub const DEADLINE: u32 = 26;
/// The SGI a CPU sends another to make its vCPU exit and refill its list registers.
pub const KICK: u32 = 0;
/// INTIDs 1020..1023 are special (spurious, ...), never interrupts.
const SPECIAL: u32 = 1020;
/// The one priority of every interrupt the hypervisor enables (any below the PMR).
const PRIORITY: u8 = 0xa0;
/// The lowest priority: the priority mask lets everything through.
const PMR_ALL: u32 = 0xff;
/// Most list registers either version has.
pub const MAX_LRS: usize = 16;
/// GICD_TYPER.ITLinesNumber: (n + 1) * 32 interrupt lines.
const TYPER_ITLINES: u32 = 0x1f;
/// Redistributors: two 64 KiB frames each (no VLPI frames on GICv3), and a bound on the walk.
const GICR_STRIDE: usize = 0x2_0000;
const GICR_SGI_FRAME: usize = 0x1_0000;
const GICR_MAX: usize = 256;
/// Bounded waits for the GIC to settle (register-write pending, redistributor waking).
const SETTLE_POLLS: u32 = 100_000;

/// Where the host GIC is and what its virtual interface offers.
#[derive(Clone, Copy, Debug)]
pub struct Host {
    pub version: Version,
    pub gicd: usize,
    /// GICv3: the redistributor region.
    pub gicr: usize,
    /// GICv2: the CPU interface (GICC), the virtual interface control (GICH) and the
    /// virtual CPU interface (GICV) the guests get.
    pub gicc: usize,
    pub gich: usize,
    pub gicv: u64,
    /// List registers per CPU.
    pub lrs: usize,
}

impl Host {
    /// From the board tree's GIC node (`regs` in `reg` order) and the probed list-register count.
    pub fn new(version: Version, regs: [usize; 4], lrs: u32) -> Option<Host> {
        let lrs = (lrs as usize).min(MAX_LRS);
        let host = match version {
            Version::V3 => Host { version, gicd: regs[0], gicr: regs[1], gicc: 0, gich: 0, gicv: 0, lrs },
            Version::V2 => Host { version, gicd: regs[0], gicr: 0, gicc: regs[1], gich: regs[2], gicv: regs[3] as u64, lrs },
        };
        let needed = match version {
            Version::V3 => [host.gicd, host.gicr].iter().all(|&a| a != 0),
            Version::V2 => [host.gicd, host.gicc, host.gich, host.gicv as usize].iter().all(|&a| a != 0),
        };
        (needed && lrs > 0).then_some(host)
    }

    fn gicd(&self) -> &'static GicdRegisters {
        // SAFETY: `gicd` is the board tree's distributor, identity-mapped as a device at EL2
        // (mmu::init maps the GIC node's windows); its registers are only used through
        // tock-registers' volatile accessors.
        unsafe { &*(self.gicd as *const GicdRegisters) }
    }
}

static HOST: spin::Once<Host> = spin::Once::new();

/// The host GIC, once [`init`] has run.
pub fn host() -> Option<&'static Host> {
    HOST.get()
}

/// Boot CPU, once, before any [`init_cpu`]: every SPI disabled, inactive, not pending, in
/// the hypervisor's group, at its priority; then the distributor on.
pub fn init(host: Host) {
    let host = HOST.call_once(|| host);
    let d = host.gicd();
    d.ctlr.set(0);
    settle(d);
    let lines = (((d.typer.get() & TYPER_ITLINES) + 1) * 32).min(SPECIAL) as usize;
    let group = if host.version == Version::V3 { u32::MAX } else { 0 };
    for i in 1..lines / 32 {
        d.icenabler[i].set(u32::MAX);
        d.icpendr[i].set(u32::MAX);
        d.icactiver[i].set(u32::MAX);
        d.igroupr[i].set(group);
    }
    for p in &d.ipriorityr[32..lines] {
        p.set(PRIORITY);
    }
    settle(d);
    d.ctlr.write(match host.version {
        Version::V3 => GICD_CTLR::ARE::SET + GICD_CTLR::EnableGrp1::SET,
        Version::V2 => GICD_CTLR::EnableGrp0::SET,
    });
    settle(d);
}

/// Waits (bounded) until a GICv3 distributor has applied the last control write (RWP).
fn settle(d: &GicdRegisters) {
    let mut polls = SETTLE_POLLS;
    while d.ctlr.is_set(GICD_CTLR::RWP) && polls > 0 {
        polls -= 1;
    }
}

/// This CPU's view of the GIC: what [`init_cpu`] found.
#[derive(Clone, Copy, Debug)]
pub struct Local {
    /// The host GIC (a reference: a `Local` is copied around on the IRQ path).
    host: &'static Host,
    /// GICv3: this CPU's redistributor SGI_base frame.
    sgi: usize,
}

/// PPIs and SGIs the hypervisor uses on every CPU.
const PRIVATE_ENABLED: u32 = 1 << VTIMER | 1 << MAINTENANCE | 1 << DEADLINE | 1 << KICK;

/// This CPU's part of the GIC: its SGIs and PPIs (all off but [`PRIVATE_ENABLED`]), its CPU
/// interface (EOImode = 1, everything unmasked), the virtual interface (on, empty), and
/// `spis` (the SPIs of the partition this CPU runs) enabled and routed here. `None`
/// without [`init`] or when this CPU's redistributor cannot be found.
pub fn init_cpu(spis: &[u32]) -> Option<Local> {
    let host = HOST.get()?;
    let d = host.gicd();
    let local = match host.version {
        Version::V3 => {
            let sgi = v3_wake_redistributor(host)?;
            let l = Local { host, sgi };
            let f = l.sgi_frame();
            f.icenabler0.set(u32::MAX);
            f.icpendr0.set(u32::MAX);
            f.icactiver0.set(u32::MAX);
            f.igroupr0.set(u32::MAX);
            f.ipriorityr.iter().for_each(|p| p.set(PRIORITY));
            f.isenabler0.set(PRIVATE_ENABLED);
            sys::v3_cpu_interface_on();
            l
        }
        Version::V2 => {
            // Banked per CPU: INTIDs 0..32 of this CPU.
            d.icenabler[0].set(u32::MAX);
            d.icpendr[0].set(u32::MAX);
            d.icactiver[0].set(u32::MAX);
            d.igroupr[0].set(0);
            d.ipriorityr[..32].iter().for_each(|p| p.set(PRIORITY));
            d.isenabler[0].set(PRIVATE_ENABLED);
            let l = Local { host, sgi: 0 };
            let c = l.gicc();
            c.pmr.set(PMR_ALL);
            c.bpr.set(0);
            c.ctlr.write(GICC_CTLR::EnableGrp0::SET + GICC_CTLR::EOImode::SET);
            v2_record_interface(d.itargetsr[0].get());
            l
        }
    };
    local.reset_virtual();
    for &intid in spis.iter().filter(|&&i| (32..SPECIAL).contains(&i)) {
        let i = intid as usize;
        match host.version {
            Version::V3 => d.irouter[i].set(crate::cpu::mpidr()),
            Version::V2 => d.itargetsr[i].set(d.itargetsr[0].get()),
        }
        d.isenabler[i / 32].set(1 << (i % 32));
    }
    Some(local)
}

/// Finds this CPU's redistributor, wakes it; returns its SGI_base frame.
fn v3_wake_redistributor(host: &Host) -> Option<usize> {
    let rd = v3_redistributor(host)?;
    rd.waker.modify(GICR_WAKER::ProcessorSleep::CLEAR);
    let mut polls = SETTLE_POLLS;
    while rd.waker.is_set(GICR_WAKER::ChildrenAsleep) && polls > 0 {
        polls -= 1;
    }
    Some(rd as *const GicrRdRegisters as usize + GICR_SGI_FRAME)
}

/// This CPU's redistributor (RD_base frame), found by affinity.
fn v3_redistributor(host: &Host) -> Option<&'static GicrRdRegisters> {
    let m = crate::cpu::mpidr();
    // GICR_TYPER.Affinity is Aff3.Aff2.Aff1.Aff0; MPIDR has Aff3 at 39:32.
    let me = ((m >> 8) & 0xff00_0000) | (m & 0x00ff_ffff);
    for i in 0..GICR_MAX {
        let base = host.gicr + i * GICR_STRIDE;
        // SAFETY: the redistributor region is identity-mapped as a device at EL2; the walk
        // stops at the frame marked Last, within the region the tree describes.
        let rd = unsafe { &*(base as *const GicrRdRegisters) };
        let typer = rd.typer.extract();
        if typer.read(GICR_TYPER::Affinity) == me {
            return Some(rd);
        }
        if typer.is_set(GICR_TYPER::Last) {
            break;
        }
    }
    None
}

/// A CPU whose partition has stopped: nothing may wake it again. Its SGIs and PPIs and
/// `spis` (the partition's) disabled, the guest's virtual timer and the hypervisor's
/// deadline off.
pub fn quiesce(spis: &[u32]) {
    let Some(host) = HOST.get() else { return };
    let d = host.gicd();
    match host.version {
        Version::V3 => {
            if let Some(rd) = v3_redistributor(host) {
                let sgi = rd as *const GicrRdRegisters as usize + GICR_SGI_FRAME;
                Local { host, sgi }.sgi_frame().icenabler0.set(u32::MAX);
            }
        }
        Version::V2 => d.icenabler[0].set(u32::MAX),
    }
    for &intid in spis.iter().filter(|&&i| (32..SPECIAL).contains(&i)) {
        d.icenabler[(intid / 32) as usize].set(1 << (intid % 32));
    }
    #[cfg(target_arch = "aarch64")]
    {
        use aarch64_cpu::registers::{Writeable as _, CNTV_CTL_EL0};
        CNTV_CTL_EL0.set(0);
    }
    crate::deadline::disarm();
}

/// Interrupts the hypervisor handles itself (the board's console input).
#[path = "irq_own.rs"]
mod own;
pub use own::{claim, own, route_own};

/// Makes the CPU with affinity `mpidr` take [`KICK`], from any CPU (nothing without a GIC).
pub fn kick(mpidr: u64) {
    if let Some(host) = HOST.get() {
        Local { host, sgi: 0 }.kick(mpidr);
    }
}

/// GICv2: the CPU interface mask of each CPU that ran [`init_cpu`], by MPIDR (for kicks):
/// `VALID | mask << 40 | affinity`.
static V2_INTERFACES: [AtomicU64; crate::vgic::MAX_VCPUS] = [const { AtomicU64::new(0) }; crate::vgic::MAX_VCPUS];
const V2_VALID: u64 = 1 << 63;
const V2_MASK_SHIFT: u64 = 40;

fn v2_record_interface(mask: u8) {
    let entry = V2_VALID | u64::from(mask) << V2_MASK_SHIFT | crate::cpu::mpidr();
    for slot in &V2_INTERFACES {
        if slot.compare_exchange(0, entry, Ordering::AcqRel, Ordering::Acquire).is_ok() {
            return;
        }
    }
}

fn v2_interface_of(mpidr: u64) -> Option<u8> {
    V2_INTERFACES.iter().map(|s| s.load(Ordering::Acquire)).find_map(|e| {
        (e & V2_VALID != 0 && e & crate::cpu::MPIDR_AFFINITY == mpidr).then_some((e >> V2_MASK_SHIFT) as u8)
    })
}

impl Local {
    /// This CPU's interface as its version's [`Cpuif`], for code that picks the version
    /// once.
    #[inline(always)]
    pub fn interface(&self) -> Interface {
        match self.host.version {
            Version::V3 => Interface::V3(V3),
            Version::V2 => Interface::V2(V2 { gicc: self.gicc(), gich: self.gich() }),
        }
    }

    fn gicc(&self) -> &'static GiccRegisters {
        // SAFETY: GICv2 only: the board tree's GICC, identity-mapped as a device at EL2.
        unsafe { &*(self.host.gicc as *const GiccRegisters) }
    }

    fn gich(&self) -> &'static GichRegisters {
        // SAFETY: GICv2 only: the board tree's GICH (each CPU sees its own interface there),
        // identity-mapped as a device at EL2.
        unsafe { &*(self.host.gich as *const GichRegisters) }
    }

    fn sgi_frame(&self) -> &'static GicrSgiRegisters {
        // SAFETY: GICv3 only: this CPU's SGI_base frame, found by init_cpu in the
        // identity-mapped redistributor region.
        unsafe { &*(self.sgi as *const GicrSgiRegisters) }
    }

    pub fn version(&self) -> Version {
        self.host.version
    }

    /// List registers of this CPU's virtual interface.
    pub fn lrs(&self) -> usize {
        self.host.lrs
    }

    /// Acknowledges the highest-priority pending interrupt, if any (not a special INTID).
    pub fn ack(&self) -> Option<Ack> {
        match self.interface() {
            Interface::V3(c) => c.ack(),
            Interface::V2(c) => c.ack(),
        }
    }

    /// Drops the running priority (EOImode = 1: the interrupt stays active).
    pub fn eoi(&self, a: Ack) {
        match self.interface() {
            Interface::V3(c) => c.eoi(a),
            Interface::V2(c) => c.eoi(a),
        }
    }

    /// Deactivates an acknowledged interrupt the hypervisor consumed itself.
    pub fn finish(&self, a: Ack) {
        self.eoi(a);
        self.deactivate(a.raw());
    }

    /// Deactivates physical interrupt `intid` (ICC_DIR_EL1 / GICC_DIR).
    pub fn deactivate(&self, intid: u32) {
        match self.host.version {
            Version::V3 => sys::dir(intid),
            Version::V2 => self.gicc().dir.set(intid),
        }
    }

    /// Clears the active state of `intid` in the distributor (this CPU's copy of a PPI): a
    /// restarted partition must not inherit an interrupt its previous run never EOIed.
    pub fn clear_active(&self, intid: u32) {
        let (i, bit) = ((intid / 32) as usize, 1 << (intid % 32));
        match self.host.version {
            Version::V3 if intid < 32 => self.sgi_frame().icactiver0.set(bit),
            _ => {
                if let Some(r) = self.host.gicd().icactiver.get(i) {
                    r.set(bit);
                }
            }
        }
    }

    /// GICv2: makes the distributor re-evaluate this CPU's physical IRQ line, by writing
    /// GICD_ISENABLER0 back as it reads (architecturally a no-op; nothing on GICv3).
    ///
    /// QEMU 7.2's GICv2 (hw/intc/arm_gic.c) clears the physical active state when the
    /// guest's EOI through GICV retires a list register with HW = 1, but then only updates
    /// the virtual interfaces (`gic_update_virt`), not the physical ones. If the interrupt's
    /// line is still high at that moment (the virtual timer: Linux re-arms it for an
    /// already-passed deadline inside its handler), the PPI is pending and inactive yet
    /// never signalled to the CPU, until something else makes the GIC update: a WFI on it
    /// sleeps forever (docs/linux-guest.md). Any distributor write makes QEMU update.
    pub fn resignal(&self) {
        if self.host.version == Version::V2 {
            let d = self.host.gicd();
            d.isenabler[0].set(d.isenabler[0].get());
        }
    }

    /// Makes the CPU with affinity `mpidr` take [`KICK`].
    pub fn kick(&self, mpidr: u64) {
        match self.host.version {
            Version::V3 => sys::sgi1r(sgi1r_value(mpidr, KICK)),
            Version::V2 => {
                if let Some(mask) = v2_interface_of(mpidr) {
                    barrier();
                    self.host.gicd().sgir.set(u32::from(mask) << 16 | KICK);
                }
            }
        }
    }

    /// List register `n` as the hardware holds it (GICH_LR<n> widened; 0 beyond the last).
    pub fn read_lr_raw(&self, n: usize) -> u64 {
        match self.interface() {
            Interface::V3(c) => c.read_lr(n),
            Interface::V2(c) => c.read_lr(n),
        }
    }

    /// Writes list register `n` in the hardware's layout (the maintenance enables stay as
    /// they are; nothing beyond the last).
    pub fn write_lr_raw(&self, n: usize, raw: u64) {
        match self.interface() {
            Interface::V3(c) => c.write_lr(n, raw),
            Interface::V2(c) => c.write_lr(n, raw),
        }
    }

    /// `l` in this interface's list-register layout.
    pub fn encode_lr(&self, l: &Lr) -> u64 {
        match self.host.version {
            Version::V3 => lr::to_ich_lr(l),
            Version::V2 => u64::from(lr::to_gich_lr(l)),
        }
    }

    /// Reads list register `n`.
    pub fn read_lr(&self, n: usize) -> Lr {
        let raw = self.read_lr_raw(n);
        match self.host.version {
            Version::V3 => lr::from_ich_lr(raw),
            Version::V2 => lr::from_gich_lr(raw as u32),
        }
    }

    /// Reads the first `lrs.len()` list registers.
    pub fn read_lrs(&self, lrs: &mut [Lr]) {
        for (n, l) in lrs.iter_mut().enumerate().take(self.host.lrs) {
            *l = match self.host.version {
                Version::V3 => lr::from_ich_lr(sys::ich_lr(n)),
                Version::V2 => lr::from_gich_lr(self.gich().lr[n].get()),
            };
        }
    }

    /// Writes the list registers and the maintenance enables the fill asked for.
    pub fn write_lrs(&self, lrs: &[Lr], need: NeedMaintenance) {
        let (npie, uie) = (need == NeedMaintenance::NoPending, need == NeedMaintenance::Underflow);
        match self.host.version {
            Version::V3 => {
                for (n, l) in lrs.iter().enumerate().take(self.host.lrs) {
                    sys::set_ich_lr(n, lr::to_ich_lr(l));
                }
                sys::set_ich_hcr(npie, uie);
            }
            Version::V2 => {
                let h = self.gich();
                for (n, l) in lrs.iter().enumerate().take(self.host.lrs) {
                    h.lr[n].set(lr::to_gich_lr(l));
                }
                h.hcr.write(GICH_HCR::En::SET + GICH_HCR::NPIE.val(npie.into()) + GICH_HCR::UIE.val(uie.into()));
            }
        }
    }

    /// The virtual CPU interface as after reset: no list register valid, no active
    /// priorities, the guest's view (VMCR: masks, enables, EOImode) cleared; enabled.
    pub fn reset_virtual(&self) {
        let empty = [Lr::INVALID; MAX_LRS];
        match self.host.version {
            Version::V3 => sys::v3_virtual_reset(),
            Version::V2 => {
                let h = self.gich();
                h.vmcr.set(0);
                h.apr.set(0);
            }
        }
        self.write_lrs(&empty, NeedMaintenance::No);
    }
}

/// ICC_SGI1R_EL1 for SGI `intid` to the CPU with affinity `mpidr` (Aff0 below 16).
fn sgi1r_value(mpidr: u64, intid: u32) -> u64 {
    let (aff0, aff1, aff2, aff3) = (mpidr & 0xf, (mpidr >> 8) & 0xff, (mpidr >> 16) & 0xff, (mpidr >> 32) & 0xff);
    aff3 << 48 | aff2 << 32 | u64::from(intid & 0xf) << 24 | aff1 << 16 | 1 << aff0
}

/// Makes the model's updates visible before another CPU is told to look at them.
fn barrier() {
    #[cfg(target_arch = "aarch64")]
    aarch64_cpu::asm::barrier::dsb(aarch64_cpu::asm::barrier::ISH);
}

/// Sleeps until an interrupt is pending (PSTATE.I stays set: nothing is taken at EL2).
pub fn wait() {
    #[cfg(target_arch = "aarch64")]
    aarch64_cpu::asm::wfi();
}

#[cfg(target_arch = "aarch64")]
#[path = "irq_sys.rs"]
mod sys;

#[path = "irq_cpuif.rs"]
mod cpuif;
pub use cpuif::{Ack, Cpuif, Interface, V2, V3};

/// Host builds (unit tests): no GIC.
#[cfg(not(target_arch = "aarch64"))]
mod sys {
    pub fn v3_cpu_interface_on() {}
    pub fn v3_virtual_reset() {}
    pub fn iar1() -> u32 {
        1023
    }
    pub fn eoir1(_: u32) {}
    pub fn dir(_: u32) {}
    pub fn sgi1r(_: u64) {}
    pub fn ich_lr(_: usize) -> u64 {
        0
    }
    pub fn set_ich_lr(_: usize, _: u64) {}
    pub fn set_ich_hcr(_: bool, _: bool) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sgi1r_targets_one_cpu_by_affinity() {
        assert_eq!(sgi1r_value(0x2, KICK), 1 << 2);
        assert_eq!(sgi1r_value(0x01_0003_0201, 5), 1 << 48 | 3 << 32 | 5 << 24 | 2 << 16 | 1 << 1);
    }

    #[test]
    fn a_host_needs_every_window() {
        assert!(Host::new(Version::V3, [0x800_0000, 0x80a_0000, 0, 0], 4).is_some());
        assert!(Host::new(Version::V2, [0x800_0000, 0x801_0000, 0x803_0000, 0], 4).is_none(), "no GICV");
        assert_eq!(Host::new(Version::V2, [1, 2, 3, 4], 64).map(|h| h.lrs), Some(MAX_LRS));
    }
}
