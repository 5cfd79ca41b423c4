//! bulkhead on QEMU's `ppce500` machine (e500v2): board facts and first-light wiring.
//!
//! Run it (the exact command the runner uses):
//!
//! ```text
//! mkdir -p /tmp/x
//! qemu-system-ppc -M ppce500 -cpu e500v2 -smp 2 -m 512M -nographic \
//!     -serial mon:stdio -serial file:/tmp/x/defmt.bin \
//!     -kernel bulkhead-qemu-ppce500
//! ```
//!
//! - The first `-serial` (CCSR+0x4500) is the console; with `-nographic` an explicit
//!   `-serial mon:stdio` is needed once any `-serial` is given (Ctrl-A X quits).
//! - The second `-serial` (CCSR+0x4600) carries the defmt log: rzcobs frames, each ended by
//!   a zero byte, decoded on the host against this ELF (`defmt-print -e <elf>`, or
//!   `cargo xtask`'s log decoder). Without it QEMU maps no UART there: the image notices
//!   (scratch register test), says so on the console and drops the frames.
//! - The image powers the machine off when done, and also after any error or panic:
//!   QEMU then exits with status 0 in every case. Success is the console line
//!   `first light: ok`.
//! - `-kernel` takes the ELF; QEMU passes the device tree it generates in r3 (add
//!   `-dtb board.dtb` to pass the board's configuration tree instead).
//!
//! Boot flow: `ppc_booke::entry!` (stack, .bss, vectors, CCSR mapping) → [`main`]:
//! banner, hardware, configuration, defmt, trap self-test, `first light: ok`; then the
//! partitions side by side, one per core ([`start_partitions`]): each partition runs on
//! the first CPU its `bulkhead,cpus` names. The boot core releases core 1 through its
//! ePAPR spin table (`ppc_booke::smp`) if a partition names it, then runs its own; core 1
//! enters at `bh_secondary_start`, sets up its vectors, CCSR and RAM mappings and runs
//! its partition ([`secondary`]). On each core the partition's image is loaded from where
//! the runner staged it and its vCPU ([`ppc_booke::guest::Guest`]) runs under
//! `hv::run::run_vcpu` until the partition stops (powered off or stopped by its fault
//! policy); the core then dozes. A core no partition names dozes from the start. When the
//! last partition stops: `hv: all partitions stopped`, power off.
#![no_std]
#![no_main]

use core::fmt::{Display, Write};
use core::panic::PanicInfo;
use core::sync::atomic::{AtomicU32, Ordering};


use hv::partition::PartitionRt;
use hv::config::Console;
use ppc_booke::guest_dt::Clocks;

use ppc_booke::cpu::{self, Hex, Hz};
use ppc_booke::entry::BootInfo;
use ppc_booke::gpio::Gpio;
use ppc_booke::tlb::{Memory, PageSize, Perms, Tlb1Entry};
use ppc_booke::uart::Ns16550;

/// The name printed in the banner.
const BOARD: &str = "qemu-ppce500";

/// CCSR, the SoC's register space: where QEMU puts it (36-bit physical) ...
const CCSR_PA: u64 = 0xf_e000_0000;
/// ... and where the hypervisor sees it.
const CCSR_VA: usize = 0xe000_0000;
/// The TLB1 entry mapping CCSR (entry 0 is QEMU's boot mapping of RAM).
const CCSR_MAPPING: Tlb1Entry = Tlb1Entry {
    esel: 1,
    va: CCSR_VA as u32,
    pa: CCSR_PA,
    size: PageSize::M1,
    memory: Memory::Device,
    perms: Perms::SUPERVISOR_RW,
    iprot: true,
    guest_space: false,
};
/// A free TLB1 entry for the first-light trap self-test and the spin table release.
const SELFTEST_TLB1_ENTRY: u8 = 2;
/// The hypervisor's one-to-one view of RAM (512 MiB): partition memory and staged images
/// are reached through it. Entry 0 replaces QEMU's boot mapping (same translation, now
/// supervisor-only and protected); entry 3 covers the rest.
const RAM_LOW: Tlb1Entry = Tlb1Entry {
    esel: 0,
    va: 0,
    pa: 0,
    size: PageSize::M256,
    memory: Memory::Normal,
    perms: Perms::SUPERVISOR_RWX,
    iprot: true,
    guest_space: false,
};
const RAM_HIGH: Tlb1Entry = Tlb1Entry { esel: 3, va: 0x1000_0000, pa: 0x1000_0000, perms: Perms::SUPERVISOR_RW, ..RAM_LOW };
/// End of what RAM_LOW and RAM_HIGH map.
const MAPPED_RAM_END: u64 = 0x2000_0000;
/// Where partitions find their emulated console and power-off GPIO: the platform's own
/// NS16550 and GPIO addresses (guest-physical), so that their drivers need no change.
const PARTITION_UART: u64 = CCSR_PA + 0x4500;
const PARTITION_GPIO: u64 = CCSR_PA + 0xf_f000;

/// Offsets in CCSR.
const CONSOLE_UART: usize = CCSR_VA + 0x4500;
const LOG_UART: usize = CCSR_VA + 0x4600;
const GPIO: usize = CCSR_VA + 0xf_f000;
/// QEMU wires GPIO pin 0 to power-off.
const POWER_OFF_PIN: u32 = 0;

/// The validated configuration and the hypervisor's own copy of the device tree.
static CONFIG: hv::boot::ConfigStore = hv::boot::ConfigStore::new();
/// The clocks partitions' device trees describe (from the board tree's boot CPU; set
/// once by `main` before any partition starts, 0 if unknown).
static TIMEBASE_HZ: AtomicU32 = AtomicU32::new(0);
static CPU_HZ: AtomicU32 = AtomicU32::new(0);

fn clocks() -> Clocks {
    Clocks { timebase_hz: TIMEBASE_HZ.load(Ordering::Relaxed), cpu_hz: CPU_HZ.load(Ordering::Relaxed) }
}

ppc_booke::entry!(main, secondary, CCSR_MAPPING);

mod partitions;
use hv::console_input::{InputRouter, Typed};
use partitions::{mux, say, secondary, start_partitions, stopped, sleep_forever};

fn console() -> Ns16550 {
    // SAFETY: `entry` mapped CCSR (cache-inhibited, guarded) before any Rust code runs,
    // and never unmaps it. Several handles to the UART may exist (main, panic): the
    // worst they can do is interleave characters.
    unsafe { Ns16550::new(CONSOLE_UART) }
}

/// The defmt transport: raw frames to the second UART.
fn log_uart(bytes: &[u8]) {
    // SAFETY: as in `console`; only the logger (which serialises frames) writes here.
    unsafe { Ns16550::new(LOG_UART) }.write_bytes(bytes);
}

/// Powers the machine off (QEMU exits with status 0).
fn power_off() -> ! {
    // SAFETY: as in `console`.
    unsafe { Gpio::new(GPIO) }.set_high(POWER_OFF_PIN);
    loop {
        core::hint::spin_loop();
    }
}

/// Reports a fatal boot error on the console and powers off.
fn fail(out: &mut Ns16550, what: &dyn Display) -> ! {
    let _ = writeln!(out, "{what}");
    let _ = writeln!(out, "first light: failed");
    power_off()
}

fn main(boot: BootInfo) -> ! {
    let mut out = console();
    out.init();
    // SAFETY: as in `log_uart`.
    let log = unsafe { Ns16550::new(LOG_UART) };
    let log_present = log.is_present();
    if log_present {
        log.init();
        hv::log::set_transport(log_uart);
    }

    let cpu = cpu::probe();
    // The device tree: checked against what the loader mapped, then parsed and validated
    // by the core before anything else reads it.
    // SAFETY: `boot` holds the loader's registers; QEMU's initial TLB1 entry (mapping the
    // IMA) is left in place, and nothing writes to the tree.
    let dtb = unsafe { boot.dtb() };
    let config = dtb.map(|dtb| CONFIG.load(dtb));
    // Only a tree the configuration parser accepted is walked for the timebase.
    let tree = match &config {
        Ok(Ok((_, copy))) => fdt::Fdt::new(copy).ok(),
        _ => None,
    };
    let timebase = tree.as_ref().and_then(cpu::timebase_hz).map(Hz);
    // What partitions' trees say about the clocks (their guests read the real timebase).
    let clock = |hz: Option<u64>| hz.and_then(|hz| u32::try_from(hz).ok()).unwrap_or(0);
    TIMEBASE_HZ.store(clock(timebase.map(|hz| hz.0)), Ordering::Relaxed);
    CPU_HZ.store(clock(tree.as_ref().and_then(cpu::clock_hz)), Ordering::Relaxed);

    let _ = hv::boot::banner(&mut out, BOARD);
    let timebase_shown: &dyn Display = match &timebase {
        Some(hz) => hz,
        None => &"unknown (no valid device tree)",
    };
    let _ = hv::boot::hardware(
        &mut out,
        &[
            ("pvr", &Hex(cpu.pvr)),
            ("svr", &Hex(cpu.svr)),
            ("core", &cpu.core_name()),
            ("mmu", &cpu.mmu),
            ("tlb0", &cpu.tlb0),
            ("tlb1", &cpu.tlb1),
            ("timebase", timebase_shown),
        ],
    );

    let dtb = match dtb {
        Ok(dtb) => dtb,
        Err(e) => fail(&mut out, &format_args!("device tree: {e}")),
    };
    let cfg = match config {
        Ok(Ok((cfg, _))) => cfg,
        Ok(Err(e)) => fail(&mut out, &format_args!("config error: {e}")),
        Err(e) => fail(&mut out, &format_args!("device tree: {e}")),
    };
    let _ = hv::boot::partition_table(&mut out, cfg);
    if !log_present {
        let _ = writeln!(out, "log: no second UART (CCSR+0x4600): defmt frames dropped");
    }

    defmt::info!("bulkhead {=str} on {=str}", hv::VERSION, BOARD);
    defmt::info!("pvr {=u32:#x}, svr {=u32:#x}, tlb1 {=u32} entries", cpu.pvr, cpu.svr, cpu.tlb1.entries);
    defmt::info!("device tree at {=usize:#x}, {=usize} bytes", dtb.as_ptr() as usize, dtb.len());
    defmt::info!("{=usize} partition(s) configured", cfg.partitions.len());

    match ppc_booke::selftest::privileged_instruction_traps(SELFTEST_TLB1_ENTRY) {
        Ok(esr) => {
            let _ = writeln!(out, "trap-and-emulate: program interrupt ESR={:#010x}", esr);
        }
        Err(e) => fail(&mut out, &format_args!("trap-and-emulate: unexpected {e}")),
    }

    let _ = writeln!(out, "first light: ok");
    // SAFETY: RAM_LOW maps the addresses the running code, stack and data already use
    // exactly as QEMU's entry 0 did; RAM_HIGH maps RAM nobody uses through it yet. Both
    // are supervisor-only in address space 0, which guests never use.
    unsafe {
        ppc_booke::tlb::write(&RAM_LOW);
        ppc_booke::tlb::write(&RAM_HIGH);
    }
    start_partitions(cfg, tree.as_ref())
}

/// What the operator types, routed to the partition with the input focus (lock order:
/// MUX, then INPUT).
static INPUT: spin::Mutex<InputRouter> = spin::Mutex::new(InputRouter::new());

/// What the run loop needs from this board.
struct Board;

/// Partition memory, read through the one-to-one mapping of RAM.
struct HostRam;

impl hv::hypercall::HostMemory for HostRam {
    fn read(&self, host_addr: u64, buf: &mut [u8]) {
        // SAFETY: the hypercall layer only passes ranges of the caller's own memory map
        // (MemoryMap::translate), which RAM_LOW/RAM_HIGH map one-to-one (run_partition).
        unsafe { core::ptr::copy_nonoverlapping(host_addr as usize as *const u8, buf.as_mut_ptr(), buf.len()) };
    }
}

impl hv::run::Platform for Board {
    fn console(&self, p: &PartitionRt, bytes: &[u8]) {
        let mut out = console();
        mux().write(p.id, &p.name, bytes, &mut |line| {
            // The mux only emits printable ASCII, tabs and newlines.
            let _ = out.write_str(core::str::from_utf8(line).unwrap_or("?"));
        });
    }

    fn message(&self, args: core::fmt::Arguments) {
        say(args);
    }

    /// What the operator typed for partition `p` (see hv::console_input: the first
    /// partition with an emulated console has the input; Ctrl-A then an id moves it). With
    /// nothing typed, the partition may be waiting: its prompt (a partial line) is shown.
    fn console_input(&self, p: &PartitionRt, buf: &mut [u8]) -> usize {
        let uart = console();
        let mut mux = mux();
        let mut input = INPUT.lock();
        if input.focus().is_none() {
            if let Some(first) = CONFIG.get().and_then(|c| c.partitions.iter().find(|q| q.console == Console::Emulated)) {
                input.set_focus(first.id);
            }
        }
        let has_console = |id: u32| {
            CONFIG.get().is_some_and(|c| c.partitions.iter().any(|q| q.id == id && q.console == Console::Emulated))
        };
        while let Some(byte) = uart.read_byte() {
            if let Typed::Focus(id) = input.type_byte(byte, &has_console) {
                mux.end_partial(&mut |b| uart.write_bytes(b));
                uart.write_bytes(b"hv: console input to partition ");
                uart.write_bytes(&[b'0' + id as u8, b'\n']);
            }
        }
        let n = input.take(p.id, buf);
        if n == 0 {
            mux.prompt_if_waiting(p.id, &p.name, &mut |b| uart.write_bytes(b));
        }
        n
    }

    fn host_memory(&self) -> &dyn hv::hypercall::HostMemory {
        &HostRam
    }

    fn reload(&self, p: &PartitionRt) -> Option<(u64, u64)> {
        let config = CONFIG.get()?.partitions.iter().find(|q| q.id == p.id)?;
        // SAFETY: as in run_partition; the partition's vCPU (on this core) is not running.
        let boot = unsafe { ppc_booke::loader::load(config, &p.map, p.uart.is_some(), clocks()) }.ok()?;
        Some((boot.entry, boot.dtb))
    }

    /// The partition on this core stopped: only this core is affected. Its state stays
    /// on this core's stack, unused; the core sleeps (or powers off if it was the last).
    fn park(&self) -> ! {
        // Its device interrupts stop here too (nothing is delivered to this core again).
        // SAFETY: `entry` mapped CCSR at CCSR_VA for good; the MPIC window is inside it.
        unsafe { ppc_booke::mpic::Mpic::new(CCSR_VA + ppc_booke::vmpic::CCSR_OFFSET as usize) }.close_this_cpu();
        stopped();
        sleep_forever()
    }
}

#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    let mut out = console();
    match info.location() {
        Some(at) => {
            let _ = writeln!(out, "\npanic at {}:{}: {}", at.file(), at.line(), info.message());
        }
        None => {
            let _ = writeln!(out, "\npanic: {}", info.message());
        }
    }
    power_off()
}
