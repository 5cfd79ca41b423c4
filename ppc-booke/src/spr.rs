//! Special-purpose registers: every SPR number the port uses, declared once, and the two
//! instructions that move them (`mfspr`, `mtspr`).
//!
//! Numbers are from the e500 core reference manual (E500CORERM) and Power ISA 2.06
//! Book III-E. `mfspr`/`mtspr` encode the SPR number in the instruction, so the accessors
//! take it as a const generic: `spr::read::<{ spr::PVR }>()`.

// Interrupt handling.
pub const SRR0: u16 = 26;
pub const SRR1: u16 = 27;
pub const CSRR0: u16 = 58;
pub const CSRR1: u16 = 59;
pub const MCSRR0: u16 = 570;
pub const MCSRR1: u16 = 571;
pub const DEAR: u16 = 61;
pub const ESR: u16 = 62;
pub const MCSR: u16 = 572;
pub const MCAR: u16 = 573;
/// Interrupt vector prefix: the upper 16 bits of every vector address.
pub const IVPR: u16 = 63;
/// IVOR0..IVOR15: the low 16 bits of each vector (IVORn = IVOR0 + n).
pub const IVOR0: u16 = 400;
/// IVOR32..IVOR35 (SPE and performance monitor; IVORn = IVOR32 + n - 32).
pub const IVOR32: u16 = 528;

// Software scratch, supervisor-only (SPRG3..7 are readable in problem state: keep
// nothing secret there).
/// Pointer to the frame the next trap saves into (see `trap`).
pub const SPRG0: u16 = 272;
/// Trap entry scratch: the interrupted r1.
pub const SPRG1: u16 = 273;
/// This core's per-CPU area (`percpu`): written once at entry.
pub const SPRG2: u16 = 274;

// Identification.
pub const PIR: u16 = 286;
pub const PVR: u16 = 287;
pub const SVR: u16 = 1023;

// MMU.
pub const PID0: u16 = 48;
pub const MAS0: u16 = 624;
pub const MAS1: u16 = 625;
pub const MAS2: u16 = 626;
pub const MAS3: u16 = 627;
pub const MAS4: u16 = 628;
pub const MAS6: u16 = 630;
pub const MAS7: u16 = 944;
pub const MMUCSR0: u16 = 1012;
pub const MMUCFG: u16 = 1015;
pub const TLB0CFG: u16 = 688;
pub const TLB1CFG: u16 = 689;

// Timers. Never read DEC on QEMU 7.2: it returns garbage (use the timebase).
pub const DEC: u16 = 22;
pub const DECAR: u16 = 54;
pub const TSR: u16 = 336;
pub const TCR: u16 = 340;
/// Timebase, read side (write side is 284/285).
pub const TBL_READ: u16 = 268;
pub const TBU_READ: u16 = 269;

// Core configuration.
pub const HID0: u16 = 1008;
pub const HID1: u16 = 1009;

/// Reads SPR `N`.
#[cfg(target_arch = "powerpc")]
#[inline(always)]
pub fn read<const N: u16>() -> u32 {
    let value: u32;
    // SAFETY: mfspr copies the SPR into a GPR and touches no memory; none of the SPRs
    // above has a read side effect. An SPR the core lacks raises a Program interrupt,
    // which `trap` reports as a hypervisor fault.
    unsafe {
        core::arch::asm!("mfspr {0}, {1}", out(reg) value, const N,
                         options(nomem, nostack, preserves_flags));
    }
    value
}

/// Writes `value` to SPR `N`.
///
/// # Safety
/// Writing an SPR changes how the core translates, traps or times: the caller guarantees
/// the new value keeps the hypervisor's own code, stack and vectors working.
#[cfg(target_arch = "powerpc")]
#[inline(always)]
pub unsafe fn write<const N: u16>(value: u32) {
    // SAFETY: forwarded to the caller (see above). No `nomem`: a write to MAS*, PID or
    // IVPR changes what later memory accesses mean, so the compiler must not move
    // memory accesses across it.
    unsafe {
        core::arch::asm!("mtspr {1}, {0}", in(reg) value, const N,
                         options(nostack, preserves_flags));
    }
}
