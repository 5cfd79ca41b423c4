//! The physical console: an Arm PrimeCell PL011 UART (DDI0183), transmit polled.
//!
//! The hypervisor owns this UART; partitions see an emulated one ([`hv::vdev::pl011`]).
//! Baud rate and clocks are left as firmware (or QEMU) set them: the driver only enables
//! the transmitter and receiver with 8N1 framing and FIFOs, then writes bytes when the
//! FIFO has room. Received bytes are read when asked for ([`Pl011::get`]); the board may
//! have the UART raise its receive interrupts for that ([`Pl011::enable_rx_interrupt`]).

use core::fmt;
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};
use tock_registers::{register_bitfields, register_structs};

register_bitfields! {u32,
    /// Flag register.
    pub FR [
        /// Transmit FIFO full.
        TXFF OFFSET(5) NUMBITS(1) [],
        /// Receive FIFO empty.
        RXFE OFFSET(4) NUMBITS(1) [],
        /// Transmitting (or FIFO not empty).
        BUSY OFFSET(3) NUMBITS(1) [],
    ],
    /// Line control.
    pub LCR_H [
        /// Word length.
        WLEN OFFSET(5) NUMBITS(2) [Five = 0, Six = 1, Seven = 2, Eight = 3],
        /// FIFOs enabled.
        FEN OFFSET(4) NUMBITS(1) [],
    ],
    /// Interrupt mask set/clear: a set bit lets that interrupt through.
    pub IMSC [
        /// Receive timeout (bytes wait below the FIFO trigger level).
        RTIM OFFSET(6) NUMBITS(1) [],
        /// Receive (the FIFO reached its trigger level).
        RXIM OFFSET(4) NUMBITS(1) [],
    ],
    /// Control.
    pub CR [
        /// Receive enable.
        RXE OFFSET(9) NUMBITS(1) [],
        /// Transmit enable.
        TXE OFFSET(8) NUMBITS(1) [],
        /// UART enable.
        UARTEN OFFSET(0) NUMBITS(1) [],
    ],
}

register_structs! {
    /// The PL011 register block.
    pub Pl011Registers {
        (0x000 => pub dr: ReadWrite<u32>),
        (0x004 => pub rsr_ecr: ReadWrite<u32>),
        (0x008 => _reserved0),
        (0x018 => pub fr: ReadOnly<u32, FR::Register>),
        (0x01c => _reserved1),
        (0x020 => pub ilpr: ReadWrite<u32>),
        (0x024 => pub ibrd: ReadWrite<u32>),
        (0x028 => pub fbrd: ReadWrite<u32>),
        (0x02c => pub lcr_h: ReadWrite<u32, LCR_H::Register>),
        (0x030 => pub cr: ReadWrite<u32, CR::Register>),
        (0x034 => pub ifls: ReadWrite<u32>),
        (0x038 => pub imsc: ReadWrite<u32, IMSC::Register>),
        (0x03c => pub ris: ReadOnly<u32>),
        (0x040 => pub mis: ReadOnly<u32>),
        (0x044 => pub icr: WriteOnly<u32>),
        (0x048 => pub dmacr: ReadWrite<u32>),
        (0x04c => @END),
    }
}

/// A PL011 at a fixed physical address.
pub struct Pl011 {
    regs: &'static Pl011Registers,
}

// SAFETY: the handle is only an address; moving it to another CPU is fine, and callers
// serialise use of one handle (`&mut self` for writes, or a lock around it).
unsafe impl Send for Pl011 {}

impl Pl011 {
    /// # Safety
    /// `base` is the physical address of a PL011 register block, accessible at this
    /// address (MMU off or identity-mapped as Device memory). Several handles to the same
    /// UART may exist (the panic handler makes its own); their output may interleave.
    pub const unsafe fn new(base: usize) -> Pl011 {
        // SAFETY: the caller guarantees a PL011 register block lives at `base`.
        Pl011 { regs: unsafe { &*(base as *const Pl011Registers) } }
    }

    /// Enables the transmitter (and receiver), 8N1 with FIFOs. Clock and baud rate are
    /// kept as firmware set them.
    pub fn enable(&self) {
        self.flush();
        self.regs.cr.set(0);
        self.regs.lcr_h.write(LCR_H::WLEN::Eight + LCR_H::FEN::SET);
        self.regs.imsc.set(0);
        self.regs.cr.write(CR::UARTEN::SET + CR::TXE::SET + CR::RXE::SET);
    }

    /// Raises the UART's interrupt while received bytes wait (receive and receive-timeout
    /// interrupts; reading them all drops it).
    pub fn enable_rx_interrupt(&self) {
        self.regs.imsc.write(IMSC::RXIM::SET + IMSC::RTIM::SET);
    }

    /// Sends one byte, waiting while the transmit FIFO is full.
    pub fn put(&self, byte: u8) {
        while self.regs.fr.is_set(FR::TXFF) {
            core::hint::spin_loop();
        }
        self.regs.dr.set(byte as u32);
    }

    /// A received byte, if one is waiting (never waits).
    pub fn get(&self) -> Option<u8> {
        (!self.regs.fr.is_set(FR::RXFE)).then(|| self.regs.dr.get() as u8)
    }

    /// Waits until every byte has left the UART (before powering off).
    pub fn flush(&self) {
        while self.regs.fr.is_set(FR::BUSY) {
            core::hint::spin_loop();
        }
    }
}

impl Pl011 {
    /// Sends `bytes`, turning `\n` into `\r\n` for terminals.
    pub fn write_bytes(&self, bytes: &[u8]) {
        for &b in bytes {
            if b == b'\n' {
                self.put(b'\r');
            }
            self.put(b);
        }
    }
}

impl fmt::Write for Pl011 {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.write_bytes(s.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn register_block_matches_the_trm() {
        assert_eq!(core::mem::offset_of!(Pl011Registers, fr), 0x18);
        assert_eq!(core::mem::offset_of!(Pl011Registers, cr), 0x30);
        assert_eq!(core::mem::size_of::<Pl011Registers>(), 0x4c);
    }
}
