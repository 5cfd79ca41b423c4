//! GIC attacker: a partition kernel (EL1) writing distributor state of an SPI it does not
//! own: enabling INTID 39 (the PL061 GPIO's SPI on QEMU virt, given to its neighbour) and
//! raising its priority. bulkhead's virtual distributor ignores both writes, the
//! hypervisor says so once (`hv: partition N "name": wrote distributor state of INTID 39
//! it does not own; ignored`), both registers read back as zero, and the neighbour's
//! interrupts are untouched. Only meaningful as a partition (natively the writes work).
#![no_std]
#![no_main]

use guests_aarch64::{gic, println};

const GICD: usize = 0x0800_0000;
const ISENABLER: usize = 0x100;
const IPRIORITYR: usize = 0x400;
/// The neighbour's SPI.
const SPI: usize = 39;

#[no_mangle]
fn main() {
    gic::init();
    let enable = GICD + ISENABLER + 4 * (SPI / 32);
    let priority = GICD + IPRIORITYR + SPI;
    println!("gic-attacker: enabling INTID {SPI}");
    gic::write(enable, 1 << (SPI % 32)); // the attack: a store to the distributor
    println!("gic-attacker: raising INTID {SPI} to priority 0");
    gic::write_byte(priority, 0);
    let (e, p) = (gic::read(enable), gic::read_byte(priority));
    println!("gic-attacker: ISENABLER{} reads {e:#x}, IPRIORITYR byte {SPI} reads {p:#x}", SPI / 32);
    println!("gic-attacker: done");
}
