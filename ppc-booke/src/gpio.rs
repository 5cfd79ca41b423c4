//! MPC8xxx GPIO block. QEMU's ppce500 wires GPIO pin 0 to power-off (and pin 1 to
//! reset): driving a pin high as an output triggers it.

use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::registers::ReadWrite;
use tock_registers::register_structs;

register_structs! {
    /// The register block (32-bit, big-endian like the core). Pin n is bit 31-n
    /// (bit 0 is the MSB in Power numbering: pin 0 = 0x8000_0000).
    pub GpioRegisters {
        /// Direction: 1 = output.
        (0x00 => gpdir: ReadWrite<u32>),
        /// Open-drain.
        (0x04 => gpodr: ReadWrite<u32>),
        /// Data.
        (0x08 => gpdat: ReadWrite<u32>),
        (0x0c => gpier: ReadWrite<u32>),
        (0x10 => gpimr: ReadWrite<u32>),
        (0x14 => gpicr: ReadWrite<u32>),
        (0x18 => @END),
    }
}

/// The bit of pin `n` (0..32) in every register.
pub const fn pin_mask(n: u32) -> u32 {
    0x8000_0000 >> n
}

pub struct Gpio {
    regs: &'static GpioRegisters,
}

impl Gpio {
    /// # Safety
    /// `base` is the virtual address of the GPIO register block, mapped cache-inhibited
    /// and guarded for as long as the value is used.
    pub const unsafe fn new(base: usize) -> Self {
        // SAFETY: the caller guarantees a mapped register block at `base`.
        Gpio { regs: unsafe { &*(base as *const GpioRegisters) } }
    }

    /// Makes pin `n` an output and drives it high.
    pub fn set_high(&self, n: u32) {
        let mask = pin_mask(n);
        self.regs.gpdir.set(self.regs.gpdir.get() | mask);
        self.regs.gpdat.set(self.regs.gpdat.get() | mask);
    }
}
