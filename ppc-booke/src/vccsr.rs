//! The CCSR registers a partition may touch besides its console and power-off GPIO, as a
//! pure model: the partition never reaches the real CCSR (the shadow TLB maps only its
//! memory), so every access arrives here decoded, and what is not listed below stays a
//! fault for the partition's policy.
//!
//! Firmware written for the bare SoC (U-Boot's qemu-ppce500 board) reads and writes a few
//! SoC registers while it starts. Each one answered here, with why:
//!
//! | offset | register | model | why |
//! |---|---|---|---|
//! | 0x5000-0x5fff | eLBC (local bus controller: BRn/ORn, LCRR, ...) | reads 0, writes ignored | the partition has no local bus; QEMU's ppce500 has no eLBC either (its reads fail and return 0), so U-Boot prints the same `LBC: unknown (LCRR[CLKDIV] = 0x00)` as natively; BRn[V] = 0 says no bank is valid |
//!
//! The MPIC window (0x40000-0x7ffff, including the GCR U-Boot resets while it starts) is
//! the partition's own model, [`crate::vmpic`]; it is not answered here.
//!
//! Register widths: 32 bits, big-endian, accessed as words (the eLBC window also answers
//! byte and halfword reads as 0).

use hv::exit::Width;

/// Offset of the eLBC block in CCSR, and its size.
const LBC: u64 = 0x5000;
const LBC_SIZE: u64 = 0x1000;

/// What an access to the modelled registers does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A load: this value.
    Value(u32),
    /// A store, absorbed by the model.
    Stored,
}

/// The partition's view of the modelled CCSR registers (guest-physical `base`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VirtualCcsr {
    base: u64,
}

impl VirtualCcsr {
    pub const fn new(base: u64) -> Self {
        VirtualCcsr { base }
    }

    /// `None` if `gpa` is none of the modelled registers or the access has a width or
    /// alignment the register does not take: the caller refuses it.
    pub fn access(&mut self, gpa: u64, width: Width, store: Option<u32>) -> Option<Outcome> {
        let offset = gpa.checked_sub(self.base)?;
        if offset % width.bytes() != 0 {
            return None;
        }
        if (LBC..LBC + LBC_SIZE).contains(&offset) && width != Width::Double {
            return Some(match store {
                None => Outcome::Value(0),
                Some(_) => Outcome::Stored,
            });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CCSR: u64 = 0xf_e000_0000;

    #[test]
    fn local_bus_reads_as_absent() {
        let mut c = VirtualCcsr::new(CCSR);
        assert_eq!(c.access(CCSR + 0x5008, Width::Word, None), Some(Outcome::Value(0)), "BR1");
        assert_eq!(c.access(CCSR + 0x50d4, Width::Word, None), Some(Outcome::Value(0)), "LCRR");
        assert_eq!(c.access(CCSR + 0x5000, Width::Word, Some(0x1001)), Some(Outcome::Stored));
        assert_eq!(c.access(CCSR + 0x5000, Width::Word, None), Some(Outcome::Value(0)), "writes ignored");
        assert_eq!(c.access(CCSR + 0x5001, Width::Byte, None), Some(Outcome::Value(0)));
        assert_eq!(c.access(CCSR + 0x5002, Width::Word, None), None, "misaligned");
    }

    #[test]
    fn everything_else_is_refused() {
        let mut c = VirtualCcsr::new(CCSR);
        for off in [0x0, 0x4500, 0x4_1020, 0x2_0000, 0x4_0000, 0x4_1000, 0x6_0000, 0xe_0000, 0x8000] {
            assert_eq!(c.access(CCSR + off, Width::Word, None), None, "{off:#x}");
        }
        assert_eq!(c.access(CCSR - 4, Width::Word, None), None);
        assert_eq!(c.access(0, Width::Word, Some(0)), None);
    }
}
