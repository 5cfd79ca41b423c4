//! A partition's I/O port space: which ports it reaches directly (its passthrough devices
//! on the I/O bus), which the hypervisor emulates, and how an emulated port access is told
//! to the core.
//!
//! - Passthrough: every port of a device the partition was given on the board's I/O bus
//!   (`/isa/...`, whose `reg` are port ranges) is cleared in its I/O bitmaps: IN/OUT run
//!   natively, no exit.
//! - Emulated: the partition's console, a 16550 at COM1's ports (0x3f8..0x3ff, the core's
//!   NS16550 model); Bochs's shutdown port (0x8900: "Shutdown" written byte by byte powers
//!   the partition off, as it stops the emulator natively); and the two legacy 8259 PICs
//!   (0x20/0x21, 0xa0/0xa1): the partition's own ([`crate::vpic`]), through which its
//!   passthrough devices interrupt it.
//! - Anything else exits and is refused (`Fault::Forbidden`): a partition has no business
//!   with ports it was not given (the PIC, the PIT, the PCI configuration space, the
//!   neighbour's UART).
//!
//! Port accesses reach the core as [`hv::exit::MmioAccess`]es at [`io_address`]: the port
//! number above the guest-physical address space (bit 52; EPT translates 48 bits), so an
//! emulated port and guest memory can never be confused and the core stays unaware of x86's
//! second address space.

use hv::config::{Partition, Range};

/// Where port `p` appears in the core's (MMIO) address space: `IO_SPACE | p`.
pub const IO_SPACE: u64 = 1 << 52;
/// Ports a 16-bit port number reaches.
pub const PORTS: usize = 1 << 16;

/// COM1: the partition's emulated console (what guests expect on a PC).
pub const CONSOLE_PORT: u16 = 0x3f8;
/// The 16550's eight registers.
const CONSOLE_PORTS: u16 = 8;
/// The PICs' command and data ports.
const PIC1: u16 = 0x20;
const PIC2: u16 = 0xa0;
/// Bochs's shutdown port and the word that stops the machine.
pub const SHUTDOWN_PORT: u16 = 0x8900;
const SHUTDOWN_WORD: &[u8] = b"Shutdown";

/// The core's address of port `port`.
pub const fn io_address(port: u16) -> u64 {
    IO_SPACE | port as u64
}

/// The two I/O bitmaps of a partition (A: ports 0..0x7fff, B: 0x8000..0xffff, in one
/// block): bit set = IN/OUT exits.
#[repr(C, align(4096))]
pub struct IoBitmaps(pub [u8; PORTS / 8]);

impl IoBitmaps {
    /// Every port exits.
    pub const fn all_exit() -> Self {
        IoBitmaps([0xff; PORTS / 8])
    }

    /// Lets `range` (ports) through without exiting; ports past 0xffff are ignored.
    pub fn pass(&mut self, range: Range) {
        let end = range.base.saturating_add(range.size).min(PORTS as u64);
        for port in range.base..end {
            self.0[(port / 8) as usize] &= !(1 << (port % 8));
        }
    }

    pub fn exits(&self, port: u16) -> bool {
        self.0[usize::from(port) / 8] & (1 << (port % 8)) != 0
    }

    /// Physical addresses of bitmap A and B (identity map).
    pub fn addresses(&self) -> (u64, u64) {
        let a = self.0.as_ptr() as u64;
        (a, a + (PORTS / 16) as u64)
    }
}

/// The I/O port ranges of partition `p`'s devices on the I/O bus `bus` (a node path
/// prefix such as `/isa/`).
pub fn port_ranges<'a>(p: &'a Partition, bus: &'a str) -> impl Iterator<Item = Range> + 'a {
    p.devices.iter().filter(move |d| d.path.starts_with(bus)).flat_map(|d| d.mmio.iter().copied())
}

/// Partition `p`'s bitmaps: its devices on `bus` pass, everything else exits.
pub fn bitmaps_for(p: &Partition, bus: &str, out: &mut IoBitmaps) {
    *out = IoBitmaps::all_exit();
    for r in port_ranges(p, bus) {
        out.pass(r);
    }
}

/// What an exiting port access is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Port {
    /// A register of the emulated console (the partition has one).
    Console,
    /// The shutdown port.
    Shutdown,
    /// A legacy PIC's command (`offset` 0) or data (1) port; `pic` 0 or 1.
    Pic { pic: usize, offset: u16 },
    /// Nothing this partition may use.
    Refused,
}

/// Classifies an access of `width` bytes at `port` that exited.
pub fn classify(port: u16, width: u8, console: bool) -> Port {
    let last = u32::from(port) + u32::from(width) - 1;
    let inside = |base: u16, n: u16| port >= base && last < u32::from(base) + u32::from(n);
    if console && width == 1 && inside(CONSOLE_PORT, CONSOLE_PORTS) {
        Port::Console
    } else if width == 1 && port == SHUTDOWN_PORT {
        Port::Shutdown
    } else if width == 1 && inside(PIC1, 2) {
        Port::Pic { pic: 0, offset: port - PIC1 }
    } else if width == 1 && inside(PIC2, 2) {
        Port::Pic { pic: 1, offset: port - PIC2 }
    } else {
        Port::Refused
    }
}

/// Bochs's shutdown port: "Shutdown" written one byte at a time, any other byte starts
/// over.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShutdownPort {
    matched: u8,
}

impl ShutdownPort {
    /// A byte written to the port; true when it completes the word.
    pub fn write(&mut self, byte: u8) -> bool {
        let i = usize::from(self.matched);
        self.matched = if SHUTDOWN_WORD.get(i) == Some(&byte) {
            self.matched + 1
        } else {
            u8::from(SHUTDOWN_WORD[0] == byte)
        };
        if usize::from(self.matched) == SHUTDOWN_WORD.len() {
            self.matched = 0;
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hv::config::Device;

    #[test]
    fn only_the_partitions_io_devices_pass() {
        let mut p = Partition::new(0, "p");
        for (path, base, size) in [("/isa/serial@3e8", 0x3e8, 8), ("/isa/rtc@70", 0x70, 2), ("/ioapic", 0xfec0_0000, 0x1000)] {
            let mut d = Device { path: path.try_into().unwrap(), mmio: Default::default(), irqs: Default::default() };
            d.mmio.push(Range::new(base, size)).unwrap();
            p.devices.push(d).unwrap();
        }
        let mut b = Box::new(IoBitmaps::all_exit());
        bitmaps_for(&p, "/isa/", &mut b);
        assert!((0x3e8..0x3f0).all(|port| !b.exits(port)));
        assert!(b.exits(0x3e7) && b.exits(0x3f0) && b.exits(0x3f8), "not the neighbour's COM1");
        assert!(!b.exits(0x70) && !b.exits(0x71) && b.exits(0x72));
        assert!(b.exits(0x20) && b.exits(0xcf8) && b.exits(0x8900) && b.exits(0xffff));
        assert_eq!(port_ranges(&p, "/isa/").count(), 2, "the I/O APIC is memory, not ports");
        let (a, bb) = b.addresses();
        assert_eq!(bb - a, 4096, "bitmap B follows A");
    }

    #[test]
    fn ports_are_classified_by_what_the_partition_has() {
        assert_eq!(classify(0x3f8, 1, true), Port::Console);
        assert_eq!(classify(0x3ff, 1, true), Port::Console);
        assert_eq!(classify(0x3f8, 1, false), Port::Refused, "no emulated console");
        assert_eq!(classify(0x3f8, 2, true), Port::Refused, "the 16550's registers are bytes");
        assert_eq!(classify(0x3f7, 1, true), Port::Refused);
        assert_eq!(classify(0x400, 1, true), Port::Refused);
        assert_eq!(classify(0x8900, 1, false), Port::Shutdown);
        assert_eq!(classify(0x8900, 4, false), Port::Refused);
        assert_eq!(classify(0xffff, 4, true), Port::Refused, "no overflow past the last port");
        assert_eq!(io_address(0x3f8), (1 << 52) | 0x3f8);
        assert_eq!(classify(0x21, 1, false), Port::Pic { pic: 0, offset: 1 });
        assert_eq!(classify(0xa0, 1, false), Port::Pic { pic: 1, offset: 0 });
        assert_eq!(classify(0x22, 1, false), Port::Refused);
    }

    #[test]
    fn shutdown_needs_the_whole_word() {
        let mut s = ShutdownPort::default();
        assert!(!b"Shutdow".iter().any(|&c| s.write(c)));
        assert!(s.write(b'n'));
        assert!(!b"ShutXShutdow".iter().any(|&c| s.write(c)), "a wrong byte starts over");
        assert!(s.write(b'n'));
        assert!(!b"SShutdow".iter().any(|&c| s.write(c)), "an S restarts the word");
        assert!(s.write(b'n'));
    }
}
