//! Crash: triple-faults on its first boot (an empty IDT, then `ud2`: #UD cannot be
//! delivered, nor the double fault that follows), and on the next boot, which only a
//! restart gives it, says so and powers off. Its boot count is kept in RAM outside its
//! image (restarts reload only the image). Only meaningful as a partition with policy
//! `restart`: natively a triple fault resets the whole machine.
#![no_std]
#![no_main]

use guests_x86::println;

/// Boots so far, as `BOOTS_TAG | n`, in RAM outside the image.
const BOOTS: u64 = 0x00f0_0010;
const BOOTS_TAG: u64 = 0xb007_0000_0000_0000;
const BOOTS_MASK: u64 = 0xffff_0000_0000_0000;

#[no_mangle]
fn main() {
    // SAFETY: BOOTS is this partition's RAM, used by nothing else.
    let boots = unsafe { core::ptr::read_volatile(BOOTS as *const u64) };
    let n = if boots & BOOTS_MASK == BOOTS_TAG { boots & !BOOTS_MASK } else { 0 };
    // SAFETY: as above.
    unsafe { core::ptr::write_volatile(BOOTS as *mut u64, BOOTS_TAG | (n + 1)) };
    if n == 0 {
        println!("crash: triple-faulting");
        let empty: [u16; 5] = [0; 5];
        // SAFETY: the point: no exception can be delivered any more, the CPU shuts down.
        unsafe { core::arch::asm!("lidt [{}]", "ud2", in(reg) &empty, options(noreturn)) };
    }
    println!("crash: boot {}, after a restart", n + 1);
    // SAFETY: as above.
    unsafe { core::ptr::write_volatile(BOOTS as *mut u64, 0) };
}
