//! Hello: prints how it was started and that it reached long mode, then powers off.
#![no_std]
#![no_main]

use guests_x86::{multiboot, println, rdmsr};

const EFER: u32 = 0xc000_0080;
const EFER_LMA: u64 = 1 << 10;

#[no_mangle]
fn main() {
    println!("hello: x86 guest up");
    println!("hello: started by a multiboot loader: {}", if multiboot() { "yes" } else { "no" });
    // SAFETY: EFER exists on every x86-64 CPU; reading it has no side effect.
    let efer = unsafe { rdmsr(EFER) };
    println!("hello: long mode active: {}", if efer & EFER_LMA != 0 { "yes" } else { "no" });
    println!("hello: powering off");
}
