//! A fault on a secondary vCPU under policy "restart": the boot CPU starts CPU 1, which
//! reads outside the partition's memory; the hypervisor stops every vCPU of the partition,
//! reloads the image and starts vCPU 0 again at the entry, while the faulting vCPU 1 turns
//! off. The second boot (counted in a word of RAM outside the image, which a restart
//! keeps) finds CPU 1 off, starts it again, takes an SGI from it, and powers off. Only
//! meaningful as a partition: natively the read is ordinary RAM.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicBool, Ordering};
use guests_aarch64::smp::{self, affinity_name, psci_name};
use guests_aarch64::{gic, irqs_on, on_irq, println, wait_until};

/// Outside the partition's 16 MiB at 0x4000_0000 (a neighbour's RAM on the host).
const OUTSIDE: usize = 0x4900_0000;
/// The boot count (see smp.rs).
const BOOTS: usize = 0x40f0_0000;
const MAGIC: u32 = 0x5346_0000; // "SF" << 16 | count
const HELLO: u32 = 4;

static UP: AtomicBool = AtomicBool::new(false);
static HELLO_TAKEN: AtomicBool = AtomicBool::new(false);

fn boots() -> u32 {
    // SAFETY: BOOTS is RAM of the partition that nothing else uses.
    let word = unsafe { core::ptr::read_volatile(BOOTS as *const u32) };
    if word & 0xffff_0000 == MAGIC {
        word & 0xffff
    } else {
        0
    }
}

fn irq(intid: u32) {
    if intid == HELLO {
        HELLO_TAKEN.store(true, Ordering::Release);
    }
}

/// CPU 1: on the first boot the faulting read; on the second an SGI to CPU 0.
fn secondary(_me: usize) -> ! {
    gic::init_cpu();
    if boots() == 1 {
        // SAFETY: none: this read leaves the partition's memory on purpose.
        let v = unsafe { core::ptr::read_volatile(OUTSIDE as *const u32) };
        core::hint::black_box(v);
    }
    UP.store(true, Ordering::Release);
    gic::send_sgi(HELLO, 1);
    loop {
        guests_aarch64::wfi();
    }
}

#[no_mangle]
fn main() {
    let boot = boots() + 1;
    // SAFETY: as in boots().
    unsafe { core::ptr::write_volatile(BOOTS as *mut u32, MAGIC | boot) };
    println!("smp-fault: boot {boot}");
    gic::init();
    on_irq(irq);
    gic::enable_private(HELLO);
    irqs_on();
    println!("smp-fault: cpu 1 before CPU_ON: {}", affinity_name(smp::affinity_info(1)));
    if boot == 1 {
        // Nothing printed after the CPU_ON: the restart may cut this vCPU off at any point.
        println!("smp-fault: starting cpu 1, which reads {OUTSIDE:#x}");
        smp::cpu_on(1, secondary);
        wait_until(|| false);
    }
    println!("smp-fault: CPU_ON cpu 1: {}", psci_name(smp::cpu_on(1, secondary)));
    wait_until(|| HELLO_TAKEN.load(Ordering::Acquire));
    println!("smp-fault: cpu 1 up: {}, its SGI taken", affinity_name(smp::affinity_info(1)));
    // SAFETY: as in boots().
    unsafe { core::ptr::write_volatile(BOOTS as *mut u32, 0) };
    println!("smp-fault: done");
}
