//! A tiny runtime for bulkhead's ARMv8 test guests.
//!
//! The guests are ordinary EL1 bare-metal programs: they do not know whether they run
//! natively on QEMU virt (EL1, no hypervisor) or as a bulkhead partition, and must print
//! the same lines either way (the equivalence tests compare them). They use the PL011 at
//! its QEMU virt address, the EL1 virtual timer, and PSCI over HVC (the conduit QEMU gives
//! EL1 when there is no EL2, and the one bulkhead offers its partitions).
//!
//! Interrupts: [`gic`] drives QEMU virt's GICv3 or GICv2 (whichever the CPU reports); an
//! IRQ taken at EL1 goes to the handler set with [`on_irq`], between acknowledge and EOI.
//! More CPUs: [`smp`] starts them with PSCI CPU_ON, each on its own stack.
#![no_std]

pub mod gic;
pub mod smp;

use core::arch::{asm, global_asm};
use core::fmt::{self, Write};
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// QEMU virt's PL011 (emulated by bulkhead for partitions with an emulated console).
const UART: usize = 0x0900_0000;
const UART_FR: usize = 0x18;
const FR_TXFF: u32 = 1 << 5;
const FR_RXFE: u32 = 1 << 4;

// Entry: stack, .bss, exception vectors, then the guest's `main`.
global_asm!(
    ".section .text.entry, \"ax\"",
    ".global _start",
    "_start:",
    "    ldr x9, =__stack_top",     // our stack, from the linker script
    "    mov sp, x9",
    "    ldr x9, =__bss_start",     // zero .bss
    "    ldr x10, =__bss_end",
    "1:  cmp x9, x10",
    "    b.hs 2f",
    "    str xzr, [x9], #8",
    "    b 1b",
    "2:  ldr x9, =guest_vectors",   // report any exception we take
    "    msr vbar_el1, x9",
    "    isb",
    "    bl guest_start",
    "3:  wfi",
    "    b 3b",
    "",
    ".global guest_secondary_entry",
    "guest_secondary_entry:",       // PSCI CPU_ON (smp.rs): x0 = context ID = CPU index
    "    ldr x9, =STACKS",          // its stack: STACKS + (index + 1) * size
    "    add x10, x0, #1",
    "    mov x11, #{stack_size}",
    "    madd x9, x10, x11, x9",
    "    mov sp, x9",
    "    ldr x9, =guest_vectors",   // the same vectors as the boot CPU
    "    msr vbar_el1, x9",
    "    isb",
    "    bl guest_secondary",       // smp.rs, with x0 = the CPU index
    "4:  wfi",
    "    b 4b",
    "",
    ".section .text.vectors, \"ax\"",
    ".balign 2048",
    "guest_vectors:",
    ".rept 5",                      // synchronous/IRQ/FIQ/SError from EL1t, synchronous from EL1h
    "    .balign 128",
    "    b guest_exception_entry",
    ".endr",
    "    .balign 128",              // IRQ from EL1h: the one exception this runtime handles
    "    b guest_irq_entry",
    ".rept 10",                     // the rest
    "    .balign 128",
    "    b guest_exception_entry",
    ".endr",
    "guest_exception_entry:",
    "    ldr x9, =__stack_top",     // a fresh stack: the old one may be what faulted
    "    mov sp, x9",
    "    bl guest_exception",
    "",
    "guest_irq_entry:",             // caller-saved registers and ELR/SPSR, then guest_irq()
    "    sub sp, sp, #176",
    "    stp x0, x1, [sp, #0]",
    "    stp x2, x3, [sp, #16]",
    "    stp x4, x5, [sp, #32]",
    "    stp x6, x7, [sp, #48]",
    "    stp x8, x9, [sp, #64]",
    "    stp x10, x11, [sp, #80]",
    "    stp x12, x13, [sp, #96]",
    "    stp x14, x15, [sp, #112]",
    "    stp x16, x17, [sp, #128]",
    "    stp x18, x30, [sp, #144]",
    "    mrs x0, elr_el1",
    "    mrs x1, spsr_el1",
    "    stp x0, x1, [sp, #160]",
    "    bl guest_irq",
    "    ldp x0, x1, [sp, #160]",
    "    msr elr_el1, x0",
    "    msr spsr_el1, x1",
    "    ldp x0, x1, [sp, #0]",
    "    ldp x2, x3, [sp, #16]",
    "    ldp x4, x5, [sp, #32]",
    "    ldp x6, x7, [sp, #48]",
    "    ldp x8, x9, [sp, #64]",
    "    ldp x10, x11, [sp, #80]",
    "    ldp x12, x13, [sp, #96]",
    "    ldp x14, x15, [sp, #112]",
    "    ldp x16, x17, [sp, #128]",
    "    ldp x18, x30, [sp, #144]",
    "    add sp, sp, #176",
    "    eret",
    stack_size = const smp::STACK_SIZE,
);

/// The handler [`guest_irq`] calls: a `fn(u32)` (0 until [`on_irq`]).
static IRQ_HANDLER: AtomicUsize = AtomicUsize::new(0);
/// The virtual counter when the last IRQ reached [`guest_irq`].
static IRQ_ENTRY: AtomicU64 = AtomicU64::new(0);

/// Calls `handler(intid)` for every interrupt taken, between acknowledge and EOI.
pub fn on_irq(handler: fn(u32)) {
    IRQ_HANDLER.store(handler as usize, Ordering::Release);
}

/// The virtual counter at the entry of the last interrupt handled.
pub fn irq_entry_count() -> u64 {
    IRQ_ENTRY.load(Ordering::Acquire)
}

#[no_mangle]
extern "C" fn guest_irq() {
    IRQ_ENTRY.store(counter(), Ordering::Release);
    let Some(irq) = gic::ack() else { return };
    let h = IRQ_HANDLER.load(Ordering::Acquire);
    if h != 0 {
        // SAFETY: IRQ_HANDLER only ever holds 0 or a `fn(u32)` (on_irq).
        let h: fn(u32) = unsafe { core::mem::transmute::<usize, fn(u32)>(h) };
        h(irq.intid);
    }
    gic::eoi(irq);
}

/// Unmasks IRQs at EL1 (a pending one is taken at once).
pub fn irqs_on() {
    // SAFETY: only PSTATE.I changes; the vector table is installed at entry.
    unsafe { asm!("msr daifclr, #2", "isb") };
}

/// Masks IRQs at EL1.
pub fn irqs_off() {
    // SAFETY: only PSTATE.I changes.
    unsafe { asm!("msr daifset, #2") };
}

/// Waits for an interrupt (returns at once if one is pending, masked or not).
pub fn wfi() {
    // SAFETY: waiting for an interrupt has no other effect.
    unsafe { asm!("wfi") };
}

/// Sleeps in WFI until `done()` holds, taking interrupts as they come (no lost wake-up:
/// the test runs with IRQs masked, and a pending IRQ ends WFI even then).
pub fn wait_until(done: impl Fn() -> bool) {
    irqs_off();
    while !done() {
        wfi();
        irqs_on();
        irqs_off();
    }
    irqs_on();
}

/// The EL1 virtual timer's interrupt (PPI 11).
pub const VTIMER_IRQ: u32 = 27;
/// CNTV_CTL_EL0.ENABLE.
const CNTV_ENABLE: u64 = 1;

/// Arms the virtual timer to fire (interrupt unmasked at the timer) when the virtual
/// counter reaches `cval`.
pub fn timer_at(cval: u64) {
    // SAFETY: the EL1 virtual timer belongs to this guest; programming it has no other effect.
    unsafe { asm!("msr cntv_cval_el0, {}", "msr cntv_ctl_el0, {}", "isb", in(reg) cval, in(reg) CNTV_ENABLE) };
}

/// The compare value the virtual timer was last armed with.
pub fn timer_cval() -> u64 {
    let v: u64;
    // SAFETY: reading CNTV_CVAL_EL0 has no side effects.
    unsafe { asm!("mrs {}, cntv_cval_el0", out(reg) v) };
    v
}

/// Stops the virtual timer (its interrupt line drops).
pub fn timer_off() {
    // SAFETY: as in timer_at.
    unsafe { asm!("msr cntv_ctl_el0, xzr", "isb") };
}

extern "Rust" {
    fn main();
}

#[no_mangle]
extern "C" fn guest_start() -> ! {
    // SAFETY: `main` is the guest binary's entry, defined once by each bin.
    unsafe { main() };
    system_off()
}

#[no_mangle]
extern "C" fn guest_exception() -> ! {
    let (esr, elr, far): (u64, u64, u64);
    // SAFETY: reading EL1 syndrome registers has no side effects.
    unsafe {
        asm!("mrs {}, esr_el1", "mrs {}, elr_el1", "mrs {}, far_el1", out(reg) esr, out(reg) elr, out(reg) far);
    }
    println!("guest exception: EC {:#x} ESR {esr:#x} ELR {elr:#x} FAR {far:#x}", esr >> 26);
    system_off()
}

pub struct Console;

impl Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for b in s.bytes() {
            // SAFETY: the PL011 registers are at UART on QEMU virt and in every partition
            // with an emulated console; with the MMU off these are device accesses.
            unsafe {
                while core::ptr::read_volatile((UART + UART_FR) as *const u32) & FR_TXFF != 0 {}
                core::ptr::write_volatile(UART as *mut u32, b as u32);
            }
        }
        Ok(())
    }
}

/// A byte typed on the console, if one is waiting (never waits).
pub fn getc() -> Option<u8> {
    (gic::read(UART + UART_FR) & FR_RXFE == 0).then(|| gic::read(UART) as u8)
}

#[macro_export]
macro_rules! println {
    ($($arg:tt)*) => {{
        use core::fmt::Write as _;
        let _ = writeln!($crate::Console, $($arg)*);
    }};
}

/// A raw SMCCC call over HVC: function in x0, arguments x1..x4, results x0..x3.
pub fn hvc(function: u64, args: [u64; 4]) -> [u64; 4] {
    let (mut r0, mut r1, mut r2, mut r3) = (function, args[0], args[1], args[2]);
    // SAFETY: HVC transfers to the hypervisor (or QEMU's PSCI); per SMCCC only x0-x17 may
    // change, and they are declared clobbered/outputs here.
    unsafe {
        asm!("hvc #0",
            inout("x0") r0, inout("x1") r1, inout("x2") r2, inout("x3") r3, inout("x4") args[3] => _,
            out("x5") _, out("x6") _, out("x7") _, out("x8") _, out("x9") _, out("x10") _, out("x11") _,
            out("x12") _, out("x13") _, out("x14") _, out("x15") _, out("x16") _, out("x17") _);
    }
    [r0, r1, r2, r3]
}

const PSCI_SYSTEM_OFF: u64 = 0x8400_0008;

/// Powers off (natively: the machine; as a partition: this partition).
pub fn system_off() -> ! {
    hvc(PSCI_SYSTEM_OFF, [0; 4]);
    loop {
        // SAFETY: waiting for an interrupt has no other effect.
        unsafe { asm!("wfi") };
    }
}

/// The virtual counter (CNTVCT_EL0).
pub fn counter() -> u64 {
    let v: u64;
    // SAFETY: reading the virtual counter has no side effects.
    unsafe { asm!("isb", "mrs {}, cntvct_el0", out(reg) v) };
    v
}

/// The counter frequency in Hz (CNTFRQ_EL0).
pub fn counter_hz() -> u64 {
    let v: u64;
    // SAFETY: as above.
    unsafe { asm!("mrs {}, cntfrq_el0", out(reg) v) };
    v
}

/// Waits `ticks` of the virtual counter with the EL1 virtual timer, polled (interrupt
/// masked at the timer: this runtime has no interrupt controller driver).
pub fn sleep_ticks(ticks: u64) {
    const ENABLE: u64 = 1;
    const IMASK: u64 = 1 << 1;
    const ISTATUS: u64 = 1 << 2;
    // SAFETY: the EL1 virtual timer belongs to this guest; programming it has no other effect.
    unsafe {
        asm!("msr cntv_tval_el0, {}", "msr cntv_ctl_el0, {}", "isb", in(reg) ticks, in(reg) ENABLE | IMASK);
        loop {
            let ctl: u64;
            asm!("mrs {}, cntv_ctl_el0", out(reg) ctl);
            if ctl & ISTATUS != 0 {
                break;
            }
        }
        asm!("msr cntv_ctl_el0, xzr");
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    println!("guest panic: {info}");
    system_off()
}
