//! A partition at run time: its validated configuration turned into the state the run
//! loop needs (memory map, emulated console, fault policy, counters).

use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU8, Ordering};

use heapless::String;
use spin::Mutex;

use crate::config::{Config, Console, FaultPolicy, Partition, MAX_CPUS, MAX_NAME};
use crate::memmap::MemoryMap;
use crate::vdev::{Uart, UartKind};

/// Counters a partition can read back with the STATS hypercall (wrapping): one set per
/// vCPU, summed when read.
#[derive(Default)]
pub struct Stats {
    per_vcpu: [VcpuStats; MAX_CPUS],
}

/// One vCPU's counters. Only the CPU running that vCPU writes them, so a count is a load
/// and a store, not an atomic read-modify-write loop; the atomics only make the sum a
/// sibling reads well defined.
#[derive(Default)]
pub struct VcpuStats {
    /// Exits other than hypercalls: a hypercall, the commonest exit, bumps only
    /// `hypercalls` (exits = both, summed when read).
    pub other_exits: AtomicU32,
    pub hypercalls: AtomicU32,
    pub mmio: AtomicU32,
    pub faults: AtomicU32,
}

impl VcpuStats {
    /// Counts one event. Only the vCPU's own CPU may call this (single writer).
    pub fn bump(counter: &AtomicU32) {
        counter.store(counter.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
    }
}

impl Stats {
    /// The counters of vCPU `index` (a partition has at most [`MAX_CPUS`]).
    pub fn vcpu(&self, index: usize) -> &VcpuStats {
        &self.per_vcpu[index % MAX_CPUS]
    }

    /// (exits, hypercalls, emulated MMIO accesses) of the whole partition, each wrapping
    /// at 32 bits as one counter would.
    pub fn total(&self) -> (u64, u64, u64) {
        let sum = |f: fn(&VcpuStats) -> &AtomicU32| {
            self.per_vcpu.iter().fold(0u32, |n, v| n.wrapping_add(f(v).load(Ordering::Relaxed)))
        };
        let hypercalls = sum(|v| &v.hypercalls);
        (sum(|v| &v.other_exits).wrapping_add(hypercalls).into(), hypercalls.into(), sum(|v| &v.mmio).into())
    }
}

/// An emulated console UART at a guest-physical address chosen by the port, of the model
/// the port chose (PL011 on ARM, NS16550 on Book E).
pub struct VirtualUart {
    pub base: u64,
    pub model: Mutex<Uart>,
    /// The level of the model's interrupt line last reported to the port
    /// (`hv::exit::Vcpu::device_irq`); changed only with `model` locked.
    pub line: AtomicBool,
}

impl VirtualUart {
    fn new(base: u64, kind: UartKind) -> VirtualUart {
        VirtualUart { base, model: Mutex::new(Uart::new(kind)), line: AtomicBool::new(false) }
    }

    /// Back to its reset state (a partition restart): registers, received bytes, line low.
    pub fn reset(&self) {
        let mut model = self.model.lock();
        model.reset();
        self.line.store(false, Ordering::Relaxed);
    }
}

pub struct PartitionRt {
    pub id: u32,
    pub name: String<MAX_NAME>,
    pub policy: FaultPolicy,
    pub vcpus: u32,
    pub ram_bytes: u64,
    pub map: MemoryMap,
    pub uart: Option<VirtualUart>,
    pub stats: Stats,
    /// [`RUNNING`], [`STOPPED`] or [`RESTARTING`].
    state: AtomicU8,
    fault_reported: AtomicBool,
    refusal_reported: AtomicBool,
}

impl PartitionRt {
    /// The run-time state of partition `p` of `cfg`; `uart_base` is where the port puts
    /// emulated consoles (PL011) in guest-physical space.
    pub fn new(cfg: &Config, p: &Partition, uart_base: u64) -> PartitionRt {
        Self::with_uart(cfg, p, uart_base, UartKind::Pl011)
    }

    /// As [`PartitionRt::new`], with an emulated console of model `kind`. (Out of line:
    /// boot-time code that LTO would otherwise copy into each board.)
    #[inline(never)]
    pub fn with_uart(cfg: &Config, p: &Partition, uart_base: u64, kind: UartKind) -> PartitionRt {
        PartitionRt {
            id: p.id,
            name: p.name.clone(),
            policy: p.fault_policy,
            vcpus: p.cpus.len() as u32,
            ram_bytes: p.memory.iter().map(|m| m.host.size).sum(),
            map: MemoryMap::of(p, &cfg.shared),
            uart: match p.console {
                Console::Emulated => Some(VirtualUart::new(uart_base, kind)),
                Console::None => None,
            },
            stats: Stats::default(),
            state: AtomicU8::new(RUNNING),
            fault_reported: AtomicBool::new(false),
            refusal_reported: AtomicBool::new(false),
        }
    }

    /// Its vCPUs must not run guest code: the partition is stopped, or halted while one of
    /// its vCPUs restarts it ([`PartitionRt::halt_for_restart`]).
    pub fn is_stopped(&self) -> bool {
        self.state.load(Ordering::Acquire) != RUNNING
    }

    /// Halted for a restart (see [`PartitionRt::is_stopped`]): its other vCPUs turn off.
    pub fn is_restarting(&self) -> bool {
        self.state.load(Ordering::Acquire) == RESTARTING
    }

    /// Stopped for good (powered off, policy `stop`, a failed restart): wins over a restart
    /// in progress.
    pub fn stop(&self) {
        self.state.store(STOPPED, Ordering::Release);
    }

    /// A restart begins (policy `restart`, SYSTEM_RESET): every vCPU must leave the guest.
    /// False if the partition is not running (stopped, or another vCPU is restarting it).
    pub fn halt_for_restart(&self) -> bool {
        self.state.compare_exchange(RUNNING, RESTARTING, Ordering::AcqRel, Ordering::Acquire).is_ok()
    }

    /// True the first time a fault is reported for this partition (since its last start):
    /// a guest that faults in a loop cannot flood the console.
    pub fn first_fault(&self) -> bool {
        !self.fault_reported.swap(true, Ordering::AcqRel)
    }

    /// True the first time an ignored access ([`crate::exit::Refusal`]) is reported for
    /// this partition (since its last start): Linux's distributor set-up alone writes
    /// whole registers shared with other partitions' interrupts.
    pub fn first_refusal(&self) -> bool {
        !self.refusal_reported.swap(true, Ordering::AcqRel)
    }

    /// Back to a fresh start after a restart: fault and refusal reports re-armed, running
    /// again. False if the partition was stopped meanwhile (it then stays stopped).
    pub fn restarted(&self) -> bool {
        self.fault_reported.store(false, Ordering::Release);
        self.refusal_reported.store(false, Ordering::Release);
        let from = [RESTARTING, RUNNING];
        from.iter().any(|&f| self.state.compare_exchange(f, RUNNING, Ordering::AcqRel, Ordering::Acquire).is_ok())
    }
}

/// [`PartitionRt`]'s states.
const RUNNING: u8 = 0;
const STOPPED: u8 = 1;
const RESTARTING: u8 = 2;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Partition;

    fn partition() -> PartitionRt {
        let cfg = Config::default();
        PartitionRt::new(&cfg, &Partition::new(0, "p"), 0x900_0000)
    }

    #[test]
    fn a_restart_halts_the_partition_and_only_one_vcpu_restarts_it() {
        let p = partition();
        assert!(!p.is_stopped());
        assert!(p.halt_for_restart());
        assert!(p.is_stopped() && p.is_restarting(), "its vCPUs must leave the guest");
        assert!(!p.halt_for_restart(), "a second vCPU does not restart it too");
        assert!(p.restarted());
        assert!(!p.is_stopped() && !p.is_restarting());
    }

    #[test]
    fn a_stop_wins_over_a_restart_in_progress() {
        let p = partition();
        assert!(p.halt_for_restart());
        p.stop();
        assert!(p.is_stopped() && !p.is_restarting());
        assert!(!p.restarted(), "stopped meanwhile: it stays stopped");
        assert!(p.is_stopped());
        assert!(!p.halt_for_restart());
    }
}
