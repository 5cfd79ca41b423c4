//! A tiny runtime for bulkhead's ARMv8 test guests.
//!
//! The guests are ordinary EL1 bare-metal programs: they do not know whether they run
//! natively on QEMU virt (EL1, no hypervisor) or as a bulkhead partition, and must print
//! the same lines either way (the equivalence tests compare them). They use the PL011 at
//! its QEMU virt address, the EL1 virtual timer, and PSCI over HVC (the conduit QEMU gives
//! EL1 when there is no EL2, and the one bulkhead offers its partitions).
#![no_std]

use core::arch::{asm, global_asm};
use core::fmt::{self, Write};

/// QEMU virt's PL011 (emulated by bulkhead for partitions with an emulated console).
const UART: usize = 0x0900_0000;
const UART_FR: usize = 0x18;
const FR_TXFF: u32 = 1 << 5;

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
    ".section .text.vectors, \"ax\"",
    ".balign 2048",
    "guest_vectors:",
    ".rept 16",
    "    .balign 128",
    "    b guest_exception_entry",
    ".endr",
    "guest_exception_entry:",
    "    ldr x9, =__stack_top",     // a fresh stack: the old one may be what faulted
    "    mov sp, x9",
    "    bl guest_exception",
);

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
