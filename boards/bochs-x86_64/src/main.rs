//! Board: a PC as emulated by Bochs 2.7 (Skylake-X model with VMX and EPT) or by QEMU,
//! booted by GRUB from a rescue ISO (multiboot2; the configuration DTB is the module
//! named `config`). Wiring only: the board's facts are the constants below.
#![no_std]
#![no_main]

use core::fmt::Write;

use hv::config::Config;
use vtx::cpu::{self, Probe};
use vtx::multiboot2::Info;
use vtx::uart::Uart;

/// Console: COM1.
const CONSOLE_PORT: u16 = 0x3f8;
/// defmt log channel: COM2.
const LOG_PORT: u16 = 0x2f8;
/// Bochs leaves when "Shutdown" is written here.
const BOCHS_SHUTDOWN_PORT: u16 = 0x8900;
const BOCHS_SHUTDOWN: &[u8] = b"Shutdown";
/// QEMU's `-device isa-debug-exit,iobase=0xf4`: writing v exits with status 2v+1.
const QEMU_DEBUG_EXIT_PORT: u16 = 0xf4;
/// The multiboot2 module holding the configuration DTB.
const CONFIG_MODULE: &str = "config";

// SAFETY: every PC and both emulators have 16550s at COM1 and COM2.
const CONSOLE: Uart = unsafe { Uart::new(CONSOLE_PORT) };
// SAFETY: as above.
const LOG: Uart = unsafe { Uart::new(LOG_PORT) };

/// The validated configuration and the hypervisor's own copy of the device tree.
static CONFIG: hv::boot::ConfigStore = hv::boot::ConfigStore::new();

vtx::entry!(main);

fn main(multiboot2_info: usize) -> ! {
    vtx::trap::init();
    let mut con = CONSOLE;
    con.init();
    LOG.init();
    hv::log::set_transport(|bytes| LOG.write_bytes(bytes));

    let _ = hv::boot::banner(&mut con, "bochs-x86_64");
    let probe = cpu::probe();
    print_hardware(&mut con, &probe);

    // SAFETY: the entry code passes the address GRUB gave (or 0); the first 4 GiB are
    // identity-mapped and nothing writes the info or the modules afterwards.
    let info = match unsafe { Info::from_addr(multiboot2_info) } {
        Ok(info) => info,
        Err(e) => stop(&mut con, format_args!("boot information: {e}")),
    };
    defmt::info!("multiboot2 info at {=usize:#x}, {=usize} bytes", multiboot2_info, info.len());
    for r in info.memory_map().filter(|r| r.available()) {
        defmt::info!("ram {=u64:#x}..{=u64:#x}", r.base, r.base + r.length);
    }
    let Some(module) = info.module(CONFIG_MODULE) else {
        stop(&mut con, format_args!("config error: no multiboot2 module named \"{CONFIG_MODULE}\""))
    };
    // SAFETY: GRUB loaded the module there; it is identity-mapped and never overwritten.
    let dtb = unsafe { module.bytes() };
    defmt::info!("config dtb at {=u32:#x}, {=usize} bytes", module.start, dtb.len());
    let cfg = load_config(&mut con, dtb);
    defmt::info!("config: {=usize} partition(s)", cfg.partitions.len());
    defmt::info!("boot stack used: {=usize} bytes", vtx::entry::boot_stack_used());

    defmt::info!("first light");
    let _ = writeln!(con, "first light: ok");
    power_off()
}

/// The `hw:` lines: everything read from the CPU, VMX facts only where VMX exists.
fn print_hardware(con: &mut Uart, probe: &Probe) {
    match &probe.vmx {
        Ok(vmx) => {
            let vmxon = cpu::vmxon_selftest(vmx);
            defmt::info!("vmx revision {=u32:#x}, vmcs {=u32} bytes", vmx.vmcs.revision, vmx.vmcs.size);
            let _ = hv::boot::hardware(
                con,
                &[
                    ("cpu", &probe.cpu),
                    ("vmx", vmx),
                    ("vmcs revision", &vmx.vmcs),
                    ("ept", &vmx.ept),
                    ("vpid", &vmx.vpid),
                    ("unrestricted guest", &vmx.unrestricted_guest),
                    ("preemption timer", &vmx.preemption_timer),
                    ("vmxon", &vmxon),
                ],
            );
        }
        Err(no) => {
            defmt::info!("no vmx");
            let _ = hv::boot::hardware(con, &[("cpu", &probe.cpu), ("vmx", no)]);
        }
    }
}

/// Parses the configuration and prints the partition table; a bad DTB stops the machine.
fn load_config(con: &mut Uart, dtb: &[u8]) -> &'static Config {
    let cfg = match CONFIG.load(dtb) {
        Ok((cfg, _)) => cfg,
        Err(e) => stop(con, format_args!("config error: {e}")),
    };
    let _ = hv::boot::partition_table(con, cfg);
    cfg
}

/// Prints why the hypervisor cannot go on, then powers off.
fn stop(con: &mut Uart, why: core::fmt::Arguments) -> ! {
    let _ = writeln!(con, "{why}");
    power_off()
}

/// Leaves the emulator: Bochs's shutdown port, then QEMU's isa-debug-exit (each emulator
/// ignores the other's port). On anything else, halts.
fn power_off() -> ! {
    CONSOLE.flush();
    LOG.flush();
    // SAFETY: both ports only stop the emulator; nothing else decodes them on these boards.
    unsafe {
        vtx::io::outb_all(BOCHS_SHUTDOWN_PORT, BOCHS_SHUTDOWN);
        vtx::io::outb(QEMU_DEBUG_EXIT_PORT, 0);
    }
    cpu::halt_forever()
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    // A fresh handle: the panic may have interrupted a write on `main`'s.
    let mut con = CONSOLE;
    let _ = writeln!(con, "\npanic: {info}");
    power_off()
}
