//! The real MPIC, as the hypervisor drives it for partitions' device interrupts, and the
//! forwarding of partitions' device registers that share a page with others.
//!
//! Only sources some partition owns are ever touched: each is routed to the core of its
//! partition (IDR), with the source number as its vector and one fixed priority, and
//! masked (IVPR[MSK]) except while the partition's model ([`crate::vmpic`]) has nothing of
//! it pending or in service. A core accepts interrupts (CTPR 0) only while it runs a
//! partition that owns sources; every other core keeps the reset CTPR of 15 (nothing
//! delivered). Register offsets and bits are [`crate::vmpic::reg`]'s.
//!
//! When a source fires while its partition runs (IVOR4 in the hypervisor), the core
//! acknowledges it (IACK), masks it, ends it at once (EOI) and raises it in the model; the
//! guest's own EOI later lets the model unmask it again. One scheme for both trigger
//! modes: a level-triggered source that still asserts fires again after the guest's EOI,
//! an edge that came while masked is held pending by the MPIC.

use crate::vmpic::reg::*;
use crate::vmpic::SOURCES;
use hv::exit::Width;

/// The priority of every routed source (anything above CTPR 0 works: one source is in
/// service at the real MPIC only between its IACK and EOI, both on the trap path).
const PRIORITY: u32 = 8;

/// The real MPIC through the hypervisor's mapping of CCSR.
#[derive(Clone, Copy, Debug)]
pub struct Mpic {
    base: usize,
}

impl Mpic {
    /// The MPIC whose register window starts at hypervisor address `base`.
    ///
    /// # Safety
    /// `base` maps the MPIC's 256 KiB window (cache-inhibited, guarded) for as long as the
    /// value is used, and only the hypervisor touches the real MPIC.
    pub const unsafe fn new(base: usize) -> Self {
        Mpic { base }
    }

    fn read(&self, offset: u64) -> u32 {
        // SAFETY: inside the window `new`'s caller guarantees; an aligned register.
        unsafe { core::ptr::read_volatile((self.base + offset as usize) as *const u32) }
    }

    fn write(&self, offset: u64, value: u32) {
        // SAFETY: as in `read`.
        unsafe { core::ptr::write_volatile((self.base + offset as usize) as *mut u32, value) }
    }

    fn ivpr(source: u32) -> u64 {
        SRC_BASE + SRC_STRIDE * u64::from(source % SOURCES)
    }

    /// Routes `source` to physical CPU `cpu`, masked, vector = source number.
    pub fn route(&self, source: u32, cpu: u32) {
        self.write(Self::ivpr(source), IVPR_MSK | PRIORITY << IVPR_PRIORITY_SHIFT | (source % SOURCES));
        self.write(Self::ivpr(source) + SRC_IDR, 1 << (cpu % 32));
    }

    /// Masks or unmasks `source` (read-modify-write of its IVPR: only its owner's core
    /// writes it).
    pub fn set_masked(&self, source: u32, masked: bool) {
        let v = self.read(Self::ivpr(source)) & !IVPR_A;
        self.write(Self::ivpr(source), if masked { v | IVPR_MSK } else { v & !IVPR_MSK });
    }

    /// This core takes interrupts from the MPIC: mixed mode (the MPIC delivers to the
    /// cores' int inputs), CTPR 0.
    pub fn open_this_cpu(&self) {
        let gcr = self.read(GCR);
        if gcr & GCR_MODE == 0 {
            self.write(GCR, gcr | GCR_MODE_MIXED);
        }
        self.write(CTPR, 0);
    }

    /// This core takes no more interrupts from the MPIC (its partition stopped).
    pub fn close_this_cpu(&self) {
        self.write(CTPR, CTPR_RESET);
    }

    /// IACK: the source now in service at this core, or `None` (spurious vector).
    pub fn acknowledge(&self) -> Option<u32> {
        Some(self.read(IACK) & IVPR_VECTOR).filter(|&v| v < SOURCES)
    }

    /// EOI: ends the interrupt in service at this core.
    pub fn eoi(&self) {
        self.write(EOI, 0);
    }
}

/// Performs a partition's access to a register of a device it owns whose range is not a
/// whole page (the shadow TLB maps only whole pages), at hypervisor address `va`.
///
/// # Safety
/// `va` maps the device's register, width-aligned, and the partition owns that register.
pub unsafe fn forward(va: usize, width: Width, store: Option<u64>) -> u64 {
    // SAFETY: the caller's contract.
    unsafe {
        match (width, store) {
            (Width::Byte, None) => u64::from(core::ptr::read_volatile(va as *const u8)),
            (Width::Half, None) => u64::from(core::ptr::read_volatile(va as *const u16)),
            (Width::Word | Width::Double, None) => u64::from(core::ptr::read_volatile(va as *const u32)),
            (Width::Byte, Some(v)) => {
                core::ptr::write_volatile(va as *mut u8, v as u8);
                0
            }
            (Width::Half, Some(v)) => {
                core::ptr::write_volatile(va as *mut u16, v as u16);
                0
            }
            (Width::Word | Width::Double, Some(v)) => {
                core::ptr::write_volatile(va as *mut u32, v as u32);
                0
            }
        }
    }
}
