//! MPIC: a device interrupt through the platform's interrupt controller. The guest drives
//! the SoC's I2C controller (CCSR+0x3000, MPIC source 43 on QEMU's ppce500) as a bus
//! master writing to the RTC at 0x68 (its NVRAM); every byte it sends completes with
//! I2CSR[MIF] and a level-triggered interrupt. The MPIC routes source 43 to this CPU; the
//! IVOR4 handler acknowledges it (IACK), clears MIF, ends it (EOI) and sends the next
//! byte, five times, dozing in between. Under bulkhead the partition owns the I2C
//! controller: its registers are forwarded, the MPIC it programs is its own model, and the
//! real source 43 reaches it through the hypervisor.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU32, Ordering};
use guests_ppc::{ivor, mfmsr, mfspr, msr, mtmsr, mtspr, println, set_trap_handler, spr, timer, Frame};
use guests_ppc::mpic::{self, CCSR};

const INTERRUPTS: u32 = 5;
/// The I2C controller and its registers (byte-wide).
const I2C: usize = CCSR + 0x3000;
const I2CCR: usize = I2C + 0x8;
const I2CSR: usize = I2C + 0xc;
const I2CDR: usize = I2C + 0x10;
const CR_MEN: u8 = 0x80;
const CR_MIEN: u8 = 0x40;
const CR_MSTA: u8 = 0x20;
const CR_MTX: u8 = 0x10;
/// Its MPIC source (internal interrupt 27), and the priority this guest gives it.
const SOURCE: u32 = 43;
const PRIORITY: u32 = 5;
/// RTC (DS1338-compatible) at I2C address 0x68, writing; then its NVRAM pointer and data.
const BYTES: [u8; INTERRUPTS as usize] = [0x68 << 1, 0x08, 0x11, 0x22, 0x33];

static COUNT: AtomicU32 = AtomicU32::new(0);

fn byte(addr: usize, v: u8) {
    // SAFETY: an I2C register in the mapped CCSR window.
    unsafe { core::ptr::write_volatile(addr as *mut u8, v) };
}

fn on_trap(f: &mut Frame) -> bool {
    if f.vector != ivor::EXTERNAL {
        return false;
    }
    let source = mpic::read(mpic::IACK);
    byte(I2CSR, 0); // clear MIF: the controller drops its interrupt
    mpic::write(mpic::EOI, 0);
    let n = COUNT.load(Ordering::Relaxed) + 1;
    COUNT.store(n, Ordering::Relaxed);
    println!("mpic: interrupt {n} from source {source}");
    if let Some(&b) = BYTES.get(n as usize) {
        byte(I2CDR, b);
    }
    f.srr1 &= !msr::WE;
    true
}

#[no_mangle]
fn main() {
    set_trap_handler(on_trap);
    mpic::map();
    println!("mpic: i2c controller on source {SOURCE}");
    mpic::write(mpic::GCR, mpic::GCR_MODE_MIXED);
    mpic::write(mpic::ivpr(SOURCE), PRIORITY << 16 | SOURCE);
    mpic::write(mpic::idr(SOURCE), 1);
    mpic::write(mpic::CTPR, 0);
    // SAFETY: HID0's doze mode belongs to this guest.
    unsafe { mtspr::<{ spr::HID0 }>(mfspr::<{ spr::HID0 }>() | timer::HID0_DOZE) };
    byte(I2CCR, CR_MEN | CR_MIEN | CR_MSTA | CR_MTX);
    byte(I2CDR, BYTES[0]);
    let quiet = mfmsr() & !(msr::EE | msr::WE);
    while COUNT.load(Ordering::Relaxed) < INTERRUPTS {
        // SAFETY: the guest's own interrupt enable and doze bits (as in ticker).
        unsafe { mtmsr(quiet | msr::EE | msr::WE) };
        // SAFETY: as above.
        unsafe { mtmsr(quiet) };
    }
    byte(I2CCR, CR_MEN); // stop condition
    byte(I2CCR, 0);
    mpic::write(mpic::ivpr(SOURCE), mpic::IVPR_MSK);
    println!("mpic: done, source {SOURCE} ivpr {:#010x}", mpic::read(mpic::ivpr(SOURCE)));
}
