//! Boot: from GRUB's 32-bit protected mode to the board's Rust `main` in 64-bit mode.
//!
//! GRUB (multiboot2) loads the ELF at its physical addresses (linked at 1 MiB) and jumps
//! to `_start` with paging off, flat 4 GiB segments, EAX = 0x36d76289 and EBX = the boot
//! information (Multiboot2 Specification 3.3). We build an identity map of the first
//! 4 GiB with 2 MiB pages (RAM, the image, GRUB's modules, the local APIC and I/O APIC
//! all live there), switch to long mode and call the board's `main`, set up with
//! [`entry!`](crate::entry!).
//!
//! .bss is zeroed first, still in 32-bit mode: the page tables and the boot stack live
//! in it, so zeroing it after the switch would wipe them.

use core::arch::global_asm;

use crate::cpu::{CR0_NE, CR0_PG, CR4_PAE};
use crate::gdt::{KERNEL_CS, KERNEL_DS};
use crate::msr::{EFER_LME, IA32_EFER};
use crate::multiboot2::BOOTLOADER_MAGIC;

/// Multiboot2 header magic (Multiboot2 Specification 3.1.1).
const HEADER_MAGIC: u32 = 0xe852_50d6;
/// Header architecture field: 32-bit protected-mode i386.
const HEADER_ARCH_I386: u32 = 0;
/// Page-table entry bits: present, writable, and (in a page directory) 2 MiB page.
const PTE_PRESENT_WRITABLE: u32 = 0x3;
const PDE_2M_PAGE: u32 = 0x83;
/// Boot stack size; the hypervisor's only stack until per-CPU stacks exist.
const STACK_SIZE: usize = 64 * 1024;

global_asm!(
    // ---- Multiboot2 header: within the first 32 KiB of the file, 8-byte aligned. ----
    ".pushsection .multiboot2, \"a\"",
    ".p2align 3",
    "mb2_header:",
    ".long {hdr_magic}",                                     // magic
    ".long {hdr_arch}",                                      // architecture: i386
    ".long mb2_header_end - mb2_header",                     // header length
    ".long 0x100000000 - ({hdr_magic} + {hdr_arch} + (mb2_header_end - mb2_header))", // checksum: fields sum to 0
    ".short 0, 0",                                           // end tag: type 0, flags 0,
    ".long 8",                                               //          size 8
    "mb2_header_end:",
    ".popsection",

    // ---- 32-bit entry (GRUB: protected mode, paging off, interrupts off). ----
    ".pushsection .text.boot, \"ax\"",
    ".code32",
    ".global _start",
    "_start:",
    "cli",                                                   // no interrupts until there is an IDT
    "cld",                                                   // string instructions count upwards
    "mov $boot_stack_top, %esp",                             // boot stack (in .bss: zeroed below, unused until then)
    "mov %ebx, %esi",                                        // keep the multiboot2 info pointer in ESI
    "cmp ${bl_magic}, %eax",                                 // started by a multiboot2 loader?
    "je 1f",                                                 //   yes: keep the pointer
    "xor %esi, %esi",                                        //   no: pass 0, main reports it
    "1:",
    "mov $__bss_start, %edi",                                // zero .bss (page tables and stack included):
    "mov $__bss_end, %ecx",                                  //   end
    "sub %edi, %ecx",                                        //   length in bytes
    "shr $2, %ecx",                                          //   in dwords (.bss is 16-byte aligned and sized)
    "xor %eax, %eax",                                        //   value 0
    "rep stosl",                                             //   store ECX dwords at EDI

    "mov $boot_pdpt + {pte_pw}, %eax",                       // PML4[0] -> PDPT (present, writable)
    "mov %eax, boot_pml4",
    "mov $boot_pd + {pte_pw}, %eax",                         // PDPT[0..4] -> the four page directories
    "mov $boot_pdpt, %edi",
    "mov $4, %ecx",
    "2:",
    "mov %eax, (%edi)",                                      //   low dword of the entry (high stays 0)
    "add $4096, %eax",                                       //   next page directory
    "add $8, %edi",                                          //   next PDPT entry
    "loop 2b",
    "mov ${pde_2m}, %eax",                                   // PD entries: 2048 x 2 MiB identity pages from 0
    "mov $boot_pd, %edi",
    "mov $2048, %ecx",
    "3:",
    "mov %eax, (%edi)",                                      //   entry -> physical EAX (high dword stays 0)
    "add $0x200000, %eax",                                   //   next 2 MiB
    "add $8, %edi",                                          //   next entry (the four PDs are contiguous)
    "loop 3b",

    "mov %cr4, %eax",                                        // CR4.PAE: 64-bit page-table entries
    "or ${cr4_pae}, %eax",
    "mov %eax, %cr4",
    "mov $boot_pml4, %eax",                                  // CR3 = PML4
    "mov %eax, %cr3",
    "mov ${efer}, %ecx",                                     // IA32_EFER.LME: long mode on at paging enable
    "rdmsr",
    "or ${efer_lme}, %eax",
    "wrmsr",
    "mov %cr0, %eax",                                        // CR0.PG (+NE, native FPU errors; VMX needs it):
    "or ${cr0_pg_ne}, %eax",                                 //   paging on, long mode active (compatibility mode)
    "mov %eax, %cr0",
    "lgdt boot_gdt_ptr",                                     // GDT with a 64-bit code segment
    "ljmp ${kernel_cs}, $start64",                           // reload CS: 64-bit mode

    // ---- 64-bit mode. ----
    ".code64",
    "start64:",
    "mov ${kernel_ds}, %eax",                                // data segments: flat
    "mov %eax, %ds",
    "mov %eax, %es",
    "mov %eax, %ss",
    "xor %eax, %eax",                                        // FS/GS unused
    "mov %eax, %fs",
    "mov %eax, %gs",
    "lea boot_stack_top(%rip), %rsp",                        // RSP again: its upper half is undefined after the switch
    "mov %esi, %edi",                                        // argument 1: multiboot2 info (zero-extended) or 0
    "call bulkhead_board_main",                              // the board's main (vtx::entry!); never returns
    "ud2",                                                   // unreachable: trap if it does
    ".popsection",

    // ---- GDT: null, 64-bit code, data, one TSS descriptor per CPU (filled in by
    // cpu::load_task_register). Writable: loading TR marks its descriptor busy. ----
    ".pushsection .data.boot_gdt, \"aw\"",
    ".p2align 3",
    ".global boot_gdt",
    "boot_gdt:",
    ".quad 0",                                               // 0x00: null
    ".quad 0x00af9a000000ffff",                              // 0x08: code, present, DPL 0, L (64-bit)
    ".quad 0x00cf92000000ffff",                              // 0x10: data, present, writable, 4 GiB
    ".skip {tss_slots} * 16",                                // 0x18..: 16-byte TSS descriptors
    "boot_gdt_ptr:",
    ".short boot_gdt_ptr - boot_gdt - 1",                    // limit
    ".quad boot_gdt",                                        // base (32-bit LGDT reads the low half)
    ".popsection",

    // ---- Page tables and boot stack (zeroed by the code above). ----
    ".pushsection .bss.boot, \"aw\", @nobits",
    ".p2align 12",
    ".global boot_pml4",                                     // also the secondary CPUs' (smp.rs)
    "boot_pml4: .skip 4096",
    "boot_pdpt: .skip 4096",
    "boot_pd: .skip 4 * 4096",                               // four page directories: 4 GiB
    ".p2align 4",
    ".global boot_stack",
    "boot_stack: .skip {stack_size}",
    "boot_stack_top:",
    ".popsection",

    hdr_magic = const HEADER_MAGIC,
    hdr_arch = const HEADER_ARCH_I386,
    bl_magic = const BOOTLOADER_MAGIC,
    pte_pw = const PTE_PRESENT_WRITABLE,
    pde_2m = const PDE_2M_PAGE,
    cr4_pae = const CR4_PAE,
    efer = const IA32_EFER,
    efer_lme = const EFER_LME,
    cr0_pg_ne = const CR0_PG | CR0_NE,
    kernel_cs = const KERNEL_CS,
    kernel_ds = const KERNEL_DS,
    stack_size = const STACK_SIZE,
    tss_slots = const hv::config::MAX_CPUS,
    options(att_syntax),
);

/// Bytes of the boot stack ever used so far (the high-water mark): the entry code zeroed
/// it, and the deepest byte written since is the first non-zero one from the bottom. An
/// estimate (a frame may leave zeros), good enough to size stacks.
pub fn boot_stack_used() -> usize {
    unsafe extern "C" {
        // The boot stack in the global_asm above: STACK_SIZE bytes, lowest address first.
        static boot_stack: [u8; STACK_SIZE];
    }
    let base = core::ptr::addr_of!(boot_stack).cast::<u8>();
    let untouched = (0..STACK_SIZE)
        // SAFETY: in bounds of the stack; a volatile byte read, as the live part above is
        // being written by this very call chain.
        .take_while(|&i| unsafe { base.add(i).read_volatile() } == 0)
        .count();
    STACK_SIZE - untouched
}

/// Declares the board's `main`, which the entry code calls in 64-bit mode with the
/// physical address of the multiboot2 information (0 if the loader was not multiboot2).
///
/// ```ignore
/// vtx::entry!(main);
/// fn main(multiboot2_info: usize) -> ! { ... }
/// ```
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        #[unsafe(no_mangle)]
        extern "C" fn bulkhead_board_main(multiboot2_info: usize) -> ! {
            let main: fn(usize) -> ! = $main;
            main(multiboot2_info)
        }
    };
}
