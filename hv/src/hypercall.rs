//! bulkhead's hypercall ABI: the same function numbers and results on every port.
//!
//! Numbers follow the Arm SMC Calling Convention layout (fast call, 64-bit, owner 6 =
//! vendor-specific hypervisor service), so on ARM they coexist with PSCI and SMCCC
//! discovery; the other ports use the same values:
//! - ARMv8: `hvc #0`, function in x0, arguments x1..x4, results x0..x3.
//! - Book E: `sc 1` with the function in r11, arguments r3..r6, results r3..r6 (as ePAPR).
//! - VT-x: `vmcall`, function in rax, arguments rdi, rsi, rdx, rcx, results rax, rdi, rsi, rdx.
//!
//! Results: `x0` is a status ([`SUCCESS`], [`NOT_SUPPORTED`], [`INVALID_PARAMETERS`],
//! [`DENIED`]), then up to three values.
//!
//! | function | number | arguments | results |
//! |---|---|---|---|
//! | VERSION | 0xC600_0000 | - | ABI version (major << 16 \| minor) |
//! | CONSOLE_WRITE | 0xC600_0001 | guest address, length (<= 256) | bytes written |
//! | PARTITION_INFO | 0xC600_0002 | - | partition id, vCPU count, RAM bytes |
//! | STATS | 0xC600_0003 | - | exits, hypercalls, emulated MMIO accesses |
//!
//! A number in bulkhead's own range that is not in the table is an undefined hypercall:
//! the partition's fault policy decides (SMCCC general queries 0x..00_FFxx excepted). Numbers of other SMCCC owners get NOT_SUPPORTED,
//! as the convention requires (guests probe for hypervisors that way).
//!
//! Threat model: every argument comes from the guest. Addresses are checked against the
//! partition's own memory map before any byte is read; lengths are bounded so one call
//! cannot hold a CPU in the hypervisor for long.

use crate::exit::Fault;
use crate::memmap::MemoryMap;

pub const VERSION: u64 = 0xC600_0000;
pub const CONSOLE_WRITE: u64 = 0xC600_0001;
pub const PARTITION_INFO: u64 = 0xC600_0002;
pub const STATS: u64 = 0xC600_0003;

/// ABI version 1.0.
pub const ABI_VERSION: u64 = 1 << 16;

pub const SUCCESS: u64 = 0;
pub const NOT_SUPPORTED: u64 = -1i64 as u64;
pub const INVALID_PARAMETERS: u64 = -2i64 as u64;
pub const DENIED: u64 = -3i64 as u64;

/// Most bytes one CONSOLE_WRITE accepts.
pub const CONSOLE_WRITE_MAX: u64 = 256;

/// SMCCC: function-number bits 29:24 name the owning service.
const OWNER_SHIFT: u64 = 24;
const OWNER_MASK: u64 = 0x3f;
const OWNER_VENDOR_HYP: u64 = 6;
/// SMCCC: functions 0xFF00.. of every owner are general queries (count, UID, revision),
/// which guests may probe; they are answered NOT_SUPPORTED rather than treated as faults.
const GENERAL_QUERIES: u64 = 0xff00;

/// What the hypervisor can tell a partition about itself.
pub struct CallerInfo<'a> {
    pub id: u32,
    pub vcpus: u32,
    pub ram_bytes: u64,
    pub map: &'a MemoryMap,
    /// (exits, hypercalls, mmio), read only by STATS.
    pub stats: &'a dyn Fn() -> (u64, u64, u64),
}

/// Reads host-physical memory the caller has already proven to be the partition's own.
pub trait HostMemory {
    fn read(&self, host_addr: u64, buf: &mut [u8]);
}

/// The result of a hypercall.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Return these registers to the guest.
    Return([u64; 4]),
    /// The call was undefined: a fault for the partition's policy.
    Fault(Fault),
}

/// Whether SMCCC function `n` belongs to the hypervisor service (owner 6): bulkhead's
/// calls and their general queries, never a firmware (PSCI) call.
#[inline(always)] // the hypercall path
pub fn is_hypervisor_service(n: u64) -> bool {
    (n >> OWNER_SHIFT) & OWNER_MASK == OWNER_VENDOR_HYP
}

/// Whether SMCCC function `n` is bulkhead's own and not a general query: the table
/// above, or an undefined hypercall.
fn ours(n: u64) -> bool {
    is_hypervisor_service(n) && n & 0xffff < GENERAL_QUERIES
}

/// The calls answered from the caller's identity alone (VERSION, PARTITION_INFO, and
/// NOT_SUPPORTED for other owners and general queries): their result registers, with
/// no memory, console or counter read and no [`Outcome`] built. `None` for everything
/// else: ask [`handle`]. Always what [`handle`] answers (tested below).
#[inline(always)] // the hypercall path
pub fn query(number: u64, id: u32, vcpus: u32, ram_bytes: u64) -> Option<[u64; 4]> {
    match number {
        VERSION => Some([SUCCESS, ABI_VERSION, 0, 0]),
        PARTITION_INFO => Some([SUCCESS, id.into(), vcpus.into(), ram_bytes]),
        n if ours(n) => None,
        _ => Some([NOT_SUPPORTED, 0, 0, 0]),
    }
}

/// Handles hypercall `number` with `args`; console bytes go to `console`.
#[inline(always)] // the hypercall path; the calls with work to do are out of line
pub fn handle(
    number: u64,
    args: [u64; 4],
    caller: &CallerInfo,
    mem: &dyn HostMemory,
    console: &mut dyn FnMut(&[u8]),
) -> Outcome {
    let ok = |a, b, c| Outcome::Return([SUCCESS, a, b, c]);
    let err = |code| Outcome::Return([code, 0, 0, 0]);
    match number {
        VERSION => ok(ABI_VERSION, 0, 0),
        CONSOLE_WRITE => console_write(args[0], args[1], caller.map, mem, console),
        PARTITION_INFO => ok(caller.id as u64, caller.vcpus as u64, caller.ram_bytes),
        STATS => {
            let (exits, hypercalls, mmio) = (caller.stats)();
            ok(exits, hypercalls, mmio)
        }
        n if ours(n) => Outcome::Fault(Fault::Hypercall { number: n }),
        _ => err(NOT_SUPPORTED),
    }
}

/// CONSOLE_WRITE of `len` bytes at guest address `gpa` (out of line: its buffer would
/// weigh on every other call's stack frame).
#[inline(never)]
fn console_write(gpa: u64, len: u64, map: &MemoryMap, mem: &dyn HostMemory, console: &mut dyn FnMut(&[u8])) -> Outcome {
    if len > CONSOLE_WRITE_MAX {
        return Outcome::Return([INVALID_PARAMETERS, 0, 0, 0]);
    }
    let Ok(host) = map.translate(gpa, len) else { return Outcome::Return([DENIED, 0, 0, 0]) };
    let mut buf = [0u8; CONSOLE_WRITE_MAX as usize];
    let bytes = &mut buf[..len as usize];
    mem.read(host, bytes);
    console(bytes);
    Outcome::Return([SUCCESS, len, 0, 0])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{MemoryRegion, Partition, Range};

    struct FakeRam;
    impl HostMemory for FakeRam {
        fn read(&self, host_addr: u64, buf: &mut [u8]) {
            for (i, b) in buf.iter_mut().enumerate() {
                *b = b'a' + ((host_addr as usize + i) % 26) as u8;
            }
        }
    }

    fn map() -> MemoryMap {
        let mut p = Partition::new(3, "t");
        p.memory.push(MemoryRegion { host: Range::new(0x4800_0000, 0x1000), guest_base: 0x4000_0000 }).unwrap();
        MemoryMap::of(&p, &[])
    }

    fn call(number: u64, args: [u64; 4]) -> (Outcome, Vec<u8>) {
        let map = map();
        let caller = CallerInfo { id: 3, vcpus: 2, ram_bytes: 0x1000, map: &map, stats: &|| (10, 4, 6) };
        let mut out = Vec::new();
        let r = handle(number, args, &caller, &FakeRam, &mut |b| out.extend_from_slice(b));
        (r, out)
    }

    #[test]
    fn version_and_info() {
        assert_eq!(call(VERSION, [0; 4]).0, Outcome::Return([SUCCESS, ABI_VERSION, 0, 0]));
        assert_eq!(call(PARTITION_INFO, [0; 4]).0, Outcome::Return([SUCCESS, 3, 2, 0x1000]));
        assert_eq!(call(STATS, [0; 4]).0, Outcome::Return([SUCCESS, 10, 4, 6]));
    }

    #[test]
    fn console_write_reads_through_the_map() {
        let (r, out) = call(CONSOLE_WRITE, [0x4000_0000, 3, 0, 0]);
        assert_eq!(r, Outcome::Return([SUCCESS, 3, 0, 0]));
        // Bytes come from host 0x4800_0000 (% 26 == 20 → "uvw"); reading the guest address
        // itself (0x4000_0000 % 26 == 12) would give "mno".
        assert_eq!(out, b"uvw");
    }

    #[test]
    fn console_write_refuses_foreign_and_oversized_buffers() {
        assert_eq!(call(CONSOLE_WRITE, [0x4800_0000, 4, 0, 0]).0, Outcome::Return([DENIED, 0, 0, 0]));
        assert_eq!(call(CONSOLE_WRITE, [0x4000_0ff0, 32, 0, 0]).0, Outcome::Return([DENIED, 0, 0, 0]));
        assert_eq!(call(CONSOLE_WRITE, [u64::MAX, 2, 0, 0]).0, Outcome::Return([DENIED, 0, 0, 0]));
        assert_eq!(call(CONSOLE_WRITE, [0x4000_0000, 257, 0, 0]).0, Outcome::Return([INVALID_PARAMETERS, 0, 0, 0]));
        assert!(call(CONSOLE_WRITE, [0x4800_0000, 4, 0, 0]).1.is_empty(), "nothing read");
    }

    /// The fast decision agrees with the general one wherever it answers, and leaves to it
    /// exactly the calls that read memory or counters or are faults.
    #[test]
    fn queries_answer_as_handle_does() {
        let mut numbers = vec![VERSION, CONSOLE_WRITE, PARTITION_INFO, STATS, 0, u64::MAX];
        for owner in 0..64u64 {
            for call in [0x8000_0000u64, 0xC000_0000, 0] {
                for f in [0, 1, 2, 3, 4, 0x42, 0xfeff, 0xff00, 0xff01, 0xffff, 0x1_0000] {
                    numbers.push(call | owner << OWNER_SHIFT | f);
                }
            }
        }
        let mut x = 0x9e37_79b9_7f4a_7c15u64; // and a pseudo-random sweep
        for _ in 0..10_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            numbers.extend([x, x & 0xffff_ffff, x & 0xff00_ffff]);
        }
        for n in numbers {
            let general = call(n, [0; 4]).0;
            match query(n, 3, 2, 0x1000) {
                Some(regs) => assert_eq!(Outcome::Return(regs), general, "{n:#x}"),
                None => assert!(
                    matches!(n, CONSOLE_WRITE | STATS) || matches!(general, Outcome::Fault(_)),
                    "{n:#x} left to handle, which answers {general:?}"
                ),
            }
        }
    }

    #[test]
    fn undefined_numbers_in_our_range_are_faults_others_not_supported() {
        assert_eq!(call(0xC600_0042, [0; 4]).0, Outcome::Fault(Fault::Hypercall { number: 0xC600_0042 }));
        assert_eq!(call(0x8600_0007, [0; 4]).0, Outcome::Fault(Fault::Hypercall { number: 0x8600_0007 }));
        assert_eq!(call(0x8600_ff01, [0; 4]).0, Outcome::Return([NOT_SUPPORTED, 0, 0, 0]), "vendor hyp UID query");
        assert_eq!(call(0x8000_0000, [0; 4]).0, Outcome::Return([NOT_SUPPORTED, 0, 0, 0]), "SMCCC_VERSION");
        assert_eq!(call(0xC500_0000, [0; 4]).0, Outcome::Return([NOT_SUPPORTED, 0, 0, 0]), "standard hyp service");
    }
}
