//! PSCI SYSTEM_RESET: on its first boot the guest leaves a marker in its RAM outside its
//! image and asks for a reset; the reset reloads the image (natively: QEMU's reset
//! reloads the ELF; as a partition: the hypervisor re-copies the image and restarts the
//! vCPU), RAM outside the image keeps the marker, so the second boot sees it, clears it
//! and powers off. Prints the same either way.
#![no_std]
#![no_main]

use guests_aarch64::{hvc, println};

/// A word of RAM far from the image (0x4008_0000...) and from the device tree at 0x4000_0000.
const MARKER: usize = 0x40f0_0000;
const RESET_PENDING: u64 = 0x7265_7365_745f_6f6b; // "reset_ok"
const PSCI_SYSTEM_RESET: u64 = 0x8400_0009;

#[no_mangle]
fn main() {
    println!("reset: boot");
    // SAFETY: MARKER is RAM of this machine/partition that no image, tree or stack uses.
    let marker = unsafe { core::ptr::read_volatile(MARKER as *const u64) };
    if marker == RESET_PENDING {
        // SAFETY: as above.
        unsafe { core::ptr::write_volatile(MARKER as *mut u64, 0) };
        println!("reset: second boot");
        return;
    }
    // SAFETY: as above.
    unsafe { core::ptr::write_volatile(MARKER as *mut u64, RESET_PENDING) };
    println!("reset: resetting");
    hvc(PSCI_SYSTEM_RESET, [0; 4]);
    println!("reset: SYSTEM_RESET returned");
}
