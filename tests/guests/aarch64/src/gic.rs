//! A tiny GIC driver for one CPU at EL1, at QEMU virt's addresses: GICv3 (distributor,
//! the first redistributor, ICC system registers) or GICv2 (distributor, GICC), whichever
//! ID_AA64PFR0_EL1.GIC says the CPU has. Plain `-M virt` is GICv2; bulkhead partitions see
//! the version of the machine they run on. Everything in one group (group 1 on GICv3,
//! group 0 on GICv2, signalled as IRQ either way), EOImode 0.

use core::arch::asm;
use core::sync::atomic::{AtomicBool, Ordering};

const GICD: usize = 0x0800_0000;
/// GICv3: the first redistributor (this CPU's, on a one-CPU machine or as vCPU 0).
const GICR: usize = 0x080a_0000;
const GICR_SGI: usize = GICR + 0x1_0000;
/// GICv2: the CPU interface.
const GICC: usize = 0x0801_0000;

const GICD_CTLR: usize = 0x000;
const GICD_CTLR_ENABLE_GRP0: u32 = 1 << 0;
const GICD_CTLR_ENABLE_GRP1: u32 = 1 << 1;
const GICD_CTLR_ARE: u32 = 1 << 4;
const GICD_CTLR_RWP: u32 = 1 << 31;
/// Offsets shared by GICD and the GICv3 SGI_base frame.
const IGROUPR: usize = 0x080;
const ISENABLER: usize = 0x100;
const IPRIORITYR: usize = 0x400;
const GICR_WAKER: usize = 0x014;
const WAKER_PROCESSOR_SLEEP: u32 = 1 << 1;
const WAKER_CHILDREN_ASLEEP: u32 = 1 << 2;
const GICC_CTLR: usize = 0x000;
const GICC_PMR: usize = 0x004;
const GICC_IAR: usize = 0x00c;
const GICC_EOIR: usize = 0x010;
const GICC_CTLR_ENABLE: u32 = 1;

/// Every priority passes the mask; interrupts get the middle one.
const PMR_ALL: u64 = 0xff;
const PRIORITY: u8 = 0x80;
/// INTIDs 1020..1023: nothing to acknowledge.
const SPECIAL: u32 = 1020;
const V2_IAR_ID: u32 = 0x3ff;
const V3_IAR_ID: u64 = 0xff_ffff;
/// ID_AA64PFR0_EL1.GIC: 27:24, non-zero with a GICv3 CPU interface.
const PFR0_GIC_SHIFT: u64 = 24;
const PFR0_GIC_MASK: u64 = 0xf;
/// Polls for the GIC to settle before giving up (a guest must not hang on a broken GIC).
const POLLS: u32 = 100_000;

static V3: AtomicBool = AtomicBool::new(false);

/// Register accesses as single plain loads and stores (no writeback addressing, which a
/// hypervisor cannot emulate: the fault carries no syndrome).
pub fn read(addr: usize) -> u32 {
    let v: u32;
    // SAFETY: addresses in QEMU virt's GIC windows (device memory, MMU off).
    unsafe { asm!("ldr {v:w}, [{a}]", a = in(reg) addr, v = out(reg) v, options(nostack)) };
    v
}

pub fn write(addr: usize, v: u32) {
    // SAFETY: as in read.
    unsafe { asm!("str {v:w}, [{a}]", a = in(reg) addr, v = in(reg) v, options(nostack)) };
}

pub fn read_byte(addr: usize) -> u8 {
    let v: u32;
    // SAFETY: as in read (IPRIORITYR takes byte accesses).
    unsafe { asm!("ldrb {v:w}, [{a}]", a = in(reg) addr, v = out(reg) v, options(nostack)) };
    v as u8
}

pub fn write_byte(addr: usize, v: u8) {
    // SAFETY: as in read_byte.
    unsafe { asm!("strb {v:w}, [{a}]", a = in(reg) addr, v = in(reg) u32::from(v), options(nostack)) };
}

fn wait_while(addr: usize, bits: u32) {
    let mut polls = POLLS;
    while read(addr) & bits != 0 && polls > 0 {
        polls -= 1;
    }
}

/// Whether the CPU has a GICv3 system-register interface.
pub fn is_v3() -> bool {
    let pfr0: u64;
    // SAFETY: reading an ID register has no side effects.
    unsafe { asm!("mrs {}, id_aa64pfr0_el1", out(reg) pfr0) };
    (pfr0 >> PFR0_GIC_SHIFT) & PFR0_GIC_MASK != 0
}

/// Distributor and CPU interface on, nothing enabled yet.
pub fn init() {
    let v3 = is_v3();
    V3.store(v3, Ordering::Release);
    if v3 {
        // SAFETY: ICC_SRE_EL1.SRE selects the system-register interface (QEMU: RAO).
        unsafe { asm!("msr icc_sre_el1, {}", "isb", in(reg) 1u64) };
        write(GICD + GICD_CTLR, GICD_CTLR_ARE | GICD_CTLR_ENABLE_GRP1);
        wait_while(GICD + GICD_CTLR, GICD_CTLR_RWP);
        write(GICR + GICR_WAKER, read(GICR + GICR_WAKER) & !WAKER_PROCESSOR_SLEEP);
        wait_while(GICR + GICR_WAKER, WAKER_CHILDREN_ASLEEP);
        // SAFETY: priority mask and group 1 enable of this CPU's interface.
        unsafe { asm!("msr icc_pmr_el1, {}", "msr icc_igrpen1_el1, {}", "isb", in(reg) PMR_ALL, in(reg) 1u64) };
    } else {
        write(GICD + GICD_CTLR, GICD_CTLR_ENABLE_GRP0);
        write(GICC + GICC_PMR, PMR_ALL as u32);
        write(GICC + GICC_CTLR, GICC_CTLR_ENABLE);
    }
}

/// Enables private interrupt `intid` (an SGI or PPI of this CPU).
pub fn enable_private(intid: u32) {
    let bit = 1 << (intid % 32);
    let i = intid as usize;
    if V3.load(Ordering::Acquire) {
        write(GICR_SGI + IGROUPR, read(GICR_SGI + IGROUPR) | bit);
        write_byte(GICR_SGI + IPRIORITYR + i, PRIORITY);
        write(GICR_SGI + ISENABLER, bit);
    } else {
        write(GICD + IGROUPR, read(GICD + IGROUPR) & !bit);
        write_byte(GICD + IPRIORITYR + i, PRIORITY);
        write(GICD + ISENABLER, bit);
    }
}

/// An acknowledged interrupt.
#[derive(Clone, Copy, Debug)]
pub struct Irq {
    pub intid: u32,
    raw: u32,
}

/// Acknowledges the pending interrupt, if there is one.
pub fn ack() -> Option<Irq> {
    let (intid, raw) = if V3.load(Ordering::Acquire) {
        let v: u64;
        // SAFETY: acknowledging changes the interrupt's state, no memory.
        unsafe { asm!("mrs {}, icc_iar1_el1", out(reg) v) };
        ((v & V3_IAR_ID) as u32, v as u32)
    } else {
        let raw = read(GICC + GICC_IAR);
        (raw & V2_IAR_ID, raw)
    };
    (intid < SPECIAL).then_some(Irq { intid, raw })
}

/// Ends an interrupt (priority drop and deactivation: EOImode 0).
pub fn eoi(irq: Irq) {
    if V3.load(Ordering::Acquire) {
        // SAFETY: as in ack.
        unsafe { asm!("msr icc_eoir1_el1, {}", in(reg) u64::from(irq.raw)) };
    } else {
        write(GICC + GICC_EOIR, irq.raw);
    }
}
