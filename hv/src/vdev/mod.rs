//! Emulated devices: pure register models driven by decoded MMIO exits.
//!
//! A model never touches hardware; it returns what the access means (a byte for the
//! console, an interrupt to raise) and the run loop carries it out.

pub mod pl011;

/// What an emulated register write asks the hypervisor to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    None,
    /// A byte for the partition's console.
    Tx(u8),
}
