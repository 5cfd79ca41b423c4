//! The core's decision for each exit ([`exit`]): the port runs the guest and decodes why
//! it stopped; [`exit`] decides what that means. It is the only place where fault policy
//! is applied. Ports that return exits from [`Run::run`] are driven by [`run_vcpu`], the
//! loop around it; ports that handle exits on their trap stack call [`exit`] from there
//! (see [`crate::exit`]).

use core::fmt;

use crate::config::FaultPolicy;
use crate::exit::{EmulatedDevice, Exit, Fault, MmioAccess, PowerRequest, Run, Vcpu};
use crate::hypercall::{self, CallerInfo, HostMemory, Outcome};
use crate::partition::{PartitionRt, VcpuStats, VirtualUart};
use crate::vdev::{Effect, Uart};
use core::sync::atomic::Ordering;

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
    /// Takes this physical CPU out of the partition's guest: for good when the partition is
    /// stopped; while it restarts, and after PSCI CPU_OFF, until the vCPU is started again.
    fn park(&self) -> !;
    /// A restart of partition `p` by its vCPU `me` (the partition is halted,
    /// [`PartitionRt::is_restarting`]): makes every other vCPU of `p` leave its guest and
    /// turn off, and returns once none runs guest code. Nothing to do for a partition with
    /// one vCPU (the default).
    fn stop_other_vcpus(&self, _p: &PartitionRt, _me: usize) {}
    /// The end of a restart of `p` carried out by one of its vCPUs other than 0 (the one on
    /// this CPU): it turns off, then vCPU 0 starts at `entry` with `arg`. Boards whose
    /// partitions have one vCPU never see this (the default parks).
    fn hand_over_to_boot_vcpu(&self, _p: &PartitionRt, _entry: u64, _arg: u64) -> ! {
        self.park()
    }
    /// Input from the physical console for partition `p`, if `p` owns console input:
    /// up to `buf.len()` bytes, returns how many. Called when the guest reads its
    /// emulated console and the model has room, and from [`console_input_arrived`]; a
    /// board that finds nothing should show the partition's pending partial output line
    /// (a prompt) on the console. (A guest that waits for input with interrupts never
    /// polls: its prompt is the board's to show, e.g. once its output has paused.)
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
        Exit::Mmio(access) => match emulate_mmio(vcpu, p, platform, &access) {
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

/// Emulates the access if it falls on one of the partition's emulated devices, then
/// re-evaluates the device's interrupt line (a load may take a received byte, a store may
/// unmask an interrupt) and reports a change to the port.
fn emulate_mmio<V: Vcpu + ?Sized>(vcpu: &mut V, p: &PartitionRt, platform: &dyn Platform, a: &MmioAccess) -> Option<u64> {
    let uart = p.uart.as_ref()?;
    let mut model = uart.model.lock();
    let offset = a.addr.checked_sub(uart.base).filter(|&o| o < model.size())?;
    VcpuStats::bump(&p.stats.vcpu(vcpu.index()).mmio);
    // The line can only change if a byte came in or went to the guest, or by a store.
    let room = model.rx_room();
    let (value, tx) = match a.write {
        None => {
            pull_console_input(p, platform, &mut model);
            (u64::from(model.read(offset)), None)
        }
        Some(value) => match model.write(offset, value as u32) {
            Effect::Tx(byte) => (0, Some(byte)),
            Effect::None => (0, None),
        },
    };
    if a.write.is_some() || model.rx_room() != room {
        report_line(uart, &model, &mut |high| vcpu.device_irq(EmulatedDevice::Console, high));
    }
    drop(model);
    if let Some(byte) = tx {
        platform.console(p, &[byte]);
    }
    Some(value)
}

/// Moves console input waiting for `p` into its UART model, as much as the receive FIFO
/// has room for.
#[inline(always)] // the polled console read's path (a second copy in the cold input path)
fn pull_console_input(p: &PartitionRt, platform: &dyn Platform, model: &mut Uart) {
    let room = model.rx_room();
    if room > 0 {
        let mut buf = [0u8; 16];
        let n = platform.console_input(p, &mut buf[..room.min(16)]);
        model.receive(&buf[..n.min(room)]);
    }
}

/// Reports the UART's interrupt line through `report` if it changed since it was last
/// reported. Called with the model locked: reports made on different CPUs (the partition's
/// accesses, input arriving) reach the interrupt controller in the order of the changes.
fn report_line(uart: &VirtualUart, model: &Uart, report: &mut dyn FnMut(bool)) {
    let high = model.irq_level();
    if uart.line.load(Ordering::Relaxed) != high {
        uart.line.store(high, Ordering::Relaxed);
        report(high);
    }
}

/// Console input arrived for partition `p`: the board's input router queued some, on
/// whichever CPU took the physical console's interrupt. Moves what fits into `p`'s
/// emulated UART and reports its interrupt line through `report` if that changed (the
/// board hands it to `p`'s interrupt controller, which wakes the vCPU that takes it).
pub fn console_input_arrived(p: &PartitionRt, platform: &dyn Platform, report: &mut dyn FnMut(bool)) {
    let Some(uart) = p.uart.as_ref() else { return };
    let mut model = uart.model.lock();
    pull_console_input(p, platform, &mut model);
    report_line(uart, &model, report);
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

/// Restarts partition `p` from its image (SYSTEM_RESET, policy `restart`), asked by one of
/// its vCPUs: every other vCPU leaves its guest and turns off first (the image is rewritten
/// under them), then vCPU 0 starts at the entry; the others wait for a CPU_ON, as at boot.
#[cold]
fn restart<V: Vcpu + ?Sized>(vcpu: &mut V, p: &PartitionRt, platform: &dyn Platform, why: &str) {
    if !p.halt_for_restart() {
        platform.park(); // stopped, or another of its vCPUs is restarting it
    }
    platform.stop_other_vcpus(p, vcpu.index());
    if let Some(uart) = p.uart.as_ref() {
        uart.reset();
    }
    match platform.reload(p) {
        Some((entry, arg)) => {
            platform.message(format_args!("partition {} \"{}\": restarting ({why})", p.id, p.name));
            if !p.restarted() {
                platform.park(); // stopped meanwhile
            }
            if vcpu.index() != 0 {
                platform.hand_over_to_boot_vcpu(p, entry, arg);
            }
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
#[path = "run_tests.rs"]
mod tests;
