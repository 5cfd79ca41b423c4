//! MPIC attacker: writes the MPIC registers of sources it was not given, again and again:
//! IVPR/IDR of source 43 (the I2C controller, which its neighbour owns in the scenario:
//! masked and routed nowhere) and of source 42 (the console UART, nobody's). Under
//! bulkhead its MPIC is its own model: the writes are ignored (reported once) and read
//! back as 0; the neighbour must not notice. Natively it would break the neighbour.
#![no_std]
#![no_main]

use guests_ppc::mpic;
use guests_ppc::println;

const ROUNDS: u32 = 20_000;

#[no_mangle]
fn main() {
    mpic::map();
    println!("mpic-attacker: writing IVPR/IDR of sources 43 and 42 {ROUNDS} times");
    for _ in 0..ROUNDS {
        mpic::write(mpic::ivpr(43), mpic::IVPR_MSK);
        mpic::write(mpic::idr(43), 0);
        mpic::write(mpic::ivpr(42), 15 << 16 | 42);
        mpic::write(mpic::idr(42), 3);
    }
    println!(
        "mpic-attacker: source 43 reads ivpr {:#010x} idr {:#010x}",
        mpic::read(mpic::ivpr(43)),
        mpic::read(mpic::idr(43))
    );
    println!("mpic-attacker: done");
}
