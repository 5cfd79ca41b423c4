//! PSCI (Arm Power State Coordination Interface) calls to firmware, over the SMC conduit
//! (`smc #0`, SMC Calling Convention: function in x0, arguments x1..x3, result x0).
//!
//! The hypervisor runs at EL2, so firmware is EL3 (or, under QEMU without EL3, QEMU's own
//! PSCI emulation, which answers `smc` when `virtualization=on`). Partitions never reach
//! this: their PSCI calls trap to the hypervisor, which decides.

use core::fmt;

/// PSCI_VERSION: major << 16 | minor.
pub const PSCI_VERSION: u32 = 0x8400_0000;
/// SYSTEM_OFF: power the machine off (QEMU exits with status 0).
pub const SYSTEM_OFF: u32 = 0x8400_0008;
/// CPU_ON (SMC64): start CPU `target` (MPIDR affinity) at `entry` with x0 = `context`.
pub const CPU_ON: u32 = 0xc400_0003;

/// A PSCI error return.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    NotSupported,
    InvalidParameters,
    Denied,
    AlreadyOn,
    OnPending,
    InternalFailure,
    NotPresent,
    Disabled,
    InvalidAddress,
    Other(i64),
}

impl Error {
    /// Decodes a negative PSCI return value.
    pub fn from_code(code: i64) -> Error {
        match code {
            -1 => Error::NotSupported,
            -2 => Error::InvalidParameters,
            -3 => Error::Denied,
            -4 => Error::AlreadyOn,
            -5 => Error::OnPending,
            -6 => Error::InternalFailure,
            -7 => Error::NotPresent,
            -8 => Error::Disabled,
            -9 => Error::InvalidAddress,
            other => Error::Other(other),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Other(code) => write!(f, "PSCI error {code}"),
            e => write!(f, "PSCI {e:?}"),
        }
    }
}

/// PSCI version as (major, minor).
pub fn version() -> (u16, u16) {
    let v = smc(PSCI_VERSION, 0, 0, 0) as u32;
    ((v >> 16) as u16, v as u16)
}

/// Powers the machine off. Does not return; should firmware refuse, this CPU sleeps for
/// good (there is nothing left to do).
pub fn system_off() -> ! {
    smc(SYSTEM_OFF, 0, 0, 0);
    loop {
        aarch64_cpu::asm::wfe();
    }
}

/// Starts the CPU with affinity `mpidr` at physical address `entry` (MMU off, EL2), with
/// `context` in x0.
pub fn cpu_on(mpidr: u64, entry: u64, context: u64) -> Result<(), Error> {
    match smc(CPU_ON, mpidr, entry, context) {
        0 => Ok(()),
        code => Err(Error::from_code(code)),
    }
}

#[cfg(target_arch = "aarch64")]
fn smc(function: u32, a1: u64, a2: u64, a3: u64) -> i64 {
    let ret;
    // SAFETY: PSCI calls touch no memory of ours; SMCCC lets firmware clobber x0..x17,
    // which clobber_abi("C") covers (plus x18 and the FP/SIMD caller-saved registers).
    unsafe {
        core::arch::asm!(
            "smc #0",
            inout("x0") function as u64 => ret,
            in("x1") a1, in("x2") a2, in("x3") a3,
            options(nostack),
            clobber_abi("C"),
        );
    }
    ret
}

#[cfg(not(target_arch = "aarch64"))]
fn smc(_function: u32, _a1: u64, _a2: u64, _a3: u64) -> i64 {
    unimplemented!("PSCI exists only on AArch64")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_decode() {
        assert_eq!(Error::from_code(-4), Error::AlreadyOn);
        assert_eq!(Error::from_code(-42).to_string(), "PSCI error -42");
        assert_eq!(Error::Denied.to_string(), "PSCI Denied");
    }
}
