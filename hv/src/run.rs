//! The core's decision for each exit ([`exit`]): the port runs the guest and decodes why
//! it stopped; [`exit`] decides what that means. It is the only place where fault policy
//! is applied. Ports that return exits from [`Run::run`] are driven by [`run_vcpu`], the
//! loop around it; ports that handle exits on their trap stack call [`exit`] from there
//! (see [`crate::exit`]).

use core::fmt;

use crate::config::FaultPolicy;
use crate::exit::{Exit, Fault, MmioAccess, PowerRequest, Run, Vcpu};
use crate::hypercall::{self, CallerInfo, HostMemory, Outcome};
use crate::partition::{PartitionRt, VcpuStats};
use crate::vdev::Effect;

/// What the board provides to the run loop.
pub trait Platform {
    /// Bytes from a partition's console (the board serialises them onto the physical UART
    /// through [`crate::console::ConsoleMux`]).
    fn console(&self, p: &PartitionRt, bytes: &[u8]);
    /// A line from the hypervisor for the operator.
    fn message(&self, args: fmt::Arguments);
    /// Reads partition memory already checked by the memory map.
    fn host_memory(&self) -> &dyn HostMemory;
    /// Puts the partition's image back into its memory; returns (entry, boot argument).
    fn reload(&self, p: &PartitionRt) -> Option<(u64, u64)>;
    /// Stops this physical CPU for good: the partition it served is stopped.
    fn park(&self) -> !;
    /// Input from the physical console for partition `p`, if `p` owns console input:
    /// up to `buf.len()` bytes, returns how many. Called when the guest reads its
    /// emulated console and the model has room; a board that finds nothing should show
    /// the partition's pending partial output line (a prompt) on the console.
    fn console_input(&self, _p: &PartitionRt, _buf: &mut [u8]) -> usize {
        0
    }
}

/// Runs one vCPU of partition `p` on this physical CPU, forever: the loop for ports that
/// return exits ([`Run`]).
pub fn run_vcpu<V: Run>(vcpu: &mut V, p: &PartitionRt, platform: &dyn Platform) -> ! {
    loop {
        if p.is_stopped() {
            platform.park();
        }
        let e = vcpu.run();
        exit(vcpu, p, platform, e);
    }
}

/// Decides what one exit of a vCPU of partition `p` means, and carries it out through the
/// vCPU: complete a hypercall or an emulated access, idle, apply the fault policy, power
/// off, restart. Returns when the vCPU may resume the guest; parks this CPU for good when
/// the partition is stopped (also when another of its vCPUs stopped it meanwhile).
/// Inlined into each of the port's exit handlers: with the exit known there, only its own
/// branch remains (a hypercall or an interrupt costs no call).
#[inline(always)]
pub fn exit<V: Vcpu + ?Sized>(vcpu: &mut V, p: &PartitionRt, platform: &dyn Platform, exit: Exit) {
    let stats = p.stats.vcpu(vcpu.index());
    match exit {
        // The hot exits inline (a hypercall; an interrupt the port already routed), the
        // others out of line.
        Exit::Hypercall => hypercall(vcpu, p, stats, platform),
        Exit::Interrupt => VcpuStats::bump(&stats.other_exits),
        other => {
            VcpuStats::bump(&stats.other_exits);
            not_hypercall(vcpu, p, platform, other);
        }
    }
    if p.is_stopped() {
        platform.park();
    }
}

/// [`exit`] of an `Exit::Hypercall` that is a pure query ([`hypercall::query`]: answered
/// from the partition's identity alone) while the partition runs: counted and answered,
/// the vCPU may resume. False, with nothing done: call [`exit`]. Ports call this first on
/// their hypercall path so that the commonest calls build nothing and call nothing; the
/// result is always what [`exit`] would have done (tested below).
#[inline(always)]
pub fn query_exit<V: Vcpu + ?Sized>(vcpu: &mut V, p: &PartitionRt) -> bool {
    if p.is_stopped() {
        return false;
    }
    let (number, _) = vcpu.hypercall_args();
    let Some(regs) = hypercall::query(number, p.id, p.vcpus, p.ram_bytes) else { return false };
    VcpuStats::bump(&p.stats.vcpu(vcpu.index()).hypercalls);
    vcpu.hypercall_return(regs);
    true
}

/// [`exit`] of an `Exit::Interrupt` (the port has routed the interrupt) while the
/// partition runs: counted, the vCPU may resume. False, with nothing done, when the
/// partition is stopped: call [`exit`] (which parks). For ports' interrupt fast paths; the
/// same as [`exit`] (tested below).
#[inline(always)]
pub fn interrupt_exit<V: Vcpu + ?Sized>(vcpu: &V, p: &PartitionRt) -> bool {
    if p.is_stopped() {
        return false;
    }
    VcpuStats::bump(&p.stats.vcpu(vcpu.index()).other_exits);
    true
}

/// [`exit`] for the exits with work to do beyond a hypercall.
#[inline(never)]
fn not_hypercall<V: Vcpu + ?Sized>(vcpu: &mut V, p: &PartitionRt, platform: &dyn Platform, exit: Exit) {
    match exit {
        Exit::Hypercall => hypercall(vcpu, p, p.stats.vcpu(vcpu.index()), platform),
        Exit::Mmio(access) => match emulate_mmio(p, platform, &access, vcpu.index()) {
            Some(value) => vcpu.mmio_complete(&access, value),
            None => fault(vcpu, p, platform, Fault::Memory { addr: access.addr, write: access.write.is_some() }),
        },
        Exit::Emulated(refusal) => {
            VcpuStats::bump(&p.stats.vcpu(vcpu.index()).mmio);
            if let Some(r) = refusal {
                refused(p, platform, r);
            }
        }
        Exit::Idle => vcpu.idle(),
        Exit::Interrupt => {}
        Exit::Power(PowerRequest::SystemOff) => {
            platform.message(format_args!("partition {} \"{}\": powered off", p.id, p.name));
            // The partition's cost to the hypervisor over its life (docs/benchmarks.md: an
            // idle Linux partition's exits), on a line of its own so `powered off` stays one.
            let (exits, hypercalls, mmio) = p.stats.total();
            platform.message(format_args!(
                "partition {} \"{}\": {exits} exits ({hypercalls} hypercalls, {mmio} emulated accesses) before power-off",
                p.id, p.name
            ));
            p.stop();
            platform.park();
        }
        Exit::Power(PowerRequest::SystemReset) => restart(vcpu, p, platform, "reset requested"),
        Exit::Power(PowerRequest::CpuOff) => platform.park(),
        Exit::Fault(f) => fault(vcpu, p, platform, f),
    }
}

#[cold]
fn refused(p: &PartitionRt, platform: &dyn Platform, r: crate::exit::Refusal) {
    if p.first_refusal() {
        platform.message(format_args!("partition {} \"{}\": {r}", p.id, p.name));
    }
}

#[inline(always)] // the hypercall path: one frame for the whole exit
fn hypercall<V: Vcpu + ?Sized>(vcpu: &mut V, p: &PartitionRt, stats: &VcpuStats, platform: &dyn Platform) {
    VcpuStats::bump(&stats.hypercalls);
    let (number, args) = vcpu.hypercall_args();
    // Pure queries first: answered from the partition's identity, nothing else built.
    match hypercall::query(number, p.id, p.vcpus, p.ram_bytes) {
        Some(regs) => vcpu.hypercall_return(regs),
        None => hypercall_with_effects(vcpu, p, platform, number, args),
    }
}

/// The hypercalls [`hypercall::query`] does not answer: they read guest memory, write the
/// console, read the counters or are faults.
#[inline(never)]
fn hypercall_with_effects<V: Vcpu + ?Sized>(
    vcpu: &mut V,
    p: &PartitionRt,
    platform: &dyn Platform,
    number: u64,
    args: [u64; 4],
) {
    let stats = || p.stats.total();
    let caller = CallerInfo { id: p.id, vcpus: p.vcpus, ram_bytes: p.ram_bytes, map: &p.map, stats: &stats };
    let outcome = hypercall::handle(number, args, &caller, &LazyHostMemory(platform), &mut |bytes| platform.console(p, bytes));
    match outcome {
        Outcome::Return(regs) => vcpu.hypercall_return(regs),
        Outcome::Fault(f) => fault(vcpu, p, platform, f),
    }
}

/// The board's [`HostMemory`], asked for only when a hypercall reads guest memory.
struct LazyHostMemory<'a>(&'a dyn Platform);

impl HostMemory for LazyHostMemory<'_> {
    fn read(&self, host_addr: u64, buf: &mut [u8]) {
        self.0.host_memory().read(host_addr, buf);
    }
}

/// Emulates the access if it falls on one of the partition's emulated devices.
fn emulate_mmio(p: &PartitionRt, platform: &dyn Platform, a: &MmioAccess, vcpu: usize) -> Option<u64> {
    let uart = p.uart.as_ref()?;
    let mut model = uart.model.lock();
    let offset = a.addr.checked_sub(uart.base).filter(|&o| o < model.size())?;
    VcpuStats::bump(&p.stats.vcpu(vcpu).mmio);
    match a.write {
        None => {
            let room = model.rx_room();
            if room > 0 {
                let mut buf = [0u8; 16];
                let n = platform.console_input(p, &mut buf[..room.min(16)]);
                model.receive(&buf[..n.min(room)]);
            }
            Some(model.read(offset) as u64)
        }
        Some(value) => {
            if let Effect::Tx(byte) = model.write(offset, value as u32) {
                drop(model);
                platform.console(p, &[byte]);
            }
            Some(0)
        }
    }
}

/// Applies the partition's fault policy. Only this partition is affected.
#[cold]
fn fault<V: Vcpu + ?Sized>(vcpu: &mut V, p: &PartitionRt, platform: &dyn Platform, f: Fault) {
    VcpuStats::bump(&p.stats.vcpu(vcpu.index()).faults);
    let action = match p.policy {
        FaultPolicy::Inject => "injected",
        FaultPolicy::Stop => "stopping it",
        FaultPolicy::Restart => "restarting it",
    };
    if p.first_fault() {
        platform.message(format_args!("partition {} \"{}\": {}; {}", p.id, p.name, f, action));
    }
    match p.policy {
        FaultPolicy::Inject => vcpu.inject(&f),
        FaultPolicy::Stop => {
            p.stop();
            platform.park();
        }
        FaultPolicy::Restart => restart(vcpu, p, platform, "fault"),
    }
}

#[cold]
fn restart<V: Vcpu + ?Sized>(vcpu: &mut V, p: &PartitionRt, platform: &dyn Platform, why: &str) {
    match platform.reload(p) {
        Some((entry, arg)) => {
            platform.message(format_args!("partition {} \"{}\": restarting ({why})", p.id, p.name));
            p.restarted();
            vcpu.reset(entry, arg);
        }
        None => {
            platform.message(format_args!("partition {} \"{}\": cannot restart (no image); stopped", p.id, p.name));
            p.stop();
            platform.park();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
