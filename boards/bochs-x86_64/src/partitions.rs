//! Running the partitions on this board: wiring between the configuration, the vtx port and
//! the core's decisions (`hv::run::exit`, called from the port's exit path). No decisions
//! are made here.
//!
//! The CPU that is a partition's `n`-th CPU runs its vCPU `n` (pinned), in VMX operation
//! with its own VMXON region and VMCS. The partition's first CPU sets up its run-time
//! state, EPT, I/O bitmaps and image, once, then starts vCPU 0 at the boot entry; the
//! others wait, halted, for a STARTUP IPI from the guest (`vtx::smp`). `Vcpu::run` never
//! returns. A CPU no partition names sleeps. A partition is stopped when it powers off or
//! faults with policy `stop`: its other vCPUs are forced out of their guests (an NMI) and
//! park too; once all are off it counts stopped, and the last partition to stop powers
//! the machine off. A restart (policy `restart`) forces the other vCPUs out the same way,
//! but they turn off and wait for a STARTUP again; vCPU 0 then starts at the entry.

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
use vtx::ept::{self, Ept, Pool};
use vtx::smp::{self, Group, Start, GROUPS};
use vtx::ioports::{self, IoBitmaps};
use vtx::vcpu::{Setup, Vcpu};
use vtx::vmx::Region;
use vtx::{cpu, loader};

use crate::{power_off, CONSOLE, IO_BUS};

/// Each partition's run-time state, I/O bitmaps and EPT, by partition id: built once, on
/// its first CPU.
static RT: [spin::Once<PartitionRt>; MAX_PARTITIONS] = [const { spin::Once::new() }; MAX_PARTITIONS];
static IO: [spin::Once<IoBitmaps>; MAX_PARTITIONS] = [const { spin::Once::new() }; MAX_PARTITIONS];
static EPT: [spin::Once<Ept>; MAX_PARTITIONS] = [const { spin::Once::new() }; MAX_PARTITIONS];
/// The partition's last vCPU parked: counted stopped (once).
static COUNTED: [AtomicBool; MAX_PARTITIONS] = [const { AtomicBool::new(false) }; MAX_PARTITIONS];
/// Each CPU's VMX facts, from its own probe.
static VMX: [spin::Once<Vmx>; MAX_CPUS] = [const { spin::Once::new() }; MAX_CPUS];
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

/// After first light, on the boot CPU: starts every CPU a partition names (one at a time,
/// before any partition is loaded), then runs the boot CPU's own vCPU, if any.
pub fn start(cfg: &'static Config, vmx: Vmx) -> ! {
    let runnable = |p: &Partition| !p.cpus.is_empty() && p.cpus.iter().all(|&c| (c as usize) < MAX_CPUS);
    RUNNING.store(cfg.partitions.iter().filter(|p| runnable(p)).count(), Ordering::Release);
    let mut started = 0;
    for p in cfg.partitions.iter().filter(|p| runnable(p)) {
        // Its devices' interrupts to its first CPU (each line is one partition's: the
        // configuration checks that), before any partition runs.
        let irqs = vtx::irq::isa_irqs(p);
        for irq in (0..16).filter(|i| irqs & 1 << i != 0) {
            // SAFETY: the board's I/O APIC, used by no other CPU yet (none runs a partition).
            unsafe { vtx::irq::route(crate::IOAPIC, irq, p.cpus[0]) };
        }
        match p.cpus.iter().filter(|&&c| c != 0).try_for_each(|&c| smp::start(c, secondary)) {
            Ok(()) => {
                GROUPS[p.id as usize].register(&p.cpus);
                started += 1;
            }
            Err(e) => {
                say(format_args!("partition {} \"{}\": not started: {e}", p.id, p.name));
                RUNNING.fetch_sub(1, Ordering::AcqRel);
            }
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

/// The partition CPU `cpu` (APIC id) serves, its vCPUs and this CPU's vCPU index.
fn mine(cfg: &'static Config, cpu: u32) -> Option<(&'static Partition, &'static Group, usize)> {
    cfg.partitions.iter().find_map(|p| {
        let group = &GROUPS[p.id as usize];
        group.index_of(cpu).map(|index| (p, group, index))
    })
}

/// Enters VMX operation on this CPU (`cpu`) for the partition it serves; on its first
/// CPU, sets the partition up and starts vCPU 0. `vmx`: the boot CPU's probe (a
/// secondary CPU probes its own).
fn go(cfg: &'static Config, cpu: usize, vmx: Option<Vmx>) -> ! {
    let Some((p, group, index)) = mine(cfg, cpu as u32) else { cpu::halt_forever() };
    let not_started = |why: &dyn fmt::Display| -> ! {
        say(format_args!("partition {} \"{}\": not started: {why}", p.id, p.name));
        if index == 0 {
            stopped()
        }
        cpu::halt_forever() // a secondary: its STARTUP never takes
    };
    let vmx = match vmx.map_or_else(|| cpu::probe().vmx, Ok) {
        Ok(v) => *VMX[cpu].call_once(|| v),
        Err(e) => not_started(&format_args!("cpu {cpu} has no VMX: {e}")),
    };
    // The boot CPU entered VMX operation at first light (a failure there shows up as the
    // VMCS's below).
    if cpu != 0 {
        let vmxon = cpu::vmxon(&vmx, &VMXON[cpu]);
        if vmxon.0.is_err() {
            not_started(&format_args!("VMXON {vmxon}"));
        }
    }
    vtx::irq::enable_local_apic(); // it takes interrupts and kicks (after INIT, a CPU's APIC refuses them)
    if index == 0 {
        match prepare(cfg, p) {
            Ok(boot) => {
                group.request(0, Start::Boot { entry: boot.entry, info: boot.info });
            }
            Err(e) => not_started(&e),
        }
    }
    run_here()
}

/// Partition `p`'s run-time state, I/O bitmaps, EPT and image, on its first CPU.
fn prepare(cfg: &'static Config, p: &'static Partition) -> Result<loader::Boot, NotReady> {
    let id = p.id as usize;
    let rt = RT[id].call_once(|| PartitionRt::with_uart(cfg, p, ioports::io_address(ioports::CONSOLE_PORT), UartKind::Ns16550));
    IO[id].call_once(|| {
        let mut b = IoBitmaps::all_exit();
        ioports::bitmaps_for(p, IO_BUS, &mut b);
        b
    });
    // A device range starting in the 16-bit port space is a port range (the board tree's
    // I/O bus, /isa): no memory-mapped device sits below 64 KiB on a PC. Never in the EPT.
    let is_port = |m: &Mapping| m.kind == Kind::Device && m.guest < ioports::PORTS as u64;
    let ept = ept::build(&rt.map, is_port, &EPT_TABLES).map_err(NotReady::Ept)?;
    EPT[id].call_once(|| ept);
    loader::load(p, &rt.map).map_err(NotReady::Load)
}

/// Why a partition could not be set up.
enum NotReady {
    Ept(ept::EptError),
    Load(loader::LoadError),
}

impl fmt::Display for NotReady {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotReady::Ept(e) => write!(f, "{e}"),
            NotReady::Load(e) => write!(f, "cannot load image: {e}"),
        }
    }
}

/// Runs this CPU's vCPU once it is started (vCPU 0 by [`go`], the others by a STARTUP
/// IPI), waiting halted until then; on a fresh stack after a restart turned it off.
extern "C" fn run_here() -> ! {
    let cpu = vtx::irq::apic_id();
    let Some(cfg) = crate::CONFIG.get() else { cpu::halt_forever() };
    let Some((p, group, index)) = mine(cfg, cpu) else { cpu::halt_forever() };
    let start = smp::wait_for_start(group, index);
    let id = p.id as usize;
    let (Some(rt), Some(io), Some(&ept), Some(&vmx)) = (RT[id].get(), IO[id].get(), EPT[id].get(), VMX[cpu as usize].get()) else {
        cpu::halt_forever() // set up before vCPU 0 started: never
    };
    // VPID: the partition's id + 1 (0 is the hypervisor's), on each of its CPUs.
    let vpid = p.id as u16 + 1;
    let irqs = if index == 0 { vtx::irq::isa_irqs(p) } else { 0 }; // routed to vCPU 0's CPU
    let setup = Setup {
        index: index as u32,
        vpid,
        ept,
        io,
        console: rt.uart.is_some(),
        irqs,
        vmcs: &VMCS[cpu as usize],
        vmx,
        tr: vtx::gdt::load_task_register(cpu as usize),
        group,
    };
    let mut vcpu = match Vcpu::new(&setup, start) {
        Ok(v) => v,
        Err(e) => {
            say(format_args!("partition {} \"{}\": vCPU {index} not started: {e}", p.id, p.name));
            BOARD.park()
        }
    };
    if let Start::Boot { entry, .. } = start {
        say(format_args!("partition {} \"{}\": starting at {:#x} on cpu {cpu}", p.id, p.name, entry));
    }
    defmt::info!("partition {=u32} vCPU {=usize} starting on cpu {=u32}, vpid {=u16}", p.id, index, cpu, vcpu.vpid());
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

    /// A restart: the other vCPUs are forced out of their guests and turn off in
    /// [`Board::park`] (`vtx::smp::Group::halt_others`).
    fn stop_other_vcpus(&self, p: &PartitionRt, me: usize) {
        GROUPS[p.id as usize].halt_others(me, vtx::irq::force_exit);
    }

    /// This vCPU turns off first; vCPU 0 then starts at the entry, as at boot.
    fn hand_over_to_boot_vcpu(&self, p: &PartitionRt, entry: u64, arg: u64) -> ! {
        let cpu = vtx::irq::apic_id();
        let group = &GROUPS[p.id as usize];
        if let Some(index) = group.index_of(cpu) {
            group.off(index);
        }
        group.request(0, Start::Boot { entry, info: arg });
        group.cpu(0).into_iter().for_each(vtx::irq::kick);
        smp::restart_on_fresh_stack(cpu, run_here)
    }

    /// Two cases: another vCPU restarts the partition (this one turns off and waits for a
    /// start), or the partition is stopped (this one turns off, forces the others out of
    /// their guests and waits until they are off too; then the partition counts stopped,
    /// once).
    fn park(&self) -> ! {
        let cpu = vtx::irq::apic_id();
        let Some((p, group, index)) = crate::CONFIG.get().and_then(|cfg| mine(cfg, cpu)) else { cpu::halt_forever() };
        let Some(rt) = RT[p.id as usize].get() else { cpu::halt_forever() };
        if rt.is_restarting() {
            group.off(index);
            smp::restart_on_fresh_stack(cpu, run_here);
        }
        rt.stop(); // no vCPU turns off while its partition runs: none can, on x86
        group.off(index);
        group.halt_others(index, vtx::irq::force_exit); // they are off before it counts
        if !COUNTED[p.id as usize].swap(true, Ordering::AcqRel) {
            stopped();
        }
        cpu::halt_forever()
    }
}
