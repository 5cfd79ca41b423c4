//! A partition vCPU's legacy interrupt controller: the PC's two 8259s (master at ports
//! 0x20/0x21, slave at 0xa0/0xa1, cascaded on line 2), through which the partition takes
//! the interrupts of its passthrough devices. Pure state; [`crate::vcpu`] traps the ports,
//! [`VPic::raise`]s a line when the device's physical interrupt exits, and injects
//! [`VPic::acknowledge`]'s vector before a VM entry when the guest can take it.
//!
//! Why the 8259: it is what every small PC kernel programs for ISA interrupts (vector base
//! from ICW2, masks, EOI), its registers are ports (an exit names port, width and value: no
//! instruction to decode), and on Bochs it reaches the CPU whatever the local APIC's LINT0
//! says (its BIOS leaves LINT0 masked). The vector is the guest's own: ICW2's base plus the
//! line.
//!
//! Modelled: the initialisation sequence (ICW1..ICW4: vector base, auto-EOI), the masks
//! (OCW1), EOIs (OCW2: non-specific and specific; rotation and priority commands are
//! accepted and change nothing: priorities stay fixed, line 0 highest), IRR/ISR reads
//! (OCW3), fully nested priorities across the cascade. Requests are edges, latched in IRR
//! as the 8259 latches them (ICW1's level-triggered mode is not modelled: the board's ISA
//! lines are edge-triggered).
//!
//! Lines the partition does not own (it owns those of its passthrough devices) stay
//! masked: a write unmasking one is ignored for that line and reported
//! ([`hv::exit::Refusal::PicLine`]); nothing ever raises it. The cascade line counts as
//! owned when a slave line is.

/// The master's cascade line.
const CASCADE: u8 = 1 << 2;
/// ICW1 (command port, bit 4): initialisation; bit 0: ICW4 follows; bit 1: single PIC (no
/// ICW3).
const ICW1: u8 = 1 << 4;
const ICW1_ICW4: u8 = 1 << 0;
const ICW1_SINGLE: u8 = 1 << 1;
/// ICW4 bit 1: automatic EOI.
const ICW4_AUTO_EOI: u8 = 1 << 1;
/// OCW3 (command port, bit 3 with bit 4 clear): bit 1 selects a register for reads, bit 0
/// which (1 ISR, 0 IRR).
const OCW3: u8 = 1 << 3;
const OCW3_READ: u8 = 1 << 1;
const OCW3_ISR: u8 = 1 << 0;
/// OCW2: bit 5 EOI, bit 6 specific (line in bits 2:0).
const OCW2_EOI: u8 = 1 << 5;
const OCW2_SPECIFIC: u8 = 1 << 6;
/// ICW2's vector base: bits 7:3.
const VECTOR_BASE: u8 = 0xf8;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Pic {
    /// The mask as the guest wrote it; [`VPic`] adds the lines it does not own.
    imr: u8,
    irr: u8,
    isr: u8,
    base: u8,
    /// Initialisation words still expected on the data port: bit 0 ICW2, 1 ICW3, 2 ICW4.
    icws: u8,
    auto_eoi: bool,
    read_isr: bool,
}

impl Pic {
    /// The line this PIC interrupts with: its highest-priority unmasked request (`extra`:
    /// the slave's, on the cascade line), if above every line in service.
    fn request(&self, imr: u8, extra: u8) -> Option<u8> {
        let line = ((self.irr | extra) & !imr).trailing_zeros();
        (line < self.isr.trailing_zeros()).then_some(line as u8)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VPic {
    pics: [Pic; 2],
    /// Bit n: the partition owns IRQ n.
    owned: u16,
}

impl VPic {
    /// At reset: both PICs masked, vector bases 0; `owned`: bit n for each IRQ n the
    /// partition's devices have.
    pub const fn new(owned: u16) -> Self {
        let cascade = if owned >> 8 != 0 { CASCADE as u16 } else { 0 };
        let pic = Pic { imr: 0xff, irr: 0, isr: 0, base: 0, icws: 0, auto_eoi: false, read_isr: false };
        VPic { pics: [pic; 2], owned: owned | cascade }
    }

    /// Back to the reset state (a partition restart), owning the same lines.
    pub fn reset(&mut self) {
        *self = VPic::new(self.owned);
    }

    /// The mask PIC `pic` applies: the guest's, and every line the partition does not own.
    fn imr(&self, pic: usize) -> u8 {
        self.pics[pic].imr | !(self.owned >> (8 * pic)) as u8
    }

    /// A write to PIC `pic`'s command (`offset` 0) or data (1) port; `Err(irq)`: the write
    /// tried to unmask IRQ `irq` (the first), which the partition does not own; the rest of
    /// it took effect.
    pub fn write(&mut self, pic: usize, offset: u16, value: u8) -> Result<(), u32> {
        let pic = pic & 1;
        let unowned = !(self.owned >> (8 * pic)) as u8;
        let p = &mut self.pics[pic];
        match offset {
            0 if value & ICW1 != 0 => {
                let icw3 = if value & ICW1_SINGLE == 0 { 2 } else { 0 };
                let icw4 = if value & ICW1_ICW4 != 0 { 4 } else { 0 };
                *p = Pic { icws: 1 | icw3 | icw4, base: p.base, irr: p.irr, ..Pic::default() };
            }
            0 if value & OCW3 != 0 => {
                if value & OCW3_READ != 0 {
                    p.read_isr = value & OCW3_ISR != 0;
                }
            }
            0 if value & OCW2_EOI != 0 => {
                let line = if value & OCW2_SPECIFIC != 0 { 1 << (value & 7) } else { p.isr & p.isr.wrapping_neg() };
                p.isr &= !line;
            }
            0 => {} // rotation and priority commands: fixed priorities stay
            _ if p.icws != 0 => {
                match p.icws.trailing_zeros() {
                    0 => p.base = value & VECTOR_BASE,
                    2 => p.auto_eoi = value & ICW4_AUTO_EOI != 0,
                    _ => {} // ICW3: the cascade wiring is the PC's
                }
                p.icws &= p.icws - 1;
            }
            _ => {
                p.imr = value;
                let refused = !value & unowned;
                if refused != 0 {
                    return Err(8 * pic as u32 + refused.trailing_zeros());
                }
            }
        }
        Ok(())
    }

    /// A read of PIC `pic`'s command port (IRR, or ISR as OCW3 chose) or data port (the
    /// mask).
    pub fn read(&self, pic: usize, offset: u16) -> u8 {
        let pic = pic & 1;
        let p = &self.pics[pic];
        match offset {
            0 if p.read_isr => p.isr,
            0 => p.irr,
            _ => self.imr(pic),
        }
    }

    /// IRQ `irq`'s device interrupted (an edge): latched until the guest takes it. Lines
    /// the partition does not own are ignored.
    pub fn raise(&mut self, irq: u8) {
        if irq < 16 && self.owned & !u16::from(CASCADE) & 1 << irq != 0 {
            self.pics[usize::from(irq >> 3)].irr |= 1 << (irq & 7);
        }
    }

    /// Whether some line has a request latched (cheap: the vCPU's check before each entry).
    #[inline(always)]
    pub fn requested(&self) -> bool {
        self.pics[0].irr | self.pics[1].irr != 0
    }

    /// The (PIC, line) that would interrupt the vCPU now, if any.
    fn pending(&self) -> Option<(usize, u8)> {
        let slave = self.pics[1].request(self.imr(1), 0);
        let extra = if slave.is_some() { CASCADE } else { 0 };
        match self.pics[0].request(self.imr(0), extra)? {
            2 if extra != 0 => slave.map(|line| (1, line)),
            line => Some((0, line)),
        }
    }

    /// An interrupt is waiting for the guest to take interrupts again.
    pub fn waiting(&self) -> bool {
        self.pending().is_some()
    }

    /// The guest takes an interrupt (its interrupt flag is set): the vector of the one
    /// pending, now in service (the master's cascade line too, for the slave's).
    pub fn acknowledge(&mut self) -> Option<u8> {
        let (pic, line) = self.pending()?;
        self.pics[pic].service(line);
        if pic == 1 {
            self.pics[0].service(2);
        }
        Some(self.pics[pic].base | line)
    }
}

impl Pic {
    /// Line `line`'s request is taken: in service until its EOI (unless auto-EOI).
    fn service(&mut self, line: u8) {
        let bit = 1 << (line & 7);
        self.irr &= !bit;
        if !self.auto_eoi {
            self.isr |= bit;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The usual set-up: vector bases 0x20 and 0x28, cascade on line 2, 8086 mode; masks.
    fn programmed(owned: u16, masks: [u8; 2]) -> VPic {
        let mut v = VPic::new(owned);
        for (pic, base) in [(0, 0x20), (1, 0x28)] {
            for (off, val) in [(0, 0x11), (1, base), (1, if pic == 0 { 4 } else { 2 }), (1, 0x01)] {
                v.write(pic, off, val).unwrap();
            }
        }
        for (pic, mask) in masks.into_iter().enumerate() {
            let _ = v.write(pic, 1, mask);
        }
        v
    }

    #[test]
    fn an_owned_line_interrupts_at_the_guests_vector_until_its_eoi() {
        let mut v = programmed(1 << 3, [0xf7, 0xff]);
        assert!(!v.waiting());
        v.raise(3);
        assert_eq!(v.read(0, 0), 0x08, "IRR");
        assert!(v.waiting());
        assert_eq!(v.acknowledge(), Some(0x23), "ICW2's base + 3");
        v.write(0, 0, 0x0b).unwrap(); // OCW3: read the ISR
        assert_eq!(v.read(0, 0), 0x08, "in service");
        v.raise(3); // the next edge while in service: latched, not delivered
        assert!(!v.waiting());
        v.write(0, 0, 0x20).unwrap(); // non-specific EOI
        assert_eq!(v.read(0, 0), 0);
        assert_eq!(v.acknowledge(), Some(0x23), "the latched edge, after the EOI");
        v.write(0, 0, 0x63).unwrap(); // specific EOI of line 3
        assert_eq!(v.acknowledge(), None);
    }

    #[test]
    fn masked_lines_wait_and_higher_priorities_nest() {
        let mut v = programmed(1 << 3 | 1 << 4, [0xff, 0xff]);
        v.raise(4);
        assert_eq!(v.acknowledge(), None, "masked: latched only");
        v.write(0, 1, 0xe7).unwrap();
        assert_eq!(v.acknowledge(), Some(0x24));
        v.raise(3);
        assert_eq!(v.acknowledge(), Some(0x23), "line 3 above line 4 in service");
        v.raise(4);
        assert_eq!(v.acknowledge(), None, "line 4 below line 3 in service");
        v.write(0, 0, 0x20).unwrap(); // ends line 3, the highest in service
        assert_eq!(v.acknowledge(), None, "line 4 still in service");
        v.write(0, 0, 0x20).unwrap();
        assert_eq!(v.acknowledge(), Some(0x24));
    }

    #[test]
    fn slave_lines_come_through_the_cascade() {
        let mut v = programmed(1 << 12, [0xfb, 0xef]);
        assert_eq!(v.read(0, 1), 0xfb, "the cascade line is the partition's: it owns a slave line");
        v.raise(12);
        assert_eq!(v.acknowledge(), Some(0x2c));
        v.write(0, 0, 0x0b).unwrap();
        v.write(1, 0, 0x0b).unwrap();
        assert_eq!((v.read(0, 0), v.read(1, 0)), (0x04, 0x10), "the master's line 2 and the slave's line 4");
        v.raise(12);
        assert_eq!(v.acknowledge(), None, "in service on the slave");
        v.write(1, 0, 0x20).unwrap();
        assert_eq!(v.acknowledge(), None, "the master holds further slave interrupts until its own EOI");
        v.write(0, 0, 0x20).unwrap();
        assert_eq!(v.acknowledge(), Some(0x2c));
        let _ = v.write(0, 1, 0xff);
        v.write(1, 0, 0x20).unwrap();
        v.write(0, 0, 0x20).unwrap();
        v.raise(12);
        assert_eq!(v.acknowledge(), None, "the master's cascade line masked");
    }

    #[test]
    fn lines_the_partition_does_not_own_stay_masked_and_silent() {
        let mut v = programmed(1 << 3, [0xf7, 0xff]);
        assert_eq!(v.write(0, 1, 0x00), Err(0), "unmasking IRQ 0 (and others) is refused, IRQ 0 reported");
        assert_eq!(v.read(0, 1), 0xf7, "only the owned line 3 is unmasked");
        assert_eq!(v.write(1, 1, 0xef), Err(12));
        assert_eq!(v.read(1, 1), 0xff);
        assert_eq!(v.read(0, 1) & CASCADE, CASCADE, "no slave line owned: the cascade stays masked");
        v.raise(4);
        v.raise(12);
        assert!(!v.requested() && v.acknowledge().is_none(), "no request from a line it does not own");
        assert_eq!(v.write(0, 1, 0xff), Ok(()), "masking is always fine");
    }

    #[test]
    fn initialisation_resets_masks_and_service_and_auto_eoi_skips_service() {
        let mut v = programmed(1 << 5, [0xdf, 0xff]);
        v.raise(5);
        assert_eq!(v.acknowledge(), Some(0x25));
        // ICW1 single PIC with ICW4 (auto EOI): ICW2 then ICW4, no ICW3.
        for (off, val) in [(0, 0x13), (1, 0x40), (1, 0x03)] {
            v.write(0, off, val).unwrap();
        }
        assert_eq!(v.read(0, 1), 0xdf, "the guest's mask cleared by ICW1: the owned line unmasked");
        v.write(0, 0, 0x0b).unwrap();
        assert_eq!(v.read(0, 0), 0, "nothing in service after ICW1");
        v.raise(5);
        assert_eq!(v.acknowledge(), Some(0x45));
        assert_eq!(v.read(0, 0), 0, "auto EOI: never in service");
        assert_eq!(v.acknowledge(), None);
    }
}
