//! The core's decisions with a fake vCPU and board: the emulated console's interrupt line
//! and restarts of partitions with several vCPUs. `park` never returns on a board; here it
//! panics, and the tests catch that.

use super::*;
use crate::config::{Config, FaultPolicy, Partition};
use crate::exit::Width;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};

const UART: u64 = 0x900_0000;
const FR: u64 = UART + 0x18;
const DR: u64 = UART;
const IMSC: u64 = UART + 0x38;
/// IMSC: receive and receive-timeout interrupts, as Linux's amba-pl011 sets them.
const RX_INTERRUPTS: u64 = 1 << 4 | 1 << 6;

#[derive(Default)]
struct FakeVcpu {
    index: usize,
    lines: Vec<bool>,
    loaded: Vec<u64>,
    resets: Vec<(u64, u64)>,
}

impl Vcpu for FakeVcpu {
    fn index(&self) -> usize {
        self.index
    }
    fn hypercall_args(&self) -> (u64, [u64; 4]) {
        (0, [0; 4])
    }
    fn hypercall_return(&mut self, _ret: [u64; 4]) {}
    fn mmio_complete(&mut self, _access: &MmioAccess, value: u64) {
        self.loaded.push(value);
    }
    fn inject(&mut self, _fault: &Fault) {}
    fn reset(&mut self, entry: u64, arg: u64) {
        self.resets.push((entry, arg));
    }
    fn idle(&mut self) {}
    fn device_irq(&mut self, device: EmulatedDevice, high: bool) {
        assert_eq!(device, EmulatedDevice::Console);
        self.lines.push(high);
    }
}

/// A board that records what the core asks of it.
#[derive(Default)]
struct FakeBoard {
    typed: RefCell<VecDeque<u8>>,
    said: RefCell<Vec<String>>,
}

impl FakeBoard {
    fn say(&self, s: String) {
        self.said.borrow_mut().push(s);
    }
}

impl Platform for FakeBoard {
    fn console(&self, _p: &PartitionRt, _bytes: &[u8]) {}
    fn message(&self, args: fmt::Arguments) {
        self.say(args.to_string());
    }
    fn host_memory(&self) -> &dyn HostMemory {
        unimplemented!("no test reads guest memory")
    }
    fn reload(&self, _p: &PartitionRt) -> Option<(u64, u64)> {
        self.say("reload".into());
        Some((0x4008_0000, 0x4000_0000))
    }
    fn park(&self) -> ! {
        self.say("park".into());
        panic!("parked")
    }
    fn console_input(&self, _p: &PartitionRt, buf: &mut [u8]) -> usize {
        let mut typed = self.typed.borrow_mut();
        let n = buf.len().min(typed.len());
        for b in buf.iter_mut().take(n) {
            *b = typed.pop_front().unwrap_or(0);
        }
        n
    }
    fn stop_other_vcpus(&self, _p: &PartitionRt, me: usize) {
        self.say(format!("stop the vCPUs but {me}"));
    }
    fn hand_over_to_boot_vcpu(&self, _p: &PartitionRt, entry: u64, _arg: u64) -> ! {
        self.say(format!("vCPU 0 starts at {entry:#x}"));
        panic!("turned off")
    }
}

fn partition(cpus: &[u32], policy: FaultPolicy) -> PartitionRt {
    let mut p = Partition::new(0, "p");
    p.cpus.extend_from_slice(cpus).unwrap();
    p.fault_policy = policy;
    PartitionRt::new(&Config::default(), &p, UART)
}

fn access(addr: u64, write: Option<u64>) -> Exit {
    Exit::Mmio(MmioAccess { addr, width: Width::Word, write, reg: 0, sign_extend: false })
}

/// Runs one exit; true if it parked (or handed over) instead of returning.
fn parked(vcpu: &mut FakeVcpu, p: &PartitionRt, board: &FakeBoard, e: Exit) -> bool {
    catch_unwind(AssertUnwindSafe(|| exit(vcpu, p, board, e))).is_err()
}

#[test]
fn the_consoles_interrupt_line_is_reported_when_it_changes() {
    let (p, board, mut v) = (partition(&[1], FaultPolicy::Stop), FakeBoard::default(), FakeVcpu::default());
    exit(&mut v, &p, &board, access(IMSC, Some(RX_INTERRUPTS)));
    assert!(v.lines.is_empty(), "unmasked, but nothing received");
    board.typed.borrow_mut().extend(b"ok");
    exit(&mut v, &p, &board, access(FR, None));
    assert_eq!(v.lines, [true], "the read took the typed bytes in: the line rises");
    exit(&mut v, &p, &board, access(DR, None));
    exit(&mut v, &p, &board, access(FR, None));
    assert_eq!(v.lines, [true], "one byte left: still high, not reported again");
    exit(&mut v, &p, &board, access(DR, None));
    assert_eq!(v.lines, [true, false], "drained: the line drops");
    assert_eq!(v.loaded[2..], [u64::from(b'o'), 0x80, u64::from(b'k')], "DR, FR (TXFE), DR");
    exit(&mut v, &p, &board, access(IMSC, Some(1 << 5)));
    assert_eq!(v.lines, [true, false, true], "TXIM: the transmitter is always ready");
}

#[test]
fn input_for_a_partition_that_does_not_poll_raises_its_line() {
    let (p, board, mut v) = (partition(&[1], FaultPolicy::Stop), FakeBoard::default(), FakeVcpu::default());
    exit(&mut v, &p, &board, access(IMSC, Some(RX_INTERRUPTS)));
    let mut reported = Vec::new();
    console_input_arrived(&p, &board, &mut |high| reported.push(high));
    assert!(reported.is_empty(), "nothing typed yet");
    board.typed.borrow_mut().extend(b"x\r");
    console_input_arrived(&p, &board, &mut |high| reported.push(high));
    assert_eq!(reported, [true]);
    exit(&mut v, &p, &board, access(DR, None));
    exit(&mut v, &p, &board, access(DR, None));
    assert_eq!(v.lines, [false], "the guest's reads took both: low again, reported by its vCPU");
}

#[test]
fn a_restart_by_vcpu_0_stops_the_others_first_and_resets_it() {
    let (p, board) = (partition(&[1, 2], FaultPolicy::Stop), FakeBoard::default());
    let mut v = FakeVcpu { index: 0, ..FakeVcpu::default() };
    assert!(!parked(&mut v, &p, &board, Exit::Power(PowerRequest::SystemReset)));
    assert_eq!(*board.said.borrow(), ["stop the vCPUs but 0", "reload", "partition 0 \"p\": restarting (reset requested)"]);
    assert_eq!(v.resets, [(0x4008_0000, 0x4000_0000)]);
    assert!(!p.is_stopped());
}

#[test]
fn a_restart_by_another_vcpu_hands_over_to_vcpu_0() {
    let (p, board) = (partition(&[1, 2], FaultPolicy::Restart), FakeBoard::default());
    let mut v = FakeVcpu { index: 1, ..FakeVcpu::default() };
    exit(&mut v, &p, &board, access(IMSC, Some(RX_INTERRUPTS)));
    board.typed.borrow_mut().push_back(b'z');
    exit(&mut v, &p, &board, access(FR, None));
    assert!(parked(&mut v, &p, &board, Exit::Fault(Fault::Memory { addr: 0x4900_0000, write: false })));
    let said = board.said.borrow();
    assert_eq!(said[1..], ["stop the vCPUs but 1", "reload", "partition 0 \"p\": restarting (fault)", "vCPU 0 starts at 0x40080000"]);
    assert!(v.resets.is_empty(), "vCPU 1 does not start at the entry");
    assert!(!p.is_stopped(), "running again");
    let mut reported = Vec::new();
    console_input_arrived(&p, &board, &mut |high| reported.push(high));
    assert!(reported.is_empty(), "the emulated UART was reset: everything masked, its FIFO empty");
}

#[test]
fn only_one_vcpu_restarts_a_partition() {
    let (p, board) = (partition(&[1, 2], FaultPolicy::Restart), FakeBoard::default());
    assert!(p.halt_for_restart(), "vCPU 0 is restarting it");
    let mut v = FakeVcpu { index: 1, ..FakeVcpu::default() };
    assert!(parked(&mut v, &p, &board, Exit::Power(PowerRequest::SystemReset)));
    assert_eq!(*board.said.borrow(), ["park"], "vCPU 1 only leaves");
}

/// The fast decisions (`query_exit`, `interrupt_exit`) against `exit`.
mod fast_paths {
    use super::super::*;
    use crate::config::{Config, MemoryRegion, Partition, Range};

    /// A vCPU that records what the core did to it.
    #[derive(Default, PartialEq, Debug)]
    struct Regs {
        x: [u64; 5],
        faults: usize,
    }
    impl Vcpu for Regs {
        fn hypercall_args(&self) -> (u64, [u64; 4]) {
            (self.x[0], [self.x[1], self.x[2], self.x[3], self.x[4]])
        }
        fn hypercall_return(&mut self, ret: [u64; 4]) {
            self.x[..4].copy_from_slice(&ret);
        }
        fn mmio_complete(&mut self, _: &MmioAccess, _: u64) {}
        fn inject(&mut self, _: &Fault) {
            self.faults += 1;
        }
        fn reset(&mut self, _: u64, _: u64) {}
        fn idle(&mut self) {}
    }

    struct Board;
    impl Platform for Board {
        fn console(&self, _: &PartitionRt, _: &[u8]) {}
        fn message(&self, _: fmt::Arguments) {}
        fn host_memory(&self) -> &dyn HostMemory {
            &Zeros
        }
        fn reload(&self, _: &PartitionRt) -> Option<(u64, u64)> {
            None
        }
        fn park(&self) -> ! {
            panic!("parked")
        }
    }
    struct Zeros;
    impl HostMemory for Zeros {
        fn read(&self, _: u64, buf: &mut [u8]) {
            buf.fill(0);
        }
    }

    fn partition() -> PartitionRt {
        let mut p = Partition::new(2, "q");
        p.fault_policy = FaultPolicy::Inject;
        p.memory.push(MemoryRegion { host: Range::new(0x4800_0000, 0x2000), guest_base: 0x4000_0000 }).unwrap();
        p.cpus.push(1).unwrap();
        PartitionRt::new(&Config::new(), &p, 0x900_0000)
    }

    /// Whatever the call, the fast decision either declines and leaves everything as it
    /// was, or leaves the vCPU and the counters exactly as `exit` does.
    #[test]
    fn the_fast_paths_agree_with_exit() {
        use hypercall::{CONSOLE_WRITE, PARTITION_INFO, STATS, VERSION};
        let mut numbers = vec![VERSION, PARTITION_INFO, STATS, CONSOLE_WRITE];
        numbers.extend([0x8000_0000, 0x8400_0000, 0xC600_0042, 0x8600_ff01, 0xC500_0000, 0, u64::MAX]);
        let mut n = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..2000 {
            n ^= n << 13;
            n ^= n >> 7;
            n ^= n << 17;
            numbers.extend([n, n & 0xffff_ffff, (n & 0x3f00_0003) | 0xC600_0000]);
        }
        for number in numbers {
            let (fast_p, slow_p) = (partition(), partition());
            let start = Regs { x: [number, 0x4000_0000, 4, 7, 9], faults: 0 };
            let (mut fast, mut slow) = (Regs { ..start }, Regs { ..start });
            exit(&mut slow, &slow_p, &Board, Exit::Hypercall);
            if query_exit(&mut fast, &fast_p) {
                assert_eq!(fast, slow, "{number:#x}");
                assert_eq!(fast_p.stats.total(), slow_p.stats.total(), "{number:#x}");
            } else {
                assert_eq!(fast, start, "{number:#x}: declined, untouched");
                assert_eq!(fast_p.stats.total(), (0, 0, 0));
            }
        }
        // An interrupt exit, likewise.
        let (fast_p, slow_p) = (partition(), partition());
        let (fast, mut slow) = (Regs::default(), Regs::default());
        exit(&mut slow, &slow_p, &Board, Exit::Interrupt);
        assert!(interrupt_exit(&fast, &fast_p));
        assert_eq!((fast, fast_p.stats.total()), (slow, slow_p.stats.total()));

        let stopped = partition();
        stopped.stop();
        assert!(!interrupt_exit(&Regs::default(), &stopped));
        let mut v = Regs { x: [VERSION, 0, 0, 0, 0], faults: 0 };
        assert!(!query_exit(&mut v, &stopped), "a stopped partition's vCPU goes to exit (and parks)");
    }
}
