//! Attacker: a partition kernel (EL1) trying to read a neighbour's RAM by its host-physical
//! address. Under bulkhead that address is not in its guest-physical map, so the read is
//! a stage-2 fault and the partition's fault policy decides: `stop` stops it (the line
//! after the read never prints), `inject` makes its own exception vector report a data
//! abort (EC 0x25 from EL1: "without a change in exception level"), `restart` starts it
//! again from its image. Only meaningful as a partition.
#![no_std]
#![no_main]

use guests_aarch64::println;

/// The neighbour's RAM in the demo layouts (partition 1's memory at host 0x4900_0000).
const NEIGHBOUR: usize = 0x4900_0000;

#[no_mangle]
fn main() {
    println!("attacker: reading {NEIGHBOUR:#x}");
    // SAFETY: this is the attack: an arbitrary physical address, read with the MMU off.
    let v = unsafe { core::ptr::read_volatile(NEIGHBOUR as *const u32) };
    println!("attacker: read {v:#x}: isolation broken");
}
