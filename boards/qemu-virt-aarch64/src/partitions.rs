//! Running the partitions on this board: wiring between the configuration, the armv8 port
//! and the core's run loop. No decisions are made here (those are `hv::run`'s).
//!
//! Boot CPU, after first light: EL2 MMU on, the GIC's distributor set up (every SPI off);
//! for each partition, its run-time state, its virtual GIC, its image and device tree
//! loaded, its stage-2 built; then every CPU goes to
//! [`run_here`]: the CPU that is a partition's first CPU runs that partition's vCPU 0
//! for good (setting up its own GIC interface and the partition's SPIs), any other CPU
//! sleeps (WFI). When the last partition CPU parks, the machine powers off.

use armv8::gic::Version;
use armv8::stage2::{self, Stage2};
use armv8::uart::Pl011;
use armv8::vcpu::Vcpu;
use armv8::virq::PartitionGic;
use armv8::{cache, cpu, guest_dt, irq, loader, mmu, psci};
use core::fmt::{self, Write};
use core::sync::atomic::{AtomicU32, Ordering};
use hv::config::{Config, Partition, Range, MAX_CPUS, MAX_PARTITIONS};
use hv::console::ConsoleMux;
use hv::hypercall::HostMemory;
use hv::memmap::{Kind, Mapping};
use hv::partition::PartitionRt;
use hv::run::Platform;

use crate::UART_BASE;

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
/// The configuration, for CPUs started later.
static CONFIG: spin::Once<&'static Config> = spin::Once::new();
/// CPUs running a partition and not parked yet.
static RUNNING: AtomicU32 = AtomicU32::new(0);
/// The GIC version partitions see: the host's (GICv3 if there is no usable GIC).
static GIC_VERSION: spin::Once<Version> = spin::Once::new();

/// The physical console: partition lines through the mux, hypervisor lines, one lock.
struct Console {
    mux: ConsoleMux,
    uart: Pl011,
}

/// Set by [`start`] before any partition runs.
static CONSOLE: spin::Mutex<Option<Console>> = spin::Mutex::new(None);

/// Runs `f` on the console (nothing before [`start`] set it up).
fn with_console(f: impl FnOnce(&mut Console)) {
    if let Some(c) = CONSOLE.lock().as_mut() {
        f(c);
    }
}

/// This board's side of the run loop.
struct Board;
static BOARD: Board = Board;

/// Starts every partition of `cfg`; `devices` are the device windows the hypervisor
/// itself uses (identity-mapped at EL2), `gic` the interrupt controller. Never returns.
pub fn start(cfg: &'static Config, devices: &[Range], gic: Option<irq::Host>) -> ! {
    CONFIG.call_once(|| cfg);
    // SAFETY: UART_BASE is QEMU virt's PL011: a device at its physical address, with the
    // MMU off now and identity-mapped as a device once it is on.
    *CONSOLE.lock() = Some(Console { mux: ConsoleMux::new(), uart: unsafe { Pl011::new(UART_BASE) } });
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
                READY[id as usize].call_once(|| ready);
                started += 1;
            }
            Err(e) => BOARD.message(format_args!("partition {} \"{}\": not started: {e}", p.id, p.name)),
        }
    }
    RUNNING.store(started, Ordering::Release);
    with_console(|c| {
        let _ = writeln!(c.uart, "partitions: started {started}");
    });
    defmt::info!("partitions: started {=u32}", started);
    if started == 0 {
        all_stopped();
    }
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
    let gic = PartitionGic::new(version, &cpus, &irqs).map_err(NotReady::Gic)?;
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

/// Runs the partition whose first CPU this is, or sleeps.
fn run_here() -> ! {
    let me = cpu::mpidr();
    let Some(cfg) = CONFIG.get() else { sleep() };
    let Some(p) = cfg.partitions.iter().find(|p| p.cpus.first().is_some_and(|&c| u64::from(c) == me)) else {
        // Not a partition's first CPU: other vCPUs wait for PSCI CPU_ON (not yet offered).
        sleep()
    };
    let Some(ready) = READY[p.id as usize].get() else { sleep() };
    let mut vcpu = Vcpu::new(ready.stage2, 0, p.cpus.len() as u32, ready.boot.entry, ready.boot.dtb, &ready.gic);
    hv::run::run_vcpu(&mut vcpu, &ready.rt, &BOARD)
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

impl Platform for Board {
    fn console(&self, p: &PartitionRt, bytes: &[u8]) {
        with_console(|c| {
            let Console { mux, uart } = c;
            mux.write(p.id, &p.name, bytes, &mut |out| {
                for &b in out {
                    if b == b'\n' {
                        uart.put(b'\r');
                    }
                    uart.put(b);
                }
            });
        });
    }

    fn message(&self, args: fmt::Arguments) {
        defmt::info!("{}", defmt::Display2Format(&args));
        with_console(|c| {
            let _ = writeln!(c.uart, "hv: {args}");
        });
    }

    fn host_memory(&self) -> &dyn HostMemory {
        &IdentityRam
    }

    fn reload(&self, p: &PartitionRt) -> Option<(u64, u64)> {
        let ready = READY.get(p.id as usize)?.get()?;
        match loader::load(ready.cfg, &p.map, p.uart.is_some(), gic_version()) {
            Ok(b) => Some((b.entry, b.dtb)),
            Err(e) => {
                self.message(format_args!("partition {} \"{}\": reload failed: {e}", p.id, p.name));
                None
            }
        }
    }

    fn park(&self) -> ! {
        // Nothing of the stopped partition may wake this CPU again.
        let me = cpu::mpidr();
        let mine = READY.iter().filter_map(|r| r.get()).find(|r| r.cfg.cpus.first().is_some_and(|&c| u64::from(c) == me));
        irq::quiesce(mine.map_or(&[], |r| r.gic.spis()));
        if RUNNING.fetch_sub(1, Ordering::AcqRel) == 1 {
            all_stopped();
        }
        sleep()
    }
}
