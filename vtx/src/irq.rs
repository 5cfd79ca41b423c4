//! The hypervisor's own interrupt hardware: this CPU's local APIC (xAPIC registers at
//! IA32_APIC_BASE, identity-mapped), the I/O APIC, and the legacy 8259 PICs, which stay
//! masked.
//!
//! The hypervisor runs with interrupts off; a physical interrupt reaches it only as a VM
//! exit ("external-interrupt exiting", acknowledged on exit), after which it must end the
//! interrupt at the local APIC ([`eoi`]). Which interrupts can arrive at all: none from the
//! PICs ([`mask_legacy_pics`]); the passthrough devices' ISA IRQs, each routed by the I/O
//! APIC ([`route`]) to the CPU of the partition that owns it, at vector
//! [`IRQ_VECTORS`]` + irq`; IPIs from the other CPUs: the start-up INIT-SIPI-SIPI
//! ([`crate::smp`]) and the [`KICK`], which one CPU sends another to make it leave its
//! guest (a fixed IPI waits for it, its partition stops or restarts) or wake from
//! [`wait_for_kick`].

use tock_registers::interfaces::{ReadWriteable, Readable, Writeable};
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};
use tock_registers::{register_bitfields, register_structs};

use crate::io::outb;
use crate::msr::rdmsr;

register_bitfields! {u32,
    /// Interrupt command register, low word (SDM Vol. 3A, 11.6.1).
    pub ICR_LOW [
        VECTOR OFFSET(0) NUMBITS(8) [],
        DELIVERY OFFSET(8) NUMBITS(3) [Fixed = 0, Nmi = 4, Init = 5, Startup = 6],
        PENDING OFFSET(12) NUMBITS(1) [],
        LEVEL OFFSET(14) NUMBITS(1) [Deassert = 0, Assert = 1],
        TRIGGER OFFSET(15) NUMBITS(1) [Edge = 0, Level = 1],
    ],
    ICR_HIGH [
        DESTINATION OFFSET(24) NUMBITS(8) [],
    ],
    /// Spurious-interrupt vector register: bit 8 enables the APIC.
    SVR [
        ENABLE OFFSET(8) NUMBITS(1) [],
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
        (0x0f0 => svr: ReadWrite<u32, SVR::Register>),
        (0x0f4 => _reserved3),
        (0x300 => icr_low: ReadWrite<u32, ICR_LOW::Register>),
        (0x304 => _reserved4),
        (0x310 => icr_high: ReadWrite<u32, ICR_HIGH::Register>),
        (0x314 => _reserved5),
        (0x400 => @END),
    }
}

register_structs! {
    /// The I/O APIC's register window (82093AA datasheet, 3.1): an index, then the 32-bit
    /// register it names (redirection entry n: index 0x10 + 2n, low word, and the next,
    /// high word: bits 31:24 the destination APIC id).
    IoApic {
        (0x00 => select: WriteOnly<u32>),
        (0x04 => _reserved0),
        (0x10 => window: WriteOnly<u32>),
        (0x14 => @END),
    }
}

/// Where the passthrough devices' ISA IRQs arrive: vector `IRQ_VECTORS + irq`, IRQ 0..15.
pub const IRQ_VECTORS: u8 = 0x30;
/// The IPI that makes a CPU exit its guest or wake in the hypervisor (below every routed
/// IRQ).
pub const KICK: u8 = 0x20;
const IOAPIC_REDIRECTION: u32 = 0x10;

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

/// The ISA IRQ a vector of [`route`]'s stands for.
pub fn irq_of(vector: u8) -> Option<u8> {
    vector.checked_sub(IRQ_VECTORS).filter(|&irq| irq < 16)
}

/// The ISA IRQs (bit n: IRQ n) of partition `p`'s passthrough devices: the lines of its
/// 8259s it owns. Interrupts beyond 15 (none on the board's ISA bus) are not routed.
pub fn isa_irqs(p: &hv::config::Partition) -> u16 {
    p.devices.iter().flat_map(|d| d.irqs.iter()).filter(|&&irq| irq < 16).fold(0, |m, &irq| m | 1 << irq)
}

/// Routes ISA IRQ `irq` (0..15) through the I/O APIC at `ioapic` to the local APIC
/// `apic_id`, at vector [`IRQ_VECTORS`]` + irq`: fixed delivery, physical destination,
/// edge-triggered and active high as ISA lines are, unmasked. ISA IRQ 0 is the I/O APIC's
/// pin 2 (the PC's interrupt source override); the others their own pin.
///
/// # Safety
/// `ioapic` is the identity-mapped I/O APIC; no other CPU uses it meanwhile (the boot CPU
/// routes every IRQ before the partitions start); IRQ `irq` is one partition's alone.
pub unsafe fn route(ioapic: usize, irq: u8, apic_id: u32) {
    // SAFETY: forwarded to the caller.
    let io = unsafe { &*(ioapic as *const IoApic) };
    let pin = u32::from(if irq == 0 { 2 } else { irq & 15 });
    io.select.set(IOAPIC_REDIRECTION + 2 * pin + 1);
    io.window.set(apic_id << 24);
    io.select.set(IOAPIC_REDIRECTION + 2 * pin);
    io.window.set(u32::from(IRQ_VECTORS + (irq & 15)));
}

/// Software-enables this CPU's local APIC (after INIT it is not: it would refuse the I/O
/// APIC's interrupts).
pub fn enable_local_apic() {
    let apic = local_apic();
    apic.svr.modify(SVR::ENABLE::SET);
}

/// Ends the interrupt a VM exit acknowledged.
#[cfg(not(test))]
pub fn eoi() {
    local_apic().eoi.set(0);
}

/// Host builds (the vCPU's unit tests): no local APIC to tell.
#[cfg(test)]
pub fn eoi() {}

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

/// Sends the [`KICK`] to the CPU with APIC id `apic_id`.
#[cfg(not(test))]
pub fn kick(apic_id: u32) {
    send(apic_id, ICR_LOW::DELIVERY::Fixed + ICR_LOW::VECTOR.val(u32::from(KICK)) + ICR_LOW::LEVEL::Assert);
}

/// Forces the CPU with APIC id `apic_id` out of its guest whatever the guest's RFLAGS.IF
/// (its partition stops or restarts): an NMI, which exits (NMI exiting) and wakes a HLT.
/// Bochs 2.7 does not let an external interrupt exit a guest entered with IF = 0 until
/// the guest changes IF (it computes its interrupt mask at IF changes only), so a
/// [`kick`] would not take out a vCPU spinning with interrupts off. An NMI taken in the
/// hypervisor itself (the CPU was between exit and entry) is lost: the sender repeats it
/// until the vCPU is off (`smp::Group::halt_others`).
#[cfg(not(test))]
pub fn force_exit(apic_id: u32) {
    send(apic_id, ICR_LOW::DELIVERY::Nmi + ICR_LOW::LEVEL::Assert);
}

#[cfg(test)]
pub fn force_exit(apic_id: u32) {
    kick(apic_id);
}

#[cfg(test)]
std::thread_local! {
    /// The kicks a host test's vCPU sent.
    pub static KICKS: core::cell::RefCell<std::vec::Vec<u32>> = const { core::cell::RefCell::new(std::vec::Vec::new()) };
}

#[cfg(test)]
pub fn kick(apic_id: u32) {
    KICKS.with(|k| k.borrow_mut().push(apic_id));
}

/// Halts this CPU, interrupts on, until an interrupt (a [`KICK`]) or an NMI arrives; then
/// ends it (the IDT's gates for the NMI and above the exceptions return at once:
/// `trap::idt`; an EOI with nothing in service does nothing) with interrupts off again.
/// STI's shadow covers the HLT: a kick sent before it wakes it.
#[cfg(not(test))]
pub fn wait_for_kick() {
    // SAFETY: every interrupt vector's gate returns straight away; nothing else changes.
    unsafe { core::arch::asm!("sti", "hlt", "cli", options(nomem, nostack)) };
    eoi();
}

#[cfg(test)]
pub fn wait_for_kick() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partition_owns_its_devices_isa_irqs() {
        use hv::config::{Device, Partition};
        let mut p = Partition::new(0, "p");
        for (path, irqs) in [("/isa/serial@2e8", &[3][..]), ("/isa/other", &[5, 40][..]), ("/isa/quiet", &[][..])] {
            let mut d = Device { path: path.try_into().unwrap(), mmio: Default::default(), irqs: Default::default() };
            d.irqs.extend_from_slice(irqs).unwrap();
            p.devices.push(d).unwrap();
        }
        assert_eq!(isa_irqs(&p), 1 << 3 | 1 << 5, "not the 40");
        assert_eq!(isa_irqs(&Partition::new(1, "q")), 0);
    }

    #[test]
    fn routed_vectors_name_their_isa_irq() {
        assert_eq!(irq_of(IRQ_VECTORS + 3), Some(3));
        assert_eq!(irq_of(IRQ_VECTORS + 15), Some(15));
        assert_eq!(irq_of(IRQ_VECTORS + 16), None, "not a routed vector");
        assert_eq!(irq_of(IRQ_VECTORS - 1), None);
        assert_eq!(irq_of(0xff), None, "the spurious vector");
    }
}
