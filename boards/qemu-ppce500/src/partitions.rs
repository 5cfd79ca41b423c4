//! Partitions side by side, one per core: which core runs what, releasing core 1, and
//! stopping (the last partition to stop powers the machine off).

use core::fmt::{Display, Write};
use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use hv::partition::PartitionRt;
use hv::vdev::UartKind;
use ppc_booke::guest::{Guest, Setup};
use ppc_booke::percpu::MAX_CPUS;
use ppc_booke::poweroff::PowerOffGpio;

use crate::{clocks, console, power_off, Board, CCSR_MAPPING, CCSR_PA, CONFIG, MAPPED_RAM_END, PARTITION_GPIO, PARTITION_UART, RAM_HIGH, RAM_LOW, SELFTEST_TLB1_ENTRY};

/// Which partition each core runs (set by the boot core before it releases any other).
static PLAN: spin::Once<ppc_booke::smp::Assignment> = spin::Once::new();
/// Partitions started and not yet stopped: the core whose partition stops last powers
/// the machine off.
static RUNNING: AtomicUsize = AtomicUsize::new(0);
/// Bit N: core N runs hypervisor code (set by each secondary core once it is up).
static ONLINE: AtomicU32 = AtomicU32::new(1);
/// Line buffers of the partitions' consoles. Its lock also serialises every write to the
/// physical console, from any core: lines never interleave mid-line.
pub(crate) static MUX: spin::Mutex<hv::console::ConsoleMux> = spin::Mutex::new(hv::console::ConsoleMux::new());

/// Bytes of each secondary core's hypervisor stack (it runs one vCPU: the `Guest` with its
/// TLB model, the partition's run-time state and the run loop).
const SECONDARY_STACK: usize = 64 * 1024;
#[repr(C, align(16))]
struct Stack([u8; SECONDARY_STACK]);
static mut STACKS: [Stack; MAX_CPUS - 1] = [const { Stack([0; SECONDARY_STACK]) }; MAX_CPUS - 1];
/// Where the spin table page is mapped while a core is released (a free 4 KiB of the
/// CCSR window's neighbourhood, supervisor-only).
const SPIN_TABLE_VA: u32 = 0xe010_0000;
/// How long a released core has to report in (timebase ticks: 1 s at 400 MHz) ...
const START_TIMEOUT_TICKS: u64 = 400_000_000;
/// ... and how often the boot core looks (1 ms).
const START_POLL_TICKS: u64 = 400_000;

/// The console multiplexer, locked (one place that spins for the lock).
#[inline(never)]
pub(crate) fn mux() -> spin::MutexGuard<'static, hv::console::ConsoleMux> {
    MUX.lock()
}

/// A line from the hypervisor, after any prompt shown on the console (under the lock).
pub(crate) fn say(args: core::fmt::Arguments) {
    let mut out = console();
    let mut mux = mux();
    mux.end_partial(&mut |b| out.write_bytes(b));
    let _ = writeln!(out, "hv: {args}");
}

/// The boot core, after first light: decides which partition runs where, releases the
/// cores that have one, and runs its own.
pub(crate) fn start_partitions(cfg: &'static hv::config::Config, tree: Option<&fdt::Fdt>) -> ! {
    let skipped = |i: usize, why: &dyn Display| {
        let p = &cfg.partitions[i];
        say(format_args!("partition {} \"{}\": {why}; skipped", p.id, p.name));
    };
    let mut errors: [Option<ppc_booke::smp::StartError>; hv::config::MAX_PARTITIONS] = [None; hv::config::MAX_PARTITIONS];
    let plan = ppc_booke::smp::assign(cfg.partitions.iter().map(|p| &p.cpus[..]), |i, r| {
        if let (Err(e), Some(slot)) = (r, errors.get_mut(i)) {
            *slot = Some(e);
        }
    });
    let plan = *PLAN.call_once(|| plan);
    for (i, e) in errors.iter().enumerate() {
        if let Some(e) = e {
            skipped(i, e);
        }
    }
    // Counted before any core starts, so that no early stop can power off too soon.
    RUNNING.store(plan.by_cpu.iter().flatten().count(), Ordering::Release);
    for cpu in 1..MAX_CPUS {
        let Some(i) = plan.by_cpu[cpu] else { continue };
        if let Err(e) = start_cpu(cpu, tree) {
            skipped(usize::from(i), &e);
            stopped();
        }
    }
    run_cpu(0)
}

/// Releases core `cpu` through its spin table and waits until it reports in.
fn start_cpu(cpu: usize, tree: Option<&fdt::Fdt>) -> Result<(), ppc_booke::smp::StartError> {
    use ppc_booke::smp::StartError;
    let id = cpu as u32;
    let table = tree.map_or(Err(StartError::NoSpinTable { cpu: id }), |t| ppc_booke::smp::release_addr(t, id))?;
    // The stack and the per-CPU area are the core's alone from here on.
    let stack = core::ptr::addr_of_mut!(STACKS).cast::<Stack>().wrapping_add(cpu - 1);
    let top = stack.wrapping_add(1) as usize as u32;
    // SAFETY: core `cpu` has not run yet; its stack is used by nobody else.
    let r3 = unsafe { ppc_booke::percpu::prepare_secondary(cpu, top) }.ok_or(StartError::Unsupported { cpu: id })?;
    extern "C" {
        fn bh_secondary_start();
    }
    // SAFETY: bh_secondary_start is the secondary entry (ppc_booke::entry!), which expects
    // its per-CPU area in r3; TLB1 entry SELFTEST_TLB1_ENTRY is free (no guest runs yet).
    unsafe { ppc_booke::smp::release(table, bh_secondary_start as *const () as usize as u32, r3, SELFTEST_TLB1_ENTRY, SPIN_TABLE_VA) };
    // Doze between looks rather than spin: QEMU's single-threaded TCG runs the other core
    // only when this one halts or its 100 ms time slice ends.
    let deadline = ppc_booke::timer::now().saturating_add(START_TIMEOUT_TICKS);
    let result = loop {
        if ONLINE.load(Ordering::Acquire) & (1 << cpu) != 0 {
            break Ok(());
        }
        let now = ppc_booke::timer::now();
        if now >= deadline {
            break Err(StartError::NoResponse { cpu: id });
        }
        ppc_booke::timer::program(Some(now.saturating_add(START_POLL_TICKS).min(deadline)));
        ppc_booke::idle::doze();
        ppc_booke::timer::acknowledge();
    };
    ppc_booke::timer::program(None);
    result
}

/// A secondary core, released by [`start_cpu`]: its own mappings of RAM, then its partition.
pub(crate) fn secondary(cpu: u32) -> ! {
    // QEMU started this core on TLB1 entry 1 (64 MiB one-to-one from 0, no IPROT), the
    // entry CCSR_MAPPING uses. RAM_LOW (entry 0) first maps the same addresses the same way
    // (the two overlap with one translation until the next write), then CCSR_MAPPING
    // replaces entry 1.
    // SAFETY: RAM_LOW keeps the translation of the code, stack and data in use; CCSR is
    // mapped as on the boot core; RAM_HIGH maps RAM nobody uses through it yet on this
    // core. All are address space 0, supervisor-only.
    unsafe {
        ppc_booke::tlb::write(&RAM_LOW);
        ppc_booke::tlb::write(&CCSR_MAPPING);
        ppc_booke::tlb::write(&RAM_HIGH);
    }
    ONLINE.fetch_or(1 << cpu, Ordering::AcqRel);
    run_cpu(cpu as usize)
}

/// Runs the partition assigned to this core, or sleeps if it has none.
fn run_cpu(cpu: usize) -> ! {
    let Some(cfg) = CONFIG.get() else { power_off() };
    match PLAN.get().and_then(|plan| plan.by_cpu.get(cpu).copied().flatten()) {
        Some(i) => run_partition(&cfg.partitions[usize::from(i)]),
        None => sleep_forever(),
    }
}

/// A partition stopped for good: the last one powers the machine off.
pub(crate) fn stopped() {
    if RUNNING.fetch_sub(1, Ordering::AcqRel) == 1 {
        say(format_args!("all partitions stopped"));
        defmt::info!("all partitions stopped");
        power_off()
    }
}

/// A core with nothing to run: dozes, with its decrementer off, until the machine stops.
pub(crate) fn sleep_forever() -> ! {
    ppc_booke::timer::program(None);
    ppc_booke::timer::acknowledge();
    loop {
        // Only an interrupt wakes it, and none is enabled for this core: each wake-up is
        // spurious and it dozes again (never a busy loop).
        ppc_booke::idle::doze();
    }
}

fn run_partition(p: &'static hv::config::Partition) -> ! {
    let Some(cfg) = CONFIG.get() else { power_off() };
    let rt = PartitionRt::with_uart(cfg, p, PARTITION_UART, UartKind::Ns16550);
    let skip = |why: &dyn Display| -> ! {
        say(format_args!("partition {} \"{}\": {why}; skipped", p.id, p.name));
        stopped();
        sleep_forever()
    };
    // The MPIC is every partition's own model: its registers are never passed through.
    let mpic = ppc_booke::vmpic::CCSR_OFFSET + CCSR_PA;
    if let Some(d) = p.devices.iter().find(|d| d.mmio.iter().any(|r| r.base < mpic + ppc_booke::vmpic::WINDOW && mpic < r.base.saturating_add(r.size))) {
        skip(&format_args!("device {} is the interrupt controller, which partitions cannot own", d.path));
    }
    if let Some(m) = rt.map.mappings().iter().find(|m| m.host.saturating_add(m.size) > MAPPED_RAM_END && m.kind != hv::memmap::Kind::Device) {
        skip(&format_args!("memory at {:#x} beyond what the hypervisor maps", m.host));
    }
    // SAFETY: RAM_LOW/RAM_HIGH map the staged image and the partition's RAM one-to-one on
    // this core, and no guest of this partition runs; no other core touches its memory.
    let boot = match unsafe { ppc_booke::loader::load(p, &rt.map, rt.uart.is_some(), clocks()) } {
        Ok(boot) => boot,
        Err(e) => skip(&format_args!("cannot load image: {e}")),
    };
    let entry = boot.entry;
    let cpu = ppc_booke::percpu::this_cpu();
    say(format_args!("partition {} \"{}\": starting at {entry:#x} on cpu {cpu}", p.id, p.name));
    defmt::info!("partition {=u32} starting at {=u64:#x} on cpu {=u32}", p.id, entry, cpu);
    let setup = Setup {
        pir: 0,
        power_off: PowerOffGpio { base: PARTITION_GPIO },
        ccsr_base: CCSR_PA,
        ccsr_va: crate::CCSR_VA,
    };
    let mut vcpu = Guest::new(&rt.map, setup, entry, boot.dtb);
    vcpu.assign_sources(&p.devices);
    hv::run::run_vcpu(&mut vcpu, &rt, &Board)
}

