//! Passthrough-device interrupt: QEMU virt's PL031 real-time clock (SPI 2, INTID 34),
//! owned by this partition (`bulkhead,devices = "/pl031@9010000"`). Programs the match
//! register one second ahead (RTCMR = RTCDR + 1), unmasks the match interrupt (RTCIMSC),
//! sleeps in WFI, takes INTID 34 through its GIC driver, clears it at the device (RTCICR)
//! before the EOI, three times, then powers off. Natively the SPI is the machine's; as a
//! partition it is a passthrough SPI the vGIC hands over with HW = 1, so the guest's EOI
//! deactivates the physical interrupt. Prints the same either way.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU32, Ordering};
use guests_aarch64::{gic, on_irq, println, wait_until};

/// The PL031 at its QEMU virt address and its interrupt (SPI 2).
const RTC: usize = 0x0901_0000;
const RTC_IRQ: u32 = 34;
const RTCDR: usize = 0x00;
const RTCMR: usize = 0x04;
const RTCIMSC: usize = 0x10;
const RTCMIS: usize = 0x18;
const RTCICR: usize = 0x1c;
const MATCH: u32 = 1;

const INTERRUPTS: u32 = 3;

/// Distributor registers for one SPI (the runtime's driver enables only private ones).
const GICD: usize = 0x0800_0000;
const GICD_IGROUPR: usize = 0x080;
const GICD_ISENABLER: usize = 0x100;
const GICD_IPRIORITYR: usize = 0x400;
const GICD_ITARGETSR: usize = 0x800;
const GICD_IROUTER: usize = 0x6000;
const PRIORITY: u8 = 0x80;

static TAKEN: AtomicU32 = AtomicU32::new(0);

/// Enables SPI `intid` at the distributor, in the group the runtime's driver uses (group 1
/// on GICv3, group 0 on GICv2), at its priority, routed to this CPU (affinity 0, CPU
/// interface 0).
fn enable_spi(intid: u32) {
    let i = intid as usize;
    let (word, bit) = (4 * (i / 32), 1u32 << (i % 32));
    let v3 = gic::is_v3();
    if v3 {
        gic::write(GICD + GICD_IROUTER + 8 * i, 0);
        gic::write(GICD + GICD_IROUTER + 8 * i + 4, 0);
    } else {
        gic::write_byte(GICD + GICD_ITARGETSR + i, 1);
    }
    // IGROUPR is a whole word shared with 31 other SPIs: written only when this one's
    // group has to change (a partition's vGIC reports writes covering SPIs it does not own).
    let groups = gic::read(GICD + GICD_IGROUPR + word);
    let wanted = if v3 { groups | bit } else { groups & !bit };
    if wanted != groups {
        gic::write(GICD + GICD_IGROUPR + word, wanted);
    }
    gic::write_byte(GICD + GICD_IPRIORITYR + i, PRIORITY);
    gic::write(GICD + GICD_ISENABLER + word, bit);
}

/// The match interrupt: cleared at the RTC (its line drops before the EOI), the next match
/// one second later, or the interrupt masked after the last.
fn rtc(intid: u32) {
    if intid != RTC_IRQ || gic::read(RTC + RTCMIS) & MATCH == 0 {
        return;
    }
    gic::write(RTC + RTCICR, MATCH);
    if TAKEN.fetch_add(1, Ordering::AcqRel) + 1 < INTERRUPTS {
        gic::write(RTC + RTCMR, gic::read(RTC + RTCDR).wrapping_add(1));
    } else {
        gic::write(RTC + RTCIMSC, 0);
    }
}

#[no_mangle]
fn main() {
    gic::init();
    on_irq(rtc);
    gic::write(RTC + RTCIMSC, 0);
    gic::write(RTC + RTCICR, MATCH);
    enable_spi(RTC_IRQ);
    gic::write(RTC + RTCMR, gic::read(RTC + RTCDR).wrapping_add(1));
    gic::write(RTC + RTCIMSC, MATCH);
    let mut printed = 0;
    while printed < INTERRUPTS {
        wait_until(|| TAKEN.load(Ordering::Acquire) > printed);
        let taken = TAKEN.load(Ordering::Acquire);
        for n in printed + 1..=taken {
            println!("rtc-irq: interrupt {n}");
        }
        printed = taken;
    }
    println!("rtc-irq: done");
}
