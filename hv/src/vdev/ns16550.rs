//! An emulated NS16550A UART (the DUART channels of Freescale/NXP SoCs, QEMU's
//! `serial_mm`): enough of the register set for polled output (bare-metal guests, U-Boot,
//! Linux's of_serial/8250 earlycon). The transmitter is always ready and infinitely fast.
//! Received bytes (the physical console's input, for the partition that owns it) wait in
//! a 16-byte FIFO, as in a 16550A: LSR[DR] says one is there, an RBR read takes it.
//! Interrupts are not modelled (guests poll). One byte per register (register shift 0).
//!
//! Register offsets and bits follow the TI/National PC16550D data sheet.

use super::Effect;

/// Size of the register window the model answers (the SoC decodes 0x100 per channel).
pub const SIZE: u64 = 0x100;

/// RBR (read) / THR (write); DLL with LCR[DLAB].
const DATA: u64 = 0;
/// IER; DLM with LCR[DLAB].
const IER: u64 = 1;
/// IIR (read) / FCR (write).
const IIR_FCR: u64 = 2;
const LCR: u64 = 3;
const MCR: u64 = 4;
const LSR: u64 = 5;
const MSR: u64 = 6;
const SCR: u64 = 7;

/// LCR: divisor latch access.
const LCR_DLAB: u8 = 1 << 7;
/// LSR: data ready.
const LSR_DR: u8 = 1 << 0;
/// LSR: transmit holding register empty, transmitter empty.
const LSR_THRE: u8 = 1 << 5;
const LSR_TEMT: u8 = 1 << 6;
/// IIR: no interrupt pending.
const IIR_NO_INTERRUPT: u8 = 0x01;
/// IIR: FIFOs enabled (bits 6-7), reported when FCR[0] was set.
const IIR_FIFOS: u8 = 0xc0;
/// FCR: FIFO enable (the other FCR bits are self-clearing resets).
const FCR_ENABLE: u8 = 1 << 0;
/// FCR: receive FIFO reset (self-clearing).
const FCR_RX_RESET: u8 = 1 << 1;
/// IER: the four defined interrupt enables.
const IER_MASK: u8 = 0x0f;
/// MCR: the five defined bits.
const MCR_MASK: u8 = 0x1f;

/// Depth of the receive FIFO (a 16550A's).
pub const RX_FIFO: usize = 16;

/// The guest-visible register state.
#[derive(Clone, Debug, Default)]
pub struct Ns16550 {
    /// Received bytes not yet read, oldest at `rx_head`.
    rx: [u8; RX_FIFO],
    rx_head: usize,
    rx_len: usize,
    ier: u8,
    fifo: bool,
    lcr: u8,
    mcr: u8,
    scr: u8,
    dll: u8,
    dlm: u8,
}

impl Ns16550 {
    pub const fn new() -> Self {
        Ns16550 { rx: [0; RX_FIFO], rx_head: 0, rx_len: 0, ier: 0, fifo: false, lcr: 0, mcr: 0, scr: 0, dll: 0, dlm: 0 }
    }

    fn dlab(&self) -> bool {
        self.lcr & LCR_DLAB != 0
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

    /// A load from register `offset`. Offsets past the eight registers read as zero.
    /// Reading RBR takes the oldest received byte (0 when there is none).
    pub fn read(&mut self, offset: u64) -> u8 {
        match offset {
            DATA if self.dlab() => self.dll,
            DATA => {
                if self.rx_len == 0 {
                    return 0;
                }
                let b = self.rx[self.rx_head];
                self.rx_head = (self.rx_head + 1) % RX_FIFO;
                self.rx_len -= 1;
                b
            }
            IER if self.dlab() => self.dlm,
            IER => self.ier,
            IIR_FCR => IIR_NO_INTERRUPT | if self.fifo { IIR_FIFOS } else { 0 },
            LCR => self.lcr,
            MCR => self.mcr,
            LSR => LSR_THRE | LSR_TEMT | if self.rx_len > 0 { LSR_DR } else { 0 },
            MSR => 0,
            SCR => self.scr,
            _ => 0,
        }
    }

    /// A store to register `offset`; a THR write is a console byte.
    pub fn write(&mut self, offset: u64, value: u8) -> Effect {
        match offset {
            DATA if self.dlab() => self.dll = value,
            DATA => return Effect::Tx(value),
            IER if self.dlab() => self.dlm = value,
            IER => self.ier = value & IER_MASK,
            IIR_FCR => {
                self.fifo = value & FCR_ENABLE != 0;
                // FCR[1]: receive FIFO reset.
                if value & FCR_RX_RESET != 0 {
                    self.rx_len = 0;
                }
            }
            LCR => self.lcr = value,
            MCR => self.mcr = value & MCR_MASK,
            SCR => self.scr = value,
            _ => {}
        }
        Effect::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thr_writes_are_console_bytes() {
        let mut u = Ns16550::new();
        assert_eq!(u.write(DATA, b'A'), Effect::Tx(b'A'));
        assert_eq!(u.write(SCR, 0x5a), Effect::None);
    }

    #[test]
    fn transmitter_always_ready_nothing_received() {
        let mut u = Ns16550::new();
        assert_eq!(u.read(LSR), LSR_THRE | LSR_TEMT);
        assert_eq!(u.read(LSR) & 1, 0, "no data ready");
        assert_eq!(u.read(DATA), 0);
    }

    #[test]
    fn divisor_latch_hides_data_and_ier() {
        let mut u = Ns16550::new();
        u.write(IER, 0xff);
        u.write(LCR, LCR_DLAB | 0x03);
        assert_eq!(u.write(DATA, 0x36), Effect::None, "DLL, not a byte");
        u.write(IER, 0x01);
        assert_eq!((u.read(DATA), u.read(IER)), (0x36, 0x01));
        u.write(LCR, 0x03);
        assert_eq!(u.read(IER), IER_MASK, "IER kept, masked");
        assert_eq!(u.read(LCR), 0x03);
    }

    #[test]
    fn received_bytes_wait_in_the_fifo() {
        let mut u = Ns16550::new();
        assert_eq!(u.receive(b"ab"), 2);
        assert_eq!(u.read(LSR), LSR_DR | LSR_THRE | LSR_TEMT);
        assert_eq!(u.read(DATA), b'a');
        assert_eq!(u.read(LSR) & LSR_DR, LSR_DR);
        assert_eq!(u.read(DATA), b'b');
        assert_eq!(u.read(LSR) & LSR_DR, 0, "empty again");
        assert_eq!(u.read(DATA), 0);
    }

    #[test]
    fn fifo_keeps_sixteen_bytes_in_order_across_the_wrap() {
        let mut u = Ns16550::new();
        assert_eq!(u.receive(&[1; 10]), 10);
        for _ in 0..10 {
            u.read(DATA);
        }
        let bytes: Vec<u8> = (0..20).collect();
        assert_eq!(u.receive(&bytes), RX_FIFO, "the rest is left to the caller");
        assert_eq!(u.rx_room(), 0);
        let got: Vec<u8> = (0..RX_FIFO).map(|_| u.read(DATA)).collect();
        assert_eq!(got, bytes[..RX_FIFO]);
    }

    #[test]
    fn divisor_latch_hides_received_bytes_and_fcr_resets_them() {
        let mut u = Ns16550::new();
        u.receive(b"xy");
        u.write(LCR, LCR_DLAB);
        u.write(DATA, 0x36);
        assert_eq!(u.read(DATA), 0x36, "DLL, the FIFO untouched");
        u.write(LCR, 0x03);
        assert_eq!(u.read(DATA), b'x');
        u.write(IIR_FCR, FCR_ENABLE | FCR_RX_RESET);
        assert_eq!(u.read(LSR) & LSR_DR, 0);
        assert_eq!(u.rx_room(), RX_FIFO);
    }

    #[test]
    fn scratch_and_fifo_state_are_held() {
        let mut u = Ns16550::new();
        u.write(SCR, 0xa5);
        assert_eq!(u.read(SCR), 0xa5, "scratch test of is_present-style probes");
        assert_eq!(u.read(IIR_FCR), IIR_NO_INTERRUPT);
        u.write(IIR_FCR, 0x07);
        assert_eq!(u.read(IIR_FCR), IIR_NO_INTERRUPT | IIR_FIFOS);
        assert_eq!(u.read(0x80), 0, "outside the eight registers");
        assert_eq!(u.write(0x80, 1), Effect::None);
    }
}
