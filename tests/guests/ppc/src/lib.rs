//! A tiny runtime for bulkhead's e500v2 test guests.
//!
//! The guests are ordinary supervisor-state bare-metal programs: they do not know whether
//! they run natively on QEMU ppce500 (supervisor state, no hypervisor) or as a bulkhead
//! partition (problem state, every privileged instruction emulated), and print the same
//! lines either way. The runtime does what a small kernel does at boot:
//! - its own stack, `.bss`, IVPR/IVORs and an exception frame (SPRG0 points at it);
//! - its own TLB1 entries (see [`boot`]): RAM at 0 (supervisor only), the NS16550 page and
//!   the GPIO page at their physical CCSR addresses (0xF_E000_0000, MAS7 = 0xF);
//! - a polled console on the NS16550 at CCSR+0x4500 (as a partition, bulkhead's emulated
//!   console answers at that guest-physical address);
//! - power off through the platform's GPIO power-off pin (CCSR+0xFF000, pin 0), like
//!   Linux's gpio-poweroff: natively QEMU exits; as a partition bulkhead emulates the same
//!   register and stops the partition.
//!
//! Exceptions go to [`Frame`]-saving stubs and then to the handler a guest registers with
//! [`set_trap_handler`]; anything it does not claim is reported and powers off.
#![no_std]

use core::arch::{asm, global_asm};
use core::fmt::{self, Write};
use core::mem::offset_of;
use core::sync::atomic::{AtomicUsize, Ordering};

/// SPR numbers (E500CORERM table 2-2).
pub mod spr {
    pub const DEC: u16 = 22;
    pub const SRR0: u16 = 26;
    pub const SRR1: u16 = 27;
    pub const PID0: u16 = 48;
    pub const DECAR: u16 = 54;
    pub const DEAR: u16 = 61;
    pub const ESR: u16 = 62;
    pub const IVPR: u16 = 63;
    pub const TBL: u16 = 268;
    pub const TBU: u16 = 269;
    pub const SPRG0: u16 = 272;
    pub const SPRG1: u16 = 273;
    pub const SPRG2: u16 = 274;
    pub const CSRR0: u16 = 58;
    pub const CSRR1: u16 = 59;
    pub const PIR: u16 = 286;
    pub const PVR: u16 = 287;
    pub const TSR: u16 = 336;
    pub const TCR: u16 = 340;
    pub const MAS0: u16 = 624;
    pub const MAS1: u16 = 625;
    pub const MAS2: u16 = 626;
    pub const MAS3: u16 = 627;
    pub const MAS6: u16 = 630;
    pub const MAS7: u16 = 944;
    pub const HID0: u16 = 1008;
}

/// MSR bits.
pub mod msr {
    pub const WE: u32 = 1 << 18;
    pub const CE: u32 = 1 << 17;
    pub const EE: u32 = 1 << 15;
    pub const PR: u32 = 1 << 14;
    pub const ME: u32 = 1 << 12;
}

/// Timer bits: TCR enables, TSR status (write 1 to clear).
pub mod timer {
    pub const TCR_DIE: u32 = 1 << 26;
    pub const TCR_ARE: u32 = 1 << 22;
    pub const TSR_DIS: u32 = 1 << 27;
    /// Watchdog: TCR period (WP, low two bits; WPEXT, high four), reset control (WRC) and
    /// interrupt enable; TSR enable-next and interrupt status.
    pub const TCR_WP_SHIFT: u32 = 30;
    pub const TCR_WPEXT_SHIFT: u32 = 17;
    pub const TCR_WRC: u32 = 3 << 28;
    pub const TCR_WIE: u32 = 1 << 27;
    pub const TSR_ENW: u32 = 1 << 31;
    pub const TSR_WIS: u32 = 1 << 30;
    /// Fixed-interval timer: TCR period (FP, low two bits; FPEXT, high four) and interrupt
    /// enable; TSR interrupt status.
    pub const TCR_FP_SHIFT: u32 = 24;
    pub const TCR_FPEXT_SHIFT: u32 = 13;
    pub const TCR_FIE: u32 = 1 << 23;
    pub const TSR_FIS: u32 = 1 << 26;
    /// The TCR period fields (`*EXT || *P`) selecting timebase bit `bit` (0 = LSB): events
    /// are its 0→1 transitions, every 2^(bit+1) ticks.
    pub const fn period(bit: u32, p_shift: u32, ext_shift: u32) -> u32 {
        let n = 63 - bit;
        (n & 3) << p_shift | (n >> 2) << ext_shift
    }
    /// HID0[DOZE]: MSR[WE] dozes until an interrupt.
    pub const HID0_DOZE: u32 = 1 << 23;
}

/// ESR bits the guests report.
pub mod esr {
    pub const PIL: u32 = 1 << 27;
    pub const PPR: u32 = 1 << 26;
    pub const PTR: u32 = 1 << 25;
    pub const ST: u32 = 1 << 23;
}

/// The interrupts the guests handle, by IVOR number.
pub mod ivor {
    pub const DATA_STORAGE: u32 = 2;
    pub const INSTRUCTION_STORAGE: u32 = 3;
    pub const ALIGNMENT: u32 = 5;
    pub const PROGRAM: u32 = 6;
    pub const SYSTEM_CALL: u32 = 8;
    pub const EXTERNAL: u32 = 4;
    pub const DECREMENTER: u32 = 10;
    pub const FIXED_INTERVAL_TIMER: u32 = 11;
    pub const WATCHDOG: u32 = 12;
    pub const DATA_TLB: u32 = 13;
    pub const INSTRUCTION_TLB: u32 = 14;
}

/// TLB1 entry fields (MAS registers, E500CORERM 12.7.1).
pub mod tlb {
    pub const MAS0_TLB1: u32 = 1 << 28;
    pub const MAS0_ESEL_SHIFT: u32 = 16;
    pub const MAS1_VALID: u32 = 1 << 31;
    pub const MAS1_IPROT: u32 = 1 << 30;
    pub const MAS1_TSIZE_SHIFT: u32 = 8;
    pub const TSIZE_4K: u32 = 1;
    pub const TSIZE_16M: u32 = 7;
    /// WIMGE: cache-inhibited, coherent, guarded.
    pub const INHIBITED: u32 = 0x08;
    pub const COHERENT: u32 = 0x04;
    pub const GUARDED: u32 = 0x02;
    pub const UX: u32 = 0x20;
    pub const SX: u32 = 0x10;
    pub const UW: u32 = 0x08;
    pub const SW: u32 = 0x04;
    pub const UR: u32 = 0x02;
    pub const SR: u32 = 0x01;
}

/// One TLB1 entry in address space 0 with TID 0.
/// The SoC's MPIC (OpenPIC) through a 1 MiB mapping of all of CCSR (for guests that
/// use the interrupt controller and devices besides the console).
pub mod mpic {
    use super::{tlb, tlb1_write, Mapping, CCSR_PA};

    /// Where [`map`] puts CCSR.
    pub const CCSR: usize = 0xe100_0000;
    const MPIC: usize = CCSR + 0x4_0000;
    pub const GCR: usize = 0x1020;
    pub const GCR_MODE_MIXED: u32 = 0x2000_0000;
    /// This CPU's task priority, acknowledge and end-of-interrupt registers.
    pub const CTPR: usize = 0x80;
    pub const IACK: usize = 0xa0;
    pub const EOI: usize = 0xb0;
    pub const IVPR_MSK: u32 = 0x8000_0000;
    const TSIZE_1M: u32 = 5;

    /// Source `n`'s vector/priority and destination registers.
    pub const fn ivpr(n: u32) -> usize {
        0x1_0000 + 0x20 * n as usize
    }
    pub const fn idr(n: u32) -> usize {
        ivpr(n) + 0x10
    }

    /// Maps CCSR at [`CCSR`] (TLB1 entry 5, cache-inhibited and guarded).
    pub fn map() {
        let m = Mapping {
            esel: 5,
            va: CCSR as u32,
            pa: CCSR_PA,
            tsize: TSIZE_1M,
            wimge: tlb::INHIBITED | tlb::GUARDED,
            perms: tlb::SR | tlb::SW,
        };
        // SAFETY: VA 0xe100_0000 is used for nothing else; a device mapping.
        unsafe { tlb1_write(&m) };
    }

    pub fn read(reg: usize) -> u32 {
        // SAFETY: an MPIC register inside the window `map` mapped.
        unsafe { core::ptr::read_volatile((MPIC + reg) as *const u32) }
    }

    pub fn write(reg: usize, v: u32) {
        // SAFETY: as in `read`.
        unsafe { core::ptr::write_volatile((MPIC + reg) as *mut u32, v) }
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Mapping {
    pub esel: u32,
    pub va: u32,
    /// 36-bit physical address.
    pub pa: u64,
    pub tsize: u32,
    pub wimge: u32,
    pub perms: u32,
}

/// CCSR, where QEMU's ppce500 puts the SoC registers (36-bit physical).
pub const CCSR_PA: u64 = 0xf_e000_0000;
/// Where this runtime maps the CCSR pages it uses.
pub const CCSR_VA: u32 = 0xe000_0000;
const UART_PAGE: u32 = 0x4000;
const UART_OFFSET: usize = 0x500;
const GPIO_PAGE: u32 = 0xf_f000;
const GPIO_GPDIR: usize = 0x0;
const GPIO_GPDAT: usize = 0x8;
/// QEMU wires GPIO pin 0 (the MSB) to power-off.
const POWER_OFF_PIN: u32 = 0x8000_0000;
const UART: usize = (CCSR_VA + UART_PAGE) as usize + UART_OFFSET;
const UART_LSR: usize = 5;
const LSR_THRE: u8 = 0x20;

/// The guest's RAM: 16 MiB at 0, supervisor read/write/execute (entry 0 replaces the
/// loader's boot mapping of the same addresses).
pub const RAM: Mapping = Mapping {
    esel: 0,
    va: 0,
    pa: 0,
    tsize: tlb::TSIZE_16M,
    wimge: tlb::COHERENT,
    perms: tlb::SR | tlb::SW | tlb::SX,
};
const UART_MAP: Mapping = Mapping {
    esel: 1,
    va: CCSR_VA + UART_PAGE,
    pa: CCSR_PA + UART_PAGE as u64,
    tsize: tlb::TSIZE_4K,
    wimge: tlb::INHIBITED | tlb::GUARDED,
    perms: tlb::SR | tlb::SW,
};
const GPIO_MAP: Mapping = Mapping {
    esel: 2,
    va: CCSR_VA + GPIO_PAGE,
    pa: CCSR_PA + GPIO_PAGE as u64,
    tsize: tlb::TSIZE_4K,
    wimge: tlb::INHIBITED | tlb::GUARDED,
    perms: tlb::SR | tlb::SW,
};

/// The state an exception saved; a handler may change it (e.g. `srr0` to skip the
/// faulting instruction, `gpr[3]` to return a system call result) before it resumes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Frame {
    pub gpr: [u32; 32],
    pub cr: u32,
    pub lr: u32,
    pub ctr: u32,
    pub xer: u32,
    pub srr0: u32,
    pub srr1: u32,
    pub esr: u32,
    pub dear: u32,
    /// IVOR number.
    pub vector: u32,
}

/// The one exception frame (exceptions do not nest here: handlers run with EE = 0).
#[no_mangle]
static mut GUEST_FRAME: Frame =
    Frame { gpr: [0; 32], cr: 0, lr: 0, ctr: 0, xer: 0, srr0: 0, srr1: 0, esr: 0, dear: 0, vector: 0 };

/// The critical-class frame (the watchdog may interrupt a non-critical handler; `srr0` and
/// `srr1` hold CSRR0/1) and the stack its handler runs on.
#[no_mangle]
static mut GUEST_CRIT_FRAME: Frame =
    Frame { gpr: [0; 32], cr: 0, lr: 0, ctr: 0, xer: 0, srr0: 0, srr1: 0, esr: 0, dear: 0, vector: 0 };
const CRIT_STACK_SIZE: usize = 4096;
#[no_mangle]
static mut GUEST_CRIT_STACK: [u64; CRIT_STACK_SIZE / 8] = [0; CRIT_STACK_SIZE / 8];

// Entry, vectors and the exception path.
global_asm!(
    r#"
    .section .text.entry, "ax"
    .globl _start
_start:
    lis 1, __stack_top@ha              # our stack
    addi 1, 1, __stack_top@l
    li 0, 0
    stwu 0, -16(1)                     # null back chain
    lis 8, __bss_start@ha              # zero .bss
    addi 8, 8, __bss_start@l
    lis 9, __bss_end@ha
    addi 9, 9, __bss_end@l
1:  cmplw 8, 9
    bge 2f
    stw 0, 0(8)
    addi 8, 8, 4
    b 1b
2:  li 8, 0                            # IVPR = 0: vectors are in the first 64 KiB
    mtspr {ivpr}, 8
    .irp n, 2,3,4,5,6,7,8,9,10,11,13,14,32,33,34,35
    li 8, gvec_\n@l                    # IVORn = its stub
    .if \n < 16
    mtspr 400+\n, 8
    .else
    mtspr 528+\n-32, 8
    .endif
    .endr
    .irp n, 0,1,15
    li 8, gvec_fatal_\n@l              # critical input, machine check, debug: report only
    mtspr 400+\n, 8
    .endr
    li 8, gcrit_12@l                   # the watchdog: a critical-class handler (rfci)
    mtspr 412, 8
    lis 8, GUEST_FRAME@ha              # SPRG0 = the exception frame
    addi 8, 8, GUEST_FRAME@l
    mtspr {sprg0}, 8
    bl guest_start                     # never returns
3:  b 3b

    .section .text.vectors, "ax"
    .macro GVEC n
    .balign 32
gvec_\n:
    mtspr {sprg1}, 1                   # SPRG1 = interrupted r1
    mfspr 1, {sprg0}                   # r1 = the frame
    stw 0, 0(1)                        # frame.gpr[0]
    li 0, \n
    b guest_exc_common
    .endm
    .irp n, 2,3,4,5,6,7,8,9,10,11,13,14,32,33,34,35
    GVEC \n
    .endr
    .balign 32
gcrit_12:
    mtspr {sprg2}, 1                   # SPRG2 = interrupted r1
    lis 1, GUEST_CRIT_FRAME@ha         # r1 = the critical frame
    addi 1, 1, GUEST_CRIT_FRAME@l
    stw 0, 0(1)
    li 0, 12
    b guest_crit_common
    .irp n, 0,1,15
    .balign 32
gvec_fatal_\n:
    lis 1, __exc_stack_top@ha
    addi 1, 1, __exc_stack_top@l
    li 3, \n
    bl guest_fatal
    .endr

guest_exc_common:
    stw 0, {f_vector}(1)
    stmw 2, 8(1)                       # gpr[2..32]
    mfspr 0, {sprg1}
    stw 0, 4(1)                        # gpr[1]
    mfcr 0
    stw 0, {f_cr}(1)
    mflr 0
    stw 0, {f_lr}(1)
    mfctr 0
    stw 0, {f_ctr}(1)
    mfxer 0
    stw 0, {f_xer}(1)
    mfspr 0, {srr0}
    stw 0, {f_srr0}(1)
    mfspr 0, {srr1}
    stw 0, {f_srr1}(1)
    mfspr 0, {esr}
    stw 0, {f_esr}(1)
    mfspr 0, {dear}
    stw 0, {f_dear}(1)
    mr 31, 1                           # the frame, kept across the call (callee-saved)
    mr 3, 1
    lis 1, __exc_stack_top@ha          # handlers run on the exception stack
    addi 1, 1, __exc_stack_top@l
    li 0, 0
    stwu 0, -16(1)
    bl guest_trap
    mr 1, 31
    lwz 0, {f_srr0}(1)
    mtspr {srr0}, 0
    lwz 0, {f_srr1}(1)
    mtspr {srr1}, 0
    lwz 0, {f_cr}(1)
    mtcr 0
    lwz 0, {f_lr}(1)
    mtlr 0
    lwz 0, {f_ctr}(1)
    mtctr 0
    lwz 0, {f_xer}(1)
    mtxer 0
    lmw 2, 8(1)
    lwz 0, 0(1)
    lwz 1, 4(1)
    rfi

guest_crit_common:                     # as guest_exc_common with CSRR0/1, its own stack, rfci
    stw 0, {f_vector}(1)
    stmw 2, 8(1)
    mfspr 0, {sprg2}
    stw 0, 4(1)
    mfcr 0
    stw 0, {f_cr}(1)
    mflr 0
    stw 0, {f_lr}(1)
    mfctr 0
    stw 0, {f_ctr}(1)
    mfxer 0
    stw 0, {f_xer}(1)
    mfspr 0, {csrr0}
    stw 0, {f_srr0}(1)
    mfspr 0, {csrr1}
    stw 0, {f_srr1}(1)
    mr 31, 1
    mr 3, 1
    lis 1, (GUEST_CRIT_STACK+{crit_stack})@ha
    addi 1, 1, (GUEST_CRIT_STACK+{crit_stack})@l
    li 0, 0
    stwu 0, -16(1)
    bl guest_critical
    mr 1, 31
    lwz 0, {f_srr0}(1)
    mtspr {csrr0}, 0
    lwz 0, {f_srr1}(1)
    mtspr {csrr1}, 0
    lwz 0, {f_cr}(1)
    mtcr 0
    lwz 0, {f_lr}(1)
    mtlr 0
    lwz 0, {f_ctr}(1)
    mtctr 0
    lwz 0, {f_xer}(1)
    mtxer 0
    lmw 2, 8(1)
    lwz 0, 0(1)
    lwz 1, 4(1)
    rfci
    "#,
    sprg2 = const spr::SPRG2,
    csrr0 = const spr::CSRR0,
    csrr1 = const spr::CSRR1,
    crit_stack = const CRIT_STACK_SIZE,
    ivpr = const spr::IVPR,
    sprg0 = const spr::SPRG0,
    sprg1 = const spr::SPRG1,
    srr0 = const spr::SRR0,
    srr1 = const spr::SRR1,
    esr = const spr::ESR,
    dear = const spr::DEAR,
    f_cr = const offset_of!(Frame, cr),
    f_lr = const offset_of!(Frame, lr),
    f_ctr = const offset_of!(Frame, ctr),
    f_xer = const offset_of!(Frame, xer),
    f_srr0 = const offset_of!(Frame, srr0),
    f_srr1 = const offset_of!(Frame, srr1),
    f_esr = const offset_of!(Frame, esr),
    f_dear = const offset_of!(Frame, dear),
    f_vector = const offset_of!(Frame, vector),
);

extern "Rust" {
    fn main();
}

/// Reads SPR `N`.
#[inline(always)]
pub fn mfspr<const N: u16>() -> u32 {
    let v: u32;
    // SAFETY: mfspr only copies a register (none read here has side effects).
    unsafe { asm!("mfspr {0}, {1}", out(reg) v, const N, options(nomem, nostack)) };
    v
}

/// Writes SPR `N`.
///
/// # Safety
/// The caller keeps translation, vectors and timers consistent with the new value.
#[inline(always)]
pub unsafe fn mtspr<const N: u16>(v: u32) {
    // SAFETY: forwarded to the caller.
    unsafe { asm!("mtspr {1}, {0}", in(reg) v, const N, options(nostack)) };
}

pub fn mfmsr() -> u32 {
    let v: u32;
    // SAFETY: reads the MSR.
    unsafe { asm!("mfmsr {0}", out(reg) v, options(nomem, nostack)) };
    v
}

/// # Safety
/// The new MSR keeps the guest's own translation and interrupt handling working.
pub unsafe fn mtmsr(v: u32) {
    // SAFETY: forwarded to the caller.
    unsafe { asm!("mtmsr {0}", "isync", in(reg) v, options(nostack)) };
}

/// Writes a TLB1 entry.
///
/// # Safety
/// The entry must not break the mappings the guest is using.
pub unsafe fn tlb1_write(m: &Mapping) {
    let mas0 = tlb::MAS0_TLB1 | m.esel << tlb::MAS0_ESEL_SHIFT;
    let mas1 = tlb::MAS1_VALID | tlb::MAS1_IPROT | m.tsize << tlb::MAS1_TSIZE_SHIFT;
    let mas2 = m.va | m.wimge;
    let mas3 = (m.pa as u32 & 0xffff_f000) | m.perms;
    let mas7 = (m.pa >> 32) as u32;
    // SAFETY: forwarded to the caller; the MAS registers only stage the entry.
    unsafe {
        mtspr::<{ spr::MAS0 }>(mas0);
        mtspr::<{ spr::MAS1 }>(mas1);
        mtspr::<{ spr::MAS2 }>(mas2);
        mtspr::<{ spr::MAS3 }>(mas3);
        mtspr::<{ spr::MAS7 }>(mas7);
        asm!("isync", "tlbwe", "isync", options(nostack));
    }
}

/// The 64-bit timebase (user readable: never trapped).
pub fn timebase() -> u64 {
    loop {
        let hi = mfspr::<{ spr::TBU }>();
        let lo = mfspr::<{ spr::TBL }>();
        if mfspr::<{ spr::TBU }>() == hi {
            return (u64::from(hi) << 32) | u64::from(lo);
        }
    }
}

static HANDLER: AtomicUsize = AtomicUsize::new(0);

/// Installs the guest's exception handler: returns true if it handled the exception
/// (the frame, possibly changed, is resumed), false to report it and power off.
pub fn set_trap_handler(f: fn(&mut Frame) -> bool) {
    HANDLER.store(f as usize, Ordering::Release);
}

#[no_mangle]
extern "C" fn guest_start() -> ! {
    // SAFETY: the new entries map what the loader's entry mapped (RAM at 0, same
    // addresses) plus two device pages nothing else uses. The MSR stays as the loader left
    // it (0; QEMU 7.2's e500v2 also reads MSR[ME] back as 0 after setting it).
    unsafe {
        tlb1_write(&RAM);
        tlb1_write(&UART_MAP);
        tlb1_write(&GPIO_MAP);
    }
    // SAFETY: `main` is the guest binary's entry, defined once by each bin.
    unsafe { main() };
    power_off()
}

#[no_mangle]
extern "C" fn guest_trap(frame: &mut Frame) {
    let h = HANDLER.load(Ordering::Acquire);
    if h != 0 {
        // SAFETY: HANDLER only ever holds a `fn(&mut Frame) -> bool` (set_trap_handler).
        let f: fn(&mut Frame) -> bool = unsafe { core::mem::transmute::<usize, fn(&mut Frame) -> bool>(h) };
        if f(frame) {
            return;
        }
    }
    println!(
        "guest: unexpected exception IVOR{} SRR0={:#010x} SRR1={:#010x} ESR={:#010x} DEAR={:#010x}",
        frame.vector, frame.srr0, frame.srr1, frame.esr, frame.dear
    );
    power_off()
}

static CRIT_HANDLER: AtomicUsize = AtomicUsize::new(0);

/// Installs the handler for the watchdog (IVOR12, critical class, returns with `rfci`):
/// as [`set_trap_handler`], with CSRR0/1 in the frame's `srr0`/`srr1`.
pub fn set_critical_handler(f: fn(&mut Frame) -> bool) {
    CRIT_HANDLER.store(f as usize, Ordering::Release);
}

#[no_mangle]
extern "C" fn guest_critical(frame: &mut Frame) {
    let h = CRIT_HANDLER.load(Ordering::Acquire);
    if h != 0 {
        // SAFETY: CRIT_HANDLER only ever holds a `fn(&mut Frame) -> bool`.
        let f: fn(&mut Frame) -> bool = unsafe { core::mem::transmute::<usize, fn(&mut Frame) -> bool>(h) };
        if f(frame) {
            return;
        }
    }
    guest_fatal(frame.vector)
}

#[no_mangle]
extern "C" fn guest_fatal(n: u32) -> ! {
    println!("guest: unexpected critical-class exception IVOR{n}");
    power_off()
}

pub struct Console;

impl Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for b in s.bytes() {
            if b == b'\n' {
                put(b'\r');
            }
            put(b);
        }
        Ok(())
    }
}

fn put(b: u8) {
    // SAFETY: UART is the NS16550 page this runtime mapped (cache-inhibited, guarded).
    unsafe {
        while core::ptr::read_volatile((UART + UART_LSR) as *const u8) & LSR_THRE == 0 {}
        core::ptr::write_volatile(UART as *mut u8, b);
    }
}

#[macro_export]
macro_rules! println {
    ($($arg:tt)*) => {{
        use core::fmt::Write as _;
        let _ = writeln!($crate::Console, $($arg)*);
    }};
}

/// Powers off: natively the machine, as a partition this partition.
pub fn power_off() -> ! {
    let gpio = (CCSR_VA + GPIO_PAGE) as usize;
    // SAFETY: the GPIO page is mapped (guest_start); pin 0 as an output driven high is
    // QEMU's power-off.
    unsafe {
        core::ptr::write_volatile((gpio + GPIO_GPDIR) as *mut u32, POWER_OFF_PIN);
        core::ptr::write_volatile((gpio + GPIO_GPDAT) as *mut u32, POWER_OFF_PIN);
    }
    loop {
        core::hint::spin_loop();
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    println!("guest panic: {}", info.message());
    power_off()
}
