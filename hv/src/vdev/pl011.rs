//! An emulated ARM PrimeCell PL011 UART: enough of the register set for bare-metal
//! guests, U-Boot, Linux's earlycon and its interrupt-driven amba-pl011 driver. The transmitter is
//! always ready and infinitely fast; received bytes (from the console's input router) wait
//! in a 16-byte FIFO, read through DR, with FR[RXFE] clear while any is there.
//!
//! Interrupts: RIS has the transmit interrupt always set (the FIFO is always empty) and
//! the receive interrupt while a byte waits; the UART's one interrupt line
//! ([`Pl011::irq_level`], UARTINTR) is high while RIS & IMSC is not zero, as on the real
//! part. The run loop re-evaluates it after each access and when input arrives, and the
//! port's interrupt controller follows it (a level-sensitive SPI).
//!
//! Register offsets and identification values follow the PL011 TRM (DDI0183).

use super::Effect;

/// Size of the register window the model answers.
pub const SIZE: u64 = 0x1000;

const DR: u64 = 0x000;
const RSR_ECR: u64 = 0x004;
const FR: u64 = 0x018;
const ILPR: u64 = 0x020;
const IBRD: u64 = 0x024;
const FBRD: u64 = 0x028;
const LCR_H: u64 = 0x02c;
const CR: u64 = 0x030;
const IFLS: u64 = 0x034;
const IMSC: u64 = 0x038;
const RIS: u64 = 0x03c;
const MIS: u64 = 0x040;
const ICR: u64 = 0x044;
const DMACR: u64 = 0x048;
const PERIPH_ID0: u64 = 0xfe0;

/// FR: receive FIFO empty.
const FR_RXFE: u32 = 1 << 4;
/// FR: transmit FIFO empty.
const FR_TXFE: u32 = 1 << 7;
/// RIS/MIS: transmit interrupt (always asserted: the FIFO is always empty).
const INT_TX: u32 = 1 << 5;

/// RIS/MIS: receive interrupt (data waiting).
const INT_RX: u32 = 1 << 4;
/// Depth of the receive FIFO (a PL011's).
pub const RX_FIFO: usize = 16;

/// PeriphID0-3 then CellID0-3 (PL011 r1p5), read by Linux's AMBA bus probe.
const ID: [u32; 8] = [0x11, 0x10, 0x34, 0x00, 0x0d, 0xf0, 0x05, 0xb1];

/// The guest-visible register state.
#[derive(Clone, Debug)]
pub struct Pl011 {
    /// Received bytes not yet read, oldest at `rx_head`.
    rx: [u8; RX_FIFO],
    rx_head: usize,
    rx_len: usize,
    ilpr: u32,
    ibrd: u32,
    fbrd: u32,
    lcr_h: u32,
    cr: u32,
    ifls: u32,
    imsc: u32,
    dmacr: u32,
}

impl Pl011 {
    pub const fn new() -> Self {
        Pl011 { rx: [0; RX_FIFO], rx_head: 0, rx_len: 0, ilpr: 0, ibrd: 0, fbrd: 0, lcr_h: 0, cr: 0x300, ifls: 0x12, imsc: 0, dmacr: 0 }
    }

    /// Room left in the receive FIFO.
    pub fn rx_room(&self) -> usize {
        RX_FIFO - self.rx_len
    }

    /// Bytes arriving on the line: as many as the FIFO has room for are kept; returns how
    /// many.
    pub fn receive(&mut self, bytes: &[u8]) -> usize {
        let n = bytes.len().min(self.rx_room());
        for &b in &bytes[..n] {
            self.rx[(self.rx_head + self.rx_len) % RX_FIFO] = b;
            self.rx_len += 1;
        }
        n
    }

    fn rx_pending(&self) -> u32 {
        if self.rx_len > 0 {
            INT_RX
        } else {
            0
        }
    }

    /// RIS: the raw interrupt status.
    fn ris(&self) -> u32 {
        INT_TX | self.rx_pending()
    }

    /// The interrupt line (UARTINTR): some raw interrupt is unmasked (MIS != 0).
    pub fn irq_level(&self) -> bool {
        self.ris() & self.imsc != 0
    }

    /// A load from register `offset`; reading DR takes the oldest received byte (0 when
    /// there is none). Unknown offsets read as zero (as reserved PL011 registers do).
    pub fn read(&mut self, offset: u64) -> u32 {
        match offset {
            DR if self.rx_len > 0 => {
                let b = self.rx[self.rx_head];
                self.rx_head = (self.rx_head + 1) % RX_FIFO;
                self.rx_len -= 1;
                b.into()
            }
            DR | RSR_ECR => 0,
            FR if self.rx_len > 0 => FR_TXFE,
            FR => FR_TXFE | FR_RXFE,
            ILPR => self.ilpr,
            IBRD => self.ibrd,
            FBRD => self.fbrd,
            LCR_H => self.lcr_h,
            CR => self.cr,
            IFLS => self.ifls,
            IMSC => self.imsc,
            RIS => self.ris(),
            MIS => self.ris() & self.imsc,
            DMACR => self.dmacr,
            o if (PERIPH_ID0..PERIPH_ID0 + 0x20).contains(&o) && o % 4 == 0 => {
                ID[((o - PERIPH_ID0) / 4) as usize]
            }
            _ => 0,
        }
    }

    /// A store to register `offset`. Writes to read-only or unknown registers are ignored.
    pub fn write(&mut self, offset: u64, value: u32) -> Effect {
        match offset {
            DR => return Effect::Tx(value as u8),
            ILPR => self.ilpr = value & 0xff,
            IBRD => self.ibrd = value & 0xffff,
            FBRD => self.fbrd = value & 0x3f,
            LCR_H => self.lcr_h = value & 0xff,
            CR => self.cr = value & 0xff87,
            IFLS => self.ifls = value & 0x3f,
            IMSC => self.imsc = value & 0x7ff,
            DMACR => self.dmacr = value & 0x7,
            RSR_ECR | ICR => {}
            _ => {}
        }
        Effect::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_register_writes_are_console_bytes() {
        let mut u = Pl011::new();
        assert_eq!(u.write(DR, 0x141), Effect::Tx(b'A'), "only the low 8 bits are data");
        assert_eq!(u.write(CR, 0x301), Effect::None);
    }

    #[test]
    fn received_bytes_are_read_through_dr_in_order() {
        let mut u = Pl011::new();
        assert_eq!(u.receive(b"ok"), 2);
        assert_eq!(u.read(FR) & FR_RXFE, 0, "data waiting");
        assert_eq!(u.read(RIS) & INT_RX, INT_RX);
        assert_eq!(u.read(DR), u32::from(b'o'));
        assert_eq!(u.read(DR), u32::from(b'k'));
        assert_eq!(u.read(FR) & FR_RXFE, FR_RXFE, "empty again");
        assert_eq!(u.read(DR), 0);
        assert_eq!(u.receive(&[b'x'; RX_FIFO + 3]), RX_FIFO, "a full FIFO takes no more");
        assert_eq!(u.rx_room(), 0);
    }

    #[test]
    fn transmitter_always_ready_receiver_empty_without_input() {
        let mut u = Pl011::new();
        assert_eq!(u.read(FR) & FR_TXFE, FR_TXFE);
        assert_eq!(u.read(FR) & (1 << 5), 0, "TXFF never set");
        assert_eq!(u.read(FR) & FR_RXFE, FR_RXFE);
    }

    #[test]
    fn control_registers_hold_their_values() {
        let mut u = Pl011::new();
        u.write(IBRD, 0x1_0027);
        u.write(LCR_H, 0x70);
        u.write(IMSC, 0x50);
        assert_eq!(u.read(IBRD), 0x27);
        assert_eq!(u.read(LCR_H), 0x70);
        assert_eq!(u.read(MIS), 0, "TX interrupt masked");
        u.write(IMSC, INT_TX);
        assert_eq!(u.read(MIS), INT_TX);
    }

    #[test]
    fn the_interrupt_line_follows_ris_and_imsc() {
        let mut u = Pl011::new();
        assert!(!u.irq_level(), "everything masked at reset");
        u.write(IMSC, INT_RX | 1 << 6); // RXIM and RTIM, as Linux's amba-pl011 sets them
        assert!(!u.irq_level(), "nothing received");
        u.receive(b"ab");
        assert!(u.irq_level(), "a byte waits");
        u.read(DR);
        assert!(u.irq_level(), "one still waits");
        u.read(DR);
        assert!(!u.irq_level(), "the FIFO drained: the line drops");
        u.write(IMSC, INT_TX);
        assert!(u.irq_level(), "TXIM: the transmit FIFO is always empty");
        u.write(IMSC, 0);
        assert!(!u.irq_level());
    }

    #[test]
    fn identification_registers_match_a_pl011() {
        let mut u = Pl011::new();
        let id: u32 = (0..4).map(|i| u.read(PERIPH_ID0 + 4 * i) << (8 * i)).sum();
        assert_eq!(id & 0x000f_ffff, 0x0004_1011, "part 0x011, designer ARM (0x41)");
        assert_eq!(u.read(0xff0), 0x0d);
        assert_eq!(u.read(0xfe2), 0, "unaligned ID reads are zero");
    }
}
