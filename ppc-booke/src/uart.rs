//! NS16550-compatible UART (the DUARTs of the MPC85xx SoCs, and QEMU's `serial_mm` on
//! ppce500): 8-bit registers at consecutive byte offsets. Polled output only: the
//! hypervisor console and the defmt log channel never wait for interrupts.
// register_structs!'s layout check divides offsets by the register size, 1 here.
#![allow(clippy::modulo_one)]

use core::fmt;

use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::registers::{ReadOnly, ReadWrite};
use tock_registers::{register_bitfields, register_structs};

register_bitfields! [u8,
    /// Line control.
    LCR [
        WORD_LENGTH OFFSET(0) NUMBITS(2) [Bits8 = 3],
        STOP_BITS OFFSET(2) NUMBITS(1) [One = 0],
        PARITY_ENABLE OFFSET(3) NUMBITS(1) [],
        /// Divisor latch access: offsets 0 and 1 become DLL/DLM.
        DLAB OFFSET(7) NUMBITS(1) []
    ],
    /// FIFO control (write-only; reads of this offset return IIR).
    FCR [
        FIFO_ENABLE OFFSET(0) NUMBITS(1) [],
        RX_RESET OFFSET(1) NUMBITS(1) [],
        TX_RESET OFFSET(2) NUMBITS(1) []
    ],
    /// Line status.
    LSR [
        DATA_READY OFFSET(0) NUMBITS(1) [],
        /// Transmit holding register empty: one more byte may be written.
        THR_EMPTY OFFSET(5) NUMBITS(1) []
    ]
];

register_structs! {
    /// The register block (register shift 0: one byte per register).
    pub Ns16550Registers {
        /// RBR on read, THR on write (DLL with LCR[DLAB]).
        (0x00 => data: ReadWrite<u8>),
        /// Interrupt enable (DLM with LCR[DLAB]).
        (0x01 => ier: ReadWrite<u8>),
        /// IIR on read, FCR on write.
        (0x02 => iir_fcr: ReadWrite<u8, FCR::Register>),
        (0x03 => lcr: ReadWrite<u8, LCR::Register>),
        (0x04 => mcr: ReadWrite<u8>),
        (0x05 => lsr: ReadOnly<u8, LSR::Register>),
        (0x06 => msr: ReadOnly<u8>),
        (0x07 => scr: ReadWrite<u8>),
        (0x08 => @END),
    }
}

/// LSR polls before a byte is dropped: a UART that never drains (absent, stuck) must not
/// hang the hypervisor. At 115200 baud a byte takes ~87 µs, far fewer polls than this.
const THR_POLLS: u32 = 1 << 20;

/// A polled NS16550.
pub struct Ns16550 {
    regs: &'static Ns16550Registers,
}

impl Ns16550 {
    /// # Safety
    /// `base` is the virtual address of an NS16550 register block, mapped
    /// cache-inhibited and guarded for as long as the value is used.
    pub const unsafe fn new(base: usize) -> Self {
        // SAFETY: the caller guarantees a mapped register block at `base`; all access
        // goes through the volatile tock-registers cells.
        Ns16550 { regs: unsafe { &*(base as *const Ns16550Registers) } }
    }

    /// 8N1, FIFOs on, no interrupts. The baud rate stays as firmware (or QEMU) left it.
    pub fn init(&self) {
        self.regs.ier.set(0);
        self.regs.lcr.write(LCR::WORD_LENGTH::Bits8 + LCR::STOP_BITS::One);
        self.regs.iir_fcr.write(FCR::FIFO_ENABLE::SET + FCR::RX_RESET::SET + FCR::TX_RESET::SET);
    }

    /// True if a UART answers at this address: the scratch register keeps what is written
    /// (QEMU leaves CCSR+0x4600 unmapped, reading 0, unless a second `-serial` is given).
    pub fn is_present(&self) -> bool {
        const PATTERNS: [u8; 2] = [0x5a, 0xa5];
        PATTERNS.iter().all(|&p| {
            self.regs.scr.set(p);
            self.regs.scr.get() == p
        })
    }

    /// Sends one byte; dropped if the transmitter does not drain within [`THR_POLLS`].
    pub fn write_byte(&self, byte: u8) {
        for _ in 0..THR_POLLS {
            if self.regs.lsr.is_set(LSR::THR_EMPTY) {
                self.regs.data.set(byte);
                return;
            }
            core::hint::spin_loop();
        }
    }

    /// Writes raw bytes (binary-safe: the defmt channel).
    pub fn write_bytes(&self, bytes: &[u8]) {
        for &b in bytes {
            self.write_byte(b);
        }
    }

    /// A received byte, if any.
    pub fn read_byte(&self) -> Option<u8> {
        self.regs.lsr.is_set(LSR::DATA_READY).then(|| self.regs.data.get())
    }
}

/// Text output: `\n` becomes `\r\n` for terminals.
impl fmt::Write for Ns16550 {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for b in s.bytes() {
            if b == b'\n' {
                self.write_byte(b'\r');
            }
            self.write_byte(b);
        }
        Ok(())
    }

    /// Only ASCII reaches the console (the mux filters partitions' bytes, the
    /// hypervisor's own text is ASCII); anything else prints as `?`.
    fn write_char(&mut self, c: char) -> fmt::Result {
        let b = if c.is_ascii() { c as u8 } else { b'?' };
        if b == b'\n' {
            self.write_byte(b'\r');
        }
        self.write_byte(b);
        Ok(())
    }
}
