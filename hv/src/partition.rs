//! A partition at run time: its validated configuration turned into the state the run
//! loop needs (memory map, emulated console, fault policy, counters).

use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

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
    pub exits: AtomicU32,
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
        (sum(|v| &v.exits).into(), sum(|v| &v.hypercalls).into(), sum(|v| &v.mmio).into())
    }
}

/// An emulated console UART at a guest-physical address chosen by the port, of the model
/// the port chose (PL011 on ARM, NS16550 on Book E).
pub struct VirtualUart {
    pub base: u64,
    pub model: Mutex<Uart>,
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
    stopped: AtomicBool,
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
                Console::Emulated => Some(VirtualUart { base: uart_base, model: Mutex::new(Uart::new(kind)) }),
                Console::None => None,
            },
            stats: Stats::default(),
            stopped: AtomicBool::new(false),
            fault_reported: AtomicBool::new(false),
            refusal_reported: AtomicBool::new(false),
        }
    }

    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }

    pub fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
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

    /// Back to a fresh start (policy `restart`).
    pub fn restarted(&self) {
        self.fault_reported.store(false, Ordering::Release);
        self.refusal_reported.store(false, Ordering::Release);
        self.stopped.store(false, Ordering::Release);
    }
}
