//! Hello: prints, reads its MSR and PVR (both privileged: emulated under bulkhead), and
//! powers off through the platform's power-off GPIO.
#![no_std]
#![no_main]

use guests_ppc::{mfmsr, mfspr, msr, println, spr};

#[no_mangle]
fn main() {
    println!("hello: e500 guest up");
    let m = mfmsr();
    let state = if m & msr::PR != 0 { "problem" } else { "supervisor" };
    println!("hello: msr {m:#010x} ({state} state), pvr {:#010x}", mfspr::<{ spr::PVR }>());
    println!("hello: powering off");
}
