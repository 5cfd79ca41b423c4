//! Attacker 2: a partition kernel (EL1) that, one after another,
//! 1. writes a neighbour's RAM by its host-physical address (0x4900_0000): a stage-2
//!    fault, `write outside its memory`;
//! 2. reads EL2- and EL3-only registers (HCR_EL2, SCR_EL3): UNDEFINED at EL1, taken by its
//!    own vector without the hypervisor seeing anything;
//! 3. reads the physical timer (CNTP_CTL_EL0), which belongs to the hypervisor (EL1PCEN
//!    clear): trapped to EL2, `forbidden privileged operation`;
//! 4. calls firmware with SMC (a SiP function): trapped to EL2 (HCR_EL2.TSC),
//!    `firmware call ... not allowed`;
//! 5. floods the hypervisor with 100,000 VERSION hypercalls (all answered), then makes an
//!    undefined one (0xC600_0042): `undefined hypercall`;
//! then prints `attacker2: done` and powers off.
//!
//! Its own synchronous exception vector reports every exception and resumes after the
//! faulting instruction, so under policy `inject` each attack shows up in order. It keeps
//! the number of the next attack in RAM outside its image (restarts reload only the
//! image), so under policy `restart` each attack faults once and the next boot goes on
//! with the following one. Under `stop` the first attack is the last. Only meaningful as
//! a partition.
#![no_std]
#![no_main]

use core::arch::{asm, global_asm};
use guests_aarch64::{hvc, println};

/// The neighbour's RAM in the isolation layouts (partition 0's memory at host 0x4900_0000).
const NEIGHBOUR: usize = 0x4900_0000;
/// The next attack, as `PROGRESS_TAG | n`, in RAM outside the image.
const PROGRESS: usize = 0x40f0_0008;
const PROGRESS_TAG: u64 = 0xa77a_c000_0000_0000;
const PROGRESS_MASK: u64 = 0xffff_ffff_0000_0000;

const VERSION: u64 = 0xC600_0000;
const UNDEFINED_HYPERCALL: u64 = 0xC600_0042;
const FLOOD: u32 = 100_000;
const SIP_FUNCTION: u64 = 0xC200_0001;

const EC_SHIFT: u64 = 26;
const EC_DABT_CURRENT: u64 = 0x25;

global_asm!(
    ".section .text.attacker2_vectors, \"ax\"",
    ".balign 2048",
    "attacker2_vectors:",
    ".rept 4",                      // from EL1t: not expected
    "    .balign 128",
    "    b attacker2_fatal",
    ".endr",
    "    .balign 128",              // synchronous from EL1h: report and resume
    "    b attacker2_sync_entry",
    ".rept 11",                     // the rest
    "    .balign 128",
    "    b attacker2_fatal",
    ".endr",
    "attacker2_fatal:",
    "    ldr x9, =__stack_top",
    "    mov sp, x9",
    "    bl guest_exception",       // the runtime's: prints the syndrome, powers off
    "attacker2_sync_entry:",        // caller-saved registers, then attacker2_sync()
    "    sub sp, sp, #160",
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
    "    bl attacker2_sync",
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
    "    add sp, sp, #160",
    "    eret",
);

/// Reports a synchronous exception and resumes after the instruction that took it (every
/// attack is one instruction; an injected undefined HVC points at the HVC itself).
#[no_mangle]
extern "C" fn attacker2_sync() {
    let (esr, elr, far): (u64, u64, u64);
    // SAFETY: reading EL1 syndrome registers has no side effects.
    unsafe { asm!("mrs {}, esr_el1", "mrs {}, elr_el1", "mrs {}, far_el1", out(reg) esr, out(reg) elr, out(reg) far) };
    let ec = esr >> EC_SHIFT;
    if ec == EC_DABT_CURRENT {
        println!("attacker2: exception EC {ec:#x} ESR {esr:#x} FAR {far:#x}");
    } else {
        println!("attacker2: exception EC {ec:#x} ESR {esr:#x}");
    }
    // SAFETY: steps over the faulting instruction; PSTATE comes back from SPSR_EL1.
    unsafe { asm!("msr elr_el1, {}", in(reg) elr + 4) };
}

fn write_neighbour() {
    println!("attacker2: writing {NEIGHBOUR:#x}");
    // SAFETY: this is the attack: an arbitrary physical address, written with the MMU off.
    unsafe { core::ptr::write_volatile(NEIGHBOUR as *mut u32, 0xdead_beef) };
}

fn el2_el3_registers() {
    println!("attacker2: reading HCR_EL2");
    // SAFETY: the attack: UNDEFINED at EL1 (the vector resumes after it).
    unsafe { asm!("mrs {}, hcr_el2", out(reg) _) };
    println!("attacker2: reading SCR_EL3");
    // SAFETY: as above.
    unsafe { asm!("mrs {}, scr_el3", out(reg) _) };
}

fn physical_timer() {
    println!("attacker2: reading CNTP_CTL_EL0");
    // SAFETY: the attack: the hypervisor's physical timer (trapped to EL2).
    unsafe { asm!("mrs {}, cntp_ctl_el0", out(reg) _) };
}

fn smc() {
    println!("attacker2: smc {SIP_FUNCTION:#x}");
    // SAFETY: the attack: a firmware call; per SMCCC only x0-x17 may change.
    unsafe {
        asm!("smc #0", inout("x0") SIP_FUNCTION => _, out("x1") _, out("x2") _, out("x3") _, out("x4") _,
            out("x5") _, out("x6") _, out("x7") _, out("x8") _, out("x9") _, out("x10") _, out("x11") _,
            out("x12") _, out("x13") _, out("x14") _, out("x15") _, out("x16") _, out("x17") _);
    }
}

fn flood() {
    println!("attacker2: {FLOOD} VERSION hypercalls");
    let answered = (0..FLOOD).filter(|_| hvc(VERSION, [0; 4])[0] == 0).count();
    println!("attacker2: {answered} answered");
    println!("attacker2: hypercall {UNDEFINED_HYPERCALL:#x}");
    hvc(UNDEFINED_HYPERCALL, [0; 4]);
}

const ATTACKS: [fn(); 5] = [write_neighbour, el2_el3_registers, physical_timer, smc, flood];

fn progress() -> u64 {
    // SAFETY: PROGRESS is this partition's RAM, used by nothing else.
    unsafe { core::ptr::read_volatile(PROGRESS as *const u64) }
}

fn set_progress(v: u64) {
    // SAFETY: as in progress.
    unsafe { core::ptr::write_volatile(PROGRESS as *mut u64, v) };
}

#[no_mangle]
fn main() {
    extern "C" {
        static attacker2_vectors: u8;
    }
    // SAFETY: the vector table above; only synchronous exceptions from EL1h return.
    unsafe { asm!("msr vbar_el1, {}", "isb", in(reg) core::ptr::addr_of!(attacker2_vectors)) };
    let p = progress();
    let first = if p & PROGRESS_MASK == PROGRESS_TAG { (p & !PROGRESS_MASK) as usize } else { 0 };
    for (n, attack) in ATTACKS.iter().enumerate().skip(first) {
        set_progress(PROGRESS_TAG | (n as u64 + 1));
        attack();
    }
    set_progress(0);
    println!("attacker2: done");
}
