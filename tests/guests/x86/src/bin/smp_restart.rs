//! SMP restart: on its first boot the second CPU, once started (INIT, STARTUP), writes
//! the PCI configuration port, which a partition may not; under policy `restart` the whole
//! partition restarts: both vCPUs stop, the image is reloaded, vCPU 0 boots again and
//! vCPU 1 waits for a STARTUP again. On that second boot CPU 1 is started again, sends
//! CPU 0 a fixed IPI and spins; CPU 0 then writes the port itself, with CPU 1 running: a
//! restart again. On the third boot CPU 1's IPI arrives once more and the guest powers
//! off. Its boot count is kept in RAM outside its
//! image (restarts reload only the image). Also run under policies `stop` (the whole
//! partition stops) and `inject` (#GP in CPU 1 alone: the runtime reports it and powers
//! off). Only meaningful as a partition (natively the port write is just a PCI access).
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU32, Ordering};
use guests_x86::{outb, println, set_trap_handler, start_ap, wait_for_interrupt, x2apic, Frame};

/// Boots so far, as `BOOTS_TAG | n`, in RAM outside the image.
const BOOTS: u64 = 0x00f0_0010;
const BOOTS_TAG: u64 = 0xb007_0000_0000_0000;
const BOOTS_MASK: u64 = 0xffff_0000_0000_0000;
const PING: u8 = 0x41;

static PINGS: AtomicU32 = AtomicU32::new(0);

fn on_trap(f: &mut Frame) -> bool {
    if f.vector != u64::from(PING) {
        return false;
    }
    PINGS.fetch_add(1, Ordering::AcqRel);
    x2apic::eoi();
    true
}

#[no_mangle]
fn main() {
    // SAFETY: BOOTS is this partition's RAM, used by nothing else.
    let boots = unsafe { core::ptr::read_volatile(BOOTS as *const u64) };
    let n = if boots & BOOTS_MASK == BOOTS_TAG { boots & !BOOTS_MASK } else { 0 };
    // SAFETY: as above.
    unsafe { core::ptr::write_volatile(BOOTS as *mut u64, BOOTS_TAG | (n + 1)) };
    x2apic::enable();
    set_trap_handler(on_trap);
    println!("smp-restart: boot {}, starting cpu 1", n + 1);
    if !start_ap(1, if n == 0 { ap_faults } else { ap_pings }) {
        println!("smp-restart: cpu 1 did not start");
        return;
    }
    while PINGS.load(Ordering::Acquire) == 0 {
        wait_for_interrupt(); // on the first boot, until the restart
    }
    println!("smp-restart: cpu 1 pinged cpu 0 after the restart");
    if n == 1 {
        println!("smp-restart: cpu 0 writing port 0xcf8, cpu 1 running");
        // SAFETY: the point, as in ap_faults.
        unsafe { outb(0xcf8, 0) };
    }
    // SAFETY: as above.
    unsafe { core::ptr::write_volatile(BOOTS as *mut u64, 0) };
}

/// CPU 1 on the first boot: a forbidden port write.
fn ap_faults() -> ! {
    println!("smp-restart: cpu 1 up, writing port 0xcf8");
    // SAFETY: the point: the partition may not touch the PCI configuration port.
    unsafe { outb(0xcf8, 0) };
    halt()
}

/// CPU 1 on the later boots: a fixed IPI to CPU 0, then busy.
fn ap_pings() -> ! {
    x2apic::enable();
    x2apic::send(0, x2apic::ICR_FIXED | u64::from(PING));
    loop {
        // Interrupts off: the hypervisor's kick must take it out of its guest all the same.
        core::hint::spin_loop();
    }
}

fn halt() -> ! {
    loop {
        guests_x86::interrupts_off();
        wait_for_interrupt();
    }
}
