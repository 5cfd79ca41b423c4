//! Physical SPIs the hypervisor handles itself rather than handing them to a partition:
//! the board's console UART's receive interrupt (`docs/console.md`). The board claims one
//! with a handler and routes it to a CPU; whichever vCPU's interrupt path acknowledges it
//! ([`crate::virq::VcpuIrqs::interrupts`]) calls the handler, then deactivates it.

use super::{v2_interface_of, Version, HOST, SPECIAL};
use tock_registers::interfaces::Writeable;

/// A physical SPI the hypervisor handles itself (the board's console input), and the
/// board's handler for it.
static OWN: spin::Once<(u32, fn())> = spin::Once::new();

/// The board claims physical SPI `intid` for itself: `handler` runs on the CPU that takes
/// it ([`own`]: in that CPU's IRQ exit or idle wake-up, nothing locked), which then
/// deactivates it. It stays disabled until [`route_own`] names a CPU. Once per boot.
pub fn claim(intid: u32, handler: fn()) {
    if (32..SPECIAL).contains(&intid) {
        OWN.call_once(|| (intid, handler));
    }
}

/// The board's handler of `intid`, if the board claimed it.
#[inline(never)] // a call on the SPI path only: the virtual timer's wake-up path stays as it was
pub fn own(intid: u32) -> Option<fn()> {
    OWN.get().filter(|(i, _)| *i == intid).map(|&(_, h)| h)
}

/// Routes the claimed SPI to the CPU with affinity `mpidr` and enables it, or disables it
/// (`None`). False (nothing changed) without a GIC or a claim, or on GICv2 before that CPU
/// ran [`super::init_cpu`] (its CPU interface number is not known yet).
pub fn route_own(mpidr: Option<u64>) -> bool {
    let (Some(host), Some(&(intid, _))) = (HOST.get(), OWN.get()) else { return false };
    let d = host.gicd();
    let (i, bit) = (intid as usize, 1 << (intid % 32));
    let Some(mpidr) = mpidr else {
        d.icenabler[i / 32].set(bit);
        return true;
    };
    match host.version {
        Version::V3 => d.irouter[i].set(mpidr),
        Version::V2 => match v2_interface_of(mpidr) {
            Some(mask) => d.itargetsr[i].set(mask),
            None => return false,
        },
    }
    d.isenabler[i / 32].set(bit);
    true
}
