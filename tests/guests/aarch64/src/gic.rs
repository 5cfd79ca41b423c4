//! A tiny GIC driver for EL1, at QEMU virt's addresses: GICv3 (distributor, this CPU's
//! redistributor, ICC system registers) or GICv2 (distributor, GICC), whichever
//! ID_AA64PFR0_EL1.GIC says the CPU has. Plain `-M virt` is GICv2; bulkhead partitions see
//! the version of the machine they run on. Everything in one group (group 1 on GICv3,
//! group 0 on GICv2, signalled as IRQ either way), EOImode 0. The boot CPU calls [`init`],
//! every other CPU [`init_cpu`]; SGIs go to CPUs by index (MPIDR Aff0, as on QEMU virt).

use core::arch::asm;
use core::sync::atomic::{AtomicBool, AtomicU8, Ordering};

const GICD: usize = 0x0800_0000;
/// GICv3: the redistributors, one RD_base + SGI_base pair (128 KiB) per CPU.
const GICR: usize = 0x080a_0000;
const GICR_STRIDE: usize = 0x2_0000;
const GICR_SGI: usize = 0x1_0000;
const GICR_TYPER: usize = 0x008;
/// GICR_TYPER: the last redistributor of the region.
const GICR_TYPER_LAST: u32 = 1 << 4;
/// Redistributors looked at before giving up (the frame marked Last ends the walk).
const GICR_MAX: usize = 8;
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
/// GICv2: CPU interface numbers of CPUs 0..8 (banked GICD_ITARGETSR0..7 read their own).
const GICD_ITARGETSR: usize = 0x800;
const GICD_SGIR: usize = 0xf00;
/// ICC_SGI1R_EL1: the INTID field.
const SGI1R_INTID_SHIFT: u64 = 24;

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
/// GICv2: each started CPU's interface mask (by CPU index), as its ITARGETSR0 reads.
static V2_MASKS: [AtomicU8; 8] = [const { AtomicU8::new(0) }; 8];

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

/// This CPU's index (MPIDR_EL1.Aff0: CPU n of QEMU virt, vCPU n of a partition).
pub fn cpu() -> usize {
    let mpidr: u64;
    // SAFETY: reading MPIDR_EL1 has no side effects.
    unsafe { asm!("mrs {}, mpidr_el1", out(reg) mpidr) };
    (mpidr & 0xff) as usize
}

/// This CPU's redistributor (RD_base), found by its affinity in GICR_TYPER[63:32] (read
/// as two words), as GICv3 software must; the first one if none matches.
fn redistributor() -> usize {
    let mpidr: u64;
    // SAFETY: reading MPIDR_EL1 has no side effects.
    unsafe { asm!("mrs {}, mpidr_el1", out(reg) mpidr) };
    let me = (((mpidr >> 8) & 0xff00_0000) | (mpidr & 0x00ff_ffff)) as u32;
    for i in 0..GICR_MAX {
        let rd = GICR + i * GICR_STRIDE;
        if read(rd + GICR_TYPER + 4) == me {
            return rd;
        }
        if read(rd + GICR_TYPER) & GICR_TYPER_LAST != 0 {
            break;
        }
    }
    GICR
}

/// Boot CPU: distributor on, then this CPU's interface ([`init_cpu`]); nothing enabled yet.
pub fn init() {
    let v3 = is_v3();
    V3.store(v3, Ordering::Release);
    if v3 {
        // SAFETY: ICC_SRE_EL1.SRE selects the system-register interface (QEMU: RAO).
        unsafe { asm!("msr icc_sre_el1, {}", "isb", in(reg) 1u64) };
        write(GICD + GICD_CTLR, GICD_CTLR_ARE | GICD_CTLR_ENABLE_GRP1);
        wait_while(GICD + GICD_CTLR, GICD_CTLR_RWP);
    } else {
        write(GICD + GICD_CTLR, GICD_CTLR_ENABLE_GRP0);
    }
    init_cpu();
}

/// This CPU's interface on (GICv3: its redistributor awake), nothing enabled yet. The
/// boot CPU's [`init`] calls it; secondary CPUs call it themselves, after [`init`] ran.
pub fn init_cpu() {
    if V3.load(Ordering::Acquire) {
        // SAFETY: as in init.
        unsafe { asm!("msr icc_sre_el1, {}", "isb", in(reg) 1u64) };
        let rd = redistributor();
        write(rd + GICR_WAKER, read(rd + GICR_WAKER) & !WAKER_PROCESSOR_SLEEP);
        wait_while(rd + GICR_WAKER, WAKER_CHILDREN_ASLEEP);
        // SAFETY: priority mask and group 1 enable of this CPU's interface.
        unsafe { asm!("msr icc_pmr_el1, {}", "msr icc_igrpen1_el1, {}", "isb", in(reg) PMR_ALL, in(reg) 1u64) };
    } else {
        if let Some(m) = V2_MASKS.get(cpu()) {
            m.store(read_byte(GICD + GICD_ITARGETSR), Ordering::Release);
        }
        write(GICC + GICC_PMR, PMR_ALL as u32);
        write(GICC + GICC_CTLR, GICC_CTLR_ENABLE);
    }
}

/// Sends SGI `intid` to the CPUs in `cpus` (bit n = CPU index n, below 16): GICv3
/// ICC_SGI1R_EL1 (Aff1..Aff3 = 0), GICv2 GICD_SGIR with the CPUs' interface masks.
/// Memory written before is visible to the targets when they take it.
pub fn send_sgi(intid: u32, cpus: u16) {
    // SAFETY: a barrier: earlier stores complete before the SGI is sent.
    unsafe { asm!("dsb sy") };
    if V3.load(Ordering::Acquire) {
        let value = u64::from(intid & 0xf) << SGI1R_INTID_SHIFT | u64::from(cpus);
        // SAFETY: generating an SGI changes interrupt state only.
        unsafe { asm!("msr icc_sgi1r_el1, {}", "isb", in(reg) value) };
    } else {
        let mut mask = 0u32;
        for n in (0..8).filter(|n| cpus & (1 << n) != 0) {
            let m = V2_MASKS[n].load(Ordering::Acquire);
            mask |= u32::from(if m != 0 { m } else { 1 << n });
        }
        write(GICD + GICD_SGIR, mask << 16 | (intid & 0xf));
    }
}

/// Enables private interrupt `intid` (an SGI or PPI of this CPU).
pub fn enable_private(intid: u32) {
    let bit = 1 << (intid % 32);
    let i = intid as usize;
    if V3.load(Ordering::Acquire) {
        let sgi = redistributor() + GICR_SGI;
        write(sgi + IGROUPR, read(sgi + IGROUPR) | bit);
        write_byte(sgi + IPRIORITYR + i, PRIORITY);
        write(sgi + ISENABLER, bit);
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
