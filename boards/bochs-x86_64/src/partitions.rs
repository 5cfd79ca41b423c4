//! Running the partitions on this board: wiring between the configuration, the vtx port and
//! the core's decisions (`hv::run::exit`, called from the port's exit path). No decisions
//! are made here.
//!
//! Each CPU runs the partition whose first CPU it is (one vCPU per partition, pinned), in
//! VMX operation with its own VMXON region and VMCS: its run-time state, EPT, I/O bitmaps
//! and image are set up on that CPU, then `Vcpu::run` never returns. A CPU no partition
//! names sleeps. A partition is stopped when it powers off or faults with policy `stop`;
//! the last one to stop powers the machine off.

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use hv::config::{Config, Partition, MAX_CPUS, MAX_PARTITIONS};
use hv::console::ConsoleMux;
use hv::console_input::{InputRouter, Typed};
use hv::hypercall::HostMemory;
use hv::memmap::{Kind, Mapping};
use hv::partition::PartitionRt;
use hv::run::Platform;
use hv::vdev::UartKind;
use vtx::cpu::Vmx;
use vtx::ept::{self, Pool};
use vtx::ioports::{self, IoBitmaps};
use vtx::vcpu::{Setup, Vcpu};
use vtx::vmx::Region;
use vtx::{cpu, loader};

use crate::{power_off, CONSOLE, IO_BUS};

/// Each partition's run-time state and I/O bitmaps, by partition id.
static RT: [spin::Once<PartitionRt>; MAX_PARTITIONS] = [const { spin::Once::new() }; MAX_PARTITIONS];
static IO: [spin::Once<IoBitmaps>; MAX_PARTITIONS] = [const { spin::Once::new() }; MAX_PARTITIONS];
/// EPT tables for every partition (a 2 MiB-aligned 16 MiB partition needs 3).
static EPT_TABLES: Pool<64> = Pool::new();
/// Each CPU's VMXON region and VMCS (the boot CPU enters VMX operation at first light).
pub static VMXON: [Region; MAX_CPUS] = [const { Region::new() }; MAX_CPUS];
static VMCS: [Region; MAX_CPUS] = [const { Region::new() }; MAX_CPUS];
/// Partitions started and not yet stopped: the last to stop powers the machine off.
static RUNNING: AtomicUsize = AtomicUsize::new(0);
/// Every CPU has been started: partitions may be loaded (the start-up trampoline's low
/// page is free again).
static ALL_STARTED: AtomicBool = AtomicBool::new(false);

/// Partition lines through the mux and the hypervisor's own lines, one lock: lines never
/// interleave mid-line.
static MUX: spin::Mutex<ConsoleMux> = spin::Mutex::new(ConsoleMux::new());
/// What the operator types, for the partition with the input focus (lock order: MUX, then
/// INPUT).
static INPUT: spin::Mutex<InputRouter> = spin::Mutex::new(InputRouter::new());

/// A line from the hypervisor (`hv: ...`), after any prompt shown on the console.
pub fn say(args: fmt::Arguments) {
    line(format_args!("hv: {args}"));
}

/// A whole line on the console, between partition lines.
fn line(args: fmt::Arguments) {
    let mut out = CONSOLE;
    let mut mux = MUX.lock();
    mux.end_partial(&mut |b| out.write_bytes(b));
    let _ = writeln!(out, "{args}");
}

/// This board's side of the core's decisions.
struct Board;
static BOARD: Board = Board;

/// After first light, on the boot CPU: starts the CPU of every partition (one at a time,
/// before any partition is loaded), then runs the boot CPU's own partition, if any.
pub fn start(cfg: &'static Config, vmx: Vmx) -> ! {
    // One vCPU per partition on x86 (no virtual INIT-SIPI yet).
    let runnable = |p: &Partition| p.cpus.len() == 1 && (p.cpus[0] as usize) < MAX_CPUS;
    RUNNING.store(cfg.partitions.iter().filter(|p| runnable(p)).count(), Ordering::Release);
    let mut started = 0;
    for p in &cfg.partitions {
        // Its devices' interrupts to its CPU (each line is one partition's: the
        // configuration checks that), before any partition runs.
        let irqs = if runnable(p) { vtx::irq::isa_irqs(p) } else { 0 };
        for irq in (0..16).filter(|i| irqs & 1 << i != 0) {
            // SAFETY: the board's I/O APIC, used by no other CPU yet (none runs a partition).
            unsafe { vtx::irq::route(crate::IOAPIC, irq, p.cpus[0]) };
        }
        match p.cpus.first() {
            Some(&c) if runnable(p) && c != 0 => match vtx::smp::start(c, secondary) {
                Ok(()) => started += 1,
                Err(e) => {
                    say(format_args!("partition {} \"{}\": not started: {e}", p.id, p.name));
                    RUNNING.fetch_sub(1, Ordering::AcqRel);
                }
            },
            Some(_) if runnable(p) => started += 1,
            _ => say(format_args!("partition {} \"{}\": not started: an x86 partition runs on exactly one CPU", p.id, p.name)),
        }
    }
    if let Some(first) = cfg.partitions.iter().find(|p| p.console == hv::config::Console::Emulated) {
        INPUT.lock().set_focus(first.id);
    }
    line(format_args!("partitions: started {started}"));
    ALL_STARTED.store(true, Ordering::Release);
    if RUNNING.load(Ordering::Acquire) == 0 {
        all_stopped();
    }
    go(cfg, 0, Some(vmx))
}

/// Where a secondary CPU starts (vtx::smp), on its own stack.
fn secondary(cpu: usize) -> ! {
    let Some(cfg) = crate::CONFIG.get() else { cpu::halt_forever() };
    while !ALL_STARTED.load(Ordering::Acquire) {
        core::hint::spin_loop(); // only while the boot CPU starts the others
    }
    go(cfg, cpu, None)
}

/// Runs the partition whose first CPU is `cpu` on it, or sleeps. `vmx`: the boot CPU's
/// probe (a secondary CPU probes its own).
fn go(cfg: &'static Config, cpu: usize, vmx: Option<Vmx>) -> ! {
    let Some(p) = cfg.partitions.iter().find(|p| p.cpus.first() == Some(&(cpu as u32))) else { cpu::halt_forever() };
    match vmx.map_or_else(|| cpu::probe().vmx, Ok) {
        Ok(vmx) => run(cfg, p, cpu, vmx),
        Err(e) => {
            say(format_args!("partition {} \"{}\": not started: cpu {cpu} has no VMX: {e}", p.id, p.name));
            stopped()
        }
    }
}

/// Sets partition `p` up on this CPU (`cpu`) and runs it for good.
fn run(cfg: &'static Config, p: &'static Partition, cpu: usize, vmx: Vmx) -> ! {
    let skip = |why: &dyn fmt::Display| -> ! {
        say(format_args!("partition {} \"{}\": not started: {why}", p.id, p.name));
        stopped()
    };
    let id = p.id as usize;
    let rt = RT[id].call_once(|| PartitionRt::with_uart(cfg, p, ioports::io_address(ioports::CONSOLE_PORT), UartKind::Ns16550));
    let io = IO[id].call_once(|| {
        let mut b = IoBitmaps::all_exit();
        ioports::bitmaps_for(p, IO_BUS, &mut b);
        b
    });
    // A device range starting in the 16-bit port space is a port range (the board tree's
    // I/O bus, /isa): no memory-mapped device sits below 64 KiB on a PC. Never in the EPT.
    let is_port = |m: &Mapping| m.kind == Kind::Device && m.guest < ioports::PORTS as u64;
    let ept = match ept::build(&rt.map, is_port, &EPT_TABLES) {
        Ok(e) => e,
        Err(e) => skip(&e),
    };
    let boot = match loader::load(p, &rt.map) {
        Ok(b) => b,
        Err(e) => skip(&format_args!("cannot load image: {e}")),
    };
    // The boot CPU entered VMX operation at first light (a failure there shows up as the
    // VMCS's below).
    if cpu != 0 {
        let vmxon = cpu::vmxon(&vmx, &VMXON[cpu]);
        if vmxon.0.is_err() {
            skip(&format_args!("VMXON {vmxon}"));
        }
    }
    // VPID: the partition's id + 1 (0 is the hypervisor's).
    let vpid = p.id as u16 + 1;
    let irqs = vtx::irq::isa_irqs(p);
    vtx::irq::enable_local_apic(); // it takes them (after INIT, a CPU's APIC refuses them)
    let setup =
        Setup { index: 0, vpid, ept, io, console: rt.uart.is_some(), irqs, vmcs: &VMCS[cpu], vmx, tr: vtx::gdt::load_task_register(cpu) };
    let mut vcpu = match Vcpu::new(&setup, boot.entry, boot.info) {
        Ok(v) => v,
        Err(e) => skip(&e),
    };
    say(format_args!("partition {} \"{}\": starting at {:#x} on cpu {cpu}", p.id, p.name, boot.entry));
    defmt::info!("partition {=u32} starting at {=u64:#x} on cpu {=usize}, vpid {=u16}", p.id, boot.entry, cpu, vcpu.vpid());
    vcpu.run(rt, &BOARD)
}

/// A partition stopped for good (or never started): the last one powers the machine off;
/// this CPU sleeps.
fn stopped() -> ! {
    if RUNNING.fetch_sub(1, Ordering::AcqRel) <= 1 {
        all_stopped();
    }
    cpu::halt_forever()
}

fn all_stopped() -> ! {
    say(format_args!("all partitions stopped"));
    power_off()
}

/// Partition memory, read through the identity map.
struct IdentityRam;

impl HostMemory for IdentityRam {
    fn read(&self, host_addr: u64, buf: &mut [u8]) {
        // SAFETY: the core passes only ranges its memory map proved to be the partition's
        // RAM or shared memory, which the identity map covers (the first 4 GiB).
        let src = unsafe { core::slice::from_raw_parts(host_addr as *const u8, buf.len()) };
        buf.copy_from_slice(src);
    }
}

impl Platform for Board {
    fn console(&self, p: &PartitionRt, bytes: &[u8]) {
        let out = CONSOLE;
        MUX.lock().write(p.id, &p.name, bytes, &mut |b| out.write_bytes(b));
    }

    fn message(&self, args: fmt::Arguments) {
        defmt::info!("{}", defmt::Display2Format(&args));
        say(args);
    }

    /// What the operator typed for partition `p` (hv::console_input: the first partition
    /// with an emulated console has the input; Ctrl-A then an id moves it). With nothing
    /// typed, the partition may be waiting: its prompt (a partial line) is shown.
    fn console_input(&self, p: &PartitionRt, buf: &mut [u8]) -> usize {
        let out = CONSOLE;
        let mut mux = MUX.lock();
        let mut input = INPUT.lock();
        let has_console = |id: u32| RT.get(id as usize).and_then(|r| r.get()).is_some_and(|r| r.uart.is_some());
        while let Some(byte) = out.read_byte() {
            if let Typed::Focus(id) = input.type_byte(byte, &has_console) {
                mux.end_partial(&mut |b| out.write_bytes(b));
                out.write_bytes(b"hv: console input to partition ");
                out.write_bytes(&[b'0' + id as u8, b'\n']);
            }
        }
        let n = input.take(p.id, buf);
        if n == 0 {
            mux.prompt_if_waiting(p.id, &p.name, &mut |b| out.write_bytes(b));
        }
        n
    }

    fn host_memory(&self) -> &dyn HostMemory {
        &IdentityRam
    }

    fn reload(&self, p: &PartitionRt) -> Option<(u64, u64)> {
        let cfg = crate::CONFIG.get()?;
        let part = cfg.partitions.iter().find(|c| c.id == p.id)?;
        match loader::load(part, &p.map) {
            Ok(b) => Some((b.entry, b.info)),
            Err(e) => {
                self.message(format_args!("partition {} \"{}\": reload failed: {e}", p.id, p.name));
                None
            }
        }
    }

    fn park(&self) -> ! {
        stopped()
    }
}
