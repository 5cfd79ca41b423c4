//! Emulated devices: pure register models driven by decoded MMIO exits (PL011 for ARM
//! partitions, NS16550 for Book E ones).
//!
//! A model never touches hardware; it returns what the access means (a byte for the
//! console) and the level of its interrupt line, and the run loop carries it out.

pub mod ns16550;
pub mod pl011;

/// What an emulated register write asks the hypervisor to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    None,
    /// A byte for the partition's console.
    Tx(u8),
}

/// The console UART model a port gives its partitions (chosen by the port: the UART its
/// guests expect on that platform).
#[derive(Clone, Debug)]
pub enum Uart {
    Pl011(pl011::Pl011),
    Ns16550(ns16550::Ns16550),
}

/// Which [`Uart`] model to build.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UartKind {
    Pl011,
    Ns16550,
}

impl Uart {
    pub const fn new(kind: UartKind) -> Self {
        match kind {
            UartKind::Pl011 => Uart::Pl011(pl011::Pl011::new()),
            UartKind::Ns16550 => Uart::Ns16550(ns16550::Ns16550::new()),
        }
    }

    /// Bytes of guest-physical space the model answers.
    pub fn size(&self) -> u64 {
        match self {
            Uart::Pl011(_) => pl011::SIZE,
            Uart::Ns16550(_) => ns16550::SIZE,
        }
    }

    /// Room for received bytes.
    pub fn rx_room(&self) -> usize {
        match self {
            Uart::Pl011(u) => u.rx_room(),
            Uart::Ns16550(u) => u.rx_room(),
        }
    }

    /// Bytes from the console for the guest; returns how many the model took.
    pub fn receive(&mut self, bytes: &[u8]) -> usize {
        match self {
            Uart::Pl011(u) => u.receive(bytes),
            Uart::Ns16550(u) => u.receive(bytes),
        }
    }

    /// The UART's interrupt line (the NS16550's interrupts are not modelled: always low).
    pub fn irq_level(&self) -> bool {
        match self {
            Uart::Pl011(u) => u.irq_level(),
            Uart::Ns16550(_) => false,
        }
    }

    /// Back to the reset state (a partition restart): registers and received bytes gone.
    pub fn reset(&mut self) {
        *self = match self {
            Uart::Pl011(_) => Uart::new(UartKind::Pl011),
            Uart::Ns16550(_) => Uart::new(UartKind::Ns16550),
        };
    }

    /// A load from register `offset` (inside [`Uart::size`]); may take a received byte.
    pub fn read(&mut self, offset: u64) -> u32 {
        match self {
            Uart::Pl011(u) => u.read(offset),
            Uart::Ns16550(u) => u.read(offset).into(),
        }
    }

    /// A store to register `offset`; the NS16550's registers are 8 bits wide.
    pub fn write(&mut self, offset: u64, value: u32) -> Effect {
        match self {
            Uart::Pl011(u) => u.write(offset, value),
            Uart::Ns16550(u) => u.write(offset, value as u8),
        }
    }
}
