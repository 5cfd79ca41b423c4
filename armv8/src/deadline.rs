//! The hypervisor's one-shot deadline on each CPU: the EL2 physical timer (CNTHP_*_EL2,
//! its interrupt PPI 26, [`crate::irq::DEADLINE`]), which no guest can reach. Nothing
//! ticks: it is armed only when the board asks for a wake-up at some time
//! ([`arm_in`]), moved by the next [`arm_in`], and off otherwise ([`disarm`]).
//!
//! What it is for: a partition whose console output leaves an unfinished line (a prompt)
//! and then waits for input with interrupts never tells the hypervisor that it waits (on
//! GICv3 its WFI is not even trapped). The board arms the deadline on each such write;
//! when it expires with nothing written since, the line is shown (`docs/console.md`).
//!
//! The interrupt is taken like any other physical one (an IRQ exit, or the wake from a
//! trapped WFI, [`crate::virq::VcpuIrqs::interrupts`]), which calls [`expired`]: the timer
//! goes off first (its output is level-sensitive), then the board's handler runs.

/// The board's handler, run on the CPU whose deadline expired.
static HANDLER: spin::Once<fn()> = spin::Once::new();

/// The board's handler of expired deadlines ([`expired`]). Once per boot.
pub fn claim(handler: fn()) {
    HANDLER.call_once(|| handler);
}

/// Arms this CPU's deadline `ticks` of the system counter from now (CNTFRQ_EL0 per
/// second), replacing any armed one.
pub fn arm_in(ticks: u64) {
    hw::arm_in(ticks);
}

/// This CPU's deadline off (nothing if none is armed).
pub fn disarm() {
    hw::disarm();
}

/// Ticks of the system counter in `ms` milliseconds.
pub fn ticks_in_ms(ms: u64) -> u64 {
    hw::frequency() / 1000 * ms
}

/// The deadline's interrupt was acknowledged on this CPU: the timer off, then the board's
/// handler. The caller deactivates the interrupt afterwards (its line is low by then).
#[cold]
pub fn expired() {
    hw::disarm();
    if let Some(handler) = HANDLER.get() {
        handler();
    }
}

#[cfg(target_arch = "aarch64")]
mod hw {
    use aarch64_cpu::registers::{Readable, CNTFRQ_EL0};
    use core::arch::asm;

    /// CNTHP_CTL_EL2.ENABLE (IMASK clear: the timer's condition drives PPI 26).
    const ENABLE: u64 = 1;

    pub fn arm_in(ticks: u64) {
        // SAFETY: CNTHP_TVAL_EL2 and CNTHP_CTL_EL2 are the EL2 physical timer's, which
        // only the hypervisor uses (EL1 cannot reach EL2 registers): writing them sets
        // this CPU's deadline and its interrupt, nothing else, and touches no memory.
        // TVAL sets CVAL = CNTPCT + ticks (a signed 32-bit value: `ticks` is capped).
        unsafe {
            asm!(
                "msr cnthp_tval_el2, {t}",
                "msr cnthp_ctl_el2, {on}",
                "isb",
                t = in(reg) ticks.min(i32::MAX as u64),
                on = in(reg) ENABLE,
                options(nomem, nostack),
            );
        }
    }

    pub fn disarm() {
        // SAFETY: as in `arm_in`; ENABLE = 0 stops the timer and lowers its output.
        unsafe { asm!("msr cnthp_ctl_el2, xzr", "isb", options(nomem, nostack)) };
    }

    pub fn frequency() -> u64 {
        CNTFRQ_EL0.get()
    }
}

/// Host builds (unit tests): no timer.
#[cfg(not(target_arch = "aarch64"))]
mod hw {
    pub fn arm_in(_: u64) {}
    pub fn disarm() {}
    pub fn frequency() -> u64 {
        62_500_000
    }
}
