//! Running the partitions on this board: wiring between the configuration, the armv8 port
//! and the core's run loop. No decisions are made here (those are `hv::run`'s).
//!
//! Boot CPU, after first light: EL2 MMU on, the GIC's distributor set up (every SPI off);
//! for each partition, its run-time state, its virtual GIC, its image and device tree
//! loaded, its stage-2 built; then every CPU goes to
//! [`run_here`]: the CPU that is a partition's `n`-th CPU runs that partition's vCPU `n`
//! once it is started (vCPU 0 at once at the partition's boot entry, setting up its own
//! GIC interface and the partition's SPIs; the others when a sibling calls PSCI CPU_ON,
//! [`armv8::smp`]); a CPU of no partition sleeps (WFI). A vCPU that calls CPU_OFF waits
//! to be started again; a partition is stopped when it powers off, faults with policy
//! `stop`, or turns its last vCPU off, and its other CPUs are kicked so they park too.
//! A restart (SYSTEM_RESET, policy `restart`) kicks the other vCPUs the same way, but they
//! turn off and wait for a CPU_ON; vCPU 0 then starts at the entry. When every partition
//! is stopped, the machine powers off.

use armv8::gic::Version;
use armv8::stage2::{self, Stage2};
use armv8::vcpu::Vcpu;
use armv8::virq::PartitionGic;
use armv8::smp::{self, Group};
use armv8::{cache, cpu, guest_dt, irq, loader, mmu, psci};
use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use hv::config::{Config, Partition, Range, MAX_CPUS, MAX_PARTITIONS};
use hv::hypercall::HostMemory;
use hv::memmap::{Kind, Mapping};
use hv::partition::PartitionRt;
use hv::run::Platform;

use crate::console::{self, with_console};

/// Where partitions find their emulated PL011 (as on QEMU virt).
const GUEST_UART: u64 = armv8::guest_dt::UART_BASE;

/// A partition ready to run.
struct Ready {
    cfg: &'static Partition,
    rt: PartitionRt,
    stage2: Stage2,
    boot: loader::Boot,
    gic: PartitionGic,
}

/// Ready partitions, by partition id (ids are unique and below MAX_PARTITIONS).
static READY: [spin::Once<Ready>; MAX_PARTITIONS] = [const { spin::Once::new() }; MAX_PARTITIONS];
/// The machine is being powered off (said once).
static POWERING_OFF: AtomicBool = AtomicBool::new(false);
/// The physical counter when each partition's vCPU 0 first entered its guest (0: not
/// yet), logged when the partition stops: the boot benchmark (docs/benchmarks.md).
static FIRST_ENTRY: [AtomicU64; MAX_PARTITIONS] = [const { AtomicU64::new(0) }; MAX_PARTITIONS];
/// The GIC version partitions see: the host's (GICv3 if there is no usable GIC).
static GIC_VERSION: spin::Once<Version> = spin::Once::new();

/// This board's side of the run loop.
struct Board;
static BOARD: Board = Board;

/// Starts every partition of `cfg`; `devices` are the device windows the hypervisor
/// itself uses (identity-mapped at EL2), `gic` the interrupt controller. Never returns.
pub fn start(cfg: &'static Config, devices: &[Range], gic: Option<irq::Host>) -> ! {
    let focus = cfg.partitions.iter().find(|p| p.console == hv::config::Console::Emulated).map(|p| p.id);
    console::init(focus, gic.is_some());
    if let Err(e) = mmu::init(&mmu::Layout { ram: &cfg.ram, devices }) {
        BOARD.message(format_args!("EL2 MMU: {e}; powering off"));
        power_off();
    }
    defmt::info!("EL2 MMU and caches on");
    if let Some(host) = gic {
        irq::init(host);
    }
    GIC_VERSION.call_once(|| gic.map_or(Version::V3, |h| h.version));
    let pa_range = armv8::cpu::pa_range_encoding();
    let mut started = 0;
    for p in &cfg.partitions {
        match prepare(cfg, p, pa_range) {
            Ok(ready) => {
                let id = p.id;
                let cpus: heapless::Vec<u64, MAX_CPUS> = p.cpus.iter().map(|&c| u64::from(c)).collect();
                smp::GROUPS[id as usize].register(&cpus, ready.boot.entry, ready.boot.dtb);
                READY[id as usize].call_once(|| ready);
                started += 1;
            }
            Err(e) => BOARD.message(format_args!("partition {} \"{}\": not started: {e}", p.id, p.name)),
        }
    }
    with_console(|c| {
        let _ = writeln!(c.uart, "partitions: started {started}");
    });
    defmt::info!("partitions: started {=u32}", started);
    if started == 0 {
        all_stopped();
    }
    let (now, hz) = cpu::counter();
    defmt::info!("partitions ready at counter {=u64} ({=u64} Hz)", now, hz);
    cpu::release_secondaries(secondary_main);
    run_here()
}

/// Why a partition could not be made ready.
enum NotReady {
    Load(loader::LoadError),
    Stage2(stage2::Stage2Error),
    Gic(armv8::vgic::ConfigError),
    NoCpu,
}

impl fmt::Display for NotReady {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotReady::Load(e) => write!(f, "{e}"),
            NotReady::Stage2(e) => write!(f, "{e}"),
            NotReady::Gic(e) => write!(f, "virtual GIC: {e:?}"),
            NotReady::NoCpu => f.write_str("no CPU"),
        }
    }
}

fn prepare(cfg: &'static Config, p: &'static Partition, pa_range: u64) -> Result<Ready, NotReady> {
    if p.cpus.is_empty() {
        return Err(NotReady::NoCpu);
    }
    let rt = PartitionRt::new(cfg, p, GUEST_UART);
    let version = gic_version();
    let cpus: heapless::Vec<u64, MAX_CPUS> = p.cpus.iter().map(|&c| u64::from(c)).collect();
    let irqs = p.devices.iter().flat_map(|d| d.irqs.iter().copied());
    let irqs: heapless::Vec<u32, { armv8::vgic::MAX_SPIS }> = irqs.take(armv8::vgic::MAX_SPIS).collect();
    // The emulated console's interrupt: the model's alone (virtual-only, driven by the
    // emulated UART's line through `hv::exit::Vcpu::device_irq` and console::interrupt).
    let console_spi = [guest_dt::UART_INTID];
    let virt = if rt.uart.is_some() { &console_spi[..] } else { &[] };
    let gic = PartitionGic::with_virtual(version, &cpus, &irqs, virt).map_err(NotReady::Gic)?;
    let boot = loader::load(p, &rt.map, rt.uart.is_some(), version).map_err(NotReady::Load)?;
    // GICv2: the guest's CPU interface is the hardware's virtual one (GICV).
    let gicv = irq::host().filter(|h| h.version == Version::V2).map(|h| Mapping {
        guest: guest_dt::GICC_BASE,
        host: h.gicv,
        size: guest_dt::GICC_SIZE,
        kind: Kind::Device,
    });
    let stage2 = stage2::build(p.id, &rt.map, gicv.as_slice(), pa_range).map_err(NotReady::Stage2)?;
    Ok(Ready { cfg: p, rt, stage2, boot, gic })
}

fn gic_version() -> Version {
    GIC_VERSION.get().copied().unwrap_or(Version::V3)
}

/// Where released secondary CPUs go (MMU still off).
fn secondary_main(_index: u64) -> ! {
    mmu::enable();
    run_here()
}

/// The partition this CPU serves, its vCPUs' power states and this CPU's vCPU index.
fn mine() -> Option<(&'static Ready, &'static Group, usize)> {
    let me = cpu::mpidr();
    READY.iter().filter_map(|r| r.get()).find_map(|r| {
        let group = &smp::GROUPS[r.cfg.id as usize];
        group.index_of(me).map(|index| (r, group, index))
    })
}

/// Runs the vCPU of the partition this CPU belongs to once it is started, or sleeps.
fn run_here() -> ! {
    let Some((ready, group, index)) = mine() else { sleep() };
    let start = smp::wait_for_on(group, index);
    let count = ready.cfg.cpus.len() as u32;
    let mut vcpu = Vcpu::new(ready.stage2, index as u32, count, start.entry, start.context, &ready.gic);
    if let Some(offset) = start.cntvoff {
        smp::set_cntvoff(offset); // the partition's one virtual counter
    }
    if index == 0 {
        // This CPU's GIC interface is set up: it may now take the console's input.
        console::route_input();
        let _ = FIRST_ENTRY[ready.cfg.id as usize].compare_exchange(0, cpu::counter().0, Ordering::Relaxed, Ordering::Relaxed);
    }
    vcpu.run(&ready.rt, &BOARD)
}

/// [`run_here`] on a fresh stack: a vCPU turned off waits there to be started again.
extern "C" fn rerun_here() -> ! {
    run_here()
}

/// This CPU has nothing to do, for good.
fn sleep() -> ! {
    loop {
        // SAFETY: waiting for an interrupt has no other effect.
        unsafe { core::arch::asm!("wfi", options(nomem, nostack)) };
    }
}

fn all_stopped() -> ! {
    BOARD.message(format_args!("all partitions stopped"));
    power_off()
}

fn power_off() -> ! {
    with_console(|c| c.uart.flush());
    psci::system_off()
}

/// Partition memory, read through the identity map.
struct IdentityRam;

impl HostMemory for IdentityRam {
    fn read(&self, host_addr: u64, buf: &mut [u8]) {
        // The guest may have written it with its MMU off (straight to memory).
        cache::clean(host_addr, buf.len() as u64);
        // SAFETY: the core passes only ranges its memory map proved to be the partition's
        // RAM or shared memory, which the EL2 map covers (all of RAM).
        let src = unsafe { core::slice::from_raw_parts(host_addr as *const u8, buf.len()) };
        buf.copy_from_slice(src);
    }
}

/// Partition `id`, if it is running: its run-time state and virtual GIC.
pub fn running(id: u32) -> Option<(&'static PartitionRt, &'static PartitionGic)> {
    let r = READY.get(id as usize)?.get()?;
    (!r.rt.is_stopped()).then_some((&r.rt, &r.gic))
}

/// The partition this CPU runs a vCPU of.
pub fn here() -> Option<&'static PartitionRt> {
    mine().map(|(r, _, _)| &r.rt)
}

/// Partition `id` exists and has an emulated console.
pub fn has_console(id: u32) -> bool {
    READY.get(id as usize).and_then(|r| r.get()).is_some_and(|r| r.rt.uart.is_some())
}

/// The CPU that takes the console's receive interrupt: vCPU 0's of partition `focus` if it
/// runs, else of the first running partition with an emulated console; `None` if none.
pub fn input_cpu(focus: Option<u32>) -> Option<u64> {
    let serves = |id: u32| running(id).filter(|(rt, _)| rt.uart.is_some()).and_then(|_| smp::GROUPS[id as usize].cpu(0));
    focus.and_then(serves).or_else(|| (0..MAX_PARTITIONS as u32).find_map(serves))
}

/// The board's side of the run loop, for the console's interrupt handler.
pub fn platform() -> &'static dyn Platform {
    &BOARD
}

impl Platform for Board {
    fn console(&self, p: &PartitionRt, bytes: &[u8]) {
        console::write(p, bytes);
    }

    fn message(&self, args: fmt::Arguments) {
        defmt::info!("{}", defmt::Display2Format(&args));
        console::message(args);
    }

    fn console_input(&self, p: &PartitionRt, buf: &mut [u8]) -> usize {
        console::input(p, buf)
    }

    fn host_memory(&self) -> &dyn HostMemory {
        &IdentityRam
    }

    /// The core has stopped the partition's other vCPUs first (`stop_other_vcpus`). Its
    /// unfinished console line ends here: the new run starts a line of its own.
    fn reload(&self, p: &PartitionRt) -> Option<(u64, u64)> {
        console::end_line(p);
        let ready = READY.get(p.id as usize)?.get()?;
        match loader::load(ready.cfg, &p.map, p.uart.is_some(), gic_version()) {
            Ok(b) => Some((b.entry, b.dtb)),
            Err(e) => {
                self.message(format_args!("partition {} \"{}\": reload failed: {e}", p.id, p.name));
                None
            }
        }
    }

    /// A restart: the other vCPUs are kicked out of their guests and turn off in
    /// [`Board::park`] (`armv8::smp::Group::halt_others`).
    fn stop_other_vcpus(&self, p: &PartitionRt, me: usize) {
        smp::GROUPS[p.id as usize].halt_others(me, irq::kick);
    }

    /// This vCPU turns off first: vCPU 0 then starts as the only one on (as at boot, on a
    /// fresh virtual counter), which resets the whole virtual GIC (`VcpuIrqs::reset`).
    fn hand_over_to_boot_vcpu(&self, p: &PartitionRt, entry: u64, arg: u64) -> ! {
        let Some((ready, group, index)) = mine() else { sleep() };
        irq::quiesce(if index == 0 { ready.gic.spis() } else { &[] });
        group.off(index);
        let _ = smp::GROUPS[p.id as usize].request(0, smp::Start { entry, context: arg, cntvoff: None });
        smp::restart_on_fresh_stack(rerun_here)
    }

    /// Three cases: the partition is running (this vCPU called PSCI CPU_OFF), restarting
    /// (another of its vCPUs restarts it), or stopped. In the first two the vCPU turns off
    /// and its CPU waits for a CPU_ON.
    fn park(&self) -> ! {
        let Some((ready, group, index)) = mine() else { sleep() };
        let rt = &ready.rt;
        let spis = if index == 0 { ready.gic.spis() } else { &[] };
        if !rt.is_stopped() || rt.is_restarting() {
            // Nothing of this run may reach the CPU while its vCPU is off.
            irq::quiesce(spis);
            // The vCPU is off; the partition too if it was the last one (never in a
            // restart: the restarting vCPU is on).
            if !group.off(index) {
                smp::restart_on_fresh_stack(rerun_here);
            }
            self.message(format_args!("partition {} \"{}\": all vCPUs off; stopped", rt.id, rt.name));
            rt.stop();
        }
        // Console input goes on to another partition's CPU, for Ctrl-A.
        console::route_input();
        group.off(index);
        let entered = FIRST_ENTRY[rt.id as usize].swap(0, Ordering::Relaxed);
        if entered != 0 {
            // Read before the entry: the guest's first instruction is a few dozen later.
            let hz = cpu::counter().1;
            defmt::info!("partition {=u32} \"{=str}\": first guest instruction at counter {=u64} ({=u64} Hz)", rt.id, rt.name.as_str(), entered, hz);
        }
        // Nothing of the stopped partition may wake this CPU again; its other vCPUs are
        // told to park too.
        irq::quiesce(spis);
        group.others_on(index).for_each(irq::kick);
        let all = READY.iter().filter_map(|r| r.get()).all(|r| r.rt.is_stopped() && !r.rt.is_restarting());
        if all && !POWERING_OFF.swap(true, Ordering::AcqRel) {
            all_stopped();
        }
        sleep()
    }
}
