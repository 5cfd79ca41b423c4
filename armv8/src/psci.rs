//! PSCI (Arm Power State Coordination Interface, DEN0022), both sides:
//! - the hypervisor's calls to firmware, over the SMC conduit (`smc #0`, SMC Calling
//!   Convention: function in x0, arguments x1..x3, result x0). The hypervisor runs at EL2,
//!   so firmware is EL3 (or, under QEMU without EL3, QEMU's own PSCI emulation, which
//!   answers `smc` when `virtualization=on`);
//! - [`guest`]: the PSCI 1.1 a partition sees over the HVC conduit. Its calls never reach
//!   firmware: queries are answered here, power requests become `hv::exit::PowerRequest`s
//!   for the core to carry out.

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

/// The PSCI partitions see: version 1.1, one vCPU per physical CPU.
///
/// Multi-vCPU partitions: CPU_ON and AFFINITY_INFO act on the caller's own partition's
/// vCPUs through [`crate::smp`] (its power states and start mailboxes); without that state
/// (host unit tests) siblings are OFF and CPU_ON to them is DENIED.
pub mod guest {
    use crate::smp::{self, Group, OnError, Power, Start};
    use hv::exit::PowerRequest;

    pub const VERSION: u64 = 0x8400_0000;
    pub const CPU_SUSPEND: u64 = 0x8400_0001;
    pub const CPU_OFF: u64 = 0x8400_0002;
    pub const CPU_ON_32: u64 = 0x8400_0003;
    pub const AFFINITY_INFO_32: u64 = 0x8400_0004;
    pub const MIGRATE_INFO_TYPE: u64 = 0x8400_0006;
    pub const SYSTEM_OFF: u64 = 0x8400_0008;
    pub const SYSTEM_RESET: u64 = 0x8400_0009;
    pub const FEATURES: u64 = 0x8400_000a;
    /// SMC64 variants: bit 30 set.
    const SMC64: u64 = 1 << 30;
    pub const CPU_ON_64: u64 = CPU_ON_32 | SMC64;
    pub const AFFINITY_INFO_64: u64 = AFFINITY_INFO_32 | SMC64;

    /// PSCI 1.1.
    pub const PSCI_1_1: u64 = 0x0001_0001;
    pub const SUCCESS: u64 = 0;
    pub const NOT_SUPPORTED: u64 = -1i64 as u64;
    pub const INVALID_PARAMETERS: u64 = -2i64 as u64;
    pub const DENIED: u64 = -3i64 as u64;
    pub const ALREADY_ON: u64 = -4i64 as u64;
    pub const ON_PENDING: u64 = -5i64 as u64;
    /// AFFINITY_INFO answers.
    pub const AFFINITY_ON: u64 = 0;
    pub const AFFINITY_OFF: u64 = 1;
    pub const AFFINITY_ON_PENDING: u64 = 2;
    /// MIGRATE_INFO_TYPE: no trusted OS needing migration.
    pub const MIGRATE_NOT_REQUIRED: u64 = 2;

    /// SMCCC: PSCI is owner 4 (standard secure service), functions 0x00..0x1f.
    const OWNER_MASK: u64 = 0xbfff_ffe0;
    const PSCI_RANGE: u64 = 0x8400_0000;
    /// MPIDR affinity bits a target may name (Aff3, Aff2..Aff0).
    const AFFINITY: u64 = 0xff_00ff_ffff;

    /// Whether SMCCC function `f` (x0 of an HVC) is a PSCI call; the upper 32 bits of
    /// x0 are ignored for 32-bit calls as SMCCC says.
    pub fn is_psci(f: u64) -> bool {
        (f as u32 as u64) & OWNER_MASK == PSCI_RANGE
    }

    /// The calling vCPU's place in its partition.
    #[derive(Clone, Copy, Debug)]
    pub struct Caller {
        /// Its index (= its MPIDR affinity, Aff0).
        pub index: u64,
        /// vCPUs in the partition.
        pub count: u64,
    }

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Answer {
        /// Return this in x0 and resume the guest.
        Return(u64),
        /// The core decides.
        Power(PowerRequest),
    }

    /// Answers PSCI call `f` with arguments x1..x3. Every value is guest input.
    pub fn handle(f: u64, args: [u64; 3], me: Caller) -> Answer {
        // Only these look at the siblings: the others need not find the partition's group.
        let siblings = matches!(f as u32 as u64, CPU_ON_32 | CPU_ON_64 | AFFINITY_INFO_32 | AFFINITY_INFO_64);
        handle_with(f, args, me, if siblings { smp::mine().map(|(g, _)| g) } else { None })
    }

    /// [`handle`] with the caller's partition's vCPU states `group`, if known.
    pub fn handle_with(f: u64, args: [u64; 3], me: Caller, group: Option<&Group>) -> Answer {
        let f = f as u32 as u64;
        let target = |a: u64| {
            let a = a & AFFINITY;
            if a == me.index {
                Target::Me
            } else if a < me.count {
                Target::Sibling(a as usize)
            } else {
                Target::Unknown
            }
        };
        Answer::Return(match f {
            VERSION => PSCI_1_1,
            CPU_OFF => return Answer::Power(PowerRequest::CpuOff),
            SYSTEM_OFF => return Answer::Power(PowerRequest::SystemOff),
            SYSTEM_RESET => return Answer::Power(PowerRequest::SystemReset),
            CPU_ON_32 | CPU_ON_64 => match (target(args[0]), group) {
                (Target::Me, _) => ALREADY_ON,
                (Target::Sibling(i), Some(g)) => {
                    // A 32-bit call's entry point and context are 32-bit values.
                    let narrow = |v: u64| if f == CPU_ON_32 { v as u32 as u64 } else { v };
                    let start = Start { entry: narrow(args[1]), context: narrow(args[2]), cntvoff: Some(smp::cntvoff()) };
                    match g.request(i, start) {
                        Ok(()) => SUCCESS,
                        Err(OnError::AlreadyOn) => ALREADY_ON,
                        Err(OnError::OnPending) => ON_PENDING,
                        Err(OnError::NoSuchCpu) => INVALID_PARAMETERS,
                    }
                }
                (Target::Sibling(_), None) => DENIED,
                (Target::Unknown, _) => INVALID_PARAMETERS,
            },
            AFFINITY_INFO_32 | AFFINITY_INFO_64 if args[1] != 0 => INVALID_PARAMETERS,
            AFFINITY_INFO_32 | AFFINITY_INFO_64 => match target(args[0]) {
                Target::Me => AFFINITY_ON,
                Target::Sibling(i) => match group.and_then(|g| g.power(i)) {
                    Some(Power::On) => AFFINITY_ON,
                    Some(Power::OnPending) => AFFINITY_ON_PENDING,
                    Some(Power::Off) | None => AFFINITY_OFF,
                },
                Target::Unknown => INVALID_PARAMETERS,
            },
            MIGRATE_INFO_TYPE => MIGRATE_NOT_REQUIRED,
            FEATURES => match args[0] as u32 as u64 {
                VERSION | CPU_OFF | CPU_ON_32 | CPU_ON_64 | AFFINITY_INFO_32 | AFFINITY_INFO_64
                | MIGRATE_INFO_TYPE | SYSTEM_OFF | SYSTEM_RESET | FEATURES => SUCCESS,
                _ => NOT_SUPPORTED,
            },
            // CPU_SUSPEND and the rest: not offered.
            _ => NOT_SUPPORTED,
        })
    }

    enum Target {
        Me,
        Sibling(usize),
        Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::guest::*;
    use super::Error;
    use hv::exit::PowerRequest;

    const ME: Caller = Caller { index: 0, count: 2 };

    #[test]
    fn guest_psci_queries_and_power_requests() {
        assert!(is_psci(0x8400_0000) && is_psci(0xc400_0003) && is_psci(0xffff_ffff_8400_0008));
        assert!(!is_psci(0xc600_0000) && !is_psci(0x8400_0020) && !is_psci(0x8000_0000));
        assert_eq!(handle(VERSION, [0; 3], ME), Answer::Return(PSCI_1_1));
        assert_eq!(handle(SYSTEM_OFF, [0; 3], ME), Answer::Power(PowerRequest::SystemOff));
        assert_eq!(handle(SYSTEM_RESET, [0; 3], ME), Answer::Power(PowerRequest::SystemReset));
        assert_eq!(handle(CPU_OFF, [0; 3], ME), Answer::Power(PowerRequest::CpuOff));
        assert_eq!(handle(FEATURES, [SYSTEM_OFF, 0, 0], ME), Answer::Return(SUCCESS));
        assert_eq!(handle(FEATURES, [CPU_SUSPEND, 0, 0], ME), Answer::Return(NOT_SUPPORTED));
        assert_eq!(handle(CPU_SUSPEND, [0; 3], ME), Answer::Return(NOT_SUPPORTED));
    }

    #[test]
    fn guest_psci_affinity() {
        assert_eq!(handle(AFFINITY_INFO_64, [0, 0, 0], ME), Answer::Return(AFFINITY_ON));
        assert_eq!(handle(AFFINITY_INFO_64, [1, 0, 0], ME), Answer::Return(AFFINITY_OFF));
        assert_eq!(handle(AFFINITY_INFO_64, [7, 0, 0], ME), Answer::Return(INVALID_PARAMETERS));
        assert_eq!(handle(AFFINITY_INFO_32, [0, 1, 0], ME), Answer::Return(INVALID_PARAMETERS));
        assert_eq!(handle(CPU_ON_64, [0, 0x4008_0000, 0], ME), Answer::Return(ALREADY_ON));
        assert_eq!(handle(CPU_ON_64, [1, 0x4008_0000, 0], ME), Answer::Return(DENIED));
        assert_eq!(handle(CPU_ON_64, [u64::MAX, 0, 0], ME), Answer::Return(INVALID_PARAMETERS));
    }

    #[test]
    fn cpu_on_starts_a_sibling_of_the_same_partition() {
        let g = crate::smp::Group::new();
        g.register(&[1, 3], 0x4020_0000, 0x4000_0000);
        g.take(0);
        let on = |a: [u64; 3]| handle_with(CPU_ON_64, a, ME, Some(&g));
        assert_eq!(on([1, 0x4030_0000, 7]), Answer::Return(SUCCESS));
        assert_eq!(handle_with(AFFINITY_INFO_64, [1, 0, 0], ME, Some(&g)), Answer::Return(AFFINITY_ON_PENDING));
        assert_eq!(on([1, 0x4030_0000, 7]), Answer::Return(ON_PENDING));
        let s = g.take(1).unwrap();
        assert_eq!((s.entry, s.context), (0x4030_0000, 7));
        assert_eq!(handle_with(AFFINITY_INFO_64, [1, 0, 0], ME, Some(&g)), Answer::Return(AFFINITY_ON));
        assert_eq!(on([1, 0x4030_0000, 7]), Answer::Return(ALREADY_ON));
        assert_eq!(on([2, 0x4030_0000, 7]), Answer::Return(INVALID_PARAMETERS), "not the partition's");
        g.off(1);
        assert_eq!(handle_with(AFFINITY_INFO_32, [1, 0, 0], ME, Some(&g)), Answer::Return(AFFINITY_OFF));
        assert_eq!(handle_with(CPU_ON_32, [1, 0x1_4030_0000, 0x1_0000_0007], ME, Some(&g)), Answer::Return(SUCCESS));
        let s = g.take(1).unwrap();
        assert_eq!((s.entry, s.context), (0x4030_0000, 7), "SMC32: 32-bit arguments");
    }

    #[test]
    fn errors_decode() {
        assert_eq!(Error::from_code(-4), Error::AlreadyOn);
        assert_eq!(Error::from_code(-42).to_string(), "PSCI error -42");
        assert_eq!(Error::Denied.to_string(), "PSCI Denied");
    }
}
