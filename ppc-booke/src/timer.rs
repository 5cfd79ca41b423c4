//! The physical timebase and decrementer as the hypervisor uses them: tickless. The
//! decrementer is armed only for the nearest virtual timer deadline of the guest running
//! here ([`crate::vcpu::VcpuState::next_timer_deadline`]) and disarmed otherwise. The
//! physical DEC is never read: QEMU 7.2 returns garbage for it.

#[cfg(target_arch = "powerpc")]
/// TCR[DIE]: decrementer interrupt enable.
const TCR_DIE: u32 = 1 << 26;
#[cfg(target_arch = "powerpc")]
/// TSR[DIS]: decrementer interrupt status (write 1 to clear).
const TSR_DIS: u32 = 1 << 27;

/// DEC value for an event at `deadline` seen at `now`: at least 1 (a deadline already
/// passed fires at once), at most what DEC holds.
pub fn dec_for(deadline: u64, now: u64) -> u32 {
    u32::try_from(deadline.saturating_sub(now)).unwrap_or(u32::MAX).max(1)
}

/// The 64-bit timebase.
#[cfg(target_arch = "powerpc")]
pub fn now() -> u64 {
    use crate::spr::{read, TBL_READ, TBU_READ};
    loop {
        let hi = read::<TBU_READ>();
        let lo = read::<TBL_READ>();
        if read::<TBU_READ>() == hi {
            return (u64::from(hi) << 32) | u64::from(lo);
        }
    }
}

/// Arms the decrementer for `deadline` (timebase), or disarms it with `None`.
#[cfg(target_arch = "powerpc")]
pub fn program(deadline: Option<u64>) {
    use crate::spr::{write, DEC, TCR};
    // SAFETY: the decrementer and TCR belong to the hypervisor; its own code runs with
    // MSR[EE] = 0, so the interrupt is only ever taken from guest code.
    unsafe {
        match deadline {
            Some(d) => {
                write::<DEC>(dec_for(d, now()));
                write::<TCR>(TCR_DIE);
            }
            None => write::<TCR>(0),
        }
    }
}

/// Acknowledges a decrementer interrupt.
#[cfg(target_arch = "powerpc")]
pub fn acknowledge() {
    // SAFETY: clears only the decrementer status bit (write 1 to clear).
    unsafe { crate::spr::write::<{ crate::spr::TSR }>(TSR_DIS) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dec_values_are_clamped() {
        assert_eq!(dec_for(1000, 400), 600);
        assert_eq!(dec_for(400, 1000), 1, "overdue: fire at once");
        assert_eq!(dec_for(1000, 1000), 1);
        assert_eq!(dec_for(u64::MAX, 0), u32::MAX);
    }
}
