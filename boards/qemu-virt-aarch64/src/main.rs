//! bulkhead on QEMU's `virt` machine, AArch64 at EL2: board facts and wiring, nothing else.
//!
//! Run (QEMU 7.2):
//! ```text
//! qemu-system-aarch64 -M virt,virtualization=on,gic-version=3 -cpu cortex-a53 -smp 4 -m 1G \
//!     -nographic -semihosting-config enable=on,target=native,chardev=defmt0 \
//!     -chardev file,id=defmt0,path=defmt.bin -kernel bulkhead-qemu-virt-aarch64
//! ```
//! (`gic-version=2` and `-cpu max` work the same.) QEMU enters the ELF at EL2 with x0 = 0
//! and writes its device tree at 0x4000_0000, below the image; a `-dtb` file goes there too.
//!
//! Console (PL011): banner, `hw:` lines, the partition table (or `config error: ...`),
//! `first light: ok`. Then, with a valid configuration, the partitions start
//! ([`partitions`]: `partitions: started N`, each partition's console lines prefixed
//! `[name] `, the hypervisor's own lines `hv: ...`); when every partition has stopped
//! (`hv: all partitions stopped`), or without a configuration to run, PSCI SYSTEM_OFF:
//! QEMU exits with status 0 whatever happened, so judge a run by the console. A missing or
//! corrupt device tree, a panic or an unexpected exception prints one line saying so and
//! powers off the same way.
//!
//! Guest images are staged by the boot loader (the runner: `-device loader,...` at an
//! address in 0x7000_0000.., recorded as the image node's `reg`).
//!
//! defmt logs travel over Arm semihosting, not the console: the semihosting *console*
//! (SYS_WRITE0 / SYS_WRITEC, `armv8::semihosting::console_write`), which QEMU 7.2 sends to
//! the `chardev=` of `-semihosting-config` (the file `defmt.bin` above). Observed in QEMU
//! 7.2: SYS_OPEN(":tt") + SYS_WRITE is NOT routed to that chardev (it goes to QEMU's stdout,
//! i.e. into the serial console under `-nographic`); SYS_OPEN of a host path works too
//! (relative to QEMU's working directory) but bakes a file name into the image, so it is
//! not used. Without `-semihosting-config` the probe fails harmlessly (see
//! `armv8::semihosting`) and the board runs without logs. Build with `DEFMT_LOG=info`
//! (defmt's default keeps only errors).
#![no_std]
#![no_main]

mod console;
mod partitions;

use armv8::semihosting;
use armv8::{cpu, irq, psci, uart::Pl011};
use core::fmt::{self, Display, Write};
use core::sync::atomic::{AtomicBool, Ordering};
use hv::config::{Config, ErrorKind, Range};

/// The board's name in the banner.
const BOARD: &str = "qemu-virt-aarch64";
/// The console: PL011 UART0.
const UART_BASE: usize = 0x0900_0000;
const UART_SIZE: u64 = 0x1000;
/// Its interrupt: SPI 1 (board.dts `interrupts = <0x00 0x01 0x04>`), level-high.
const UART_INTID: u32 = 33;
/// RAM (`-m 1G`; the device tree's /memory is what the configuration trusts).
const RAM: Range = Range::new(0x4000_0000, 0x4000_0000);
/// The hypervisor's own memory: device tree, image, stacks, later tables (link.ld).
const HYPERVISOR: Range = Range::new(0x4000_0000, 0x0100_0000);
/// Where the device tree may be: the first MiB of the hypervisor's memory, below the
/// image, where QEMU writes it when the ELF is linked above it (it then passes x0 = 0).
const DTB_WINDOW: Range = Range::new(0x4000_0000, 0x0010_0000);

const _: () = assert!(HYPERVISOR.base >= RAM.base && HYPERVISOR.base + HYPERVISOR.size <= RAM.base + RAM.size);
const _: () = assert!(DTB_WINDOW.base >= HYPERVISOR.base && DTB_WINDOW.size <= HYPERVISOR.size);

/// The validated configuration and the hypervisor's own (NOP-free) copy of the device tree.
static CONFIG: hv::boot::ConfigStore = hv::boot::ConfigStore::new();

armv8::entry!(main);

fn main(x0: usize) -> ! {
    // SAFETY: UART_BASE is QEMU virt's PL011, reachable at its physical address (MMU off).
    let mut uart = unsafe { Pl011::new(UART_BASE) };
    uart.enable();
    start_log();
    // A console write cannot fail; every other outcome has been printed by now.
    let mut devices = heapless::Vec::new();
    if let Ok(Some((cfg, gic))) = first_light(&mut uart, x0, &mut devices) {
        uart.flush();
        partitions::start(cfg, &devices, gic);
    }
    uart.flush();
    psci::system_off()
}

/// Device windows the hypervisor drives itself (console, interrupt controller).
type Devices = heapless::Vec<Range, 8>;

/// Prints the first-light report; returns the configuration if there is one to run, and
/// the interrupt controller if it can serve partitions.
fn first_light(out: &mut Pl011, x0: usize, devices: &mut Devices) -> Result<Option<(&'static Config, Option<irq::Host>)>, fmt::Error> {
    hv::boot::banner(out, BOARD)?;
    let dtb = device_tree(if x0 != 0 { x0 } else { DTB_WINDOW.base as usize });
    // The configuration parser validates the blob before anything walks it: the fdt crate
    // (used for the hardware probe) panics on some malformed trees, so it only sees a blob
    // the parser found well-formed.
    let dtb = dtb.map(|raw| (raw, CONFIG.load(raw)));
    let fdt = match &dtb {
        Ok((_, Ok((_, copy)))) => fdt::Fdt::new(copy).ok(),
        // A configuration error still leaves a well-formed tree to probe; a bad blob does not.
        Ok((raw, Err(e))) if !matches!(e.kind, ErrorKind::BadBlob(_)) => fdt::Fdt::new(raw).ok(),
        _ => None,
    };
    let hw = cpu::probe(fdt.as_ref());
    let gic = match (hw.gic.version(), hw.gic.dt, hw.list_registers.0) {
        (Some(v), Some(dt), Some(lrs)) => irq::Host::new(v, dt.regs, lrs),
        _ => None,
    };
    let online = match &fdt {
        Some(fdt) => cpu::start_secondaries(fdt, &mut |mpidr, e| {
            let _ = writeln!(out, "cpu {mpidr:#x} not started: {e}");
        }),
        None => cpu::online(),
    };
    hv::boot::hardware(
        out,
        &[
            ("exception level", &hw.el),
            ("gic", &hw.gic),
            ("list registers", &hw.list_registers),
            ("vhe", &hw.vhe),
            ("pa range", &hw.pa_range),
            ("cpus online", &online),
        ],
    )?;
    let (dtb, config) = match dtb {
        Ok(found) => found,
        Err(e) => {
            defmt::error!("no usable device tree");
            writeln!(out, "device tree: {e}; powering off")?;
            return Ok(None);
        }
    };
    let _ = devices.push(Range::new(UART_BASE as u64, UART_SIZE));
    if let Some(fdt) = &fdt {
        gic_windows(fdt, devices);
    }
    defmt::info!("device tree at {=usize:#x}, {=usize} bytes", dtb.as_ptr() as usize, dtb.len());
    defmt::info!("{=u32} cpu(s) online, {=u8} list registers", online, hw.list_registers.0.unwrap_or(0) as u8);
    match config {
        Ok((cfg, _)) => {
            hv::boot::partition_table(out, cfg)?;
            defmt::info!("{=usize} partition(s) configured", cfg.partitions.len());
            defmt::info!("first light: ok");
            writeln!(out, "first light: ok")?;
            if gic.is_none() {
                writeln!(out, "hw: no usable interrupt controller: partitions get no interrupts")?;
            }
            Ok(Some((cfg, gic)))
        }
        Err(e) => {
            writeln!(out, "config error: {e}")?;
            defmt::error!("no valid configuration: running no partitions");
            writeln!(out, "first light: failed")?;
            Ok(None)
        }
    }
}

/// The interrupt controller's register windows, from the board's device tree.
fn gic_windows(fdt: &fdt::Fdt, devices: &mut Devices) {
    let Some(gic) = fdt.find_compatible(&["arm,gic-v3", "arm,cortex-a15-gic", "arm,gic-400"]) else { return };
    for r in gic.reg().into_iter().flatten() {
        let _ = devices.push(Range::new(r.starting_address as u64, r.size.unwrap_or(0) as u64));
    }
}

/// Why there is no usable device tree.
enum DtbError {
    Outside(usize),
    Magic(usize, u32),
    Size(usize, u32),
}

impl Display for DtbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            DtbError::Outside(a) => write!(f, "address {a:#x} is outside {:#x}+{:#x}", DTB_WINDOW.base, DTB_WINDOW.size),
            DtbError::Magic(a, m) => write!(f, "none at {a:#x} (magic {m:#010x}, expected {FDT_MAGIC:#010x})"),
            DtbError::Size(a, s) => write!(f, "at {a:#x} claims {s} bytes, more than fits the window"),
        }
    }
}

/// Flattened device tree header: big-endian magic, then total size.
const FDT_MAGIC: u32 = 0xd00d_feed;
const FDT_HEADER: usize = 40;

/// The device tree blob at `addr`, checked to carry the FDT magic and to fit the window.
/// Its contents are checked later, by whoever parses them.
fn device_tree(addr: usize) -> Result<&'static [u8], DtbError> {
    let window_end = (DTB_WINDOW.base + DTB_WINDOW.size) as usize;
    if addr < DTB_WINDOW.base as usize || addr % 8 != 0 || window_end - addr < FDT_HEADER {
        return Err(DtbError::Outside(addr));
    }
    // SAFETY: addr is 8-aligned and the header's first 8 bytes lie in the DTB window, RAM
    // the hypervisor owns and nothing writes.
    let (magic, size) = unsafe {
        let p = addr as *const u32;
        (u32::from_be(p.read_volatile()), u32::from_be(p.add(1).read_volatile()))
    };
    if magic != FDT_MAGIC {
        return Err(DtbError::Magic(addr, magic));
    }
    if (size as usize) < FDT_HEADER || size as usize > window_end - addr {
        return Err(DtbError::Size(addr, size));
    }
    // SAFETY: [addr, addr + size) lies in the DTB window (checked above), which nothing
    // writes after QEMU/firmware placed the tree there. The hypervisor copies it at once
    // (hv::boot::ConfigStore) and uses only the copy afterwards.
    Ok(unsafe { core::slice::from_raw_parts(addr as *const u8, size as usize) })
}

/// Hands the semihosting console to hv's defmt logger, if semihosting is there.
fn start_log() {
    if semihosting::present() {
        hv::log::set_transport(semihosting::console_write);
    }
}

/// Panics (hypervisor bugs, unexpected exceptions from `armv8::trap`): one line on the
/// console, then power off.
#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    static PANICKING: AtomicBool = AtomicBool::new(false);
    if !PANICKING.swap(true, Ordering::AcqRel) {
        // SAFETY: as in main; a second handle to the same UART may interleave with the
        // first one's output, which is acceptable on the way down.
        let mut uart = unsafe { Pl011::new(UART_BASE) };
        let _ = write!(uart, "\npanic: {}", info.message());
        if let Some(l) = info.location() {
            let _ = write!(uart, " ({}:{})", l.file(), l.line());
        }
        let _ = writeln!(uart, "; powering off");
        uart.flush();
    }
    psci::system_off()
}
