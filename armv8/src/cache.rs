//! Cache maintenance by address, for memory the hypervisor and a guest see with different
//! attributes.
//!
//! Why: the hypervisor maps partition RAM write-back cacheable, while a guest running
//! with its MMU off (every test guest, and any kernel early in boot) accesses it as
//! Device / non-cacheable, straight to memory. So:
//! - after the hypervisor writes into partition RAM (image, device tree), [`clean`] pushes
//!   the lines to the point of coherency and [`sync_instructions`] drops stale
//!   instructions;
//! - before it reads guest-written memory (hypercall buffers), [`clean`] also invalidates
//!   the lines, so the read comes from memory. (Clean-and-invalidate, not invalidate:
//!   dropping a dirty line could lose the hypervisor's own writes.)

/// Cleans and invalidates the data-cache lines holding `[addr, addr + len)` to the point
/// of coherency.
pub fn clean(addr: u64, len: u64) {
    let line = dcache_line();
    let mut a = addr & !(line - 1);
    let end = addr.saturating_add(len);
    while a < end {
        dc_civac(a);
        a += line;
    }
    barrier();
}

/// Invalidates the instruction caches of every CPU (after new code was written).
pub fn sync_instructions() {
    #[cfg(target_arch = "aarch64")]
    // SAFETY: instruction-cache invalidation has no effect on data.
    unsafe {
        core::arch::asm!("ic ialluis", "dsb ish", "isb", options(nostack, preserves_flags));
    }
}

/// CTR_EL0.DminLine: log2 of the smallest data-cache line, in words.
#[cfg_attr(not(target_arch = "aarch64"), allow(dead_code))]
const CTR_DMINLINE_SHIFT: u64 = 16;
#[cfg_attr(not(target_arch = "aarch64"), allow(dead_code))]
const CTR_DMINLINE_MASK: u64 = 0xf;

fn dcache_line() -> u64 {
    #[cfg(target_arch = "aarch64")]
    {
        let ctr: u64;
        // SAFETY: reading CTR_EL0 has no side effects.
        unsafe { core::arch::asm!("mrs {}, ctr_el0", out(reg) ctr, options(nomem, nostack)) };
        4 << ((ctr >> CTR_DMINLINE_SHIFT) & CTR_DMINLINE_MASK)
    }
    #[cfg(not(target_arch = "aarch64"))]
    64
}

fn dc_civac(_addr: u64) {
    #[cfg(target_arch = "aarch64")]
    // SAFETY: clean-and-invalidate keeps memory contents; the address is identity-mapped
    // RAM (callers pass partition or hypervisor memory).
    unsafe {
        core::arch::asm!("dc civac, {}", in(reg) _addr, options(nostack, preserves_flags));
    }
}

fn barrier() {
    #[cfg(target_arch = "aarch64")]
    // SAFETY: a barrier only orders memory accesses.
    unsafe {
        core::arch::asm!("dsb sy", options(nostack, preserves_flags));
    }
}
