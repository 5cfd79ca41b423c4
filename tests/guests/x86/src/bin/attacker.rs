//! Attacker: a partition kernel that, one attack after another,
//! 1. reads and writes its neighbour's RAM by host-physical address (0x0300_0000, beyond
//!    its own 16 MiB of guest-physical RAM): EPT violations;
//! 2. jumps there: an instruction fetch outside its memory;
//! 3. reads a VMX capability MSR and writes IA32_FEATURE_CONTROL: refused MSRs;
//! 4. sets CR4.VMXE and executes VMXON: VMX is the hypervisor's;
//! 5. writes the hypervisor's log UART (COM2, port 0x2f8) and the PCI configuration
//!    address port (0xcf8): ports it was not given;
//! 6. unmasks IRQ 3 (COM2's and COM4's line, not its own) in its 8259 and reads the mask
//!    back; writes the I/O APIC (0xfec00000) to route interrupts itself;
//! 7. floods the hypervisor with 20,000 VERSION hypercalls (all answered), then makes an
//!    undefined one (0xC600_0042);
//! then prints `attacker: done` and powers off.
//!
//! Its exception handler reports every exception and resumes after the attack (at a
//! recovery point set before each one), so under policy `inject` each attack shows up in
//! order. It keeps the number of the next attack in RAM outside its image (restarts reload
//! only the image), so under policy `restart` each attack faults once and the next boot
//! goes on with the following one. Under `stop` the first attack is the last. Only
//! meaningful as a partition.
#![no_std]
#![no_main]

use core::arch::asm;
use guests_x86::{outb, pic, println, rdmsr, set_trap_handler, vmcall, wrmsr, Frame};

/// The neighbour's RAM in the isolation layouts (partition 1 at host 0x0300_0000).
const NEIGHBOUR: u64 = 0x0300_0000;
/// The next attack, as `PROGRESS_TAG | n`, in RAM outside the image.
const PROGRESS: u64 = 0x00f0_0008;
const PROGRESS_TAG: u64 = 0xa77a_c000_0000_0000;
const PROGRESS_MASK: u64 = 0xffff_ffff_0000_0000;

const VERSION: u64 = 0xC600_0000;
const UNDEFINED_HYPERCALL: u64 = 0xC600_0042;
const FLOOD: u32 = 20_000;
const IA32_FEATURE_CONTROL: u32 = 0x3a;
const IA32_VMX_BASIC: u32 = 0x480;
/// The PC's I/O APIC (the hypervisor's).
const IOAPIC: u64 = 0xfec0_0000;
const CR4_VMXE: u64 = 1 << 13;

/// Where the handler resumes after the current attack: the callee-saved registers, RSP and
/// RIP at the recovery point (a setjmp of sorts).
#[repr(C)]
struct Resume {
    rbx: u64,
    rbp: u64,
    r12: u64,
    r13: u64,
    r14: u64,
    r15: u64,
    rsp: u64,
    rip: u64,
}
static mut RESUME: Resume = Resume { rbx: 0, rbp: 0, r12: 0, r13: 0, r14: 0, r15: 0, rsp: 0, rip: 0 };

fn on_trap(f: &mut Frame) -> bool {
    if f.vector >= 32 {
        return false;
    }
    println!("attacker: exception vector {} error {:#x}", f.vector, f.error);
    // SAFETY: written by `guarded` before the attack; only read here.
    let r = unsafe { &*core::ptr::addr_of!(RESUME) };
    (f.rbx, f.rbp, f.r12, f.r13, f.r14, f.r15, f.rsp, f.rip) = (r.rbx, r.rbp, r.r12, r.r13, r.r14, r.r15, r.rsp, r.rip);
    true
}

/// Runs `attack`; if it faults, the handler resumes right after the call with the
/// registers as they were before it.
fn guarded(attack: fn()) {
    // SAFETY: saves the callee-saved registers, the stack pointer and the recovery address
    // into RESUME (which nothing else writes), then calls the attack; at label 2 the state
    // is the caller's either way (the attack returned, or the handler restored it).
    unsafe {
        asm!(
            "mov [rdi], rbx",
            "mov [rdi + 8], rbp",
            "mov [rdi + 16], r12",
            "mov [rdi + 24], r13",
            "mov [rdi + 32], r14",
            "mov [rdi + 40], r15",
            "mov [rdi + 48], rsp",
            "lea rax, [rip + 2f]",
            "mov [rdi + 56], rax",
            "call rsi",
            "2:",
            in("rsi") attack,
            in("rdi") core::ptr::addr_of_mut!(RESUME),
            clobber_abi("C"),
        )
    }
}

fn neighbour_memory() {
    println!("attacker: reading {NEIGHBOUR:#x}");
    // SAFETY: the attack: a physical address that is not ours (paging maps it 1:1).
    let v = unsafe { core::ptr::read_volatile(NEIGHBOUR as *const u32) };
    println!("attacker: read {v:#x}");
}

fn neighbour_write() {
    println!("attacker: writing {NEIGHBOUR:#x}");
    // SAFETY: as above.
    unsafe { core::ptr::write_volatile(NEIGHBOUR as *mut u32, 0xdead_beef) };
}

fn neighbour_jump() {
    println!("attacker: jumping to {NEIGHBOUR:#x}");
    // SAFETY: the attack: executing someone else's memory.
    unsafe { asm!("call {}", in(reg) NEIGHBOUR, clobber_abi("C")) };
}

fn vmx_msr() {
    println!("attacker: reading IA32_VMX_BASIC");
    // SAFETY: the attack: the hypervisor's capability MSR.
    unsafe { rdmsr(IA32_VMX_BASIC) };
}

fn feature_control() {
    println!("attacker: writing IA32_FEATURE_CONTROL");
    // SAFETY: the attack: the platform's lock register.
    unsafe { wrmsr(IA32_FEATURE_CONTROL, 0) };
}

fn vmx() {
    println!("attacker: setting CR4.VMXE");
    // SAFETY: the attack: VMX operation is the hypervisor's.
    unsafe { asm!("mov rax, cr4", "or rax, {}", "mov cr4, rax", in(reg) CR4_VMXE, out("rax") _) };
}

fn vmxon() {
    println!("attacker: vmxon");
    let region: u64 = 0x0080_0000;
    // SAFETY: the attack.
    unsafe { asm!("vmxon [{}]", in(reg) &region) };
}

fn log_uart() {
    println!("attacker: writing port 0x2f8");
    // SAFETY: the attack: the hypervisor's log UART.
    unsafe { outb(0x2f8, b'!') };
}

fn pci() {
    println!("attacker: writing port 0xcf8");
    // SAFETY: the attack: PCI configuration space.
    unsafe { asm!("out dx, eax", in("dx") 0xcf8u16, in("eax") 0x8000_0000u32) };
}

fn irq_line() {
    println!("attacker: unmasking IRQ 3 (not its own)");
    pic::set_masks([!(1 << 3), 0xff]);
    let [m, s] = pic::masks();
    println!("attacker: 8259 masks read {m:#x} {s:#x}");
}

fn ioapic() {
    println!("attacker: writing the I/O APIC at {IOAPIC:#x}");
    // SAFETY: the attack: selecting redirection entry 3 (the page is identity-mapped).
    unsafe { core::ptr::write_volatile(IOAPIC as *mut u32, 0x16) };
}

fn flood() {
    println!("attacker: {FLOOD} VERSION hypercalls");
    let answered = (0..FLOOD).filter(|_| vmcall(VERSION, [0; 4])[0] == 0).count();
    println!("attacker: {answered} answered");
    println!("attacker: hypercall {UNDEFINED_HYPERCALL:#x}");
    vmcall(UNDEFINED_HYPERCALL, [0; 4]);
}

const ATTACKS: [fn(); 12] =
    [neighbour_memory, neighbour_write, neighbour_jump, vmx_msr, feature_control, vmx, vmxon, log_uart, pci, irq_line, ioapic, flood];

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
    set_trap_handler(on_trap);
    let p = progress();
    let first = if p & PROGRESS_MASK == PROGRESS_TAG { (p & !PROGRESS_MASK) as usize } else { 0 };
    for (n, attack) in ATTACKS.iter().enumerate().skip(first) {
        set_progress(PROGRESS_TAG | (n as u64 + 1));
        guarded(*attack);
    }
    set_progress(0);
    println!("attacker: done");
}
