//! The partition's MPIC (Freescale OpenPIC, MPC8544 / QEMU's `fsl,mpic` 2.0) as a pure
//! model: the register window the guest sees at CCSR+0x40000 with only the interrupt
//! sources its devices own. No hardware access; the glue (`guest.rs`, `trap/exits.rs`,
//! [`crate::mpic`]) feeds it decoded accesses and physical interrupts and carries out
//! what it asks (the guest's external input, masking at the real MPIC).
//!
//! References: MPC8544E PowerQUICC III Integrated Processor Reference Manual, chapter 10
//! (Programmable Interrupt Controller); QEMU's `hw/intc/openpic.c` (the hardware emulated
//! here, FSL MPIC 2.0 model). Offsets below are from the MPIC base (CCSR + 0x40000).
//!
//! | register | offset | model |
//! |---|---|---|
//! | BRR1 | 0x0_0000 | 0x0040_0200 (FSL MPIC 2.0) |
//! | FRR | 0x0_1000 | NIRQ = highest owned source, NCPU = vCPUs − 1, VID = 2 |
//! | GCR | 0x0_1020 | RESET resets the model and reads 0 at once; mode bits 1-2 kept |
//! | VIR | 0x0_1080 | 0 (generic vendor) |
//! | PIR | 0x0_1090 | the bits of the partition's vCPUs are stored; no core is reset |
//! | SVR | 0x0_10E0 | spurious vector, 16 bits (reset 0xFFFF) |
//! | CTPR, WHOAMI, IACK, EOI | 0x0_0080/90/A0/B0 (this vCPU), 0x2_0080.. + 0x1000 × n | per vCPU |
//! | IVPR n | 0x1_0000 + 0x20 × n | MSK, A (read-only), polarity, sense, priority, vector |
//! | IDR n | 0x1_0010 + 0x20 × n | EP, CI and P bits of the partition's vCPUs |
//!
//! Everything else in the 256 KiB window (IPI and timer registers, MSI, summary, other
//! CPUs' blocks, reserved words) reads 0 and ignores writes. Accesses are aligned 32-bit
//! words; anything else is [`Outcome::Bad`] (the partition's fault policy).
//!
//! Sources the partition does not own have no storage: their registers read 0, and a
//! write to them is ignored and reported once ([`Outcome::Written`] `denied`).

use hv::exit::Width;

/// Offset of the MPIC in CCSR, and the size of its window.
pub const CCSR_OFFSET: u64 = 0x4_0000;
pub const WINDOW: u64 = 0x4_0000;
/// Source register sets in the window (external 0-11, internal 16-79, MSI 224-231 on the
/// MPC8544; the window has room for 256).
pub const SOURCES: u32 = 256;
/// Sources one partition may own.
pub const MAX_OWNED: usize = 16;
/// vCPUs one model serves.
pub const MAX_VCPUS: usize = 2;

/// Register offsets from the MPIC base, and their bits (also used for the real MPIC).
pub mod reg {
    pub const BRR1: u64 = 0x0;
    pub const FRR: u64 = 0x1000;
    pub const GCR: u64 = 0x1020;
    pub const VIR: u64 = 0x1080;
    pub const PIR: u64 = 0x1090;
    pub const SVR: u64 = 0x10e0;
    /// Per-CPU registers: the accessing CPU's at these offsets, CPU n's at
    /// `CPU_BASE + CPU_STRIDE × n +` the same offsets.
    pub const CTPR: u64 = 0x80;
    pub const WHOAMI: u64 = 0x90;
    pub const IACK: u64 = 0xa0;
    pub const EOI: u64 = 0xb0;
    pub const CPU_BASE: u64 = 0x2_0000;
    pub const CPU_STRIDE: u64 = 0x1000;
    /// Source n: IVPR at `SRC_BASE + SRC_STRIDE × n`, IDR 0x10 above it.
    pub const SRC_BASE: u64 = 0x1_0000;
    pub const SRC_STRIDE: u64 = 0x20;
    pub const SRC_IDR: u64 = 0x10;

    /// BRR1 of the FSL MPIC 2.0 (IPID 0x40, major 2, minor 0), as QEMU reports it.
    pub const BRR1_VALUE: u32 = 0x0040_0200;
    pub const FRR_NIRQ_SHIFT: u32 = 16;
    pub const FRR_NCPU_SHIFT: u32 = 8;
    /// FRR[VID]: OpenPIC 1.2.
    pub const FRR_VID: u32 = 2;
    pub const GCR_RESET: u32 = 0x8000_0000;
    pub const GCR_MODE: u32 = 0x6000_0000;
    pub const GCR_MODE_MIXED: u32 = 0x2000_0000;
    pub const IVPR_MSK: u32 = 0x8000_0000;
    pub const IVPR_A: u32 = 0x4000_0000;
    pub const IVPR_POLARITY: u32 = 0x0080_0000;
    pub const IVPR_SENSE: u32 = 0x0040_0000;
    pub const IVPR_PRIORITY_SHIFT: u32 = 16;
    pub const IVPR_PRIORITY: u32 = 0xf << IVPR_PRIORITY_SHIFT;
    pub const IVPR_VECTOR: u32 = 0xffff;
    /// IDR: external pin, critical interrupt to CPU n = bit 30 − n, interrupt to CPU n = bit n.
    pub const IDR_EP: u32 = 0x8000_0000;
    pub const IDR_CI0_SHIFT: u32 = 30;
    pub const CTPR_MASK: u32 = 0xf;
    /// CTPR after reset: everything masked.
    pub const CTPR_RESET: u32 = 0xf;
    pub const SPURIOUS_RESET: u32 = 0xffff;
}
use reg::*;

/// What an access did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A load: this value.
    Read(u32),
    /// A store, done; `denied`: the source it tried to change, which the partition does
    /// not own (nothing changed).
    Written { denied: Option<u32> },
    /// Not an aligned word inside the window: a fault for the partition's policy.
    Bad,
}

/// The state of one owned source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Source {
    number: u16,
    /// MSK, polarity, sense, priority, vector (A is computed).
    ivpr: u32,
    idr: u32,
    pending: bool,
    /// Bit n: in service on vCPU n.
    in_service: u8,
}

impl Source {
    const fn reset(number: u16) -> Self {
        Source { number, ivpr: IVPR_MSK, idr: 1, pending: false, in_service: 0 }
    }
    fn priority(&self) -> u32 {
        (self.ivpr & IVPR_PRIORITY) >> IVPR_PRIORITY_SHIFT
    }
    fn masked(&self) -> bool {
        self.ivpr & IVPR_MSK != 0
    }
}

/// One partition's MPIC.
#[derive(Clone, Debug)]
pub struct Vmpic {
    vcpus: usize,
    sources: [Source; MAX_OWNED],
    owned: usize,
    gcr: u32,
    pir: u32,
    spurious: u32,
    ctpr: [u32; MAX_VCPUS],
}

impl Vmpic {
    /// A model serving `vcpus` vCPUs (1..=[`MAX_VCPUS`]; clamped) owning `sources` (each
    /// below [`SOURCES`]; others, duplicates and any beyond [`MAX_OWNED`] are left out).
    pub fn new(vcpus: usize, sources: impl IntoIterator<Item = u32>) -> Self {
        let mut m = Vmpic::empty(vcpus);
        for s in sources {
            m.own(s);
        }
        m
    }

    /// A model serving `vcpus` vCPUs that owns no source yet.
    pub fn empty(vcpus: usize) -> Self {
        Vmpic {
            vcpus: vcpus.clamp(1, MAX_VCPUS),
            sources: [Source::reset(0); MAX_OWNED],
            owned: 0,
            gcr: 0,
            pir: 0,
            spurious: SPURIOUS_RESET,
            ctpr: [CTPR_RESET; MAX_VCPUS],
        }
    }

    /// Gives the partition source `s` (ignored past [`SOURCES`], beyond [`MAX_OWNED`]
    /// sources, or if owned already). Slot order is source order: equal priorities go to
    /// the lowest source, as in QEMU.
    #[inline(never)]
    pub fn own(&mut self, s: u32) {
        if s >= SOURCES || self.owned >= MAX_OWNED || self.slot(s).is_some() {
            return;
        }
        // Insertion: the slots above `s` move up one.
        let mut i = self.owned;
        while i > 0 && u32::from(self.sources[i - 1].number) > s {
            self.sources[i] = self.sources[i - 1];
            i -= 1;
        }
        self.sources[i] = Source::reset(s as u16);
        self.owned += 1;
    }

    /// Back to the reset state (partition restart, GCR[RESET]); ownership stays.
    pub fn reset(&mut self) {
        for s in &mut self.sources[..self.owned] {
            *s = Source::reset(s.number);
        }
        self.gcr = 0;
        self.pir = 0;
        self.spurious = SPURIOUS_RESET;
        self.ctpr = [CTPR_RESET; MAX_VCPUS];
    }

    /// The sources the partition owns, in slot order (ascending).
    pub fn owned(&self) -> impl Iterator<Item = u32> + '_ {
        self.sources[..self.owned].iter().map(|s| u32::from(s.number))
    }

    fn slot(&self, source: u32) -> Option<usize> {
        self.sources[..self.owned].iter().position(|s| u32::from(s.number) == source)
    }

    /// A physical interrupt of `source` arrived: it becomes pending. `false` (nothing
    /// changed) if the partition does not own it.
    pub fn raise(&mut self, source: u32) -> bool {
        match self.slot(source) {
            Some(i) => {
                self.sources[i].pending = true;
                true
            }
            None => false,
        }
    }

    /// Whether vCPU `vcpu`'s external input is asserted: a source routed to it is pending,
    /// unmasked, above its CTPR and above everything in service on it.
    pub fn output(&self, vcpu: usize) -> bool {
        self.deliverable(vcpu).is_some()
    }

    /// Bit i (slot order of [`Vmpic::owned`]): the real source may be unmasked, as
    /// nothing of it waits in the model (not masked, pending or in service). The glue
    /// keeps a source masked at the real MPIC from its arrival to the guest's EOI, so a
    /// level-triggered source that still asserts fires again only after the EOI.
    pub fn hw_unmasked(&self) -> u32 {
        self.sources[..self.owned]
            .iter()
            .enumerate()
            .filter(|(_, s)| !s.masked() && !s.pending && s.in_service == 0)
            .fold(0, |acc, (i, _)| acc | 1 << i)
    }

    /// The vCPU a source is delivered to: the lowest one its IDR names.
    fn target(&self, s: &Source) -> Option<usize> {
        (0..self.vcpus).find(|&c| s.idr & 1 << c != 0)
    }

    /// Highest priority in service on `vcpu` (-1: none), and the slot holding it.
    fn in_service(&self, vcpu: usize) -> (i32, Option<usize>) {
        let mut best = (-1, None);
        for (i, s) in self.sources[..self.owned].iter().enumerate() {
            if s.in_service & 1 << vcpu != 0 && s.priority() as i32 > best.0 {
                best = (s.priority() as i32, Some(i));
            }
        }
        best
    }

    /// The slot `vcpu`'s IACK would take now.
    fn deliverable(&self, vcpu: usize) -> Option<usize> {
        let ctpr = *self.ctpr.get(vcpu)?;
        let mut best: Option<(u32, usize)> = None;
        for (i, s) in self.sources[..self.owned].iter().enumerate() {
            let p = s.priority();
            if s.pending && !s.masked() && p > ctpr && self.target(s) == Some(vcpu) && best.is_none_or(|(bp, _)| p > bp) {
                best = Some((p, i));
            }
        }
        let (p, i) = best?;
        (p as i32 > self.in_service(vcpu).0).then_some(i)
    }

    fn iack(&mut self, vcpu: usize) -> u32 {
        match self.deliverable(vcpu) {
            Some(i) => {
                let s = &mut self.sources[i];
                s.pending = false;
                s.in_service |= 1 << vcpu;
                s.ivpr & IVPR_VECTOR
            }
            None => self.spurious,
        }
    }

    fn eoi(&mut self, vcpu: usize) {
        if let (_, Some(i)) = self.in_service(vcpu) {
            self.sources[i].in_service &= !(1 << vcpu);
        }
    }

    /// An access by vCPU `vcpu` at `offset` from the MPIC base; `store`: the value written.
    pub fn access(&mut self, vcpu: usize, offset: u64, width: Width, store: Option<u32>) -> Outcome {
        if width != Width::Word || !offset.is_multiple_of(4) || offset >= WINDOW || vcpu >= self.vcpus {
            return Outcome::Bad;
        }
        let done = Outcome::Written { denied: None };
        // Per-CPU registers: this vCPU's alias, or a vCPU's own block.
        let cpu = if (CTPR..=EOI).contains(&offset) {
            Some((vcpu, offset))
        } else if offset >= CPU_BASE {
            let n = ((offset - CPU_BASE) / CPU_STRIDE) as usize;
            let r = (offset - CPU_BASE) % CPU_STRIDE;
            (n < self.vcpus && (CTPR..=EOI).contains(&r)).then_some((n, r))
        } else {
            None
        };
        if let Some((n, r)) = cpu {
            return match (r, store) {
                (CTPR, None) => Outcome::Read(self.ctpr[n]),
                (CTPR, Some(v)) => {
                    self.ctpr[n] = v & CTPR_MASK;
                    done
                }
                (WHOAMI, None) => Outcome::Read(n as u32),
                (IACK, None) => Outcome::Read(self.iack(n)),
                (EOI, Some(_)) => {
                    self.eoi(n);
                    done
                }
                (_, None) => Outcome::Read(0),
                (_, Some(_)) => done,
            };
        }
        if (SRC_BASE..SRC_BASE + SRC_STRIDE * u64::from(SOURCES)).contains(&offset) {
            return self.source_access(offset - SRC_BASE, store);
        }
        let cpus_mask = (1u32 << self.vcpus) - 1;
        match (offset, store) {
            (BRR1, None) => Outcome::Read(BRR1_VALUE),
            (FRR, None) => {
                let nirq = self.owned().max().unwrap_or(0);
                Outcome::Read(nirq << FRR_NIRQ_SHIFT | (self.vcpus as u32 - 1) << FRR_NCPU_SHIFT | FRR_VID)
            }
            (GCR, None) => Outcome::Read(self.gcr),
            (GCR, Some(v)) => {
                if v & GCR_RESET != 0 {
                    self.reset();
                } else {
                    self.gcr = v & GCR_MODE;
                }
                done
            }
            (VIR, None) => Outcome::Read(0),
            (PIR, None) => Outcome::Read(self.pir),
            (PIR, Some(v)) => {
                self.pir = v & cpus_mask;
                done
            }
            (SVR, None) => Outcome::Read(self.spurious),
            (SVR, Some(v)) => {
                self.spurious = v & IVPR_VECTOR;
                done
            }
            (_, None) => Outcome::Read(0),
            (_, Some(_)) => done,
        }
    }

    /// IVPR/IDR of source `rel / SRC_STRIDE`.
    fn source_access(&mut self, rel: u64, store: Option<u32>) -> Outcome {
        let number = (rel / SRC_STRIDE) as u32;
        let r = rel % SRC_STRIDE;
        if r != 0 && r != SRC_IDR {
            // Reserved words of the set.
            return if store.is_some() { Outcome::Written { denied: None } } else { Outcome::Read(0) };
        }
        let Some(i) = self.slot(number) else {
            return match store {
                None => Outcome::Read(0),
                Some(_) => Outcome::Written { denied: Some(number) },
            };
        };
        let cpus = (1u32 << self.vcpus) - 1;
        let idr_mask = IDR_EP | cpus | (0..self.vcpus).fold(0, |m, c| m | 1 << (IDR_CI0_SHIFT - c as u32));
        let a = self.activity(i);
        let s = &mut self.sources[i];
        match (r, store) {
            (0, None) => Outcome::Read(s.ivpr | a),
            (0, Some(v)) => {
                s.ivpr = v & (IVPR_MSK | IVPR_POLARITY | IVPR_SENSE | IVPR_PRIORITY | IVPR_VECTOR);
                Outcome::Written { denied: None }
            }
            (_, None) => Outcome::Read(s.idr),
            (_, Some(v)) => {
                s.idr = v & idr_mask;
                Outcome::Written { denied: None }
            }
        }
    }

    /// IVPR[A]: the source is pending or in service.
    fn activity(&self, i: usize) -> u32 {
        let s = &self.sources[i];
        if s.pending || s.in_service != 0 {
            IVPR_A
        } else {
            0
        }
    }
}

#[cfg(test)]
mod tests;
