//! Reset entry: the first instructions bulkhead runs on an ARMv8-A CPU.
//!
//! Boot contract (QEMU's ELF loader, and firmware following the arm64 boot protocol): EL2,
//! MMU and caches off, x0 = device-tree address or 0, every CPU may arrive here. Only the
//! boot CPU (MPIDR affinity 0.0.0.0) continues; any other CPU that arrives parks in `wfe`
//! for good: secondary CPUs are started later, on purpose, through PSCI CPU_ON at
//! `__secondary_start` (see [`crate::cpu::start_secondaries`]).
//!
//! Both paths then share the same few steps before any Rust runs:
//! 1. make FP/SIMD usable at EL2 (CPTR_EL2) and put SCTLR_EL2 in a known state;
//! 2. SP_EL2 = top of this CPU's stack, carved out by the board's linker script
//!    (`__stacks_start`, `__cpu_stack_size` bytes per CPU, CPU 0 lowest);
//! 3. VBAR_EL2 = the vector table of [`crate::trap`];
//! 4. boot CPU only: zero .bss, then the board's `main(dtb)`, named with [`crate::entry!`].
//!    Secondary CPUs go to [`crate::cpu`]'s `secondary_main(index)` instead.
//!
//! Symbols the linker script must define: `__stacks_start`, `__cpu_stack_size`,
//! `__bss_start`, `__bss_end` (both 16-byte aligned).

use aarch64_cpu::registers::SCTLR_EL2;

/// CPTR_EL2 while the hypervisor runs (non-VHE layout): only the RES1 bits 13:12 and 9:0
/// are set. TFP (bit 10) clear, so guests may use FP/SIMD registers (the hypervisor itself is
/// built soft-float and never does); TTA, TAM and TCPAC clear; bit 8 (TZ when SVE exists)
/// set, so SVE stays trapped.
const CPTR_EL2_BOOT: u64 = 0x33ff;

/// SCTLR_EL2's RES1 bits in the non-VHE layout (29:28, 23:22, 18, 16, 11, 5:4).
const SCTLR_EL2_RES1: u64 = 0x30c5_0830;
/// SCTLR_EL2 at boot: MMU and data cache off (every access is Device-nGnRnE, so the code
/// is built with strict alignment), instruction cache on, SP alignment checked,
/// little-endian, no alignment checks beyond the architecture's.
const SCTLR_EL2_BOOT: u64 = SCTLR_EL2_RES1 | SCTLR_EL2::I::SET.value | SCTLR_EL2::SA::SET.value;

/// MPIDR_EL1 affinity fields Aff3 (39:32) and Aff2..Aff0 (23:0): all zero on the boot CPU.
const MPIDR_AFF_LOW: u64 = 0x00ff_ffff;
const MPIDR_AFF3: u64 = 0xff;

core::arch::global_asm!(
    ".section .text.entry, \"ax\"",
    ".global _start",
    ".global __secondary_start",
    "_start:",
    "    mrs   x1, mpidr_el1",                  // this CPU's affinity
    "    mov   x2, #{aff_low}",                 // mask Aff2..Aff0 ...
    "    movk  x2, #{aff3}, lsl #32",           // ... and Aff3 (MT and U bits ignored)
    "    tst   x1, x2",                         // all affinity zero: the boot CPU
    "    b.ne  9f",                             // any other CPU parks
    "    mov   x19, x0",                        // keep the DTB address (0 under QEMU's ELF loader)
    "    mov   x20, #0",                        // boot CPU is CPU index 0
    "    b     1f",                             // join the common setup
    "",
    "__secondary_start:",                       // PSCI CPU_ON lands here, x0 = context = CPU index
    "    mov   x19, #0",                        // no DTB for secondaries
    "    mov   x20, x0",                        // CPU index, chooses the stack
    "",
    "1:  mov   x1, #{cptr}",                    // CPTR_EL2: FP/SIMD not trapped (guests
    "    msr   cptr_el2, x1",                   // use it; the hypervisor is soft-float)
    "    movz  x1, #{sctlr_lo}",                // SCTLR_EL2 low half ...
    "    movk  x1, #{sctlr_hi}, lsl #16",       // ... and high half: MMU off, I-cache on
    "    msr   sctlr_el2, x1",                  //
    "    isb",                                  // both take effect before any FP use
    "    adrp  x1, __stacks_start",             // stacks region (linker script) ...
    "    add   x1, x1, :lo12:__stacks_start",   // ... its low end
    "    ldr   x2, =__cpu_stack_size",          // bytes per CPU (absolute linker symbol)
    "    add   x3, x20, #1",                    // stacks grow down: top of stack `index` is ...
    "    madd  x1, x3, x2, x1",                 // ... start + (index + 1) * size
    "    mov   sp, x1",                         // SP_EL2 (SPSel is 1 at reset)
    "    adrp  x1, __el2_vectors",              // exception vectors (trap.rs) ...
    "    add   x1, x1, :lo12:__el2_vectors",    // ... 2 KiB aligned
    "    msr   vbar_el2, x1",                   // VBAR_EL2
    "    isb",                                  // vectors in use from here on
    "    cbnz  x20, 3f",                        // secondary CPUs skip .bss and main
    "    adrp  x1, __bss_start",                // .bss start (16-byte aligned) ...
    "    add   x1, x1, :lo12:__bss_start",      //
    "    adrp  x2, __bss_end",                  // ... and end
    "    add   x2, x2, :lo12:__bss_end",        //
    "2:  cmp   x1, x2",                         // done?
    "    b.hs  4f",                             //
    "    stp   xzr, xzr, [x1], #16",            // zero 16 bytes, advance
    "    b     2b",                             //
    "4:  mov   x0, x19",                        // main's argument: the DTB address
    "    bl    __bulkhead_board_main",          // the board's main (entry! macro); never returns
    "    b     9f",                             // (if it did: park)
    "3:  mov   x0, x20",                        // secondary_main's argument: CPU index
    "    bl    __bulkhead_secondary_main",      // cpu.rs; never returns
    "9:  wfe",                                  // parked: sleep ...
    "    b     9b",                             // ... forever
    ".ltorg",                                   // literal pool for `ldr =` above
    aff_low = const MPIDR_AFF_LOW,
    aff3 = const MPIDR_AFF3,
    cptr = const CPTR_EL2_BOOT,
    sctlr_lo = const SCTLR_EL2_BOOT & 0xffff,
    sctlr_hi = const SCTLR_EL2_BOOT >> 16,
);

extern "C" {
    /// The entry point secondary CPUs are started at (PSCI CPU_ON), context = CPU index.
    pub fn __secondary_start();
}

/// Names the board's `main`: the Rust function the boot CPU calls once the stack, .bss and
/// vectors are ready. `main` receives the device-tree address from x0 (0 if the loader
/// passed none) and must never return.
///
/// ```ignore
/// armv8::entry!(main);
/// fn main(dtb: usize) -> ! { ... }
/// ```
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        #[unsafe(no_mangle)]
        extern "C" fn __bulkhead_board_main(dtb: usize) -> ! {
            let main: fn(usize) -> ! = $main;
            main(dtb)
        }
    };
}
