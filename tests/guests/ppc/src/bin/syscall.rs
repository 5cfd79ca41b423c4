//! Syscall: a kernel and a user program. The kernel maps a user code page and a user stack
//! page, drops to user mode with `rfi`; the user program makes `sc` system calls that the
//! kernel's IVOR8 handler answers, reads SPRG3 and SPRG7 through their user read aliases
//! (259, 263: no trap, the values the kernel wrote), tries a privileged instruction and a
//! read of kernel-only memory (both must fault into the kernel), then exits back to
//! supervisor mode.
//!
//! Under bulkhead both the guest kernel and its user program run in problem state; only the
//! virtual MSR[PR] tells them apart, and the shadow TLB keeps the user program away from
//! the kernel's supervisor-only pages.
#![no_std]
#![no_main]

use core::arch::global_asm;
use guests_ppc::{esr, ivor, mfmsr, msr, println, set_trap_handler, tlb, tlb1_write, Frame, Mapping};

/// Where the user program and its stack are mapped.
const USER_TEXT_VA: u32 = 0x1000_0000;
const USER_STACK_VA: u32 = 0x1001_0000;
const PAGE: u32 = 0x1000;

/// System call numbers (in r0), answers in r3.
const SYS_HELLO: u32 = 1;
const SYS_ADD: u32 = 2;
const SYS_PRINT: u32 = 3;
const SYS_EXIT: u32 = 4;
/// SYS_SPRG(n, value): the user program read `value` from SPRGn.
const SYS_SPRG: u32 = 5;
/// What the kernel writes to SPRG3 and SPRG7 before entering user mode.
const SPRG3_VALUE: u32 = 0x5350_5233;
const SPRG7_VALUE: u32 = 0x5350_5237;

extern "C" {
    static __user_text: u8;
    static __user_stack: u8;
    fn user_program();
    /// Enters user mode at `entry` with stack `sp` and MSR `msr`; returns the exit code
    /// when the user program calls SYS_EXIT.
    fn enter_user(entry: u32, sp: u32, msr: u32) -> u32;
    fn user_returned();
}

/// The kernel stack pointer saved by `enter_user`, restored by SYS_EXIT.
#[no_mangle]
static mut KERNEL_SP: u32 = 0;

global_asm!(
    r#"
    .section .user_text, "ax"
    .globl user_program
user_program:
    li 0, 1                            # SYS_HELLO
    sc
    li 0, 2                            # SYS_ADD(40, 2)
    li 3, 40
    li 4, 2
    sc
    li 0, 3                            # SYS_PRINT(result)
    sc
    li 0, 5                            # SYS_SPRG(3, SPRG3 as user mode reads it)
    li 3, 3
    mfspr 4, 259
    sc
    li 0, 5                            # SYS_SPRG(7, SPRG7 as user mode reads it)
    li 3, 7
    mfspr 4, 263
    sc
    mfmsr 5                            # privileged: the kernel sees a program interrupt
    li 6, 0
    lwz 7, 0(6)                        # kernel-only page: the kernel sees a DSI
    li 0, 4                            # SYS_EXIT(7)
    li 3, 7
    sc
    b .

    .text
    .globl enter_user
enter_user:                            # r3 = entry, r4 = user sp, r5 = user MSR
    mflr 0
    stw 0, 4(1)
    stwu 1, -96(1)
    mfcr 0
    stw 0, 8(1)
    stmw 14, 12(1)                     # callee-saved registers
    lis 6, KERNEL_SP@ha
    stw 1, KERNEL_SP@l(6)
    mtspr 26, 3                        # SRR0 = user entry
    mtspr 27, 5                        # SRR1 = user MSR
    mr 1, 4
    rfi
    .globl user_returned
user_returned:                         # r1 = KERNEL_SP, r3 = exit code (set by SYS_EXIT)
    lwz 0, 8(1)
    mtcr 0
    lmw 14, 12(1)
    addi 1, 1, 96
    lwz 0, 4(1)
    mtlr 0
    blr
    "#
);

fn on_trap(f: &mut Frame) -> bool {
    let from = if f.srr1 & msr::PR != 0 { "user" } else { "kernel" };
    match f.vector {
        ivor::SYSTEM_CALL => match f.gpr[0] {
            SYS_HELLO => println!("syscall: hello from {from} mode"),
            SYS_ADD => f.gpr[3] = f.gpr[3].wrapping_add(f.gpr[4]),
            SYS_PRINT => println!("syscall: user says {}", f.gpr[3]),
            SYS_SPRG => println!("syscall: user mode reads SPRG{} = {:#010x}", f.gpr[3], f.gpr[4]),
            SYS_EXIT => {
                // Back to the kernel: where enter_user's caller resumes, in supervisor mode.
                f.srr0 = user_returned as *const () as usize as u32;
                f.srr1 = mfmsr() & !msr::EE;
                // SAFETY: written by enter_user before the user program ran.
                f.gpr[1] = unsafe { KERNEL_SP };
            }
            n => {
                println!("syscall: unknown system call {n}");
                f.gpr[3] = u32::MAX;
            }
        },
        ivor::PROGRAM if f.esr & esr::PPR != 0 => {
            println!("syscall: {from} mode privileged instruction at {:#010x}: program interrupt ESR {:#010x}", f.srr0, f.esr);
            f.srr0 += 4;
        }
        ivor::DATA_STORAGE => {
            println!("syscall: {from} mode read of {:#010x}: data storage interrupt ESR {:#010x}", f.dear, f.esr);
            f.srr0 += 4;
        }
        _ => return false,
    }
    true
}

#[no_mangle]
fn main() {
    set_trap_handler(on_trap);
    // Only the linker symbols' addresses are used.
    let (text, stack) = (core::ptr::addr_of!(__user_text) as u32, core::ptr::addr_of!(__user_stack) as u32);
    let code = Mapping { esel: 3, va: USER_TEXT_VA, pa: text.into(), tsize: tlb::TSIZE_4K, wimge: tlb::COHERENT, perms: tlb::UX | tlb::UR | tlb::SX | tlb::SR };
    let data = Mapping { esel: 4, va: USER_STACK_VA, pa: stack.into(), tsize: tlb::TSIZE_4K, wimge: tlb::COHERENT, perms: tlb::UR | tlb::UW | tlb::SR | tlb::SW };
    // SAFETY: two new pages at addresses nothing else maps.
    unsafe {
        tlb1_write(&code);
        tlb1_write(&data);
    }
    let entry = USER_TEXT_VA + (user_program as *const () as usize as u32 - text);
    // SAFETY: SPRG3 and SPRG7 are scratch registers nothing else here uses.
    unsafe {
        core::arch::asm!("mtspr 275, {0}", "mtspr 279, {1}", in(reg) SPRG3_VALUE, in(reg) SPRG7_VALUE);
    }
    println!("syscall: entering user mode");
    // SAFETY: the user program only runs from its own pages and returns through SYS_EXIT.
    let code = unsafe { enter_user(entry, USER_STACK_VA + PAGE - 16, mfmsr() | msr::PR) };
    let m = mfmsr();
    println!("syscall: back in supervisor mode (msr {m:#010x}), user exit code {code}");
}
