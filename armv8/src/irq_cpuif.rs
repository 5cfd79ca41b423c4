//! This CPU's interrupt interface, one type per GIC version ([`Cpuif`]): acknowledge,
//! priority drop and the list registers as raw values. [`super::Local`] dispatches on the
//! version at every call; the IRQ exit's fast path picks the version once
//! ([`super::Local::interface`]) and then runs straight-line register accesses.

use super::{sys, SPECIAL};
use core::num::NonZeroU64;
use crate::gic::{GiccRegisters, GichRegisters};
use crate::vgic::lr;
use tock_registers::interfaces::{Readable, Writeable};

/// An acknowledged interrupt: its INTID, and the raw IAR value EOI and DIR want back.
/// Packed (INTID in bits 62:32, the IAR value in 31:0, bit 63 set) so that an
/// `Option<Ack>` is one register on the IRQ exit's path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ack(NonZeroU64);

const ACK_MARK: u64 = 1 << 63;

impl Ack {
    #[inline(always)] // the IRQ exit's path
    pub(super) fn new(intid: u32, raw: u32) -> Ack {
        Ack(NonZeroU64::new(ACK_MARK | u64::from(intid) << 32 | u64::from(raw)).unwrap_or(NonZeroU64::MIN))
    }

    #[inline(always)] // the IRQ exit's path
    pub fn intid(self) -> u32 {
        ((self.0.get() & !ACK_MARK) >> 32) as u32
    }

    #[inline(always)] // the IRQ exit's path
    pub(super) fn raw(self) -> u32 {
        self.0.get() as u32
    }
}

/// One GIC version's CPU interface and list registers.
pub trait Cpuif {
    /// The State field of a raw list register (the guest's acknowledge and EOI change
    /// only this).
    const LR_STATE: u64;
    /// The IAR's interrupt ID field.
    const IAR_ID: u32;
    /// Acknowledges the highest-priority pending interrupt: the raw IAR value (a PPI's is
    /// its INTID).
    fn iar(&self) -> u32;
    /// Acknowledges the highest-priority pending interrupt, if any (not a special INTID).
    #[inline(always)]
    fn ack(&self) -> Option<Ack> {
        Self::acked(self.iar())
    }
    /// The acknowledge that IAR value `raw` stands for, if any.
    #[inline(always)]
    fn acked(raw: u32) -> Option<Ack> {
        let intid = raw & Self::IAR_ID;
        (intid < SPECIAL).then(|| Ack::new(intid, raw))
    }
    /// Drops the running priority (EOImode = 1: the interrupt stays active).
    fn eoi(&self, a: Ack);
    /// List register `n` as the hardware holds it (0 beyond the last).
    fn read_lr(&self, n: usize) -> u64;
    /// Writes list register `n` in the hardware's layout (nothing beyond the last).
    fn write_lr(&self, n: usize, raw: u64);
}

/// GICv3: the ICC_* and ICH_* system registers.
pub struct V3;

/// GICv2: this CPU's banked GICC and GICH frames.
pub struct V2 {
    pub(super) gicc: &'static GiccRegisters,
    pub(super) gich: &'static GichRegisters,
}

/// The interface of this CPU's GIC version.
pub enum Interface {
    V3(V3),
    V2(V2),
}

impl Cpuif for V3 {
    const LR_STATE: u64 = lr::ICH_LR_STATE;
    /// ICC_IAR1_EL1: INTID in bits 23:0.
    const IAR_ID: u32 = 0xff_ffff;
    #[inline(always)]
    fn iar(&self) -> u32 {
        sys::iar1()
    }
    #[inline(always)]
    fn eoi(&self, a: Ack) {
        sys::eoir1(a.raw());
    }
    #[inline(always)]
    fn read_lr(&self, n: usize) -> u64 {
        sys::ich_lr(n)
    }
    #[inline(always)]
    fn write_lr(&self, n: usize, raw: u64) {
        sys::set_ich_lr(n, raw);
    }
}

impl Cpuif for V2 {
    const LR_STATE: u64 = lr::GICH_LR_STATE as u64;
    /// GICC_IAR: interrupt ID in bits 9:0 (CPUID of an SGI's requester above it).
    const IAR_ID: u32 = 0x3ff;
    #[inline(always)]
    fn iar(&self) -> u32 {
        self.gicc.iar.get()
    }
    #[inline(always)]
    fn eoi(&self, a: Ack) {
        self.gicc.eoir.set(a.raw());
    }
    #[inline(always)]
    fn read_lr(&self, n: usize) -> u64 {
        self.gich.lr.get(n).map_or(0, |r| u64::from(r.get()))
    }
    #[inline(always)]
    fn write_lr(&self, n: usize, raw: u64) {
        if let Some(r) = self.gich.lr.get(n) {
            r.set(raw as u32);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ack_keeps_its_intid_and_raw_value() {
        let a = Ack::new(1019, 0x1c00 | 1019);
        assert_eq!((a.intid(), a.raw()), (1019, 0x1c00 | 1019));
        assert_eq!((Ack::new(0, 0).intid(), Ack::new(0, 0).raw()), (0, 0));
        assert_eq!(core::mem::size_of::<Option<Ack>>(), 8);
    }
}
