//! A tiny runtime for bulkhead's x86-64 test guests.
//!
//! The guests are ordinary Multiboot (version 1) kernels: they do not know whether GRUB
//! started them natively on Bochs or bulkhead started them as a partition, and must print
//! the same lines either way (the equivalence tests compare them). The runtime does what a
//! small kernel does at boot:
//! - entered in 32-bit protected mode with paging off (Multiboot's machine state: EAX =
//!   0x2BADB002, EBX = the boot information), it zeroes `.bss`, identity-maps the first
//!   4 GiB with 2 MiB pages (RAM and the PC's devices: I/O APIC, local APIC), turns on
//!   long mode and calls the guest's `main`;
//! - an IDT for all 256 vectors whose stubs save every register into a [`Frame`] and call
//!   the handler a guest registers with [`set_trap_handler`]; whatever it does not claim
//!   is reported and powers off;
//! - a polled console on COM1 (port 0x3f8, a 16550; as a partition, bulkhead's emulated
//!   one);
//! - power off through Bochs's shutdown port (0x8900, "Shutdown"), which bulkhead
//!   emulates for its partitions;
//! - the local APIC in x2APIC mode ([`x2apic`]: MSRs only), whose TSC-deadline timer is
//!   the guests' timer (bulkhead's virtual local APIC as a partition);
//! - a second CPU ([`start_ap`]): INIT and STARTUP IPIs, a real-mode trampoline at
//!   [`AP_TRAMPOLINE`] that goes straight to long mode on the boot CPU's page tables.
#![no_std]

use core::arch::{asm, global_asm};
use core::fmt::{self, Write};
use core::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};

/// Multiboot header: magic, flags (align modules, memory information), checksum.
const MULTIBOOT_MAGIC: u32 = 0x1bad_b002;
const MULTIBOOT_FLAGS: u32 = 0x3;
/// What a Multiboot loader leaves in EAX.
pub const MULTIBOOT_BOOTLOADER_MAGIC: u32 = 0x2bad_b002;

/// Code and data selectors of the runtime's GDT.
const CODE64: u16 = 0x08;
const DATA: u16 = 0x10;

global_asm!(
    ".pushsection .multiboot, \"a\"",
    ".p2align 2",
    ".long {mb_magic}",
    ".long {mb_flags}",
    ".long -({mb_magic} + {mb_flags})",
    ".popsection",

    ".pushsection .text.entry, \"ax\"",
    ".code32",
    ".global _start",
    "_start:",
    "cli",
    "cld",
    "mov $__stack_top, %esp",
    "mov %eax, %ebp",                    // boot magic and information, kept across
    "mov %ebx, %esi",                    //   the set-up below
    "mov $__bss_start, %edi",            // zero .bss (page tables and stack included)
    "mov $__bss_end, %ecx",
    "sub %edi, %ecx",
    "shr $2, %ecx",
    "xor %eax, %eax",
    "rep stosl",
    "mov $guest_pdpt + 3, %eax",         // PML4[0] -> PDPT (present, writable)
    "mov %eax, guest_pml4",
    "mov $guest_pd + 3, %eax",           // PDPT[0..3] -> the four PDs
    "mov $guest_pdpt, %edi",
    "mov $4, %ecx",
    "0:",
    "mov %eax, (%edi)",
    "add $4096, %eax",
    "add $8, %edi",
    "loop 0b",
    "mov $0x83, %eax",                   // PDs: 2048 x 2 MiB identity pages (4 GiB)
    "mov $guest_pd, %edi",
    "mov $2048, %ecx",
    "1:",
    "mov %eax, (%edi)",
    "add $0x200000, %eax",
    "add $8, %edi",
    "loop 1b",
    "mov %cr4, %eax",                    // CR4.PAE
    "or $0x20, %eax",
    "mov %eax, %cr4",
    "mov $guest_pml4, %eax",
    "mov %eax, %cr3",
    "mov $0xc0000080, %ecx",             // EFER.LME
    "rdmsr",
    "or $0x100, %eax",
    "wrmsr",
    "mov %cr0, %eax",                    // CR0.PG: long mode (compatibility mode)
    "or $0x80000000, %eax",
    "mov %eax, %cr0",
    "lgdt guest_gdt_ptr",
    "ljmp ${code64}, $2f",
    ".code64",
    "2:",
    "mov ${data}, %eax",
    "mov %eax, %ds",
    "mov %eax, %es",
    "mov %eax, %ss",
    "xor %eax, %eax",
    "mov %eax, %fs",
    "mov %eax, %gs",
    "lea __stack_top(%rip), %rsp",
    "mov %ebp, %edi",                    // guest_start(magic, info)
    "mov %esi, %esi",
    "call guest_start",
    "3:",
    "cli",
    "hlt",
    "jmp 3b",
    ".popsection",

    ".pushsection .rodata.guest_gdt, \"a\"",
    ".p2align 3",
    "guest_gdt:",
    ".quad 0",
    ".quad 0x00af9a000000ffff",          // 0x08: 64-bit code
    ".quad 0x00cf92000000ffff",          // 0x10: data
    "guest_gdt_ptr:",
    ".short guest_gdt_ptr - guest_gdt - 1",
    ".quad guest_gdt",
    ".popsection",

    ".pushsection .bss.tables, \"aw\", @nobits",
    ".p2align 12",
    "guest_pml4: .skip 4096",
    "guest_pdpt: .skip 4096",
    "guest_pd: .skip 4 * 4096",
    ".popsection",
    mb_magic = const MULTIBOOT_MAGIC,
    mb_flags = const MULTIBOOT_FLAGS,
    code64 = const CODE64,
    data = const DATA,
    options(att_syntax),
);

// ---- Exceptions and interrupts. ----

/// Vectors for which the CPU pushes an error code: 8, 10-14, 17, 21, 29, 30.
const ERROR_CODE_VECTORS: u32 = 0x6022_7d00;
const STUB_SIZE: usize = 16;

/// What a stub saves, lowest address first: the general registers, the vector, the error
/// code (0 if the CPU pushes none) and the CPU's interrupt frame.
#[repr(C)]
#[derive(Debug)]
pub struct Frame {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rbp: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rdx: u64,
    pub rcx: u64,
    pub rbx: u64,
    pub rax: u64,
    pub vector: u64,
    pub error: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

global_asm!(
    ".pushsection .text.guest_stubs, \"ax\"",
    ".p2align 4",
    "guest_stubs:",
    ".set vector, 0",
    ".rept 256",
    ".p2align 4",
    ".if vector < 32 && (({errors} >> vector) & 1) == 1",
    ".else",
    "pushq $0",
    ".endif",
    "pushq $vector",
    "jmp guest_trap_common",
    ".set vector, vector + 1",
    ".endr",
    "guest_trap_common:",
    "push %rax", "push %rbx", "push %rcx", "push %rdx", "push %rsi", "push %rdi", "push %rbp",
    "push %r8", "push %r9", "push %r10", "push %r11", "push %r12", "push %r13", "push %r14", "push %r15",
    "mov %rsp, %rdi",
    "mov %rsp, %rbx",                    // callee-saved: the frame, for after the call
    "and $-16, %rsp",
    "call guest_trap",
    "mov %rbx, %rsp",
    "pop %r15", "pop %r14", "pop %r13", "pop %r12", "pop %r11", "pop %r10", "pop %r9", "pop %r8",
    "pop %rbp", "pop %rdi", "pop %rsi", "pop %rdx", "pop %rcx", "pop %rbx", "pop %rax",
    "add $16, %rsp",                     // vector and error code
    "iretq",
    ".popsection",
    errors = const ERROR_CODE_VECTORS,
    options(att_syntax),
);

#[repr(C)]
#[derive(Clone, Copy)]
struct Gate {
    offset_low: u16,
    selector: u16,
    ist: u8,
    attributes: u8,
    offset_mid: u16,
    offset_high: u32,
    reserved: u32,
}

#[repr(C, align(16))]
struct Idt([Gate; 256]);

static mut IDT: Idt = Idt([Gate { offset_low: 0, selector: 0, ist: 0, attributes: 0, offset_mid: 0, offset_high: 0, reserved: 0 }; 256]);

fn load_idt() {
    extern "C" {
        static guest_stubs: u8;
    }
    let stubs = core::ptr::addr_of!(guest_stubs) as u64;
    // SAFETY: only called once, at boot, before any interrupt is enabled.
    let idt = unsafe { &mut *core::ptr::addr_of_mut!(IDT) };
    for (v, g) in idt.0.iter_mut().enumerate() {
        let h = stubs + (v * STUB_SIZE) as u64;
        *g = Gate {
            offset_low: h as u16,
            selector: CODE64,
            ist: 0,
            attributes: 0x8e,
            offset_mid: (h >> 16) as u16,
            offset_high: (h >> 32) as u32,
            reserved: 0,
        };
    }
    #[repr(C, packed)]
    struct Pointer {
        limit: u16,
        base: u64,
    }
    let p = Pointer { limit: (core::mem::size_of::<Idt>() - 1) as u16, base: idt as *const Idt as u64 };
    // SAFETY: the IDT is static and every gate points at a stub above.
    unsafe { asm!("lidt [{}]", in(reg) &p, options(readonly, nostack)) };
    IDT_POINTER.store(idt as *const Idt as u64, Ordering::Release);
}

/// The IDT's address once the boot CPU built it: a second CPU loads the same.
static IDT_POINTER: AtomicU64 = AtomicU64::new(0);

fn load_built_idt() {
    #[repr(C, packed)]
    struct Pointer {
        limit: u16,
        base: u64,
    }
    let p = Pointer { limit: (core::mem::size_of::<Idt>() - 1) as u16, base: IDT_POINTER.load(Ordering::Acquire) };
    // SAFETY: the boot CPU's IDT, complete before it started this CPU.
    unsafe { asm!("lidt [{}]", in(reg) &p, options(readonly, nostack)) };
}

/// The guest's handler: returns true if it handled the trap (the stub then resumes from
/// the frame, possibly changed).
pub type TrapHandler = fn(&mut Frame) -> bool;
static HANDLER: AtomicUsize = AtomicUsize::new(0);

pub fn set_trap_handler(h: TrapHandler) {
    HANDLER.store(h as usize, Ordering::Release);
}

#[no_mangle]
extern "C" fn guest_trap(frame: &mut Frame) {
    if frame.vector == u64::from(x2apic::SPURIOUS) {
        return; // no EOI for the spurious vector
    }
    let h = HANDLER.load(Ordering::Acquire);
    if h != 0 {
        // SAFETY: only ever set from a `TrapHandler`.
        let h: TrapHandler = unsafe { core::mem::transmute(h) };
        if h(frame) {
            return;
        }
    }
    println!("guest exception: vector {} error {:#x} rip {:#x}", frame.vector, frame.error, frame.rip);
    power_off();
}

// ---- Console: COM1. ----

const COM1: u16 = 0x3f8;
const LSR_DR: u8 = 0x01;
const LSR_THRE: u8 = 0x20;
const LSR_TEMT: u8 = 0x40;

/// Writes a byte to an I/O port.
///
/// # Safety
/// The caller knows what the port does.
pub unsafe fn outb(port: u16, v: u8) {
    // SAFETY: forwarded to the caller.
    unsafe { asm!("out dx, al", in("dx") port, in("al") v, options(nomem, nostack, preserves_flags)) }
}

/// Reads a byte from an I/O port.
///
/// # Safety
/// As [`outb`].
pub unsafe fn inb(port: u16) -> u8 {
    let v: u8;
    // SAFETY: forwarded to the caller.
    unsafe { asm!("in al, dx", out("al") v, in("dx") port, options(nomem, nostack, preserves_flags)) }
    v
}

fn uart_init() {
    // SAFETY: COM1's 16550: 115200 8N1, FIFOs on, interrupts off.
    unsafe {
        outb(COM1 + 1, 0);
        outb(COM1 + 3, 0x80);
        outb(COM1, 1);
        outb(COM1 + 1, 0);
        outb(COM1 + 3, 0x03);
        outb(COM1 + 2, 0x07);
        outb(COM1 + 4, 0x03);
    }
}

pub struct Console;

impl Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for b in s.bytes() {
            // SAFETY: COM1's status and transmit registers.
            unsafe {
                while inb(COM1 + 5) & LSR_THRE == 0 {}
                outb(COM1, b);
            }
        }
        Ok(())
    }
}

/// A byte received on COM1, if one is waiting.
pub fn getc() -> Option<u8> {
    // SAFETY: COM1's line status and receive registers.
    unsafe { (inb(COM1 + 5) & LSR_DR != 0).then(|| inb(COM1)) }
}

#[doc(hidden)]
pub fn _print(args: fmt::Arguments) {
    let _ = Console.write_fmt(args);
}

#[macro_export]
macro_rules! println {
    ($($arg:tt)*) => { $crate::_print(format_args!("{}\n", format_args!($($arg)*))) };
}

/// Masks both legacy 8259 PICs: the firmware leaves the PIT's interrupt enabled (it would
/// arrive at vector 8, the BIOS's mapping).
fn mask_pics() {
    // SAFETY: the PICs' data ports take the interrupt masks.
    unsafe {
        outb(0x21, 0xff);
        outb(0xa1, 0xff);
    }
}

// ---- Power off. ----

/// Bochs's shutdown port: writing "Shutdown" stops the emulator; bulkhead emulates it and
/// powers the partition off.
const SHUTDOWN_PORT: u16 = 0x8900;

pub fn power_off() -> ! {
    // The console's last bytes leave the UART first (the emulator drops what is still in
    // its FIFO).
    // SAFETY: reading COM1's line status has no side effect.
    while unsafe { inb(COM1 + 5) } & LSR_TEMT == 0 {}
    for b in b"Shutdown" {
        // SAFETY: the emulator's (or bulkhead's) shutdown port.
        unsafe { outb(SHUTDOWN_PORT, *b) };
    }
    loop {
        // SAFETY: stops this CPU.
        unsafe { asm!("cli", "hlt", options(nomem, nostack)) };
    }
}

// ---- CPU helpers. ----

/// # Safety
/// The MSR exists and reading it has no side effect the caller did not intend.
pub unsafe fn rdmsr(msr: u32) -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: forwarded to the caller.
    unsafe { asm!("rdmsr", in("ecx") msr, out("eax") lo, out("edx") hi, options(nomem, nostack)) };
    u64::from(hi) << 32 | u64::from(lo)
}

/// # Safety
/// The MSR exists and the value is what the caller means.
pub unsafe fn wrmsr(msr: u32, v: u64) {
    // SAFETY: forwarded to the caller.
    unsafe { asm!("wrmsr", in("ecx") msr, in("eax") v as u32, in("edx") (v >> 32) as u32, options(nostack)) };
}

pub fn rdtsc() -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: reading the time-stamp counter has no side effect.
    unsafe { asm!("rdtsc", out("eax") lo, out("edx") hi, options(nomem, nostack)) };
    u64::from(hi) << 32 | u64::from(lo)
}

pub fn interrupts_on() {
    // SAFETY: the IDT handles every vector.
    unsafe { asm!("sti", options(nomem, nostack)) };
}

pub fn interrupts_off() {
    // SAFETY: masking interrupts has no other effect.
    unsafe { asm!("cli", options(nomem, nostack)) };
}

/// Enables interrupts and halts until one arrives (STI's one-instruction shadow covers the
/// HLT, so an interrupt pending at the STI cannot be missed), then masks them again.
pub fn wait_for_interrupt() {
    // SAFETY: as interrupts_on; HLT waits for the interrupt.
    unsafe { asm!("sti", "hlt", "cli", options(nomem, nostack)) };
}

/// A bulkhead hypercall: `vmcall` with the function in RAX, arguments in RDI, RSI, RDX,
/// RCX, results in RAX, RDI, RSI, RDX. Only meaningful as a partition (natively, #UD).
pub fn vmcall(function: u64, args: [u64; 4]) -> [u64; 4] {
    let (a, b, c, d);
    // SAFETY: the hypervisor changes only the result registers.
    unsafe {
        asm!("vmcall", inlateout("rax") function => a, inlateout("rdi") args[0] => b,
             inlateout("rsi") args[1] => c, inlateout("rdx") args[2] => d, in("rcx") args[3],
             options(nostack))
    };
    [a, b, c, d]
}

/// The local APIC in x2APIC mode: MSRs 0x800.. (Intel SDM Vol. 3A, 11.12).
pub mod x2apic {
    use super::{rdmsr, wrmsr};

    pub const APIC_BASE: u32 = 0x1b;
    pub const ID: u32 = 0x802;
    pub const EOI: u32 = 0x80b;
    pub const SVR: u32 = 0x80f;
    pub const LVT_TIMER: u32 = 0x832;
    pub const LVT_LINT0: u32 = 0x835;
    pub const LVT_LINT1: u32 = 0x836;
    pub const TSC_DEADLINE: u32 = 0x6e0;
    const BASE_ENABLE: u64 = 1 << 11;
    const BASE_X2APIC: u64 = 1 << 10;
    const SVR_ENABLE: u64 = 1 << 8;
    const LVT_MASKED: u64 = 1 << 16;
    const TIMER_TSC_DEADLINE: u64 = 0b10 << 17;
    /// The spurious-interrupt vector.
    pub const SPURIOUS: u8 = 0xff;

    /// x2APIC mode on, the APIC software-enabled, LINT0/LINT1 (the legacy PIC and NMI
    /// pins) masked: only the APIC's own interrupts reach the CPU.
    pub fn enable() {
        // SAFETY: the CPU has an x2APIC (the guests require it); these writes are its
        // documented enable sequence and change nothing outside this CPU.
        unsafe {
            wrmsr(APIC_BASE, rdmsr(APIC_BASE) | BASE_ENABLE | BASE_X2APIC);
            wrmsr(LVT_LINT0, LVT_MASKED);
            wrmsr(LVT_LINT1, LVT_MASKED);
            wrmsr(SVR, SVR_ENABLE | u64::from(SPURIOUS));
        }
    }

    /// The timer in TSC-deadline mode, interrupting with `vector`.
    pub fn timer_deadline_mode(vector: u8) {
        // SAFETY: the x2APIC is on (enable); this CPU's timer is the guest's.
        unsafe { wrmsr(LVT_TIMER, TIMER_TSC_DEADLINE | u64::from(vector)) };
    }

    /// Arms the timer for TSC value `tsc` (0 disarms it).
    pub fn arm(tsc: u64) {
        // SAFETY: as timer_deadline_mode.
        unsafe { wrmsr(TSC_DEADLINE, tsc) };
    }

    pub fn eoi() {
        // SAFETY: ends the interrupt in service.
        unsafe { wrmsr(EOI, 0) };
    }

    pub fn id() -> u32 {
        // SAFETY: reading the APIC id has no side effect.
        unsafe { rdmsr(ID) as u32 }
    }

    /// The interrupt command register: one 64-bit MSR, the destination in bits 63:32.
    pub const ICR: u32 = 0x830;
    /// INIT (level assert) and STARTUP (level assert; the vector is added).
    pub const ICR_INIT: u64 = 0x4500;
    pub const ICR_STARTUP: u64 = 0x4600;
    /// Fixed delivery, level assert (the vector is added).
    pub const ICR_FIXED: u64 = 0x4000;

    /// Sends `command` to the CPU with x2APIC id `dest` (physical destination).
    pub fn send(dest: u32, command: u64) {
        // SAFETY: an interrupt command; the guest means it.
        unsafe { wrmsr(ICR, u64::from(dest) << 32 | command) };
    }
}

/// The PC's two 8259 interrupt controllers (master at 0x20/0x21, slave at 0xa0/0xa1,
/// cascaded on line 2): as a partition, bulkhead's virtual ones, through which its
/// passthrough devices interrupt.
pub mod pic {
    use super::{inb, outb};

    const MASTER: u16 = 0x20;
    const SLAVE: u16 = 0xa0;

    /// The usual initialisation: ICW1 (edge, cascade, ICW4), ICW2 (vector bases `master`
    /// and `slave`), ICW3 (slave on line 2), ICW4 (8086 mode, normal EOI); then every line
    /// masked.
    pub fn init(master: u8, slave: u8) {
        // SAFETY: the PICs' own ports; interrupts are off while the sequence runs.
        unsafe {
            for (port, icws) in [(MASTER, [0x11, master, 0x04, 0x01]), (SLAVE, [0x11, slave, 0x02, 0x01])] {
                outb(port, icws[0]);
                for w in &icws[1..] {
                    outb(port + 1, *w);
                }
            }
        }
        set_masks([0xff, 0xff]);
    }

    /// OCW1: the master's and the slave's masks (bit set: line masked).
    pub fn set_masks(m: [u8; 2]) {
        // SAFETY: the data ports take the masks.
        unsafe {
            outb(MASTER + 1, m[0]);
            outb(SLAVE + 1, m[1]);
        }
    }

    pub fn masks() -> [u8; 2] {
        // SAFETY: reading a mask has no side effect.
        unsafe { [inb(MASTER + 1), inb(SLAVE + 1)] }
    }

    /// The master's in-service (`isr`) or request register, through OCW3.
    pub fn master_register(isr: bool) -> u8 {
        // SAFETY: OCW3 only selects what the command port reads.
        unsafe {
            outb(MASTER, if isr { 0x0b } else { 0x0a });
            inb(MASTER)
        }
    }

    /// Non-specific EOI to the master.
    pub fn eoi() {
        // SAFETY: ends the master's highest-priority interrupt in service.
        unsafe { outb(MASTER, 0x20) };
    }
}

// ---- A second CPU. ----

/// Where the AP trampoline runs: below 1 MiB, page-aligned (the STARTUP vector is its
/// page number).
pub const AP_TRAMPOLINE: u64 = 0x8000;

global_asm!(
    // Copied to AP_TRAMPOLINE; a STARTUP IPI starts the AP there in real mode
    // (CS = AP_TRAMPOLINE >> 4, IP = 0).
    ".pushsection .rodata.ap_trampoline, \"a\"",
    ".code16",
    "guest_ap_trampoline:",
    "cli",
    "cld",
    "mov %cs, %ax",                      // DS = CS: the GDT pointer below by offset
    "mov %ax, %ds",
    "lgdtl (guest_ap_gdt_ptr - guest_ap_trampoline)",
    "mov %cr4, %eax",                    // CR4.PAE
    "or $0x20, %eax",
    "mov %eax, %cr4",
    "mov $guest_pml4, %eax",             // the boot CPU's page tables
    "mov %eax, %cr3",
    "mov $0xc0000080, %ecx",             // EFER.LME
    "rdmsr",
    "or $0x100, %eax",
    "wrmsr",
    "mov %cr0, %eax",                    // PE and PG at once: long mode
    "or $0x80000001, %eax",
    "mov %eax, %cr0",
    "ljmpl ${code64}, $guest_ap_long_mode",
    ".p2align 3",
    "guest_ap_gdt_ptr:",
    ".short guest_gdt_ptr - guest_gdt - 1",
    ".long guest_gdt",
    "guest_ap_trampoline_end:",
    ".popsection",

    ".pushsection .text.guest_ap, \"ax\"",
    ".code64",
    "guest_ap_long_mode:",
    "mov ${data}, %eax",
    "mov %eax, %ds",
    "mov %eax, %es",
    "mov %eax, %ss",
    "xor %eax, %eax",
    "mov %eax, %fs",
    "mov %eax, %gs",
    "lea guest_ap_stack_top(%rip), %rsp",
    "call guest_ap_start",
    "4:",
    "cli",
    "hlt",
    "jmp 4b",
    ".popsection",

    ".pushsection .bss.guest_ap_stack, \"aw\", @nobits",
    ".p2align 4",
    ".skip 0x4000",
    "guest_ap_stack_top:",
    ".popsection",
    code64 = const CODE64,
    data = const DATA,
    options(att_syntax),
);

/// The AP's Rust entry (an `fn() -> !`) and whether it got there.
static AP_MAIN: AtomicUsize = AtomicUsize::new(0);
static AP_ONLINE: AtomicU32 = AtomicU32::new(0);

/// Starts the CPU with x2APIC id `apic_id` into `main` on a stack of its own (one AP at
/// a time): INIT, then STARTUP (again if it does not report in). The x2APIC must be on
/// ([`x2apic::enable`]). False if the CPU never reported in.
pub fn start_ap(apic_id: u32, main: fn() -> !) -> bool {
    extern "C" {
        static guest_ap_trampoline: u8;
        static guest_ap_trampoline_end: u8;
    }
    AP_MAIN.store(main as usize, Ordering::Release);
    AP_ONLINE.store(0, Ordering::Release);
    // SAFETY: the trampoline is one block of the image; low memory at AP_TRAMPOLINE is
    // free RAM on a PC once the kernel runs (and the partition's own).
    unsafe {
        let from = core::ptr::addr_of!(guest_ap_trampoline);
        let len = core::ptr::addr_of!(guest_ap_trampoline_end) as usize - from as usize;
        core::ptr::copy_nonoverlapping(from, AP_TRAMPOLINE as *mut u8, len);
    }
    x2apic::send(apic_id, x2apic::ICR_INIT);
    pause(100_000);
    for _ in 0..2 {
        x2apic::send(apic_id, x2apic::ICR_STARTUP | (AP_TRAMPOLINE >> 12));
        let until = rdtsc() + 50_000_000;
        while rdtsc() < until {
            if AP_ONLINE.load(Ordering::Acquire) != 0 {
                return true;
            }
            core::hint::spin_loop();
        }
    }
    false
}

/// Spins for `ticks` of the TSC.
pub fn pause(ticks: u64) {
    let until = rdtsc() + ticks;
    while rdtsc() < until {
        core::hint::spin_loop();
    }
}

#[no_mangle]
extern "C" fn guest_ap_start() -> ! {
    load_built_idt();
    AP_ONLINE.store(1, Ordering::Release);
    // SAFETY: start_ap stored an `fn() -> !` before starting this CPU.
    let main: fn() -> ! = unsafe { core::mem::transmute(AP_MAIN.load(Ordering::Acquire)) };
    main()
}

/// Bits of the boot state the runtime keeps for the guests.
static BOOT_MAGIC: AtomicU32 = AtomicU32::new(0);

/// True if a Multiboot loader (GRUB, or bulkhead playing one) started this guest.
pub fn multiboot() -> bool {
    BOOT_MAGIC.load(Ordering::Relaxed) == MULTIBOOT_BOOTLOADER_MAGIC
}

#[no_mangle]
extern "C" fn guest_start(magic: u32, _info: u32) -> ! {
    BOOT_MAGIC.store(magic, Ordering::Relaxed);
    load_idt();
    mask_pics();
    uart_init();
    extern "Rust" {
        fn main();
    }
    // SAFETY: every guest binary defines `main` (#[no_mangle]).
    unsafe { main() };
    power_off()
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    println!("guest panic: {}", info.message());
    power_off()
}
