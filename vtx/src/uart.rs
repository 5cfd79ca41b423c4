//! A 16550 UART driven over port I/O (the PC's COM ports): transmit, and polled receive
//! (the operator's console input).

use core::fmt;

use crate::io::{inb, outb};

// Register offsets from the base port. With LCR.DLAB set, offsets 0 and 1 are the
// divisor latch instead of THR/IER.
const THR: u16 = 0;
const RBR: u16 = 0;
const IER: u16 = 1;
const DLL: u16 = 0;
const DLM: u16 = 1;
const FCR: u16 = 2;
const LCR: u16 = 3;
const MCR: u16 = 4;
const LSR: u16 = 5;

const LCR_DLAB: u8 = 0x80;
const LCR_8N1: u8 = 0x03;
/// Enable the FIFOs and clear both.
const FCR_FIFO_ON_CLEAR: u8 = 0x07;
/// DTR and RTS asserted, OUT2 off (no interrupts reach the PIC).
const MCR_DTR_RTS: u8 = 0x03;
/// A received byte waits in RBR (or the FIFO).
const LSR_DR: u8 = 0x01;
/// Transmit holding register empty (room for a byte).
const LSR_THRE: u8 = 0x20;
/// Transmitter empty: the FIFO and the shift register have drained.
const LSR_TEMT: u8 = 0x40;

/// 115200 baud from the PC's 1.8432 MHz UART clock.
const DIVISOR_115200: u16 = 1;
/// Polls of LSR before a byte is sent regardless: a missing or stuck UART must not hang
/// the hypervisor (its output is then lost, nothing else).
const TX_SPIN_LIMIT: u32 = 100_000;

/// A 16550 at an I/O base port. Holds no state, so copies are free.
#[derive(Clone, Copy, Debug)]
pub struct Uart {
    base: u16,
}

impl Uart {
    /// # Safety
    /// A 16550 (or nothing) is at `base..base + 8`: the driver writes its registers.
    pub const unsafe fn new(base: u16) -> Uart {
        Uart { base }
    }

    /// 115200 8N1, FIFOs on, interrupts off.
    pub fn init(&self) {
        // SAFETY: `new`'s contract says these are a 16550's registers; this is its
        // documented initialisation sequence.
        unsafe {
            outb(self.base + IER, 0);
            outb(self.base + LCR, LCR_DLAB);
            outb(self.base + DLL, DIVISOR_115200 as u8);
            outb(self.base + DLM, (DIVISOR_115200 >> 8) as u8);
            outb(self.base + LCR, LCR_8N1);
            outb(self.base + FCR, FCR_FIFO_ON_CLEAR);
            outb(self.base + MCR, MCR_DTR_RTS);
        }
    }

    /// Polls LSR until `bits` are all set, or gives up after TX_SPIN_LIMIT polls.
    fn wait_for(&self, bits: u8) {
        for _ in 0..TX_SPIN_LIMIT {
            // SAFETY: reading LSR has no side effect on transmission.
            if unsafe { inb(self.base + LSR) } & bits == bits {
                return;
            }
            core::hint::spin_loop();
        }
    }

    /// Waits until every byte written has left the UART: call before powering off, or
    /// the emulator drops the tail of the output.
    pub fn flush(&self) {
        self.wait_for(LSR_TEMT);
    }

    pub fn write_byte(&self, byte: u8) {
        self.wait_for(LSR_THRE);
        // SAFETY: THR of the UART `new` vouched for.
        unsafe { outb(self.base + THR, byte) }
    }

    /// A received byte, if one waits.
    pub fn read_byte(&self) -> Option<u8> {
        // SAFETY: `new`'s contract; reading LSR has no side effect, RBR only takes the byte.
        unsafe { (inb(self.base + LSR) & LSR_DR != 0).then(|| inb(self.base + RBR)) }
    }

    pub fn write_bytes(&self, bytes: &[u8]) {
        for &b in bytes {
            self.write_byte(b);
        }
    }
}

impl fmt::Write for Uart {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.write_bytes(s.as_bytes());
        Ok(())
    }
}
