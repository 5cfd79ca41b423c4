//! Special-purpose registers: the two instructions that move them (`mfspr`, `mtspr`) and
//! the SPR numbers, declared once in [`crate::sprn`] (re-exported here) plus SPRG1/SPRG2.
//!
//! The hypervisor's own use of the supervisor scratch registers: SPRG0 points to the frame
//! the next trap saves into (see `trap`), SPRG1 holds the interrupted r1 at trap entry,
//! SPRG2 this core's per-CPU area (`percpu`, written once at entry). SPRG3..7 are readable
//! in problem state: they hold the running guest's values ([`load_user_sprg`]).
//!
//! Numbers are from the e500 core reference manual (E500CORERM) and Power ISA 2.06
//! Book III-E. `mfspr`/`mtspr` encode the SPR number in the instruction, so the accessors
//! take it as a const generic: `spr::read::<{ spr::PVR }>()`.

pub use crate::sprn::*;

/// Trap entry scratch: the interrupted r1.
pub const SPRG1: u16 = 273;
/// This core's per-CPU area (`percpu`): written once at entry.
pub const SPRG2: u16 = 274;

// Never read DEC on QEMU 7.2: it returns garbage (use the timebase).

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

/// Loads the real SPRG`n` (3-7) with the guest's value: problem-state code (the guest,
/// whatever its virtual MSR[PR]) reads SPRG3-7 through their read aliases without
/// trapping. The hypervisor itself uses only SPRG0-2. Other numbers are ignored.
#[cfg(target_arch = "powerpc")]
pub fn load_user_sprg(n: u8, value: u32) {
    // SAFETY: SPRG3-7 hold nothing of the hypervisor's; they only carry this core's
    // guest's values.
    unsafe {
        match n {
            3 => write::<{ SPRG0 + 3 }>(value),
            4 => write::<{ SPRG0 + 4 }>(value),
            5 => write::<{ SPRG0 + 5 }>(value),
            6 => write::<{ SPRG0 + 6 }>(value),
            7 => write::<{ SPRG0 + 7 }>(value),
            _ => {}
        }
    }
}
