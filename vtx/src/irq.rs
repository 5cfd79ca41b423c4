//! The hypervisor's own interrupt hardware: this CPU's local APIC (xAPIC registers at
//! IA32_APIC_BASE, identity-mapped) and the legacy 8259 PICs, which stay masked.
//!
//! The hypervisor runs with interrupts off; a physical interrupt reaches it only as a VM
//! exit ("external-interrupt exiting", acknowledged on exit), after which it must end the
//! interrupt at the local APIC ([`eoi`]). Which interrupts can arrive at all: none from the
//! PICs ([`mask_legacy_pics`]); IPIs from the other CPUs.

use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};
use tock_registers::{register_bitfields, register_structs};

use crate::io::outb;
use crate::msr::rdmsr;

register_bitfields! {u32,
    /// Interrupt command register, low word (SDM Vol. 3A, 11.6.1).
    pub ICR_LOW [
        VECTOR OFFSET(0) NUMBITS(8) [],
        DELIVERY OFFSET(8) NUMBITS(3) [Fixed = 0, Init = 5, Startup = 6],
        PENDING OFFSET(12) NUMBITS(1) [],
        LEVEL OFFSET(14) NUMBITS(1) [Deassert = 0, Assert = 1],
        TRIGGER OFFSET(15) NUMBITS(1) [Edge = 0, Level = 1],
    ],
    ICR_HIGH [
        DESTINATION OFFSET(24) NUMBITS(8) [],
    ],
}

register_structs! {
    /// The xAPIC register page: 32-bit registers 16 bytes apart.
    LocalApic {
        (0x000 => _reserved0),
        (0x020 => id: ReadOnly<u32>),
        (0x024 => _reserved1),
        (0x0b0 => eoi: WriteOnly<u32>),
        (0x0b4 => _reserved2),
        (0x300 => icr_low: ReadWrite<u32, ICR_LOW::Register>),
        (0x304 => _reserved3),
        (0x310 => icr_high: ReadWrite<u32, ICR_HIGH::Register>),
        (0x314 => _reserved4),
        (0x400 => @END),
    }
}

const IA32_APIC_BASE: u32 = 0x1b;
const APIC_BASE_MASK: u64 = 0xf_ffff_f000;
/// The PICs' interrupt-mask registers.
const PIC1_DATA: u16 = 0x21;
const PIC2_DATA: u16 = 0xa1;

fn local_apic() -> &'static LocalApic {
    // SAFETY: IA32_APIC_BASE exists on every x86-64 CPU; it holds the physical address of
    // this CPU's register page, identity-mapped by the entry code (below 4 GiB) and used
    // only through this driver.
    unsafe { &*((rdmsr(IA32_APIC_BASE) & APIC_BASE_MASK) as *const LocalApic) }
}

/// Masks every line of both 8259 PICs: the BIOS leaves the timer and others enabled, and
/// the hypervisor uses none of them.
pub fn mask_legacy_pics() {
    // SAFETY: every PC has the two PICs at these ports; writing the mask registers only
    // masks their interrupt lines.
    unsafe {
        outb(PIC1_DATA, 0xff);
        outb(PIC2_DATA, 0xff);
    }
}

/// Ends the interrupt a VM exit acknowledged.
pub fn eoi() {
    local_apic().eoi.set(0);
}

/// This CPU's local APIC id.
pub fn apic_id() -> u32 {
    local_apic().id.get() >> 24
}

/// Sends an inter-processor interrupt to the CPU with APIC id `apic_id`; waits until the
/// APIC has taken it.
pub fn send(apic_id: u32, low: tock_registers::fields::FieldValue<u32, ICR_LOW::Register>) {
    let apic = local_apic();
    apic.icr_high.write(ICR_HIGH::DESTINATION.val(apic_id));
    apic.icr_low.write(low);
    while apic.icr_low.is_set(ICR_LOW::PENDING) {
        core::hint::spin_loop();
    }
}
