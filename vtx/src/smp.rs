//! Secondary CPUs: started by the boot CPU with INIT-SIPI-SIPI (SDM Vol. 3A, 9.4.4), one
//! at a time, each into the board's entry for it on a stack of its own.
//!
//! A started CPU begins in real mode at the trampoline, which the boot CPU copies to
//! [`TRAMPOLINE`] (below 1 MiB, 4 KiB aligned: the SIPI vector is its page number). The
//! trampoline loads the boot CPU's GDT and page tables and goes straight to long mode
//! (PAE, LME, then PE and PG in one write), then to [`ap_main`] with the stack and CPU
//! number the boot CPU left in the trampoline's data. The boot CPU waits for the CPU to
//! report in before it starts the next one; the trampoline's page is not used after that
//! (partitions may own it: every CPU is started before any partition is loaded).
//!
//! Delays: INIT and SIPI want 10 ms and 200 µs pauses on old CPUs. The hypervisor does not
//! know the TSC's frequency, so they are counted in TSC ticks, generous for CPUs and
//! emulators from 100 MHz to 10 GHz of TSC; the wait for the CPU to report in likewise.

use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use hv::config::MAX_CPUS;

use crate::cpu::{rdtsc, CR0_NE, CR0_PE, CR0_PG, CR4_PAE};
use crate::gdt::{KERNEL_CS, KERNEL_DS};
use crate::irq::{self, ICR_LOW};
use crate::msr::{EFER_LME, IA32_EFER};

/// Where the trampoline runs (SIPI vector 0x08).
pub const TRAMPOLINE: u64 = 0x8000;
const SIPI_VECTOR: u32 = (TRAMPOLINE >> 12) as u32;
/// The GDT's limit (entry.rs: three descriptors, then one 16-byte TSS descriptor per CPU).
const GDT_LIMIT: usize = (3 + 2 * MAX_CPUS) * 8 - 1;
/// Pauses after INIT and between the SIPIs, and the wait for the CPU, in TSC ticks.
const INIT_PAUSE: u64 = 10_000_000;
const SIPI_PAUSE: u64 = 200_000;
const REPORT_TIMEOUT: u64 = 10_000_000_000;
/// Each secondary CPU's hypervisor stack.
const STACK_SIZE: usize = 32 * 1024;

#[repr(C, align(16))]
struct Stack([u8; STACK_SIZE]);
static mut STACKS: [Stack; MAX_CPUS - 1] = [const { Stack([0; STACK_SIZE]) }; MAX_CPUS - 1];

/// Bit N: CPU N reached [`ap_main`].
static ONLINE: AtomicU32 = AtomicU32::new(1);
/// The board's entry for started CPUs (an `fn(usize) -> !`).
static ENTRY: AtomicUsize = AtomicUsize::new(0);

core::arch::global_asm!(
    // Copied to TRAMPOLINE; runs there in real mode with CS = TRAMPOLINE >> 4, IP = 0.
    ".pushsection .rodata.ap_trampoline, \"a\"",
    ".code16",
    ".global vtx_ap_trampoline",
    "vtx_ap_trampoline:",
    "cli",
    "cld",
    "mov %cs, %ax",                                   // DS = CS: the data below by offset
    "mov %ax, %ds",
    "lgdtl (ap_gdt_pointer - vtx_ap_trampoline)",     // the boot CPU's GDT
    "mov %cr4, %eax",                                 // PAE
    "or ${cr4_pae}, %eax",
    "mov %eax, %cr4",
    "mov $boot_pml4, %eax",                           // the boot CPU's page tables (entry.rs)
    "mov %eax, %cr3",
    "mov ${efer}, %ecx",                              // EFER.LME
    "rdmsr",
    "or ${efer_lme}, %eax",
    "wrmsr",
    "mov %cr0, %eax",                                 // PE and PG at once: long mode
    "or ${cr0_bits}, %eax",
    "mov %eax, %cr0",
    "ljmpl ${kernel_cs}, $vtx_ap_long_mode",          // 64-bit code segment
    ".p2align 3",
    "ap_gdt_pointer:",
    ".short {gdt_limit}",
    ".long boot_gdt",
    ".p2align 3",
    "ap_stack_top: .quad 0",                          // written by start() for each CPU
    "ap_cpu: .quad 0",
    ".global vtx_ap_trampoline_end",
    "vtx_ap_trampoline_end:",
    ".popsection",

    ".pushsection .text.ap, \"ax\"",
    ".code64",
    "vtx_ap_long_mode:",
    "mov ${kernel_ds}, %eax",
    "mov %eax, %ds",
    "mov %eax, %es",
    "mov %eax, %ss",
    "xor %eax, %eax",
    "mov %eax, %fs",
    "mov %eax, %gs",
    "mov ({tramp} + ap_stack_top - vtx_ap_trampoline), %rsp",
    "mov ({tramp} + ap_cpu - vtx_ap_trampoline), %rdi",
    "call {ap_main}",                                 // never returns
    "ud2",
    ".popsection",
    cr4_pae = const CR4_PAE,
    efer = const IA32_EFER,
    efer_lme = const EFER_LME,
    cr0_bits = const CR0_PE | CR0_PG | CR0_NE,
    kernel_cs = const KERNEL_CS,
    kernel_ds = const KERNEL_DS,
    gdt_limit = const GDT_LIMIT,
    tramp = const TRAMPOLINE,
    ap_main = sym ap_main,
    options(att_syntax),
);

/// Why a CPU did not start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartError {
    /// Not a CPU this hypervisor can run (beyond MAX_CPUS, or the boot CPU).
    NoSuchCpu(u32),
    /// It did not report in.
    NoResponse(u32),
}

impl core::fmt::Display for StartError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let (c, what) = match self {
            StartError::NoSuchCpu(c) => (c, "cannot be started"),
            StartError::NoResponse(c) => (c, "did not start"),
        };
        write!(f, "cpu {c} {what}")
    }
}

/// Starts the CPU with local APIC id `cpu` into `entry(cpu)`, and waits until it runs.
/// Boot CPU only, before any partition is loaded.
pub fn start(cpu: u32, entry: fn(usize) -> !) -> Result<(), StartError> {
    let index = cpu as usize;
    if index == 0 || index >= MAX_CPUS {
        return Err(StartError::NoSuchCpu(cpu));
    }
    unsafe extern "C" {
        // The trampoline in the assembly above: code and data, copied as one.
        static vtx_ap_trampoline: u8;
        static vtx_ap_trampoline_end: u8;
        static mut ap_stack_top: u64;
        static mut ap_cpu: u64;
    }
    ENTRY.store(entry as usize, Ordering::Release);
    let stack = core::ptr::addr_of_mut!(STACKS).cast::<Stack>().wrapping_add(index - 1);
    let top = stack.wrapping_add(1) as u64;
    // SAFETY: the trampoline's code and data are one block of the image; the copy goes to
    // low memory nothing uses once the CPUs run (no partition is loaded yet), identity-
    // mapped; its data slots are written before the CPU is started, which reads them once.
    unsafe {
        let from = core::ptr::addr_of!(vtx_ap_trampoline);
        let len = core::ptr::addr_of!(vtx_ap_trampoline_end) as usize - from as usize;
        let to = TRAMPOLINE as *mut u8;
        core::ptr::copy_nonoverlapping(from, to, len);
        let slot = |s: *const u64| to.add(s as usize - from as usize).cast::<u64>();
        slot(core::ptr::addr_of!(ap_stack_top)).write_volatile(top);
        slot(core::ptr::addr_of!(ap_cpu)).write_volatile(u64::from(cpu));
    }
    irq::send(cpu, ICR_LOW::DELIVERY::Init + ICR_LOW::LEVEL::Assert + ICR_LOW::TRIGGER::Edge);
    pause(INIT_PAUSE);
    for _ in 0..2 {
        irq::send(cpu, ICR_LOW::DELIVERY::Startup + ICR_LOW::VECTOR.val(SIPI_VECTOR) + ICR_LOW::LEVEL::Assert);
        pause(SIPI_PAUSE);
        if online(cpu) {
            return Ok(());
        }
    }
    let deadline = rdtsc().saturating_add(REPORT_TIMEOUT);
    while !online(cpu) {
        if rdtsc() > deadline {
            return Err(StartError::NoResponse(cpu));
        }
        core::hint::spin_loop();
    }
    Ok(())
}

fn online(cpu: u32) -> bool {
    ONLINE.load(Ordering::Acquire) & (1 << cpu) != 0
}

fn pause(ticks: u64) {
    let until = rdtsc().saturating_add(ticks);
    while rdtsc() < until {
        core::hint::spin_loop();
    }
}

/// A started CPU, in long mode on its own stack: the IDT, then the board's entry.
extern "C" fn ap_main(cpu: u64) -> ! {
    crate::trap::init();
    ONLINE.fetch_or(1 << cpu, Ordering::AcqRel);
    let entry = ENTRY.load(Ordering::Acquire);
    // SAFETY: ENTRY holds the `fn(usize) -> !` start() stored before starting this CPU.
    let entry: fn(usize) -> ! = unsafe { core::mem::transmute::<usize, fn(usize) -> !>(entry) };
    entry(cpu as usize)
}
