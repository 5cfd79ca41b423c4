//! Board: a PC as emulated by Bochs 2.7 (Skylake-X model with VMX and EPT) or by QEMU,
//! booted by GRUB from a rescue ISO (multiboot2; the configuration DTB is the module
//! named `config`, each guest image a module named `stage <address>`). Wiring only: the
//! board's facts are the constants below.
//!
//! Console (COM1): banner, `hw:` lines, the partition table (or `config error: ...`),
//! `first light: ok`; then the partitions ([`partitions`]: `partitions: started N`, each
//! partition's console lines prefixed `[name] `, the hypervisor's own `hv: ...`), and when
//! every partition has stopped, power off (Bochs: the shutdown port, exit status 1; judge
//! a run by the console).
#![no_std]
#![no_main]

mod partitions;

use core::fmt::Write;

use hv::config::{Config, Range};
use vtx::cpu::{self, Probe};
use vtx::multiboot2::{self, Info};
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
/// Where guest images are staged (the runner's staging area for this board; the board
/// tree keeps partitions out of it): GRUB loads each image as a module wherever it likes,
/// the board copies it to the address its command line names, inside this window.
const STAGING: Range = Range::new(0x1800_0000, 0x0400_0000);
/// The I/O APIC (board tree: `interrupt-controller@fec00000`), identity-mapped.
pub(crate) const IOAPIC: usize = 0xfec0_0000;
/// The I/O bus of the board tree: devices under it are port ranges, not memory.
const IO_BUS: &str = "/isa/";

// SAFETY: every PC and both emulators have 16550s at COM1 and COM2.
pub(crate) const CONSOLE: Uart = unsafe { Uart::new(CONSOLE_PORT) };
// SAFETY: as above.
const LOG: Uart = unsafe { Uart::new(LOG_PORT) };

/// The validated configuration and the hypervisor's own copy of the device tree.
pub(crate) static CONFIG: hv::boot::ConfigStore = hv::boot::ConfigStore::new();

vtx::entry!(main);

fn main(multiboot2_info: usize) -> ! {
    vtx::trap::init();
    let mut con = CONSOLE;
    con.init();
    LOG.init();
    hv::log::set_transport(|bytes| LOG.write_bytes(bytes));

    let _ = hv::boot::banner(&mut con, "bochs-x86_64");
    irq_setup();
    let probe = cpu::probe();
    print_hardware(&mut con, &probe);

    // SAFETY: the entry code passes the address GRUB gave (or 0); the first 4 GiB are
    // identity-mapped and nothing writes the info or the modules afterwards.
    let info = match unsafe { Info::from_addr(multiboot2_info) } {
        Ok(info) => info,
        Err(e) => stop(&mut con, format_args!("boot information: {e}")),
    };
    defmt::info!("multiboot2 info at {=usize:#x}, {=usize} bytes", multiboot2_info, info.len());
    let Some(module) = info.module(CONFIG_MODULE) else {
        stop(&mut con, format_args!("config error: no multiboot2 module named \"{CONFIG_MODULE}\""))
    };
    // SAFETY: GRUB loaded the module there; it is identity-mapped and never overwritten.
    let dtb = unsafe { module.bytes() };
    defmt::info!("config dtb at {=u32:#x}, {=usize} bytes", module.start, dtb.len());
    let cfg = load_config(&mut con, dtb);
    defmt::info!("boot stack used: {=usize} bytes", vtx::entry::boot_stack_used());

    let _ = writeln!(con, "first light: ok");
    stage_images(&mut con, &info);
    match probe.vmx {
        Ok(vmx) => partitions::start(cfg, vmx),
        Err(_) => power_off(),
    }
}

/// The legacy PICs masked: the hypervisor takes no interrupt from them.
fn irq_setup() {
    vtx::irq::mask_legacy_pics();
}

/// Copies every module whose command line is `stage <address>` to that address, inside
/// [`STAGING`] (the configuration's image nodes name those addresses). Refuses all if some
/// module lies in the window itself (a copy could overwrite it).
fn stage_images(con: &mut Uart, info: &Info) {
    let in_window = |m: &multiboot2::Module| Range::new(u64::from(m.start), m.len() as u64).overlaps(&STAGING);
    if info.modules().any(|m| in_window(&m)) {
        let _ = writeln!(con, "hv: a boot module lies in the staging area {:#x}+{:#x}; no image staged", STAGING.base, STAGING.size);
        return;
    }
    for m in info.modules() {
        let Some(at) = multiboot2::stage_address(m.cmdline) else { continue };
        let dst = Range::new(at, m.len() as u64);
        if !STAGING.contains(&dst) {
            let _ = writeln!(con, "hv: module for {at:#x} ({} bytes) outside the staging area; not staged", m.len());
            continue;
        }
        // SAFETY: GRUB loaded the module at [start, end), identity-mapped; the destination
        // lies in the staging window, which no module, the hypervisor or any partition
        // overlaps (checked above; the configuration keeps partitions out of RAM it names
        // as staged images).
        unsafe { core::ptr::copy(m.start as usize as *const u8, at as *mut u8, m.len()) };
        defmt::info!("staged {=usize} bytes at {=u64:#x}", m.len(), at);
    }
}

/// The `hw:` lines: everything read from the CPU, VMX facts only where VMX exists.
fn print_hardware(con: &mut Uart, probe: &Probe) {
    match &probe.vmx {
        Ok(vmx) => {
            // The boot CPU enters VMX operation here, for good (it runs its partition in it).
            let vmxon = cpu::vmxon(vmx, &partitions::VMXON[0]);
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
pub(crate) fn power_off() -> ! {
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
