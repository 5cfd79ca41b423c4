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
//! banner, hardware, configuration, defmt, trap self-test, power off.
#![no_std]
#![no_main]

use core::fmt::{Display, Write};
use core::panic::PanicInfo;


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
/// A free TLB1 entry for the first-light trap self-test.
const SELFTEST_TLB1_ENTRY: u8 = 2;

/// Offsets in CCSR.
const CONSOLE_UART: usize = CCSR_VA + 0x4500;
const LOG_UART: usize = CCSR_VA + 0x4600;
const GPIO: usize = CCSR_VA + 0xf_f000;
/// QEMU wires GPIO pin 0 to power-off.
const POWER_OFF_PIN: u32 = 0;

/// The validated configuration and the hypervisor's own copy of the device tree.
static CONFIG: hv::boot::ConfigStore = hv::boot::ConfigStore::new();

ppc_booke::entry!(main, CCSR_MAPPING);

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
    let timebase = match &config {
        Ok(Ok((_, copy))) => fdt::Fdt::new(copy).ok().and_then(|t| cpu::timebase_hz(&t)).map(Hz),
        _ => None,
    };

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
    power_off()
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
